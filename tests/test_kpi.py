from datetime import date, datetime

from odoo import Command, fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import tagged

from .common import TODAY, CollectionCommon, on_day

FEBRUARY = ("2026-02-01", "2026-02-28")


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionKpi(CollectionCommon):
    """The collection KPIs and the analyses behind them, against a small book whose
    figures are computed by hand below. Amounts in company currency, no taxes.

    Alpha (collector Carla):
        A0   250  invoice 2025-10-01, due 2025-10-31, never paid
        A1  1000  invoice 2025-11-10, due 2025-12-10; paid 400 on 2026-01-15, 300 on 2026-02-20
        A2   500  invoice 2026-02-10, due 2026-03-12
    Beta (collector Diego, tag "Key Account"):
        B1  2000  invoice 2025-11-20, due 2025-12-20; credit note 200 on 2026-01-20 matched
                  with it; paid 1800 on 2026-02-25
        B2   600  invoice 2026-01-05, due 2026-02-04
    December 2025: no activity at all.

    Receivables at each month's end (sum of the entries dated until then):
        Oct 250 | Nov 250+1000+2000 = 3250 | Dec 3250 | Jan 3250+600-400-200 = 3250
        Feb 3250+500-300-1800 = 1650
    Overdue at each month's end (what remained unpaid then of the items due before):
        Dec 31: A0 250 + A1 1000 + B1 2000 = 3250
        Jan 31: A0 250 + A1 (1000-400) 600 + B1 (2000-200) 1800 = 2650 (B2 due Feb 4)
        Feb 28: A0 250 + A1 300 + B2 600 = 1150 (B1 paid, A2 due Mar 12)
    Over 90 days (due more than 90 days before): Jan 31 and Feb 28: A0 250 (due Oct 31)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.collector_2 = cls.make_user(
            "collector_2", "account_collection.group_collection_user", name="Diego Collector"
        )
        cls.key_account = cls.env["res.partner.category"].create({"name": "Key Account"})
        cls.alpha = cls.env["res.partner"].create(
            {"name": "Alpha", "is_company": True, "collection_user_id": cls.collector.id}
        )
        cls.beta = cls.env["res.partner"].create(
            {
                "name": "Beta",
                "is_company": True,
                "collection_user_id": cls.collector_2.id,
                "category_id": [Command.set(cls.key_account.ids)],
            }
        )
        cls.build_book()

    @classmethod
    def receivable(cls, move):
        return move.line_ids.filtered(lambda line: line.account_type == "asset_receivable")

    @classmethod
    def promise(cls, user, invoice, amount, made, due):
        with on_day(made):
            return (
                cls.env["collection.promise"]
                .with_user(user)
                .create(
                    {
                        "partner_id": invoice.partner_id.id,
                        "move_ids": [Command.set(invoice.ids)],
                        "amount": amount,
                        "date": due,
                    }
                )
            )

    @classmethod
    def evaluate_promises(cls, day):
        """The daily check of the promises, on ``day``."""
        with on_day(day):
            cls.env["collection.promise"].search([])._collection_evaluate(day)

    @classmethod
    def log(cls, partner, user, when, status_after, status_before="current", **vals):
        """An interaction as a collection manager imports it, with its own date."""
        return (
            cls.env["collection.interaction"]
            .with_user(cls.collection_manager)
            .create(
                {
                    "partner_id": partner.id,
                    "user_id": user.id if user else False,
                    "date": when,
                    "channel": "call",
                    "status_before": status_before,
                    "status_after": status_after,
                    **vals,
                }
            )
        )

    @classmethod
    def raise_dispute(cls, user, invoice, day):
        """On ``day``, ``user`` logs a call in which the customer disputes ``invoice``."""
        with on_day(day):
            wizard = (
                cls.env["collection.interaction.log"]
                .with_user(user)
                .create(
                    {
                        "partner_id": invoice.partner_id.id,
                        "channel": "call",
                        "outcome": "dispute",
                        "move_ids": [Command.set(invoice.ids)],
                        "dispute_reason_id": cls.env.ref(
                            "account_collection.collection_dispute_reason_wrong_price"
                        ).id,
                    }
                )
            )
            wizard.action_confirm()
        return cls.env["collection.dispute"].search(
            [("move_ids", "in", invoice.ids)], order="id desc", limit=1
        )

    @classmethod
    def resolve_dispute(cls, user, dispute, day):
        with on_day(day):
            dispute = dispute.with_user(user)
            dispute.resolution = "rejected"
            dispute.action_resolve()

    @classmethod
    def build_book(cls):
        alpha, beta = cls.alpha, cls.beta
        # Invoices: dated 30 days before their due date.
        cls.a0 = cls.invoice(alpha, 250.0, date(2025, 10, 31))
        cls.a1 = cls.invoice(alpha, 1000.0, date(2025, 12, 10))
        cls.b1 = cls.invoice(beta, 2000.0, date(2025, 12, 20))
        cls.b2 = cls.invoice(beta, 600.0, date(2026, 2, 4))
        cls.a2 = cls.invoice(alpha, 500.0, date(2026, 3, 12))

        # January: a promise kept by a partial payment, a credit note, a dispute opened.
        cls.log(alpha, cls.collector, datetime(2026, 1, 10, 10, 0), "agreement", outcome="promise")
        cls.p0 = cls.promise(cls.collector, cls.a1, 400.0, date(2026, 1, 10), date(2026, 1, 15))
        with on_day(date(2026, 1, 15)):
            cls.pay(cls.a1, 400.0, date(2026, 1, 15))
        with on_day(date(2026, 1, 20)):
            cls.credit_note = cls.invoice(beta, 200.0, date(2026, 2, 19), move_type="out_refund")
            (cls.receivable(cls.credit_note) + cls.receivable(cls.b1)).reconcile()
        beta_dispute = cls.raise_dispute(cls.collector_2, cls.b1, date(2026, 1, 25))
        cls.p6 = cls.promise(cls.collector_2, cls.b2, 100.0, date(2026, 1, 28), date(2026, 2, 3))

        # February.
        cls.p2 = cls.promise(cls.collector_2, cls.b2, 600.0, date(2026, 2, 2), date(2026, 2, 10))
        cls.log(beta, cls.collector_2, datetime(2026, 2, 4, 10, 0), "dispute", "dispute")
        cls.p1 = cls.promise(cls.collector, cls.a1, 500.0, date(2026, 2, 5), date(2026, 2, 20))
        cls.evaluate_promises(date(2026, 2, 6))
        cls.resolve_dispute(cls.collector_2, beta_dispute, date(2026, 2, 9))
        alpha_dispute = cls.raise_dispute(cls.collector, cls.a0, date(2026, 2, 12))
        cls.p5 = cls.promise(cls.collector, cls.a1, 100.0, date(2026, 2, 12), date(2026, 2, 27))
        cls.evaluate_promises(date(2026, 2, 13))
        # An automatic reminder is no collector's contact and keeps the dispute going.
        cls.log(
            alpha,
            False,
            datetime(2026, 2, 14, 9, 0),
            "dispute",
            "dispute",
            channel="email",
            automatic=True,
        )
        with on_day(date(2026, 2, 14)):
            cls.p5.with_user(cls.collector).action_cancel()
        cls.p3 = cls.promise(cls.collector_2, cls.b1, 1800.0, date(2026, 2, 15), date(2026, 2, 24))
        cls.resolve_dispute(cls.collector, alpha_dispute, date(2026, 2, 18))
        with on_day(date(2026, 2, 20)):
            cls.pay(cls.a1, 300.0, date(2026, 2, 20))
        # Logged by mistake and archived by the manager: it is no evidence of anything.
        mistake = cls.log(
            beta, cls.collector_2, datetime(2026, 2, 20, 10, 0), "dispute", "negotiating"
        )
        mistake.with_user(cls.collection_manager).active = False
        cls.evaluate_promises(date(2026, 2, 23))
        with on_day(date(2026, 2, 25)):
            cls.pay(cls.b1, 1800.0, date(2026, 2, 25))
        cls.raise_dispute(cls.collector, cls.a0, date(2026, 2, 26))
        cls.evaluate_promises(date(2026, 2, 28))

    def kpis(self, user=None, period=FEBRUARY, **kwargs):
        Kpi = self.env["collection.kpi"].with_user(user or self.collection_manager)
        return Kpi.get_kpis(*period, **kwargs)

    def assertValues(self, values, expected):
        for key, value in expected.items():
            with self.subTest(key=key):
                if isinstance(value, float):
                    self.assertAlmostEqual(values[key], value, places=6)
                else:
                    self.assertEqual(values[key], value)

    # ------------------------------------------------------------------
    # The book itself
    # ------------------------------------------------------------------

    def test_book(self):
        """The book is what the figures below are computed from."""
        self.assertRecordValues(
            self.p0 + self.p6 + self.p2 + self.p1 + self.p5 + self.p3,
            [
                {"state": "kept", "amount_paid": 400.0, "date_closed": date(2026, 1, 15)},
                {"state": "broken", "amount_paid": 0.0, "date_closed": date(2026, 2, 6)},
                {"state": "broken", "amount_paid": 0.0, "date_closed": date(2026, 2, 13)},
                {"state": "partial", "amount_paid": 300.0, "date_closed": date(2026, 2, 23)},
                {"state": "cancelled", "amount_paid": 0.0, "date_closed": date(2026, 2, 14)},
                {"state": "kept", "amount_paid": 1800.0, "date_closed": date(2026, 2, 25)},
            ],
        )
        self.assertRecordValues(
            self.a0 + self.a1 + self.a2 + self.b1 + self.b2,
            [
                {"amount_residual": 250.0},
                {"amount_residual": 300.0},
                {"amount_residual": 500.0},
                {"amount_residual": 0.0},
                {"amount_residual": 600.0},
            ],
        )

    # ------------------------------------------------------------------
    # KPIs of a period and of the previous one
    # ------------------------------------------------------------------

    def test_ledger_kpis(self):
        kpis = self.kpis()
        self.assertValues(
            kpis,
            {
                "date_from": "2026-02-01",
                "date_to": "2026-02-28",
                "days": 28,
                "currency_id": self.company.currency_id.id,
                "ar_begin": 3250.0,  # at Jan 31
                "ar_end": 1650.0,
                "ar_end_overdue": 1150.0,
                "ar_end_current": 500.0,  # 1650 - 1150: A2, not due yet
                "ar_end_over_90": 250.0,
                "credit_sales": 500.0,  # A2
                "credit_notes": 0.0,
                "net_credit_sales": 500.0,
                # Payments matched in February: A1 300 + B1 1800.
                "recovered": 2100.0,
                # Countback from Feb 28: 1650 - Feb sales 500 = 1150 (28 days), - Jan 600 =
                # 550 (+31 = 59), Dec no sales (+31 = 90), Nov sales 3000 cover 550:
                # 550 / 3000 x 30 = 5.5 -> 95.5 days.
                "dso": 95.5,
                # Best possible DSO = current 500 / credit sales 500 x 28 days = 28.
                "best_possible_dso": 28.0,
                "add": 67.5,  # 95.5 - 28
                # CEI = (3250 + 500 - 1650) / (3250 + 500 - 500) = 2100 / 3250.
                "cei": 2100 / 3250 * 100,
                "overdue_share": 1150 / 1650 * 100,
                "over_90_share": 250 / 1650 * 100,
            },
        )

    def test_previous_period(self):
        """January: a credit note, a partial payment, no sales in December."""
        previous = self.kpis()["previous"]
        self.assertNotIn("previous", previous)
        self.assertValues(
            previous,
            {
                "date_from": "2026-01-01",
                "date_to": "2026-01-31",
                "days": 31,
                "ar_begin": 3250.0,  # at Dec 31, a month without any entry
                "ar_end": 3250.0,
                "ar_end_overdue": 2650.0,
                "ar_end_current": 600.0,  # B2, due Feb 4
                "ar_end_over_90": 250.0,
                "credit_sales": 600.0,
                "credit_notes": 200.0,
                "net_credit_sales": 400.0,
                # The credit note matched with B1 is no collection: only A1's 400.
                "recovered": 400.0,
                # 3250 - Jan 600 = 2650 (31 days), Dec nothing (62), Nov 3000 cover 2650:
                # 2650 / 3000 x 30 = 26.5 -> 88.5 days.
                "dso": 88.5,
                "best_possible_dso": 31.0,  # 600 / 600 x 31
                "add": 57.5,
                # CEI counts credit sales net of credit notes: (3250 + 400 - 3250) /
                # (3250 + 400 - 600) = 400 / 3050.
                "cei": 400 / 3050 * 100,
                "overdue_share": 2650 / 3250 * 100,
                "over_90_share": 250 / 3250 * 100,
                # Promises made in January: P0 400 and P6 100; falling due: P0, kept.
                "promises_made": 2,
                "promises_made_amount": 500.0,
                "promises_kept": 1,
                "promises_broken": 0,
                "kept_rate": 100.0,
                # Beta's dispute opened on Jan 25 and still open on Jan 31.
                "disputes": 1,
                "disputes_closed": 0,
                "dispute_cycle_days": None,
                "disputes_open": 1,
            },
        )

    def test_previous_period_rules(self):
        """Whole months compare with as many months before, from the 1st of a month to
        the same day a month before, otherwise as many days just before."""
        cases = [
            (("2026-03-01", "2026-03-16"), ("2026-02-01", "2026-02-16")),
            (("2026-01-01", "2026-03-31"), ("2025-10-01", "2025-12-31")),
            (("2026-02-10", "2026-02-19"), ("2026-01-31", "2026-02-09")),
        ]
        for period, (previous_from, previous_to) in cases:
            with self.subTest(period=period):
                previous = self.kpis(period=period)["previous"]
                self.assertEqual(
                    (previous["date_from"], previous["date_to"]), (previous_from, previous_to)
                )

    def test_promise_kpis(self):
        """Promises made in February: P2 600, P1 500, P3 1800 (P5 was cancelled).
        Falling due in February: P6 broken (100), P2 broken (600), P1 partly kept (500),
        P3 kept (1800): 1 kept out of 4 closed."""
        self.assertValues(
            self.kpis(),
            {
                "promises_made": 3,
                "promises_made_amount": 2900.0,
                "promises_kept": 1,
                "promises_kept_amount": 1800.0,
                "promises_partial": 1,
                "promises_partial_amount": 500.0,
                "promises_broken": 2,
                "promises_broken_amount": 700.0,
                "promises_open": 0,
                "kept_rate": 25.0,
            },
        )

    def test_dispute_kpis(self):
        """Opened in February: Alpha on Feb 12 (resolved Feb 18, 6 days) and on Feb 26
        (open). Resolved in February: Beta's (Jan 25 to Feb 9, 15 days) and Alpha's first.
        Interactions that put a customer in dispute without a dispute (the archived entry,
        the automatic reminder of Feb 14) open nothing."""
        self.assertValues(
            self.kpis(),
            {
                "disputes": 2,
                "disputes_closed": 2,
                "dispute_cycle_days": 10.5,  # (15 + 6) / 2
                "disputes_open": 1,
            },
        )

    def test_disputes_are_the_dispute_records(self):
        """An interaction that says "in dispute" is no dispute: only the disputes opened
        on invoices count."""
        gamma = self.env["res.partner"].create({"name": "Gamma", "is_company": True})
        self.invoice(gamma, 100.0, date(2026, 1, 31))
        self.log(gamma, self.collector, datetime(2026, 2, 10, 9, 0), "dispute", outcome="dispute")
        self.assertValues(self.kpis(), {"disputes": 2, "disputes_open": 1})
        rows = self.env["collection.dispute.report"].search([("partner_id", "=", gamma.id)])
        self.assertFalse(rows)

    def test_per_collector(self):
        """February. Carla: interactions Feb 12, 18 and 26; promise P1 (500), none of hers
        falling due was kept; A1's 300 on Feb 20 came 8 days after her call of Feb 12.
        Diego: Feb 4 and Feb 9 (the archived one does not count); P2 and P3 (2400); P3 kept;
        B1's 1800 on Feb 25 came within 30 days of his call of Feb 4."""
        self.assertEqual(
            self.kpis()["per_collector"],
            [
                {
                    "user_id": self.collector.id,
                    "name": "Carla Collector",
                    "interactions": 3,
                    "promises": 1,
                    "promises_amount": 500.0,
                    "promises_kept": 0,
                    "promises_kept_amount": 0.0,
                    "collected_after_contact": 300.0,
                },
                {
                    "user_id": self.collector_2.id,
                    "name": "Diego Collector",
                    "interactions": 2,
                    "promises": 2,
                    "promises_amount": 2400.0,
                    "promises_kept": 1,
                    "promises_kept_amount": 1800.0,
                    "collected_after_contact": 1800.0,
                },
            ],
        )
        # January: Carla called on Jan 10, obtained P0 (kept) and A1's 400 came on
        # Jan 15; Diego logged the dispute and obtained P6; Beta paid nothing.
        self.assertEqual(
            [
                (
                    row["name"],
                    row["interactions"],
                    row["promises"],
                    row["promises_kept"],
                    row["collected_after_contact"],
                )
                for row in self.kpis()["previous"]["per_collector"]
            ],
            [("Carla Collector", 1, 1, 1, 400.0), ("Diego Collector", 1, 1, 0, 0.0)],
        )

    # ------------------------------------------------------------------
    # Who sees what
    # ------------------------------------------------------------------

    def test_restricted_collector_sees_own_portfolio(self):
        """Carla, restricted to her portfolio, gets Alpha's figures only.
        Alpha: receivables Jan 31 = 250 + 600 = 850, Feb 28 = 850 + 500 - 300 = 1050;
        overdue Feb 28 = A0 250 + A1 300 = 550; Dec 31 = 1250, all overdue."""
        self.company.collection_portfolio_restricted = True
        kpis = self.kpis(self.collector)
        self.assertValues(
            kpis,
            {
                "ar_begin": 850.0,
                "ar_end": 1050.0,
                "ar_end_overdue": 550.0,
                "ar_end_current": 500.0,
                "ar_end_over_90": 250.0,
                "credit_sales": 500.0,
                "recovered": 300.0,
                # 1050 - Feb 500 = 550 (28), Jan and Dec no sales (90), Nov 1000 cover
                # 550: 550 / 1000 x 30 = 16.5 -> 106.5.
                "dso": 106.5,
                "best_possible_dso": 28.0,
                "add": 78.5,
                "cei": 300 / 850 * 100,  # (850 + 500 - 1050) / (850 + 500 - 500)
                "overdue_share": 550 / 1050 * 100,
                "over_90_share": 250 / 1050 * 100,
                "promises_made": 1,
                "promises_partial": 1,
                "promises_broken": 0,
                "kept_rate": 0.0,
                "disputes": 2,
                "disputes_closed": 1,
                "dispute_cycle_days": 6.0,
                "disputes_open": 1,
            },
        )
        self.assertEqual([row["name"] for row in kpis["per_collector"]], ["Carla Collector"])
        # January for Alpha: no sales at all, so no best possible DSO; 850 of receivables
        # are 31 + 31 days of no sales plus 850 / 1000 of November's 30 days.
        self.assertValues(
            kpis["previous"],
            {
                "ar_begin": 1250.0,
                "ar_end": 850.0,
                "ar_end_current": 0.0,
                "recovered": 400.0,
                "dso": 87.5,
                "best_possible_dso": None,
                "add": None,
                "cei": 400 / 1250 * 100,  # (1250 + 0 - 850) / (1250 + 0 - 0)
            },
        )
        # Asking for another collector's portfolio does not widen hers.
        self.assertEqual(self.kpis(self.collector, user_ids=[self.collector_2.id])["ar_end"], 0.0)
        # The analyses show her customer's rows only.
        for model in (
            "collection.receivable.report",
            "collection.promise.report",
            "collection.dispute.report",
            "collection.collector.report",
        ):
            with self.subTest(model=model):
                rows = (
                    self.env[model]
                    .with_user(self.collector)
                    .search([("company_id", "=", self.company.id)])
                )
                self.assertTrue(rows)
                self.assertEqual(rows.partner_id, self.alpha)

    def test_unrestricted_collector_and_filters(self):
        """Without the restriction a collector sees the whole book; collectors and
        customer filters narrow it. Beta: Jan 31 = 2000 - 200 + 600 = 2400, Feb 28 = 600."""
        self.assertEqual(self.kpis(self.collector)["ar_end"], 1650.0)
        self.assertEqual(self.kpis(self.collector_2)["ar_end"], 1650.0)
        beta_only = {"ar_begin": 2400.0, "ar_end": 600.0, "recovered": 1800.0, "promises_made": 2}
        self.assertValues(self.kpis(user_ids=[self.collector_2.id]), beta_only)
        self.assertValues(
            self.kpis(domain_extra=[("category_id", "in", self.key_account.ids)]), beta_only
        )
        legal = self.env.ref("account_collection.collection_stage_legal")
        self.beta.collection_stage_id = legal
        self.assertValues(
            self.kpis(domain_extra=[("collection_stage_id", "=", legal.id)]), beta_only
        )

        # The analysis filters and groups the same way: February's month-end receivables
        # per customer's collector, and for the customers tagged Key Account or in Legal.
        Report = self.env["collection.receivable.report"].with_user(self.collector)
        february = [("company_id", "=", self.company.id), ("date", "=", date(2026, 2, 1))]
        self.assertEqual(
            Report._read_group(february, ["collection_user_id"], ["ar_balance:sum"]),
            [(self.collector, 1050.0), (self.collector_2, 600.0)],
        )
        for domain in (
            [("category_ids", "in", self.key_account.ids)],
            [("collection_stage_id", "=", legal.id)],
        ):
            with self.subTest(domain=domain):
                self.assertEqual(Report.search(february + domain).partner_id, self.beta)
        # Status: Alpha refuses to pay (1050 at the end of February).
        self.alpha.collection_status = "refusal"
        self.assertEqual(
            self.kpis(domain_extra=[("collection_status", "=", "refusal")])["ar_end"], 1050.0
        )
        self.assertEqual(
            Report.search([*february, ("collection_status", "=", "refusal")]).partner_id,
            self.alpha,
        )

    def test_access_and_bad_input(self):
        stranger = self.make_user("stranger", "base.group_user")
        with self.assertRaises(AccessError):
            self.kpis(stranger)
        billing = self.make_user("billing", "account.group_account_invoice")
        self.assertEqual(self.kpis(billing)["ar_end"], 1650.0)
        with self.assertRaises(UserError):
            self.kpis(period=("2026-02-28", "2026-02-01"))
        with self.assertRaises(UserError):
            self.kpis(period=("February", "2026-02-28"))
        with self.assertRaises(UserError):
            self.kpis(domain_extra=[("no_such_field", "=", 1)])
        with self.assertRaises(UserError):
            self.kpis(user_ids="everyone")

    # ------------------------------------------------------------------
    # The analyses (SQL views)
    # ------------------------------------------------------------------

    def receivable_rows(self, partner, month):
        return (
            self.env["collection.receivable.report"]
            .with_user(self.collection_manager)
            .search([("partner_id", "=", partner.id), ("date", "=", month)])
        )

    def test_receivable_report_rows(self):
        fields_ = [
            "credit_sales",
            "credit_notes",
            "collected",
            "ar_balance",
            "ar_current",
            "ar_overdue",
            "ar_over_90",
        ]
        expected = [
            # December, no activity: Alpha's 1250 carried over, all of it overdue (A0 due
            # Oct 31, A1 due Dec 10), nothing over 90 days yet (A0: 61 days).
            (self.alpha, date(2025, 12, 1), [0.0, 0.0, 0.0, 1250.0, 0.0, 1250.0, 0.0]),
            # January, Beta: B2 600, credit note 200 matched with B1 (not collected);
            # overdue B1 1800; current B2 600.
            (self.beta, date(2026, 1, 1), [600.0, 200.0, 0.0, 2400.0, 600.0, 1800.0, 0.0]),
            # February, Alpha: A2 500, A1 paid 300; overdue A0 250 + A1 300, A0 over 90.
            (self.alpha, date(2026, 2, 1), [500.0, 0.0, 300.0, 1050.0, 500.0, 550.0, 250.0]),
            # February, Beta: B1 settled by 1800; B2 overdue since Feb 5.
            (self.beta, date(2026, 2, 1), [0.0, 0.0, 1800.0, 600.0, 0.0, 600.0, 0.0]),
        ]
        for partner, month, values in expected:
            with self.subTest(partner=partner.name, month=month):
                row = self.receivable_rows(partner, month)
                self.assertEqual(len(row), 1)
                self.assertRecordValues(row, [dict(zip(fields_, values, strict=True))])
        # Beta's first month is November; Alpha's October.
        self.assertFalse(self.receivable_rows(self.beta, date(2025, 10, 1)))
        self.assertTrue(self.receivable_rows(self.alpha, date(2025, 10, 1)))
        # Per month for the company; March as of today (Mar 16): A2 overdue since Mar 13,
        # A1 (due Dec 10) now over 90 days too.
        totals = self.env["collection.receivable.report"]._read_group(
            [("company_id", "=", self.company.id)],
            ["date:month"],
            [
                "credit_sales:sum",
                "credit_notes:sum",
                "collected:sum",
                "ar_balance:sum",
                "ar_overdue:sum",
                "ar_over_90:sum",
            ],
        )
        self.assertEqual(
            [(fields.Date.to_date(month), *amounts) for month, *amounts in totals],
            [
                (date(2025, 10, 1), 250.0, 0.0, 0.0, 250.0, 0.0, 0.0),
                (date(2025, 11, 1), 3000.0, 0.0, 0.0, 3250.0, 250.0, 0.0),
                (date(2025, 12, 1), 0.0, 0.0, 0.0, 3250.0, 3250.0, 0.0),
                (date(2026, 1, 1), 600.0, 200.0, 400.0, 3250.0, 2650.0, 250.0),
                (date(2026, 2, 1), 500.0, 0.0, 2100.0, 1650.0, 1150.0, 250.0),
                (date(2026, 3, 1), 0.0, 0.0, 0.0, 1650.0, 1650.0, 550.0),
            ],
        )

    def test_promise_and_dispute_report_rows(self):
        Promise = self.env["collection.promise.report"].with_user(self.collection_manager)
        rows = Promise.search([("company_id", "=", self.company.id)], order="date, id")
        self.assertEqual(rows.promise_id, self.p0 + self.p6 + self.p2 + self.p1 + self.p3)
        self.assertEqual(rows.mapped("user_id"), self.collector + self.collector_2)
        [(kept_rate,)] = Promise._read_group(
            [
                ("company_id", "=", self.company.id),
                ("date", ">=", date(2026, 2, 1)),
                ("date", "<=", date(2026, 2, 28)),
            ],
            [],
            ["kept_rate:avg"],
        )
        self.assertEqual(kept_rate, 25.0)

        Dispute = self.env["collection.dispute.report"].with_user(self.collection_manager)
        disputes = Dispute.search([("company_id", "=", self.company.id)], order="date, id")
        self.assertRecordValues(
            disputes,
            [
                {
                    "partner_id": self.beta.id,
                    "user_id": self.collector_2.id,
                    "date": date(2026, 1, 25),
                    "date_closed": date(2026, 2, 9),
                    "state": "closed",
                    "cycle_days": 15.0,
                },
                {
                    "partner_id": self.alpha.id,
                    "user_id": self.collector.id,
                    "date": date(2026, 2, 12),
                    "date_closed": date(2026, 2, 18),
                    "state": "closed",
                    "cycle_days": 6.0,
                },
                {
                    "partner_id": self.alpha.id,
                    "user_id": self.collector.id,
                    "date": date(2026, 2, 26),
                    "date_closed": False,
                    "state": "open",
                    "cycle_days": 0.0,
                },
            ],
        )
