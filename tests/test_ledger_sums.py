import threading
import time
import uuid
from datetime import timedelta
from unittest.mock import patch

from odoo import SUPERUSER_ID, Command, api
from odoo.modules.registry import DummyRLock, Registry
from odoo.service.model import retrying
from odoo.tests import TransactionCase, tagged
from odoo.tools import SQL, mute_logger

from ..models.collection_ledger import (
    BALANCE_TABLE,
    DEBIT_DAYS_EPOCH,
    DUE_TABLE,
    LEDGER_SUMS_DROP,
    PAID_TABLE,
)
from ..models.res_partner import ResPartner as BasePartner
from .common import TODAY, CollectionCommon, day, migration, on_day


def figures(env, company, today, live=False):
    """{customer id: (total due, overdue, oldest overdue due date)} of every customer of
    ``company`` on ``today``: from the sums the triggers keep, or (``live``) aggregated
    from the journal items."""
    Ledger = env["collection.ledger"]
    query = (Ledger._figures_live_sql if live else Ledger._figures_sql)(company, today)
    return {
        partner_id: (due, overdue, oldest)
        for partner_id, due, overdue, oldest in env.execute_query(
            SQL("SELECT partner_id, due_amount, overdue_amount, oldest_due_date FROM %s f", query)
        )
    }


def due_rows(env, live=False):
    """The open items summed per customer, company and due date: the rows of DUE_TABLE,
    or (``live``) the same aggregated from the journal items."""
    Ledger = env["collection.ledger"]
    Ledger._flush()
    if not live:
        query = SQL(
            "SELECT partner_id, company_id, due_date, residual, debit_amount FROM %s",
            SQL.identifier(DUE_TABLE),
        )
    else:
        query = SQL(
            """SELECT p.commercial_partner_id, aml.company_id, %(due)s,
                      SUM(aml.amount_residual),
                      COALESCE(SUM(aml.amount_residual) FILTER (WHERE %(debit)s), 0)
                 FROM account_move_line aml
                 JOIN res_partner p ON p.id = aml.partner_id
                WHERE %(open)s
                GROUP BY 1, 2, 3""",
            due=Ledger._due_date_sql(),
            debit=Ledger._open_debit_condition(),
            open=Ledger._open_receivable_condition(),
        )
    return sorted(env.execute_query(query))


def paid_rows(env, live=False):
    """The invoices paid in full summed per customer, company and day of their last
    matching: the rows of PAID_TABLE, or (``live``) the same from the journal items."""
    Ledger = env["collection.ledger"]
    Ledger._flush()
    env["account.move.line"].flush_model(["balance"])
    env["account.partial.reconcile"].flush_model()
    if not live:
        query = SQL(
            """SELECT partner_id, company_id, paid_date, paid_count, late_count, amount,
                      late_amount
                 FROM %s""",
            SQL.identifier(PAID_TABLE),
        )
    else:
        query = SQL(
            """SELECT partner_id, company_id, paid_date, COUNT(*),
                      COUNT(*) FILTER (WHERE paid_date > due_date), SUM(amount),
                      SUM(amount * GREATEST(paid_date - due_date, 0))
                 FROM (SELECT p.commercial_partner_id AS partner_id, aml.company_id,
                              aml.balance AS amount, %(due)s AS due_date,
                              MAX(apr.max_date) AS paid_date
                         FROM account_move_line aml
                         JOIN res_partner p ON p.id = aml.partner_id
                         JOIN account_partial_reconcile apr ON apr.debit_move_id = aml.id
                        WHERE %(receivable)s AND aml.reconciled AND aml.balance > 0
                        GROUP BY aml.id, p.commercial_partner_id) invoices
                GROUP BY 1, 2, 3""",
            due=Ledger._due_date_sql(),
            receivable=Ledger._receivable_condition(),
        )
    return sorted(env.execute_query(query))


