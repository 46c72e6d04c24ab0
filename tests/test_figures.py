from psycopg2 import IntegrityError

from odoo import Command
from odoo.tests import new_test_user, tagged
from odoo.tools import format_amount, mute_logger

from .common import TODAY, CollectionCommon, day, on_day


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionFigures(CollectionCommon):
    """The figures a collector reads on a customer and an invoice follow the posted
    ledger of the current company, in company currency, at once and in SQL."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.eur = cls.setup_other_currency("EUR")
        cls.company_2 = cls.setup_other_company()["company"]
        cls.collector_both = new_test_user(
            cls.env,
            login="collector_both",
            name="Bruno Both Companies",
            groups="account_collection.group_collection_user",
            company_id=cls.company.id,
            company_ids=[Command.set((cls.company + cls.company_2).ids)],
        )
        cls.Bucket = cls.env["collection.aging.bucket"]
        cls.buckets = cls.Bucket.search([("company_id", "=", cls.company.id)])
        cls.bucket_by_start = {bucket.days_from: bucket for bucket in cls.buckets}

    @classmethod
    def new_customer(cls, name, **vals):
        return cls.env["res.partner"].create({"name": name, "is_company": True, **vals})

    def as_collector(self, records):
        return records.with_user(self.collector)

    def bucket(self, days_from):
        return self.bucket_by_start[days_from]

    def receivable_line(self, move):
        return move.line_ids.filtered(lambda line: line.account_type == "asset_receivable")

    def assertFigures(self, partner, overdue, due, days, bucket):
        self.assertRecordValues(
            partner,
            [
                {
                    "collection_overdue_amount": overdue,
                    "collection_due_amount": due,
                    "collection_days_overdue": days,
                    "collection_bucket_id": bucket.id if bucket else False,
                }
            ],
        )

    # ------------------------------------------------------------------
    # Amounts
    # ------------------------------------------------------------------

    def test_overdue_and_not_due_invoices(self):
        self.invoice(self.customer, 1000.0, day(-45))
        self.invoice(self.customer, 300.0, day(-10))
        self.invoice(self.customer, 500.0, day(20))
        # Due today is not overdue yet.
        self.invoice(self.customer, 50.0, TODAY)

        customer = self.as_collector(self.customer)
        self.assertFigures(customer, 1300.0, 1850.0, 45, self.bucket(31))
        self.assertEqual(customer.collection_oldest_due_date, day(-45))

    def test_partial_and_full_payment_show_at_once(self):
        invoice = self.invoice(self.customer, 1000.0, day(-20))
        customer = self.as_collector(self.customer)
        self.assertFigures(customer, 1000.0, 1000.0, 20, self.bucket(1))

        self.pay(invoice, 400.0)
        self.assertFigures(customer, 600.0, 600.0, 20, self.bucket(1))

        self.pay(invoice)
        self.assertEqual(invoice.payment_state, "paid")
        self.assertFigures(customer, 0.0, 0.0, 0, False)
        self.assertFalse(customer.collection_oldest_due_date)

    def test_reconciled_credit_note(self):
        invoice = self.invoice(self.customer, 1000.0, day(-20))
        credit_note = self.invoice(self.customer, 300.0, day(-20), move_type="out_refund")
        customer = self.as_collector(self.customer)
        self.assertFigures(customer, 1000.0, 700.0, 20, self.bucket(1))

        # The accountant matches the credit note with the invoice.
        invoice.js_assign_outstanding_line(self.receivable_line(credit_note).id)
        self.assertEqual(invoice.amount_residual, 700.0)
        self.assertFigures(customer, 700.0, 700.0, 20, self.bucket(1))

    def test_unreconciled_credits_reduce_due_not_overdue(self):
        self.invoice(self.customer, 1000.0, day(-20))
        self.invoice(self.customer, 400.0, day(10))
        customer = self.as_collector(self.customer)
        self.assertFigures(customer, 1000.0, 1400.0, 20, self.bucket(1))

        # Money received on account and a credit note, neither matched with an invoice.
        self.customer_payment(self.customer, 250.0, day(-2))
        self.invoice(self.customer, 100.0, day(-5), move_type="out_refund")
        self.assertFigures(customer, 1000.0, 1050.0, 20, self.bucket(1))

    def test_foreign_currency_counts_in_company_currency(self):
        self.assertNotEqual(self.company.currency_id, self.eur)
        invoice = self.invoice(self.customer, 1000.0, day(-20), currency=self.eur)
        line = self.receivable_line(invoice)
        # 2 EUR for 1 company-currency unit: the ledger holds 500 in company currency.
        self.assertRecordValues(
            line, [{"amount_residual_currency": 1000.0, "amount_residual": 500.0}]
        )
        customer = self.as_collector(self.customer)
        self.assertFigures(customer, 500.0, 500.0, 20, self.bucket(1))
        self.assertEqual(customer.collection_currency_id, self.company.currency_id)

    def test_two_companies(self):
        self.invoice(self.customer, 1000.0, day(-20))
        invoice_2 = self.invoice(self.customer, 700.0, day(-100), company=self.company_2)
        self.assertEqual(invoice_2.company_id, self.company_2)

        customer = self.customer.with_user(self.collector_both)
        self.assertFigures(customer, 1000.0, 1000.0, 20, self.bucket(1))

        customer_2 = customer.with_company(self.company_2)
        buckets_2 = self.Bucket.search([("company_id", "=", self.company_2.id)])
        self.assertEqual(buckets_2.mapped("days_from"), [0, 1, 31, 61, 91, 121])
        self.assertFigures(
            customer_2, 700.0, 700.0, 100, buckets_2.filtered(lambda b: b.days_from == 91)
        )

    def test_no_followup_never_overdue(self):
        excluded = self.invoice(self.customer, 1000.0, day(-40))
        excluded.no_followup = True
        self.invoice(self.customer, 200.0, day(-5))

        customer = self.as_collector(self.customer)
        self.assertFigures(customer, 200.0, 1200.0, 5, self.bucket(1))
        self.assertEqual(self.as_collector(excluded).collection_days_overdue, 0)

    def test_draft_and_cancelled_moves_never_count(self):
        self.invoice(self.customer, 1000.0, day(-20), post=False)
        cancelled = self.invoice(self.customer, 500.0, day(-30))
        cancelled.button_draft()
        cancelled.button_cancel()
        self.assertEqual(cancelled.state, "cancel")

        customer = self.as_collector(self.customer)
        self.assertFigures(customer, 0.0, 0.0, 0, False)
        self.assertFalse(
            self.env["res.partner"].search(
                [("id", "=", self.customer.id), ("collection_due_amount", "!=", 0)]
            )
        )

    def test_child_contacts_roll_up(self):
        contact = self.env["res.partner"].create(
            {"name": "Ann Accounts", "parent_id": self.customer.id, "type": "invoice"}
        )
        self.invoice(contact, 400.0, day(-70))
        self.invoice(self.customer, 100.0, day(-10))

        customer = self.as_collector(self.customer)
        self.assertFigures(customer, 500.0, 500.0, 70, self.bucket(61))
        found = self.env["res.partner"].search(
            [("id", "in", (self.customer + contact).ids), ("collection_days_overdue", ">", 60)]
        )
        self.assertEqual(found, self.customer)

    def test_days_overdue_roll_over_with_the_date(self):
        invoice = self.invoice(self.customer, 1000.0, day(-10))
        customer = self.as_collector(self.customer)
        self.assertFigures(customer, 1000.0, 1000.0, 10, self.bucket(1))
        self.assertEqual(self.as_collector(invoice).collection_days_overdue, 10)
        write_dates = (self.customer.write_date, invoice.write_date)

        # Same ledger, read 25 days later (a new request: nothing cached, nothing written).
        self.env.invalidate_all()
        with on_day(day(25)):
            self.assertFigures(customer, 1000.0, 1000.0, 35, self.bucket(31))
            self.assertRecordValues(
                self.as_collector(invoice),
                [{"collection_days_overdue": 35, "collection_bucket_id": self.bucket(31).id}],
            )
            self.assertEqual(
                self.env["res.partner"].search(
                    [("id", "=", self.customer.id), ("collection_days_overdue", ">", 30)]
                ),
                self.customer,
            )
        self.assertEqual((self.customer.write_date, invoice.write_date), write_dates)

    # ------------------------------------------------------------------
    # Invoices
    # ------------------------------------------------------------------

    def test_invoice_figures(self):
        late = self.invoice(self.customer, 1000.0, day(-45))
        not_due = self.invoice(self.customer, 300.0, day(5))
        paid = self.invoice(self.customer, 200.0, day(-45))
        self.pay(paid)
        partly_paid = self.invoice(self.customer, 500.0, day(-95))
        self.pay(partly_paid, 100.0)
        moves = self.as_collector(late + not_due + paid + partly_paid)
        self.assertRecordValues(
            moves,
            [
                {"collection_days_overdue": 45, "collection_bucket_id": self.bucket(31).id},
                {"collection_days_overdue": 0, "collection_bucket_id": self.bucket(0).id},
                {"collection_days_overdue": 0, "collection_bucket_id": False},
                {"collection_days_overdue": 95, "collection_bucket_id": self.bucket(91).id},
            ],
        )
        Move = self.as_collector(self.env["account.move"])
        self.assertEqual(
            Move.search([("id", "in", moves.ids), ("collection_days_overdue", ">", 30)]),
            late + partly_paid,
        )
        self.assertEqual(
            Move.search(
                [("id", "in", moves.ids), ("collection_bucket_id", "=", self.bucket(0).id)]
            ),
            not_due,
        )

    # ------------------------------------------------------------------
    # Aging buckets
    # ------------------------------------------------------------------

    def test_default_buckets(self):
        buckets = self.as_collector(self.buckets)
        self.assertRecordValues(
            buckets,
            [
                {"name": "Not due", "days_from": 0, "days_to": 0},
                {"name": "1-30 days", "days_from": 1, "days_to": 30},
                {"name": "31-60 days", "days_from": 31, "days_to": 60},
                {"name": "61-90 days", "days_from": 61, "days_to": 90},
                {"name": "91-120 days", "days_from": 91, "days_to": 120},
                {"name": "Over 120 days", "days_from": 121, "days_to": False},
            ],
        )

    def test_bucket_of_the_oldest_item_and_aging(self):
        self.invoice(self.customer, 1000.0, day(-45))
        self.invoice(self.customer, 300.0, day(-10))
        self.invoice(self.customer, 150.0, day(-200))
        self.invoice(self.customer, 500.0, day(20))
        self.invoice(self.customer, 80.0, day(10), move_type="out_refund")

        customer = self.as_collector(self.customer)
        self.assertFigures(customer, 1450.0, 1870.0, 200, self.bucket(121))
        aging = customer._collection_aging()[self.customer.id]
        self.assertEqual(
            {bucket.days_from: amount for bucket, amount in aging.items()},
            {0: 420.0, 1: 300.0, 31: 1000.0, 121: 150.0},
        )
        html = str(customer.collection_aging_html)
        currency = self.company.currency_id
        for name in ("Not due", "1-30 days", "31-60 days", "Over 120 days", "Total"):
            self.assertIn(name, html)
        for amount in (420.0, 300.0, 1000.0, 150.0, 1870.0):
            self.assertIn(format_amount(self.env, amount, currency), html)

    def test_changed_bucket_configuration(self):
        self.invoice(self.customer, 1000.0, day(-45))
        customer = self.as_collector(self.customer)
        self.assertEqual(customer.collection_bucket_id, self.bucket(31))

        # The manager moves the start of the second-month bucket to day 50.
        self.bucket(31).with_user(self.collection_manager).days_from = 50
        self.env.invalidate_all()
        self.assertEqual(self.bucket(1).days_to, 49)
        self.assertEqual(customer.collection_bucket_id, self.bucket(1))
        self.assertEqual(
            self.env["res.partner"].search(
                [("id", "=", self.customer.id), ("collection_bucket_id", "=", self.bucket(1).id)]
            ),
            self.customer,
        )

    def test_bucket_start_unique_per_company(self):
        Bucket = self.Bucket.with_user(self.collection_manager)
        with mute_logger("odoo.sql_db"), self.assertRaises(IntegrityError), self.cr.savepoint():
            Bucket.create({"name": "Two months", "days_from": 61, "company_id": self.company.id})
        # Another company may start a bucket on that day (its defaults do).
        starting_61 = self.Bucket.sudo().search(
            [("days_from", "=", 61), ("company_id", "in", (self.company + self.company_2).ids)]
        )
        self.assertEqual(starting_61.company_id, self.company + self.company_2)

    # ------------------------------------------------------------------
    # The worklist, in SQL
    # ------------------------------------------------------------------

    def _worklist_book(self):
        """Five customers a collector would rank by hand:
        - refusing: 1,000 100 days late and refusing to pay: 1000 x (1 + 100/30) x 1.5 = 6,500
        - old: 1,000 60 days late: 1000 x (1 + 60/30) = 3,000
        - recent: 2,000 5 days late: 2000 x (1 + 5/30) = 2,333
        - not_due: 500 not due yet: 0
        - settled: everything paid: 0
        """
        book = {
            name: self.new_customer(name)
            for name in ("refusing", "old", "recent", "not_due", "settled")
        }
        self.invoice(book["refusing"], 1000.0, day(-100))
        self.invoice(book["old"], 1000.0, day(-60))
        self.invoice(book["recent"], 2000.0, day(-5))
        self.invoice(book["not_due"], 500.0, day(10))
        self.pay(self.invoice(book["settled"], 800.0, day(-30)))
        self.as_collector(book["refusing"])._collection_set_status("refusal")
        return book

    def test_worklist_search_order_and_group_in_sql(self):
        book = self._worklist_book()
        partners = self.env["res.partner"].concat(*book.values())
        Partner = self.as_collector(self.env["res.partner"])
        mine = [("id", "in", partners.ids)]

        self.assertEqual(
            Partner.search([*mine, ("collection_days_overdue", ">", 90)]), book["refusing"]
        )
        self.assertEqual(
            set(Partner.search([*mine, ("collection_overdue_amount", ">=", 1000)]).mapped("name")),
            {"refusing", "old", "recent"},
        )
        self.assertEqual(
            set(Partner.search([*mine, ("collection_overdue_amount", "=", 0)]).mapped("name")),
            {"not_due", "settled"},
        )
        self.assertEqual(
            Partner.search([*mine, ("collection_bucket_id", "=", self.bucket(31).id)]),
            book["old"],
        )
        self.assertEqual(
            Partner.search([*mine, ("collection_bucket_id", "=", False)]), book["settled"]
        )

        self.assertRecordValues(
            self.as_collector(book["refusing"] + book["old"] + book["recent"]),
            [
                {"collection_priority": 6500.0},
                {"collection_priority": 3000.0},
                {"collection_priority": 2333.0},
            ],
        )
        ranked = Partner.search(mine, order="collection_priority desc, id")
        self.assertEqual(ranked.mapped("name")[:3], ["refusing", "old", "recent"])

        groups = Partner._read_group(
            mine, ["collection_bucket_id"], ["collection_overdue_amount:sum", "__count"]
        )
        self.assertEqual(
            {
                bucket.days_from if bucket else None: (total, count)
                for bucket, total, count in groups
            },
            {
                0: (0.0, 1),  # not_due
                1: (2000.0, 1),  # recent
                31: (1000.0, 1),  # old
                91: (1000.0, 1),  # refusing
                None: (0.0, 1),  # settled
            },
        )

    def test_worklist_pivot_and_graph_measures_aggregate(self):
        """The pivot and graph views of the worklist ask the field definitions for the
        aggregate of each measure, then group with it: the figures offer their
        aggregate, and the grouped totals are the sums the list shows."""
        book = self._worklist_book()
        partners = self.env["res.partner"].concat(*book.values())
        Partner = self.as_collector(self.env["res.partner"])
        described = Partner.fields_get(
            ["collection_overdue_amount", "collection_due_amount", "collection_days_overdue"],
            ["aggregator"],
        )
        self.assertEqual(
            {fname: desc.get("aggregator") for fname, desc in described.items()},
            {
                "collection_overdue_amount": "sum",
                "collection_due_amount": "sum",
                "collection_days_overdue": "max",
            },
        )
        # What the pivot asks for a monetary measure: the sum, the currencies and the
        # sum in the company's currency.
        groups = Partner.formatted_read_group(
            [("id", "in", partners.ids)],
            ["collection_status"],
            [
                "__count",
                "collection_overdue_amount:sum",
                "collection_currency_id:array_agg_distinct",
                "collection_overdue_amount:sum_currency",
                "collection_due_amount:sum",
                "collection_days_overdue:max",
            ],
        )
        totals = {
            group["collection_status"]: (
                group["__count"],
                group["collection_overdue_amount:sum"],
                group["collection_overdue_amount:sum_currency"],
                group["collection_due_amount:sum"],
                group["collection_days_overdue:max"],
                group["collection_currency_id:array_agg_distinct"],
            )
            for group in groups
        }
        currency = [self.company.currency_id.id]
        self.assertEqual(
            totals,
            {
                # old, recent, not_due and settled
                "current": (4, 3000.0, 3000.0, 3500.0, 60, currency),
                "refusal": (1, 1000.0, 1000.0, 1000.0, 100, currency),
            },
        )

    def test_worklist_action_lists_customers_with_something_due(self):
        book = self._worklist_book()
        # Only a credit note, not matched yet: the company owes the customer.
        book["credit"] = self.new_customer("credit")
        self.invoice(book["credit"], 200.0, day(-5), move_type="out_refund")
        # Only an excluded invoice: still due, never overdue.
        book["excluded"] = self.new_customer("excluded")
        self.invoice(book["excluded"], 300.0, day(-50)).no_followup = True
        partners = self.env["res.partner"].concat(*book.values())

        action = self.as_collector(self.env["res.partner"]).action_collection_worklist()
        self.assertEqual(action["res_model"], "res.partner")
        found = self.as_collector(self.env["res.partner"]).search(
            [("id", "in", partners.ids)] + action["domain"]
        )
        self.assertEqual(
            set(found.mapped("name")), {"refusing", "old", "recent", "not_due", "excluded"}
        )

    def test_reading_figures_costs_the_same_for_3_or_30_customers(self):
        customers = self.env["res.partner"].create(
            [{"name": f"Customer {i}", "is_company": True} for i in range(33)]
        )
        moves = self.env["account.move"].create(
            [
                {
                    "move_type": "out_invoice",
                    "partner_id": customer.id,
                    "invoice_date": day(-40 - i),
                    "invoice_date_due": day(-10 - i),
                    "invoice_line_ids": [
                        Command.create({"name": "Goods", "price_unit": 100.0, "tax_ids": []})
                    ],
                }
                for i, customer in enumerate(customers)
            ]
        )
        moves.action_post()

        figures = []

        def read_figures(partners):
            self.env.invalidate_all()
            partners = self.as_collector(partners)
            count_before = self.env.cr.sql_log_count
            for partner in partners:
                figures.append(
                    (
                        partner.collection_overdue_amount,
                        partner.collection_due_amount,
                        partner.collection_days_overdue,
                        partner.collection_bucket_id.name,
                        partner.collection_priority,
                        partner.collection_aging_html,
                    )
                )
            return self.env.cr.sql_log_count - count_before

        read_figures(customers[:3])  # warm the caches of the registry
        three = read_figures(customers[3:6])
        thirty = read_figures(customers[3:])
        self.assertEqual(three, thirty)
        self.assertEqual(len(figures), 36)
        self.assertEqual({values[0] for values in figures}, {100.0})
        self.assertEqual(
            sum(self.as_collector(customers[3:]).mapped("collection_overdue_amount")), 3000.0
        )
        self.assertEqual(self.as_collector(customers[32]).collection_days_overdue, 42)
