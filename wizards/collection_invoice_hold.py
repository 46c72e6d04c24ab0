from odoo import fields, models


class CollectionInvoiceHold(models.TransientModel):
    _name = "collection.invoice.hold"
    _description = "Hold Invoice Reminders"

    move_ids = fields.Many2many("account.move", string="Invoices", required=True)
    reason = fields.Char(
        required=True,
        help="Why the invoices get no reminder for now: logged on the customer and shown "
        "on the invoice.",
    )
    until = fields.Date(
        string="Until",
        help="The last day of the hold: the day after, the invoices get their reminders "
        "again by themselves. Empty: until released by hand.",
    )

    def action_confirm(self):
        self.ensure_one()
        self.move_ids._collection_hold(self.reason, self.until)
        return {"type": "ir.actions.act_window_close"}
