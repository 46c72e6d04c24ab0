from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL


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

    # === DUNNING RULE === #

    @api.model
    def _dunning_exclusion_sql(self, stage_sql):
        """Dunning rule: TRUE when the stage ``stage_sql`` (an SQL expression of a stage
        id, or NULL) stops the automatic reminders."""
        self.flush_model(["stop_dunning"])
        return SQL(
            """EXISTS (SELECT 1 FROM collection_stage st
                        WHERE st.id = %(stage)s AND st.stop_dunning)""",
            stage=stage_sql,
        )

    @api.ondelete(at_uninstall=False)
    def _unlink_except_in_use(self):
        """A stage customers are in (in any company) stays: they are moved out of it
        first, or it is archived."""
        used = self.env["res.partner"]._collection_ids_in_use("collection_stage_id", self.ids)
        for stage in self.filtered(lambda stage: stage.id in used):
            raise UserError(
                self.env._(
                    "The stage “%(stage)s” holds customers: move them to another stage "
                    "first, or archive it.",
                    stage=stage.name,
                )
            )
