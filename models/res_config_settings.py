from odoo import api, fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    collection_default_user_id = fields.Many2one(
        related="company_id.collection_default_user_id", readonly=False
    )
    collection_promise_grace_days = fields.Integer(
        related="company_id.collection_promise_grace_days", readonly=False
    )
    collection_portfolio_restricted = fields.Boolean(
        related="company_id.collection_portfolio_restricted", readonly=False
    )
    collection_agreement_approval_amount = fields.Monetary(
        related="company_id.collection_agreement_approval_amount", readonly=False
    )
    collection_agreement_grace_days = fields.Integer(
        related="company_id.collection_agreement_grace_days", readonly=False
    )

    collection_policy_id = fields.Many2one(
        related="company_id.collection_policy_id", readonly=False
    )
    collection_quiet_hour_start = fields.Float(
        related="company_id.collection_quiet_hour_start", readonly=False
    )
    collection_quiet_hour_end = fields.Float(
        related="company_id.collection_quiet_hour_end", readonly=False
    )
    collection_rest_day = fields.Selection(
        related="company_id.collection_rest_day", readonly=False
    )
    collection_message_interval_days = fields.Integer(
        related="company_id.collection_message_interval_days", readonly=False
    )
    collection_email_from = fields.Char(related="company_id.collection_email_from", readonly=False)
    collection_whatsapp_phone_number_id = fields.Char(
        related="company_id.collection_whatsapp_phone_number_id", readonly=False
    )
    # The token is never shown again once saved: this field is write-only.
    collection_whatsapp_token_new = fields.Char(
        string="WhatsApp Access Token",
        help="Paste a new access token to replace the saved one. The saved token is never shown.",
    )
    collection_whatsapp_token_set = fields.Boolean(
        compute="_compute_collection_whatsapp_token_set", string="Token Saved"
    )

    @api.depends("company_id")
    def _compute_collection_whatsapp_token_set(self):
        for settings in self:
            settings.collection_whatsapp_token_set = bool(
                settings.company_id.sudo().collection_whatsapp_token
            )

    def set_values(self):
        super().set_values()
        for settings in self.filtered("collection_whatsapp_token_new"):
            if not self.env.user.has_group("account_collection.group_collection_manager"):
                continue
            # sudo: the token is readable by system administrators only; collection
            # managers may replace it without ever reading it.
            settings.company_id.sudo().collection_whatsapp_token = (
                settings.collection_whatsapp_token_new.strip()
            )
            settings.collection_whatsapp_token_new = False

    def action_collection_open_policies(self):
        return self.env["ir.actions.act_window"]._for_xml_id(
            "account_collection.collection_policy_action"
        )

    def action_collection_run_now(self):
        return self.env["ir.actions.act_window"]._for_xml_id(
            "account_collection.collection_dunning_run_action"
        )

    def action_collection_open_aging_buckets(self):
        return self.env["ir.actions.act_window"]._for_xml_id(
            "account_collection.collection_aging_bucket_action"
        )