def open_debits(env, live=False):
    """{(customer id, company id): (count, amount times due date)} of the open debits of
    every customer and company with any: kept on the balance rows (``debit_count``,
    ``debit_days``), or (``live``) aggregated from the journal items."""
    Ledger = env["collection.ledger"]
    Ledger._flush()
    if not live:
        query = SQL(
            "SELECT partner_id, company_id, debit_count, debit_days FROM %s"
            " WHERE debit_count != 0 OR debit_days != 0",
            SQL.identifier(BALANCE_TABLE),
        )
    else:
        query = SQL(
            """SELECT p.commercial_partner_id, aml.company_id, COUNT(*),
                      SUM(aml.amount_residual * (%(due)s - %(epoch)s::date))
                 FROM account_move_line aml
                 JOIN res_partner p ON p.id = aml.partner_id
                WHERE %(open)s AND %(debit)s
                GROUP BY 1, 2""",
            due=Ledger._due_date_sql(),
            epoch=DEBIT_DAYS_EPOCH,
            debit=Ledger._open_debit_condition(),
            open=Ledger._open_receivable_condition(),
        )
    return {(row[0], row[1]): (row[2], row[3]) for row in env.execute_query(query)}


def risk_history(env, company, today, live=False):
    """{customer id: row} of the paid history and open overdue items the risk score of
    ``company`` on ``today`` is computed from: read from the kept sums, or (``live``)
    aggregated from the journal items and their matchings."""
    Partner = env["res.partner"]
    method = Partner._collection_risk_paid_live_sql if live else Partner._collection_risk_paid_sql
    return {
        row[0]: row[1:]
        for row in env.execute_query(
            SQL(
                """SELECT partner_id, paid_count, late_count, late_days, recent_days,
                          older_days, open_count, open_amount, open_days, paid_amount, all_days
                     FROM %s h""",
                method(company, today),
            )
        )
    }


def stored_priorities(env):
    """{(company id, day): {customer id: priority}} of the priorities kept on the balance
    rows, each for its own day (rows of no day yet left out)."""
    env["collection.ledger"]._flush()
    env["res.partner"].flush_model(["collection_status"])
    env["collection.promise"].flush_model()
    stored = {}
    for partner_id, company_id, on_day_, priority in env.execute_query(
        SQL(
            "SELECT partner_id, company_id, priority_date, priority FROM %s "
            "WHERE priority_date IS NOT NULL",
            SQL.identifier(BALANCE_TABLE),
        )
    ):
        stored.setdefault((company_id, on_day_), {})[partner_id] = priority
    return stored


def live_priorities(env, company, today, partner_ids):
    """{customer id: priority} of ``partner_ids`` in ``company`` on ``today``, computed
    from the figures when read (the formula of collection.ledger._priority_sql, without
    the risk score), never from the stored priorities."""
    Partner = (
        env["res.partner"].sudo().with_context(allowed_company_ids=company.ids, active_test=False)
    )
    Ledger = type(env["collection.ledger"])
    with (
        patch.object(Ledger, "_priority_stored", lambda self, company, today: False),
        patch.object(type(Partner), "_collection_today", lambda self: today),
    ):
        query = Partner._search([("id", "in", list(partner_ids))], bypass_access=True)
        expr = BasePartner._collection_field_sql(
            Partner, Partner._table, "collection_priority", query
        )
        return dict(env.execute_query(query.select(SQL.identifier(Partner._table, "id"), expr)))


