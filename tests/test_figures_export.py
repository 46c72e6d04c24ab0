from odoo import Command
from odoo.tests import new_test_user, tagged

from .common import TODAY, CollectionCommon, day, on_day

# The figures' columns of an export of the worklist, and what they show.
EXPORTED = [
    "name",
    "collection_overdue_amount",
    "collection_due_amount",
    "collection_days_overdue",
    "collection_oldest_due_date",
    "collection_bucket_id",
    "collection_broken_promise_count",
    "collection_priority",
    "collection_currency_id",
]


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionFiguresExport(CollectionCommon):
    """Exporting the worklist, or reading the figures of many customers at once, shows
    the figures the customer's form shows: of the current company, in its currency,
    for the customers the collector may see, up to date within the transaction."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.eur = cls.setup_other_currency("EUR")
        cls.company_2 = cls.setup_other_company()["company"]
        (cls.company + cls.company_2).collection_portfolio_restricted = True
        # A collector of both companies, restricted to their portfolio, who may export.
        cls.carla = new_test_user(
            cls.env,
            login="carla_exports",
            name="Carla Exports",
            groups="account_collection.group_collection_user,base.group_allow_export",
            company_id=cls.company.id,
            company_ids=[Command.set((cls.company + cls.company_2).ids)],
        )
        cls.other_collector = cls.make_user(
            "other_collector", "account_collection.group_collection_user"
        )
        Partner = cls.env["res.partner"]
        cls.late = Partner.create({"name": "Late Ltd", "is_company": True})
        cls.not_due = Partner.create({"name": "Not Due Ltd", "is_company": True})
        cls.elsewhere = Partner.create({"name": "Elsewhere Ltd", "is_company": True})
        for partner, collector in (
            (cls.late, cls.carla),
            (cls.not_due, cls.carla),
            (cls.elsewhere, cls.other_collector),
        ):
            partner.with_company(cls.company).collection_user_id = collector
        cls.late.with_company(cls.company_2).collection_user_id = cls.carla
        cls.not_due.with_company(cls.company_2).collection_user_id = cls.other_collector

        cls.late_invoice = cls.invoice(cls.late, 1000.0, day(-45))
        # 1,000 EUR at 2 EUR for 1 company-currency unit: 500 in company currency.
        cls.invoice(cls.late, 1000.0, day(-10), currency=cls.eur)
        cls.invoice(cls.late, 200.0, day(10))
        cls.invoice(cls.not_due, 400.0, day(5))
        cls.invoice(cls.elsewhere, 300.0, day(-20))
        cls.invoice(cls.late, 700.0, day(-100), company=cls.company_2)
        cls.invoice(cls.not_due, 900.0, day(-100), company=cls.company_2)

    def bucket_name(self, company, days_from):
        return (
            self.env["collection.aging.bucket"]
            .search([("company_id", "=", company.id), ("days_from", "=", days_from)])
            .display_name
        )

    def export_worklist(self, user, company):
        """What the worklist's *Export* of every row gives ``user`` in ``company``:
        {customer name: {column: exported value}}."""
        Partner = self.env["res.partner"].with_user(user).with_company(company)
        customers = Partner.search(Partner.action_collection_worklist()["domain"])
        rows = customers.export_data(EXPORTED)["datas"]
        self.assertEqual(len(rows), len(customers))
        return {row[0]: dict(zip(EXPORTED[1:], row[1:], strict=True)) for row in rows}

    def test_export_of_the_worklist_shows_the_figures_of_the_portfolio(self):
        currency = self.company.currency_id.display_name
        self.assertEqual(
            self.export_worklist(self.carla, self.company),
            {
                "Late Ltd": {
                    "collection_overdue_amount": 1500.0,
                    "collection_due_amount": 1700.0,
                    "collection_days_overdue": 45,
                    "collection_oldest_due_date": day(-45),
                    "collection_bucket_id": self.bucket_name(self.company, 31),
                    "collection_broken_promise_count": 0,
                    # 1,500 x (1 + 45 / 30)
                    "collection_priority": 3750.0,
                    "collection_currency_id": currency,
                },
                "Not Due Ltd": {
                    "collection_overdue_amount": 0.0,
                    "collection_due_amount": 400.0,
                    "collection_days_overdue": 0,
                    "collection_oldest_due_date": "",
                    "collection_bucket_id": self.bucket_name(self.company, 0),
                    "collection_broken_promise_count": 0,
                    "collection_priority": 0.0,
                    "collection_currency_id": currency,
                },
            },
        )
        # In the other company: its own ledger and portfolio.
        self.assertEqual(
            self.export_worklist(self.carla, self.company_2),
            {
                "Late Ltd": {
                    "collection_overdue_amount": 700.0,
                    "collection_due_amount": 700.0,
                    "collection_days_overdue": 100,
                    "collection_oldest_due_date": day(-100),
                    "collection_bucket_id": self.bucket_name(self.company_2, 91),
                    "collection_broken_promise_count": 0,
                    # 700 x (1 + 100 / 30)
                    "collection_priority": 3033.0,
                    "collection_currency_id": self.company_2.currency_id.display_name,
                },
            },
        )

    def test_export_and_read_match_the_figures_of_each_customer(self):
        """Read for all the customers at once (read(), the list's web_read, the export)
        or one customer at a time, the figures are the same."""
        Partner = self.env["res.partner"].with_user(self.carla)
        customers = Partner.browse((self.late + self.not_due + self.elsewhere).ids)
        figures = EXPORTED[1:-1]
        one_by_one = {}
        for customer in customers:
            self.env.invalidate_all()
            one_by_one[customer.id] = {fname: customer[fname] for fname in figures}
        self.env.invalidate_all()
        rows = customers.read(figures)
        bucket = "collection_bucket_id"
        self.assertEqual(
            {row["id"]: {f: row[f] for f in figures if f != bucket} for row in rows},
            {
                id_: {f: v for f, v in values.items() if f != bucket}
                for id_, values in one_by_one.items()
            },
        )
        self.assertEqual(
            {row["id"]: row[bucket] for row in rows},
            {
                id_: (values[bucket].id, values[bucket].display_name)
                for id_, values in one_by_one.items()
            },
        )
        self.assertEqual([list(row) for row in rows], [["id", *figures]] * 3)
        self.env.invalidate_all()
        listed = customers.web_read(
            {fname: {} for fname in figures} | {"collection_currency_id": {}}
        )
        self.assertEqual(
            {row["id"]: row["collection_due_amount"] for row in listed},
            {self.late.id: 1700.0, self.not_due.id: 400.0, self.elsewhere.id: 300.0},
        )
        self.assertEqual(
            {row["collection_currency_id"] for row in listed}, {self.company.currency_id.id}
        )

    def test_export_right_after_a_payment_shows_it(self):
        """A payment registered in the same transaction shows in the next export and
        read, also for the customers whose figures were read before it."""
        customers = (
            self.env["res.partner"].with_user(self.carla).browse((self.late + self.not_due).ids)
        )
        fields_ = ["name", "collection_overdue_amount", "collection_due_amount"]
        self.assertEqual(
            customers.export_data(fields_)["datas"],
            [["Late Ltd", 1500.0, 1700.0], ["Not Due Ltd", 0.0, 400.0]],
        )
        self.pay(self.late_invoice, 600.0)
        self.assertEqual(
            customers.export_data(fields_)["datas"],
            [["Late Ltd", 900.0, 1100.0], ["Not Due Ltd", 0.0, 400.0]],
        )
        self.assertEqual(
            [row["collection_overdue_amount"] for row in customers.read(fields_)], [900.0, 0.0]
        )
        self.pay(self.late_invoice)
        self.assertEqual(
            customers.export_data(fields_)["datas"],
            [["Late Ltd", 500.0, 700.0], ["Not Due Ltd", 0.0, 400.0]],
        )
