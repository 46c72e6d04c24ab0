import base64
import io
import json
from datetime import datetime, timedelta

from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, freeze_time, tagged
from odoo.tools import mute_logger
from odoo.tools.pdf import PdfReader
from odoo.tools.safe_eval import safe_eval

from .common import TODAY, DunningCadenceCommon, at, day, on_day


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionLetters(DunningCadenceCommon):
    """A letter is not sent when its PDF is made: it waits in Letters to Print, is
    printed with the others in one PDF, and counts as sent once a person marks it
    posted (or Odoo's snailmail posts it)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.level_late.write({"send_email": False, "send_sms": False, "send_letter": True})
        cls.bolt = cls.make_customer("Bolt Industries")
        cls.acme_invoice = cls.invoice(cls.customer, 1000.0, day(-12))
        cls.bolt_invoice = cls.invoice(cls.bolt, 700.0, day(-12))
        cls.billing = cls.env["res.partner"].create(
            {
                "name": "Accounts Payable",
                "type": "invoice",
                "parent_id": cls.customer.id,
                "street": "Calle Mayor 1",
                "city": "Madrid",
                "zip": "28013",
                "country_id": cls.spain.id,
            }
        )

    def letters_to_print(self):
        """Today's run reminds Acme and Bolt, the collector approves, the queue runs
        at 13:00; their letter deliveries."""
        self.run_dunning(day(0))
        reminders = self.reminders(self.customer | self.bolt)
        reminders.with_user(self.collector).action_approve()
        self.run_queue(at(0, 13))
        return reminders.delivery_ids.filtered(lambda d: d.channel == "letter")

    def render_as_pdf(self, letters):
        """The letters' files rendered by wkhtmltopdf, as the queue renders them in
        production (tests render reports as HTML)."""
        with self.allow_pdf_render():
            for communication in letters.communication_id:
                communication.with_context(force_report_rendering=True)._collection_render_letter()
        self.assertTrue(
            all(
                raw.startswith(b"%PDF")
                for raw in letters.communication_id.letter_attachment_id.mapped("raw")
            )
        )

    def pdf_text(self, reader):
        """The text of a PDF's pages (wkhtmltopdf embeds it where its fonts allow)."""
        return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)

    def to_print_list(self):
        """What the Letters to Print menu lists, for the collector."""
        action = self.env.ref("account_collection.collection_communication_delivery_action_letters")
        menu = self.env.ref("account_collection.collection_communication_delivery_menu_letters")
        self.assertEqual(menu.action, action)
        context = safe_eval(action.context or "{}", {"uid": self.collector.id})
        Delivery = self.env["collection.communication.delivery"].with_user(self.collector)
        domain = safe_eval(action.domain or "[]", {"uid": self.collector.id})
        if context.get("search_default_to_print"):
            domain.append(("state", "=", "to_print"))
        return Delivery.search(domain)

    def test_letter_stays_to_print_after_the_run(self):
        letters = self.letters_to_print()
        self.assertEqual(letters.mapped("state"), ["to_print", "to_print"])
        reminder = letters[0].communication_id
        self.assertEqual(reminder.state, "queued")
        self.assertEqual(reminder.waiting_reason, "Letter to print")
        # Rendered, addressed to the invoice address, not posted yet: nothing claims
        # it was sent.
        self.assertTrue(reminder.letter_attachment_id)
        self.assertEqual(letters[0].recipient_partner_ids, self.billing)
        self.assertIn(b"Calle Mayor 1", reminder.letter_attachment_id.raw)
        self.assertEqual(
            reminder.recipient_summary,
            "Letter: Acme Customer, Accounts Payable (Calle Mayor 1, 28013 Madrid, Spain)",
        )
        self.assertFalse(letters.mapped("date_sent")[0])
        self.assertFalse(self.acme_invoice.collection_last_reminder_date)
        self.assertFalse(
            self.env["collection.interaction"].search([("partner_id", "=", self.customer.id)])
        )
        self.assertEqual(self.to_print_list(), letters)
        # The queue running again neither sends nor prints it twice.
        attachment = reminder.letter_attachment_id
        self.run_queue(at(0, 15))
        self.assertEqual(letters.mapped("state"), ["to_print", "to_print"])
        self.assertEqual(reminder.letter_attachment_id, attachment)

    def test_letter_needs_a_postal_address(self):
        """An invoice contact without a postal address does not get the letter: the
        customer's own address does. The collection contact with one does."""
        self.billing.write({"street": False, "city": False, "zip": False})
        letters = self.letters_to_print()
        acme = letters.filtered(lambda d: d.partner_id == self.customer)
        self.assertEqual(acme.recipient_partner_ids, self.customer)
        self.assertEqual(acme.communication_id.recipient_summary, "Letter: Acme Customer (Spain)")

    def test_printing_many_gives_one_pdf_with_every_letter(self):
        letters = self.letters_to_print()
        self.render_as_pdf(letters)
        with self.allow_pdf_render():
            action = (
                letters.with_user(self.collector)
                .with_context(force_report_rendering=True)
                .action_print_letters()
            )
        self.assertEqual(action["type"], "ir.actions.act_url")
        attachment_id = int(action["url"].split("/web/content/")[1].split("?")[0])
        attachment = self.env["ir.attachment"].with_user(self.collector).browse(attachment_id)
        merged = PdfReader(io.BytesIO(base64.b64decode(attachment.datas)))
        singles = [
            PdfReader(io.BytesIO(letter.communication_id.letter_attachment_id.raw))
            for letter in letters
        ]
        # Every page of every letter, in the order of the list.
        self.assertEqual(len(merged.pages), sum(len(single.pages) for single in singles))
        self.assertEqual(
            self.pdf_text(merged), " ".join(self.pdf_text(single) for single in singles)
        )
        # Printed, still to post.
        self.assertEqual(letters.mapped("state"), ["to_print", "to_print"])
        self.assertTrue(all(letters.mapped("date_printed")))

    def test_a_letter_paid_before_printing_is_not_printed(self):
        letters = self.letters_to_print()
        self.render_as_pdf(letters)
        self.pay(self.bolt_invoice)
        bolt_letter = letters.filtered(lambda d: d.partner_id == self.bolt)
        with self.allow_pdf_render():
            action = (
                letters.with_user(self.collector)
                .with_context(force_report_rendering=True)
                .action_print_letters()
            )
        self.assertRecordValues(
            bolt_letter, [{"state": "cancelled", "last_error": "Paid before sending"}]
        )
        attachment_id = int(action["url"].split("/web/content/")[1].split("?")[0])
        merged = PdfReader(io.BytesIO(self.env["ir.attachment"].browse(attachment_id).raw))
        # Acme's letter only.
        acme = PdfReader(
            io.BytesIO((letters - bolt_letter).communication_id.letter_attachment_id.raw)
        )
        self.assertEqual(len(merged.pages), len(acme.pages))
        self.assertEqual(self.pdf_text(merged), self.pdf_text(acme))

    def test_mark_as_posted_sets_it_sent(self):
        letters = self.letters_to_print()
        with freeze_time(at(1, 9)):
            letters.with_user(self.collector).action_mark_posted()
        self.assertEqual(letters.mapped("state"), ["sent", "sent"])
        self.assertEqual(letters.mapped("date_sent"), [at(1, 9)] * 2)
        reminder = letters.filtered(lambda d: d.partner_id == self.customer).communication_id
        self.assertEqual(reminder.state, "done")
        self.assertRecordValues(
            self.env["collection.interaction"].search([("partner_id", "=", self.customer.id)]),
            [{"channel": "letter", "outcome": "sent", "automatic": True}],
        )
        self.assertEqual(self.acme_invoice.collection_last_reminder_date, day(1))
        self.assertTrue(
            self.customer.message_ids.filtered(
                lambda m: "Letter posted" in str(m.body) and reminder.name in str(m.body)
            )
        )
        self.assertFalse(self.to_print_list())
        # Posted once: posting it again is refused.
        with self.assertRaisesRegex(UserError, "Only letters to print"):
            letters.with_user(self.collector).action_mark_posted()

    def test_users_post_letters_only_through_the_buttons(self):
        letters = self.letters_to_print()
        acme = letters.filtered(lambda d: d.partner_id == self.customer)
        # Writing the state by hand (as an RPC write would) is refused.
        for vals in ({"state": "sent"}, {"date_printed": at(0, 14)}):
            with self.subTest(vals=vals), self.assertRaises(UserError), self.env.cr.savepoint():
                acme.with_user(self.collector).write(vals)
        self.assertEqual(acme.state, "to_print")
        # An email is not marked posted.
        self.level_late.write({"send_email": True})
        email_customer = self.make_customer("Email Customer")
        self.invoice(email_customer, 100.0, day(-12))
        self.run_dunning(day(0))
        email = self.delivery(self.reminders(email_customer), "email")
        with self.assertRaisesRegex(UserError, "Only letters to print"):
            email.with_user(self.collector).action_mark_posted()
        with self.assertRaisesRegex(UserError, "Only letters to print"):
            email.with_user(self.collector).action_print_letters()

    def test_restricted_collector_posts_only_their_portfolio(self):
        collector_2 = self.make_user("collector_2", "account_collection.group_collection_user")
        self.bolt.with_company(self.company).collection_user_id = collector_2
        letters = self.letters_to_print()
        self.company.collection_portfolio_restricted = True
        bolt_letter = letters.filtered(lambda d: d.partner_id == self.bolt)
        with self.assertRaises(AccessError), self.env.cr.savepoint():
            bolt_letter.with_user(self.collector).action_mark_posted()
        self.assertEqual(bolt_letter.state, "to_print")

    def test_skipping_a_reminder_takes_its_letter_off_the_list(self):
        letters = self.letters_to_print()
        acme = letters.filtered(lambda d: d.partner_id == self.customer)
        acme.communication_id.with_user(self.collector).action_skip()
        self.assertEqual(acme.state, "cancelled")
        self.assertEqual(self.to_print_list(), letters - acme)

    def test_by_post_needs_snailmail(self):
        """Without Odoo's snailmail module, sending by post says what to install."""
        letters = self.letters_to_print()
        snailmail = "snailmail.letter" in self.env
        self.assertEqual(set(letters.mapped("snailmail_available")), {snailmail})
        if not snailmail:
            with self.assertRaisesRegex(UserError, "snailmail"):
                letters.with_user(self.collector).action_send_by_post()


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionLettersJson2(DunningCadenceCommon, HttpCase):
    """The letters over the external API (JSON-2, the collector's API key): an
    integration marks them posted through the same button, and cannot forge it."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.level_late.write({"send_email": False, "send_sms": False, "send_letter": True})
        cls.invoice(cls.customer, 1000.0, day(-12))

    def json2(self, model, method, **params):
        key = (
            self.env["res.users.apikeys"]
            .with_user(self.collector)
            ._generate(scope="rpc", name="post", expiration_date=datetime.now() + timedelta(1))
        )
        # The database checks the expiry on its own (real) clock, not the frozen one.
        self.env.cr.execute(
            "UPDATE res_users_apikeys SET expiration_date = now() + interval '1 day'"
            " WHERE user_id = %s",
            [self.collector.id],
        )
        with mute_logger("odoo.http"):
            return self.url_open(
                f"/json/2/{model}/{method}",
                data=json.dumps(params),
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
            )

    def letter(self):
        self.run_dunning(day(0))
        reminder = self.reminders(self.customer)
        reminder.with_user(self.collector).action_approve()
        self.run_queue(at(0, 13))
        letter = self.delivery(reminder, "letter")
        self.assertEqual(letter.state, "to_print")
        return letter

    def test_forging_a_posted_letter_over_json2_is_refused(self):
        letter = self.letter()
        response = self.json2(
            "collection.communication.delivery",
            "write",
            ids=letter.ids,
            vals={"state": "sent", "date_sent": "2026-03-16 09:00:00"},
        )
        self.assertNotEqual(response.status_code, 200, response.text)
        self.assertIn("reminders engine", response.json()["message"])
        letter.invalidate_recordset()
        self.assertEqual(letter.state, "to_print")

    def test_integration_marks_a_letter_posted_over_json2(self):
        letter = self.letter()
        response = self.json2(
            "collection.communication.delivery", "action_mark_posted", ids=letter.ids
        )
        self.assertEqual(response.status_code, 200, response.text)
        letter.invalidate_recordset()
        self.assertEqual(letter.state, "sent")
        self.assertEqual(letter.communication_id.state, "done")