class LedgerSumsAsserts:
    def assertPrioritiesFollowLedger(self, env=None):
        """Every stored priority is the priority of its customer on the row's day, as
        computed from the journal items' figures, the status and the promises."""
        env = env or self.env
        for (company_id, on_day_), stored in stored_priorities(env).items():
            company = env["res.company"].browse(company_id)
            self.assertEqual(
                stored,
                live_priorities(env, company, on_day_, stored),
                f"stored priorities of {company.name} on {on_day_}",
            )

    def assertSumsFollowLedger(self, env=None):
        """The sums the triggers keep equal what the journal items say, for every customer
        and company, on today and on days before and after (the overdue part moves with
        the day), the paid history the risk score reads included."""
        env = env or self.env
        self.assertPrioritiesFollowLedger(env)
        self.assertEqual(due_rows(env), due_rows(env, live=True))
        self.assertEqual(paid_rows(env), paid_rows(env, live=True))
        self.assertEqual(open_debits(env), open_debits(env, live=True))
        for company in env["res.company"].search([]):
            for today in (TODAY, TODAY - timedelta(days=45), TODAY + timedelta(days=45)):
                self.assertEqual(
                    risk_history(env, company, today),
                    risk_history(env, company, today, live=True),
                    f"risk history of {company.name} on {today}",
                )
                self.assertEqual(
                    figures(env, company, today),
                    figures(env, company, today, live=True),
                    f"figures of {company.name} on {today}",
                )
                # The aging by bucket of each item's own due date, per customer.
                Ledger = env["collection.ledger"]
                self.assertEqual(
                    sorted(
                        row
                        for row in env.execute_query(
                            Ledger._aging_sql(company, today, per_partner=True)
                        )
                        if row[2]
                    ),
                    sorted(
                        row
                        for row in env.execute_query(
                            Ledger._aging_sql(company, today, SQL("TRUE"), per_partner=True)
                        )
                        if row[2]
                    ),
                    f"aging of {company.name} on {today}",
                )


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionLedgerSums(LedgerSumsAsserts, CollectionCommon):
    """The customers' figures are read from sums kept per customer and company in the
    same transaction as the journal items they come from: every posting, payment,
    reconciliation undone, credit note, currency and company shows at once, and the sums
    always equal the journal items."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.eur = cls.setup_other_currency("EUR")
        cls.company_2 = cls.setup_other_company()["company"]

    def receivable_line(self, move):
        return move.line_ids.filtered(lambda line: line.account_type == "asset_receivable")

    def assertFigures(self, partner, overdue, due, days, company=None):
        partner = partner.with_company(company or self.company).with_user(self.collector)
        if company:
            partner = partner.with_user(self.env.user)
        partner.invalidate_recordset()
        self.assertRecordValues(
            partner,
            [
                {
                    "collection_overdue_amount": overdue,
                    "collection_due_amount": due,
                    "collection_days_overdue": days,
                }
            ],
        )
        self.assertSumsFollowLedger()

    def test_payments_and_reconciliation_undone(self):
        invoice = self.invoice(self.customer, 1000.0, day(-20))
        self.invoice(self.customer, 400.0, day(10))
        self.assertFigures(self.customer, 1000.0, 1400.0, 20)

        self.pay(invoice, 600.0)
        self.assertFigures(self.customer, 400.0, 800.0, 20)
        payment = self.pay(invoice)
        self.assertFigures(self.customer, 0.0, 400.0, 0)

        # The accountant undoes the last payment's matching: the invoice is open again,
        # the payment is money on account.
        self.receivable_line(payment.move_id).remove_move_reconcile()
        self.assertEqual(invoice.amount_residual, 400.0)
        self.assertFigures(self.customer, 400.0, 400.0, 20)
        # And every matching of the invoice.
        self.receivable_line(invoice).remove_move_reconcile()
        self.assertFigures(self.customer, 1000.0, 400.0, 20)

        # The payments deleted: the invoice is owed in full again.
        payments = self.env["account.payment"].search([("partner_id", "=", self.customer.id)])
        payments.action_draft()
        payments.unlink()
        self.assertFigures(self.customer, 1000.0, 1400.0, 20)

    def test_credit_notes(self):
        invoice = self.invoice(self.customer, 1000.0, day(-40))
        credit_note = self.invoice(self.customer, 300.0, day(-5), move_type="out_refund")
        self.assertFigures(self.customer, 1000.0, 700.0, 40)
        invoice.js_assign_outstanding_line(self.receivable_line(credit_note).id)
        self.assertFigures(self.customer, 700.0, 700.0, 40)
        self.receivable_line(credit_note).remove_move_reconcile()
        self.assertFigures(self.customer, 1000.0, 700.0, 40)
        credit_note.button_draft()
        self.assertFigures(self.customer, 1000.0, 1000.0, 40)
        credit_note.unlink()
        self.assertFigures(self.customer, 1000.0, 1000.0, 40)

    def test_foreign_currency(self):
        invoice = self.invoice(self.customer, 1000.0, day(-20), currency=self.eur)
        # 2 EUR for 1 company-currency unit.
        self.assertFigures(self.customer, 500.0, 500.0, 20)
        self.pay(invoice, 400.0)
        self.assertFigures(self.customer, 300.0, 300.0, 20)
        self.pay(invoice)
        self.assertFigures(self.customer, 0.0, 0.0, 0)

    def test_two_companies(self):
        self.invoice(self.customer, 1000.0, day(-20))
        invoice_2 = self.invoice(self.customer, 700.0, day(-100), company=self.company_2)
        self.assertFigures(self.customer, 1000.0, 1000.0, 20)
        self.assertFigures(self.customer, 700.0, 700.0, 100, company=self.company_2)
        self.pay(invoice_2.with_company(self.company_2))
        self.assertFigures(self.customer, 1000.0, 1000.0, 20)
        self.assertFigures(self.customer, 0.0, 0.0, 0, company=self.company_2)

    def test_contacts_follow_their_company(self):
        other = self.env["res.partner"].create({"name": "Other Customer", "is_company": True})
        contact = self.env["res.partner"].create(
            {"name": "Billing Contact", "parent_id": self.customer.id}
        )
        self.invoice(contact, 500.0, day(-10))
        # Money received from the contact, on account: an item of the contact itself.
        self.customer_payment(contact, 200.0, day(-1))
        self.assertFigures(self.customer, 500.0, 300.0, 10)
        # The contact moves to another company: so does what it paid.
        contact.parent_id = other
        self.env.flush_all()
        self.assertFigures(self.customer, 500.0, 500.0, 10)
        self.assertFigures(other, 0.0, -200.0, 0)

    def test_items_edited_by_the_accountant(self):
        invoice = self.invoice(self.customer, 800.0, day(-30))
        line = self.receivable_line(invoice)
        line.no_followup = True
        self.assertFigures(self.customer, 0.0, 800.0, 0)
        line.no_followup = False
        line.date_maturity = day(5)
        self.assertFigures(self.customer, 0.0, 800.0, 0)
        line.date_maturity = day(-60)
        self.assertFigures(self.customer, 800.0, 800.0, 60)
        invoice.button_draft()
        self.assertFigures(self.customer, 0.0, 0.0, 0)
        invoice.action_post()
        self.assertFigures(self.customer, 800.0, 800.0, 60)
        invoice.button_cancel()
        self.assertFigures(self.customer, 0.0, 0.0, 0)

    def test_days_overdue_move_with_the_day(self):
        self.invoice(self.customer, 300.0, day(-3))
        self.invoice(self.customer, 200.0, day(5))
        self.assertFigures(self.customer, 300.0, 500.0, 3)
        with on_day(day(10)):
            self.assertFigures(self.customer, 500.0, 500.0, 13)
        with on_day(day(-10)):
            self.assertFigures(self.customer, 0.0, 500.0, 0)

    def test_install_and_upgrade_fill_the_sums_of_the_existing_ledger(self):
        invoice = self.invoice(self.customer, 1000.0, day(-20))
        self.pay(invoice, 250.0)
        self.invoice(self.customer, 700.0, day(-100), company=self.company_2)
        before = {c: figures(self.env, c, TODAY) for c in self.env["res.company"].search([])}
        self.assertIn(self.customer.id, before[self.company])

        # A database of a version without the sums: the module's update creates and fills
        # them (collection.ledger.init).
        self.env.cr.execute(LEDGER_SUMS_DROP)
        self.env["collection.ledger"].init()
        self.assertEqual(
            {c: figures(self.env, c, TODAY) for c in before}, before, "filled on install"
        )
        self.assertSumsFollowLedger()

        # The 19.0.1.3.0 migration computes them again from the journal items.
        self.env.cr.execute(SQL("UPDATE %s SET due_amount = 0", SQL.identifier(BALANCE_TABLE)))
        migration("19.0.1.3.0", "post-migrate").fill_ledger_sums(self.env)
        self.assertEqual({c: figures(self.env, c, TODAY) for c in before}, before)
        # Still kept afterwards.
        self.pay(invoice)
        self.assertFigures(self.customer, 0.0, 0.0, 0)


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionRiskHistorySums(LedgerSumsAsserts, CollectionCommon):
    """The risk score reads the customers' paid history from sums kept per customer,
    company and day of payment in the same transaction as the journal items: a payment,
    a matching undone, a payment in parts show at once, and the sums always equal the
    invoices and their matchings."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_2 = cls.setup_other_company()["company"]

    def risk(self, partner, company=None):
        partner = partner.with_company(company or self.company)
        partner.invalidate_recordset()
        self.assertSumsFollowLedger()
        return partner.collection_risk_score

    def receivable_line(self, move):
        return move.line_ids.filtered(lambda line: line.account_type == "asset_receivable")

    def test_payments_in_parts_and_matchings_undone(self):
        invoice = self.invoice(self.customer, 1000.0, day(-100))
        # Open and 100 days overdue: lateness (30) and late share (15) in full, oldest
        # item 100 of 180 days (5.6).
        self.assertEqual(self.risk(self.customer), 51)
        self.pay_on(-90, invoice, 400.0)
        self.assertEqual(self.risk(self.customer), 51)
        # Paid in full 40 days late: lateness 40 of 60 days (20), late share (15).
        self.pay_on(-60, invoice)
        self.assertEqual(self.risk(self.customer), 35)
        history = risk_history(self.env, self.company, TODAY)[self.customer.id]
        self.assertEqual(history[:2], (1, 1), "one invoice paid, late")
        self.assertEqual(history[2], 40, "paid on the day of its last payment")

        # The accountant undoes the last payment's matching: the invoice is open again.
        payment_line = self.receivable_line(
            self.env["account.payment"]
            .search([("partner_id", "=", self.customer.id)], order="id desc", limit=1)
            .move_id
        )
        payment_line.remove_move_reconcile()
        self.assertEqual(self.risk(self.customer), 51)
        self.assertNotIn(self.customer.id, paid_customers(self.env))
        # Matched again with the same payment: paid on that payment's day again.
        invoice.js_assign_outstanding_line(payment_line.id)
        self.assertEqual(self.risk(self.customer), 35)
        # Every matching of the invoice undone.
        self.receivable_line(invoice).remove_move_reconcile()
        self.assertEqual(self.risk(self.customer), 51)
        self.assertNotIn(self.customer.id, paid_customers(self.env))

    def test_the_year_of_history_moves_with_the_day(self):
        early = self.invoice(self.customer, 1000.0, day(-300))
        self.pay_on(-270, early)
        late = self.invoice(self.customer, 500.0, day(-100))
        self.pay_on(-100, late)
        # 30 days late on 1000, on time on 500: 20 days (10 points), half late (7.5), and
        # paid 30 days earlier than six months before.
        self.assertEqual(self.risk(self.customer), 18)
        with on_day(day(120)):
            # The early invoice was paid over a year ago: on time, nothing late.
            self.assertEqual(self.risk(self.customer), 0)
            self.assertSumsFollowLedger()
        with on_day(day(-150)):
            # The later invoice is not due yet; the early one was paid 30 days late:
            # lateness 30 of 60 days (15 points), every paid invoice late (15).
            self.assertEqual(self.risk(self.customer), 30)

    def test_two_companies_and_credit_notes(self):
        invoice = self.invoice(self.customer, 800.0, day(-50))
        invoice_2 = self.invoice(self.customer, 300.0, day(-80), company=self.company_2)
        credit_note = self.invoice(self.customer, 800.0, day(-20), move_type="out_refund")
        invoice.js_assign_outstanding_line(self.receivable_line(credit_note).id)
        self.pay_on(-10, invoice_2.with_company(self.company_2))
        rows = {row[:2] for row in paid_rows(self.env)}
        self.assertIn((self.customer.id, self.company.id), rows)
        self.assertIn((self.customer.id, self.company_2.id), rows)
        self.assertSumsFollowLedger()
        # The credit note's matching undone: the invoice is not paid any more.
        self.receivable_line(credit_note).remove_move_reconcile()
        self.assertSumsFollowLedger()
        self.assertNotIn(
            (self.customer.id, self.company.id), {row[:2] for row in paid_rows(self.env)}
        )
        credit_note.button_draft()
        self.assertSumsFollowLedger()

    def test_upgrade_fills_the_paid_history(self):
        invoice = self.invoice(self.customer, 1000.0, day(-20))
        self.pay_on(-5, invoice)
        self.invoice(self.customer, 700.0, day(-100), company=self.company_2)
        expected = paid_rows(self.env, live=True)
        self.assertTrue(expected)
        before = {c: risk_history(self.env, c, TODAY) for c in self.env["res.company"].search([])}

        # A database of 19.0.1.3.0: the ledger's sums without the paid history and the
        # count of open debits. The module's update creates them, the migration fills them.
        self.env.cr.execute(
            SQL(
                "DROP TABLE %s; ALTER TABLE %s DROP COLUMN debit_count",
                SQL.identifier(PAID_TABLE),
                SQL.identifier(DUE_TABLE),
            )
        )
        self.env["collection.ledger"].init()
        migration("19.0.1.4.0", "post-risk-history").migrate(self.env.cr, "19.0.1.3.0")
        self.assertEqual(paid_rows(self.env), expected)
        self.assertEqual(
            {c: risk_history(self.env, c, TODAY) for c in before}, before, "after the upgrade"
        )
        self.assertSumsFollowLedger()

    def test_update_fills_the_open_debits_of_the_balance_rows(self):
        self.invoice(self.customer, 1000.0, day(-20))
        self.invoice(self.customer, 400.0, day(-50))
        self.invoice(self.customer, 300.0, day(10))
        self.invoice(self.customer, 700.0, day(-100), company=self.company_2)
        expected = open_debits(self.env, live=True)
        self.assertEqual(expected[self.customer.id, self.company.id][0], 3)
        before = {c: risk_history(self.env, c, TODAY) for c in self.env["res.company"].search([])}
        self.assertEqual(before[self.company][self.customer.id][5], 2, "two open overdue")

        # A database of 19.0.1.4.0 whose balance rows do not count their open debits yet:
        # the module's update adds and fills them.
        self.env.cr.execute(
            SQL(
                "ALTER TABLE %s DROP COLUMN debit_count, DROP COLUMN debit_days",
                SQL.identifier(BALANCE_TABLE),
            )
        )
        self.env["collection.ledger"].init()
        self.assertEqual(open_debits(self.env), expected)
        self.assertEqual(
            {c: risk_history(self.env, c, TODAY) for c in before}, before, "after the update"
        )
        self.assertSumsFollowLedger()


