from odoo import fields, models


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

    def action_collection_open_aging_buckets(self):
        return self.env["ir.actions.act_window"]._for_xml_id(
            "account_collection.collection_aging_bucket_action"
        )
