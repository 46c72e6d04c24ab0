"""A realistic receivable book, to measure the addon at scale.

``generate_book(env, customers, invoices)`` fills the current company with customers
(companies with countries, languages, emails and phone numbers, some of them invalid,
some with a billing contact) and a year of posted customer invoices: due dates over the
last twelve months and the next month, partial and full payments, credit notes (matched
with an invoice or left open), payments received on account, a few invoices in a foreign
currency and a few marked *No follow-up*.

Everything comes from a plan drawn from a seed (``plan_book``), written either

- through the ORM (``method="orm"``): the accountant's own flows (create and post the
  invoices, register the payments, reconcile the credit notes); about 25 invoices a second,
- or set-based (``method="sql"``, the default): the same rows written with ``COPY``, about
  forty times faster (a thousand invoices a second, with their payments). The addon's
  ``tests/test_book_generator.py`` proves both write the same journal entries, journal
  items, payments and reconciliations, column by column.

The set-based writer supports the books this module plans: untaxed invoices with one
receivable line each, payments in a bank journal, sequences numbered
``<journal code>/<year>/<number>``. Chatter messages are not written.

Run it with ``dev/generate-book`` (see ``--help``).
"""

import io
import logging
import math
import random
import resource
import time
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date, timedelta

from odoo import Command, fields
from odoo.exceptions import UserError
from odoo.tools import SQL, float_round

_logger = logging.getLogger(__name__)

# name: (customers, invoices)
SIZES = {
    "tiny": (50, 500),
    "small": (1_000, 10_000),
    "large": (20_000, 200_000),
}
DEFAULT_SEED = 2026
FOREIGN_CURRENCY = "EUR"
# Units of the foreign currency per unit of company currency. Foreign amounts are whole
# units, so that converting them never rounds (1 EUR = 1.25 of the company currency).
FOREIGN_RATE = 0.8
ORM_BATCH = 500

# country: (weight, language, phone number patterns, X = any digit, N = 2-9)
COUNTRIES = {
    "US": (
        30,
        "en_US",
        ["+1 212 NXX XXXX", "+1 305 NXX XXXX", "+1 415 NXX XXXX", "+1 713 NXX XXXX"],
    ),
    "ES": (20, "es_ES", ["+34 6XX XXX XXX"]),
    "MX": (15, "es_ES", ["+52 55 XXXX XXXX", "+52 33 XXXX XXXX"]),
    "CO": (10, "es_ES", ["+57 31X XXX XXXX"]),
    "FR": (10, "fr_FR", ["+33 6 XX XX XX XX"]),
    "DE": (8, "en_US", ["+49 151 XXXXXXXX"]),
    "BE": (7, "fr_FR", ["+32 47X XX XX XX"]),
}
LEGAL_FORMS = {
    "US": ["Inc.", "LLC", "Corp."],
    "ES": ["S.L.", "S.A."],
    "MX": ["S.A. de C.V.", "S. de R.L."],
    "CO": ["S.A.S.", "Ltda."],
    "FR": ["SARL", "SAS"],
    "DE": ["GmbH", "AG"],
    "BE": ["SRL", "SA"],
}
NAME_FIRST = [
    "Andes",
    "Atlas",
    "Boreal",
    "Cobalt",
    "Delta",
    "Evergreen",
    "Falcon",
    "Granite",
    "Harbor",
    "Iberia",
    "Jade",
    "Keystone",
    "Lumen",
    "Meridian",
    "Nimbus",
    "Orion",
    "Pacific",
    "Quarry",
    "Redwood",
    "Summit",
    "Tierra",
    "Unity",
    "Vertex",
    "Willow",
    "Aurora",
    "Beacon",
    "Cedar",
    "Dune",
    "Ember",
    "Fjord",
]
NAME_SECOND = [
    "Foods",
    "Logistics",
    "Textiles",
    "Hardware",
    "Pharma",
    "Motors",
    "Builders",
    "Media",
    "Farms",
    "Energy",
    "Labs",
    "Retail",
    "Studios",
    "Metals",
    "Paper",
    "Optics",
    "Marine",
    "Printing",
    "Coffee",
    "Tools",
]
NAME_THIRD = [
    "",
    "North",
    "South",
    "East",
    "West",
    "Central",
    "Coastal",
    "Valley",
    "Global",
    "Industrial",
    "Group",
    "Trading",
    "Partners",
    "Supply",
    "Works",
]
PRODUCTS = [
    "Consulting hours",
    "Maintenance plan",
    "Spare parts",
    "Office chairs",
    "Printer toner",
    "Installation",
    "Freight",
    "Software licence",
    "Training day",
    "Packaging material",
    "Steel sheets",
    "Cleaning service",
    "Coffee beans",
    "Safety gloves",
    "Cable reels",
]
# status: share of customers
STATUSES = {"dispute": 0.03, "negotiating": 0.05, "refusal": 0.02}
# Payment habits (plan_book(habits=True)): kind: (share of customers, range of the
# customer's median days late). Each customer keeps its habit for all its invoices:
#   punctual   pays around the due date (a couple of days either side)
#   steady     pays its median days late, give or take a fifth
#   erratic    right-skewed: usually near its median, sometimes months later
#   slow       pays two to four months late, give or take two weeks
HABITS = {
    "punctual": (0.3, (0, 2)),
    "steady": (0.35, (5, 45)),
    "erratic": (0.25, (10, 40)),
    "slow": (0.1, (60, 120)),
}
# Share of a customer's invoices that stay unpaid whatever its habit.
HABIT_NEVER_PAID = 0.03
# Share of a customer's invoices that run into a problem (a dispute, a lost invoice, a
# missing purchase order number) and are paid HABIT_PROBLEM_DAYS later than its habit.
HABIT_PROBLEM = 0.12
HABIT_PROBLEM_DAYS = (30, 120)


# ----------------------------------------------------------------------
# The plan
# ----------------------------------------------------------------------


@dataclass
class Customer:
    key: int
    name: str
    country: str
    lang: str
    email: str | None
    phone: str | None
    status: str
    contact: str | None  # name of a billing contact, if any
    habit: tuple | None = None  # (kind, median days late) with habits, see _plan_habit


@dataclass
class Invoice:
    key: int
    customer: Customer
    to_contact: bool
    invoice_date: date
    due_date: date
    lines: list  # [(label, quantity, price_unit)]
    foreign: bool
    no_followup: bool
    total: float = 0.0


@dataclass
class Refund:
    key: int
    customer: Customer
    invoice: Invoice
    date: date
    amount: float
    reconcile: bool


@dataclass
class Payment:
    key: int
    customer: Customer
    date: date
    amount: float
    invoice: Invoice | None  # None: received on account, not matched
    foreign: bool


@dataclass
class BookPlan:
    seed: int
    today: date
    customers: list = field(default_factory=list)
    invoices: list = field(default_factory=list)  # in posting order
    refunds: list = field(default_factory=list)  # in posting order
    payments: list = field(default_factory=list)  # in posting order


def _digits(rng, pattern):
    return "".join(
        str(rng.randint(0, 9)) if c == "X" else str(rng.randint(2, 9)) if c == "N" else c
        for c in pattern
    )