def paid_customers(env):
    return {row[0] for row in paid_rows(env)}


@tagged("post_install", "-at_install")
class TestCollectionLedgerSumsConcurrency(LedgerSumsAsserts, TransactionCase):
    """Two accountants register payments on invoices of the same customer at the same
    moment, each in a transaction of its own: the customer's sums hold both payments (the
    second transaction waits for the first, fails to serialize and is retried as Odoo
    retries it), never only one.

    Separate database connections that see each other's committed work are needed, so
    the data is committed through cursors of its own and deleted afterwards."""

    def setUp(self):
        super().setUp()
        self.tag = uuid.uuid4().hex[:8]
        self.fixture = {}
        self.addCleanup(self._delete_fixture)
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            company = env.ref("base.main_company")
            journal = env["account.journal"].search(
                [("type", "=", "sale"), *env["account.journal"]._check_company_domain(company)],
                limit=1,
            )
            if not journal:
                self.skipTest("the main company has no chart of accounts")
            self.company_id = company.id
            partner = env["res.partner"].create(
                {"name": f"Concurrent Customer {self.tag}", "is_company": True}
            )
            self.fixture["partner_ids"] = partner.ids
            moves = env["account.move"].create(
                [
                    {
                        "move_type": "out_invoice",
                        "journal_id": journal.id,
                        "partner_id": partner.id,
                        "invoice_date": TODAY - timedelta(days=40),
                        "invoice_date_due": TODAY - timedelta(days=10),
                        "invoice_line_ids": [
                            Command.create({"name": "Goods", "price_unit": amount, "tax_ids": []})
                        ],
                    }
                    for amount in (100.0, 250.0, 400.0)
                ]
            )
            moves.action_post()
            self.fixture["move_ids"] = moves.ids
            # The priorities of the day (the worklist's order) are stored from now on.
            env["collection.ledger"]._priority_refresh()
            # Each accountant pays into a bank journal of their own: nothing but the
            # customer is shared between the two transactions.
            journals = env["account.journal"].create(
                [
                    {
                        "name": f"Bank {self.tag} {index}",
                        "type": "bank",
                        "code": f"B{index}{self.tag[:3].upper()}",
                        "company_id": company.id,
                    }
                    for index in (1, 2)
                ]
            )
            self.fixture["journal_ids"] = journals.ids

    def _delete_fixture(self):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            partners = env["res.partner"].browse(self.fixture.get("partner_ids", []))
            payments = env["account.payment"].search([("partner_id", "in", partners.ids)])
            moves = (
                env["account.move"].browse(self.fixture.get("move_ids", [])).exists()
                | payments.move_id
            )
            payments.action_draft()
            moves.filtered(lambda m: m.state == "posted").button_draft()
            payments.unlink()
            env["account.payment.register"].search([("partner_id", "in", partners.ids)]).unlink()
            moves.exists().with_context(force_delete=True).unlink()
            partners.unlink()
            env["account.journal"].browse(self.fixture.get("journal_ids", [])).unlink()

    def committed_figures(self):
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            company = env["res.company"].browse(self.company_id)
            partner_id = self.fixture["partner_ids"][0]
            self.assertSumsFollowLedger(env)
            return figures(env, company, TODAY).get(partner_id, (0, 0, None))[:2]

    def pay(self, env, move_id, journal_id):
        """Pay the invoice in full through the Register Payment wizard, into the journal
        ``journal_id``."""
        move = env["account.move"].browse(move_id)
        env["account.payment.register"].with_context(
            active_model="account.move", active_ids=move.ids
        ).create({"payment_date": TODAY, "journal_id": journal_id})._create_payments()
        env.flush_all()

    def test_concurrent_payments_on_the_same_customer(self):
        self.assertEqual(self.committed_figures(), (750.0, 750.0))
        first_id, second_id, _third_id = self.fixture["move_ids"]
        first_journal, second_journal = self.fixture["journal_ids"]
        attempts, errors = [], []
        first_paid = threading.Event()

        def second_accountant():
            try:
                with self.registry.cursor() as cr:
                    env = api.Environment(cr, SUPERUSER_ID, {})
                    first_paid.wait(30)

                    def pay():
                        attempts.append(time.monotonic())
                        self.pay(env, second_id, second_journal)

                    # The first attempt's failing statement is logged by the cursor
                    # before Odoo retries it: expected here.
                    with mute_logger("odoo.sql_db"):
                        retrying(pay, env)
            except Exception as e:
                errors.append(repr(e))

        # The test runner holds the lock of the registries while it runs the tests: the
        # second accountant's thread uses the loaded registry without it.
        with patch.object(Registry, "_lock", DummyRLock()):
            worker = threading.Thread(target=second_accountant)
            worker.start()
            with self.registry.cursor() as cr:
                env = api.Environment(cr, SUPERUSER_ID, {})
                self.pay(env, first_id, first_journal)
                # The second accountant pays before the first commits: their transaction
                # writes the same customer's sums and waits for the first.
                first_paid.set()
                time.sleep(2.0)
            worker.join(timeout=120)
        self.assertFalse(worker.is_alive(), "the second accountant is stuck")
        self.assertFalse(errors)
        # Both payments count: 400 still due, the third invoice, and two invoices in the
        # paid history the risk score reads.
        self.assertEqual(self.committed_figures(), (400.0, 400.0))
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            company = env["res.company"].browse(self.company_id)
            history = risk_history(env, company, TODAY)[self.fixture["partner_ids"][0]]
            self.assertEqual(history[:2], (2, 2), "both invoices paid, both late")
        self.assertEqual(
            len(attempts), 2, "the second payment was retried after the first committed"
        )
        # The worklist's stored priority counts both payments too (committed_figures
        # compared every stored priority with the journal items): the page reads it.
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            company = env["res.company"].browse(self.company_id)
            partner = env["res.partner"].with_company(company).browse(self.fixture["partner_ids"])
            self.assertTrue(
                env["collection.ledger"]._priority_stored(company, partner._collection_today())
            )
            self.assertEqual(
                partner.collection_priority,
                live_priorities(env, company, partner._collection_today(), partner.ids)[partner.id],
            )
            self.assertGreater(partner.collection_priority, 0)
