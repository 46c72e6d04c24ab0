from odoo import fields, models


class CollectionStage(models.Model):
    _name = "collection.stage"
    _description = "Collection Stage"
    _order = "sequence, id"

    name = fields.Char(required=True, translate=True)
    sequence = fields.Integer(default=10)
    fold = fields.Boolean(
        string="Folded in Kanban", help="Fold this stage's column in the worklist kanban."
    )
    description = fields.Text(translate=True, help="What this stage means for the collectors.")
    active = fields.Boolean(default=True)
    stop_dunning = fields.Boolean(
        string="Stop Automatic Reminders",
        help="Customers in this stage get no automatic reminder (e.g. claimed in court).",
    )
