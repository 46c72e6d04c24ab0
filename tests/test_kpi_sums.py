import random
import threading
from datetime import date, timedelta
from unittest.mock import patch

from odoo import SUPERUSER_ID, api
from odoo.modules.registry import DummyRLock, Registry
from odoo.tests import tagged
from odoo.tools import SQL

from ..models.collection_kpi import COMPANY_DAY_TABLE, DAY_TABLE, KPI_SUMS_DROP, LEDGER_COLUMNS
from . import test_ledger_sums
from .common import TODAY, CollectionCommon, day, migration, on_day

# Periods the KPIs are compared on: this month, the last 30 days, last quarter, a year.
PERIODS = [
    (TODAY.replace(day=1), TODAY),
    (TODAY - timedelta(days=29), TODAY),
    (date(2025, 10, 1), date(2025, 12, 31)),
    (date(2025, 3, 17), TODAY + timedelta(days=60)),
]


def day_rows(env, live=False):
    """The KPIs' ledger per company, customer and day (events, then their sums): the rows
    the triggers keep, or (``live``) the same summed from the journal items and matchings."""
    env["collection.kpi"]._kpi_flush()
    columns = SQL(", ").join(SQL.identifier(column) for column in LEDGER_COLUMNS)
    if live:
        query = SQL(
            """SELECT company_id, partner_id, event_date, COUNT(*), %(sums)s
                 FROM (%(events)s) events
                GROUP BY 1, 2, 3""",
            sums=SQL(", ").join(SQL("SUM(%s)", SQL.identifier(c)) for c in LEDGER_COLUMNS),
            events=env["collection.receivable.report"]._ledger_events_sql(),
        )
    else:
        query = SQL(
            "SELECT company_id, partner_id, event_date, event_count, %s FROM %s",
            columns,
            SQL.identifier(DAY_TABLE),
        )
    return sorted(env.execute_query(query))


def company_rows(env):
    """The KPIs' ledger per company and day, from the rows of changes the triggers add."""
    return sorted(
        env.execute_query(
            SQL(
                """SELECT company_id, event_date, SUM(event_count), %s
                     FROM %s GROUP BY 1, 2 HAVING SUM(event_count) != 0""",
                SQL(", ").join(SQL("SUM(%s)", SQL.identifier(c)) for c in LEDGER_COLUMNS),
                SQL.identifier(COMPANY_DAY_TABLE),
            )
        )
    )


