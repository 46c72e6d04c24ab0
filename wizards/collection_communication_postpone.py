from odoo import fields, models


class CollectionCommunicationPostpone(models.TransientModel):
    _name = "collection.communication.postpone"
    _description = "Postpone Reminders"

    communication_ids = fields.Many2many(
        "collection.communication", string="Reminders", required=True
    )
    date = fields.Date(
        string="New Day",
        required=True,
        default=lambda self: fields.Date.add(fields.Date.context_today(self), days=1),
        help="The reminders keep their level and go on this day (those waiting for review "
        "still wait for it); the next level counts its days from it.",
    )

    def action_confirm(self):
        self.ensure_one()
        self.communication_ids._collection_postpone(self.date)
        return {"type": "ir.actions.act_window_close"}
