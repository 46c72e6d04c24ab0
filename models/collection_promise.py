import math

from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.fields import Domain
from odoo.tools import SQL, float_compare, float_is_zero, format_amount, format_date

from .collection_case_mixin import days_after
from .collection_ledger import PROMISE_PRIORITY_DDL

# Fields that follow the ledger: set by the payments and the daily check, or by a
# collection manager; a collector only cancels an open promise.
LEDGER_FIELDS = {"state", "amount_paid", "date_closed", "date_made"}


class CollectionPromise(models.Model):
    _name = "collection.promise"
    _description = "Promise to Pay"
    _inherit = ["collection.case.mixin", "mail.thread", "mail.activity.mixin"]
    _order = "date desc, id desc"
    _check_company_auto = True

    name = fields.Char(compute="_compute_name", store=True)
    move_ids = fields.Many2many(
        "account.move",
        "collection_promise_account_move_rel",
        "collection_promise_id",
        "account_move_id",
        help="Invoices the customer promised to pay. Payments reconciled with them after "
        "the promise was made count toward it.",
    )
    amount = fields.Monetary(required=True, tracking=True, help="Amount promised.")
    date = fields.Date(
        required=True, tracking=True, help="Date by which the customer promised to pay."
    )
    date_made = fields.Date(
        string="Made On",
        required=True,
        readonly=True,
        default=fields.Date.context_today,
        help="Day the promise was made; payments dated from this day on count toward it.",
    )
    amount_paid = fields.Monetary(
        readonly=True,
        copy=False,
        help="Payments reconciled with the promised invoices, dated on or after the day the "
        "promise was made.",
    )
    state = fields.Selection(
        [
            ("open", "Open"),
            ("kept", "Kept"),
            ("partial", "Partly Kept"),
            ("broken", "Broken"),
            ("cancelled", "Cancelled"),
        ],
        default="open",
        required=True,
        readonly=True,
        copy=False,
        tracking=True,
        index=True,
    )
    date_closed = fields.Date(string="Closed On", readonly=True, copy=False)
    interaction_ids = fields.One2many("collection.interaction", "promise_id", string="Interactions")
    note = fields.Text()

    _amount_positive = models.Constraint(
        "CHECK (amount > 0)", "The promised amount must be greater than zero."
    )

    def init(self):
        super().init()
        # The broken promises count in the priority the ledger stores: triggers keep it
        # (collection.ledger, PRIORITY_DDL), filled here when installing.
        self.env.cr.execute(PROMISE_PRIORITY_DDL)
        self.env["collection.ledger"]._priority_fill()

    @api.depends("partner_id", "amount", "date")
    def _compute_name(self):
        for promise in self:
            promise.name = promise._collection_name()

    @api.depends("partner_id", "amount", "date")
    @api.depends_context("lang")
    def _compute_display_name(self):
        """The name in the reader's language, its amount and date in the reader's
        formats (the stored name is in the language of who made the promise)."""
        for promise in self:
            promise.display_name = promise._collection_name()

    def _collection_name(self):
        self.ensure_one()
        if not self.partner_id or not self.date:
            return self.env._("New promise")
        return self.env._(
            "%(partner)s: %(amount)s by %(date)s",
            partner=self.partner_id.display_name,
            amount=format_amount(self.env, self.amount, self.currency_id),
            date=format_date(self.env, self.date),
        )

    # ------------------------------------------------------------------
    # Constraints
    # ------------------------------------------------------------------

    @api.constrains("amount", "date", "move_ids", "partner_id")
    def _check_promise(self):
        promises = self.filtered(lambda p: p.state == "open")
        for promise in promises:
            if (
                float_compare(promise.amount, 0.0, precision_rounding=promise.currency_id.rounding)
                <= 0
            ):
                raise ValidationError(self.env._("The promised amount must be greater than zero."))
        promises._collection_check_moves()

    @api.constrains("date", "date_made")
    def _check_date_within_longest_promise(self):
        """A promise is dated at most the company's longest promise after the day it is
        made: nothing typed on the portal or in the back office reaches the end of the
        calendar."""
        for promise in self:
            latest = promise._collection_latest_date()
            if promise.date and latest and promise.date > latest:
                raise ValidationError(promise._collection_latest_date_error(latest))

    def _collection_latest_date(self, date_made=None):
        """The latest date a promise of this company made on ``date_made`` (default: its
        own day) may be dated."""
        date_made = date_made or self.date_made
        if not date_made:
            return None
        return days_after(date_made, self.company_id.collection_promise_max_days)

    def _collection_latest_date_error(self, latest):
        return self.env._(
            "A promise to pay is dated at most %(days)s days after it is made: promise to "
            "pay by %(date)s at the latest.",
            days=self.company_id.collection_promise_max_days,
            date=format_date(self.env, latest),
        )

    def _collection_contact_error(self):
        return self.env._(
            "A promise is made by the customer itself (%(company)s), not by one of its contacts.",
            company=self.partner_id.commercial_partner_id.display_name,
        )

    def _collection_not_open_error(self, moves):
        return self.env._(
            "A promise can only cover posted customer invoices that are still open: %(invoices)s",
            invoices=", ".join(moves.mapped("display_name")),
        )

    # ------------------------------------------------------------------
    # CRUD
    # ------------------------------------------------------------------

    @api.model_create_multi
    def create(self, vals_list):
        today = fields.Date.context_today(self)
        may_set_ledger = self._collection_may_set_ledger()
        for vals in vals_list:
            if not may_set_ledger:
                for fname in LEDGER_FIELDS:
                    vals.pop(fname, None)
            # The date may come from the context's defaults rather than from vals.
            date = vals.get("date") or self.env.context.get("default_date")
            if date and fields.Date.to_date(date) < today:
                raise ValidationError(
                    self.env._(
                        "The promised date %(date)s is in the past: a customer promises to pay "
                        "today or later.",
                        date=format_date(self.env, fields.Date.to_date(date)),
                    )
                )
            if "amount" in vals and (vals["amount"] or 0) <= 0:
                raise ValidationError(self.env._("The promised amount must be greater than zero."))
        self._collection_check_portfolio(vals_list)
        promises = super().create(vals_list)
        for promise in promises:
            promise._collection_note_on_customer(
                self.env._("New promise to pay:"),
                status=promise._collection_customer_status_after("committed"),
            )
        return promises

    def write(self, vals):
        if LEDGER_FIELDS & set(vals) and not self._collection_may_set_ledger():
            cancelling = vals.get("state") == "cancelled" and LEDGER_FIELDS & set(vals) <= {
                "state",
                "date_closed",
            }
            if not cancelling or any(p.state != "open" for p in self):
                raise UserError(
                    self.env._(
                        "The state and the amount paid of a promise follow the ledger and "
                        "cannot be set by hand; an open promise can be cancelled."
                    )
                )
        if vals.get("date"):
            today = fields.Date.context_today(self)
            if fields.Date.to_date(vals["date"]) < today:
                raise ValidationError(
                    self.env._(
                        "The promised date %(date)s is in the past: a customer promises to pay "
                        "today or later.",
                        date=format_date(self.env, fields.Date.to_date(vals["date"])),
                    )
                )
        self._collection_check_portfolio_write(vals)
        protected = {"partner_id", "amount", "date", "move_ids", "company_id"}
        if protected & set(vals) and any(p.state != "open" for p in self):
            raise UserError(
                self.env._("Only open promises can be changed; this one is already closed.")
            )
        return super().write(vals)

    @api.ondelete(at_uninstall=False)
    def _unlink_except_evidence(self):
        if not self.env.user.has_group("account_collection.group_collection_manager"):
            raise UserError(
                self.env._(
                    "Promises are kept as evidence: cancel the promise instead of deleting it."
                )
            )
        if any(p.interaction_ids for p in self):
            raise UserError(
                self.env._(
                    "This promise is referenced by logged interactions and is kept as evidence: "
                    "cancel it instead."
                )
            )

    # ------------------------------------------------------------------
    # Actions
    # ------------------------------------------------------------------

    def action_cancel(self):
        if any(p.state != "open" for p in self):
            raise UserError(self.env._("Only open promises can be cancelled."))
        self.write({"state": "cancelled", "date_closed": fields.Date.context_today(self)})

    def action_evaluate(self):
        self.check_access("write")
        # sudo: the state and the amount paid follow the ledger; access was checked above.
        self.sudo()._collection_evaluate()

    def _collection_may_set_ledger(self):
        return self.env.su or self.env.user.has_group("account_collection.group_collection_manager")

    # ------------------------------------------------------------------
    # Following the ledger
    # ------------------------------------------------------------------

    def _collection_compute_amount_paid(self):
        """{promise id: paid} — in company currency, the payments (not credit notes)
        dated from the day the promise was made to its date plus the grace period.
        Later payments do not keep a promise.

        A promise on invoices counts the payments reconciled with them. A promise
        without invoices covers the customer's overdue balance when it was made: every
        payment received from the customer counts, reconciled with any invoice or
        still on account."""
        if not self:
            return {}
        self.env["account.partial.reconcile"].flush_model()
        self.env["account.move.line"].flush_model(
            ["move_id", "date", "account_id", "partner_id", "balance", "parent_state"]
        )
        self.env["account.move"].flush_model(
            ["move_type", "origin_payment_id", "statement_line_id"]
        )
        self.env["res.partner"].flush_model(["commercial_partner_id"])
        self.flush_model(["date_made", "date", "company_id", "partner_id", "move_ids"])
        self.env["res.company"].flush_model(["collection_promise_grace_days"])
        in_time = SQL(
            """pay_line.date >= promise.date_made
               AND pay_line.date
                   <= promise.date + COALESCE(company.collection_promise_grace_days, 0)"""
        )
        on_invoices = self.env.execute_query(
            SQL(
                """
                SELECT rel.collection_promise_id, SUM(apr.amount)
                  FROM collection_promise_account_move_rel rel
                  JOIN collection_promise promise ON promise.id = rel.collection_promise_id
                  JOIN res_company company ON company.id = promise.company_id
                  JOIN account_move_line inv_line ON inv_line.move_id = rel.account_move_id
                  JOIN account_account inv_account ON inv_account.id = inv_line.account_id
                                                  AND inv_account.account_type = 'asset_receivable'
                  JOIN account_partial_reconcile apr ON apr.debit_move_id = inv_line.id
                  JOIN account_move_line pay_line ON pay_line.id = apr.credit_move_id
                  JOIN account_move pay_move ON pay_move.id = pay_line.move_id
                 WHERE rel.collection_promise_id IN %(ids)s
                   AND pay_move.move_type = 'entry'
                   AND %(in_time)s
                 GROUP BY rel.collection_promise_id
                """,
                ids=tuple(self.ids),
                in_time=in_time,
            )
        )
        # The customer's payments: the receivable credits of its posted payments and
        # bank statement lines, matched or not.
        on_balance = self.env.execute_query(
            SQL(
                """
                SELECT promise.id, SUM(-pay_line.balance)
                  FROM collection_promise promise
                  JOIN res_company company ON company.id = promise.company_id
                  JOIN res_partner customer ON customer.commercial_partner_id = promise.partner_id
                  JOIN account_move_line pay_line ON pay_line.partner_id = customer.id
                                                 AND pay_line.company_id = promise.company_id
                  JOIN account_account pay_account ON pay_account.id = pay_line.account_id
                                                  AND pay_account.account_type = 'asset_receivable'
                  JOIN account_move pay_move ON pay_move.id = pay_line.move_id
                 WHERE promise.id IN %(ids)s
                   AND NOT EXISTS (
                       SELECT 1 FROM collection_promise_account_move_rel rel
                        WHERE rel.collection_promise_id = promise.id)
                   AND pay_line.parent_state = 'posted'
                   AND pay_line.balance < 0
                   AND pay_move.move_type = 'entry'
                   AND (pay_move.origin_payment_id IS NOT NULL
                        OR pay_move.statement_line_id IS NOT NULL)
                   AND %(in_time)s
                 GROUP BY promise.id
                """,
                ids=tuple(self.ids),
                in_time=in_time,
            )
        )
        return dict(on_invoices + on_balance)

    def _collection_evaluate(self, today=None):
        """Bring promises in line with the ledger: kept once paid in full in time; partly
        kept or broken once the grace period after their date has passed short of the
        amount. A broken or partly kept promise becomes kept when a payment made in time
        is matched with its invoices later; a kept promise whose payment was unmatched
        or cancelled opens again (closed as partly kept or broken when its grace period
        has passed)."""
        today = today or fields.Date.context_today(self)
        promises = self.filtered(lambda p: p.state in ("open", "broken", "partial", "kept"))
        paid = promises._collection_compute_amount_paid()
        for promise in promises:
            amount_paid = paid.get(promise.id, 0.0)
            rounding = promise.currency_id.rounding
            if float_compare(amount_paid, promise.amount_paid, precision_rounding=rounding):
                promise.amount_paid = amount_paid
            if float_compare(amount_paid, promise.amount, precision_rounding=rounding) >= 0:
                if promise.state != "kept":
                    promise._collection_close("kept", today)
                continue
            if promise.state == "kept":
                promise._collection_reopen()
            if promise.state != "open":
                continue
            if today > days_after(promise.date, promise.company_id.collection_promise_grace_days):
                closing = (
                    "broken"
                    if float_is_zero(amount_paid, precision_rounding=rounding)
                    else "partial"
                )
                promise._collection_close(closing, today)

    def _collection_reopen(self):
        """A kept promise is no longer paid in full (a payment was unmatched or
        cancelled): it is open again and the customer Paying again; the daily check
        closes it if its grace period has passed."""
        self.ensure_one()
        self.write({"state": "open", "date_closed": False})
        summary = self.env._(
            "Promise open again: the payments that kept it no longer cover %(amount)s.",
            amount=format_amount(self.env, self.amount, self.currency_id),
        )
        self.message_post(body=summary)
        # sudo: the ledger reopens promises, whoever unmatched the payment.
        self.sudo()._collection_note_on_customer(
            summary, status=self._collection_customer_status_after("committed")
        )

    @api.model
    def _collection_follow_ledger(self, moves, states=("open", "broken", "partial")):
        """The journal entries ``moves`` were reconciled, unreconciled, posted, reset
        or cancelled: re-evaluate the promises in ``states`` on the invoices among them,
        and those without invoices of the customers whose payments are among them.
        As superuser: the ledger drives the promises, whoever changed it."""
        invoices = moves.filtered(lambda m: m.is_sale_document(include_receipts=True))
        payments = moves.filtered(
            lambda m: m.move_type == "entry" and (m.origin_payment_id or m.statement_line_id)
        )
        domain = Domain.FALSE
        if invoices:
            domain |= Domain("move_ids", "in", invoices.ids)
        customers = payments.line_ids.filtered(
            lambda line: line.account_type == "asset_receivable"
        ).partner_id.commercial_partner_id
        if customers:
            domain |= (
                Domain("move_ids", "=", False)
                & Domain("partner_id", "in", customers.ids)
                & Domain("company_id", "in", payments.company_id.ids)
            )
        if domain.is_false():
            return
        # sudo: the ledger drives the promises, whoever changed it.
        self.sudo().search(domain & Domain("state", "in", states))._collection_evaluate()

    def _collection_close(self, state, today):
        """Close the promise as ``state`` (kept, partial or broken) on ``today``: the
        customer's status follows; a broken or partly kept promise is noted on the
        customer and the collector gets an activity. Runs as superuser: the ledger and
        the daily check close promises, whoever triggered them."""
        self.ensure_one()
        self.write({"state": state, "date_closed": today})
        # sudo: the ledger and the daily check close promises, whoever triggered them.
        partner = self._collection_customer().sudo()
        if state == "kept":
            self.message_post(body=self.env._("Promise kept: the promised amount was paid."))
            partner._collection_set_status(self._collection_customer_status_after("kept"))
            env = self.with_context(lang=partner.lang or self.company_id.partner_id.lang).env
            partner._collection_thank(
                self.company_id,
                env._(
                    "Thank you: your payment of %(amount)s arrived as you promised.",
                    amount=format_amount(env, self.amount_paid or self.amount, self.currency_id),
                ),
            )
            return
        if state == "broken":
            summary = self.env._(
                "Broken promise: nothing was paid by %(date)s.",
                date=format_date(self.env, self.date),
            )
        else:
            summary = self.env._(
                "Promise partly kept: %(paid)s of %(amount)s paid by %(date)s.",
                paid=format_amount(self.env, self.amount_paid, self.currency_id),
                amount=format_amount(self.env, self.amount, self.currency_id),
                date=format_date(self.env, self.date),
            )
        self.message_post(body=summary)
        self._collection_note_on_customer(
            summary, status=self._collection_customer_status_after("broken")
        )
        collector = partner.collection_user_id or self.user_id
        partner.activity_schedule(
            "account_collection.mail_activity_type_broken_promise",
            date_deadline=today,
            summary=summary,
            user_id=collector.id or self.env.uid,
        )

    @api.model
    def _cron_evaluate_promises(self, batch_size=200):
        """Daily: close the open promises whose date has passed, in committed batches,
        so an interrupted run resumes where it stopped. A failing promise gets the error
        on its chatter; the others go on."""
        today = fields.Date.context_today(self)
        # sudo: the daily check follows the ledger for every portfolio.
        self.sudo()._collection_cron_process(
            [("state", "=", "open"), ("date", "<", today)],
            lambda promises: promises._collection_evaluate(today),
            lambda error: self.env._(
                "The daily check of this promise failed: %(error)s", error=str(error)
            ),
            batch_size=batch_size,
        )

    # ------------------------------------------------------------------
    # Portal
    # ------------------------------------------------------------------

    @api.model
    def _create_from_portal(self, partner, moves, amount, date, message=None, *, company=None):
        """Record the promise to pay a customer makes on the portal and return it.

        The caller (the portal controller) has already established that the visitor acts
        for ``partner`` (a portal user of that customer, or the holder of a valid access
        token of it) and runs this in a savepoint; this method checks everything else and
        raises a translated ``UserError`` (or the promise's ``ValidationError``) when the
        input is not acceptable:

        :param partner: ``res.partner``, the customer (its commercial partner is used)
        :param moves: ``account.move`` recordset, the promised invoices (may be empty):
            open invoices of that customer in ``company``
        :param amount: the promised amount, a number or the text typed in the form
        :param date: the day the customer will pay by, a date or its ISO text
        :param str message: what the customer wrote, kept as the promise's note
        :param company: ``res.company`` whose statement the customer answers (default:
            the invoices' company, else the current one)
        :return: the new ``collection.promise`` (as superuser: hand it back to the portal
            only through what the customer may see)
        :raise UserError: an amount that is not a positive number, no date, or already
            ``PORTAL_DAILY_LIMIT`` promises from the portal in 24 hours

        The promise is assigned to the customer's collector, sets the customer's status
        to *In agreement*, is logged as an interaction with channel *Portal*, and the
        collector is notified on the customer's chatter.
        """
        Interaction = self.env["collection.interaction"]
        company = company or moves.company_id[:1] or self.env.company
        try:
            amount = float(amount or 0.0)
        except (TypeError, ValueError):
            amount = math.nan
        if not math.isfinite(amount):
            # Not a number, or "nan", "inf", "1e309": read by float() but no amount.
            raise UserError(self.env._("Enter the amount you will pay, as a number."))
        if not company.currency_id.compare_amounts(amount, 0.0) > 0:
            raise UserError(self.env._("The promised amount must be greater than zero."))
        try:
            date = fields.Date.to_date(date or None)
        except ValueError:
            date = None
        if not date:
            raise UserError(self.env._("Enter the date you will pay by."))
        Interaction._portal_check_rate(partner, company, "promise")
        # sudo: portal visitors have no access to promises; the caller vouched for the
        # visitor's right to act for ``partner``. The promise's own constraints (date,
        # amount, invoices of the customer and open) apply.
        partner = partner.sudo().commercial_partner_id.with_company(company)
        status_before = partner.collection_status or "current"
        promise = (
            self.sudo()
            .with_company(company)
            .create(
                {
                    "partner_id": partner.id,
                    "company_id": company.id,
                    "amount": amount,
                    "date": date,
                    "move_ids": [fields.Command.set(moves.ids)],
                    "user_id": (
                        partner.collection_user_id or company.sudo().collection_default_user_id
                    ).id,
                    "note": message or False,
                }
            )
        )
        Interaction._portal_log(
            partner,
            company,
            "promise",
            status_before=status_before,
            moves=moves,
            note=message,
            promise_id=promise.id,
        )
        lines = [
            Markup("%s %s")
            % (
                format_amount(self.env, amount, company.currency_id),
                self.env._("by %(date)s", date=format_date(self.env, date)),
            )
        ]
        if moves:
            lines.append(Interaction._portal_invoices_line(moves))
        Interaction._portal_notify(
            partner,
            company,
            self.env._("Promise to pay made on the customer portal"),
            lines,
            message,
        )
        return promise

    # === DUNNING RULE === #

    @api.model
    def _dunning_exclusion_sql(self, move_sql, today):
        """Dunning rule: TRUE when the invoice ``move_sql`` (an SQL expression of its
        id) is covered by an open promise to pay whose date has not passed on
        ``today``: a promise on that invoice, or a promise without invoices of its
        customer made after the invoice fell due (it covers the customer's overdue
        balance when it was made). The customer is not reminded of it until the promise
        is due."""
        self.flush_model(["state", "date", "move_ids", "partner_id", "company_id", "date_made"])
        self.env["account.move"].flush_model(
            ["commercial_partner_id", "company_id", "invoice_date_due"]
        )
        return SQL(
            """(EXISTS (
                SELECT 1
                  FROM collection_promise_account_move_rel rel
                  JOIN collection_promise pr ON pr.id = rel.collection_promise_id
                 WHERE rel.account_move_id = %(move)s
                   AND pr.state = 'open'
                   AND pr.date >= %(today)s)
             OR EXISTS (
                SELECT 1
                  FROM account_move promised
                  JOIN collection_promise pr
                    ON pr.partner_id = promised.commercial_partner_id
                   AND pr.company_id = promised.company_id
                 WHERE promised.id = %(move)s
                   AND pr.state = 'open'
                   AND pr.date >= %(today)s
                   AND promised.invoice_date_due < pr.date_made
                   AND NOT EXISTS (
                       SELECT 1 FROM collection_promise_account_move_rel own
                        WHERE own.collection_promise_id = pr.id)))""",
            move=move_sql,
            today=today,
        )