def _phone(rng, country, patterns):
    """A valid mobile number of ``country``, written the international way or the
    national way, as people type them."""
    import phonenumbers  # a dependency of phone_validation

    while True:
        number = _digits(rng, rng.choice(patterns))
        parsed = phonenumbers.parse(number, country)
        if phonenumbers.is_valid_number(parsed):
            break
    if rng.random() < 0.4:
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL)
    return number


def _slug(name):
    return "".join(c for c in name.lower() if c.isalnum())[:24]


def _plan_customers(rng, count):
    countries = list(COUNTRIES)
    weights = [COUNTRIES[c][0] for c in countries]
    seen = {}
    customers = []
    for key in range(count):
        country = rng.choices(countries, weights)[0]
        _weight, lang, patterns = COUNTRIES[country]
        base = " ".join(
            filter(None, [rng.choice(NAME_FIRST), rng.choice(NAME_SECOND), rng.choice(NAME_THIRD)])
        )
        seen[base] = seen.get(base, 0) + 1
        if seen[base] > 1:
            base = f"{base} {seen[base]}"
        name = f"{base} {rng.choice(LEGAL_FORMS[country])}"
        slug = _slug(base)
        roll = rng.random()
        if roll < 0.07:
            email = None
        elif roll < 0.12:
            email = rng.choice([f"{slug}.example.com", f"ap@{slug}", f"ap@@{slug}.example.com"])
        else:
            email = f"{rng.choice(['ap', 'billing', 'accounts', 'finance'])}@{slug}.example.com"
        roll = rng.random()
        if roll < 0.15:
            phone = None
        elif roll < 0.25:
            phone = rng.choice(["12345", "+34 123", "000", "call the office"])
        else:
            phone = _phone(rng, country, patterns)
        roll, status = rng.random(), "current"
        for candidate, share in STATUSES.items():
            if roll < share:
                status = candidate
                break
            roll -= share
        contact = (
            f"{rng.choice(['Ana', 'John', 'Marie', 'Luis', 'Sofia', 'Peter'])} "
            f"{rng.choice(['Garcia', 'Smith', 'Martin', 'Lopez', 'Muller', 'Dubois'])}"
            if rng.random() < 0.2
            else None
        )
        customers.append(Customer(key, name, country, lang, email, phone, status, contact))
    return customers


def _round(amount):
    return float_round(amount, precision_digits=2)


def _plan_habit(rng):
    """A customer's payment habit: (kind, median days late), see HABITS."""
    kinds = list(HABITS)
    kind = rng.choices(kinds, [HABITS[k][0] for k in kinds])[0]
    low, high = HABITS[kind][1]
    return kind, rng.uniform(low, high)


def _habit_delay(rng, habit):
    """Days after the due date an invoice of a customer of ``habit`` is paid."""
    kind, median = habit
    if kind == "punctual":
        return round(rng.gauss(0, 2))
    if kind == "steady":
        return round(rng.gauss(median, median / 5 + 1))
    if kind == "erratic":
        return round(median * rng.lognormvariate(0, 0.8))
    return round(rng.gauss(median, 14))


def plan_book(customers, invoices, seed=DEFAULT_SEED, today=None, habits=False):
    """The book to write, drawn from ``seed``: the same arguments give the same book.
    With ``habits``, every customer has a payment habit (HABITS) it keeps: each invoice
    is paid in full that many days after its due date, or stays open when that day is
    still to come (or, for a few, never), which is the history the payment date
    predictions learn from (dev/backtest)."""
    if customers < 1 or invoices < 1:
        raise ValueError("a book needs at least one customer and one invoice")
    today = today or date.today()
    rng = random.Random(seed)
    plan = BookPlan(seed=seed, today=today)
    plan.customers = _plan_customers(rng, customers)
    if habits:
        for customer in plan.customers:
            customer.habit = _plan_habit(rng)
    # A few customers hold many invoices, most a handful.
    weights = [rng.lognormvariate(0, 1.0) for _ in plan.customers]
    owners = rng.choices(plan.customers, weights, k=invoices)
    drafts = []
    for key, customer in enumerate(owners):
        due = today + timedelta(days=rng.randint(-365, 30))
        term = rng.choice([0, 15, 30, 30, 30, 45, 60])
        invoice_date = min(due - timedelta(days=term), today)
        foreign = rng.random() < 0.03
        lines = []
        for _line in range(rng.choice([1, 1, 1, 2, 2, 3])):
            price = rng.lognormvariate(5.5, 1.0)
            lines.append(
                (
                    rng.choice(PRODUCTS),
                    float(rng.choice([1, 1, 1, 2, 3, 5, 10])),
                    float(max(round(price), 1)) if foreign else max(_round(price), 0.5),
                )
            )
        invoice = Invoice(
            key=key,
            customer=customer,
            to_contact=bool(customer.contact) and rng.random() < 0.7,
            invoice_date=invoice_date,
            due_date=due,
            lines=lines,
            foreign=foreign,
            no_followup=rng.random() < 0.02,
        )
        invoice.total = _round(sum(_round(qty * price) for _label, qty, price in lines))
        drafts.append(invoice)
    plan.invoices = sorted(drafts, key=lambda inv: (inv.invoice_date, inv.key))

    # What happens to each invoice: paid (in one or two payments), partly paid, or left
    # open; older invoices are more often paid. Most of the book stays open: it is a
    # receivable book, what is paid is its history.
    outcomes = {}
    paid_on = {}
    for invoice in plan.invoices:
        if habits:
            delay = _habit_delay(rng, invoice.customer.habit)
            if rng.random() < HABIT_PROBLEM:
                delay += rng.randint(*HABIT_PROBLEM_DAYS)
            paid_day = max(invoice.due_date + timedelta(days=delay), invoice.invoice_date)
            never = rng.random() < HABIT_NEVER_PAID
            outcomes[invoice.key] = "open" if never or paid_day > today else "habit"
            paid_on[invoice.key] = paid_day
            continue
        age = (today - invoice.due_date).days
        paid, partial = (0.1, 0.15) if age > 60 else (0.06, 0.12) if age > 0 else (0.02, 0.04)
        roll = rng.random()
        outcomes[invoice.key] = (
            "paid" if roll < paid else "partial" if roll < paid + partial else "open"
        )

    def pay_date(start):
        return start + timedelta(days=rng.randint(0, max((today - start).days, 0)))

    # Credit notes on invoices not paid in full; most are matched with their invoice.
    residual = {invoice.key: invoice.total for invoice in plan.invoices}
    candidates = [
        inv
        for inv in plan.invoices
        if not inv.foreign and outcomes[inv.key] not in ("paid", "habit")
    ]
    refunds = []
    for key, invoice in enumerate(
        rng.sample(candidates, min(len(candidates), math.ceil(invoices * 0.03)))
    ):
        amount = max(_round(invoice.total * rng.uniform(0.1, 0.5)), 0.01)
        refund = Refund(
            key=key,
            customer=invoice.customer,
            invoice=invoice,
            date=pay_date(invoice.invoice_date),
            amount=amount,
            reconcile=rng.random() < 0.6,
        )
        if refund.reconcile:
            residual[invoice.key] = _round(residual[invoice.key] - amount)
        refunds.append(refund)
    plan.refunds = sorted(refunds, key=lambda r: (r.date, r.key))

    payments = []

    def add_payment(customer, day, amount, invoice=None):
        payments.append(
            Payment(
                key=len(payments),
                customer=customer,
                date=day,
                amount=amount,
                invoice=invoice,
                foreign=bool(invoice and invoice.foreign),
            )
        )

    for invoice in plan.invoices:
        outcome = outcomes[invoice.key]
        if outcome == "open":
            continue
        left = residual[invoice.key]
        if outcome == "habit":
            add_payment(invoice.customer, paid_on[invoice.key], left, invoice)
            continue
        first = pay_date(invoice.invoice_date)
        if outcome == "paid" and (invoice.foreign or rng.random() < 0.6):
            add_payment(invoice.customer, first, left, invoice)
            continue
        share = left * rng.uniform(0.2, 0.8)
        part = float(max(round(share), 1)) if invoice.foreign else max(_round(share), 0.01)
        if part >= left:
            continue
        add_payment(invoice.customer, first, part, invoice)
        if outcome == "paid":
            add_payment(invoice.customer, pay_date(first), _round(left - part), invoice)
    # Money received on account, not matched with any invoice yet.
    for _unmatched in range(math.ceil(invoices * 0.02)):
        customer = rng.choices(plan.customers, weights)[0]
        day = today - timedelta(days=rng.randint(0, 60))
        add_payment(customer, day, _round(rng.lognormvariate(5.5, 0.8)))
    plan.payments = sorted(payments, key=lambda p: (p.date, p.key))
    return plan


