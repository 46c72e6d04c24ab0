from odoo import fields, models


class ResCompany(models.Model):
    _inherit = "res.company"

    collection_sale_credit_hold_block = fields.Boolean(
        string="Credit Hold Blocks Sales Orders",
        help="A sales order of a customer on credit hold in this company is not confirmed; "
        "sales managers and collection managers may still confirm it, which is logged as "
        "an interaction of the customer.",
    )
