from datetime import date

from odoo.exceptions import AccessError
from odoo.tests import tagged

from .common import TODAY, CollectionCommon, day, on_day


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionInterest(CollectionCommon):
    """Late-payment interest and compensation claimable on overdue invoices, computed by
    hand. Today is 2026-03-16. Statutory rates of the test: 10.15% from 2025-07-01,
    12.00% from 2026-01-01."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        Rate = cls.env["collection.interest.rate"]
        Rate.search([]).unlink()
        Rate.create(
            [
                {"date_from": date(2025, 7, 1), "rate": 10.15},
                {"date_from": date(2026, 1, 1), "rate": 12.0},
            ]
        )
        cls.policy = cls.make_policy("Reminders", [{"name": "Late", "delay": 5}]).policy_id

    def test_statutory_interest_follows_payments_across_half_years(self):
        """1000 due 2025-12-01, paid 400 on 2025-12-21 and 300 on 2026-02-10:
        2025-12-02..2025-12-20  19 days x 1000 x 10.15%
        2025-12-21..2025-12-31  11 days x  600 x 10.15%
        2026-01-01..2026-02-09  40 days x  600 x 12.00%
        2026-02-10..2026-03-16  35 days x  300 x 12.00%
        = (192850 + 66990 + 288000 + 126000) / 36500 = 673840 / 36500 = 18.46"""
        self.policy.interest_mode = "statutory"
        self.assertEqual(self.policy.compensation_amount, 40.0, "the directive's 40 by default")
        move = self.invoice(self.customer, 1000.0, date(2025, 12, 1))
        self.pay(move, 400.0, date(2025, 12, 21))
        self.pay(move, 300.0, date(2026, 2, 10))
        move = move.with_user(self.collector)
        self.assertEqual(move.amount_residual, 300.0)
        self.assertAlmostEqual(move.collection_interest_amount, 18.46)
        self.assertEqual(move.collection_compensation_amount, 40.0)

        # A single rate for all the days would give 60100 x 10.15 / 36500 = 16.71.
        customer = self.customer.with_user(self.collector)
        self.assertAlmostEqual(customer.collection_interest_amount, 18.46)
        self.assertEqual(customer.collection_compensation_amount, 40.0)

    def test_fixed_rate_and_invoices_not_late(self):
        """Fixed 8%: 2000 due 10 days ago, 10 days x 2000 x 8% / 365 = 4.38. An invoice
        not due yet, one paid in full on its due date and one paid the day after (one day
        of interest on 500) claim what they owe; interest never bears interest."""
        self.policy.write({"interest_mode": "fixed", "interest_rate": 8.0})
        self.assertFalse(self.policy.compensation_amount)
        late = self.invoice(self.customer, 2000.0, day(-10))
        coming = self.invoice(self.customer, 700.0, day(5))
        on_time = self.invoice(self.customer, 300.0, day(-20))
        self.pay(on_time, pay_date=day(-20))
        a_day_late = self.invoice(self.customer, 500.0, day(-20))
        self.pay(a_day_late, pay_date=day(-18))
        moves = (late | coming | on_time | a_day_late).with_user(self.collector)
        self.assertEqual(
            moves.mapped("collection_interest_amount"),
            [4.38, 0.0, 0.0, round(500 * 8 / 36500, 2)],
        )
        self.assertEqual(moves.mapped("collection_compensation_amount"), [0.0] * 4)
        with on_day(day(10)):
            # Ten more days: twice the interest, computed on the invoice's amount only.
            late.invalidate_recordset()
            self.assertAlmostEqual(late.with_user(self.collector).collection_interest_amount, 8.77)

    def test_no_interest_mode_and_customer_policy(self):
        """No interest by default; the customer's own policy in the invoice's company
        decides, with a compensation of its own."""
        move = self.invoice(self.customer, 1000.0, day(-30)).with_user(self.collector)
        self.assertEqual(self.policy.interest_mode, "none")
        self.assertFalse(move.collection_interest_amount)
        self.assertFalse(move.collection_compensation_amount)
        own = self.env["collection.policy"].create(
            {
                "name": "Key accounts",
                "company_id": self.company.id,
                "interest_mode": "fixed",
                "interest_rate": 3.65,
                "compensation_amount": 25.0,
            }
        )
        self.customer.with_company(self.company).collection_policy_id = own
        move.invalidate_recordset()
        # 30 days x 1000 x 3.65% / 365 = 3.00
        self.assertAlmostEqual(move.collection_interest_amount, 3.0)
        self.assertEqual(move.collection_compensation_amount, 25.0)

    def test_reminder_email_says_claimable(self):
        """The overdue reminder's email has a line with the interest claimable."""
        self.policy.interest_mode = "statutory"
        move = self.invoice(self.customer, 1000.0, day(-30))
        reminder = self.make_reminder(move, TODAY, delay=15)
        # 2026-02-15..2026-03-16 30 days x 1000 x 12% / 365 = 9.86
        self.assertAlmostEqual(reminder.collection_interest_amount, 9.86)
        template = self.env.ref("account_collection.mail_template_reminder_overdue")
        body = template._render_field("body_html", reminder.ids)[reminder.id]
        self.assertIn("Late-payment interest claimable:", body)
        self.assertIn("9.86", body)
        self.assertIn("Compensation for recovery costs claimable:", body)

    def test_reminders_rendered_together_say_their_own_amounts(self):
        """The send queue renders a batch's emails in one call: each reminder's email
        says what is claimable on its own invoices, the interest already waived on one
        customer's invoice not claimed, the other's claimed in full."""
        self.policy.interest_mode = "statutory"
        bolt = self.env["res.partner"].create(
            {"name": "Bolt Industries", "is_company": True, "email": "bolt@example.com"}
        )
        waived = self.invoice(self.customer, 1000.0, day(-30))
        full = self.invoice(bolt, 2000.0, day(-30))
        self.env["collection.charge"].with_user(self.collection_manager)._collection_waive(
            waived, "Key account"
        )
        reminders = self.make_reminder(waived, TODAY, delay=15) | self.make_reminder(
            full, TODAY, delay=15
        )
        reminders.invalidate_model()
        template = self.env.ref("account_collection.mail_template_reminder_overdue")
        bodies = template._render_field("body_html", reminders.ids)
        # 30 days x 2000 x 12% / 365 = 19.73; nothing left on the waived invoice.
        self.assertIn("19.73", bodies[reminders[1].id])
        self.assertIn("Late-payment interest claimable:", bodies[reminders[1].id])
        self.assertIn("Compensation for recovery costs claimable:", bodies[reminders[1].id])
        self.assertNotIn("Late-payment interest claimable:", bodies[reminders[0].id])
        self.assertNotIn("Compensation for recovery costs claimable:", bodies[reminders[0].id])
        self.assertEqual(
            reminders.mapped("collection_interest_amount"), [0.0, 19.73], "read together"
        )

    def test_rate_table_is_for_managers(self):
        """Collectors read the statutory rates; only managers change them."""
        rate = self.env["collection.interest.rate"].search([], limit=1)
        self.assertTrue(rate.with_user(self.collector).rate)
        with self.assertRaises(AccessError):
            rate.with_user(self.collector).write({"rate": 1.0})
        with self.assertRaises(AccessError):
            self.env["collection.interest.rate"].with_user(self.collector).create(
                {"date_from": date(2026, 7, 1), "rate": 1.0}
            )
        # The table is every company's: a manager of one company of several cannot change it.
        with self.assertRaises(AccessError):
            rate.with_user(self.collection_manager).write({"rate": 1.0})
        self.collection_manager.company_ids = self.env["res.company"].search([])
        self.env["collection.interest.rate"].with_user(self.collection_manager).create(
            {"date_from": date(2026, 7, 1), "rate": 11.0}
        )
        self.policy.interest_mode = "statutory"
        move = self.invoice(self.customer, 1000.0, date(2026, 6, 30)).with_user(self.collector)
        with on_day(date(2026, 7, 2)):
            # 2026-07-01 and 2026-07-02 at the new 11% on 1000 = 22000 / 36500 = 0.60
            self.assertAlmostEqual(move.collection_interest_amount, 0.60)

    def test_statement_says_claimable(self):
        """The statement of account adds the claimable interest and compensation under
        its total due."""
        self.policy.interest_mode = "statutory"
        self.invoice(self.customer, 1000.0, day(-30))
        content, _type = (
            self.env["ir.actions.report"]
            .with_user(self.collector)
            ._render_qweb_html(
                "account_collection.action_report_collection_statement", self.customer.ids
            )
        )
        text = " ".join(content.decode().split())
        self.assertIn("Late-payment interest claimable", text)
        self.assertIn("9.86", text)
        self.assertIn("Compensation for recovery costs claimable", text)
