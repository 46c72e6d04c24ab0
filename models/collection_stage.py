from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL


class CollectionStage(models.Model):
    _name = "collection.stage"
    _inherit = ["collection.shared.mixin"]
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
    def _dunning_exclusion_sql(self, stage_sql, since_sql=None, due_date_sql=None):
        """Dunning rule: TRUE when the stage ``stage_sql`` (an SQL expression of a stage
        id, or NULL) stops the automatic reminders of an invoice due on
        ``due_date_sql``: the debt due by the day the customer entered the stage
        (``since_sql``, NULL when unknown: all of it) is held, the invoices due later
        are reminded. Without ``due_date_sql``, TRUE for all the customer's debt."""
        self.flush_model(["stop_dunning"])
        held = SQL()
        if due_date_sql is not None:
            held = SQL(
                "AND (%(since)s IS NULL OR %(due)s <= %(since)s)",
                since=since_sql,
                due=due_date_sql,
            )
        return SQL(
            """EXISTS (SELECT 1 FROM collection_stage st
                        WHERE st.id = %(stage)s AND st.stop_dunning %(held)s)""",
            stage=stage_sql,
            held=held,
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
        # sudo: levels of every company may move customers to a shared stage.
        levels = (
            self.env["collection.level"]
            .sudo()
            .with_context(active_test=False)
            .search([("stage_id", "in", self.ids)])
        )
        for stage in self:
            level = levels.filtered(lambda level, stage=stage: level.stage_id == stage)[:1]
            if level:
                raise UserError(
                    self.env._(
                        "The stage “%(stage)s” is where the level “%(level)s” of the "
                        "policy “%(policy)s” moves customers: choose another stage on "
                        "that level first, or archive this one.",
                        stage=stage.name,
                        level=level.name,
                        policy=level.policy_id.name,
                    )
                )

    # === SHARED BY EVERY COMPANY === #

    def _collection_shared_denied_message(self, shared):
        return self.env._(
            "Collection stages are shared by every company: only a collection "
            "manager of every company, or an administrator, can add, change or "
            "delete them."
        )
