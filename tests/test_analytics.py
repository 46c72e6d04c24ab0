from datetime import date, datetime, timedelta
from unittest.mock import patch

from odoo import Command
from odoo.tests import tagged

from .common import TODAY, CollectionCommon, on_day


class AnalyticsCommon(CollectionCommon):
    """Two customers: Alpha (collector Carla) and Beta (collector Diego)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.collector_2 = cls.make_user(
            "collector_2", "account_collection.group_collection_user", name="Diego Collector"
        )
        cls.alpha = cls.env["res.partner"].create(
            {"name": "Alpha", "is_company": True, "collection_user_id": cls.collector.id}
        )
        cls.beta = cls.env["res.partner"].create(
            {"name": "Beta", "is_company": True, "collection_user_id": cls.collector_2.id}
        )

    @classmethod
    def receivable(cls, move):
        return move.line_ids.filtered(lambda line: line.account_type == "asset_receivable")

    def grouped(self, model, groupby, aggregates, user=None, domain=()):
        """{group key(s): aggregates} of ``model`` read by ``user`` (default: a manager)."""
        Model = self.env[model].with_user(user or self.collection_manager)
        result = {}
        for row in Model._read_group(list(domain), groupby, aggregates):
            keys = tuple(key.id if hasattr(key, "_name") else key for key in row[: len(groupby)])
            values = row[len(groupby) :]
            result[keys if len(keys) > 1 else keys[0]] = tuple(
                round(value, 2) if value is not None else None for value in values
            )
        return result


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestRecoveryCurve(AnalyticsCommon):
    """The recovery curve against a book computed by hand (today 2026-03-16; no taxes).

    Alpha:
        I1 1000 due 2025-10-01: paid 400 on 2025-10-11 (10 days late), 600 on 2025-11-20
           (50 days late)
        I2  500 due 2025-10-01: never paid (166 days late today)
        I3 2000 due 2026-01-15: paid on 2026-01-10, before it fell due: never late
    Beta:
        I4  800 due 2026-02-14: paid on 2026-03-06 (20 days late); 30 days late today
        I5  300 due 2025-11-01: a credit note of 300 dated 2025-12-15 (44 days late)
           matched with it: taken off, but not collected

    An item reaches a bucket on its first day past due (due + 0, + 31, + 61, + 91, + 181,
    + 361) if that day is not after today, with what was still owed on it then:
        0-30    I1 1000 (collected in the bucket 400, from then on 1000), I2 500 (0, 0),
                I4 800 (800, 800), I5 300 (0, 0): owed 2600, collected 1200, recovered
                1800: recovery 1800 / 2600 = 69.23 %, in the bucket 1200 / 2600 = 46.15 %
        31-60   (from 2025-11-01 for I1 and I2, 2025-12-02 for I5; I4 reaches it on
                2026-03-17, tomorrow) I1 600 (600, 600), I2 500, I5 300 (the credit note is
                no collection): owed 1400, recovered 600: 42.86 %
        61-90   I1 and I5 nothing owed any more; I2 500: 0 %
        91-180  I2 500 (from 2025-12-31): 0 %
        181-360 I2 would reach it on 2026-03-31: no row; nor over 360."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.i1 = cls.invoice(cls.alpha, 1000, date(2025, 10, 1))
        cls.i2 = cls.invoice(cls.alpha, 500, date(2025, 10, 1))
        cls.i3 = cls.invoice(cls.alpha, 2000, date(2026, 1, 15))
        cls.i4 = cls.invoice(cls.beta, 800, date(2026, 2, 14))
        cls.i5 = cls.invoice(cls.beta, 300, date(2025, 11, 1))
        cls.pay(cls.i1, 400, date(2025, 10, 11))
        cls.pay(cls.i1, 600, date(2025, 11, 20))
        cls.pay(cls.i3, 2000, date(2026, 1, 10))
        cls.pay(cls.i4, 800, date(2026, 3, 6))
        # Dated 2025-12-15 (30 days before its "due" date).
        credit_note = cls.invoice(cls.beta, 300, date(2026, 1, 14), move_type="out_refund")
        (cls.receivable(cls.i5) + cls.receivable(credit_note)).reconcile()

    def test_recovery_curve(self):
        self.assertEqual(
            self.grouped(
                "collection.recovery.report",
                ["bucket"],
                [
                    "amount_open:sum",
                    "amount_collected:sum",
                    "amount_recovered:sum",
                    "recovery_rate:avg",
                    "collected_rate:avg",
                ],
            ),
            {
                "000_030": (2600.0, 1200.0, 1800.0, round(1800 / 2600 * 100, 2), 46.15),
                "031_060": (1400.0, 600.0, 600.0, round(600 / 1400 * 100, 2), 42.86),
                "061_090": (500.0, 0.0, 0.0, 0.0, 0.0),
                "091_180": (500.0, 0.0, 0.0, 0.0, 0.0),
            },
        )
        curve = self.env["collection.recovery.report"]._recovery_curve()
        self.assertEqual(
            {code: rate and round(rate, 2) for code, rate in curve.items()},
            {
                "000_030": 69.23,
                "031_060": 42.86,
                "061_090": 0.0,
                "091_180": 0.0,
                "181_360": None,
                "361_up": None,
            },
        )

    def test_rows_of_an_invoice(self):
        """I1: unpaid 1000 on its due date, 600 once 31 days late, nothing later."""
        rows = self.env["collection.recovery.report"].search(
            [("move_id", "=", self.i1.id)], order="bucket"
        )
        self.assertEqual(
            [(row.bucket, row.date_reached, row.amount_open, row.amount_collected) for row in rows],
            [
                ("000_030", date(2025, 10, 1), 1000.0, 400.0),
                ("031_060", date(2025, 11, 1), 600.0, 600.0),
            ],
        )
        self.assertEqual(rows.partner_id, self.alpha)
        self.assertEqual(rows.collection_user_id, self.collector)

    def test_a_payment_shows_at_once(self):
        """I2 paid today, 166 days late: recovered in every bucket it reached, collected
        in 91-180's. 0-30: (1800 + 500) / 2600."""
        self.pay(self.i2, 500, TODAY)
        result = self.grouped(
            "collection.recovery.report",
            ["bucket"],
            ["amount_collected:sum", "recovery_rate:avg"],
        )
        self.assertEqual(result["000_030"], (1200.0, round(2300 / 2600 * 100, 2)))
        self.assertEqual(result["091_180"], (500.0, 100.0))

    def test_restricted_collector_sees_own_customers(self):
        """Carla, restricted to her portfolio, sees Alpha's curve: 0-30: I1 1000 + I2 500
        owed, 1000 recovered: 66.67 %."""
        self.company.collection_portfolio_restricted = True
        result = self.grouped(
            "collection.recovery.report",
            ["bucket"],
            ["amount_open:sum", "recovery_rate:avg"],
            user=self.collector,
        )
        self.assertEqual(result["000_030"], (1500.0, 66.67))
        rows = self.env["collection.recovery.report"].with_user(self.collector).search([])
        self.assertEqual(rows.partner_id, self.alpha)
        self.company.collection_portfolio_restricted = False
        rows = self.env["collection.recovery.report"].with_user(self.collector).search([])
        self.assertEqual(rows.partner_id, self.alpha + self.beta)

    def test_restricted_collector_who_bills_sees_every_portfolio(self):
        """Carla, restricted to her portfolio, is also a billing user: she reads the curve
        of every customer, as billing users read every customer's cash-in forecast."""
        self.company.collection_portfolio_restricted = True
        self.collector.group_ids = [Command.link(self.env.ref("account.group_account_invoice").id)]
        rows = self.env["collection.recovery.report"].with_user(self.collector).search([])
        self.assertEqual(rows.partner_id, self.alpha + self.beta)

    # What waiting costs Gamma (see the next test): 200 x 37.5 % = 75.00 in 16 days.
    GAMMA_NOTE = (
        "At 45 days overdue, the company recovers 38% of such debt; from 61 days "
        "overdue (in 16 days), 0%: waiting costs about $\xa075.00 of the $\xa0200.00 of "
        "the oldest overdue invoices."
    )

    def gamma(self):
        """Gamma, who owes 200 due 2026-01-30: 45 days late today."""
        gamma = self.env["res.partner"].create({"name": "Gamma", "is_company": True})
        self.invoice(gamma, 200, date(2026, 1, 30))
        return gamma

    def test_what_waiting_costs_on_the_collections_tab(self):
        """Gamma owes 200 due 2026-01-30, 45 days late today. With it, the curve is
        31-60: I1 600 + I2 500 + I5 300 + Gamma 200 owed, 600 recovered: 37.5 %; 61-90:
        I2 500, 0 %. In 16 days its 200 leaves a bucket where the company recovers 37.5 %
        for one where it recovers 0 %: 200 x 37.5 % = 75.00. Alpha's oldest (I2) is 166
        days late, in 91-180 (0 %), and no item ever reached 181-360: no comparison.
        Beta has nothing overdue."""
        gamma = self.gamma()
        # The curve is kept for the day: forget one an earlier test computed.
        self.env.registry.clear_cache()
        note = gamma.with_user(self.collector).collection_recovery_note
        self.assertEqual(note, self.GAMMA_NOTE)
        self.assertEqual(
            self.alpha.with_user(self.collector).collection_recovery_note,
            "At 166 days overdue, the company recovers 0% of such debt.",
        )
        self.assertFalse(self.beta.with_user(self.collector).collection_recovery_note)
        # The form shows it next to the button to the recovery curve.
        arch = gamma.with_user(self.collector).get_views([(False, "form")])["views"]["form"]["arch"]
        self.assertIn('name="collection_recovery_note"', arch)

    def test_what_waiting_costs_reads_the_curve_kept_overnight(self):
        """Once the nightly action has kept the company's curve, a customer form no longer
        reads the company's whole history: the sentence comes from the curve kept."""
        gamma = self.gamma()
        cron = self.env.ref("account_collection.ir_cron_collection_refresh_recovery_curve")
        self.assertEqual(cron.code, "model._cron_collection_refresh_recovery_curve()")
        self.env["res.company"]._cron_collection_refresh_recovery_curve()
        self.assertEqual(self.company.collection_recovery_curve_date, date(2026, 3, 16))
        self.assertEqual(self.company.collection_recovery_curve["031_060"], 37.5)
        Report = self.env.registry["collection.recovery.report"]
        with patch.object(Report, "_recovery_curve", side_effect=AssertionError("history read")):
            self.env.registry.clear_cache()
            note = gamma.with_user(self.collector).collection_recovery_note
        self.assertEqual(note, self.GAMMA_NOTE)

    def test_what_waiting_costs_says_nothing_of_a_cost_when_waiting_costs_nothing(self):
        """Where the company's curve recovers as much or more at the next age (a young
        book, a few large late payments), waiting costs nothing: the sentence gives the
        rate of today only, never "waiting costs about $ 0.00"."""
        gamma = self.env["res.partner"].create({"name": "Gamma", "is_company": True})
        self.invoice(gamma, 200, date(2026, 1, 30))
        curve = {"000_030": 90.0, "031_060": 8.0, "061_090": 9.0, "091_180": 0.0}
        self.company.write(
            {"collection_recovery_curve": curve, "collection_recovery_curve_date": TODAY}
        )
        self.env.registry.clear_cache()
        self.assertEqual(
            gamma.with_user(self.collector).collection_recovery_note,
            "At 45 days overdue, the company recovers 8% of such debt.",
        )
        # The same rate at the next age: nothing lost by waiting either.
        curve["061_090"] = 8.0
        self.company.collection_recovery_curve = curve
        self.env.registry.clear_cache()
        gamma.invalidate_recordset(["collection_recovery_note"])
        self.assertEqual(
            gamma.with_user(self.collector).collection_recovery_note,
            "At 45 days overdue, the company recovers 8% of such debt.",
        )

    def test_worklist_opens_the_curve(self):
        """The worklist's list has a button to the recovery curve."""
        action = self.env.ref("account_collection.collection_recovery_report_action")
        view = (
            self.env["res.partner"]
            .with_user(self.collector)
            .get_views(
                [(self.env.ref("account_collection.res_partner_view_list_collection").id, "list")]
            )
        )
        self.assertIn(f'name="{action.id}"', view["views"]["list"]["arch"])


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestReminderEffectiveness(AnalyticsCommon):
    """The effectiveness of the reminders and of the collectors' contacts, against a
    book computed by hand (no taxes). One policy, levels L1 and L2.

        R1 L1 to Alpha on 2026-02-10 about I6 and I2, sent by email (and a task for the
           collector, an activity: no message, does not count)
           I6 1200 due 2026-02-01: paid 700 on 2026-02-15 (5 days after), 500 on 2026-03-01
              (19 days after): settled 19 days after the reminder
           I2  500 due 2026-01-01: never paid
        R2 L2 to Beta on 2026-02-20 about I7, sent by letter (its failed email does not
           count)
           I7  400 due 2026-01-20: paid on 2026-02-24 (4 days after)
        R3 L1 to Beta on 2026-02-25 about I8, sent by SMS
           I8 1000 due 2026-02-20: paid 300 on 2026-02-23 (before the reminder: reminded
              700), 700 on 2026-03-10 (13 days after)

    Per level and channel (paid within 7 days / reminded; median days to pay):
        L1 email  700 / 1700 = 41.18 %; 19 (I2 is not settled: no days)
        L1 SMS      0 /  700 =  0 %;    13
        L2 letter 400 /  400 = 100 %;    4
        L1        700 / 2400 = 29.17 %; median of 19 and 13 = 16
        all      1100 / 2800 = 39.29 %; median of 19, 13 and 4 = 13

    Contacts: Carla calls Alpha on 2026-02-12: I6's 700 (Feb 15) came within 7 days,
    its 500 (Mar 1) within 30 only. Diego calls Beta on 2026-03-01: I8's 700 (Mar 10)
    came within 30 days, not 7; Beta's earlier payments came before the call."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        policy = (
            cls.env.ref("account_collection.collection_policy_default")
            .sudo()
            .copy({"name": "Effectiveness policy", "company_id": cls.company.id})
        )
        cls.l1, cls.l2 = policy.level_ids.sorted("delay")[:2]
        cls.i6 = cls.invoice(cls.alpha, 1200, date(2026, 2, 1))
        cls.i2 = cls.invoice(cls.alpha, 500, date(2026, 1, 1))
        cls.i7 = cls.invoice(cls.beta, 400, date(2026, 1, 20))
        cls.i8 = cls.invoice(cls.beta, 1000, date(2026, 2, 20))
        cls.r1 = cls.reminder(
            cls.l1, cls.i6 + cls.i2, date(2026, 2, 10), {"email": "sent", "activity": "sent"}
        )
        cls.r2 = cls.reminder(
            cls.l2, cls.i7, date(2026, 2, 20), {"letter": "sent", "email": "failed"}
        )
        cls.r3 = cls.reminder(cls.l1, cls.i8, date(2026, 2, 25), {"sms": "sent"})
        cls.pay(cls.i6, 700, date(2026, 2, 15))
        cls.pay(cls.i6, 500, date(2026, 3, 1))
        cls.pay(cls.i7, 400, date(2026, 2, 24))
        cls.pay(cls.i8, 300, date(2026, 2, 23))
        cls.pay(cls.i8, 700, date(2026, 3, 10))
        for partner, user, when in (
            (cls.alpha, cls.collector, datetime(2026, 2, 12, 10)),
            (cls.beta, cls.collector_2, datetime(2026, 3, 1, 10)),
        ):
            cls.env["collection.interaction"].with_user(cls.collection_manager).create(
                {
                    "partner_id": partner.id,
                    "user_id": user.id,
                    "date": when,
                    "channel": "call",
                    "status_before": "current",
                    "status_after": "paying",
                }
            )

    @classmethod
    def reminder(cls, level, moves, day, deliveries):
        """A reminder at ``level`` of ``moves`` dated ``day`` and its deliveries
        ({channel: state}), sent at noon that day, as the reminders engine writes them."""
        # sudo: reminders and their deliveries are written by the reminders engine only.
        communication = (
            cls.env["collection.communication"]
            .sudo()
            .create(
                {
                    "partner_id": moves.commercial_partner_id.id,
                    "company_id": cls.company.id,
                    "level_id": level.id,
                    "policy_id": level.policy_id.id,
                    "date": day,
                    "move_ids": [Command.set(moves.ids)],
                }
            )
        )
        cls.env["collection.communication.delivery"].sudo().create(
            [
                {
                    "communication_id": communication.id,
                    "channel": channel,
                    "state": state,
                    "date_sent": datetime.combine(day, datetime.min.time()) + timedelta(hours=12)
                    if state == "sent"
                    else False,
                }
                for channel, state in deliveries.items()
            ]
        )
        return communication

    def test_per_level_and_channel(self):
        aggregates = ["amount_reminded:sum", "amount_paid_7_days:sum", "paid_7_days_rate:avg"]
        Report = "collection.effectiveness.report"
        self.assertEqual(
            self.grouped(Report, ["level_id", "channel"], [*aggregates, "days_to_pay:avg"]),
            {
                (self.l1.id, "email"): (1700.0, 700.0, round(700 / 1700 * 100, 2), 19.0),
                (self.l1.id, "sms"): (700.0, 0.0, 0.0, 13.0),
                (self.l2.id, "letter"): (400.0, 400.0, 100.0, 4.0),
            },
        )
        self.assertEqual(
            self.grouped(Report, ["level_id"], [*aggregates, "days_to_pay:avg"]),
            {
                self.l1.id: (2400.0, 700.0, round(700 / 2400 * 100, 2), 16.0),
                self.l2.id: (400.0, 400.0, 100.0, 4.0),
            },
        )
        [[reminded, paid, rate, median]] = (
            self.env[Report]
            .with_user(self.collection_manager)
            ._read_group([], [], [*aggregates, "days_to_pay:avg"])
        )
        self.assertEqual((reminded, paid, round(rate, 2), median), (2800.0, 1100.0, 39.29, 13.0))

    def test_rows(self):
        rows = self.env["collection.effectiveness.report"].search([("move_id", "=", self.i8.id)])
        self.assertRecordValues(
            rows,
            [
                {
                    "communication_id": self.r3.id,
                    "channel": "sms",
                    "date": date(2026, 2, 25),
                    "amount_reminded": 700.0,
                    "amount_paid_7_days": 0.0,
                    "days_to_pay": 13.0,
                    "partner_id": self.beta.id,
                    "collection_user_id": self.collector_2.id,
                }
            ],
        )

    def test_restricted_collector_sees_own_customers(self):
        self.company.collection_portfolio_restricted = True
        self.assertEqual(
            self.grouped(
                "collection.effectiveness.report",
                ["channel"],
                ["amount_reminded:sum", "paid_7_days_rate:avg"],
                user=self.collector,
            ),
            {"email": (1700.0, round(700 / 1700 * 100, 2))},
        )

    def test_restricted_collector_who_bills_sees_every_portfolio(self):
        """Carla, restricted to her portfolio, is also a billing user: she reads the
        effectiveness of every customer's reminders, as billing users read every
        customer's cash-in forecast."""
        self.company.collection_portfolio_restricted = True
        self.collector.group_ids = [Command.link(self.env.ref("account.group_account_invoice").id)]
        rows = self.env["collection.effectiveness.report"].with_user(self.collector).search([])
        self.assertEqual(rows.partner_id, self.alpha + self.beta)

    def test_collected_within_7_days_of_a_contact(self):
        self.assertEqual(
            self.grouped(
                "collection.collector.report",
                ["user_id"],
                ["collected_within_7_days:sum", "collected_after_contact:sum"],
                domain=[("kind", "=", "collected")],
            ),
            {self.collector.id: (700.0, 1200.0), self.collector_2.id: (0.0, 700.0)},
        )
