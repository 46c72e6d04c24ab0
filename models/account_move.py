from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.fields import Domain
from odoo.tools import SQL

from .collection_case_mixin import ACCOUNTING_READERS, DISPUTE_OPEN_STATES
from .collection_ledger import LEDGER_FIELDS, figure_search

MOVE_FIGURE_FIELDS = ("collection_days_overdue", "collection_bucket_id")

# The invoice's side of its promises and disputes, and its reminders: written from the
# promise or the dispute (whose checks apply) and by the reminders, never on the invoice.
CASE_FIELDS = {"collection_promise_ids", "collection_dispute_ids"}
DUNNING_FIELDS = {"collection_level_id", "collection_last_reminder_date"}


class AccountMove(models.Model):
    _inherit = "account.move"

    collection_days_overdue = fields.Integer(
        string="Days Overdue",
        compute="_compute_collection_figures",
        search=figure_search("collection_days_overdue"),
        help="Days since the due date of this entry's oldest open overdue receivable "
        "(0 if nothing is overdue).",
    )
    collection_bucket_id = fields.Many2one(
        "collection.aging.bucket",
        string="Aging Bucket",
        compute="_compute_collection_figures",
        search=figure_search("collection_bucket_id"),
        help="Aging bucket of the oldest open receivable of this entry.",
    )
    collection_level_id = fields.Many2one(
        "collection.level",
        string="Dunning Level",
        compute="_compute_collection_dunning",
        inverse="_inverse_collection_level_id",
        search="_search_collection_level_id",
        readonly=True,
        help="Highest reminder level this invoice reached.",
    )
    collection_last_reminder_date = fields.Date(
        string="Last Reminder",
        compute="_compute_collection_dunning",
        inverse="_inverse_collection_last_reminder_date",
        readonly=True,
        help="Day a reminder about this invoice was last sent.",
    )
    collection_promise_ids = fields.Many2many(
        "collection.promise",
        "collection_promise_account_move_rel",
        "account_move_id",
        "collection_promise_id",
        string="Promises to Pay",
        readonly=True,
        copy=False,
        groups="account_collection.group_collection_user,account.group_account_invoice",
    )
    collection_open_promise_id = fields.Many2one(
        "collection.promise",
        string="Open Promise",
        compute="_compute_collection_open_promise_id",
        groups="account_collection.group_collection_user,account.group_account_invoice",
        help="The customer's open promise to pay that covers this invoice.",
    )

    def _collection_oldest_due_sql(self, alias):
        """Subquery giving, for the move row ``alias``, the oldest due date of its open
        receivable items that the customer owes (overdue or not), ignoring items marked
        'No follow-up'."""
        Ledger = self.env["collection.ledger"]
        return SQL(
            """(SELECT MIN(%(due_date)s)
                  FROM account_move_line l
                 WHERE l.move_id = %(move)s
                   AND %(open_receivable)s
                   AND %(open_debit)s)""",
            due_date=Ledger._due_date_sql("l"),
            move=SQL.identifier(alias, "id"),
            open_receivable=Ledger._open_receivable_condition(alias="l"),
            open_debit=Ledger._open_debit_condition("l"),
        )

    def _field_to_sql(self, alias, field_expr, query=None):
        if field_expr in MOVE_FIGURE_FIELDS:
            self._check_field_access(self._fields[field_expr], "read")
            self.env["collection.ledger"]._flush()
            today = fields.Date.context_today(self)
            oldest = self._collection_oldest_due_sql(alias)
            days = SQL("(%s::date - %s)", today, oldest)
            if field_expr == "collection_days_overdue":
                return SQL("GREATEST(COALESCE(%s, 0), 0)", days)
            bucket = self.env["collection.aging.bucket"]._bucket_case_sql(self.env.company, days)
            return SQL("(CASE WHEN %s IS NULL THEN NULL ELSE %s END)", oldest, bucket)
        return super()._field_to_sql(alias, field_expr, query)

    @api.depends(*(f"line_ids.{fname}" for fname in LEDGER_FIELDS), "state")
    @api.depends_context("company", "tz")
    def _compute_collection_figures(self):
        today = fields.Date.context_today(self)
        all_buckets = self.env["collection.aging.bucket"].search(
            [("company_id", "in", self.company_id.ids)]
        )
        for move in self:
            buckets = all_buckets.filtered(
                lambda b, company=move.company_id: b.company_id == company
            )
            open_lines = self.env["collection.ledger"]._open_debit_lines(move.line_ids)
            if not open_lines:
                move.collection_days_overdue = 0
                move.collection_bucket_id = False
                continue
            oldest = min(line.date_maturity or line.date for line in open_lines)
            days = (today - oldest).days
            move.collection_days_overdue = max(days, 0)
            move.collection_bucket_id = buckets._bucket_for_days(days)

    def _compute_collection_dunning(self):
        # sudo: the reminders' bookkeeping of invoices the user can read.
        states = {
            state.move_id.id: state
            for state in self.env["collection.invoice.dunning"]
            .sudo()
            .search([("move_id", "in", self.filtered("id").ids)])
        }
        for move in self:
            state = states.get(move.id)
            move.collection_level_id = state.level_id if state else False
            move.collection_last_reminder_date = state.last_reminder_date if state else False

    def _inverse_collection_level_id(self):
        self.env["collection.invoice.dunning"].sudo()._set(
            "level_id", self.ids, [move.collection_level_id.id or None for move in self]
        )

    def _inverse_collection_last_reminder_date(self):
        self.env["collection.invoice.dunning"].sudo()._set(
            "last_reminder_date",
            self.ids,
            [move.collection_last_reminder_date or None for move in self],
        )

    def _search_collection_level_id(self, operator, value):
        if operator not in ("in", "not in"):
            return NotImplemented
        States = self.env["collection.invoice.dunning"].sudo()
        level_ids = [v for v in value if v]
        domain = Domain.FALSE
        if level_ids:
            domain = Domain(
                "id", "in", States._search([("level_id", "in", level_ids)]).subselect("move_id")
            )
        if len(level_ids) != len(value):
            # No level: no state, or a state without a level.
            domain |= Domain(
                "id", "not in", States._search([("level_id", "!=", False)]).subselect("move_id")
            )
        return domain if operator == "in" else ~domain

    @api.depends("collection_promise_ids.state")
    def _compute_collection_open_promise_id(self):
        for move in self:
            open_promises = move.collection_promise_ids.filtered(lambda p: p.state == "open")
            move.collection_open_promise_id = open_promises.sorted("date")[:1]

    def _post(self, soft=True):
        posted = super()._post(soft=soft)
        # A payment received on account counts toward the customer's promises without
        # invoices.
        entries = posted.filtered(lambda m: m.move_type == "entry")
        self.env["collection.promise"]._collection_follow_ledger(entries)
        return posted

    def button_draft(self):
        result = super().button_draft()
        # A payment reset or cancelled no longer keeps the customer's promises.
        self._collection_follow_payments_undone()
        return result

    def button_cancel(self):
        result = super().button_cancel()
        self._collection_follow_payments_undone()
        return result

    def _collection_follow_payments_undone(self):
        entries = self.filtered(lambda m: m.move_type == "entry")
        self.env["collection.promise"]._collection_follow_ledger(entries, states=("open", "kept"))

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            self._collection_check_written(vals)
        return super().create(vals_list)

    def write(self, vals):
        self._collection_check_written(vals)
        return super().write(vals)

    @api.model
    def _collection_check_written(self, vals):
        """Refuse a user's write of the collection fields no user writes on the invoice
        (see CASE_FIELDS, DUNNING_FIELDS)."""
        if self.env.su:
            return
        if CASE_FIELDS & set(vals):
            raise UserError(
                self.env._(
                    "The invoices of a promise to pay or of a dispute are changed on the "
                    "promise or the dispute, not on the invoice."
                )
            )
        if DUNNING_FIELDS & set(vals):
            raise UserError(
                self.env._(
                    "The reminder level and the last reminder of an invoice are set by the "
                    "reminders."
                )
            )

    def action_collection_log_interaction(self):
        partner = self.commercial_partner_id
        partner.ensure_one()
        action = partner.action_collection_log_interaction()
        action["context"] = dict(action["context"], default_move_ids=self.ids)
        return action

    # ==================================================================
    # Disputes: the invoice's disputes
    # ==================================================================

    collection_dispute_ids = fields.Many2many(
        "collection.dispute",
        "collection_dispute_account_move_rel",
        "account_move_id",
        "collection_dispute_id",
        string="Disputes",
        readonly=True,
        copy=False,
        groups=ACCOUNTING_READERS,
    )
    collection_open_dispute_id = fields.Many2one(
        "collection.dispute",
        string="Open Dispute",
        compute="_compute_collection_open_dispute_id",
        groups=ACCOUNTING_READERS,
        help="The customer's open dispute on this invoice: it gets no reminder meanwhile.",
    )

    @api.depends("collection_dispute_ids.state")
    def _compute_collection_open_dispute_id(self):
        for move in self:
            move.collection_open_dispute_id = move.collection_dispute_ids.filtered(
                lambda d: d.state in DISPUTE_OPEN_STATES
            )[:1]

    def _collection_credit_notes(self):
        """Posted credit notes that reverse these invoices or are reconciled with them."""
        reversals = self.reversal_move_ids
        reconciled = (
            self.line_ids.matched_credit_ids.credit_move_id.move_id
            | self.line_ids.matched_debit_ids.debit_move_id.move_id
        )
        return (reversals | reconciled).filtered(
            lambda m: m.move_type == "out_refund" and m.state == "posted"
        )

    def action_collection_open_dispute(self):
        """Open the invoice's open dispute, or a new one on it."""
        self.ensure_one()
        dispute = self.collection_open_dispute_id
        action = {
            "type": "ir.actions.act_window",
            "name": self.env._("Dispute"),
            "res_model": "collection.dispute",
            "view_mode": "form",
        }
        if dispute:
            action["res_id"] = dispute.id
        else:
            action["context"] = {
                "default_partner_id": self.commercial_partner_id.id,
                "default_move_ids": [fields.Command.set(self.ids)],
                "default_company_id": self.company_id.id,
            }
        return action
