from odoo import api, fields, models


def company_setting(field_type, fname):
    """A setting shown in the Settings that reads and writes the company's field
    ``fname`` (of type ``field_type``)."""
    return field_type(related=f"company_id.{fname}", readonly=False)


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    # The company's settings, read and written on the company of the settings.
    collection_default_user_id = company_setting(fields.Many2one, "collection_default_user_id")
    collection_promise_grace_days = company_setting(fields.Integer, "collection_promise_grace_days")
    collection_promise_max_days = company_setting(fields.Integer, "collection_promise_max_days")
    collection_portal_link_days = company_setting(fields.Integer, "collection_portal_link_days")
    collection_portfolio_restricted = company_setting(
        fields.Boolean, "collection_portfolio_restricted"
    )
    collection_agreement_approval_amount = company_setting(
        fields.Monetary, "collection_agreement_approval_amount"
    )
    collection_agreement_grace_days = company_setting(
        fields.Integer, "collection_agreement_grace_days"
    )

    collection_policy_id = company_setting(fields.Many2one, "collection_policy_id")
    collection_quiet_hour_start = company_setting(fields.Float, "collection_quiet_hour_start")
    collection_quiet_hour_end = company_setting(fields.Float, "collection_quiet_hour_end")
    collection_rest_day = company_setting(fields.Selection, "collection_rest_day")
    collection_calendar_id = company_setting(fields.Many2one, "collection_calendar_id")
    collection_public_holidays = company_setting(fields.Boolean, "collection_public_holidays")
    collection_message_interval_days = company_setting(
        fields.Integer, "collection_message_interval_days"
    )
    collection_email_from = company_setting(fields.Char, "collection_email_from")
    collection_whatsapp_phone_number_id = company_setting(
        fields.Char, "collection_whatsapp_phone_number_id"
    )
    # The token is never shown again once saved: this field is write-only.
    collection_whatsapp_token_new = fields.Char(
        string="WhatsApp Access Token",
        help="Paste a new access token to replace the saved one. The saved token is never shown.",
    )
    collection_whatsapp_token_set = fields.Boolean(
        compute="_compute_collection_whatsapp_token_set", string="Token Saved"
    )

    # The webhook's verify token and app secret are write-only too.
    collection_whatsapp_verify_token_new = fields.Char(
        string="Webhook Verify Token",
        help="Paste the verify token typed in your Meta app's webhook settings. The saved "
        "one is never shown.",
    )
    collection_whatsapp_verify_token_set = fields.Boolean(
        compute="_compute_collection_whatsapp_token_set", string="Verify Token Saved"
    )
    collection_whatsapp_app_secret_new = fields.Char(
        string="App Secret",
        help="Paste your Meta app's secret, which signs the webhook calls. The saved one is "
        "never shown.",
    )
    collection_whatsapp_app_secret_set = fields.Boolean(
        compute="_compute_collection_whatsapp_token_set", string="App Secret Saved"
    )

    @api.depends("company_id")
    def _compute_collection_whatsapp_token_set(self):
        for settings in self:
            # sudo: whether a secret is saved is shown, never the secret.
            company = settings.company_id.sudo()
            settings.collection_whatsapp_token_set = bool(company.collection_whatsapp_token)
            settings.collection_whatsapp_verify_token_set = bool(
                company.collection_whatsapp_verify_token
            )
            settings.collection_whatsapp_app_secret_set = bool(
                company.collection_whatsapp_app_secret
            )

    def set_values(self):
        super().set_values()
        secrets = {
            "collection_whatsapp_token_new": "collection_whatsapp_token",
            "collection_whatsapp_verify_token_new": "collection_whatsapp_verify_token",
            "collection_whatsapp_app_secret_new": "collection_whatsapp_app_secret",
        }
        if not self.env.user.has_group("account_collection.group_collection_manager"):
            return
        for settings in self:
            for new_fname, fname in secrets.items():
                if not settings[new_fname]:
                    continue
                # sudo: the secrets are readable by system administrators only;
                # collection managers may replace them without ever reading them.
                settings.company_id.sudo()[fname] = settings[new_fname].strip()
                settings[new_fname] = False

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

    collection_reply_auto_promise = company_setting(fields.Boolean, "collection_reply_auto_promise")

    collection_priority_risk = company_setting(fields.Boolean, "collection_priority_risk")
