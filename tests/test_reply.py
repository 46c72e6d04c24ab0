import base64
import csv
import uuid
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from unittest.mock import patch

from lxml import etree, html

from odoo import Command
from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, tagged
from odoo.tests.common import _super_send
from odoo.tools import mute_logger

from ..controllers.webhook_twilio import TWILIO_SMS_ROUTE, twilio_signature
from ..models.collection_reply import MAX_ATTACHMENT_SIZE
from ..tools import reply_classifier
from .common import TODAY, CollectionCommon, on_day
from .fake_providers import FakeProviders

CORPUS = Path(__file__).parent / "data" / "replies_corpus.csv"
# What the classifier must reach at least on the corpus, for every kind.
MIN_PRECISION = 0.9
MIN_RECALL = 0.9
MIN_DATES = 0.9

TWILIO_SID = "AC" + "fedcba9876543210" * 2
TWILIO_TOKEN = "inbound-auth-token"


@tagged("post_install", "-at_install")
class TestCollectionReplyClassify(CollectionCommon):
    """The server reads a reply as a promise (with its day and amount), a dispute
    (with its reason), a payment made, a request for the invoice, an opt-out or
    anything else: the same text always gets the same answer."""

    def test_corpus_precision_and_recall(self):
        with CORPUS.open(encoding="utf-8", newline="") as corpus:
            rows = list(csv.DictReader(corpus))
        self.assertGreaterEqual(len(rows), 300)
        self.assertEqual({row["lang"][:2] for row in rows}, {"es", "en"})
        result = reply_classifier.measure(rows)
        for kind, figures in result["kinds"].items():
            with self.subTest(kind=kind):
                self.assertGreater(figures["support"], 10)
                self.assertGreaterEqual(figures["precision"], MIN_PRECISION)
                self.assertGreaterEqual(figures["recall"], MIN_RECALL)
        self.assertGreaterEqual(result["dates"], MIN_DATES)
        self.assertGreaterEqual(result["amounts"], MIN_DATES)
        self.assertGreaterEqual(result["reasons"], MIN_DATES)

    def test_replies_named_in_the_specification(self):
        Reply = self.env["collection.reply"].with_user(self.collector)
        monday = "2026-03-16"
        cases = [
            ("le pago el viernes", "es_ES", "promise", "2026-03-20", False),
            ("transferiré 500 € el 15 de diciembre", "es_ES", "promise", "2026-12-15", 500.0),
            ("will pay next Tuesday", "en_US", "promise", "2026-03-17", False),
            ("pagamos a fin de mes", "es_ES", "promise", "2026-03-31", False),
            ("les pago el 15", "es_ES", "promise", "2026-04-15", False),
            ("ya pagué", "es_ES", "paid", False, False),
            ("payment sent yesterday", "en_US", "paid", False, False),
            ("Hemos transferido 1.234,56 €", "es_ES", "paid", False, 1234.56),
            ("We wired 1,234.56 this morning", "en_US", "paid", False, 1234.56),
            ("¿Me pueden enviar una copia de la factura?", "es_ES", "invoice_copy", False, False),
            ("BAJA", "es_ES", "opt_out", False, False),
            ("no me escriban más", "es_ES", "opt_out", False, False),
            ("STOP", "en_US", "opt_out", False, False),
            ("La mercancía llegó rota", "es_ES", "dispute", False, False),
            ("Hola, ¿quién es?", "es_ES", "other", False, False),
        ]
        for text, lang, kind, day, amount in cases:
            with self.subTest(text=text):
                result = Reply.classify(text, lang, monday)
                self.assertEqual(
                    (result["kind"], result["date"], result["amount"]), (kind, day, amount)
                )
                self.assertEqual(Reply.classify(text, lang, monday), result)

    def test_dispute_reasons_map_to_the_shipped_reasons(self):
        cases = [
            ("El importe de la factura es incorrecto", "wrong_price"),
            ("We never received the goods", "not_received"),
            ("The goods arrived damaged", "damaged"),
            ("Ya devolvimos la mercancía", "returned"),
            ("We did not order this", "not_ordered"),
        ]
        for text, code in cases:
            with self.subTest(text=text):
                result = self.env["collection.reply"].classify(text, "es_ES", "2026-03-16")
                self.assertEqual((result["kind"], result["reason"]), ("dispute", code))
                self.assertTrue(
                    self.env.ref(f"account_collection.collection_dispute_reason_{code}")
                )

    def test_a_bad_day_is_refused_clearly(self):
        with self.assertRaisesRegex(UserError, "is not a date"):
            self.env["collection.reply"].classify("les pago el 15", "es_ES", "the 15th")


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionReply(CollectionCommon):
    """Customers answer the reminders: each message becomes a reply on the customer's
    chatter, its collector notified, read into a suggestion the collector applies in
    one click through the usual checks."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.customer.write({"phone": "+34 622 987 654", "lang": "es_ES"})
        cls.env["res.lang"]._activate_lang("es_ES")
        cls.customer.with_company(cls.company).collection_user_id = cls.collector
        cls.inv = cls.invoice(cls.customer, 1000.0, TODAY - timedelta(days=20))

    def setUp(self):
        super().setUp()
        self.reminder = self.make_reminder(self.inv, TODAY)
        self.env["collection.communication.delivery"].sudo().create(
            {
                "communication_id": self.reminder.id,
                "channel": "whatsapp",
                "recipient": "+34622987654",
                "provider_ref": "wamid.REMINDER1",
            }
        )

    def receive(self, text, sender="34622987654", channel="whatsapp", **kwargs):
        return self.env["collection.reply"]._collection_receive(
            channel, self.company, sender, text, **kwargs
        )

    def customer_notes(self):
        return self.env["mail.message"].search(
            [("model", "=", "res.partner"), ("res_id", "=", self.customer.id)]
        )

    def test_whatsapp_answer_to_a_reminder_lands_on_the_customer(self):
        reply = self.receive(
            "les pago el 15", provider_ref="wamid.IN1", reply_to_ref="wamid.REMINDER1"
        )
        self.assertRecordValues(
            reply,
            [
                {
                    "partner_id": self.customer.id,
                    "communication_id": self.reminder.id,
                    "state": "new",
                    "kind": "promise",
                    "promise_date": date(2026, 4, 15),
                    "user_id": self.collector.id,
                }
            ],
        )
        note = self.customer_notes().filtered(lambda m: "les pago el 15" in (m.body or ""))
        self.assertEqual(len(note), 1)
        self.assertIn(self.collector.partner_id, note.partner_ids, "the collector is notified")

    def test_the_same_message_twice_is_one_reply(self):
        first = self.receive("les pago el 15", provider_ref="wamid.IN1")
        again = self.receive("les pago el 15", provider_ref="wamid.IN1")
        self.assertEqual(first, again)
        self.assertEqual(self.env["collection.reply"].search_count([]), 1)

    def test_sender_matched_by_number_or_email(self):
        by_number = self.receive("Gracias", sender="+34 622 98 76 54", channel="sms")
        by_email = self.receive("Gracias", sender="ACME@example.com", channel="email")
        self.assertEqual((by_number | by_email).partner_id, self.customer)

    def test_unknown_sender_waits_for_a_collector_to_assign_it(self):
        reply = self.receive("Ya pagué, adjunto justificante", sender="+34699000111", channel="sms")
        self.assertRecordValues(reply, [{"partner_id": False, "state": "unmatched"}])
        unmatched = (
            self.env["collection.reply"]
            .with_user(self.collector)
            .search([("state", "=", "unmatched")])
        )
        self.assertEqual(unmatched, reply, "unknown senders are listed to every collector")
        with self.assertRaisesRegex(UserError, "Assign"):
            reply.with_user(self.collector).action_apply()
        reply = reply.with_user(self.collector)
        reply.assign_partner_id = self.customer
        reply.action_assign()
        self.assertRecordValues(reply, [{"partner_id": self.customer.id, "state": "new"}])
        self.assertTrue(
            self.customer_notes().filtered(lambda m: "adjunto justificante" in (m.body or ""))
        )

    def test_assigning_to_another_collectors_customer_is_refused(self):
        other = self.env["res.partner"].create({"name": "Other Portfolio", "is_company": True})
        other.with_company(self.company).collection_user_id = self.collection_manager
        self.company.collection_portfolio_restricted = True
        reply = self.receive("hola", sender="+34699000111", channel="sms").with_user(self.collector)
        reply.assign_partner_id = other
        with self.assertRaises(AccessError):
            reply.action_assign()
        self.assertEqual(reply.state, "unmatched")

    def test_opt_out_blacklists_the_number_and_the_address(self):
        self.receive("BAJA")
        self.assertTrue(
            self.env["phone.blacklist"].sudo().search([("number", "=", "+34622987654")])
        )
        self.customer.invalidate_recordset()
        self.assertTrue(self.customer.phone_blacklisted)
        reply = self.receive("Please stop emailing me", sender="acme@example.com", channel="email")
        self.assertTrue(reply.opted_out)
        blacklist = self.env["mail.blacklist"].sudo()
        self.assertTrue(blacklist.search([("email", "=", "acme@example.com")]))
        self.customer.invalidate_recordset()
        self.assertTrue(self.customer.is_blacklisted)

    def test_promise_applied_in_one_click_with_the_reminders_invoices(self):
        reply = self.receive("les pago 600 € el 15", reply_to_ref="wamid.REMINDER1")
        reply.with_user(self.collector).action_apply()
        promise = reply.promise_id
        self.assertRecordValues(
            promise,
            [
                {
                    "partner_id": self.customer.id,
                    "amount": 600.0,
                    "date": date(2026, 4, 15),
                    "user_id": self.collector.id,
                    "state": "open",
                }
            ],
        )
        self.assertEqual(promise.move_ids, self.inv)
        self.assertRecordValues(reply, [{"state": "done", "done_user_id": self.collector.id}])
        interaction = self.env["collection.interaction"].search([("promise_id", "=", promise.id)])
        self.assertEqual(interaction.channel, "whatsapp")

    def test_promise_without_a_day_opens_the_dialog_prefilled(self):
        reply = self.receive("Pagaremos pronto", reply_to_ref="wamid.REMINDER1")
        action = reply.with_user(self.collector).action_apply()
        self.assertEqual(action["res_model"], "collection.interaction.log")
        self.assertEqual(action["context"]["default_outcome"], "promise")
        self.assertEqual(action["context"]["default_move_ids"], self.inv.ids)
        self.assertEqual(reply.state, "new")
        # The collector sets the day in the dialog: the reply is handled by it.
        wizard = (
            self.env["collection.interaction.log"]
            .with_user(self.collector)
            .with_context(action["context"])
            .create({"promise_date": TODAY + timedelta(days=3), "promise_amount": 1000.0})
        )
        wizard.action_confirm()
        self.assertEqual(reply.state, "done")
        self.assertEqual(reply.promise_id.date, TODAY + timedelta(days=3))

    def test_dispute_applied_with_its_reason(self):
        reply = self.receive("La mercancía llegó rota", reply_to_ref="wamid.REMINDER1")
        damaged = self.env.ref("account_collection.collection_dispute_reason_damaged")
        self.assertEqual(reply.dispute_reason_id, damaged)
        reply.with_user(self.collector).action_apply()
        self.assertRecordValues(
            reply.dispute_id, [{"reason_id": damaged.id, "partner_id": self.customer.id}]
        )
        self.assertEqual(reply.dispute_id.move_ids, self.inv)

    def test_paid_opens_the_open_items_with_the_remittance(self):
        reply = self.receive(
            "Ya pagué",
            reply_to_ref="wamid.REMINDER1",
            attachments=[("justificante.pdf", b"%PDF-1.4 remittance", "application/pdf")],
        )
        self.assertEqual(reply.attachment_ids.mapped("name"), ["justificante.pdf"])
        # Another open invoice of the customer (not reminded) and a paid one.
        later = self.invoice(self.customer, 250.0, TODAY + timedelta(days=5))
        paid = self.invoice(self.customer, 80.0, TODAY - timedelta(days=3))
        self.pay(paid)
        action = reply.with_user(self.collector).action_apply()
        # The reply itself, in a dialog: the remittance beside the open items.
        self.assertEqual((action["res_model"], action["res_id"]), ("collection.reply", reply.id))
        self.assertEqual(action["target"], "new")
        view = (
            self.env["collection.reply"]
            .with_user(self.collector)
            .get_view(action["views"][0][0], "form")
        )
        arch = etree.fromstring(view["arch"])
        [side_by_side] = arch.xpath("//div[hasclass('o_collection_reply_matching')]")
        self.assertEqual(
            side_by_side.xpath(".//field[not(ancestor::list)]/@name"),
            ["attachment_ids", "open_move_ids"],
        )
        self.assertEqual(
            reply.with_user(self.collector).open_move_ids.sorted("invoice_date_due"),
            self.inv | later,
        )
        self.assertEqual(reply.state, "new", "open until the collector marks it done")
        reply.with_user(self.collector).action_mark_done()
        self.assertEqual(reply.state, "done")
        note = self.customer_notes().filtered(lambda m: "Ya pagu" in (m.body or ""))
        self.assertEqual(note.attachment_ids.mapped("name"), ["justificante.pdf"])

    def test_a_page_sent_as_an_attachment_is_kept_as_text(self):
        reply = self.receive(
            "mire esto",
            attachments=[("pago.html", b"<script>alert(1)</script>", "text/html")],
        )
        self.assertEqual(reply.attachment_ids.mimetype, "text/plain")

    def test_invoice_copy_sends_the_statement_with_the_invoices(self):
        reply = self.receive("Mándenme la factura por favor", reply_to_ref="wamid.REMINDER1")
        action = reply.with_user(self.collector).action_apply()
        self.assertEqual(action["res_model"], "mail.compose.message")
        attachments = self.env["ir.attachment"].browse(action["context"]["default_attachment_ids"])
        self.assertEqual(len(attachments), 1)
        self.assertEqual(reply.state, "done")

    def test_what_the_customer_wrote_is_kept_as_it_came(self):
        reply = self.receive("les pago el 15").with_user(self.collector)
        with self.assertRaisesRegex(UserError, "kept as it came"):
            reply.write({"text": "les pago el 30"})
        with self.assertRaisesRegex(UserError, "not created by hand"):
            self.env["collection.reply"].with_user(self.collection_manager).create(
                {"company_id": self.company.id, "channel": "sms", "text": "x"}
            )
        reply.promise_date = TODAY + timedelta(days=30)  # the suggestion is corrected
        self.assertEqual(reply.promise_date, TODAY + timedelta(days=30))

    def test_promises_apply_themselves_only_when_the_company_says_so(self):
        reply = self.receive("les pago el 15", provider_ref="a", reply_to_ref="wamid.REMINDER1")
        self.assertFalse(reply.promise_id)
        self.company.collection_reply_auto_promise = True
        reply = self.receive("les pago el 20", provider_ref="b", reply_to_ref="wamid.REMINDER1")
        self.assertEqual(reply.state, "done")
        self.assertRecordValues(
            reply.promise_id, [{"date": date(2026, 3, 20), "user_id": self.collector.id}]
        )

    def test_a_restricted_collector_reads_the_replies_of_their_portfolio_only(self):
        other = self.env["res.partner"].create(
            {"name": "Other Portfolio", "is_company": True, "email": "other@example.com"}
        )
        other.with_company(self.company).collection_user_id = self.collection_manager
        self.company.collection_portfolio_restricted = True
        mine = self.receive("les pago el 15")
        self.receive("les pago el 15", sender="other@example.com", channel="email")
        visible = self.env["collection.reply"].with_user(self.collector).search([])
        self.assertEqual(visible, mine)

    def test_email_reply_to_a_reminder_is_the_customers_reply(self):
        message = self.reminder.sudo().message_post(
            body="Your reminder", message_type="email", subtype_xmlid="mail.mt_comment"
        )
        raw = (
            "From: Acme Accounts <acme@example.com>\r\n"
            "To: billing@example.com\r\n"
            "Subject: Re: Reminder\r\n"
            f"In-Reply-To: {message.message_id}\r\n"
            f"References: {message.message_id}\r\n"
            "Message-ID: <reply-1@acme.example.com>\r\n"
            "Date: Mon, 16 Mar 2026 10:00:00 +0000\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "\r\n"
            "Les pagaremos el viernes.\r\n"
        )
        with mute_logger("odoo.addons.mail.models.mail_thread"):
            self.env["mail.thread"].sudo().message_process(False, raw)
        reply = self.env["collection.reply"].search([("channel", "=", "email")])
        self.assertRecordValues(
            reply,
            [
                {
                    "partner_id": self.customer.id,
                    "communication_id": self.reminder.id,
                    "sender": "acme@example.com",
                    "kind": "promise",
                    "promise_date": date(2026, 3, 20),
                }
            ],
        )
        on_reminder = self.env["mail.message"].search(
            [("model", "=", "collection.communication"), ("res_id", "=", self.reminder.id)]
        )
        self.assertFalse(on_reminder.filtered(lambda m: "viernes" in (m.body or "")))
        self.assertTrue(self.customer_notes().filtered(lambda m: "viernes" in (m.body or "")))

    def new_email(
        self, to, sender="Acme Accounts <acme@example.com>", text="Les pagaremos el viernes."
    ):
        """A customer writes a new email (it answers no message) to ``to``, received by
        the mail gateway as it comes from the mail server."""
        raw = (
            f"From: {sender}\r\n"
            f"To: {to}\r\n"
            "Subject: Factura pendiente\r\n"
            f"Message-ID: <new-{abs(hash((to, sender, text)))}@customer.example.com>\r\n"
            "Date: Mon, 16 Mar 2026 10:00:00 +0000\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "\r\n"
            f"{text}\r\n"
        )
        with mute_logger("odoo.addons.mail.models.mail_thread"):
            self.env["mail.thread"].sudo().message_process(False, raw)
        return self.env["collection.reply"].search([("channel", "=", "email")])

    def alias_domain(self):
        domain = self.env["mail.alias.domain"].create(
            {"name": "ledger.example.com", "catchall_alias": "catchall", "bounce_alias": "bounce"}
        )
        self.company.alias_domain_id = domain
        self.env.ref("account_collection.mail_alias_collection_reply").alias_domain_id = domain
        return domain

    def test_new_email_to_the_collections_alias_is_the_customers_reply(self):
        self.alias_domain()
        reply = self.new_email("collections@ledger.example.com")
        self.assertRecordValues(
            reply,
            [
                {
                    "partner_id": self.customer.id,
                    "company_id": self.company.id,
                    "communication_id": False,
                    "sender": "acme@example.com",
                    "state": "new",
                    "kind": "promise",
                    "promise_date": date(2026, 3, 20),
                }
            ],
        )
        self.assertTrue(self.customer_notes().filtered(lambda m: "viernes" in (m.body or "")))
        # Someone the company does not know: it waits for a collector to assign it.
        unknown = (
            self.new_email(
                "collections@ledger.example.com", sender="stranger@elsewhere.example.com"
            )
            - reply
        )
        self.assertRecordValues(unknown, [{"partner_id": False, "state": "unmatched"}])

    def test_new_email_to_the_catchall_from_a_customer_is_the_customers_reply(self):
        self.alias_domain()
        reply = self.new_email("catchall@ledger.example.com", text="Ya pagué la factura.")
        self.assertRecordValues(
            reply, [{"partner_id": self.customer.id, "kind": "paid", "state": "new"}]
        )
        # A stranger writing to the catchall is bounced as before, nothing recorded.
        MailThread = self.registry["mail.thread"]
        with patch.object(MailThread, "_routing_create_bounce_email", autospec=True) as bounce:
            after = self.new_email(
                "catchall@ledger.example.com", sender="stranger@elsewhere.example.com"
            )
        self.assertEqual(after, reply)
        bounce.assert_called_once()


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionReplyTwilio(CollectionCommon, HttpCase):
    """Inbound SMS come from Twilio's Messaging webhook, signed with the account's auth
    token: a signed message becomes the customer's reply, anything else gets 403 and
    changes nothing."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if "sms_twilio_account_sid" not in cls.env["res.company"]._fields:
            cls.skipTest(cls, "Odoo's sms_twilio is not installed")
        cls.company.write(
            {"sms_twilio_account_sid": TWILIO_SID, "sms_twilio_auth_token": TWILIO_TOKEN}
        )
        cls.customer.phone = "+34 622 987 654"
        cls.url = cls.company.get_base_url().rstrip("/") + TWILIO_SMS_ROUTE

    @classmethod
    def _request_handler(cls, session, request, /, **kwargs):
        """The media of an MMS are served by the local fake Twilio."""
        server = getattr(cls, "twilio_server", None)
        if server and request.url.startswith(server.url + "/"):
            return _super_send(session, request, **kwargs)
        return super()._request_handler(session, request, **kwargs)

    @contextmanager
    def fake_twilio(self):
        server = FakeProviders().start()
        type(self).twilio_server = server
        try:
            yield server
        finally:
            type(self).twilio_server = None
            server.stop()

    def post(self, form, signature=None, token=TWILIO_TOKEN):
        headers = {}
        if signature is not False:
            headers["X-Twilio-Signature"] = signature or twilio_signature(token, self.url, form)
        return self.url_open(TWILIO_SMS_ROUTE, data=form, headers=headers)

    def form(self, body="les pago el 15", sid="SM" + "a" * 32):
        return {
            "MessageSid": sid,
            "SmsSid": sid,
            "AccountSid": TWILIO_SID,
            "From": "+34622987654",
            "To": "+34911000111",
            "Body": body,
            "NumMedia": "0",
        }

    def replies(self):
        return self.env["collection.reply"].search([("channel", "=", "sms")])

    def mms(self, body, *media):
        """An MMS: the form Twilio posts, with ``media`` as (MediaUrl, content type)."""
        form = dict(self.form(body, sid="MM" + uuid.uuid4().hex), NumMedia=str(len(media)))
        for index, (url, mime_type) in enumerate(media):
            form[f"MediaUrl{index}"] = url
            form[f"MediaContentType{index}"] = mime_type
        return form

    def test_mms_media_are_kept_on_the_reply(self):
        with self.fake_twilio() as server:
            slip = server.add_twilio_media(
                b"%PDF-1.4 remittance", "application/pdf", TWILIO_SID, TWILIO_TOKEN
            )
            photo = server.add_twilio_media(
                b"\xff\xd8 photo", "image/jpeg", TWILIO_SID, TWILIO_TOKEN
            )
            response = self.post(
                self.mms("ya pagué, adjunto justificante", (slip, "application/pdf"),
                         (photo, "image/jpeg"))
            )  # fmt: skip
            self.assertEqual(response.status_code, 200)
            media_requests = [r for r in server.requests if r["provider"] == "twilio_media"]
        reply = self.replies()
        self.assertEqual(reply.kind, "paid")
        self.assertEqual(
            sorted(reply.attachment_ids.mapped("mimetype")), ["application/pdf", "image/jpeg"]
        )
        self.assertEqual(
            sorted(reply.attachment_ids.mapped("raw")), [b"%PDF-1.4 remittance", b"\xff\xd8 photo"]
        )
        # Authenticated with the account's SID and auth token, as Twilio requires.
        signed = [r for r in media_requests if r["path"].startswith("/2010-04-01/")]
        self.assertEqual(len(signed), 2)
        expected = "Basic " + base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
        self.assertTrue(all(r["authorization"] == expected for r in signed))

    @mute_logger("odoo.addons.account_collection.controllers.webhook_twilio")
    def test_mms_media_that_cannot_be_downloaded_keep_the_text(self):
        with self.fake_twilio() as server:
            good = server.add_twilio_media(
                b"%PDF-1.4 ok", "application/pdf", TWILIO_SID, TWILIO_TOKEN
            )
            gone = good.rsplit("/", 1)[0] + "/ME" + "0" * 32
            big = server.add_twilio_media(
                b"x" * (MAX_ATTACHMENT_SIZE + 1), "image/png", TWILIO_SID, TWILIO_TOKEN
            )
            elsewhere = "https://media.example.com/steal-the-token.jpg"
            response = self.post(
                self.mms("les pago el 15", (good, "application/pdf"), (gone, "image/jpeg"),
                         (big, "image/png"), (elsewhere, "image/jpeg"))
            )  # fmt: skip
            self.assertEqual(response.status_code, 200)
            self.assertFalse(
                [r for r in server.requests if "steal" in r["path"]], "no token sent elsewhere"
            )
        reply = self.replies()
        self.assertEqual((reply.kind, reply.text), ("promise", "les pago el 15"))
        self.assertEqual(reply.attachment_ids.mapped("raw"), [b"%PDF-1.4 ok"])
        [note] = reply.message_ids.filtered(lambda m: "could not be downloaded" in (m.body or ""))
        self.assertIn("3", note.body)

    def test_signed_sms_is_the_customers_reply(self):
        self.assertEqual(self.customer.phone_sanitized, "+34622987654")
        response = self.post(self.form())
        self.assertEqual(response.status_code, 200)
        self.assertRecordValues(
            self.replies(),
            [
                {
                    "partner_id": self.customer.id,
                    "kind": "promise",
                    "promise_date": date(2026, 4, 15),
                }
            ],
        )

    def test_replayed_sms_is_kept_once(self):
        self.post(self.form())
        self.assertEqual(self.post(self.form()).status_code, 200)
        self.assertEqual(len(self.replies()), 1)

    @mute_logger("odoo.addons.account_collection.controllers.webhook_twilio")
    def test_unsigned_or_wrongly_signed_sms_is_refused(self):
        form = self.form("BAJA")
        for signature, token in ((False, None), ("bm90IGEgc2lnbmF0dXJl", None), (None, "guessed")):
            with self.subTest(signature=signature, token=token):
                response = self.post(form, signature=signature, token=token or TWILIO_TOKEN)
                self.assertEqual(response.status_code, 403)
        tampered = dict(form, Body="les pago el 15")
        signed = twilio_signature(TWILIO_TOKEN, self.url, form)
        self.assertEqual(self.post(tampered, signature=signed).status_code, 403)
        self.assertFalse(self.replies())
        blacklist = self.env["phone.blacklist"].sudo()
        self.assertFalse(blacklist.search([("number", "=", "+34622987654")]))


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionReplyApi(CollectionCommon, HttpCase):
    """Integrators read a reply over JSON-2 with the caller's rights."""

    def json2(self, user, model, method, **params):
        """POST /json/2/<model>/<method> with an API key of ``user``."""
        # sudo: a key without expiry (the database clock is not the frozen one).
        key = (
            self.env["res.users.apikeys"]
            .with_user(user)
            .sudo()
            ._generate(scope="rpc", name="integration", expiration_date=None)
        )
        return self.url_open(
            f"/json/2/{model}/{method}", json=params, headers={"Authorization": f"Bearer {key}"}
        )

    def test_classify_over_json2(self):
        response = self.json2(
            self.collector,
            "collection.reply",
            "classify",
            text="les pago el 15",
            lang="es_ES",
            today="2026-03-16",
        )
        self.assertEqual(response.status_code, 200, response.text)
        self.assertEqual(
            response.json(),
            {"kind": "promise", "date": "2026-04-15", "amount": False, "reason": False},
        )

    @mute_logger("odoo.http")
    def test_forging_a_reply_over_json2_is_refused(self):
        """A collector cannot make up a customer's message, nor rewrite one to point it
        at another customer or reminder; a portal user cannot read replies at all."""
        other = self.env["res.partner"].create({"name": "Globex", "is_company": True})
        reply = self.env["collection.reply"]._collection_receive(
            "sms", self.company, "+15005550001", "hola", partner=self.customer
        )
        forged = self.json2(
            self.collector,
            "collection.reply",
            "create",
            vals_list=[{"company_id": self.company.id, "channel": "sms", "text": "les pago"}],
        )
        self.assertNotEqual(forged.status_code, 200)
        rewritten = self.json2(
            self.collector,
            "collection.reply",
            "write",
            ids=reply.ids,
            vals={"partner_id": other.id, "text": "les pago el 15", "state": "done"},
        )
        self.assertNotEqual(rewritten.status_code, 200)
        received = self.json2(
            self.collector,
            "collection.reply",
            "_collection_receive",
            channel="sms",
            company=self.company.id,
            sender="+15005550001",
            text="les pago",
        )
        self.assertNotEqual(received.status_code, 200)
        portal = self.make_user("portal_reader", "base.group_portal")
        read = self.json2(portal, "collection.reply", "search_read", domain=[], fields=["text"])
        self.assertNotEqual(read.status_code, 200)
        self.env.invalidate_all()
        self.assertEqual(self.env["collection.reply"].search([]), reply)
        self.assertRecordValues(
            reply, [{"partner_id": self.customer.id, "text": "hola", "state": "new"}]
        )


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionReplyPortal(CollectionCommon, HttpCase):
    """What a customer writes on its statement is its reply too, on its chatter and
    read like a message by email or WhatsApp."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.customer.with_company(cls.company).collection_user_id = cls.collector
        cls.inv = cls.invoice(cls.customer, 1000.0, TODAY - timedelta(days=20))

    def post_message(self, text, files=None):
        token = self.customer._collection_portal_token(self.company)
        path = f"/my/collections/{self.customer.id}?company_id={self.company.id}"
        response = self.url_open(f"{path}&access_token={token}", allow_redirects=False)
        page = html.fromstring(response.content)
        [form] = page.xpath("//form[hasclass('o_collection_message_form')]")
        hidden = {i.get("name"): i.get("value") for i in form.xpath(".//input[@type='hidden']")}
        return self.url_open(
            form.get("action"),
            data={**hidden, "message": text},
            files=files,
            allow_redirects=False,
        )

    def test_message_typed_on_the_statement_is_a_reply(self):
        response = self.post_message(
            "Les pago el 20, adjunto el pedido",
            files={"attachments": ("pedido.pdf", b"%PDF-1.4 order", "application/pdf")},
        )
        self.assertEqual(response.status_code, 303, response.text[:1000])
        self.assertIn("done=message", response.headers["Location"])
        reply = self.env["collection.reply"].search([("channel", "=", "portal")])
        self.assertRecordValues(
            reply,
            [
                {
                    "partner_id": self.customer.id,
                    "kind": "promise",
                    "promise_date": date(2026, 3, 20),
                    "state": "new",
                    "user_id": self.collector.id,
                }
            ],
        )
        self.assertEqual(reply.attachment_ids.mapped("name"), ["pedido.pdf"])

    def test_empty_message_is_refused_and_writes_nothing(self):
        response = self.post_message("   ")
        self.assertEqual(response.status_code, 400)
        self.assertIn("Write your message", response.text)
        self.assertFalse(self.env["collection.reply"].search([]))


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionReplyLoop(CollectionCommon):
    """Replies show on the worklist and the dashboard; a customer whose reminded
    invoice is paid, or whose promise is kept, may get a short thank-you."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.customer.with_company(cls.company).collection_user_id = cls.collector
        cls.inv = cls.invoice(cls.customer, 1000.0, TODAY - timedelta(days=20))

    def receive(self, text):
        return self.env["collection.reply"]._collection_receive(
            "email", self.company, "acme@example.com", text
        )

    def test_replies_to_read_on_the_worklist_and_the_dashboard(self):
        Partner = self.env["res.partner"].with_user(self.collector)
        domain = [("collection_reply_ids", "any", [("state", "=", "new")])]

        def card():
            data = self.env["collection.dashboard"].with_user(self.collector).get_dashboard_data()
            return {c["key"]: c for c in data["customers"]}["replies_to_read"]

        self.assertFalse(Partner.search(domain))
        self.assertEqual(card()["count"], 0)
        reply = self.receive("Mándenme la factura")
        self.assertEqual(Partner.search(domain), self.customer)
        self.assertEqual(card()["count"], 1)
        self.assertEqual(card()["action"]["context"], {"search_default_replies_to_read": 1})
        reply.with_user(self.collector).action_mark_done()
        self.assertEqual(card()["count"], 0)

    def sent_to_customer(self):
        return self.env["mail.message"].search(
            [
                ("model", "=", "res.partner"),
                ("res_id", "=", self.customer.id),
                ("partner_ids", "in", self.customer.ids),
                ("body", "ilike", "Thank you"),
            ]
        )

    def test_thank_you_when_a_reminded_invoice_is_paid_only_when_the_policy_says_so(self):
        policy = self.make_policy("Thanks", [{"name": "Late", "delay": 5}]).policy_id
        self.inv.sudo().collection_last_reminder_date = TODAY - timedelta(days=3)
        other = self.invoice(self.customer, 200.0, TODAY - timedelta(days=20))
        other.sudo().collection_last_reminder_date = TODAY - timedelta(days=3)
        self.pay(other)
        self.assertFalse(self.sent_to_customer(), "off by default")
        policy.confirm_payment = True
        self.pay(self.inv)
        thanks = self.sent_to_customer()
        self.assertEqual(len(thanks), 1)
        self.assertIn(self.inv.name, thanks.body)

    def test_thank_you_when_a_promise_is_kept(self):
        policy = self.make_policy("Thanks", [{"name": "Late", "delay": 5}]).policy_id
        policy.confirm_payment = True
        self.env["collection.promise"].create(
            {
                "partner_id": self.customer.id,
                "amount": 1000.0,
                "date": TODAY + timedelta(days=5),
                "move_ids": [Command.set(self.inv.ids)],
            }
        )
        self.pay(self.inv)
        thanks = self.sent_to_customer()
        self.assertEqual(len(thanks), 1)
        self.assertIn("as you promised", thanks.body)
