"""Late-payment interest and compensation the company may claim on overdue invoices.

Claimable only: nothing here is invoiced. The amounts of today are computed from the
invoice's payments, the customer's effective dunning policy in the invoice's company and,
for the statutory mode, the rate table by half-year (``collection.interest.rate``).
"""

import bisect
from datetime import timedelta

from odoo import api, fields, models

from .collection_charge import CHARGE_KINDS

INTEREST_MODES = [
    ("none", "No Interest"),
    ("fixed", "Fixed Annual Rate"),
    ("statutory", "Statutory Rate"),
]

# Compensation for recovery costs per late invoice where the statutory rules apply
# (Directive 2011/7/EU, art. 6; in Spain Ley 3/2004, art. 8).
STATUTORY_COMPENSATION = 40.0


class CollectionInterestRate(models.Model):
    """The statutory late-payment interest rate from a day on: the rate of a day is the
    one of the latest row starting on or before it (a row per half-year)."""

    _name = "collection.interest.rate"
    _inherit = ["collection.shared.mixin"]
    _description = "Statutory Late-Payment Interest Rate"
    _order = "date_from desc"

    date_from = fields.Date(
        string="From",
        required=True,
        help="First day this rate applies, usually 1 January or 1 July; it applies until "
        "the next row's first day.",
    )
    rate = fields.Float(
        string="Annual Rate (%)",
        required=True,
        digits=(16, 4),
        help="Annual interest rate in percent, e.g. the ECB reference rate plus 8 points.",
    )
    note = fields.Char(
        help="Where the rate comes from, e.g. the official journal that published it."
    )

    _date_from_unique = models.Constraint(
        "UNIQUE(date_from)", "There is already a statutory rate starting on this day."
    )
    _rate_positive = models.Constraint("CHECK(rate >= 0)", "The interest rate cannot be negative.")

    @api.depends("date_from", "rate")
    def _compute_display_name(self):
        for rate in self:
            rate.display_name = self.env._(
                "%(rate)s%% from %(date)s",
                rate=rate.rate,
                date=fields.Date.to_string(rate.date_from) if rate.date_from else "",
            )

    def _collection_shared_denied_message(self, shared):
        return self.env._(
            "The statutory interest rates are shared by every company: only a "
            "collection manager of every company, or an administrator, can add, "
            "change or delete them."
        )

    @api.model
    def _collection_rate_function(self):
        """A function giving the statutory annual rate (percent) of a day."""
        # sudo: the rate table is reference data read by everyone computing interest.
        rates = self.sudo().search([], order="date_from asc")
        starts = [r.date_from for r in rates]
        values = [r.rate for r in rates]

        def rate_of(day):
            index = bisect.bisect_right(starts, day) - 1
            return values[index] if index >= 0 else 0.0

        return rate_of


class CollectionPolicyInterest(models.Model):
    _inherit = "collection.policy"

    interest_mode = fields.Selection(
        INTEREST_MODES,
        string="Late-Payment Interest",
        required=True,
        default="none",
        tracking=True,
        help="Interest the company may claim on overdue invoices, shown as claimable on "
        "invoices, the customer and reminders (never invoiced automatically). Fixed: the "
        "annual rate below. Statutory: the rate table by half-year (Configuration > "
        "Statutory Interest Rates), e.g. the ECB reference rate plus 8 points.",
    )
    interest_rate = fields.Float(
        string="Annual Interest Rate (%)",
        digits=(16, 4),
        tracking=True,
        help="Annual rate in percent of the fixed mode: simple interest on the unpaid "
        "amount of each day after the due date, on a 365-day year.",
    )
    compensation_currency_id = fields.Many2one(
        related="company_id.currency_id", string="Compensation Currency"
    )
    compensation_amount = fields.Monetary(
        string="Compensation per Invoice",
        currency_field="compensation_currency_id",
        compute="_compute_compensation_amount",
        store=True,
        readonly=False,
        tracking=True,
        help="Fixed compensation for recovery costs the company may claim per invoice paid "
        "late (40.00 by default with the statutory rate, as the EU late-payment directive "
        "says). Zero: none.",
    )

    _interest_rate_positive = models.Constraint(
        "CHECK(interest_rate >= 0)", "The interest rate cannot be negative."
    )
    _compensation_amount_positive = models.Constraint(
        "CHECK(compensation_amount >= 0)", "The compensation cannot be negative."
    )

    @api.depends("interest_mode")
    def _compute_compensation_amount(self):
        for policy in self:
            if policy.interest_mode == "statutory" and not policy.compensation_amount:
                policy.compensation_amount = STATUTORY_COMPENSATION
            elif not policy.compensation_amount:
                policy.compensation_amount = 0.0


