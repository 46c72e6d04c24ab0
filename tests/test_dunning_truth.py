from unittest.mock import patch

from odoo import Command
from odoo.tests import tagged

from ..tools import whatsapp
from .common import TODAY, DunningCadenceCommon, at, day, on_day

PAID = "Paid before sending"


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestDunningTruthAtSending(DunningCadenceCommon):
    """A reminder waits (review, quiet hours, the contact limit, retries) and the
    ledger moves meanwhile: just before it leaves, the invoices paid, credited,
    disputed, promised or put on hold since are taken off, the amounts are those of
    now, and a reminder with nothing left to claim is cancelled with the reason."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.reason_price = cls.env.ref("account_collection.collection_dispute_reason_wrong_price")
        # One overdue level, by email and SMS: the invoices' first reminder.
        cls.level = cls.make_policy(
            "Overdue reminders",
            [
                {
                    "name": "Overdue",
                    "delay": 1,
                    "send_email": True,
                    "mail_template_id": cls.template_overdue.id,
                    "send_sms": True,
                    "sms_template_id": cls.sms_template.id,
                }
            ],
        )

    def approved(self, partner=None, on=0):
        partner = partner or self.customer
        self.run_dunning(day(on))
        reminder = self.reminders(partner)
        reminder.with_user(self.collector).action_approve()
        return reminder

    def chatter_says(self, partner, text):
        return partner.message_ids.filtered(lambda m: text in str(m.body))

    def assertNotSent(self, reminder, reason):
        """Cancelled with ``reason``, shown on it and on the customer's chatter; no
        channel went."""
        self.assertRecordValues(reminder, [{"state": "cancelled", "cancel_reason": reason}])
        self.assertEqual(set(reminder.delivery_ids.mapped("state")), {"cancelled"})
        self.assertTrue(self.chatter_says(reminder.partner_id, reason))
        self.assertFalse(self.mails(reminder.partner_id))
        self.assertFalse(self.env["sms.sms"].search([("partner_id", "=", reminder.partner_id.id)]))
        self.assertFalse(
            self.env["collection.interaction"].search(
                [("partner_id", "=", reminder.partner_id.id), ("outcome", "=", "sent")]
            )
        )

    def test_paid_while_queued_is_not_sent(self):
        """Approved, held by the quiet hours, paid before the morning: nothing goes."""
        self.company.write({"collection_quiet_hour_start": 20.0, "collection_quiet_hour_end": 8.0})
        invoice = self.invoice(self.customer, 1000.0, day(-12))
        with on_day(day(0)):
            reminder = self.approved()
        with self.sms_gateway() as sent:
            self.run_queue(at(0, 21))
        self.assertEqual(reminder.state, "queued")
        self.pay_on(1, invoice)
        with self.sms_gateway() as sent:
            self.run_queue(at(1, 9))
        self.assertNotSent(reminder, PAID)
        self.assertFalse(sent)
        self.assertFalse(self.smtp_messages)
        self.assertFalse(invoice.collection_last_reminder_date)

    def test_paid_while_queued_is_not_sent_with_the_rest_of_its_batch(self):
        """The reminders of three customers leave together, in one batch of the queue:
        the one whose invoice was paid since it was approved is not claimed, the two
        others go, each once."""
        globex, initech = self.make_customer("Globex"), self.make_customer("Initech")
        invoice = self.invoice(self.customer, 1000.0, day(-12))
        self.invoice(globex, 500.0, day(-12))
        self.invoice(initech, 700.0, day(-12))
        self.run_dunning(day(0))
        reminders = self.reminders()
        self.assertEqual(len(reminders), 3)
        reminders.with_user(self.collector).action_approve()
        self.pay(invoice)
        with self.sms_gateway() as sent:
            self.run_queue(at(0, 14))
        paid = reminders.filtered(lambda r: r.partner_id == self.customer)
        self.assertNotSent(paid, PAID)
        self.assertFalse(invoice.collection_last_reminder_date)
        self.assertEqual((reminders - paid).mapped("state"), ["done", "done"])
        self.assertEqual(
            sorted(message["smtp_to_list"][0] for message in self.smtp_messages),
            ["globex@example.com", "initech@example.com"],
        )
        self.assertEqual(len(sent), 2)
        for partner in (globex, initech):
            self.assertEqual(
                self.env["collection.interaction"].search_count(
                    [("partner_id", "=", partner.id), ("outcome", "=", "sent")]
                ),
                2,
                f"{partner.name}: its email and its SMS, each recorded once",
            )

    def test_whatsapp_not_requested_for_a_paid_invoice(self):
        self.company.collection_whatsapp_phone_number_id = "106540352242922"
        self.level.write(
            {
                "send_email": False,
                "send_sms": False,
                "send_whatsapp": True,
                "whatsapp_template_name": "payment_reminder",
                "whatsapp_parameters": "partner_name,overdue_amount",
            }
        )
        invoice = self.invoice(self.customer, 1000.0, day(-5))
        reminder = self.approved()
        self.assertEqual(reminder.delivery_ids.mapped("channel"), ["whatsapp"])
        self.pay(invoice)
        requests = []
        with patch.object(
            whatsapp, "send_template", lambda *args, **kwargs: requests.append(args) or "wamid.1"
        ):
            self.run_queue(at(0, 14))
        self.assertFalse(requests)
        self.assertNotSent(reminder, PAID)

    def test_one_of_two_paid_lists_the_open_one_with_todays_amount(self):
        paid = self.invoice(self.customer, 1000.0, day(-10))
        open_invoice = self.invoice(self.customer, 234.5, day(-10))
        reminder = self.approved()
        self.assertEqual(reminder.overdue_amount, 1234.5)
        self.pay(paid)
        self.pay(open_invoice, amount=34.5)

        with self.sms_gateway() as sent:
            self.run_queue(at(0, 14))

        self.assertEqual(reminder.state, "done")
        self.assertEqual(reminder.move_ids, open_invoice)
        self.assertRecordValues(reminder, [{"overdue_amount": 200.0, "due_amount": 200.0}])
        self.assertIn(paid.name, reminder.note)
        self.assertIn(PAID, reminder.note)
        mail = self.delivery(reminder, "email").mail_id
        self.assertIn(open_invoice.name, mail.body_html)
        self.assertNotIn(paid.name, mail.body_html)
        self.assertIn("$\xa0200.00", mail.body_html)
        self.assertNotIn("1,234.50", mail.body_html)
        self.assertNotIn("1,000.00", mail.body_html)
        self.assertEqual(len(sent), 1)
        self.assertIn("200.00", sent[0]["body"])
        self.assertNotIn("1,234.50", sent[0]["body"])
        interactions = self.env["collection.interaction"].search(
            [("partner_id", "=", self.customer.id)]
        )
        self.assertEqual(interactions.move_ids, open_invoice)
        self.assertEqual(set(interactions.mapped("overdue_amount")), {200.0})
        self.assertFalse(paid.collection_last_reminder_date)
        self.assertEqual(open_invoice.collection_last_reminder_date, day(0))

    def test_retried_email_is_rendered_again(self):
        """The mail server refused the email; the invoice is paid before the next
        attempt: the next attempt is not sent, the refused email is not kept queued."""
        invoice = self.invoice(self.customer, 1000.0, day(-12))
        other = self.invoice(self.customer, 400.0, day(-12))
        reminder = self.approved()
        with patch.object(type(self.env["mail.mail"]), "send", lambda mails, **kw: None):
            with self.sms_gateway():
                self.run_queue(at(0, 14))
        email = self.delivery(reminder, "email")
        self.assertEqual(email.state, "queued")
        self.assertIn(invoice.name, email.mail_id.body_html)
        self.pay(invoice)
        self.run_queue(at(0, 15))
        self.assertEqual(email.state, "sent")
        self.assertEqual(len(self.mails(self.customer)), 1)
        self.assertNotIn(invoice.name, email.mail_id.body_html)
        self.assertIn(other.name, email.mail_id.body_html)

    def test_disputed_promised_held_are_taken_off(self):
        disputed = self.invoice(self.customer, 100.0, day(-12))
        promised = self.invoice(self.customer, 200.0, day(-12))
        held = self.invoice(self.customer, 300.0, day(-12))
        claimed = self.invoice(self.customer, 400.0, day(-12))
        reminder = self.approved()
        self.assertEqual(len(reminder.move_ids), 4)

        self.env["collection.dispute"].with_user(self.collector).create(
            {
                "partner_id": self.customer.id,
                "move_ids": [Command.set(disputed.ids)],
                "reason_id": self.reason_price.id,
                "description": "The price is not the one agreed.",
            }
        )
        self.env["collection.interaction.log"].with_user(self.collector).create(
            {
                "partner_id": self.customer.id,
                "channel": "call",
                "outcome": "promise",
                "promise": True,
                "promise_amount": 200.0,
                "promise_date": day(3),
                "move_ids": [Command.set(promised.ids)],
            }
        ).action_confirm()
        held.no_followup = True

        with self.sms_gateway():
            self.run_queue(at(0, 14))

        self.assertEqual(reminder.move_ids, claimed)
        mail = self.delivery(reminder, "email").mail_id
        self.assertIn(claimed.name, mail.body_html)
        for invoice, why in (
            (disputed, "Disputed before sending"),
            (promised, "Promised before sending"),
            (held, "Put on hold before sending"),
        ):
            self.assertNotIn(invoice.name, mail.body_html)
            self.assertIn(f"{invoice.name} ({why})", reminder.note)

    def test_all_disputed_is_cancelled_with_the_reason(self):
        invoice = self.invoice(self.customer, 100.0, day(-12))
        reminder = self.approved()
        self.env["collection.dispute"].with_user(self.collector).create(
            {
                "partner_id": self.customer.id,
                "move_ids": [Command.set(invoice.ids)],
                "reason_id": self.reason_price.id,
                "description": "The price is not the one agreed.",
            }
        )
        with self.sms_gateway() as sent:
            self.run_queue(at(0, 14))
        self.assertNotSent(reminder, "Disputed before sending")
        self.assertFalse(sent)

    def test_draft_of_settled_invoices_cancels_itself_when_the_queue_runs(self):
        invoice = self.invoice(self.customer, 1000.0, day(-12))
        self.run_dunning(day(0))
        reminder = self.reminders(self.customer)
        self.assertEqual(reminder.state, "draft")
        self.pay(invoice)
        self.run_queue(at(0, 14))
        self.assertNotSent(reminder, PAID)

    def test_draft_of_settled_invoices_cancels_itself_when_approved(self):
        invoice = self.invoice(self.customer, 1000.0, day(-12))
        other = self.invoice(self.customer, 500.0, day(-12))
        self.run_dunning(day(0))
        reminder = self.reminders(self.customer).with_user(self.collector)
        self.assertFalse(reminder.settled_warning)
        # The reviewer opening it sees what was settled since.
        self.pay(invoice)
        reminder.invalidate_recordset(["settled_warning"])
        self.assertEqual(
            reminder.settled_warning,
            f"Settled since it was created: {invoice.name} ({PAID}). Approving takes them off.",
        )
        self.pay(other)
        reminder.invalidate_recordset(["settled_warning"])
        self.assertIn("Nothing left to claim", reminder.settled_warning)
        action = reminder.action_approve()
        self.assertEqual(action["params"]["type"], "warning")
        self.assertIn(PAID, action["params"]["message"])
        self.assertNotSent(reminder, PAID)
        # Nothing is left to send either once the queue runs.
        with self.sms_gateway() as sent:
            self.run_queue(at(0, 14))
        self.assertFalse(sent)
        self.assertFalse(self.mails(self.customer))


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestDunningCadenceHolds(DunningCadenceCommon):
    """The contact limit, the quiet hours, rest days and public holidays hold a message
    back, never past the last day it is true: one that can no longer be true is dropped
    with the reason. The quiet hours are the customer's."""

    def sent_on(self, partner):
        """{day: channels} of what reached ``partner``."""
        result = {}
        deliveries = self.env["collection.communication.delivery"].search(
            [
                ("partner_id", "=", partner.id),
                ("state", "=", "sent"),
                ("channel", "!=", "activity"),
            ],
            order="date_sent",
        )
        for delivery in deliveries:
            result.setdefault(delivery.date_sent.date(), []).append(delivery.channel)
        return result

    def shipped_policy(self):
        """The shipped default policy, as a new company would switch it on: automatic,
        with the shipped contact limit."""
        policy = (
            self.env.ref("account_collection.collection_policy_default")
            .sudo()
            .copy({"company_id": self.company.id})
            .sudo(False)
        )
        self.company.collection_policy_id = policy
        self.company.collection_message_interval_days = (
            self.env["res.company"]
            ._fields["collection_message_interval_days"]
            .default(self.company)
        )
        self.assertEqual(self.company.collection_message_interval_days, 3)
        return policy

    def test_shipped_due_today_email_never_arrives_the_day_after(self):
        """Due on Wednesday: "due soon" goes on Monday; "due today" would wait for the
        contact limit until Thursday, when it is no longer true: dropped. The overdue
        message of Friday (+2) goes on Friday, the call is planned on Saturday."""
        policy = self.shipped_policy()
        invoice = self.invoice(self.customer, 1000.0, day(2))
        with self.sms_gateway() as sent:
            for offset in range(0, 6):
                self.run_dunning(day(offset))
                self.run_queue(at(offset, 12, 30))
        self.assertEqual(self.sent_on(self.customer), {day(0): ["email"], day(4): ["sms"]})
        self.assertEqual(len(sent), 1)
        due_today = self.reminders(self.customer).filtered(
            lambda r: r.level_id.delay == 0 and r.level_id.policy_id == policy
        )
        self.assertRecordValues(
            due_today,
            [
                {
                    "state": "cancelled",
                    "cancel_reason": "Dropped: it could not go by Mar 18, the last day its "
                    "message is true",
                }
            ],
        )
        self.assertEqual(len(self.mails(self.customer)), 1)
        self.assertTrue(self.customer.activity_ids)
        self.assertEqual(invoice.collection_last_reminder_date, day(4))

    def test_overdue_message_waits_and_the_next_level_after_it(self):
        """Another invoice's reminder went the day before: the +2 message waits for the
        contact limit until +4 (an overdue message stays true), and the call, the next
        level, comes the day after it left, not before it."""
        self.shipped_policy()
        invoice = self.invoice(self.customer, 1000.0, day(0))
        self.invoice(self.customer, 500.0, day(3))  # "due soon" on day 1
        with self.sms_gateway() as sent:
            for offset in range(-2, 6):
                self.run_dunning(day(offset))
                self.run_queue(at(offset, 12, 30))
        self.assertEqual(
            self.sent_on(self.customer),
            {day(-2): ["email"], day(1): ["email"], day(4): ["sms"]},
        )
        self.assertEqual(len(sent), 1)
        overdue = self.reminders(self.customer).filtered(lambda r: r.level_id.delay == 2)
        self.assertRecordValues(overdue, [{"state": "done", "date": day(2)}])
        call = self.reminders(self.customer).filtered(lambda r: r.level_id.delay == 3)
        self.assertEqual(call.date, day(5))
        self.assertIn(invoice, call.move_ids)

    def due_today_reminder(self):
        """The reminders of an invoice due today, from two days before: the one of
        today, waiting for review."""
        self.invoice(self.customer, 1000.0, day(0))
        self.run_dunning(day(-2))
        self.run_dunning(day(0))
        reminder = self.reminders(self.customer)[-1:]
        self.assertRecordValues(reminder, [{"level_id": self.level_due.id, "state": "draft"}])
        return reminder

    def one_level_policy(self):
        """One overdue email, ten days after the due date: the invoices' first reminder."""
        self.make_policy(
            "Late reminders",
            [
                {
                    "name": "Late",
                    "delay": 10,
                    "send_email": True,
                    "mail_template_id": self.template_overdue.id,
                }
            ],
        )

    def test_due_today_approved_the_day_after_is_dropped(self):
        reminder = self.due_today_reminder()
        with on_day(day(1)):
            reminder.with_user(self.collector).action_approve()
        self.assertEqual(reminder.state, "cancelled")
        self.assertIn("Mar 16, the last day its message is true", reminder.cancel_reason)
        self.run_queue(at(1, 12))
        self.assertFalse(self.mails(self.customer))

    def test_draft_no_longer_true_cancels_itself(self):
        reminder = self.due_today_reminder()
        self.run_queue(at(0, 18))
        self.assertEqual(reminder.state, "draft")
        self.run_queue(at(1, 9))
        self.assertEqual(reminder.state, "cancelled")
        self.assertIn("the last day its message is true", reminder.cancel_reason)

    def test_quiet_hours_of_the_customers_time_zone(self):
        """The company is in Madrid, the customer in Mexico City (UTC-6): at 09:00 UTC
        it is 03:00 there, the email waits for 08:00 in Mexico City (14:00 UTC). A
        customer without a time zone follows the company's."""
        self.company.write({"collection_quiet_hour_start": 20.0, "collection_quiet_hour_end": 8.0})
        self.company.partner_id.tz = "Europe/Madrid"
        self.one_level_policy()
        mexican = self.make_customer("Cliente Mexicano", phone=False, tz="America/Mexico_City")
        self.customer.phone = False
        self.invoice(mexican, 1000.0, day(-12))
        self.invoice(self.customer, 1000.0, day(-12))
        self.run_dunning(day(0))
        self.reminders().with_user(self.collector).action_approve()

        self.run_queue(at(0, 9))
        self.assertEqual(self.sent_on(self.customer), {day(0): ["email"]})
        self.assertFalse(self.sent_on(mexican))
        self.assertRecordValues(
            self.delivery(self.reminders(mexican), "email"),
            [{"state": "queued", "next_attempt": at(0, 14)}],
        )
        self.run_queue(at(0, 14))
        self.assertEqual(self.sent_on(mexican), {day(0): ["email"]})

    def test_rest_days_of_the_working_calendar(self):
        """A Monday-to-Friday calendar closed on Monday 23 March: the reminder of
        Saturday 21 goes on Tuesday 24."""
        calendar = self.env["resource.calendar"].create(
            {"name": "Monday to Friday", "company_id": self.company.id}
        )
        self.env["resource.calendar.leaves"].create(
            {
                "name": "Closed",
                "calendar_id": calendar.id,
                "company_id": self.company.id,
                "date_from": at(7, 0),
                "date_to": at(7, 23, 59),
            }
        )
        self.company.collection_calendar_id = calendar
        self.one_level_policy()
        self.assertEqual(day(5).weekday(), 5)
        self.customer.phone = False
        self.invoice(self.customer, 1000.0, day(-5))  # +10 on Saturday
        reminder = self.approved_on(5)
        self.run_queue(at(5, 12))
        self.assertRecordValues(
            self.delivery(reminder, "email"), [{"state": "queued", "next_attempt": at(8, 0)}]
        )
        for offset in (6, 7):
            self.run_queue(at(offset, 12))
        self.assertFalse(self.sent_on(self.customer))
        self.run_queue(at(8, 9))
        self.assertEqual(self.sent_on(self.customer), {day(8): ["email"]})

    def test_working_calendar_by_default(self):
        company = self.env["res.company"].create({"name": "New Company"})
        self.assertTrue(company.resource_calendar_id)
        self.assertEqual(company.collection_calendar_id, company.resource_calendar_id)
        self.assertTrue(company.collection_public_holidays)

    def test_public_holidays_of_the_country(self):
        """Good Friday (3 April 2026) is a public holiday in Spain."""
        self.company.write(
            {
                "country_id": self.spain.id,
                "state_id": False,
                "collection_public_holidays": True,
            }
        )
        self.one_level_policy()
        self.customer.phone = False
        good_friday = day(18)
        self.assertEqual(good_friday.isoformat(), "2026-04-03")
        self.invoice(self.customer, 1000.0, day(8))  # +10 on Good Friday
        reminder = self.approved_on(18)
        self.run_queue(at(18, 10))
        self.assertRecordValues(
            self.delivery(reminder, "email"), [{"state": "queued", "next_attempt": at(19, 0)}]
        )
        self.run_queue(at(19, 9))
        self.assertEqual(self.sent_on(self.customer), {day(19): ["email"]})

        # Without the setting, the next one goes on the holiday.
        self.company.collection_public_holidays = False
        other = self.make_customer("Holiday Customer", phone=False)
        self.invoice(other, 1000.0, day(8))
        self.approved_on(18, other)
        self.run_queue(at(18, 10, 30))
        self.assertEqual(self.sent_on(other), {good_friday: ["email"]})

    def approved_on(self, offset, partner=None):
        partner = partner or self.customer
        self.run_dunning(day(offset))
        reminder = self.reminders(partner)
        with on_day(day(offset)):
            reminder.with_user(self.collector).action_approve()
        return reminder
