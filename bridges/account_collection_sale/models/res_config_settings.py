from odoo import fields, models


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    collection_sale_credit_hold_block = fields.Boolean(
        related="company_id.collection_sale_credit_hold_block", readonly=False
    )