class AccountMoveInterest(models.Model):
    _inherit = "account.move"

    collection_interest_amount = fields.Monetary(
        string="Interest Claimable",
        compute="_compute_collection_claimable",
        currency_field="currency_id",
        help="Late-payment interest the company may claim on this invoice today under the "
        "customer's dunning policy: simple interest from the day after the due date (or "
        "after the last day already charged or waived) on the amount unpaid each day, "
        "365-day year. Not invoiced until a manager or a level says so.",
    )
    collection_compensation_amount = fields.Monetary(
        string="Compensation Claimable",
        compute="_compute_collection_claimable",
        currency_field="currency_id",
        help="Fixed compensation for recovery costs the company may claim on this invoice, "
        "paid late or still overdue, under the customer's dunning policy, unless already "
        "charged or waived. Not invoiced until a manager or a level says so.",
    )
    collection_fee_amount = fields.Monetary(
        string="Fees Claimable",
        compute="_compute_collection_claimable",
        currency_field="currency_id",
        help="The fees of the dunning levels this invoice reached, not yet charged or "
        "waived. Not invoiced until a manager or a level says so.",
    )

    @api.depends(
        "state",
        "move_type",
        "invoice_date_due",
        "amount_total",
        "amount_residual",
        "partner_id",
        "company_id",
        "collection_charge_invoice",
        "collection_charge_ids.state",
    )
    @api.depends_context("company", "tz")
    def _compute_collection_claimable(self):
        charged = self._collection_charged()
        rates = _LazyRates(self.env)
        for move in self:
            totals = dict.fromkeys(CHARGE_KINDS, 0.0)
            # An invoice without charges has none: not read again one invoice at a time.
            for item in move._collection_charge_items(
                charged=charged.get(move.id, {}), rates=rates
            ):
                totals[item["kind"]] += item["amount"]
            move.collection_interest_amount = totals["interest"]
            move.collection_compensation_amount = totals["compensation"]
            move.collection_fee_amount = totals["fee"]

    def _collection_charged(self):
        """{invoice id: {"interest": last day charged or waived, "compensation": bool,
        "fee": levels}} of the charges invoiced or waived (not reversed) on these
        invoices, in one query."""
        ids = [move_id for move_id in self.ids if move_id]
        if not ids:
            return {}
        # sudo: the charges are facts read to compute a figure of an invoice the user reads.
        groups = (
            self.env["collection.charge"]
            .sudo()
            ._read_group(
                [("invoice_id", "in", ids), ("state", "in", ("invoiced", "waived"))],
                ["invoice_id", "kind", "level_id"],
                ["date_to:max"],
            )
        )
        charged = {}
        for invoice, kind, level, date_to in groups:
            entry = charged.setdefault(
                invoice.id,
                {"interest": None, "compensation": False, "fee": self.env["collection.level"]},
            )
            if kind == "interest":
                entry["interest"] = max(entry["interest"] or date_to, date_to)
            elif kind == "compensation":
                entry["compensation"] = True
            elif kind == "fee":
                entry["fee"] |= level
        return charged

    def _collection_charge_items(self, today=None, charged=None, rates=None):
        """What may be charged on this invoice on ``today``, not yet charged or waived:
        a list of ``{"kind", "amount", "date_from", "date_to", "level_id"}`` in the
        invoice's currency (one per kind, a fee per level). None on the invoices of
        charges themselves: no interest on interest, nor fees on fees."""
        self.ensure_one()
        if not (
            self.id
            and self.state == "posted"
            and self.move_type == "out_invoice"
            and self.invoice_date_due
            and not self.collection_charge_invoice
        ):
            return []
        if charged is None:
            charged = self._collection_charged().get(self.id)
        charged = charged or {}
        company = self.company_id
        today = today or company._collection_today()
        currency = self.currency_id
        items = []
        policy = self._collection_interest_policy()
        if policy and (policy.interest_mode != "none" or policy.compensation_amount):
            rate_of = (
                (rates or _LazyRates(self.env)) if policy.interest_mode == "statutory" else None
            )
            after = charged.get("interest")
            interest, compensation = self._collection_claimable(
                policy, rate_of, today, interest_after=after
            )
            if not currency.is_zero(interest):
                first = max(self.invoice_date_due, after or self.invoice_date_due)
                items.append(
                    {
                        "kind": "interest",
                        "amount": interest,
                        "date_from": first + timedelta(days=1),
                        "date_to": today,
                        "level_id": False,
                    }
                )
            if not currency.is_zero(compensation) and not charged.get("compensation"):
                items.append(
                    {
                        "kind": "compensation",
                        "amount": compensation,
                        "date_from": False,
                        "date_to": today,
                        "level_id": False,
                    }
                )
        for level in self._collection_fee_levels() - charged.get(
            "fee", self.env["collection.level"]
        ):
            amount = level.currency_id._convert(level.fee_amount, currency, company, today)
            if not currency.is_zero(amount):
                items.append(
                    {
                        "kind": "fee",
                        "amount": amount,
                        "date_from": False,
                        "date_to": today,
                        "level_id": level.id,
                    }
                )
        return items

    def _collection_fee_levels(self):
        """The levels with a fee this invoice reached: its level and the levels before
        it in the same policy."""
        self.ensure_one()
        # sudo: the levels are configuration, read to compute a figure of the invoice.
        level = self.sudo().collection_level_id
        if not level:
            return self.env["collection.level"]
        return level.policy_id.level_ids.filtered(
            lambda lv: lv.fee_amount > 0 and lv.delay <= level.delay
        ).sudo(False)

    def _collection_interest_policy(self):
        """The dunning policy of the invoice's customer in the invoice's company."""
        self.ensure_one()
        company = self.company_id
        # sudo: the policy is configuration read to compute a figure of an invoice the
        # user reads (the compute runs on readable records only).
        partner = self.commercial_partner_id.sudo().with_company(company)
        return partner.collection_policy_id or company.sudo().collection_policy_id

    def _collection_unpaid_changes(self):
        """The amounts paid on the invoice (in its currency) and the day of each: its
        receivable items' reconciliations (payments, credit notes), dated by the
        counterpart's accounting date."""
        self.ensure_one()
        changes = []
        receivables = self.sudo().line_ids.filtered(
            lambda line: line.account_id.account_type == "asset_receivable"
        )
        for partial in receivables.matched_credit_ids:
            changes.append((partial.credit_move_id.date, partial.debit_amount_currency))
        for partial in receivables.matched_debit_ids:
            # A refund paid out against the invoice's credit side: money given back.
            changes.append((partial.debit_move_id.date, -partial.credit_amount_currency))
        return sorted(changes)

    def _collection_claimable(self, policy, rate_of, today=None, interest_after=None):
        """``(interest, compensation)`` claimable on the invoice today, in its currency.

        Each day after the due date up to today bears interest on what was still unpaid
        that day (a payment lowers the unpaid amount from its own day on) at the annual
        rate of that day, over 365 days; interest is simple, never on interest. With
        ``interest_after`` (the last day already charged or waived), only the days after
        it bear interest."""
        self.ensure_one()
        company = self.company_id
        today = today or company._collection_today()
        due = self.invoice_date_due
        if not due or due >= today:
            return 0.0, 0.0
        changes = self._collection_unpaid_changes()
        unpaid = self.amount_total
        index = 0
        first_day = due + timedelta(days=1)
        while index < len(changes) and changes[index][0] <= first_day:
            unpaid -= changes[index][1]
            index += 1
        late = self.currency_id.compare_amounts(unpaid, 0.0) > 0
        if not late:
            return 0.0, 0.0
        interest = 0.0
        if policy.interest_mode != "none":
            day = first_day
            while day <= today:
                while index < len(changes) and changes[index][0] <= day:
                    unpaid -= changes[index][1]
                    index += 1
                if unpaid <= 0 and index >= len(changes):
                    break
                if unpaid > 0 and (not interest_after or day > interest_after):
                    rate = policy.interest_rate if policy.interest_mode == "fixed" else rate_of(day)
                    interest += unpaid * rate / 100.0 / 365.0
                day += timedelta(days=1)
        compensation = 0.0
        if policy.compensation_amount:
            compensation = company.currency_id._convert(
                policy.compensation_amount, self.currency_id, company, today
            )
        return self.currency_id.round(interest), compensation


