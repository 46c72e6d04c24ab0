from odoo import api, fields, models
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

    # === DEFAULT STAGE === #

    @api.model
    def _collection_set_default_stage(self):
        """Customers are in the first stage until one is chosen for them: the default
        of the company-dependent stage (ir.default), which the worklist's cards, its
        filters and the analyses read, so that no column of customers "without a stage"
        opens the cards. Set once; a default chosen since is left alone."""
        field = self.env["ir.model.fields"]._get("res.partner", "collection_stage_id")
        # sudo: the defaults are set by the module's data, whoever installs it.
        IrDefault = self.env["ir.default"].sudo()
        if IrDefault.search_count([("field_id", "=", field.id)], limit=1):
            return
        first = self.sudo().search([], limit=1)
        if first:
            IrDefault.set("res.partner", "collection_stage_id", first.id)
