from odoo.tests import tagged

from .common import TODAY, CollectionCommon, day, on_day


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionRisk(CollectionCommon):
    """A customer's risk score follows its own paid history and open cases, each factor
    explained in words, and the worklist filters, sorts and groups by it."""

    @classmethod
    def new_customer(cls, name, **vals):
        return cls.env["res.partner"].create({"name": name, "is_company": True, **vals})

    def three_payers(self):
        """A customer always 30 days late, one that got worse and one on time."""
        late = self.new_customer("Always Late")
        self.paid_history(late, {-300: 30, -200: 30, -100: 30, -50: 30})
        worse = self.new_customer("Got Worse")
        self.paid_history(worse, {-300: 0, -250: 0, -120: 40, -60: 40})
        on_time = self.new_customer("On Time")
        self.paid_history(on_time, {-300: 0, -200: 0})
        return late, worse, on_time

    def risk(self, customer):
        customer = customer.with_user(self.collector)
        return customer.collection_risk_score, customer.collection_risk_band

    def test_always_thirty_days_late(self):
        customer = self.new_customer("Always Late")
        self.paid_history(customer, {-300: 30, -200: 30, -100: 30, -50: 30})
        # 30 of 60 days' lateness: 15 points; every invoice late: 15 points.
        self.assertEqual(self.risk(customer), (30, "medium"))
        html = str(customer.with_user(self.collector).collection_risk_html)
        self.assertIn("Pays 30 days late on average.", html)
        self.assertIn("4 of 4 invoices paid in the last 12 months were paid late.", html)

    def test_always_on_time(self):
        customer = self.new_customer("On Time")
        self.paid_history(customer, {-300: 0, -200: 0, -100: 0, -50: 0})
        self.assertEqual(self.risk(customer), (0, "low"))
        self.assertIn("Pays on time.", str(customer.with_user(self.collector).collection_risk_html))

    def test_got_worse(self):
        customer = self.new_customer("Got Worse")
        self.paid_history(customer, {-300: 0, -250: 0, -120: 40, -60: 40})
        # 20 days late on average: 10 points; half late: 7.5; 40 days later than
        # before (saturates at 30): 10.
        self.assertEqual(self.risk(customer), (28, "medium"))
        self.assertIn(
            "Pays 20 days late on average, 40 days later than six months before.",
            str(customer.with_user(self.collector).collection_risk_html),
        )

    def test_paid_before_the_year_does_not_count(self):
        customer = self.new_customer("Long Ago")
        self.paid_history(customer, {-500: 60})
        self.assertEqual(self.risk(customer), (0, "low"))
        self.assertIn(
            "No invoice paid in the last 12 months.",
            str(customer.with_user(self.collector).collection_risk_html),
        )

    def test_exposure_oldest_item_and_cases(self):
        customer = self.new_customer("Over Limit")
        customer.credit_limit = 1000.0
        invoice = self.invoice(customer, 2000.0, day(-90))
        # Twice the credit limit: 10 points; 90 of 180 days overdue: 5 points. The open
        # invoice is at least 90 days late: lateness 90 of 60 days (saturates), 30 points;
        # the only invoice, late: 15 points.
        self.assertEqual(self.risk(customer), (60, "high"))
        self.env["collection.dispute"].with_user(self.collector).create(
            {
                "partner_id": customer.id,
                "move_ids": [(6, 0, invoice.ids)],
                "reason_id": self.env.ref(
                    "account_collection.collection_dispute_reason_wrong_price"
                ).id,
                "description": "The price is not the one agreed.",
            }
        )
        # One open dispute of two that saturate: 5 points.
        self.assertEqual(self.risk(customer), (65, "high"))
        html = str(customer.with_user(self.collector).collection_risk_html)
        self.assertIn("Owes 200% of its credit limit.", html)
        self.assertIn("1 disputes still open.", html)
        self.assertIn("Oldest overdue item 90 days past due.", html)
        self.assertIn("1 invoices still unpaid, 90 days late on average.", html)

    def test_worklist_filters_sorts_and_groups_by_risk(self):
        late, worse, on_time = self.three_payers()
        customers = late + worse + on_time
        Partner = self.env["res.partner"].with_user(self.collector)
        domain = [("id", "in", customers.ids)]
        self.assertEqual(
            Partner.search([*domain, ("collection_risk_band", "=", "medium")]), late + worse
        )
        self.assertEqual(
            Partner.search(domain, order="collection_risk_score desc").ids,
            [late.id, worse.id, on_time.id],
        )
        groups = dict(Partner._read_group(domain, ["collection_risk_band"], ["__count"]))
        self.assertEqual(groups, {"medium": 2, "low": 1})

    def test_risk_raises_the_priority_when_set(self):
        customer = self.new_customer("Over Limit")
        customer.credit_limit = 1000.0
        self.invoice(customer, 2000.0, day(-90))
        # 2000 overdue, 90 days: 2000 * (1 + 90 / 30).
        self.assertEqual(customer.with_user(self.collector).collection_priority, 8000)
        self.company.collection_priority_risk = True
        customer.invalidate_recordset()
        # Risk score 60 (exposure 10, oldest item 5, the open invoice 90 days late 30 and
        # late 15): 60% more.
        self.assertEqual(customer.with_user(self.collector).collection_priority, 12800)

    def test_unpaid_overdue_debt_counts_as_late(self):
        # Nothing paid, one invoice 200 days overdue: it is at least 200 days late.
        # Lateness 200 of 60 days (saturates): 30 points; every invoice late: 15; oldest
        # item 200 of 180 days (saturates): 10.
        customer = self.new_customer("Never Pays")
        self.invoice(customer, 1000.0, day(-200))
        self.assertEqual(self.risk(customer), (55, "high"))
        html = str(customer.with_user(self.collector).collection_risk_html)
        self.assertIn("No invoice paid in the last 12 months.", html)
        self.assertIn("1 invoices still unpaid, 200 days late on average.", html)
        self.assertNotIn("Pays", html)

    def test_paid_late_and_unpaid_overdue_explained_apart(self):
        # Paid 1000 ten days late; 1000 still open 50 days after its due date. Lateness
        # (1000 * 10 + 1000 * 50) / 2000 = 30 of 60 days: 15 points; both late: 15 points;
        # oldest item 50 of 180 days: 2.8 points.
        customer = self.new_customer("Late And Unpaid")
        self.paid_history(customer, {-100: 10})
        self.invoice(customer, 1000.0, day(-50))
        self.assertEqual(self.risk(customer), (33, "medium"))
        html = str(customer.with_user(self.collector).collection_risk_html)
        self.assertIn("Pays 10 days late on average.", html)
        self.assertIn("1 of 1 invoices paid in the last 12 months were paid late.", html)
        self.assertIn("1 invoices still unpaid, 50 days late on average.", html)

    def test_on_time_with_nothing_overdue_stays_low(self):
        # Paid on time, the open invoice not yet due: nothing late, nothing overdue.
        customer = self.new_customer("On Time, Open")
        self.paid_history(customer, {-100: 0})
        self.invoice(customer, 1000.0, day(20))
        self.assertEqual(self.risk(customer), (0, "low"))
        html = str(customer.with_user(self.collector).collection_risk_html)
        self.assertIn("Pays on time.", html)
        self.assertNotIn("still unpaid", html)

    def test_risk_of_many_customers_read_at_once_is_each_ones(self):
        """Read for many customers at once (the worklist's list, read(), the export),
        each customer's risk is the one its form shows, and a payment registered in the
        same transaction shows in the next read."""
        late, worse, on_time = self.three_payers()
        never = self.new_customer("Never Pays")
        never_invoice = self.invoice(never, 1000.0, day(-200))
        contact = self.env["res.partner"].create({"name": "Ann", "parent_id": late.id})
        collector = self.make_user(
            "exporting_collector",
            "account_collection.group_collection_user,base.group_allow_export",
        )
        customers = (late + worse + on_time + never + contact).with_user(collector)
        fnames = ["collection_risk_score", "collection_risk_band"]
        expected = {
            # the hand-computed scores of the tests above
            late.id: (30, "medium"),
            worse.id: (28, "medium"),
            on_time.id: (0, "low"),
            never.id: (55, "high"),
            # a contact's risk is its company's, read on the company
            contact.id: (0, "low"),
        }
        self.env.invalidate_all()
        rows = customers.read(fnames)
        self.assertEqual([list(row) for row in rows], [["id", *fnames]] * 5)
        self.assertEqual({row["id"]: tuple(row[f] for f in fnames) for row in rows}, expected)
        self.env.invalidate_all()
        listed = customers.web_read({fname: {} for fname in fnames})
        self.assertEqual({row["id"]: tuple(row[f] for f in fnames) for row in listed}, expected)
        self.env.invalidate_all()
        self.assertEqual(
            customers.with_context(import_compat=False).export_data(["name", *fnames])["datas"],
            [
                ["Always Late", 30, "Medium"],
                ["Got Worse", 28, "Medium"],
                ["On Time", 0, "Low"],
                ["Never Pays", 55, "High"],
                ["Ann", 0, "Low"],
            ],
        )
        # The form of one of them, after the list: its factors explained.
        self.assertIn("Pays 30 days late on average.", str(customers[0].collection_risk_html))
        # Paid today, 200 days late: lateness 200 of 60 days (saturates), 30 points; the
        # only invoice, paid late: 15 points; nothing overdue left.
        self.pay(never_invoice)
        rows = customers.read(fnames)
        self.assertEqual(
            {row["id"]: tuple(row[f] for f in fnames) for row in rows},
            expected | {never.id: (45, "medium")},
        )
        self.assertIn("Pays 200 days late on average.", str(customers[3].collection_risk_html))