# ----------------------------------------------------------------------
# Set-up shared by both writers
# ----------------------------------------------------------------------


class _Context:
    """The records the book is written with, looked up once."""

    def __init__(self, env, plan):
        self.env = env
        self.plan = plan
        self.company = env.company
        company = self.company
        Journal = env["account.journal"]
        self.sale_journal = Journal.search(
            [*Journal._check_company_domain(company), ("type", "=", "sale")], limit=1
        )
        self.bank_journal = Journal.search(
            [*Journal._check_company_domain(company), ("type", "=", "bank")], limit=1
        )
        if not self.sale_journal or not self.bank_journal:
            # development tooling: not translated (the shipped addon's terms only are)
            raise UserError(
                f"The company {company.name} needs a sales journal and a bank journal "
                "(install a chart of accounts)."
            )
        self.currency = company.currency_id
        self.foreign = self._foreign_currency()
        self.customers = {}  # plan key: res.partner (commercial)
        self.contacts = {}  # plan key: res.partner (billing contact)

    def _foreign_currency(self):
        """The foreign currency, active, with the book's rate from a day before any
        invoice (only when it has none yet). When the database converts it at another
        rate on some day of the book, the book's foreign documents are written in the
        company currency instead: the set-based writer relies on the book's rate."""
        env = self.env
        currency = (
            env["res.currency"]
            .with_context(active_test=False)
            .search([("name", "=", FOREIGN_CURRENCY)], limit=1)
        )
        if not currency or currency == self.currency:
            return env["res.currency"]
        if not currency.active:
            currency.active = True
        Rate = env["res.currency.rate"]
        if not Rate.search_count(
            [("currency_id", "=", currency.id), ("company_id", "=", self.company.id)]
        ):
            Rate.create(
                {
                    "currency_id": currency.id,
                    "company_id": self.company.id,
                    "name": self.plan.today - timedelta(days=800),
                    "rate": FOREIGN_RATE,
                }
            )
        days = {inv.invoice_date for inv in self.plan.invoices if inv.foreign}
        days |= {pay.date for pay in self.plan.payments if pay.foreign}
        for day in days:
            rate = env["res.currency"]._get_conversion_rate(
                self.currency, currency, self.company, day
            )
            if float_round(rate, precision_digits=6) != FOREIGN_RATE:
                _logger.warning(
                    "%s is converted at %s on %s, not at the book's rate: the book's foreign "
                    "documents are written in %s",
                    currency.name,
                    rate,
                    day,
                    self.currency.name,
                )
                return env["res.currency"]
        return currency

    def currency_of(self, doc):
        """The currency of a planned invoice or payment."""
        return self.foreign if doc.foreign and self.foreign else self.currency

    def create_customers(self, commit=None):
        """The customers, through the ORM (a few hundred a second)."""
        env = self.env
        Lang = env["res.lang"]
        for lang in {c.lang for c in self.plan.customers}:
            if not Lang._lang_get(lang):
                Lang._activate_lang(lang)
        countries = {
            c.code: c for c in env["res.country"].search([("code", "in", list(COUNTRIES))])
        }
        Partner = env["res.partner"].with_context(tracking_disable=True, mail_create_nolog=True)
        for start in range(0, len(self.plan.customers), ORM_BATCH):
            batch = self.plan.customers[start : start + ORM_BATCH]
            partners = Partner.create(
                [
                    {
                        "name": c.name,
                        "is_company": True,
                        "country_id": countries[c.country].id,
                        "lang": c.lang,
                        "email": c.email or False,
                        "phone": c.phone or False,
                        "collection_status": c.status,
                    }
                    for c in batch
                ]
            )
            for customer, partner in zip(batch, partners, strict=True):
                self.customers[customer.key] = partner
            with_contact = [c for c in batch if c.contact]
            contacts = Partner.create(
                [
                    {
                        "name": c.contact,
                        "type": "invoice",
                        "parent_id": self.customers[c.key].id,
                        "email": f"{c.contact.split()[0].lower()}@{_slug(c.name)}.example.com",
                    }
                    for c in with_contact
                ]
            )
            for customer, contact in zip(with_contact, contacts, strict=True):
                self.contacts[customer.key] = contact
            if commit:
                commit()

    def invoice_partner(self, invoice):
        if invoice.to_contact:
            return self.contacts[invoice.customer.key]
        return self.customers[invoice.customer.key]


# ----------------------------------------------------------------------
# The ORM writer: the accountant's own flows
# ----------------------------------------------------------------------


