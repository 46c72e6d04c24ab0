from odoo import Command
from odoo.exceptions import UserError, ValidationError
from odoo.tests import Form, tagged

from .common import TODAY, DunningCadenceCommon, at, day, on_day


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionRecipients(DunningCadenceCommon):
    """Reminders reach the right person: the customer's invoice-address contacts, or
    its collection contact in the company when one is set, with the customer's main
    address and the other contacts in copy; SMS and WhatsApp go to that contact's
    phone. Each address's opt-out holds, and the reminder says who it went to."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # Late: an email and an SMS.
        cls.invoice(cls.customer, 1000.0, day(-12))
        cls.ivy = cls.env["res.partner"].create(
            {
                "name": "Ivy Invoices",
                "type": "invoice",
                "parent_id": cls.customer.id,
                "email": "ivy@acme.example.com",
                "phone": "+34 622 111 222",
            }
        )
        cls.carl = cls.env["res.partner"].create(
            {
                "name": "Carl Treasurer",
                "parent_id": cls.customer.id,
                "email": "carl@acme.example.com",
                "phone": "+34 633 444 555",
            }
        )

    def sent_reminder(self):
        """The run of today reminds Acme, the collector approves it, the queue sends it."""
        self.run_dunning(day(0))
        reminder = self.reminders(self.customer)
        reminder.with_user(self.collector).action_approve()
        with self.sms_gateway() as sent_sms:
            self.run_queue(at(0, 14))
        self.sent_sms = sent_sms
        return reminder

    def test_email_goes_to_the_invoice_contact_with_the_customer_in_copy(self):
        reminder = self.sent_reminder()
        email = self.delivery(reminder, "email")
        self.assertRecordValues(
            email,
            [
                {
                    "state": "sent",
                    "recipient": "ivy@acme.example.com",
                    "recipient_partner_ids": self.ivy.ids,
                    "cc_partner_ids": self.customer.ids,
                    "email_cc": '"Acme Customer" <acme.customer@example.com>',
                }
            ],
        )
        self.assertEqual(email.mail_id.email_to, "ivy@acme.example.com")
        self.assertEqual(email.mail_id.email_cc, '"Acme Customer" <acme.customer@example.com>')
        # Both received it: the invoice contact as addressee, the customer in copy.
        [message] = self.smtp_messages
        self.assertEqual(
            sorted(message["smtp_to_list"]),
            ["acme.customer@example.com", "ivy@acme.example.com"],
        )
        self.assertIn('Cc: "Acme Customer" <acme.customer@example.com>', message["message"])

    def test_sms_goes_to_the_invoice_contacts_phone(self):
        reminder = self.sent_reminder()
        sms = self.delivery(reminder, "sms")
        self.assertRecordValues(
            sms,
            [{"state": "sent", "recipient": "+34622111222", "recipient_partner_ids": self.ivy.ids}],
        )
        self.assertEqual([message["number"] for message in self.sent_sms], ["+34622111222"])

    def test_collection_contact_of_the_company_wins(self):
        self.customer.with_company(self.company).collection_contact_id = self.carl
        reminder = self.sent_reminder()
        email = self.delivery(reminder, "email")
        self.assertRecordValues(
            email,
            [
                {
                    "recipient": "carl@acme.example.com",
                    "recipient_partner_ids": self.carl.ids,
                    "cc_partner_ids": (self.customer | self.ivy).ids,
                }
            ],
        )
        self.assertEqual(email.mail_id.email_to, "carl@acme.example.com")
        self.assertIn("ivy@acme.example.com", email.mail_id.email_cc)
        self.assertIn("acme.customer@example.com", email.mail_id.email_cc)
        self.assertEqual(self.delivery(reminder, "sms").recipient, "+34633444555")
        self.assertEqual([message["number"] for message in self.sent_sms], ["+34633444555"])

    def test_archived_collection_contact_gives_way_to_the_invoice_address(self):
        self.customer.with_company(self.company).collection_contact_id = self.carl
        self.carl.active = False
        reminder = self.sent_reminder()
        self.assertEqual(self.delivery(reminder, "email").recipient_partner_ids, self.ivy)

    def test_collection_contact_is_per_company(self):
        other_company = self.env["res.company"].create({"name": "Other Company"})
        self.customer.with_company(other_company).collection_contact_id = self.carl
        reminder = self.sent_reminder()
        self.assertEqual(self.delivery(reminder, "email").recipient_partner_ids, self.ivy)

    def test_collection_contact_of_another_customer_is_refused(self):
        stranger = self.env["res.partner"].create(
            {"name": "Stranger", "email": "stranger@example.com"}
        )
        with self.assertRaisesRegex(ValidationError, "Stranger is not a contact of Acme"):
            self.customer.with_company(self.company).collection_contact_id = stranger

    def test_opted_out_contact_is_not_written_to(self):
        """The invoice contact unsubscribed from emails and texts: the email goes to
        the customer's main address, without the contact in copy; the SMS to the main
        phone."""
        self.env["mail.blacklist"]._add(self.ivy.email)
        self.env["phone.blacklist"]._add(["+34622111222"])
        reminder = self.sent_reminder()
        self.assertRecordValues(
            self.delivery(reminder, "email"),
            [
                {
                    "state": "sent",
                    "recipient": "acme.customer@example.com",
                    "recipient_partner_ids": self.customer.ids,
                    "cc_partner_ids": [],
                }
            ],
        )
        [message] = self.smtp_messages
        self.assertEqual(message["smtp_to_list"], ["acme.customer@example.com"])
        self.assertEqual(self.delivery(reminder, "sms").recipient, "+34612345678")

    def test_opted_out_customer_is_only_left_out_of_the_copy(self):
        self.env["mail.blacklist"]._add(self.customer.email)
        reminder = self.sent_reminder()
        self.assertRecordValues(
            self.delivery(reminder, "email"),
            [{"recipient": "ivy@acme.example.com", "cc_partner_ids": [], "email_cc": False}],
        )

    def test_reminder_form_shows_recipients(self):
        reminder = self.sent_reminder()
        form = Form(reminder.with_user(self.collector))
        self.assertEqual(
            form.recipient_summary,
            "Email: Acme Customer, Ivy Invoices (ivy@acme.example.com); "
            'copy: "Acme Customer" <acme.customer@example.com>\n'
            "SMS: Acme Customer, Ivy Invoices (+34622111222)",
        )
        # The interaction logged says it too.
        interactions = self.env["collection.interaction"].search(
            [("partner_id", "=", self.customer.id)]
        )
        self.assertIn("Ivy Invoices", " ".join(interactions.mapped("note")))

    def test_collector_cannot_redirect_the_copy(self):
        self.run_dunning(day(0))
        email = self.delivery(self.reminders(self.customer), "email")
        for vals in (
            {"email_cc": "carla@attacker.example.com"},
            {"recipient_partner_ids": [Command.set(self.collector.partner_id.ids)]},
            {"cc_partner_ids": [Command.link(self.collector.partner_id.id)]},
        ):
            with self.subTest(vals=vals), self.assertRaises(UserError), self.env.cr.savepoint():
                email.with_user(self.collector).write(vals)
        self.assertRecordValues(
            email, [{"recipient_partner_ids": self.ivy.ids, "cc_partner_ids": self.customer.ids}]
        )

    def test_recipients_are_read_again_when_it_leaves(self):
        """The collection contact set and an opt-out made after the run, before the
        reminder leaves, are followed."""
        self.run_dunning(day(0))
        reminder = self.reminders(self.customer)
        self.assertEqual(self.delivery(reminder, "email").recipient_partner_ids, self.ivy)
        self.customer.with_company(self.company).collection_contact_id = self.carl
        self.env["phone.blacklist"]._add(["+34633444555", "+34622111222", "+34612345678"])
        reminder.with_user(self.collector).action_approve()
        with self.sms_gateway() as sent_sms:
            self.run_queue(at(0, 14))
        self.assertRecordValues(
            self.delivery(reminder, "email"),
            [{"state": "sent", "recipient": "carl@acme.example.com"}],
        )
        self.assertEqual(self.smtp_messages[0]["smtp_to_list"][0], "carl@acme.example.com")
        self.assertRecordValues(
            self.delivery(reminder, "sms"),
            [
                {
                    "state": "cancelled",
                    "last_error": "SMS: the customer opted out of text messages.",
                }
            ],
        )
        self.assertFalse(sent_sms)
        self.assertEqual(reminder.state, "done")