class _LazyRates:
    """The statutory rate of a day, the rate table read on the first call only."""

    def __init__(self, env):
        self.env = env
        self.rate_of = None

    def __call__(self, day):
        if self.rate_of is None:
            self.rate_of = self.env["collection.interest.rate"]._collection_rate_function()
        return self.rate_of(day)


def _claimable_totals(moves, company, prefetch=None):
    """Interest, compensation and fees claimable on ``moves``, in ``company``'s currency.
    With ``prefetch`` (invoices, a superset of ``moves``), the amounts are computed for all
    of them at once, as for one recordset."""
    today = company._collection_today()
    totals = [0.0, 0.0, 0.0]
    if prefetch is not None:
        moves = moves.with_prefetch(prefetch._prefetch_ids)
    for move in moves:
        for index, amount in enumerate(
            (
                move.collection_interest_amount,
                move.collection_compensation_amount,
                move.collection_fee_amount,
            )
        ):
            totals[index] += move.currency_id._convert(amount, company.currency_id, company, today)
    return totals


class ResPartnerInterest(models.Model):
    _inherit = "res.partner"

    collection_interest_amount = fields.Monetary(
        string="Interest Claimable",
        compute="_compute_collection_claimable",
        currency_field="collection_currency_id",
        groups="base.group_user",
        help="Late-payment interest the company may claim today on the customer's open "
        "invoices, under its dunning policy. Not invoiced.",
    )
    collection_compensation_amount = fields.Monetary(
        string="Compensation Claimable",
        compute="_compute_collection_claimable",
        currency_field="collection_currency_id",
        groups="base.group_user",
        help="Compensation for recovery costs the company may claim today on the customer's "
        "open overdue invoices, under its dunning policy. Not invoiced.",
    )
    collection_fee_amount = fields.Monetary(
        string="Fees Claimable",
        compute="_compute_collection_claimable",
        currency_field="collection_currency_id",
        groups="base.group_user",
        help="The fees of the dunning levels the customer's open invoices reached, not yet "
        "charged or waived. Not invoiced.",
    )

    @api.depends("collection_open_move_ids")
    @api.depends_context("company", "tz")
    def _compute_collection_claimable(self):
        company = self.env.company
        # The invoices of all these customers computed together (one query for their
        # charges), not one customer at a time.
        invoices = self.collection_open_move_ids
        for partner in self:
            moves = partner.collection_open_move_ids.filtered(
                lambda m: m.move_type == "out_invoice"
            )
            interest, compensation, fee = _claimable_totals(moves, company, invoices)
            partner.collection_interest_amount = interest
            partner.collection_compensation_amount = compensation
            partner.collection_fee_amount = fee


