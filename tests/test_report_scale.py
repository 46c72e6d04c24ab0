from datetime import timedelta

from odoo import fields
from odoo.tests import tagged

from odoo.addons.web.models.models import Base as WebBase

from .common import TODAY, CollectionCommon, day, on_day

AGED_SETS = [["partner_id", "bucket_id"], ["partner_id"], ["bucket_id"], []]
FORECAST_SETS = [["partner_id", "week_start:week"], ["partner_id"], ["week_start:week"], []]


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestReportsAtScale(CollectionCommon):
    """The aged receivables and the cash-in forecast of a small hand-computed book, as
    their pivots, graphs and exports read them: the aged receivables' groups per customer
    and bucket summed from the residuals the ledger keeps per customer and due date, the
    forecast from the payment predictions kept from the night's fit. The same figures as
    when every open item is read and every prediction fitted when read."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.collector_2 = cls.make_user(
            "collector_2", "account_collection.group_collection_user", name="Cody Collector"
        )
        cls.customer.with_company(cls.company).collection_user_id = cls.collector
        cls.other_customer = cls.env["res.partner"].create(
            {"name": "Bolt Industries", "is_company": True}
        )
        cls.other_customer.with_company(cls.company).collection_user_id = cls.collector_2
        # Acme on 16 March 2026 (days overdue, bucket, open amount):
        #   INV A  1000 due 30 Jan, 400 paid on 6 Mar   45 days  31-60     600
        #   INV B   500 due 26 Mar                       not due  Not due   500
        #   INV C   300 due  6 Dec 2025                 100 days  91-120    300
        #   credit note 200 due 11 Mar                    5 days  1-30     -200
        #   payment 150 on 13 Mar, not matched            3 days  1-30     -150
        # Acme also paid five invoices 10, 20, 30, 40 and 50 days after their due date.
        # Bolt: 700 due 24 Feb, 20 days, 1-30.
        cls.paid_history(
            cls.customer, {-300: 10, -290: 20, -280: 30, -270: 40, -260: 50}, amount=100.0
        )
        cls.inv_a = cls.invoice(cls.customer, 1000.0, day(-45))
        cls.pay(cls.inv_a, amount=400.0, pay_date=day(-10))
        cls.inv_b = cls.invoice(cls.customer, 500.0, day(10))
        cls.inv_c = cls.invoice(cls.customer, 300.0, day(-100))
        cls.refund = cls.invoice(cls.customer, 200.0, day(-5), move_type="out_refund")
        cls.customer_payment(cls.customer, 150.0, pay_date=day(-3))
        cls.inv_d = cls.invoice(cls.other_customer, 700.0, day(-20))
        buckets = cls.env["collection.aging.bucket"].search([("company_id", "=", cls.company.id)])
        by_start = dict(zip(buckets.mapped("days_from"), buckets, strict=True))
        cls.not_due, cls.b1_30, cls.b31_60, cls.b91_120 = (
            by_start[0],
            by_start[1],
            by_start[31],
            by_start[91],
        )
        cls.Aged = cls.env["collection.aged.receivable.report"]
        cls.Forecast = cls.env["collection.cash.forecast"]

    # ------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------

    def name(self, record):
        return (record.id, record.display_name)

    def aged_pivot(self, user=None, domain=(), aggregates=("amount_residual:sum",)):
        Aged = self.Aged.with_user(user or self.collection_manager)
        return Aged.formatted_read_grouping_sets(list(domain), AGED_SETS, list(aggregates))

    def aged_cells(self, user=None, domain=()):
        """{(customer, bucket): amount} of the pivot's cells."""
        cells = self.aged_pivot(user, domain)[0]
        return {
            (cell["partner_id"][0], cell["bucket_id"][0]): cell["amount_residual:sum"]
            for cell in cells
        }

    def forecast(self, user=None):
        """{(customer, week): amount} of the forecast's pivot, and its total."""
        Forecast = self.Forecast.with_user(user or self.collection_manager)
        cells, _customers, _weeks, [total] = Forecast.formatted_read_grouping_sets(
            [], FORECAST_SETS, ["amount_residual:sum"]
        )
        return {
            (cell["partner_id"][0], cell["week_start:week"][0]): cell["amount_residual:sum"]
            for cell in cells
        }, total["amount_residual:sum"]

    def predicted(self, move):
        return move.with_user(self.collector).collection_predicted_date

    def fit_tonight(self):
        """The night's scheduled fit of the payment predictions (its work, without the
        scheduled action's commit)."""
        self.env["collection.prediction"]._refresh_predictions(self.company, TODAY)

    def week(self, day_):
        """The first day, in ISO format, of the (English, Sunday-first) week of ``day_``."""
        return str(day_ - timedelta(days=(day_.weekday() + 1) % 7))

    # ------------------------------------------------------------------
    # Aged receivables
    # ------------------------------------------------------------------

    def test_aged_pivot_of_the_book(self):
        acme, bolt = self.customer, self.other_customer
        cells, customers, buckets, [total] = self.aged_pivot(
            aggregates=("amount_residual:sum", "amount_overdue:sum", "days_overdue:max")
        )
        self.assertEqual(
            [
                (
                    cell["partner_id"],
                    cell["bucket_id"],
                    cell["amount_residual:sum"],
                    cell["amount_overdue:sum"],
                    cell["days_overdue:max"],
                )
                for cell in cells
            ],
            [
                (self.name(acme), self.name(self.not_due), 500.0, 0.0, 0),
                (self.name(acme), self.name(self.b1_30), -350.0, 0.0, 5),
                (self.name(acme), self.name(self.b31_60), 600.0, 600.0, 45),
                (self.name(acme), self.name(self.b91_120), 300.0, 300.0, 100),
                (self.name(bolt), self.name(self.b1_30), 700.0, 700.0, 20),
            ],
        )
        self.assertEqual(
            cells[1]["__extra_domain"],
            ["&", ("partner_id", "=", acme.id), ("bucket_id", "=", self.b1_30.id)],
        )
        self.assertEqual(
            [(row["partner_id"], row["amount_residual:sum"]) for row in customers],
            [(self.name(acme), 1050.0), (self.name(bolt), 700.0)],
        )
        self.assertEqual(customers[0]["__extra_domain"], [("partner_id", "=", acme.id)])
        self.assertEqual(
            [(column["bucket_id"], column["amount_residual:sum"]) for column in buckets],
            [
                (self.name(self.not_due), 500.0),
                (self.name(self.b1_30), 350.0),
                (self.name(self.b31_60), 600.0),
                (self.name(self.b91_120), 300.0),
            ],
        )
        self.assertEqual(total["amount_residual:sum"], 1750.0)
        self.assertEqual(total["amount_overdue:sum"], 1600.0)
        self.assertEqual(total["__extra_domain"], [(1, "=", 1)])
        # Each group opens the items it adds up.
        Aged = self.Aged.with_user(self.collection_manager)
        for group in cells + customers + buckets:
            items = Aged.search(group["__extra_domain"])
            self.assertEqual(sum(items.mapped("amount_residual")), group["amount_residual:sum"])
        # Counting the items reads them one by one: the same sums.
        counted = Aged.formatted_read_grouping_sets(
            [], AGED_SETS, ["amount_residual:sum", "__count"]
        )
        self.assertEqual(
            [cell["amount_residual:sum"] for cell in counted[0]],
            [cell["amount_residual:sum"] for cell in cells],
        )
        self.assertEqual([cell["__count"] for cell in counted[0]], [1, 2, 1, 1, 1])

    def test_aged_filters_and_groups(self):
        acme, bolt = self.customer, self.other_customer
        # The search view's filters: on the customer, the collector, the tag; on the items.
        self.assertEqual(
            self.aged_cells(domain=[("user_id", "=", self.collector_2.id)]),
            {(bolt.id, self.b1_30.id): 700.0},
        )
        self.assertEqual(
            self.aged_cells(domain=[("amount_overdue", ">", 0)]),
            {
                (acme.id, self.b31_60.id): 600.0,
                (acme.id, self.b91_120.id): 300.0,
                (bolt.id, self.b1_30.id): 700.0,
            },
        )
        self.assertEqual(
            self.aged_cells(domain=[("amount_residual", "<", 0)]),
            {(acme.id, self.b1_30.id): -350.0},
        )
        self.assertEqual(
            self.aged_cells(domain=[("days_overdue", "=", 0), ("amount_residual", ">", 0)]),
            {(acme.id, self.not_due.id): 500.0},
        )
        tag = self.env["res.partner.category"].create({"name": "Key account"})
        bolt.category_id = tag
        self.assertEqual(
            self.aged_cells(domain=[("partner_id.category_id", "ilike", "Key")]),
            {(bolt.id, self.b1_30.id): 700.0},
        )
        Aged = self.Aged.with_user(self.collection_manager)
        self.assertEqual(
            Aged._read_group([], ["user_id"], ["amount_residual:sum"]),
            [(self.collector, 1050.0), (self.collector_2, 700.0)],
        )
        self.assertEqual(
            Aged._read_group([], ["date_maturity:month"], ["amount_residual:sum"]),
            [
                (fields.Date.to_date("2025-12-01"), 300.0),
                (fields.Date.to_date("2026-01-01"), 600.0),
                (fields.Date.to_date("2026-02-01"), 700.0),
                (fields.Date.to_date("2026-03-01"), 150.0),
            ],
        )
        # A collector restricted to their portfolio: their customers only.
        self.company.collection_portfolio_restricted = True
        self.assertEqual(
            {partner for partner, _bucket in self.aged_cells(user=self.collector)}, {acme.id}
        )

    def test_aged_export_data_of_the_book(self):
        data = self.Aged.with_user(self.collection_manager)._aged_receivable_data([])
        rows = {
            row["partner"]: (row["collector"], row["amounts"], row["total"]) for row in data["rows"]
        }
        self.assertEqual(
            rows,
            {
                self.customer: (
                    self.collector,
                    {
                        self.not_due: 500.0,
                        self.b1_30: -350.0,
                        self.b31_60: 600.0,
                        self.b91_120: 300.0,
                    },
                    1050.0,
                ),
                self.other_customer: (self.collector_2, {self.b1_30: 700.0}, 700.0),
            },
        )
        self.assertEqual(data["totals"][self.b1_30], 350.0)
        self.assertEqual(data["total"], 1750.0)

    def test_pivots_read_as_the_web_client_formats_them(self):
        """The reports' groups come formatted as the web client's own formatting writes
        them: the same labels (the customers' names) and the same domains."""
        for model, grouping_sets in (
            (self.Aged, [*AGED_SETS, ["user_id", "date_maturity:week"], ["status"]]),
            (self.Forecast, [*FORECAST_SETS, ["user_id", "predicted_date:month"]]),
        ):
            Report = model.with_user(self.collection_manager)
            aggregates = ("amount_residual:sum",)
            for groupby in grouping_sets:
                with self.subTest(model=model._name, groupby=groupby):
                    [groups] = Report._read_grouping_sets([], [groupby], aggregates)
                    self.assertTrue(groups)
                    self.assertEqual(
                        Report._web_read_group_format(tuple(groupby), aggregates, groups),
                        WebBase._web_read_group_format(Report, tuple(groupby), aggregates, groups),
                    )
        partner = self.customer.with_context(show_email=True)
        self.assertEqual(partner.display_name, "Acme Customer <acme@example.com>")
        [[cell]] = self.Aged.with_context(show_email=True).formatted_read_grouping_sets(
            [("partner_id", "=", partner.id)], [["partner_id"]], ["amount_residual:sum"]
        )
        self.assertEqual(cell["partner_id"], (partner.id, "Acme Customer <acme@example.com>"))

    # ------------------------------------------------------------------
    # Cash-in forecast
    # ------------------------------------------------------------------

    def test_forecast_kept_overnight_is_the_forecast_fitted_when_read(self):
        # Acme's own curve: paid 10, 20, 30, 40 and 50 days late; INV B open 10 days
        # before its due date, INV A 45 days and INV C 100 days after (S = 6/7, 5/7, 4/7,
        # 3/7 at 10 to 40 days, 3/14 at 50). INV B: half paid by 40 days, on 5 May;
        # INV A: of those open after 45 days (3/7), half paid by 50, on 21 March; INV C:
        # no curve goes past 50 days, 30 days from today, on 15 April. Bolt, on the
        # company's curve (Acme's items and its own, open 20 days late: S = 3/4 at 20
        # days, 0.225 at 50): half of those open after 20 days paid by 50, on 15 April.
        fitted = self.forecast()
        moves = self.inv_a | self.inv_b | self.inv_c | self.inv_d
        fitted_dates = [self.predicted(move) for move in moves]
        self.assertEqual(fitted_dates, [day(5), day(50), day(30), day(30)])
        self.assertEqual(
            fitted,
            (
                {
                    (self.customer.id, self.week(day(5))): 600.0,
                    (self.customer.id, self.week(day(30))): 300.0,
                    (self.customer.id, self.week(day(50))): 500.0,
                    (self.other_customer.id, self.week(day(30))): 700.0,
                },
                2100.0,
            ),
        )
        self.fit_tonight()
        self.env.invalidate_all()
        self.assertEqual(self.forecast(), fitted)
        self.assertEqual([self.predicted(move) for move in moves], fitted_dates)
        row = self.Forecast.with_user(self.collector).search([("move_id", "=", self.inv_c.id)])
        self.assertEqual((row.predicted_date, row.source), (day(30), "customer"))
        # The next day, before the night's fit: fitted when read, as before.
        with on_day(day(1)):
            self.env.invalidate_all()
            self.assertEqual(self.predicted(self.inv_c), day(31))

    def test_a_payment_shows_in_both_reports_at_once(self):
        self.fit_tonight()
        self.pay(self.inv_c, amount=100.0)
        self.assertEqual(self.aged_cells()[self.customer.id, self.b91_120.id], 200.0)
        cells, total = self.forecast()
        self.assertEqual(cells[self.customer.id, self.week(day(30))], 200.0)
        self.assertEqual(total, 2000.0)
        self.pay(self.inv_c)
        self.assertNotIn((self.customer.id, self.b91_120.id), self.aged_cells())
        cells, total = self.forecast()
        self.assertNotIn((self.customer.id, self.week(day(30))), cells)
        self.assertEqual(total, 1800.0)
        # An invoice posted after the night's fit is predicted at once, from Acme's
        # history now (INV C paid 100 days late): half paid by 40 days, on 15 May.
        invoice = self.invoice(self.customer, 800.0, day(20))
        self.assertEqual(self.aged_cells()[self.customer.id, self.not_due.id], 1300.0)
        cells, total = self.forecast()
        self.assertEqual(cells[self.customer.id, self.week(day(60))], 800.0)
        self.assertEqual(total, 2600.0)
        self.assertEqual(self.predicted(invoice), day(60))
        # Bolt's items did not change: the night's prediction.
        self.assertEqual(cells[self.other_customer.id, self.week(day(30))], 700.0)

    def test_forecast_weeks_start_on_the_first_day_of_the_users_week(self):
        """The forecast's week (a row's Week, the pivot's and graph's week groups) starts
        on the first day of the week of the user's language: Sunday in English, Monday
        in Spanish."""
        self.env["res.lang"]._activate_lang("es_ES")
        for lang, first_day in (("en_US", 6), ("es_ES", 0)):
            with self.subTest(lang=lang):
                self.env.invalidate_all()
                self.collection_manager.lang = lang
                Forecast = self.Forecast.with_user(self.collection_manager).with_context(lang=lang)
                rows = Forecast.search([])
                self.assertEqual({row.week_start.weekday() for row in rows}, {first_day})
                row = rows.filtered(lambda r: r.move_id == self.inv_d)
                self.assertEqual(row.predicted_date, day(30))
                self.assertLessEqual(row.week_start, row.predicted_date)
                self.assertLess(row.predicted_date, row.week_start + timedelta(days=7))
                weeks = Forecast.formatted_read_grouping_sets(
                    [], [["week_start:week"]], ["amount_residual:sum"]
                )[0]
                self.assertEqual(
                    sorted(week["week_start:week"][0] for week in weeks),
                    sorted({str(week_start) for week_start in rows.mapped("week_start")}),
                )
                for week in weeks:
                    self.assertEqual(
                        sum(Forecast.search(week["__extra_domain"]).mapped("amount_residual")),
                        week["amount_residual:sum"],
                    )

    def test_forecast_pivot_summed_per_day_is_the_sum_of_its_items(self):
        """The forecast's pivot and graph sum the predictions per customer and day (the
        night's kept with their items' open amounts): the same cells as the items read
        one by one (counting them reads the items), before the night's fit, after it,
        and after a payment of one customer since."""
        Forecast = self.Forecast.with_user(self.collection_manager)

        def both():
            summed = Forecast.formatted_read_grouping_sets(
                [], FORECAST_SETS, ["amount_residual:sum"]
            )
            counted = Forecast.formatted_read_grouping_sets(
                [], FORECAST_SETS, ["amount_residual:sum", "__count"]
            )
            for groups in counted:
                for group in groups:
                    del group["__count"]
            return summed, counted

        summed, counted = both()
        self.assertEqual(summed, counted)
        self.fit_tonight()
        self.env.invalidate_all()
        self.assertEqual(both()[0], summed)
        self.pay(self.inv_a, amount=100.0)
        summed, counted = both()
        self.assertEqual(summed, counted)
        self.assertEqual(summed[3][0]["amount_residual:sum"], 2000.0)
        # Grouped by collector, the source of the prediction or the month predicted.
        for groupby in (["user_id"], ["source"], ["predicted_date:month", "later"]):
            with self.subTest(groupby=groupby):
                counted = Forecast._read_group([], groupby, ["amount_residual:sum", "__count"])
                self.assertEqual(
                    Forecast._read_group([], groupby, ["amount_residual:sum"]),
                    [row[:-1] for row in counted],
                )

    def test_pivots_sort_the_customers_by_name(self):
        """The customers of both pivots in the order of their names (the customers' own
        order), whatever the order they were created in, and reversed on request."""
        zeta = self.env["res.partner"].create({"name": "Zeta Trading", "is_company": True})
        alpha = self.env["res.partner"].create({"name": "Alpha Supplies", "is_company": True})
        twin = self.env["res.partner"].create({"name": "Alpha Supplies", "is_company": True})
        for partner in (zeta, alpha, twin):
            self.invoice(partner, 100.0, day(-10))
        expected = (
            self.env["res.partner"].search(
                [("id", "in", (zeta | alpha | twin | self.customer | self.other_customer).ids)]
            )
        ).ids
        # Acme, Alpha (the later first), Bolt, Zeta.
        self.assertEqual(expected[1:3], [twin.id, alpha.id])
        self.assertEqual(expected[-1], zeta.id)
        for model, grouping_sets in ((self.Aged, AGED_SETS), (self.Forecast, FORECAST_SETS)):
            Report = model.with_user(self.collection_manager)
            with self.subTest(model=model._name):
                _cells, customers, *_rest = Report.formatted_read_grouping_sets(
                    [], grouping_sets, ["amount_residual:sum"]
                )
                self.assertEqual([row["partner_id"][0] for row in customers], expected)
                [customers] = Report._read_grouping_sets(
                    [], [["partner_id"]], ["amount_residual:sum"], order="partner_id DESC"
                )
                self.assertEqual([row[0].id for row in customers], expected[::-1])
                # Read item by item (counting them), the same order.
                [customers] = Report._read_grouping_sets(
                    [], [["partner_id"]], ["amount_residual:sum", "__count"], order="partner_id"
                )
                self.assertEqual([row[0].id for row in customers], expected)