def _write_orm(ctx, commit=None):
    env = ctx.env
    plan = ctx.plan
    Move = env["account.move"].with_context(tracking_disable=True)
    invoices, refunds = {}, {}
    for start in range(0, len(plan.invoices), ORM_BATCH):
        batch = plan.invoices[start : start + ORM_BATCH]
        moves = Move.create(
            [
                {
                    "move_type": "out_invoice",
                    "journal_id": ctx.sale_journal.id,
                    "partner_id": ctx.invoice_partner(inv).id,
                    "invoice_date": inv.invoice_date,
                    "invoice_date_due": inv.due_date,
                    "currency_id": ctx.currency_of(inv).id,
                    "invoice_line_ids": [
                        Command.create(
                            {"name": label, "quantity": qty, "price_unit": price, "tax_ids": []}
                        )
                        for label, qty, price in inv.lines
                    ],
                }
                for inv in batch
            ]
        )
        moves.action_post()
        for inv, move in zip(batch, moves, strict=True):
            invoices[inv.key] = move
        for inv in batch:
            if inv.no_followup:
                invoices[inv.key].no_followup = True
        if commit:
            commit()
    for start in range(0, len(plan.refunds), ORM_BATCH):
        batch = plan.refunds[start : start + ORM_BATCH]
        moves = Move.create(
            [
                {
                    "move_type": "out_refund",
                    "journal_id": ctx.sale_journal.id,
                    "partner_id": ctx.invoice_partner(r.invoice).id,
                    "invoice_date": r.date,
                    "currency_id": ctx.currency.id,
                    "ref": invoices[r.invoice.key].name,
                    "invoice_line_ids": [
                        Command.create(
                            {
                                "name": f"Credit on {invoices[r.invoice.key].name}",
                                "quantity": 1.0,
                                "price_unit": r.amount,
                                "tax_ids": [],
                            }
                        )
                    ],
                }
                for r in batch
            ]
        )
        moves.action_post()
        for refund, move in zip(batch, moves, strict=True):
            refunds[refund.key] = move
    for refund in plan.refunds:
        if refund.reconcile:
            (refunds[refund.key] | invoices[refund.invoice.key]).line_ids.filtered(
                lambda line: line.display_type == "payment_term"
            ).reconcile()
    if commit:
        commit()
    # The payments look the invoices up: let PostgreSQL know the tables are no longer
    # empty (a new database's statistics say they are).
    env.flush_all()
    env.cr.execute("ANALYZE account_move, account_move_line, account_partial_reconcile")
    Register = env["account.payment.register"]
    for count, pay in enumerate(plan.payments, 1):
        if pay.invoice:
            invoice = invoices[pay.invoice.key]
            Register.with_context(active_model="account.move", active_ids=invoice.ids).create(
                {
                    "payment_date": pay.date,
                    "amount": pay.amount,
                    "journal_id": ctx.bank_journal.id,
                    "payment_difference_handling": "open",
                }
            )._create_payments()
        else:
            payment = env["account.payment"].create(
                {
                    "payment_type": "inbound",
                    "partner_type": "customer",
                    "partner_id": ctx.customers[pay.customer.key].id,
                    "amount": pay.amount,
                    "date": pay.date,
                    "journal_id": ctx.bank_journal.id,
                }
            )
            payment.action_post()
        if commit and count % ORM_BATCH == 0:
            commit()
    if commit:
        commit()


# ----------------------------------------------------------------------
# The set-based writer: the same rows, with COPY
# ----------------------------------------------------------------------


class _Probe:
    """What the ORM writes for one document: its sequence and the accounts and
    payment method it uses, read from a document created, posted and rolled back."""

    def __init__(self, name, prefix, number, values):
        self.prefix = prefix
        self.width = len(name) - len(prefix)
        self.number = number
        self.values = values