def per_company(rows):
    """``day_rows`` summed over the customers of each company."""
    sums = {}
    for company_id, _partner_id, event_date, count, *amounts in rows:
        total = sums.setdefault((company_id, event_date), [0, *[0.0] * len(amounts)])
        total[0] += count
        for index, amount in enumerate(amounts, 1):
            total[index] += amount
    return sums


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionKpiSums(CollectionCommon):
    """The KPIs read their ledger from sums kept per customer, company and day by triggers
    on the journal items and matchings, in the same transaction: after every posting,
    payment, credit note, matching undone, back-dated entry, currency and company, the
    KPIs equal those computed from the journal items themselves."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.eur = cls.setup_other_currency("EUR")
        cls.company_2 = cls.setup_other_company(name="Other Company")["company"]
        cls.other = cls.env["res.partner"].create(
            {"name": "Other Customer", "is_company": True, "collection_user_id": cls.collector.id}
        )

    def receivable_line(self, move):
        return move.line_ids.filtered(lambda line: line.account_type == "asset_receivable")

    def kpis(self, period, company=None, live=False, **kwargs):
        """The KPIs of ``period`` (without the per-collector rows, unchanged here), read
        from the sums or (``live``) from the journal items."""
        Kpi = self.env["collection.kpi"].with_user(self.collection_manager)
        if company:
            Kpi = Kpi.with_user(self.env.user).with_company(company)
        if live:
            with patch.object(
                self.registry["collection.kpi"],
                "_kpi_ledger",
                lambda model, date_to, partner_query: model._kpi_ledger_live(
                    date_to, partner_query
                ),
            ):
                return Kpi.get_kpis(*period, **kwargs)
        return Kpi.get_kpis(*period, **kwargs)

    def assertKpiSumsFollowLedger(self):
        """The kept sums equal the journal items' events, per customer and day and per
        company and day, and the KPIs of every company, period and portfolio equal the KPIs
        computed from the journal items."""
        customer_days = day_rows(self.env)
        self.assertEqual(customer_days, day_rows(self.env, live=True), "customers' days")
        self.assertEqual(
            company_rows(self.env),
            sorted((*key, *sums) for key, sums in per_company(customer_days).items()),
            "companies' days",
        )
        Kpi = self.env["collection.kpi"]
        for company in (self.company, self.company_2):
            for date_to in (TODAY, date(2025, 12, 31), TODAY + timedelta(days=120)):
                partners = self.env["res.partner"]._search([("id", "=", self.customer.id)])
                for partner_query in (None, partners):
                    sums = Kpi.with_company(company)._kpi_ledger(date_to, partner_query)
                    live = Kpi.with_company(company)._kpi_ledger_live(date_to, partner_query)
                    self.assertEqual(
                        (sums.days, sums.totals),
                        (live.days, live.totals),
                        f"ledger of {company.name} until {date_to}",
                    )
            for period in PERIODS:
                self.assertEqual(
                    self.kpis(period, company),
                    self.kpis(period, company, live=True),
                    f"KPIs of {company.name} for {period}",
                )

    def test_payments_credit_notes_and_matchings_undone(self):
        invoice = self.invoice(self.customer, 1000.0, day(-100))
        later = self.invoice(self.customer, 400.0, day(10))
        self.assertKpiSumsFollowLedger()
        self.assertEqual(self.kpis(PERIODS[0])["ar_end"], 1400.0)

        # A partial payment, then the rest: collected and no longer overdue.
        self.pay_on(-50, invoice, 600.0)
        self.assertKpiSumsFollowLedger()
        payment = self.pay(invoice)
        kpis = self.kpis(PERIODS[0])
        self.assertEqual((kpis["recovered"], kpis["ar_end_overdue"]), (400.0, 0.0))
        self.assertKpiSumsFollowLedger()

        # The accountant undoes the last payment's matching: overdue again, not collected.
        self.receivable_line(payment.move_id).remove_move_reconcile()
        kpis = self.kpis(PERIODS[0])
        self.assertEqual((kpis["recovered"], kpis["ar_end_overdue"]), (0.0, 400.0))
        self.assertKpiSumsFollowLedger()
        # A credit note matched with the invoice is no collection; undone, then cancelled.
        credit_note = self.invoice(self.customer, 300.0, day(-5), move_type="out_refund")
        invoice.js_assign_outstanding_line(self.receivable_line(credit_note).id)
        self.assertEqual(self.kpis(PERIODS[3])["credit_notes"], 300.0)
        self.assertKpiSumsFollowLedger()
        self.receivable_line(credit_note).remove_move_reconcile()
        self.assertKpiSumsFollowLedger()
        credit_note.button_draft()
        credit_note.unlink()
        self.assertKpiSumsFollowLedger()

        # Payments deleted, an invoice reset to draft, its due date moved, posted again.
        payments = self.env["account.payment"].search([("partner_id", "=", self.customer.id)])
        payments.action_draft()
        payments.unlink()
        self.assertEqual(self.kpis(PERIODS[0])["ar_end"], 1400.0)
        self.assertKpiSumsFollowLedger()
        later.button_draft()
        self.assertEqual(self.kpis(PERIODS[0])["ar_end"], 1000.0)
        self.assertKpiSumsFollowLedger()
        later.invoice_date_due = day(-95)
        later.action_post()
        self.assertEqual(self.kpis(PERIODS[0])["ar_end_over_90"], 1400.0)
        self.assertKpiSumsFollowLedger()
        self.receivable_line(later).date_maturity = day(-20)
        self.assertKpiSumsFollowLedger()
        later.button_cancel()
        self.assertKpiSumsFollowLedger()

    def test_back_dated_entries(self):
        """An invoice and a payment entered today but dated months ago change the KPIs of
        the past periods they belong to."""
        self.invoice(self.customer, 500.0, day(-10))
        self.pay_on(-3, self.invoice(self.other, 700.0, day(-20)))
        autumn = PERIODS[2]
        before = self.kpis(autumn)
        self.assertEqual(before["credit_sales"], 0.0)
        old = self.invoice(self.customer, 900.0, date(2025, 11, 15))
        self.pay(old, 250.0, date(2025, 12, 1))
        after = self.kpis(autumn)
        self.assertEqual((after["credit_sales"], after["recovered"]), (900.0, 250.0))
        self.assertEqual(after["ar_end_overdue"], 650.0)
        self.assertKpiSumsFollowLedger()

    def test_foreign_currency_and_two_companies(self):
        invoice = self.invoice(self.customer, 1000.0, day(-20), currency=self.eur)
        self.pay(invoice, 400.0)  # 2 EUR for 1 company-currency unit
        self.assertEqual(self.kpis(PERIODS[0])["ar_end"], 300.0)
        invoice_2 = self.invoice(self.customer, 700.0, day(-100), company=self.company_2)
        self.assertEqual(self.kpis(PERIODS[0], self.company_2)["ar_end_over_90"], 700.0)
        self.pay(invoice_2.with_company(self.company_2), 200.0)
        self.assertEqual(self.kpis(PERIODS[0], self.company_2)["recovered"], 200.0)
        self.assertEqual(self.kpis(PERIODS[0])["recovered"], 200.0)
        self.assertKpiSumsFollowLedger()

    def test_contacts_money_on_account_and_portfolios(self):
        contact = self.env["res.partner"].create(
            {"name": "Billing Contact", "parent_id": self.customer.id}
        )
        invoice = self.invoice(contact, 500.0, day(-10))
        money = self.customer_payment(contact, 200.0, day(-1))
        self.assertKpiSumsFollowLedger()
        (self.receivable_line(invoice) + self.receivable_line(money.move_id)).reconcile()
        self.assertEqual(self.kpis(PERIODS[0])["recovered"], 200.0)
        self.assertKpiSumsFollowLedger()
        # The restricted collector's portfolio and a customer filter read the customers'
        # days: the same as from the journal items.
        self.company.collection_portfolio_restricted = True
        self.customer.collection_user_id = self.collector
        Kpi = self.env["collection.kpi"].with_user(self.collector)
        self.assertEqual(Kpi.get_kpis(*PERIODS[0])["ar_end"], 300.0)
        with patch.object(
            self.registry["collection.kpi"],
            "_kpi_ledger",
            lambda model, date_to, partner_query: model._kpi_ledger_live(date_to, partner_query),
        ):
            live = Kpi.get_kpis(*PERIODS[0])
        self.assertEqual(Kpi.get_kpis(*PERIODS[0]), live)
        # The contact moves to another company: so do its invoice and its payment.
        contact.parent_id = self.other
        self.env.flush_all()
        self.assertEqual(Kpi.get_kpis(*PERIODS[0])["ar_end"], 300.0)
        self.assertKpiSumsFollowLedger()

    def test_generated_book(self):
        """A book of random invoices, credit notes, partial and back-dated payments and
        matchings undone, in two currencies and two companies."""
        rng = random.Random(16)
        customers = self.customer + self.other
        invoices = self.env["account.move"]
        for _index in range(14):
            company = rng.choice([self.company, self.company, self.company_2])
            invoices |= self.invoice(
                rng.choice(customers),
                rng.randrange(100, 3000),
                day(rng.randrange(-200, 40)),
                move_type=rng.choice(["out_invoice"] * 4 + ["out_refund"]),
                currency=rng.choice([None, None, self.eur]) if company == self.company else None,
                company=company,
            )
        payments = []
        for move in invoices.filtered(lambda move: move.move_type == "out_invoice"):
            invoice = move.with_company(move.company_id)
            amount = rng.choice([None, invoice.amount_residual / 3])
            with on_day(max(invoice.invoice_date, day(rng.randrange(-150, 1)))):
                payments.append(self.pay(invoice, amount, max(invoice.invoice_date, day(-60))))
        self.assertKpiSumsFollowLedger()
        for payment in rng.sample(payments, 3):
            self.receivable_line(payment.move_id).remove_move_reconcile()
        self.assertKpiSumsFollowLedger()

    def test_install_upgrade_and_compaction(self):
        invoice = self.invoice(self.customer, 1000.0, day(-20))
        self.pay(invoice, 250.0)
        self.invoice(self.other, 700.0, day(-100), company=self.company_2)
        expected = self.kpis(PERIODS[0])
        self.assertTrue(day_rows(self.env))

        # A database of a version without the sums: the module's update creates and fills
        # them (collection.kpi.init).
        self.env.cr.execute(KPI_SUMS_DROP)
        self.env["collection.kpi"].init()
        self.assertEqual(self.kpis(PERIODS[0]), expected, "filled on install")
        self.assertKpiSumsFollowLedger()

        # The 19.0.1.4.0 migration computes them again from the journal items.
        self.env.cr.execute(SQL("UPDATE %s SET ar = 0", SQL.identifier(DAY_TABLE)))
        migration("19.0.1.4.0", "post-kpi-sums").fill_kpi_sums(self.env)
        self.assertEqual(self.kpis(PERIODS[0]), expected)

        # Every payment adds rows of changes; the daily compaction leaves one per company
        # and day, and the same KPIs.
        self.pay(invoice, 100.0)
        self.pay(invoice, 100.0)
        expected = self.kpis(PERIODS[0])
        count = SQL("SELECT COUNT(*) FROM %s", SQL.identifier(COMPANY_DAY_TABLE))
        [(rows_before,)] = self.env.execute_query(count)
        cron = self.env.ref("account_collection.ir_cron_collection_compact_kpi_sums")
        self.assertEqual(cron.code, "model._cron_compact_kpi_sums()")
        self.env["collection.kpi"]._cron_compact_kpi_sums()
        [(rows_after,)] = self.env.execute_query(count)
        self.assertLess(rows_after, rows_before)
        self.assertEqual(self.kpis(PERIODS[0]), expected)
        self.assertKpiSumsFollowLedger()


@tagged("post_install", "-at_install")
class TestCollectionKpiSumsConcurrency(test_ledger_sums.TestCollectionLedgerSumsConcurrency):
    """Two accountants register payments on invoices of two customers at the same
    moment, each in a transaction of its own: neither waits for the other (each adds rows
    of its own to the company's days) and the company's KPIs hold both payments. (On the
    same customer, both write the same customer's day and the second is retried:
    TestCollectionLedgerSumsConcurrency, whose fixture this uses.)"""

    def setUp(self):
        super().setUp()
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            partner = env["res.partner"].create(
                {"name": f"Concurrent Customer {self.tag} 2", "is_company": True}
            )
            self.fixture["partner_ids"].append(partner.id)
            move = (
                env["account.move"]
                .browse(self.fixture["move_ids"][0])
                .copy({"partner_id": partner.id, "invoice_date": TODAY - timedelta(days=40)})
            )
            move.invoice_date_due = TODAY - timedelta(days=10)
            move.action_post()
            self.fixture["move_ids"].append(move.id)

    def committed_figures(self):
        figures = super().committed_figures()
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            customer_days = day_rows(env)
            self.assertEqual(customer_days, day_rows(env, live=True))
            self.assertEqual(
                company_rows(env),
                sorted((*key, *sums) for key, sums in per_company(customer_days).items()),
            )
        return figures

    def recovered_today(self):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            company = env["res.company"].browse(self.company_id)
            with on_day(TODAY):
                kpis = (
                    env["collection.kpi"]
                    .with_company(company)
                    .get_kpis(
                        TODAY, TODAY, domain_extra=[("id", "in", self.fixture["partner_ids"])]
                    )
                )
                return kpis["recovered"]

    def test_concurrent_payments_on_two_customers(self):
        self.assertEqual(self.recovered_today(), 0.0)
        first_id = self.fixture["move_ids"][0]
        other_id = self.fixture["move_ids"][-1]
        first_journal, second_journal = self.fixture["journal_ids"]
        errors = []
        first_paid = threading.Event()

        def second_accountant():
            try:
                with self.registry.cursor() as cr:
                    env = api.Environment(cr, SUPERUSER_ID, {})
                    first_paid.wait(30)
                    self.pay(env, other_id, second_journal)
            except Exception as e:
                errors.append(repr(e))

        with patch.object(Registry, "_lock", DummyRLock()):
            worker = threading.Thread(target=second_accountant)
            worker.start()
            with self.registry.cursor() as cr:
                env = api.Environment(cr, SUPERUSER_ID, {})
                self.pay(env, first_id, first_journal)
                first_paid.set()
                # The second accountant commits while the first has not yet.
                worker.join(timeout=60)
                self.assertFalse(worker.is_alive(), "the second accountant waited")
        self.assertFalse(errors)
        # Both invoices of 100 were paid today.
        self.assertEqual(self.recovered_today(), 200.0)
        self.committed_figures()
