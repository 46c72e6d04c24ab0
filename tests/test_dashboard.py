from datetime import date, timedelta

from lxml import etree

from odoo import Command, fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, new_test_user, tagged
from odoo.tools.safe_eval import safe_eval

from .common import TODAY, CollectionCommon, CollectionTourMixin, day, on_day


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionDashboard(CollectionCommon):
    """The Collections dashboard on a small book: a collector restricted to their
    portfolio sees its figures only, a manager the whole book; every card opens the
    records its figure counts."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # TODAY is Monday 16 March 2026: this week runs to Sunday 22 March.
        assert TODAY.weekday() == 0
        cls.collector_2 = cls.make_user(
            "collector_2", "account_collection.group_collection_user", name="Colin Other Collector"
        )
        cls.company.collection_portfolio_restricted = True
        Partner = cls.env["res.partner"]
        # The collector's portfolio: Alpha and Beta.
        cls.alpha = Partner.create(
            {"name": "Alpha Old Debt", "is_company": True, "collection_user_id": cls.collector.id}
        )
        cls.beta = Partner.create(
            {"name": "Beta Recent Debt", "is_company": True, "collection_user_id": cls.collector.id}
        )
        # Another collector's customer, and a customer nobody works yet.
        cls.gamma = Partner.create(
            {"name": "Gamma Dispute", "is_company": True, "collection_user_id": cls.collector_2.id}
        )
        cls.delta = Partner.create({"name": "Delta Small", "is_company": True})

        with on_day(TODAY):
            # Alpha: 1,000 100 days overdue, 500 not due yet.
            cls.alpha_old = cls.invoice(cls.alpha, 1000.0, day(-100))
            cls.invoice(cls.alpha, 500.0, day(10))
            # Beta: 800 20 days overdue of which 100 paid 2 days ago; a credit note of 100
            # not matched yet.
            beta_invoice = cls.invoice(cls.beta, 800.0, day(-20))
            cls.pay(beta_invoice, 100.0, pay_date=day(-2))
            cls.invoice(cls.beta, 100.0, day(-5), move_type="out_refund")
            # Gamma: 2,000 45 days overdue.
            cls.invoice(cls.gamma, 2000.0, day(-45))
            # Delta: 300 5 days overdue of which 100 paid 3 days ago.
            delta_invoice = cls.invoice(cls.delta, 300.0, day(-5))
            cls.pay(delta_invoice, 100.0, pay_date=day(-3))

        Promise = cls.env["collection.promise"]
        # Alpha promised 400 for 1 March and paid nothing: a broken promise.
        with on_day(day(-20)):
            cls.alpha_promise = Promise.create(
                {
                    "partner_id": cls.alpha.id,
                    "user_id": cls.collector.id,
                    "amount": 400.0,
                    "date": day(-15),
                    "move_ids": [Command.set(cls.alpha_old.ids)],
                }
            )
        with on_day(TODAY):
            cls.alpha_promise._collection_evaluate()
            # This week: Beta on Wednesday, Gamma on Sunday; Delta next Monday.
            cls.beta_promise = Promise.create(
                {
                    "partner_id": cls.beta.id,
                    "user_id": cls.collector.id,
                    "amount": 300.0,
                    "date": day(2),
                }
            )
            cls.gamma_promise = Promise.create(
                {
                    "partner_id": cls.gamma.id,
                    "user_id": cls.collector_2.id,
                    "amount": 500.0,
                    "date": day(6),
                }
            )
            Promise.create({"partner_id": cls.delta.id, "amount": 100.0, "date": day(7)})
        assert cls.alpha_promise.state == "broken"
        cls.gamma.collection_status = "dispute"
        cls.beta.collection_next_action_date = day(-1)
        cls.gamma.collection_next_action_date = day(3)

        cls.buckets = cls.env["collection.aging.bucket"].search(
            [("company_id", "=", cls.company.id)]
        )

    def dashboard(self, user, period="month"):
        return self.env["collection.dashboard"].with_user(user).get_dashboard_data(period)

    def by_key(self, cards):
        return {card["key"]: card for card in cards}

    # ------------------------------------------------------------------
    # Figures
    # ------------------------------------------------------------------

    def test_collector_sees_own_portfolio(self):
        data = self.dashboard(self.collector)
        self.assertTrue(data["portfolio_only"])
        self.assertEqual(data["currency_id"], self.company.currency_id.id)
        self.assertEqual((data["date_from"], data["date_to"]), ("2026-03-01", "2026-03-16"))

        # Alpha owes 1,500 (1,000 overdue), Beta 600 (700 overdue, the 100 credit only
        # reduces the total due). Gamma and Delta belong to nobody's or another portfolio.
        customers = self.by_key(data["customers"])
        self.assertEqual(
            {key: (card["count"], card["amount"]) for key, card in customers.items()},
            {
                "due": (2, 2100.0),
                "overdue": (2, 1700.0),
                "over_90_days": (1, 1000.0),
                "next_action_due": (1, None),
                "broken_promise": (1, None),
                "dispute": (0, None),
                "replies_to_read": (0, None),
            },
        )

        # Each item in the bucket of its own due date: not due 500 (Alpha); 1-30 days
        # 700 - 100 (Beta); 91-120 days 1,000 (Alpha).
        self.assertEqual(
            [(bar["name"], bar["amount"]) for bar in data["aging"]["bars"]],
            [
                ("Not due", 500.0),
                ("1-30 days", 600.0),
                ("31-60 days", 0.0),
                ("61-90 days", 0.0),
                ("91-120 days", 1000.0),
                ("Over 120 days", 0.0),
            ],
        )
        self.assertEqual(data["aging"]["total"], 2100.0)

        promises = data["promises"]
        self.assertEqual((promises["count"], promises["amount"]), (1, 300.0))
        self.assertEqual((promises["date_from"], promises["date_to"]), ("2026-03-16", "2026-03-22"))
        self.assertEqual(
            [(p["partner"], p["date"], p["amount"]) for p in promises["records"]],
            [("Beta Recent Debt", "2026-03-18", 300.0)],
        )

        self.assertEqual(
            [
                (c["name"], c["overdue_amount"], c["days_overdue"])
                for c in data["top_overdue"]["records"]
            ],
            [("Alpha Old Debt", 1000.0, 100), ("Beta Recent Debt", 700.0, 20)],
        )

    def test_manager_sees_everything(self):
        data = self.dashboard(self.collection_manager)
        self.assertFalse(data["portfolio_only"])

        customers = self.by_key(data["customers"])
        self.assertEqual(
            {key: (card["count"], card["amount"]) for key, card in customers.items()},
            {
                "due": (4, 4300.0),
                "overdue": (4, 3900.0),
                "over_90_days": (1, 1000.0),
                "next_action_due": (1, None),
                "broken_promise": (1, None),
                "dispute": (1, None),
                "replies_to_read": (0, None),
            },
        )
        # 1-30 days: Beta 700 - 100 and Delta 200; 31-60 days: Gamma 2,000.
        self.assertEqual(
            [bar["amount"] for bar in data["aging"]["bars"]],
            [500.0, 800.0, 2000.0, 0.0, 1000.0, 0.0],
        )
        self.assertEqual(data["aging"]["total"], 4300.0)

        promises = data["promises"]
        self.assertEqual((promises["count"], promises["amount"]), (2, 800.0))
        self.assertEqual(
            [(p["partner"], p["date"]) for p in promises["records"]],
            [("Beta Recent Debt", "2026-03-18"), ("Gamma Dispute", "2026-03-22")],
        )

        self.assertEqual(
            [(c["name"], c["overdue_amount"]) for c in data["top_overdue"]["records"]],
            [
                ("Gamma Dispute", 2000.0),
                ("Alpha Old Debt", 1000.0),
                ("Beta Recent Debt", 700.0),
                ("Delta Small", 200.0),
            ],
        )
        gamma = data["top_overdue"]["records"][0]
        self.assertEqual(
            (gamma["status"], gamma["collector"]), ("dispute", "Colin Other Collector")
        )

    def test_unrestricted_collector_sees_everything(self):
        self.company.collection_portfolio_restricted = False
        collector_view = self.dashboard(self.collector)
        manager_view = self.dashboard(self.collection_manager)
        self.assertFalse(collector_view["portfolio_only"])
        for key in ("customers", "aging", "promises", "top_overdue"):
            self.assertEqual(collector_view[key], manager_view[key], key)

    def test_empty_portfolio(self):
        """A new collector without customers gets an empty dashboard, not an error."""
        newcomer = self.make_user("newcomer", "account_collection.group_collection_user")
        data = self.dashboard(newcomer)
        self.assertEqual(
            {card["key"]: card["count"] for card in data["customers"]},
            dict.fromkeys(
                (
                    "due",
                    "overdue",
                    "over_90_days",
                    "next_action_due",
                    "broken_promise",
                    "dispute",
                    "replies_to_read",
                ),
                0,
            ),
        )
        self.assertEqual([bar["amount"] for bar in data["aging"]["bars"]], [0.0] * 6)
        self.assertEqual((data["promises"]["count"], data["promises"]["amount"]), (0, 0.0))
        self.assertEqual(data["top_overdue"]["records"], [])
        kpis = self.by_key(data["kpis"])
        self.assertEqual(kpis["recovered"]["value"], 0.0)
        self.assertIsNone(kpis["overdue_share"]["value"])
        self.assertFalse(kpis["overdue_share"]["trend"])

    def test_payment_shows_at_once(self):
        """Figures are read from the ledger when the dashboard opens."""
        self.pay(self.alpha_old, pay_date=TODAY)
        data = self.dashboard(self.collector)
        customers = self.by_key(data["customers"])
        self.assertEqual(
            (customers["overdue"]["count"], customers["overdue"]["amount"]), (1, 700.0)
        )
        self.assertEqual(
            (customers["over_90_days"]["count"], customers["over_90_days"]["amount"]), (0, 0.0)
        )
        self.assertEqual(data["aging"]["total"], 1100.0)

    def test_periods(self):
        for period, date_from in (
            ("month", "2026-03-01"),
            ("last_30_days", "2026-02-15"),
            ("quarter", "2026-01-01"),
            ("year", "2026-01-01"),
        ):
            data = self.dashboard(self.collector, period)
            self.assertEqual(
                (data["date_from"], data["date_to"]), (date_from, "2026-03-16"), period
            )

    @on_day(date(2026, 4, 1))
    def test_default_period_is_the_last_30_days(self):
        """On the first day of a month the dashboard still shows a month of figures."""
        data = self.env["collection.dashboard"].with_user(self.collector).get_dashboard_data()
        self.assertEqual(
            (data["period"], data["date_from"], data["date_to"]),
            ("last_30_days", "2026-03-03", "2026-04-01"),
        )

    def test_cards_say_what_they_measure(self):
        """A share of the receivables and a number of customers have different names."""
        data = self.dashboard(self.collector)
        kpis = {card["key"]: card["label"] for card in data["kpis"]}
        customers = {card["key"]: card["label"] for card in data["customers"]}
        self.assertEqual(
            (kpis["overdue_share"], kpis["over_90_share"]),
            ("Receivables Overdue", "Receivables Over 90 Days"),
        )
        self.assertEqual(
            (customers["due"], customers["overdue"], customers["over_90_days"]),
            ("Customers to Collect", "Customers Overdue", "Customers Over 90 Days"),
        )

    # ------------------------------------------------------------------
    # KPI cards
    # ------------------------------------------------------------------

    def test_kpi_cards_follow_the_portfolio(self):
        """The collector's KPI cards are those of their portfolio: the manager's KPIs
        of the collector's customers."""
        collector_cards = self.by_key(self.dashboard(self.collector)["kpis"])
        self.assertEqual(
            list(collector_cards),
            ["dso", "cei", "add", "overdue_share", "over_90_share", "recovered", "kept_rate"],
        )
        portfolio = (
            self.env["collection.kpi"]
            .with_user(self.collection_manager)
            .get_kpis(day(-15), TODAY, user_ids=[self.collector.id])
        )
        for key, card in collector_cards.items():
            self.assertEqual(card["value"], portfolio[key], key)
            self.assertEqual(card["previous"], portfolio["previous"][key], key)

    def test_kpi_cards_values(self):
        """March 1-16 against February 1-16."""
        collector = self.by_key(self.dashboard(self.collector)["kpis"])
        manager = self.by_key(self.dashboard(self.collection_manager)["kpis"])
        # Beta's 100 paid on 14 March; with Delta's 100 of 13 March for the manager.
        # Nothing was paid from 1 to 16 February: a rise, good news.
        self.assertEqual(
            [
                (c["value"], c["previous"], c["trend"])
                for c in (collector["recovered"], manager["recovered"])
            ],
            [(100.0, 0.0, "up"), (200.0, 0.0, "up")],
        )
        self.assertTrue(collector["recovered"]["higher_is_better"])
        # Receivables today: the collector's 2,100 of which 1,700 overdue (the credit
        # note lowers what is due, not what is overdue) and 1,000 over 90 days; the
        # manager's 4,300 of which 3,900 overdue and 1,000 over 90 days.
        self.assertAlmostEqual(collector["overdue_share"]["value"], 1700 / 2100 * 100)
        self.assertAlmostEqual(collector["over_90_share"]["value"], 1000 / 2100 * 100)
        self.assertAlmostEqual(manager["overdue_share"]["value"], 3900 / 4300 * 100)
        self.assertAlmostEqual(manager["over_90_share"]["value"], 1000 / 4300 * 100)
        self.assertFalse(manager["overdue_share"]["higher_is_better"])
        # The only promise falling due in the period, Alpha's of 1 March, was broken;
        # none fell due in February: no trend.
        self.assertEqual(
            (collector["kept_rate"]["value"], collector["kept_rate"]["previous"]), (0.0, None)
        )
        self.assertFalse(collector["kept_rate"]["trend"])
        # Countback DSO of the collector's 2,100 on 16 March: no sale from 1 to 16 March
        # (16 days), Alpha's 500 in February (28 days, 1,600 left), Beta's 800 in January
        # (31 days, 800 left), nothing in December (31 days), then 800 of Alpha's 1,000
        # of November: 16 + 28 + 31 + 31 + 800 / 1,000 x 30 = 130 days.
        self.assertAlmostEqual(collector["dso"]["value"], 130.0)

    # ------------------------------------------------------------------
    # Cards open their records
    # ------------------------------------------------------------------

    def worklist_filter_domain(self, filter_name, user):
        """The domain of a filter of the worklist's search view, as the web client
        evaluates it for ``user``."""
        arch = etree.fromstring(
            self.env.ref("account_collection.res_partner_view_search_collection").arch
        )
        [node] = arch.xpath(f"//filter[@name='{filter_name}']")
        return safe_eval(node.get("domain"), {"uid": user.id, "context_today": lambda: TODAY})

    def opened_records(self, action, user):
        """The records ``action`` lists for ``user``, its default search filters on."""
        records = self.env[action["res_model"]].with_user(user)
        domain = list(action["domain"])
        context = action.get("context") or {}
        for key, value in context.items():
            if key.startswith("search_default_") and value:
                if action["res_model"] == "res.partner":
                    domain += self.worklist_filter_domain(key.removeprefix("search_default_"), user)
                elif key == "search_default_open":
                    domain += [("state", "=", "open")]
                elif key == "search_default_bucket_id":
                    domain += [("bucket_id", "=", value)]
                else:
                    self.fail(f"unexpected filter {key}")
        return records.search(domain)

    def test_customer_cards_open_their_customers(self):
        for user in (self.collector, self.collection_manager):
            for card in self.dashboard(user)["customers"]:
                action = card["action"]
                self.assertEqual(action["res_model"], "res.partner")
                partners = self.opened_records(action, user)
                self.assertEqual(len(partners), card["count"], f"{card['key']} for {user.login}")
                if card["amount"] is not None:
                    self.assertAlmostEqual(
                        sum(partners.with_company(self.company).mapped("collection_overdue_amount"))
                        if card["key"] != "due"
                        else sum(
                            partners.with_company(self.company).mapped("collection_due_amount")
                        ),
                        card["amount"],
                    )

        over_90 = self.by_key(self.dashboard(self.collector)["customers"])["over_90_days"]
        self.assertEqual(self.opened_records(over_90["action"], self.collector), self.alpha)
        self.assertEqual(over_90["action"]["context"], {"search_default_over_90_days": 1})

    def test_aging_bars_open_their_items(self):
        """Each bar opens the aged receivables of its bucket: the items add up to it."""
        for user, partners in (
            (self.collector, self.alpha | self.beta),
            (self.collection_manager, self.alpha | self.beta | self.gamma | self.delta),
        ):
            data = self.dashboard(user)
            seen = self.env["account.move.line"]
            for bar in data["aging"]["bars"]:
                self.assertEqual(bar["action"]["res_model"], "collection.aged.receivable.report")
                items = self.opened_records(bar["action"], user)
                self.assertAlmostEqual(
                    sum(items.mapped("amount_residual")), bar["amount"], msg=bar["name"]
                )
                self.assertFalse(items.move_line_id & seen, "An item is in one bucket only.")
                seen |= items.move_line_id
            self.assertEqual(seen.partner_id, partners)

        # Alpha's 1,000 is in the 91-120 days bucket.
        bar = data["aging"]["bars"][4]
        items = self.opened_records(bar["action"], self.collection_manager)
        self.assertEqual(items.move_id, self.alpha_old)

    def test_promise_card_opens_this_weeks_promises(self):
        data = self.dashboard(self.collector)
        self.assertEqual(
            self.opened_records(data["promises"]["action"], self.collector), self.beta_promise
        )
        data = self.dashboard(self.collection_manager)
        self.assertEqual(
            self.opened_records(data["promises"]["action"], self.collection_manager),
            self.beta_promise | self.gamma_promise,
        )
        record = data["promises"]["records"][0]
        self.assertEqual(
            (record["action"]["res_model"], record["action"]["res_id"]),
            ("collection.promise", self.beta_promise.id),
        )

    def test_top_overdue_opens_the_customer(self):
        data = self.dashboard(self.collector)
        first = data["top_overdue"]["records"][0]
        self.assertEqual(
            (first["action"]["res_model"], first["action"]["res_id"]),
            ("res.partner", self.alpha.id),
        )
        self.assertEqual(
            self.opened_records(data["top_overdue"]["action"], self.collector),
            self.alpha | self.beta,
        )

    # ------------------------------------------------------------------
    # Access and input
    # ------------------------------------------------------------------

    def test_only_collection_users(self):
        salesman = new_test_user(
            self.env, login="salesman", groups="base.group_user", company_id=self.company.id
        )
        with self.assertRaises(AccessError):
            self.dashboard(salesman)

    def test_unknown_period(self):
        with self.assertRaisesRegex(UserError, "Unknown dashboard period"):
            self.dashboard(self.collector, "decade")

    def test_app_opens_on_the_dashboard(self):
        root = self.env.ref("account_collection.account_collection_menu_root")
        action = self.env.ref("account_collection.collection_dashboard_action")
        self.assertEqual(root.action, action)
        self.assertEqual(action.tag, "account_collection.dashboard")
        first = root.child_id.sorted("sequence")[:1]
        self.assertEqual((first.name, first.action), ("Dashboard", action))