class _SqlWriter:
    # columns written for each table, in COPY order
    MOVE_COLUMNS = tuple(
        """
        id name sequence_prefix sequence_number journal_id company_id partner_id
        commercial_partner_id partner_shipping_id fiscal_position_id currency_id
        invoice_user_id origin_payment_id ref state move_type auto_post payment_reference
        payment_state invoice_partner_display_name date invoice_date invoice_date_due
        invoice_currency_rate amount_untaxed amount_tax amount_total amount_residual
        amount_untaxed_signed amount_untaxed_in_currency_signed amount_tax_signed
        amount_total_signed amount_total_in_currency_signed amount_residual_signed
        always_tax_exigible checked posted_before made_sequence_gap is_manually_modified
        create_uid create_date write_uid write_date
        """.split()
    )
    LINE_COLUMNS = tuple(
        """
        id move_id journal_id company_id company_currency_id sequence account_id currency_id
        partner_id payment_id full_reconcile_id move_name parent_state ref name
        matching_number display_type date invoice_date date_maturity debit credit balance
        amount_currency amount_residual amount_residual_currency quantity price_unit
        price_subtotal price_total discount discount_amount_currency discount_balance
        is_storno reconciled no_followup deductible_amount create_uid create_date write_uid
        write_date
        """.split()
    )
    PAYMENT_COLUMNS = tuple(
        """
        id move_id journal_id company_id payment_method_line_id payment_method_id
        currency_id partner_id outstanding_account_id destination_account_id name state
        payment_type partner_type memo date amount amount_company_currency_signed
        is_reconciled is_matched create_uid create_date write_uid write_date
        """.split()
    )
    PARTIAL_COLUMNS = tuple(
        """
        id debit_move_id credit_move_id full_reconcile_id debit_currency_id
        credit_currency_id company_id max_date amount debit_amount_currency
        credit_amount_currency create_uid create_date write_uid write_date
        """.split()
    )
    FULL_COLUMNS = tuple(
        """
        id create_uid create_date write_uid write_date
        """.split()
    )

    def __init__(self, ctx):
        self.ctx = ctx
        self.env = ctx.env
        self.cr = ctx.env.cr
        self.plan = ctx.plan
        self.company = ctx.company
        self.uid = self.env.uid
        self.now = self.cr.now()
        # documents without a due date of their own fall due the day they are created
        self.creation_day = fields.Date.context_today(self.env.user)
        self.moves, self.lines, self.payments, self.partials, self.fulls = [], [], [], [], []
        self.final_lines = []  # COPY rows of the journal items nothing changes any more
        self.invoice_payment_rel = []
        self.rank = {}  # partner id: documents posted
        self._fiscal_positions = {}
        self._partners = {}
        self._probes = {}

    # -- ids, sequences, constants ---------------------------------------

    def _ids(self, table, count):
        if not count:
            return []
        self.cr.execute(
            SQL(
                "SELECT nextval(%s) FROM generate_series(1, %s)",
                f"{table}_id_seq",
                count,
            )
        )
        return [row[0] for row in self.cr.fetchall()]

    def _probe(self, kind, day):
        """The sequence the ORM gives to a document of ``kind`` dated ``day`` now, and
        the values it writes that do not depend on the document."""
        key = (kind, day.year, day.month)
        if key in self._probes:
            return self._probes[key]
        ctx, env = self.ctx, self.env
        partner = next(iter(ctx.customers.values()))
        with closing(env.cr.savepoint()):
            if kind == "payment":
                payment = env["account.payment"].create(
                    {
                        "payment_type": "inbound",
                        "partner_type": "customer",
                        "partner_id": partner.id,
                        "amount": 1.0,
                        "date": day,
                        "journal_id": ctx.bank_journal.id,
                    }
                )
                payment.action_post()
                move = payment.move_id
                liquidity = move.line_ids.filtered(lambda line: line.debit)
                values = {
                    "payment_method_line_id": payment.payment_method_line_id.id,
                    "payment_method_id": payment.payment_method_id.id,
                    "outstanding_account_id": payment.outstanding_account_id.id,
                    "liquidity_label": liquidity.name,
                }
            else:
                move = env["account.move"].create(
                    {
                        "move_type": "out_invoice" if kind == "invoice" else "out_refund",
                        "journal_id": ctx.sale_journal.id,
                        "partner_id": partner.id,
                        "invoice_date": day,
                        "invoice_date_due": day,
                        "invoice_line_ids": [
                            Command.create({"name": "x", "price_unit": 1.0, "tax_ids": []})
                        ],
                    }
                )
                move.action_post()
                values = {
                    "income_account_id": move.invoice_line_ids.account_id.id,
                    "product_sequence": move.invoice_line_ids.sequence,
                    "term_sequence": move.line_ids.filtered(
                        lambda line: line.display_type == "payment_term"
                    ).sequence,
                }
            result = _Probe(move.name, move.sequence_prefix, move.sequence_number, values)
        self.env.invalidate_all()
        self._probes[key] = result
        return result

    def _sequences(self, kind, docs, day_of):
        """{doc: (name, prefix, number)} for ``docs`` posted in this order."""
        by_year = {}
        for doc in docs:
            by_year.setdefault(day_of(doc).year, []).append(doc)
        monthly = set()
        for year, year_docs in by_year.items():
            first = self._probe(kind, day_of(year_docs[0]))
            last = self._probe(kind, day_of(year_docs[-1]))
            if first.prefix != last.prefix:
                monthly.add(year)
        counters = {}
        result = {}
        for doc in docs:
            day = day_of(doc)
            probe = self._probe(kind, day if day.year in monthly else day_of(by_year[day.year][0]))
            number = counters.get(probe.prefix, probe.number)
            counters[probe.prefix] = number + 1
            name = f"{probe.prefix}{number:0{probe.width}d}"
            result[id(doc)] = (name, probe.prefix, number)
        return result

    def _fiscal_position(self, partner, delivery):
        key = (
            partner.country_id.id,
            partner.vat,
            partner.property_account_position_id.id,
            delivery.id == partner.id,
            delivery.country_id.id,
            delivery.state_id.id,
            delivery.zip,
            delivery.vat,
            delivery.property_account_position_id.id,
        )
        if key not in self._fiscal_positions:
            self._fiscal_positions[key] = (
                self.env["account.fiscal.position"]
                .with_company(self.company)
                ._get_fiscal_position(partner, delivery)
                .id
            )
        return self._fiscal_positions[key] or None

    # -- rows ------------------------------------------------------------

    def _stamp(self):
        return {
            "create_uid": self.uid,
            "create_date": self.now,
            "write_uid": self.uid,
            "write_date": self.now,
        }

    def _line(self, move, final=False, **values):
        """A journal item of ``move``. A ``final`` one (nothing reconciles it later) is
        kept as its COPY row only, to keep large books in memory."""
        line = {
            "move_id": move["id"],
            "journal_id": move["journal_id"],
            "company_id": self.company.id,
            "company_currency_id": self.ctx.currency.id,
            "currency_id": move["currency_id"],
            "partner_id": move["commercial_partner_id"],
            "move_name": move["name"],
            "parent_state": "posted",
            "ref": move["ref"],
            "date": move["date"],
            "invoice_date": move["invoice_date"],
            "discount": 0.0,
            "is_storno": False,
            "reconciled": False,
            "no_followup": False,
            "deductible_amount": 100.0,
            **self._stamp(),
        }
        line.update(values)
        balance = line["balance"]
        line["debit"] = balance if balance > 0 else 0.0
        line["credit"] = -balance if balance < 0 else 0.0
        if final:
            self.final_lines.append(_copy_row(line, self.LINE_COLUMNS))
        else:
            self.lines.append(line)
        return line

    def _move(self, ids, sequence, journal, partner, currency, **values):
        """A posted journal entry of ``partner`` in ``journal``, named after ``sequence``
        (name, prefix, number): the columns every entry of the book shares, then
        ``values``. Appended to the entries to write; returns it."""
        name, prefix, number = sequence
        info = self._partner_info(partner)
        move = {
            "id": ids["move"].pop(),
            "name": name,
            "sequence_prefix": prefix,
            "sequence_number": number,
            "journal_id": journal.id,
            "company_id": self.company.id,
            "partner_id": partner.id,
            "fiscal_position_id": info["fiscal_position"],
            "currency_id": currency.id,
            "invoice_partner_display_name": info["display_name"],
            "state": "posted",
            "auto_post": "no",
            "checked": True,
            "posted_before": True,
            "made_sequence_gap": False,
            **values,
            **self._stamp(),
        }
        self.moves.append(move)
        return move

    def _document(self, doc, kind, sequence, partner, ids):
        """An invoice or credit note: the move, its product lines and its receivable
        line. Returns (move, receivable line)."""
        ctx = self.ctx
        is_invoice = kind == "invoice"
        sign = 1 if is_invoice else -1
        currency = ctx.currency_of(doc) if is_invoice else ctx.currency
        rate = FOREIGN_RATE if currency != ctx.currency else 1.0
        info = self._partner_info(partner)
        day = doc.invoice_date if is_invoice else doc.date
        probe = self._probe(kind, day)
        if is_invoice:
            items = doc.lines
        else:
            items = [(f"Credit on {doc._invoice_name}", 1.0, doc.amount)]
        move = self._move(
            ids,
            sequence,
            ctx.sale_journal,
            partner,
            currency,
            commercial_partner_id=info["commercial"],
            partner_shipping_id=info["delivery"],
            invoice_user_id=self.uid,
            origin_payment_id=None,
            ref=None if is_invoice else doc._invoice_name,
            move_type="out_invoice" if is_invoice else "out_refund",
            payment_reference=sequence[0] if is_invoice else None,
            date=day,
            invoice_date=day,
            invoice_date_due=doc.due_date if is_invoice else self.creation_day,
            invoice_currency_rate=rate,
            amount_tax=0.0,
            amount_tax_signed=0.0,
            always_tax_exigible=False,
            is_manually_modified=bool(is_invoice and doc.no_followup),
        )
        total_currency = total_balance = 0.0
        for label, quantity, price in items:
            subtotal = currency.round(quantity * price)
            amount_currency = -sign * subtotal
            balance = ctx.currency.round(amount_currency / rate)
            total_currency += amount_currency
            total_balance += balance
            self._line(
                move,
                final=True,
                id=ids["line"].pop(),
                sequence=probe.values["product_sequence"],
                account_id=probe.values["income_account_id"],
                name=label,
                display_type="product",
                balance=balance,
                amount_currency=amount_currency,
                amount_residual=0.0,
                amount_residual_currency=0.0,
                quantity=quantity,
                price_unit=price,
                price_subtotal=subtotal,
                price_total=subtotal,
            )
        receivable = self._line(
            move,
            id=ids["line"].pop(),
            sequence=probe.values["term_sequence"],
            account_id=self.receivable[info["commercial"]],
            name=move["payment_reference"],
            display_type="payment_term",
            date_maturity=move["invoice_date_due"],
            balance=ctx.currency.round(-total_balance),
            amount_currency=currency.round(-total_currency),
            quantity=0.0,
            price_unit=0.0,
            price_subtotal=0.0,
            price_total=0.0,
            discount_amount_currency=0.0,
            discount_balance=0.0,
            no_followup=bool(is_invoice and doc.no_followup),
        )
        receivable["amount_residual"] = receivable["balance"]
        receivable["amount_residual_currency"] = receivable["amount_currency"]
        untaxed = currency.round(sum(currency.round(q * p) for _label, q, p in items))
        move.update(
            amount_untaxed=untaxed,
            amount_total=untaxed,
            amount_untaxed_signed=sign * ctx.currency.round(abs(total_balance)),
            amount_total_signed=sign * ctx.currency.round(abs(total_balance)),
            amount_untaxed_in_currency_signed=sign * untaxed,
            amount_total_in_currency_signed=sign * untaxed,
        )
        move["_receivable"] = receivable
        self._count_rank(partner)
        return move, receivable

    def _count_rank(self, partner):
        for partner_id in {partner.id, self._partner_info(partner)["commercial"]}:
            self.rank[partner_id] = self.rank.get(partner_id, 0) + 1

    def _partner_info(self, partner):
        """What a document takes from its partner, as the ORM computes it."""
        info = self._partners.get(partner.id)
        if info is None:
            delivery = partner.browse(partner.address_get(["delivery"])["delivery"])
            info = self._partners[partner.id] = {
                "commercial": partner.commercial_partner_id.id,
                "delivery": delivery.id,
                "display_name": partner.display_name,
                "fiscal_position": self._fiscal_position(partner, delivery),
            }
        return info

    def _reconcile(self, debit, credit, day):
        """Match the receivable lines ``debit`` and ``credit`` as ``reconcile()`` does
        for one line on each side."""
        amount = min(debit["amount_residual"], -credit["amount_residual"])
        amount_currency = min(
            debit["amount_residual_currency"], -credit["amount_residual_currency"]
        )
        partial = {
            "id": self.partial_ids.pop(),
            "debit_move_id": debit["id"],
            "credit_move_id": credit["id"],
            "full_reconcile_id": None,
            "debit_currency_id": debit["currency_id"],
            "credit_currency_id": credit["currency_id"],
            "company_id": self.company.id,
            "max_date": max(debit["date"], credit["date"]),
            "amount": amount,
            "debit_amount_currency": amount_currency,
            "credit_amount_currency": amount_currency,
            **self._stamp(),
        }
        self.partials.append(partial)
        currency = self.ctx.currency
        for line, sign in ((debit, -1), (credit, 1)):
            line["amount_residual"] = currency.round(line["amount_residual"] + sign * amount)
            line["amount_residual_currency"] = currency.round(
                line["amount_residual_currency"] + sign * amount_currency
            )
            line["reconciled"] = currency.is_zero(line["amount_residual"]) and currency.is_zero(
                line["amount_residual_currency"]
            )
            line.setdefault("_partials", []).append(partial)
        # the matching graph: the invoice line and every line matched with it
        group = debit.setdefault("_group", {"lines": [debit], "partials": []})
        group["lines"].append(credit)
        group["partials"].append(partial)
        if all(line["reconciled"] for line in group["lines"]):
            full_id = self.full_ids.pop()
            self.fulls.append({"id": full_id, **self._stamp()})
            for item in group["lines"] + group["partials"]:
                item["full_reconcile_id"] = full_id
            for line in group["lines"]:
                line["matching_number"] = str(full_id)
        else:
            number = f"P{min(p['id'] for p in group['partials'])}"
            for line in group["lines"]:
                line["matching_number"] = number

    # -- the book --------------------------------------------------------

    def write(self):
        ctx, plan, env = self.ctx, self.plan, self.env
        commercial_ids = [p.id for p in ctx.customers.values()]
        Partner = env["res.partner"].with_company(self.company)
        self.receivable = {
            p.id: p.property_account_receivable_id.id for p in Partner.browse(commercial_ids)
        }
        n_moves = len(plan.invoices) + len(plan.refunds) + len(plan.payments)
        n_lines = (
            sum(len(inv.lines) + 1 for inv in plan.invoices)
            + 2 * len(plan.refunds)
            + 2 * len(plan.payments)
        )
        n_partials = sum(r.reconcile for r in plan.refunds) + sum(
            1 for p in plan.payments if p.invoice
        )
        ids = {
            "move": self._ids("account_move", n_moves)[::-1],
            "line": self._ids("account_move_line", n_lines)[::-1],
        }
        self.partial_ids = self._ids("account_partial_reconcile", n_partials)[::-1]
        self.full_ids = self._ids("account_full_reconcile", n_partials)[::-1]
        payment_ids = self._ids("account_payment", len(plan.payments))[::-1]

        # invoices, named in posting order
        names = self._sequences("invoice", plan.invoices, lambda inv: inv.invoice_date)
        receivables = {}
        for inv in plan.invoices:
            move, line = self._document(
                inv, "invoice", names[id(inv)], ctx.invoice_partner(inv), ids
            )
            receivables[inv.key] = (move, line)
        # credit notes: each posting batch is named by date and reference
        for refund in plan.refunds:
            refund._invoice_name = receivables[refund.invoice.key][0]["name"]
        ordered = []
        for start in range(0, len(plan.refunds), ORM_BATCH):
            ordered += sorted(
                plan.refunds[start : start + ORM_BATCH], key=lambda r: (r.date, r._invoice_name)
            )
        names = self._sequences("refund", ordered, lambda r: r.date)
        for refund in plan.refunds:
            refund._move, refund._line = self._document(
                refund, "refund", names[id(refund)], ctx.invoice_partner(refund.invoice), ids
            )
        for refund in plan.refunds:
            if refund.reconcile:
                self._reconcile(receivables[refund.invoice.key][1], refund._line, refund.date)
                # reconcile() writes on both documents
                refund._move["is_manually_modified"] = True
                receivables[refund.invoice.key][0]["is_manually_modified"] = True
        # payments
        names = self._sequences("payment", plan.payments, lambda p: p.date)
        for pay in plan.payments:
            self._payment(pay, names[id(pay)], ids, payment_ids, receivables)
        self._finish_moves()
        self._copy_all()
        return {
            "moves": len(self.moves),
            "lines": len(self.lines),
            "payments": len(self.payments),
            "partials": len(self.partials),
        }

    def _payment(self, pay, sequence, ids, payment_ids, receivables):
        ctx = self.ctx
        partner = ctx.customers[pay.customer.key]
        currency = ctx.currency_of(pay)
        probe = self._probe("payment", pay.date)
        invoice_move, invoice_line = receivables[pay.invoice.key] if pay.invoice else (None, None)
        memo = invoice_move["name"] if invoice_move else None
        balance = pay.amount
        if currency != ctx.currency:
            balance = ctx.currency.round(pay.amount / FOREIGN_RATE)
        payment_id = payment_ids.pop()
        move = self._move(
            ids,
            sequence,
            ctx.bank_journal,
            partner,
            currency,
            commercial_partner_id=partner.id,
            partner_shipping_id=None,
            invoice_user_id=None,
            origin_payment_id=payment_id,
            ref=memo,
            move_type="entry",
            payment_reference=None,
            payment_state="not_paid",
            date=pay.date,
            invoice_date=None,
            invoice_date_due=self.creation_day,
            invoice_currency_rate=0.0,
            amount_untaxed=0.0,
            amount_tax=0.0,
            amount_total=pay.amount,
            amount_residual=0.0,
            amount_untaxed_signed=0.0,
            amount_untaxed_in_currency_signed=0.0,
            amount_tax_signed=0.0,
            amount_total_signed=balance,
            amount_total_in_currency_signed=pay.amount,
            amount_residual_signed=0.0,
            always_tax_exigible=True,
            is_manually_modified=False,
        )
        label = probe.values["liquidity_label"]
        if memo:
            label = f"{label}: {memo}"
        common = {
            "sequence": 100,
            "payment_id": payment_id,
            "name": label,
            "display_type": "product",
            "date_maturity": pay.date,
            "quantity": 1.0,
            "price_unit": 0.0,
        }
        self._line(
            move,
            final=True,
            id=ids["line"].pop(),
            account_id=probe.values["outstanding_account_id"],
            balance=balance,
            amount_currency=pay.amount,
            amount_residual=balance,
            amount_residual_currency=pay.amount,
            price_subtotal=pay.amount,
            price_total=pay.amount,
            **common,
        )
        counterpart = self._line(
            move,
            id=ids["line"].pop(),
            account_id=self.receivable[partner.id],
            balance=-balance,
            amount_currency=-pay.amount,
            amount_residual=-balance,
            amount_residual_currency=-pay.amount,
            price_subtotal=-pay.amount,
            price_total=-pay.amount,
            **common,
        )
        payment = {
            "id": payment_id,
            "move_id": move["id"],
            "journal_id": ctx.bank_journal.id,
            "company_id": self.company.id,
            "payment_method_line_id": probe.values["payment_method_line_id"],
            "payment_method_id": probe.values["payment_method_id"],
            "currency_id": currency.id,
            "partner_id": partner.id,
            "outstanding_account_id": probe.values["outstanding_account_id"],
            "destination_account_id": self.receivable[partner.id],
            "name": move["name"],
            "payment_type": "inbound",
            "partner_type": "customer",
            "memo": memo,
            "date": pay.date,
            "amount": pay.amount,
            "amount_company_currency_signed": balance,
            "is_matched": False,
            "_line": counterpart,
            "_invoice": invoice_move,
            **self._stamp(),
        }
        self.payments.append(payment)
        self._count_rank(partner)
        if invoice_move:
            self._reconcile(invoice_line, counterpart, pay.date)
            self.invoice_payment_rel.append((invoice_move["id"], payment_id))
            invoice_move["is_manually_modified"] = True

    def _finish_moves(self):
        """The figures that follow the reconciliations: residuals and payment states."""
        currency = self.ctx.currency
        for move in self.moves:
            line = move.pop("_receivable", None)
            if line is None:
                continue
            sign = 1 if move["move_type"] == "out_invoice" else -1
            residual_currency = abs(line["amount_residual_currency"])
            move["amount_residual"] = residual_currency
            move["amount_residual_signed"] = sign * abs(line["amount_residual"])
            if currency.is_zero(line["amount_residual"]) and line["reconciled"]:
                move["payment_state"] = "paid"
            elif line.get("_partials"):
                move["payment_state"] = "partial"
            else:
                move["payment_state"] = "not_paid"
        for payment in self.payments:
            line = payment.pop("_line")
            invoice = payment.pop("_invoice")
            payment["is_reconciled"] = line["reconciled"]
            # 'paid' once the invoices it pays are paid: the bank has not confirmed it
            payment["state"] = (
                "paid" if invoice and invoice["payment_state"] == "paid" else "in_process"
            )

    # -- writing ---------------------------------------------------------

    def _copy(self, table, columns, rows, skip=()):
        if not rows:
            return
        columns = [c for c in columns if c not in skip]
        buffer = io.StringIO()
        for row in rows:
            buffer.write(row if isinstance(row, str) else _copy_row(row, columns))
        buffer.seek(0)
        self.cr.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", buffer)

    # The addon's triggers keeping the sums behind the figures and the KPIs: they run
    # once per statement, so one COPY of a whole book would have them recompute every
    # customer at once on tables without statistics yet (at large, an hour for the
    # matchings alone). The book is written with them off and the sums rebuilt from it
    # afterwards, with the same functions a migration uses.
    SUM_TRIGGER_TABLES = (
        "account_move",
        "account_move_line",
        "account_partial_reconcile",
        "res_partner",
        "account_account",
    )

    def _sum_triggers(self, enable):
        rows = self.env.execute_query(
            SQL(
                """SELECT tgrelid::regclass::text, tgname FROM pg_trigger
                    WHERE NOT tgisinternal AND tgname LIKE 'collection\\_%%'
                      AND tgrelid::regclass::text IN %s""",
                self.SUM_TRIGGER_TABLES,
            )
        )
        for table, name in rows:
            self.cr.execute(
                SQL(
                    "ALTER TABLE %s %s TRIGGER %s",
                    SQL.identifier(table),
                    SQL("ENABLE" if enable else "DISABLE"),
                    SQL.identifier(name),
                )
            )
        return bool(rows)

    def _copy_all(self):
        env, cr = self.env, self.cr
        env.flush_all()
        triggers = self._sum_triggers(enable=False)
        try:
            self._copy_documents()
        finally:
            if triggers:
                self._sum_triggers(enable=True)
        if triggers:
            cr.execute(
                "ANALYZE res_partner, account_move, account_move_line, "
                "account_partial_reconcile, account_full_reconcile"
            )
            env["collection.ledger"]._sums_rebuild()
            env["collection.kpi"]._kpi_sums_rebuild()
        env.invalidate_all()

    def _copy_documents(self):
        cr = self.cr
        self._copy("account_full_reconcile", self.FULL_COLUMNS, self.fulls)
        # payments and their moves point to each other: the payments first, without
        # their move, then the moves
        payment_moves = [(p["id"], p["move_id"]) for p in self.payments]
        self._copy("account_payment", self.PAYMENT_COLUMNS, self.payments, skip={"move_id"})
        self._copy("account_move", self.MOVE_COLUMNS, self.moves)
        self._copy("account_move_line", self.LINE_COLUMNS, self.final_lines + self.lines)
        self._copy("account_partial_reconcile", self.PARTIAL_COLUMNS, self.partials)
        if payment_moves:
            cr.execute_values(
                "UPDATE account_payment p SET move_id = v.move_id "
                "FROM (VALUES %s) AS v(id, move_id) WHERE p.id = v.id",
                payment_moves,
                page_size=1000,
            )
        if self.invoice_payment_rel:
            cr.execute_values(
                "INSERT INTO account_move__account_payment (invoice_id, payment_id) VALUES %s",
                self.invoice_payment_rel,
                page_size=1000,
            )
        if self.rank:
            cr.execute_values(
                """
                UPDATE res_partner p
                   SET customer_rank = p.customer_rank + v.n
                  FROM (VALUES %s) AS v(id, n)
                 WHERE p.id = v.id
                """,
                list(self.rank.items()),
                page_size=1000,
            )
        self._write_sales_teams()

    def _write_sales_teams(self):
        """With Sales installed, a customer invoice or credit note gets the default sales
        team of its salesperson in its company (account.move._compute_team_id): the same
        here."""
        field = self.env["account.move"]._fields.get("team_id")
        if not field or not field.store:
            return
        groups = {}
        for move in self.moves:
            if move["move_type"] in ("out_invoice", "out_refund") and move["invoice_user_id"]:
                key = (move["invoice_user_id"], move["company_id"])
                groups.setdefault(key, []).append(move["id"])
        Team = self.env["crm.team"]
        for (user_id, company_id), ids in groups.items():
            team = Team.with_context(allowed_company_ids=[company_id])._get_default_team_id(
                user_id=user_id
            )
            if team:
                self.cr.execute(
                    "UPDATE account_move SET team_id = %s WHERE id = ANY(%s)", (team.id, ids)
                )


