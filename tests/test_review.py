from lxml import etree
from markupsafe import escape

from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, freeze_time, tagged

from .common import TODAY, DunningCadenceCommon, at, day, on_day


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionReview(DunningCadenceCommon):
    """Review mode at a hundred reminders a morning: approve, skip or postpone many at
    once from the list, each channel's message seen before it goes, an email edited in
    Odoo's composer before it leaves."""

    def drafts(self, count):
        """``count`` customers with an invoice twelve days late, today's reminders of
        them (at Late: an email and an SMS), waiting for review."""
        customers = self.env["res.partner"]
        for index in range(count):
            customer = self.make_customer(f"Review Customer {index}")
            self.invoice(customer, 100.0 * (index + 1), day(-12))
            customers |= customer
        self.run_dunning(day(0))
        reminders = self.reminders(customers)
        self.assertEqual(set(reminders.mapped("state")), {"draft"})
        return reminders

    # ------------------------------------------------------------------
    # Many at once
    # ------------------------------------------------------------------

    def test_list_approves_skips_and_postpones_the_selection(self):
        arch = etree.fromstring(
            self.env["collection.communication"]
            .with_user(self.collector)
            .get_views([(False, "list")])["views"]["list"]["arch"]
        )
        header = arch.find("header")
        self.assertIsNotNone(header, "The reminders list has buttons for the selection.")
        self.assertEqual(
            [button.get("name") for button in header.iter("button")],
            ["action_approve", "action_postpone", "action_skip"],
        )

        reminders = self.drafts(5).with_user(self.collector)
        approved, skipped = reminders[:3], reminders[3:]
        approved.action_approve()
        skipped.action_skip()
        self.assertEqual(approved.mapped("state"), ["queued"] * 3)
        self.assertEqual(skipped.mapped("state"), ["cancelled"] * 2)
        with self.sms_gateway() as sent:
            self.run_queue(at(0, 14))
        self.assertEqual(len(sent), 3)
        self.assertEqual(len(self.smtp_messages), 3)
        # A selection holding one reminder already sent changes nothing.
        more = self.drafts(1).with_user(self.collector)
        with self.assertRaises(UserError):
            (more | approved).action_approve()
        self.assertEqual(more.state, "draft")

    # ------------------------------------------------------------------
    # Postpone, or skip this level
    # ------------------------------------------------------------------

    def test_postpone_keeps_the_level_for_a_new_day(self):
        invoice = self.invoice(self.customer, 1000.0, day(-12))
        self.run_dunning(day(0))
        reminder = self.reminders(self.customer).with_user(self.collector)
        self.assertEqual(reminder.level_id, self.level_late)

        action = reminder.action_postpone()
        wizard = Form(
            self.env[action["res_model"]].with_user(self.collector).with_context(action["context"])
        )
        wizard.date = day(3)
        wizard.save().action_confirm()

        self.assertEqual(reminder.state, "draft")
        self.assertEqual(reminder.date, day(3))
        self.assertEqual(reminder.level_id, self.level_late)
        self.assertEqual(reminder.waiting_reason, "To review, postponed to Mar 19")
        self.assertIn("Postponed from Mar 16 to Mar 19", reminder.message_ids[:1].body)
        # Approved now, it goes on its new day, not before.
        reminder.action_approve()
        with self.sms_gateway() as sent:
            self.run_queue(at(1, 14))
        self.assertFalse(sent)
        self.assertFalse(self.smtp_messages)
        with freeze_time(at(1, 14)):
            reminder.invalidate_recordset(["waiting_reason"])
            self.assertEqual(reminder.waiting_reason, "Postponed to Mar 19")
        with self.sms_gateway() as sent:
            self.run_queue(at(3, 9))
        self.assertEqual(reminder.state, "done")
        self.assertEqual(len(sent), 1)
        self.assertEqual(invoice.collection_last_reminder_date, day(3))
        # The ladder counts from the new day: the call (ten days after Late) comes
        # ten days after the reminder went, not ten days after it was first planned.
        self.run_dunning(day(10))
        self.assertEqual(len(self.reminders(self.customer)), 1)
        self.run_dunning(day(13))
        self.assertEqual(self.reminders(self.customer)[1:].level_id, self.level_call)

    def test_postpone_refuses_a_day_its_message_would_be_false(self):
        self.invoice(self.customer, 1000.0, day(2))  # "due soon" today, due in two days
        self.run_dunning(day(0))
        reminder = self.reminders(self.customer).with_user(self.collector)
        self.assertEqual(reminder.level_id, self.level_soon)
        Postpone = self.env["collection.communication.postpone"].with_user(self.collector)
        for when, message in [
            (day(0), "later than"),
            (day(-1), "later than"),
            (day(2), "true until Mar 17"),
        ]:
            with self.subTest(when=when), self.assertRaisesRegex(UserError, message):
                Postpone.create({"communication_ids": reminder.ids, "date": when}).action_confirm()
        self.assertEqual(reminder.date, day(0))
        Postpone.create({"communication_ids": reminder.ids, "date": day(1)}).action_confirm()
        self.assertEqual(reminder.date, day(1))

    def test_restricted_collector_cannot_postpone_another_portfolio(self):
        """The attack: a collector restricted to a portfolio postpones, through the
        dialog's server call, a reminder of another collector's customer."""
        self.invoice(self.customer, 1000.0, day(-12))
        self.run_dunning(day(0))
        reminder = self.reminders(self.customer)
        self.company.collection_portfolio_restricted = True
        other = self.make_user("other_collector", "account_collection.group_collection_user")
        Postpone = self.env["collection.communication.postpone"].with_user(other)
        with self.assertRaises(AccessError):
            Postpone.create({"communication_ids": reminder.ids, "date": day(3)}).action_confirm()
        with self.assertRaises(AccessError):
            reminder.with_user(other)._collection_postpone(day(3))
        self.assertEqual(reminder.date, day(0))
        self.assertEqual(reminder.move_ids.collection_level_id, self.level_late)

    def test_skip_this_level_moves_the_ladder_on(self):
        self.invoice(self.customer, 1000.0, day(-12))
        self.run_dunning(day(0))
        reminder = self.reminders(self.customer).with_user(self.collector)
        reminder.action_skip()
        self.assertEqual(reminder.state, "cancelled")
        self.assertEqual(
            reminder.cancel_reason, "Skipped by Carla Collector: this level counts as done"
        )
        with self.sms_gateway() as sent:
            self.run_queue(at(0, 14))
        self.assertFalse(sent)
        # The level is not reminded again; the next one comes on its day.
        self.run_dunning(day(1))
        self.assertEqual(len(self.reminders(self.customer)), 1)
        self.run_dunning(day(10))
        self.assertEqual(self.reminders(self.customer)[1:].level_id, self.level_call)

    # ------------------------------------------------------------------
    # What each channel says
    # ------------------------------------------------------------------

    def test_preview_shows_each_channel_as_sent_and_to_whom(self):
        self.company.collection_whatsapp_phone_number_id = "106540352242922"
        self.level_late.write(
            {
                "send_whatsapp": True,
                "whatsapp_template_name": "payment_reminder",
                "whatsapp_parameters": "partner_name,overdue_amount",
            }
        )
        invoice = self.invoice(self.customer, 1000.0, day(-12))
        self.run_dunning(day(0))
        reminder = self.reminders(self.customer).with_user(self.collector)
        preview = str(reminder.preview_html)
        sms_text = self.sms_template._render_field("body", reminder.ids, compute_lang=True)[
            reminder.id
        ]
        for expected in [
            "To: acme.customer@example.com",
            "To: +34612345678",
            str(escape(sms_text)),
            f"{len(sms_text)} characters",
            "payment_reminder",
            "{{1}} Acme Customer",
            "{{2}} $\xa01,000.00",
            invoice.name,
        ]:
            self.assertIn(expected, preview)

    # ------------------------------------------------------------------
    # Edit an email before it goes
    # ------------------------------------------------------------------

    def edit_email(self, reminder, body, user=None):
        action = reminder.with_user(user or self.collector).action_edit_email()
        self.assertEqual(action["res_model"], "mail.compose.message")
        composer = Form(
            self.env["mail.compose.message"]
            .with_user(user or self.collector)
            .with_context(action["context"])
        )
        self.assertIn(reminder.move_ids[:1].name, composer.body)
        composer.body = body
        return composer.save().action_send_mail()

    def test_edited_email_is_the_one_sent(self):
        self.invoice(self.customer, 1000.0, day(-12))
        self.run_dunning(day(0))
        reminder = self.reminders(self.customer).with_user(self.collector)

        self.edit_email(reminder, "<p>Dear Acme, as agreed on the phone: 1,000 by Friday.</p>")
        # Nothing left: the composer only kept the text for the reminder.
        self.assertFalse(self.smtp_messages)
        self.assertEqual(reminder.state, "draft")
        self.assertIn("as agreed on the phone", str(reminder.preview_html))
        self.assertIn("Email edited before sending", reminder.message_ids[:1].body)

        reminder.action_approve()
        with self.sms_gateway():
            self.run_queue(at(0, 14))
        self.assertEqual(reminder.state, "done")
        self.assertEqual(len(self.smtp_messages), 1)
        self.assertIn("as agreed on the phone", self.smtp_messages[0]["message"])
        mail = self.delivery(reminder.sudo(), "email").mail_id
        self.assertIn("as agreed on the phone", str(mail.body_html))
        self.assertEqual(mail.email_to, "acme.customer@example.com")

    def test_edited_email_set_aside_when_the_ledger_changed(self):
        paid = self.invoice(self.customer, 1000.0, day(-12))
        kept = self.invoice(self.customer, 300.0, day(-12))
        self.run_dunning(day(0))
        reminder = self.reminders(self.customer).with_user(self.collector)
        self.edit_email(reminder, f"<p>Kindly settle {paid.name} and {kept.name}.</p>")
        self.pay(paid)
        reminder.action_approve()
        with self.sms_gateway():
            self.run_queue(at(0, 14))
        self.assertEqual(len(self.smtp_messages), 1)
        message = self.smtp_messages[0]["message"]
        self.assertNotIn("Kindly settle", message)
        self.assertIn(kept.name, str(self.delivery(reminder.sudo(), "email").mail_id.body_html))
        self.assertIn("edited email was set aside", reminder.note)

    def test_edit_email_only_before_it_goes_and_in_the_portfolio(self):
        self.invoice(self.customer, 1000.0, day(-12))
        self.run_dunning(day(0))
        reminder = self.reminders(self.customer)
        # A restricted collector cannot edit another portfolio's reminder, even by
        # calling the composer's button with the context of the edit.
        self.company.collection_portfolio_restricted = True
        other = self.make_user("other_collector", "account_collection.group_collection_user")
        with self.assertRaises(AccessError):
            reminder.with_user(other).action_edit_email()
        composer = (
            self.env["mail.compose.message"]
            .with_user(other)
            .with_context(collection_reminder_email_id=reminder.id)
        )
        with self.assertRaises(AccessError):
            composer.create(
                {
                    "model": "collection.communication",
                    "res_ids": reminder.ids,
                    "composition_mode": "comment",
                    "body": "<p>Pay now or else</p>",
                }
            ).action_send_mail()
        self.assertFalse(reminder.edited_body)
        # Once sent, the email is what was sent.
        reminder.with_user(self.collector).action_approve()
        with self.sms_gateway():
            self.run_queue(at(0, 14))
        with self.assertRaises(UserError):
            reminder.with_user(self.collector).action_edit_email()
        with self.assertRaises(UserError):
            reminder.with_user(self.collector)._collection_set_edited_email(
                "Subject", "<p>Too late</p>"
            )
        # The edited text is the engine's to write, not a field typed over.
        with self.assertRaises(UserError):
            reminder.with_user(self.collector).write({"edited_body": "<p>Changed</p>"})