@tagged("post_install", "-at_install")
class TestCollectionDashboardTour(CollectionTourMixin, CollectionCommon, HttpCase):
    """A collector restricted to their portfolio opens the Collections app, lands on
    the dashboard and clicks through its cards to the records behind them."""

    def setUp(self):
        super().setUp()
        # The browser runs on the real date: build the book around it.
        real_today = fields.Date.context_today(self.customer.with_user(self.collector))
        self.company.collection_portfolio_restricted = True
        collector_2 = self.make_user(
            "collector_2", "account_collection.group_collection_user", name="Colin Other Collector"
        )
        self.customer.collection_user_id = self.collector
        other = self.env["res.partner"].create(
            {
                "name": "Zenith Other Portfolio",
                "is_company": True,
                "collection_user_id": collector_2.id,
            }
        )
        self.invoice(self.customer, 1500.0, real_today - timedelta(days=100))
        self.invoice(other, 3000.0, real_today - timedelta(days=120))
        self.promise = self.env["collection.promise"].create(
            {
                "partner_id": self.customer.id,
                "user_id": self.collector.id,
                "amount": 500.0,
                "date": real_today,
            }
        )

    def test_collector_opens_dashboard_cards(self):
        self.start_tour("/odoo", "collection_dashboard_tour", login=self.collector.login)
