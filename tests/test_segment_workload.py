from datetime import date

from odoo import Command
from odoo.tests import tagged

from .common import TODAY, CollectionCommon, on_day


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestSegmentWorkload(CollectionCommon):
    """A segment with several collectors gives each new customer to the one with the
    lightest open workload. Carla is in charge of Old One (1000 overdue), Diego of Old
    Two (300 overdue); Eva of nobody yet."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.diego = cls.make_user(
            "diego", "account_collection.group_collection_user", name="Diego Collector"
        )
        cls.eva = cls.make_user("eva", "account_collection.group_collection_user", name="Eva")
        Partner = cls.env["res.partner"]
        cls.old_one = Partner.create(
            {"name": "Old One", "is_company": True, "collection_user_id": cls.collector.id}
        )
        cls.old_two = Partner.create(
            {"name": "Old Two", "is_company": True, "collection_user_id": cls.diego.id}
        )
        cls.invoice(cls.old_one, 1000, date(2026, 2, 1))
        cls.invoice(cls.old_two, 300, date(2026, 2, 1))
        policy = cls.env["collection.policy"].create(
            {"name": "Shared", "company_id": cls.company.id, "mode": "review"}
        )
        cls.segment = cls.env["collection.segment"].create(
            {
                "name": "Shared portfolio",
                "domain": "[('name', 'ilike', 'New')]",
                "policy_id": policy.id,
                "user_ids": [Command.set((cls.collector + cls.diego + cls.eva).ids)],
            }
        )

    def collector_of(self, partner):
        partner = partner.with_company(self.company)
        partner.invalidate_recordset()
        return partner.collection_user_id

    def new_customer(self, name, overdue=0.0):
        partner = self.env["res.partner"].create({"name": name, "is_company": True})
        if overdue:
            self.invoice(partner, overdue, date(2026, 2, 1))
        return partner

    def test_new_customer_goes_to_the_lightest_overdue_amount(self):
        # Eva owes nothing: hers.
        first = self.new_customer("New First")
        self.assertEqual(self.collector_of(first), self.eva)
        # Now Eva's customer owes 2000: Diego (300) is the lightest.
        self.invoice(first, 2000, date(2026, 2, 1))
        second = self.new_customer("New Second")
        self.assertEqual(self.collector_of(second), self.diego)
        # Customers who had a collector keep theirs.
        self.assertEqual(self.collector_of(self.old_one), self.collector)
        self.assertEqual(self.collector_of(self.old_two), self.diego)

    def test_a_batch_is_spread_largest_debts_first(self):
        """The nightly assignment of three customers without a collector, owing 900, 500
        and 100: 900 to Eva (0), 500 to Diego (300), then 100 to Diego (800 < Carla's
        1000 and Eva's 900)."""
        # Created outside the segment's rule, renamed into it by hand in SQL (as an
        # import would leave them), then assigned by the nightly job.
        customers = [
            self.new_customer(name, amount)
            for name, amount in (("Big", 900), ("Mid", 500), ("Small", 100))
        ]
        self.assertFalse(any(self.collector_of(c) for c in customers))
        for customer in customers:
            self.env.cr.execute(
                "UPDATE res_partner SET name = %s WHERE id = %s",
                [f"New {customer.name}", customer.id],
            )
        self.env.invalidate_all()
        self.env["collection.segment"]._cron_assign_segments()
        self.assertEqual(
            [self.collector_of(c) for c in customers], [self.eva, self.diego, self.diego]
        )

    def test_balance_by_number_of_customers(self):
        """By count, three new customers owing nothing: Eva (no customer) gets the
        first; then all have one, and the tie goes to the lower overdue amount: Eva's (0)
        again; then Diego (1 customer, 300) before Carla (1, 1000) and Eva (2)."""
        self.segment.balance_by = "count"
        first, second, third = self.env["res.partner"].create(
            [{"name": f"New {i}", "is_company": True} for i in range(3)]
        )
        self.assertEqual(
            [self.collector_of(p) for p in (first, second, third)],
            [self.eva, self.eva, self.diego],
        )

    def test_the_single_collector_wins(self):
        self.segment.user_id = self.collector
        self.assertEqual(self.collector_of(self.new_customer("New Fixed")), self.collector)
