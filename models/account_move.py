from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.fields import Domain
from odoo.tools import SQL, format_date

from .collection_case_mixin import ACCOUNTING_READERS, DISPUTE_OPEN_STATES
from .collection_ledger import LEDGER_FIELDS, figure_search

MOVE_FIGURE_FIELDS = ("collection_days_overdue", "collection_bucket_id")

# The invoice's side of its promises and disputes, and its reminders: written from the
# promise or the dispute (whose checks apply) and by the reminders, never on the invoice.
CASE_FIELDS = {"collection_promise_ids", "collection_dispute_ids"}
DUNNING_FIELDS = {"collection_level_id", "collection_last_reminder_date"}
# An invoice's hold: written by holding and releasing it (see _collection_hold).
HOLD_FIELDS = {"collection_hold_reason", "collection_hold_until"}
# Invoices whose hold ended that the daily job releases at a time.
HOLD_RELEASE_BATCH_SIZE = 200


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
        if HOLD_FIELDS & set(vals):
            raise UserError(
                self.env._(
                    "The hold of an invoice's reminders is set with its Hold Reminders and "
                    "Release Hold buttons."
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

    # ==================================================================
    # Hold: one invoice without reminders for a while
    # ==================================================================

    collection_hold_reason = fields.Char(
        string="Reminders Held Because",
        readonly=True,
        copy=False,
        tracking=True,
        help="Why the invoice gets no reminder for now (Odoo's No Follow-up on its "
        "receivable lines). Set with Hold Reminders, cleared with Release Hold.",
    )
    collection_hold_until = fields.Date(
        string="Reminders Held Until",
        readonly=True,
        copy=False,
        tracking=True,
        index="btree_not_null",
        help="The last day of the hold: the day after, the hold is released by itself and "
        "the invoice gets its reminders again. Empty: until released by hand.",
    )

    def action_collection_hold(self):
        """Open the dialog asking why (and until when) the invoices are held."""
        self._collection_check_hold_access()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Hold Reminders"),
            "res_model": "collection.invoice.hold",
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "new",
            "context": {"default_move_ids": [fields.Command.set(self.ids)]},
        }

    def action_collection_release_hold(self):
        self._collection_release_hold()

    def _collection_check_hold_access(self):
        """Raise unless the current user may hold or release these invoices: posted
        customer invoices of customers the user works (billing users: any; collectors:
        those of their portfolio when the company restricts them to it)."""
        self.check_access("read")
        if not self:
            raise UserError(self.env._("Select the invoices first."))
        if self.filtered(lambda m: m.move_type != "out_invoice" or m.state != "posted"):
            raise UserError(self.env._("Only posted customer invoices can be held or released."))
        user = self.env.user
        if self.env.su or user.has_group("account.group_account_invoice"):
            return
        if not user.has_group("account_collection.group_collection_user"):
            raise AccessError(
                self.env._("Only collection and billing users can hold an invoice's reminders.")
            )
        for partner in self.commercial_partner_id:
            if not partner._collection_in_user_portfolio():
                raise AccessError(
                    self.env._(
                        "%(partner)s is in another collector's portfolio.",
                        partner=partner.display_name,
                    )
                )

    def _collection_hold(self, reason, until=False):
        """Hold the reminders of these invoices: Odoo's No Follow-up on their
        receivable lines, the reason and the optional last day on the invoice, and the
        hold logged as an interaction on each customer. The reminders waiting to go
        drop them (the truth at sending), the dunning run leaves them out."""
        self._collection_check_hold_access()
        reason = (reason or "").strip()
        if not reason:
            raise UserError(self.env._("Say why the invoice's reminders are held."))
        until = fields.Date.to_date(until) if until else False
        for company in self.company_id:
            today = company._collection_today()
            if until and until <= today:
                raise UserError(
                    self.env._(
                        "A hold ends on a day later than today (%(today)s), or leave the end "
                        "empty to release it by hand.",
                        today=format_date(self.env, today),
                    )
                )
        # sudo: collectors cannot write invoices; access was checked above.
        moves_sudo = self.sudo()
        moves_sudo.line_ids.filtered(
            lambda line: line.account_type == "asset_receivable" and not line.no_followup
        ).write({"no_followup": True})
        moves_sudo.write({"collection_hold_reason": reason, "collection_hold_until": until})
        if until:
            note = self.env._(
                "Reminders held until %(day)s: %(reason)s",
                day=format_date(self.env, until, date_format="MMM d"),
                reason=reason,
            )
        else:
            note = self.env._("Reminders held until released: %(reason)s", reason=reason)
        self._collection_log_hold(note)

    def _collection_release_hold(self, automatic=False):
        """Release the hold of these invoices: their receivable lines are followed up
        again and the release is logged on each customer (by the daily job when
        ``automatic``, once the hold's last day passed)."""
        if not automatic:
            self._collection_check_hold_access()
        held = self.filtered(lambda m: m.no_followup or m.collection_hold_reason)
        if not held:
            raise UserError(self.env._("These invoices are not held."))
        notes = {}
        for move in held:
            if automatic:
                notes[move.id] = self.env._(
                    "Hold ended on %(day)s (%(reason)s): reminders resume.",
                    day=format_date(self.env, move.collection_hold_until, date_format="MMM d"),
                    reason=move.collection_hold_reason or "",
                )
            else:
                notes[move.id] = self.env._(
                    "Hold released by %(user)s (%(reason)s): reminders resume.",
                    user=self.env.user.name,
                    reason=move.collection_hold_reason or self.env._("No Follow-up"),
                )
        # sudo: collectors cannot write invoices; access was checked above (the daily
        # job releases the holds whose end passed, whoever runs it).
        held_sudo = held.sudo()
        held_sudo.line_ids.filtered(
            lambda line: line.account_type == "asset_receivable" and line.no_followup
        ).write({"no_followup": False})
        held_sudo.write({"collection_hold_reason": False, "collection_hold_until": False})
        for move in held:
            move._collection_log_hold(notes[move.id], automatic=automatic)

    def _collection_log_hold(self, note, automatic=False):
        """Log ``note`` about these invoices as an interaction on each customer."""
        Interaction = self.env["collection.interaction"]
        for partner in self.commercial_partner_id:
            moves = self.filtered(lambda m, p=partner: m.commercial_partner_id == p)
            for company in moves.company_id:
                company_moves = moves.filtered(lambda m, c=company: m.company_id == c)
                # sudo: the hold is evidence logged by holding itself, checked by the
                # caller; no status changes.
                Interaction.sudo().with_context(collection_interaction_effects=False).create(
                    {
                        "partner_id": partner.id,
                        "company_id": company.id,
                        "user_id": False if automatic else self.env.uid,
                        "automatic": automatic,
                        "channel": "note",
                        "move_ids": [fields.Command.set(company_moves.ids)],
                        "note": "\n".join([note, ", ".join(company_moves.mapped("name"))]),
                    }
                )
                partner.with_company(company).sudo().message_post(
                    body=Markup("%s %s")
                    % (note, Markup(", ").join(m._get_html_link() for m in company_moves)),
                    author_id=False if automatic else self.env.user.partner_id.id,
                    message_type="comment",
                    subtype_xmlid="mail.mt_note",
                )

    @api.model
    def _cron_release_collection_holds(self):
        """Daily: release the holds whose last day passed (on each company's clock), in
        committed batches; an invoice that fails is left for the next run with the
        error logged, the others go on."""
        Cron = self.env["ir.cron"]
        for company in self.env["res.company"].search([]):
            today = company._collection_today()
            domain = [
                ("company_id", "=", company.id),
                ("collection_hold_until", "!=", False),
                ("collection_hold_until", "<", today),
            ]
            while moves := self.search(domain, limit=HOLD_RELEASE_BATCH_SIZE, order="id"):
                moves = moves.try_lock_for_update().filtered_domain(domain)
                if not moves:
                    break
                moves.with_company(company)._collection_release_hold(automatic=True)
                Cron._commit_progress(len(moves), remaining=self.search_count(domain))
