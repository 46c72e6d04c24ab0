from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL


def may_change_shared(env):
    """Whether the current user may change the collection configuration every company
    shares (the stages, the dispute reasons without a company): a user of every
    company, or an administrator. A user of some companies would change the others'."""
    if env.su or env.user.has_group("base.group_system"):
        return True
    # sudo: only which companies exist is read, to compare with the user's.
    return not (env["res.company"].sudo().search([]) - env.user.company_ids)


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

    # === SHARED BY EVERY COMPANY === #

    def _check_shared_access(self):
        if not may_change_shared(self.env):
            raise AccessError(
                self.env._(
                    "Collection stages are shared by every company: only a collection "
                    "manager of every company, or an administrator, can add, change or "
                    "delete them."
                )
            )

    @api.model_create_multi
    def create(self, vals_list):
        self._check_shared_access()
        return super().create(vals_list)

    def write(self, vals):
        if self:
            self._check_shared_access()
        return super().write(vals)

    def unlink(self):
        if self:
            self._check_shared_access()
        return super().unlink()