def _copy_row(row, columns):
    return "\t".join(_copy_value(row.get(c)) for c in columns) + "\n"


def _copy_value(value):
    if value is None:
        return r"\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, float):
        return repr(value)
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


# ----------------------------------------------------------------------
# Entry points
# ----------------------------------------------------------------------


def book_statistics(env, company, today):
    """What the company's receivable book holds, counted in SQL."""
    Ledger = env["collection.ledger"]
    Ledger._flush()
    open_receivable = Ledger._open_receivable_condition(company)
    row = env.execute_query(
        SQL(
            """
            SELECT COUNT(*),
                   COUNT(*) FILTER (WHERE COALESCE(aml.date_maturity, aml.date) < %(today)s
                                      AND aml.amount_residual > 0),
                   COUNT(DISTINCT aml.partner_id)
              FROM account_move_line aml
             WHERE %(open_receivable)s
            """,
            today=today,
            open_receivable=open_receivable,
        )
    )[0]
    counts = env.execute_query(
        SQL(
            """
            SELECT (SELECT COUNT(*) FROM account_move
                     WHERE company_id = %(company)s AND state = 'posted'
                       AND move_type = 'out_invoice'),
                   (SELECT COUNT(*) FROM account_move_line WHERE company_id = %(company)s),
                   (SELECT COUNT(*) FROM res_partner
                     WHERE parent_id IS NULL AND customer_rank > 0)
            """,
            company=company.id,
        )
    )[0]
    return {
        "customers": counts[2],
        "invoices": counts[0],
        "journal_items": counts[1],
        "open_lines": row[0],
        "overdue_lines": row[1],
        "partners_with_open_lines": row[2],
    }


