from odoo.tests import tagged
from odoo.tools import SQL

from ..models.collection_ledger import BALANCE_TABLE
from .common import TODAY, CollectionCommon, day, migration, on_day
from .test_ledger_sums import LedgerSumsAsserts


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionWorklistPriority(LedgerSumsAsserts, CollectionCommon):
    """The worklist reads its customers in priority order from the priority of the day
    kept on each customer's sums: a payment, a matching undone, a new status or a broken
    promise changes it in the same transaction, and a day that is not the stored one
    computes the priority when read, so the page's order and figures are always those of
    the journal items."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.other = cls.env["res.partner"].create({"name": "Beta Customer", "is_company": True})
        cls.customers = cls.customer | cls.other
        # A company already at work (an invoice not due yet): the scheduled action has
        # moved its priorities to today, new customers' rows take that day.
        cls.invoice(
            cls.env["res.partner"].create({"name": "Seed Customer", "is_company": True}),
            10.0,
            day(20),
        )
        cls.env["collection.ledger"]._priority_refresh()

    def page(self, user=None):
        """The worklist's first page as the collector's web client reads it: [(customer,
        priority)], highest priority first (the test's customers)."""
        # A new request: nothing read before in the cache (same transaction).
        self.env.invalidate_all()
        Partner = self.env["res.partner"].with_user(user or self.collector)
        action = Partner.action_collection_worklist()
        result = Partner.web_search_read(
            [*action["domain"], ("id", "in", self.customers.ids)],
            {"display_name": {}, "collection_priority": {}, "collection_overdue_amount": {}},
            limit=80,
            order="collection_priority DESC, id",
        )
        return [
            (record["display_name"], record["collection_priority"]) for record in result["records"]
        ]

    def stored(self, today=TODAY):
        return self.env["collection.ledger"]._priority_stored(self.company, today)

    def assertPage(self, expected, stored=True):
        """The page shows ``expected``, read from the stored priorities (``stored``) or
        computed when read, and the stored ones are those of the journal items."""
        self.assertEqual(self.stored(), stored, "the page reads the stored priorities")
        self.assertEqual(self.page(), expected)
        self.assertSumsFollowLedger()

    def test_payment_shows_on_the_next_page_in_the_same_transaction(self):
        invoice = self.invoice(self.customer, 1000.0, day(-30))
        self.invoice(self.customer, 500.0, day(10))
        self.invoice(self.other, 800.0, day(-30))
        # 1000 * (1 + 30 / 30) and 800 * 2.
        self.assertPage([("Acme Customer", 2000.0), ("Beta Customer", 1600.0)])
        self.pay(invoice, 600.0)
        self.assertPage([("Beta Customer", 1600.0), ("Acme Customer", 800.0)])
        payment = self.pay(invoice)
        # Nothing overdue, 500 due later.
        self.assertPage([("Beta Customer", 1600.0), ("Acme Customer", 0.0)])

        # The accountant undoes the matching: owed again, first again.
        payment.move_id.line_ids.filtered(
            lambda line: line.account_type == "asset_receivable"
        ).remove_move_reconcile()
        self.assertPage([("Beta Customer", 1600.0), ("Acme Customer", 800.0)])
        invoice.line_ids.filtered(
            lambda line: line.account_type == "asset_receivable"
        ).remove_move_reconcile()
        self.assertPage([("Acme Customer", 2000.0), ("Beta Customer", 1600.0)])

    def test_status_and_promises_change_the_priority(self):
        invoice = self.invoice(self.customer, 1000.0, day(-30))
        other_invoice = self.invoice(self.other, 1200.0, day(-30))
        self.assertPage([("Beta Customer", 2400.0), ("Acme Customer", 2000.0)])
        # Refusal to pay weighs 1.5.
        self.customer.with_company(self.company).collection_status = "refusal"
        self.assertPage([("Acme Customer", 3000.0), ("Beta Customer", 2400.0)])
        # A promise: the customer is Paying (0.5)...
        promise = self.log_promise(other_invoice, 1200.0, day(5))
        self.assertEqual(self.other.with_company(self.company).collection_status, "paying")
        self.assertPage([("Acme Customer", 3000.0), ("Beta Customer", 1200.0)])
        # ... broken, it counts twice (1 + one broken promise) at the same status.
        promise.sudo().write({"state": "broken", "date_closed": TODAY})
        self.assertPage([("Acme Customer", 3000.0), ("Beta Customer", 2400.0)])
        # Kept after all (a payment made in time, matched later): no longer counted.
        promise.sudo().write({"state": "kept"})
        self.assertPage([("Acme Customer", 3000.0), ("Beta Customer", 1200.0)])
        self.pay(invoice)
        self.assertPage([("Beta Customer", 1200.0)])

    def test_the_day_changing(self):
        self.invoice(self.customer, 1000.0, day(-2))
        self.invoice(self.other, 300.0, day(-2))
        self.invoice(self.other, 2000.0, day(5))
        # 1000 * (1 + 2 / 30) = 1067; 300 * (1 + 2 / 30) = 320.
        self.assertPage([("Acme Customer", 1067.0), ("Beta Customer", 320.0)])
        with on_day(day(10)):
            # The next day came before the scheduled action: the priorities are computed
            # when read, the invoice due on day 5 counted (2300 * (1 + 12 / 30)).
            self.assertFalse(self.stored(day(10)))
            self.assertEqual(self.page(), [("Beta Customer", 3220.0), ("Acme Customer", 1400.0)])
            cron = self.env.ref("account_collection.ir_cron_collection_refresh_priorities")
            self.assertEqual(cron.code, "model._cron_refresh_priorities()")
            self.env["collection.ledger"]._cron_refresh_priorities()
            self.assertTrue(self.stored(day(10)))
            self.assertEqual(self.page(), [("Beta Customer", 3220.0), ("Acme Customer", 1400.0)])
            self.assertSumsFollowLedger()
        # A user still on the day before reads it computed, the same as before.
        self.assertFalse(self.stored())
        self.assertEqual(self.page(), [("Acme Customer", 1067.0), ("Beta Customer", 320.0)])

    def test_the_risk_score_computes_the_priority_when_read(self):
        self.invoice(self.customer, 1000.0, day(-30))
        self.company.collection_priority_risk = True
        self.assertFalse(self.stored())
        self.assertEqual(self.page()[0][0], "Acme Customer")
        self.assertGreater(self.page()[0][1], 2000.0)

    def test_upgrade_fills_the_priorities(self):
        self.invoice(self.customer, 1000.0, day(-30))
        self.invoice(self.other, 800.0, day(-30))
        # A database of a version without them.
        self.env.cr.execute(
            SQL(
                "UPDATE %s SET priority = NULL, priority_date = NULL",
                SQL.identifier(BALANCE_TABLE),
            )
        )
        self.assertFalse(self.stored())
        self.assertEqual(self.page(), [("Acme Customer", 2000.0), ("Beta Customer", 1600.0)])
        migration("19.0.1.4.0", "post-worklist-priority").migrate(self.env.cr, "19.0.1.4.0")
        self.assertPage([("Acme Customer", 2000.0), ("Beta Customer", 1600.0)])

    def test_sums_rebuilt_from_scratch_keep_the_priorities_of_the_day(self):
        """Rebuilding the sums from the journal items (a new install, a migration's
        refill, a book written in SQL) leaves the priorities of today stored, so the
        worklist reads them in order at once, not only after the next hourly action."""
        self.invoice(self.customer, 1000.0, day(-30))
        self.invoice(self.other, 800.0, day(-30))
        self.env["collection.ledger"]._sums_rebuild()
        self.assertPage([("Acme Customer", 2000.0), ("Beta Customer", 1600.0)])
