from datetime import datetime, time

from odoo.exceptions import AccessError, UserError
from odoo.tests import freeze_time, tagged

from .common import TODAY, DunningCadenceCommon, at, day, on_day


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionFollowUpPage(DunningCadenceCommon):
    """The customer's Collections tab, a follow-up page: the open items inline, the
    reminders sent, the next reminder the run will create and the policy that
    decides it, and the button that sends the next reminder now."""

    def page(self, partner, user=None):
        return partner.with_user(user or self.collector).with_company(self.company)

    def test_next_reminder_is_the_one_the_run_creates(self):
        """The next reminder shown is the level and the day of the run's next reminder."""
        invoice = self.invoice(self.customer, 1000.0, day(2))
        journey = [
            (day(-1), self.level_soon, day(0)),
            (day(0), self.level_soon, day(0)),  # due today: the run's plan
            (day(1), self.level_due, day(2)),
            (day(2), self.level_due, day(2)),
            (day(3), self.level_text, day(7)),
            (day(7), self.level_text, day(7)),
            (day(8), self.level_late, day(12)),
            (day(12), self.level_late, day(12)),
            (day(13), self.level_call, day(22)),
            (day(22), self.level_call, day(22)),
            (day(23), False, False),  # the last level was reached
        ]
        for date, level, reminder_day in journey:
            with self.subTest(date=date), on_day(date):
                page = self.page(self.customer)
                self.assertEqual(
                    page.collection_next_level_id, level or self.env["collection.level"]
                )
                self.assertEqual(page.collection_next_reminder_date, reminder_day)
                before = self.reminders()
                self.run_dunning(date)
                created = self.reminders() - before
                if reminder_day == date:
                    self.assertEqual(created.level_id, level)
                    # Reviewed and sent at once: the next level waits for it to leave.
                    created.with_user(self.collector).action_approve()
                    with self.sms_gateway():
                        self.run_queue(datetime.combine(date, time(13)))
                else:
                    self.assertFalse(created)
        self.assertEqual(invoice.collection_level_id, self.level_call)

    def test_next_reminder_follows_the_runs_exclusions(self):
        """A promise, an excluded customer or a paid invoice: no next reminder."""
        invoice = self.invoice(self.customer, 1000.0, day(-6))
        other = self.make_customer("Beta Customer")
        self.invoice(other, 500.0, day(-15))
        page = self.page(self.customer | other)
        self.assertEqual(
            [(p.collection_next_level_id, p.collection_next_reminder_date) for p in page],
            [(self.level_text, TODAY), (self.level_late, TODAY)],
            "Both are due today at the highest level reached: the run's plan.",
        )
        other.with_company(self.company).collection_excluded = True
        self.env["collection.promise"].create(
            {"partner_id": self.customer.id, "move_ids": invoice.ids, "amount": 1000.0,
             "date": day(5)}
        )  # fmt: skip
        self.env.invalidate_all()
        for partner in self.page(self.customer | other):
            self.assertFalse(partner.collection_next_level_id, partner.name)
            self.assertFalse(partner.collection_next_reminder_date, partner.name)

    def test_effective_policy_is_the_company_default(self):
        page = self.page(self.customer)
        self.assertFalse(page.collection_policy_id)
        self.assertEqual(page.collection_effective_policy_id, self.policy)
        own = self.env["collection.policy"].create({"name": "Own", "company_id": self.company.id})
        self.customer.with_company(self.company).collection_policy_id = own
        self.assertEqual(self.page(self.customer).collection_effective_policy_id, own)

    def test_open_items_inline(self):
        """The open invoices and credit notes, oldest due first; paid ones leave."""
        old = self.invoice(self.customer, 300.0, day(-40))
        new = self.invoice(self.customer, 200.0, day(5))
        paid = self.invoice(self.customer, 100.0, day(-20))
        credit = self.invoice(self.customer, 50.0, day(-1), move_type="out_refund")
        self.pay(paid)
        self.invoice(self.make_customer("Beta Customer"), 700.0, day(-10))
        page = self.page(self.customer)
        self.assertEqual(page.collection_open_move_ids, old | credit | new)
        self.assertEqual(page.collection_open_move_ids.ids, (old | credit | new).ids)
        self.assertEqual(
            page.collection_open_move_ids.mapped("collection_days_overdue"), [40, 0, 0]
        )

    def test_send_next_reminder_now(self):
        """Before its day, a collector sends the next reminder: the run's reminder,
        approved and queued; the invoices move up to its level."""
        invoice = self.invoice(self.customer, 1000.0, day(-3))
        self.run_dunning(day(-3))  # Due reached on the due date, Text in 2 days
        self.assertEqual(invoice.collection_level_id, self.level_due)
        page = self.page(self.customer)
        self.assertEqual(page.collection_next_level_id, self.level_text)
        self.assertEqual(page.collection_next_reminder_date, day(2))

        action = page.action_collection_send_next_reminder()
        reminder = self.reminders(self.customer)[-1]
        self.assertEqual(action["res_id"], reminder.id)
        self.assertRecordValues(
            reminder,
            [{"level_id": self.level_text.id, "date": TODAY, "state": "queued",
              "move_ids": invoice.ids}],
        )  # fmt: skip
        self.assertEqual(reminder.delivery_ids.mapped("state"), ["queued"])
        self.assertEqual(invoice.collection_level_id, self.level_text)
        # The next level waits for this one to leave, then shows.
        self.env.invalidate_all()
        self.assertFalse(self.page(self.customer).collection_next_level_id)
        with self.sms_gateway():
            self.run_queue(at(0, 13))
        self.env.invalidate_all()
        self.assertEqual(self.page(self.customer).collection_next_level_id, self.level_late)

    def test_send_next_reminder_refused(self):
        """Nothing to send, another collector's customer, a user without the group."""
        with self.assertRaisesRegex(UserError, "No reminder is due"):
            self.page(self.customer).action_collection_send_next_reminder()
        self.invoice(self.customer, 1000.0, day(-3))
        self.company.collection_portfolio_restricted = True
        other_collector = self.make_user(
            "other_collector", "account_collection.group_collection_user"
        )
        with self.assertRaises(AccessError):
            self.page(self.customer, other_collector).action_collection_send_next_reminder()
        billing = self.make_user("billing", "account.group_account_invoice")
        with self.assertRaises(UserError):
            self.page(self.customer, billing).action_collection_send_next_reminder()
        self.assertFalse(self.reminders())


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionReminderReadable(DunningCadenceCommon):
    """A reminder tells why it waits and shows its messages as the customer gets
    them; the Run Reminders preview counts the reminders per level."""

    def test_waiting_reason(self):
        self.company.write({"collection_quiet_hour_start": 20.0, "collection_quiet_hour_end": 8.0})
        self.company.partner_id.tz = "Europe/Madrid"  # UTC+1 in March
        self.customer.phone = False
        self.invoice(self.customer, 1000.0, day(-10))  # overdue: still true the next day
        self.invoice(self.customer, 500.0, day(4))  # two days before: on day 2
        self.run_dunning(day(0))
        reminder = self.reminders(self.customer).with_user(self.collector)
        self.assertEqual(reminder.waiting_reason, "To review")
        reminder.action_approve()

        # 22:00 in Madrid: the email waits for 08:00, before and after the queue ran.
        with freeze_time(at(0, 21)):
            reminder.invalidate_recordset(["waiting_reason"])
            self.assertEqual(reminder.waiting_reason, "Quiet hours until Mar 17, 08:00")
        self.run_queue(at(0, 21))
        with freeze_time(at(1, 6)):
            reminder.invalidate_recordset(["waiting_reason"])
            self.assertEqual(reminder.waiting_reason, "Quiet hours until 08:00")
        self.run_queue(at(1, 7))
        reminder.invalidate_recordset(["waiting_reason", "state"])
        self.assertEqual(reminder.state, "done")
        self.assertFalse(reminder.waiting_reason)

        # Two days later, the next reminder waits for the contact limit: two days
        # after the first message (08:00 on the 17th), the day before its due date.
        self.company.collection_message_interval_days = 2
        self.run_dunning(day(2))
        second = self.reminders(self.customer)[1:].with_user(self.collector)
        second.action_approve()
        self.run_queue(at(2, 12))
        with freeze_time(at(2, 13)):
            second.invalidate_recordset(["waiting_reason"])
            self.assertEqual(second.waiting_reason, "Contact limit until Mar 19")

    def test_preview_of_each_channel(self):
        """The email and the SMS of the level, rendered for this customer."""
        self.invoice(self.customer, 1000.0, day(-12))
        self.run_dunning(day(0))
        reminder = self.reminders(self.customer).with_user(self.collector)
        self.assertEqual(reminder.level_id, self.level_late)
        preview = str(reminder.preview_html)
        invoice_name = reminder.move_ids.name
        self.assertIn("Email", preview)
        self.assertIn("SMS", preview)
        self.assertIn(invoice_name, preview)
        self.assertNotIn("{{", preview.replace("{{1}}", ""))
        self.assertEqual(reminder.delivery_summary, "Email: To Review, SMS: To Review")

    def test_run_preview_counts_per_level(self):
        self.invoice(self.customer, 1000.0, day(-12))
        self.invoice(self.make_customer("Beta Customer"), 500.0, day(-11))
        self.invoice(self.make_customer("Gamma Customer"), 300.0, day(2))
        wizard = (
            self.env["collection.dunning.run"]
            .with_user(self.collection_manager)
            .with_context(lang="en_US")
            .create({})
        )
        summary = str(wizard.level_summary)
        self.assertIn("<b>Soon (-2 days)</b>: 1 customer, $\xa00.00 overdue", summary)
        self.assertIn("<b>Late (+10 days)</b>: 2 customers, $\xa01,500.00 overdue", summary)
        self.assertLess(summary.index("Soon"), summary.index("Late"))