class CollectionCommunicationInterest(models.Model):
    _inherit = "collection.communication"

    collection_interest_amount = fields.Monetary(
        string="Interest Claimable",
        compute="_compute_collection_claimable",
        help="Late-payment interest claimable today on the reminder's overdue invoices.",
    )
    collection_compensation_amount = fields.Monetary(
        string="Compensation Claimable",
        compute="_compute_collection_claimable",
        help="Compensation for recovery costs claimable on the reminder's overdue invoices.",
    )
    collection_fee_amount = fields.Monetary(
        string="Fees Claimable",
        compute="_compute_collection_claimable",
        help="The fees of the dunning levels the reminder's overdue invoices reached, not yet "
        "charged or waived.",
    )

    @api.depends("due_move_ids")
    @api.depends_context("tz")
    def _compute_collection_claimable(self):
        # The invoices of all these reminders (a batch of the send queue rendering its
        # emails) computed together, not one reminder at a time.
        invoices = self.due_move_ids
        for reminder in self:
            interest, compensation, fee = _claimable_totals(
                reminder.due_move_ids.filtered(lambda m: m.move_type == "out_invoice"),
                reminder.company_id,
                invoices,
            )
            reminder.collection_interest_amount = interest
            reminder.collection_compensation_amount = compensation
            reminder.collection_fee_amount = fee
