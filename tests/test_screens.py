from odoo.tests import tagged

from .common import TODAY, CollectionCommon, day, on_day


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionWorklistCards(CollectionCommon):
    """The worklist's cards per stage, as a collector opens them (on a phone they open
    first): every customer is in a stage, each column tells how many customers it holds
    and what they owe overdue."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.preventive = cls.env.ref("account_collection.collection_stage_preventive")
        cls.newcomer = cls.env["res.partner"].create({"name": "Newcomer Ltd", "is_company": True})

    def cards(self):
        Partner = self.env["res.partner"].with_user(self.collector).with_company(self.company)
        action = Partner.action_collection_worklist()
        return Partner.web_read_group(
            action["domain"],
            ["collection_stage_id"],
            ["__count", "collection_overdue_amount:sum"],
            auto_unfold=True,
            unfold_read_specification={"display_name": {}},
        )["groups"]

    def test_new_customer_is_in_the_first_stage(self):
        """A customer nobody moved yet is in the first stage (Preventive), not in a
        column of customers without a stage opening the cards."""
        self.invoice(self.newcomer, 400.0, day(-5))
        self.invoice(self.customer, 1000.0, day(-40))
        self.assertEqual(
            self.newcomer.with_company(self.company).collection_stage_id, self.preventive
        )
        groups = self.cards()
        self.assertTrue(all(group["collection_stage_id"] for group in groups), groups)
        first = groups[0]
        self.assertEqual(first["collection_stage_id"][0], self.preventive.id)
        self.assertEqual(first["__count"], 2)
        self.assertEqual(first["collection_overdue_amount:sum"], 1400.0)
        self.assertEqual(
            [r["display_name"] for r in first["__records"]], ["Acme Customer", "Newcomer Ltd"]
        )

    def test_analyses_read_the_first_stage(self):
        """The analyses group the customers nobody moved under the first stage too."""
        self.invoice(self.newcomer, 400.0, day(-5))
        Aged = self.env["collection.aged.receivable.report"].with_user(self.collector)
        aged = Aged.search([("partner_id", "=", self.newcomer.id)])
        self.assertEqual(aged.stage_id, self.preventive)
        Receivables = self.env["collection.receivable.report"].with_user(self.collector)
        rows = Receivables.search([("partner_id", "=", self.newcomer.id)])
        self.assertTrue(rows)
        self.assertEqual(rows.mapped("collection_stage_id"), self.preventive)

    def test_overdue_above_total_due_is_explained(self):
        """A payment received on account lowers the total due below the overdue amount;
        the card and the Collections tab say why."""
        self.invoice(self.customer, 1000.0, day(-40))
        self.invoice(self.customer, 200.0, day(10))
        self.customer_payment(self.customer, 600.0)
        customer = self.customer.with_user(self.collector).with_company(self.company)
        self.assertEqual(customer.collection_overdue_amount, 1000.0)
        self.assertEqual(customer.collection_due_amount, 600.0)
        for view in ("res_partner_view_kanban_collection", "res_partner_view_form_collection"):
            arch = self.env.ref(f"account_collection.{view}").arch
            self.assertIn("o_collection_unapplied_credit", arch)
            self.assertIn('invisible="collection_overdue_amount &lt;= collection_due_amount"', arch)