def generate_book(
    env,
    customers,
    invoices,
    *,
    seed=DEFAULT_SEED,
    method="sql",
    today=None,
    commit=None,
    log=None,
    habits=False,
):
    """Fill the current company with a book of ``customers`` and ``invoices`` drawn from
    ``seed`` (see ``plan_book``), through the ORM or set-based (``method``). ``commit``,
    when given, is called after each batch. Returns what was written and how long it
    took, in seconds. ``habits``: customers with payment habits (see ``plan_book``)."""
    if method not in ("sql", "orm"):
        raise ValueError(f"unknown method {method!r}: 'sql' or 'orm'")
    log = log or _logger.info
    started = time.monotonic()
    plan = plan_book(customers, invoices, seed=seed, today=today, habits=habits)
    log(
        f"plan: {len(plan.customers)} customers, {len(plan.invoices)} invoices, "
        f"{len(plan.refunds)} credit notes, {len(plan.payments)} payments "
        f"({time.monotonic() - started:.1f} s)"
    )
    ctx = _Context(env, plan)
    step = time.monotonic()
    ctx.create_customers(commit=commit)
    customers_seconds = time.monotonic() - step
    log(f"customers created through the ORM ({customers_seconds:.1f} s)")
    step = time.monotonic()
    if method == "orm":
        _write_orm(ctx, commit=commit)
    else:
        _SqlWriter(ctx).write()
    env.flush_all()
    # fresh statistics for the query planner, as after a day of work
    env.cr.execute(
        "ANALYZE res_partner, account_move, account_move_line, account_payment, "
        "account_partial_reconcile"
    )
    if commit:
        commit()
    documents_seconds = time.monotonic() - step
    log(f"documents written ({method}, {documents_seconds:.1f} s)")
    return {
        "method": method,
        "seed": seed,
        "today": str(plan.today),
        "customers": len(plan.customers),
        "contacts": len(ctx.contacts),
        "invoices": len(plan.invoices),
        "credit_notes": len(plan.refunds),
        "payments": len(plan.payments),
        "unmatched_payments": sum(1 for p in plan.payments if p.invoice is None),
        "foreign_invoices": sum(1 for inv in plan.invoices if inv.foreign),
        "no_followup_invoices": sum(1 for inv in plan.invoices if inv.no_followup),
        "customers_seconds": customers_seconds,
        "documents_seconds": documents_seconds,
        "seconds": time.monotonic() - started,
        # the process's peak resident memory so far (Linux: KiB)
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main(env, argv):
    """``dev/generate-book``: parse ``argv``, write the book, commit, print the report."""
    import argparse

    parser = argparse.ArgumentParser(prog="dev/generate-book")
    parser.add_argument("--size", choices=sorted(SIZES), default="small")
    parser.add_argument("--customers", type=int, help="overrides the size's customers")
    parser.add_argument("--invoices", type=int, help="overrides the size's invoices")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--method", choices=["sql", "orm"], default="sql")
    parser.add_argument(
        "--date", type=date.fromisoformat, help="today of the book (default: today)"
    )
    parser.add_argument(
        "--habits",
        action="store_true",
        help="customers with persistent payment habits (the book dev/backtest measures on)",
    )
    args = parser.parse_args(argv)
    customers, invoices = SIZES[args.size]
    customers = args.customers or customers
    invoices = args.invoices or invoices
    print(f"generating {customers:,} customers / {invoices:,} invoices", end=" ")
    print(f"({args.method}, seed {args.seed})")
    result = generate_book(
        env,
        customers,
        invoices,
        seed=args.seed,
        method=args.method,
        today=args.date,
        commit=env.cr.commit,
        log=print,
        habits=args.habits,
    )
    env.cr.commit()
    stats = book_statistics(env, env.company, args.date or fields.Date.context_today(env.user))
    print(
        f"done in {result['seconds']:.1f} s (customers {result['customers_seconds']:.1f} s, "
        f"documents {result['documents_seconds']:.1f} s): {result['customers']:,} customers "
        f"(+{result['contacts']:,} billing contacts), {result['invoices']:,} invoices "
        f"({result['foreign_invoices']:,} in {FOREIGN_CURRENCY}, "
        f"{result['no_followup_invoices']:,} no follow-up), {result['credit_notes']:,} credit "
        f"notes, {result['payments']:,} payments "
        f"({result['unmatched_payments']:,} not matched); peak memory of the process "
        f"{result['peak_rss_mib']:,.0f} MiB"
    )
    print(
        f"book: {stats['journal_items']:,} journal items, {stats['open_lines']:,} open "
        f"receivable lines ({stats['overdue_lines']:,} overdue) of "
        f"{stats['partners_with_open_lines']:,} partners"
    )
    return result
