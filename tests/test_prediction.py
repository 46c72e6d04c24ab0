from datetime import timedelta
from unittest.mock import patch

from odoo import fields
from odoo.tests import tagged

from odoo.addons.account_collection.models.collection_prediction import (
    DelayModel,
    conditional_median,
    kaplan_meier,
)

from .common import TODAY, CollectionCommon, day, on_day


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionPrediction(CollectionCommon):
    """Every open invoice gets a predicted payment date learnt from its customer's paid
    history, still-open invoices counting as "not paid yet after so many days", and the
    cash-in forecast spreads the open invoices over the weeks of their predictions."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.customer_history = cls.env["res.partner"].create(
            {"name": "Steady Payer", "is_company": True}
        )
        # Five invoices paid 10, 20, 30, 40 and 50 days after their due date.
        cls.paid_history(cls.customer_history, {-100: 10, -90: 20, -80: 30, -70: 40, -60: 50})
        # Open: one 25 days past due, one due in 10 days.
        cls.open_late = cls.invoice(cls.customer_history, 700.0, day(-25))
        cls.open_not_due = cls.invoice(cls.customer_history, 300.0, day(10))

    def test_kaplan_meier_against_a_hand_computation(self):
        # Paid after 10, 20, 30 days; open after 15 and 40 days. Five at risk at 10:
        # S = 4/5; the one open at 15 leaves; three at risk at 20: S = 4/5 * 2/3; two at
        # 30: S = 4/5 * 2/3 * 1/2.
        curve = kaplan_meier({10: (1, 0), 15: (0, 1), 20: (1, 0), 30: (1, 0), 40: (0, 1)})
        self.assertEqual([t for t, _s in curve], [10, 20, 30])
        for (_t, survival), expected in zip(curve, (0.8, 0.8 * 2 / 3, 0.8 / 3), strict=True):
            self.assertAlmostEqual(survival, expected)
        # Half of the items are paid by 30 days; of those open after 25 days (S = 8/15),
        # half are paid by 30 days too (S = 4/15).
        self.assertEqual(conditional_median(curve, 0), 30)
        self.assertEqual(conditional_median(curve, 25), 30)
        # Nothing in the history was paid after 30 days: no median after that.
        self.assertIsNone(conditional_median(curve, 30))

    def test_customers_sharing_a_curve_get_the_same_delay(self):
        """A delay predicted for one customer is not taken for another one that learns
        from other curves, whatever the order the items are predicted in."""
        as_of = TODAY
        # Own history: paid 10, 20, 30, 40, 50 days late (S = .8 .6 .4 .2 0). One paid
        # 100 days late. The company's curve, the six together: S = 5/6 ... 1/6, 0.
        counts = {
            1: {delay: (1, 0) for delay in (10, 20, 30, 40, 50)},
            2: {100: (1, 0)},
        }

        def due(elapsed):
            return as_of - timedelta(days=elapsed)

        for order in ((1, 2, 3), (3, 2, 1)):
            model = DelayModel(as_of, counts)
            predicted = {
                (partner, elapsed): model.predict_delay(partner, due(elapsed))
                for partner in order
                for elapsed in (15, 60, 150)
            }
            self.assertEqual(
                predicted,
                {
                    # 15 days late: half of S = .8 at 30 days on its own curve; half of
                    # 5/6 at 40 days on the company's.
                    (1, 15): 30,
                    (2, 15): 40,
                    (3, 15): 40,
                    # 60 days late: its own curve ends at 50, the company's reaches 0
                    # at 100.
                    (1, 60): 100,
                    (2, 60): 100,
                    (3, 60): 100,
                    # 150 days late: no curve goes that far, 30 days from today.
                    (1, 150): 180,
                    (2, 150): 180,
                    (3, 150): 180,
                },
            )
            self.assertEqual(model.predict(3, due(60)), due(60) + timedelta(days=100))
            self.assertEqual(
                [model.source(partner) for partner in (1, 2, 3)],
                ["customer", "company", "company"],
            )

    def test_forecast_weeks_open_their_items(self):
        """The forecast's pivot as the web client reads it: each week and customer
        named, and each opening exactly the items it adds up."""
        forecast = self.env["collection.cash.forecast"].with_user(self.collector)
        cells, weeks, [total] = forecast.formatted_read_grouping_sets(
            [],
            [["partner_id", "week_start:week"], ["week_start:week"], []],
            ["amount_residual:sum"],
        )
        partner = (self.customer_history.id, self.customer_history.display_name)
        self.assertEqual([cell["partner_id"] for cell in cells], [partner, partner])
        # The weeks of the user's language; the late one holds the Monday of its
        # predicted day (+15), the other one the not yet due's (due in 10 days + 30).
        starts = [fields.Date.to_date(week["week_start:week"][0]) for week in weeks]
        for start, predicted in zip(starts, (day(15), day(40)), strict=True):
            monday = predicted - timedelta(days=predicted.weekday())
            self.assertLessEqual(start, monday)
            self.assertLess(monday, start + timedelta(days=7))
        self.assertEqual([week["amount_residual:sum"] for week in weeks], [700.0, 300.0])
        self.assertEqual(
            [cell["week_start:week"] for cell in cells],
            [week["week_start:week"] for week in weeks],
        )
        self.assertTrue(weeks[0]["week_start:week"][1].startswith("W"))
        self.assertEqual(
            weeks[0]["__extra_domain"],
            [
                "&",
                ("week_start", ">=", str(starts[0])),
                ("week_start", "<", str(starts[0] + timedelta(days=7))),
            ],
        )
        self.assertEqual(total["amount_residual:sum"], 1000.0)
        for group in cells + weeks:
            rows = forecast.search(group["__extra_domain"])
            self.assertEqual(sum(rows.mapped("amount_residual")), group["amount_residual:sum"])
        self.assertEqual(forecast.search(weeks[0]["__extra_domain"]).move_id, self.open_late)

    def test_open_invoices_count_as_censored_history(self):
        # Seven items: the one due in 10 days leaves the count unpaid at -10 days; paid
        # at 10 (S = 5/6), 20 (S = 2/3); the one 25 days late leaves unpaid at 25; paid at
        # 30 (S = 2/3 * 2/3 = 4/9), 40 (S = 2/9), 50 (S = 0).
        # 25 days late and unpaid: S(25) = 2/3, half of it (1/3) is reached at 40 days.
        moves = (self.open_late + self.open_not_due).with_user(self.collector)
        self.assertEqual(moves[0].collection_predicted_date, day(-25) + timedelta(days=40))
        # Not due yet: the median delay, 30 days (S = 4/9 <= 1/2).
        self.assertEqual(moves[1].collection_predicted_date, day(10) + timedelta(days=30))

    def test_paid_invoice_has_no_prediction(self):
        self.pay(self.open_late)
        self.assertFalse(self.open_late.with_user(self.collector).collection_predicted_date)

    def test_customer_without_history_falls_back_to_the_company(self):
        newcomer = self.env["res.partner"].create({"name": "Newcomer", "is_company": True})
        invoice = self.invoice(newcomer, 500.0, day(10))
        # The company's curve: the history above plus this invoice, open 10 days before
        # its due date like the other one: the same median, 30 days.
        self.assertEqual(
            invoice.with_user(self.collector).collection_predicted_date,
            day(10) + timedelta(days=30),
        )
        forecast = self.env["collection.cash.forecast"].with_user(self.collector)
        row = forecast.search([("move_id", "=", invoice.id)])
        self.assertEqual(row.source, "company")
        self.assertEqual(forecast.search([("move_id", "=", self.open_late.id)]).source, "customer")

    def test_forecast_adds_up_to_the_open_invoices(self):
        other = self.env["res.partner"].create({"name": "Other", "is_company": True})
        partly_paid = self.invoice(other, 900.0, day(-400))
        self.pay(partly_paid, 400.0)
        forecast = self.env["collection.cash.forecast"].with_user(self.collector)
        total = sum(row["amount_residual"] for row in forecast.search_read([], ["amount_residual"]))
        # 700 + 300 + the 500 still open on the partly paid invoice.
        self.assertEqual(total, 1500.0)
        weeks = dict(forecast._read_group([], ["week_start:day"], ["amount_residual:sum"]))
        self.assertEqual(sum(weeks.values()), 1500.0)
        # The late one is predicted on day +15, in that day's week (of the user's
        # language: English weeks start on Sunday).
        row = forecast.search([("move_id", "=", self.open_late.id)])
        self.assertEqual(row.predicted_date, day(15))
        sunday = day(15) - timedelta(days=(day(15).weekday() + 1) % 7)
        self.assertEqual(row.week_start, sunday)
        self.assertFalse(row.later)

    def test_customer_without_history_falls_back_to_its_segment(self):
        spain = self.env.ref("base.es")
        self.customer_history.country_id = spain
        # A customer outside the segment who always pays 100 days late pulls the
        # company's curve away from the segment's.
        slow = self.env["res.partner"].create({"name": "Slow Payer", "is_company": True})
        for index in range(5):
            due = day(-300 + 20 * index)
            invoice = self.invoice(slow, 100.0, due)
            with on_day(due + timedelta(days=100)):
                self.pay(invoice, pay_date=due + timedelta(days=100))
        newcomer = self.env["res.partner"].create(
            {"name": "Newcomer", "is_company": True, "country_id": spain.id}
        )
        invoice = self.invoice(newcomer, 500.0, day(10))
        policy = self.env["collection.policy"].create(
            {"name": "Spain", "company_id": self.company.id, "mode": "review"}
        )
        self.env["collection.segment"].create(
            {"name": "Spain", "domain": "[('country_id.code', '=', 'ES')]", "policy_id": policy.id}
        )
        # The segment's curve is the steady payer's and the newcomer's: median 30 days.
        self.assertEqual(
            invoice.with_user(self.collector).collection_predicted_date,
            day(10) + timedelta(days=30),
        )
        row = (
            self.env["collection.cash.forecast"]
            .with_user(self.collector)
            .search([("move_id", "=", invoice.id)])
        )
        self.assertEqual(row.source, "segment")
        other = self.env["res.partner"].create({"name": "Elsewhere", "is_company": True})
        elsewhere = self.invoice(other, 500.0, day(10))
        # Outside the segment, the company's curve: half paid within 100 days.
        self.assertEqual(
            elsewhere.with_user(self.collector).collection_predicted_date,
            day(10) + timedelta(days=100),
        )

    def test_forecast_fits_once_per_read_only_transaction(self):
        """Counting and reading the forecast's rows in a transaction that wrote nothing
        fits the predictions once; after a write, they are fitted again."""
        Prediction = type(self.env["collection.prediction"])
        Forecast = type(self.env["collection.cash.forecast"])
        forecast = self.env["collection.cash.forecast"].with_user(self.collector)
        fits = []
        predict = Prediction._predict_open_items
        cache = self.env.cr.cache
        self.addCleanup(
            lambda: [cache.pop(key) for key in list(cache) if key[0] == "collection.cash.forecast"]
        )

        def counted(prediction, company, today, restrict=None):
            fits.append(company)
            return predict(prediction, company, today, restrict)

        with (
            patch.object(Prediction, "_predict_open_items", counted),
            patch.object(Forecast, "_ledger_written_in_transaction", return_value=False),
        ):
            self.assertEqual(forecast.search_count([]), 2)
            self.assertEqual(sum(forecast.search([]).mapped("amount_residual")), 1000.0)
            forecast._read_group([], ["week_start:week"], ["amount_residual:sum"])
        self.assertEqual(len(fits), 1)
        with patch.object(Prediction, "_predict_open_items", counted):
            self.pay(self.open_late, 700.0)
            self.assertEqual(sum(forecast.search([]).mapped("amount_residual")), 300.0)
        self.assertEqual(len(fits), 2)
