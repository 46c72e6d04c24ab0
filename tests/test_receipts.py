import itertools
import json
from datetime import datetime, time, timedelta
from unittest.mock import patch

from odoo import Command
from odoo.exceptions import AccessError
from odoo.tests import HttpCase, freeze_time, tagged
from odoo.tests.common import _super_send
from odoo.tools import mute_logger

from odoo.addons.base.tests.common import MockSmtplibCase

from ..tools import whatsapp
from .common import TODAY, DunningCommon, day, on_day
from .fake_providers import PHONE_NUMBER_ID, FakeProviders

# Monday 16 March 2026 at noon (UTC, the company's time zone): messages may go.
NOON = datetime.combine(TODAY, time(12, 0))
WHATSAPP_TOKEN = "EAAG-test-token"
APP_SECRET = "3f9c0e4a-meta-app-secret"
VERIFY_TOKEN = "collections-webhook-verify"
WEBHOOK = "/collection/webhook/whatsapp"
TWILIO_API_URL = "https://api.twilio.com"
TWILIO_SID = "AC" + "fedcba9876543210" * 2
TWILIO_TOKEN = "twilio-receipts-token"
TWILIO_FROM_ES = "+34911000111"


def unix(moment):
    """A naive UTC moment as the Cloud API's timestamp (Unix seconds, as text)."""
    return str(int((moment - datetime(1970, 1, 1)).total_seconds()))


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionReceipts(DunningCommon, MockSmtplibCase, HttpCase):
    """What becomes of a reminder after the provider took it comes back into Odoo:
    WhatsApp's signed webhook (delivered, read, failed), Twilio's signed status
    callbacks through Odoo's SMS tracker, and email bounces through Odoo's mail
    gateway. A message that could not be delivered fails with the reason and the
    reminder goes by another channel."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server = FakeProviders().start()
        cls.addClassCleanup(cls.server.stop)
        cls.env["ir.config_parameter"].sudo().set_param(
            "account_collection.whatsapp_api_url", cls.server.url
        )
        cls.company.partner_id.tz = "UTC"
        cls.company.write(
            {
                "collection_whatsapp_phone_number_id": PHONE_NUMBER_ID,
                "collection_whatsapp_token": WHATSAPP_TOKEN,
                "collection_whatsapp_verify_token": VERIFY_TOKEN,
                "collection_whatsapp_app_secret": APP_SECRET,
                "collection_message_interval_days": 0,
            }
        )
        cls.twilio = "sms_provider" in cls.env["res.company"]._fields
        if cls.twilio:
            cls.company.write(
                {
                    "sms_provider": "twilio",
                    "sms_twilio_account_sid": TWILIO_SID,
                    "sms_twilio_auth_token": TWILIO_TOKEN,
                    "sms_twilio_number_ids": [
                        Command.create(
                            {"number": TWILIO_FROM_ES, "country_id": cls.spain.id, "sequence": 1}
                        )
                    ],
                }
            )
        sms_template = cls.env.ref("account_collection.sms_template_reminder_overdue")
        mail_template = cls.env.ref("account_collection.mail_template_reminder_overdue")
        cls.level_whatsapp = cls.make_policy(
            "WhatsApp first",
            [
                {
                    "name": "WhatsApp reminder",
                    "delay": 2,
                    "send_whatsapp": True,
                    "whatsapp_template_name": "payment_reminder",
                    "whatsapp_language": "es",
                    "whatsapp_parameters": "partner_name, overdue_amount",
                    "whatsapp_fallback_sms": True,
                    "sms_template_id": sms_template.id,
                }
            ],
            mode="automatic",
        )
        cls.level_sms = cls.make_policy(
            "SMS first",
            [
                {
                    "name": "SMS reminder",
                    "delay": 2,
                    "send_sms": True,
                    "sms_template_id": sms_template.id,
                    "mail_template_id": mail_template.id,
                }
            ],
            mode="automatic",
        )
        cls.level_email, cls.level_email_again = cls.make_policy(
            "Email first",
            [
                {
                    "name": "Email reminder",
                    "delay": 2,
                    "send_email": True,
                    "mail_template_id": mail_template.id,
                    "sms_template_id": sms_template.id,
                },
                {
                    "name": "Email again",
                    "delay": 9,
                    "send_email": True,
                    "mail_template_id": mail_template.id,
                    "sms_template_id": sms_template.id,
                },
            ],
            mode="automatic",
        )
        cls.customer.write({"phone": "612 34 56 78", "country_id": cls.spain.id})
        cls.customer.with_company(cls.company).collection_policy_id = cls.level_whatsapp.policy_id

    @classmethod
    def _request_handler(cls, session, request, /, **kwargs):
        """Twilio's API is answered by the local server; requests to it keep their own
        timeout."""
        if request.url.startswith(TWILIO_API_URL + "/"):
            request.url = cls.server.url + request.url[len(TWILIO_API_URL) :]
        if request.url.startswith(cls.server.url + "/"):
            return _super_send(session, request, **kwargs)
        return super()._request_handler(session, request, **kwargs)

    def setUp(self):
        super().setUp()
        self.server.requests.clear()
        self.server.script("whatsapp", [])
        self.server.script("twilio", [])
        self.smtp_messages = []

    def trigger(self, cron, moment):
        """The scheduler runs ``cron`` at ``moment``, in its own transaction (this test
        case's server already shares the test's), emails to the fake SMTP server."""
        self.env.flush_all()
        with freeze_time(moment), self.mock_smtplib_connection():
            result = cron.method_direct_trigger()
        self.smtp_messages += self.emails
        self.env.invalidate_all()
        return result

    # ------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------

    def require_twilio(self):
        if not self.twilio:
            self.skipTest("SMS through Twilio: install sms_twilio with the addon")

    def new_customer(self, name, phone, policy_level, email=None):
        partner = self.env["res.partner"].create(
            {
                "name": name,
                "is_company": True,
                "phone": phone,
                "email": email,
                "country_id": self.spain.id,
            }
        )
        partner.with_company(self.company).collection_policy_id = policy_level.policy_id
        return partner

    def delivery(self, partner, channel):
        deliveries = self.env["collection.communication.delivery"].search(
            [("partner_id", "=", partner.id), ("channel", "=", channel)]
        )
        self.assertEqual(len(deliveries), 1, f"one {channel} delivery for {partner.name}")
        return deliveries

    def deliveries(self, partner, channel=None):
        domain = [("partner_id", "=", partner.id)]
        if channel:
            domain.append(("channel", "=", channel))
        return self.env["collection.communication.delivery"].search(domain, order="id")

    def sent_whatsapp(self, partner):
        """``partner``'s reminder, sent by WhatsApp at noon."""
        self.invoice(partner, 1000.0, day(-2))
        self.run_dunning(NOON)
        delivery = self.delivery(partner, "whatsapp")
        self.assertEqual(delivery.state, "sent")
        self.assertTrue(delivery.provider_ref.startswith("wamid."))
        return delivery

    def post(self, event, app_secret=APP_SECRET, **kwargs):
        """WhatsApp calls the webhook with ``event``, signed with ``app_secret``."""
        response = self.server.whatsapp_webhook(
            self.base_url() + WEBHOOK, event, app_secret=app_secret, session=self.opener, **kwargs
        )
        self.env.invalidate_all()
        return response

    def status(self, delivery, status, moment, errors=None):
        values = {
            "id": delivery.provider_ref,
            "status": status,
            "timestamp": unix(moment),
            "recipient_id": delivery.recipient.lstrip("+"),
        }
        if errors:
            values["errors"] = errors
        return values

    def statuses(self, *statuses):
        return self.server.whatsapp_event(PHONE_NUMBER_ID, statuses=statuses)

    def undeliverable(self, delivery, moment):
        return self.status(
            delivery,
            "failed",
            moment,
            errors=[
                {
                    "code": 131026,
                    "title": "Message undeliverable",
                    "message": "Message undeliverable",
                    "error_data": {"details": "Message Undeliverable."},
                }
            ],
        )

    def customer_notes(self, partner, text):
        return partner.message_ids.filtered(lambda m: text in (m.body or ""))

    def verify(self, **params):
        return self.url_open(WEBHOOK, params=params)

    # ------------------------------------------------------------------
    # WhatsApp: the handshake
    # ------------------------------------------------------------------

    def test_handshake_echoes_the_challenge_with_the_verify_token(self):
        response = self.verify(
            **{
                "hub.mode": "subscribe",
                "hub.verify_token": VERIFY_TOKEN,
                "hub.challenge": "1158201444",
            }
        )
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.text, "1158201444")
        self.assertTrue(response.headers["Content-Type"].startswith("text/plain"))

    @mute_logger("odoo.addons.account_collection.controllers.webhook")
    def test_handshake_refused_without_the_verify_token(self):
        cases = {
            "wrong token": {"hub.mode": "subscribe", "hub.verify_token": "guess"},
            "token's prefix": {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN[:-1]},
            "no token": {"hub.mode": "subscribe"},
            "not a subscription": {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN},
        }
        for case, params in cases.items():
            with self.subTest(case=case):
                response = self.verify(**params, **{"hub.challenge": "1158201444"})
                self.assertEqual(response.status_code, 403)
                self.assertNotIn("1158201444", response.text)

    # ------------------------------------------------------------------
    # WhatsApp: signatures
    # ------------------------------------------------------------------

    @mute_logger("odoo.addons.account_collection.controllers.webhook")
    def test_unsigned_or_wrongly_signed_calls_are_refused_and_change_nothing(self):
        delivery = self.sent_whatsapp(self.customer)
        failed = self.statuses(self.undeliverable(delivery, NOON + timedelta(minutes=1)))
        signed = self.server.whatsapp_signature(APP_SECRET, b'{"object": "other"}')
        cases = {
            "unsigned": {"app_secret": None},
            "signed with another secret": {"app_secret": "not-the-app-secret"},
            "another body's signature": {"signature": signed},
            "not sha256": {"signature": "sha1=" + signed[len("sha256=") :]},
            "tampered body": {
                "body": json_bytes(
                    self.statuses(self.status(delivery, "read", NOON + timedelta(minutes=2)))
                )
            },
        }
        for case, kwargs in cases.items():
            with self.subTest(case=case):
                response = self.post(failed, **kwargs)
                self.assertEqual(response.status_code, 403)
                self.assertRecordValues(
                    delivery,
                    [
                        {
                            "state": "sent",
                            "last_error": False,
                            "date_delivered": False,
                            "date_read": False,
                        }
                    ],
                )
                self.assertFalse(self.deliveries(self.customer, "sms"))

    @mute_logger("odoo.addons.account_collection.controllers.webhook")
    def test_call_for_another_phone_number_is_refused(self):
        """A call naming a number no company has cannot be checked: refused."""
        delivery = self.sent_whatsapp(self.customer)
        event = self.server.whatsapp_event(
            "999999999999999", statuses=[self.status(delivery, "read", NOON)]
        )
        self.assertEqual(self.post(event).status_code, 403)
        self.assertFalse(delivery.date_read)

    @mute_logger("odoo.addons.account_collection.controllers.webhook")
    def test_call_signed_with_another_companys_secret_is_refused(self):
        """A company's app secret does not sign calls about another company's number."""
        delivery = self.sent_whatsapp(self.customer)
        other = self.env["res.company"].create(
            {
                "name": "Other Company",
                "collection_whatsapp_phone_number_id": "222333444555666",
                "collection_whatsapp_app_secret": "other-company-secret",
            }
        )
        read = self.status(delivery, "read", NOON + timedelta(minutes=1))
        both = self.server.whatsapp_event(PHONE_NUMBER_ID, statuses=[read])
        both["entry"].append(
            self.server.whatsapp_event(other.collection_whatsapp_phone_number_id)["entry"][0]
        )
        for case, event, secret in [
            (
                "the other company's number",
                self.server.whatsapp_event("222333444555666", [read]),
                APP_SECRET,
            ),
            ("both numbers, one secret", both, APP_SECRET),
            ("both numbers, the other secret", both, "other-company-secret"),
        ]:
            with self.subTest(case=case):
                self.assertEqual(self.post(event, app_secret=secret).status_code, 403)
                self.assertFalse(delivery.date_read)

    def test_replayed_failure_falls_back_once(self):
        self.require_twilio()
        delivery = self.sent_whatsapp(self.customer)
        failed = self.statuses(self.undeliverable(delivery, NOON + timedelta(minutes=1)))
        for _replay in range(3):
            response = self.post(failed)
            self.assertEqual(response.status_code, 200)
        self.assertEqual(delivery.state, "failed")
        self.assertEqual(len(self.deliveries(self.customer, "sms")), 1)
        self.assertEqual(len(self.customer_notes(self.customer, "not delivered")), 1)

    # ------------------------------------------------------------------
    # WhatsApp: statuses
    # ------------------------------------------------------------------

    def test_statuses_in_every_order_and_twice(self):
        """Sent, delivered and read arrive in any order, some twice: the delivery ends
        delivered and read at the moments WhatsApp reported, never back."""
        sent_at, delivered_at, read_at = (NOON + timedelta(minutes=m) for m in (0, 3, 9))
        orders = list(itertools.permutations(["sent", "delivered", "read"]))
        customers = [
            self.new_customer(f"Customer {index}", f"612 00 00 {index:02d}", self.level_whatsapp)
            for index in range(len(orders))
        ]
        for customer in customers:
            self.invoice(customer, 500.0, day(-2))
        self.run_dunning(NOON)
        moments = {"sent": sent_at, "delivered": delivered_at, "read": read_at}
        for customer, order in zip(customers, orders, strict=True):
            with self.subTest(order=order):
                delivery = self.delivery(customer, "whatsapp")
                for status in [*order, *order]:
                    response = self.post(
                        self.statuses(self.status(delivery, status, moments[status]))
                    )
                    self.assertEqual(response.status_code, 200)
                self.assertRecordValues(
                    delivery,
                    [
                        {
                            "state": "sent",
                            "date_sent": NOON,
                            "date_delivered": delivered_at,
                            "date_read": read_at,
                            "last_error": False,
                        }
                    ],
                )
                self.assertEqual(delivery.communication_id.state, "done")

    def test_read_without_delivered_receipt_counts_as_delivered(self):
        delivery = self.sent_whatsapp(self.customer)
        read_at = NOON + timedelta(minutes=5)
        self.post(self.statuses(self.status(delivery, "read", read_at)))
        self.assertRecordValues(delivery, [{"date_delivered": read_at, "date_read": read_at}])

    def test_failure_after_delivered_is_ignored(self):
        delivery = self.sent_whatsapp(self.customer)
        delivered_at = NOON + timedelta(minutes=1)
        event = self.statuses(
            self.status(delivery, "delivered", delivered_at),
            self.undeliverable(delivery, NOON + timedelta(minutes=2)),
        )
        self.assertEqual(self.post(event).status_code, 200)
        self.assertRecordValues(
            delivery, [{"state": "sent", "date_delivered": delivered_at, "last_error": False}]
        )
        self.assertFalse(self.deliveries(self.customer, "sms"))
        self.assertEqual(delivery.communication_id.state, "done")

    def test_asynchronous_failure_falls_back_to_sms(self):
        """The Cloud API took the message, then reported it could not reach the
        customer (the usual case): the delivery fails with WhatsApp's error, the
        customer's chatter says so, and the level's SMS goes instead."""
        self.require_twilio()
        delivery = self.sent_whatsapp(self.customer)
        self.assertFalse(self.server.sent("twilio"))

        self.post(self.statuses(self.undeliverable(delivery, NOON + timedelta(minutes=1))))
        self.assertEqual(delivery.state, "failed")
        self.assertIn("131026", delivery.last_error)
        self.assertIn("Message undeliverable", delivery.last_error)
        communication = delivery.communication_id
        self.assertEqual(communication.state, "queued", "the SMS is still to go")
        self.assertIn("SMS instead", communication.note)
        self.assertTrue(self.customer_notes(self.customer, "131026"))

        self.run_queue(NOON + timedelta(minutes=10))
        [sms_request] = self.server.sent("twilio")
        self.assertEqual(sms_request["form"]["To"], "+34612345678")
        self.assertEqual(self.delivery(self.customer, "sms").state, "sent")
        self.assertEqual(communication.state, "done", "the customer got the reminder")

    def test_asynchronous_failure_without_fallback_fails_the_reminder(self):
        self.level_whatsapp.whatsapp_fallback_sms = False
        delivery = self.sent_whatsapp(self.customer)
        self.post(self.statuses(self.undeliverable(delivery, NOON + timedelta(minutes=1))))
        self.assertEqual(delivery.state, "failed")
        self.assertFalse(self.deliveries(self.customer, "sms"))
        self.assertEqual(delivery.communication_id.state, "failed")

    def test_statuses_of_unknown_messages_are_ignored(self):
        delivery = self.sent_whatsapp(self.customer)
        other = {
            "id": "wamid.unknown",
            "status": "failed",
            "timestamp": unix(NOON),
            "errors": [{"code": 131026, "title": "Message undeliverable"}],
        }
        self.assertEqual(self.post(self.statuses(other)).status_code, 200)
        self.assertEqual(delivery.state, "sent")

    def test_status_before_the_message_id_is_kept_and_applied_later(self):
        """WhatsApp may report a message before the transaction that sent it has
        committed its id: the status is kept, applied once the delivery knows the id
        (by the sending job), once, never moving the delivery backwards."""
        delivery = self.sent_whatsapp(self.customer)
        wamid = delivery.provider_ref
        # The id is not committed yet when WhatsApp calls.
        delivery.sudo().provider_ref = False
        delivered_at, read_at = NOON + timedelta(minutes=1), NOON + timedelta(minutes=4)
        early = self.statuses(
            {"id": wamid, "status": "read", "timestamp": unix(read_at)},
            {"id": wamid, "status": "delivered", "timestamp": unix(delivered_at)},
        )
        self.assertEqual(self.post(early).status_code, 200)
        self.assertEqual(self.post(early).status_code, 200, "the same call twice")
        Pending = self.env["collection.whatsapp.status"].sudo()
        self.assertEqual(len(Pending.search([("message_ref", "=", wamid)])), 2)
        self.assertFalse(delivery.date_read)
        # The id is there now; the sending job applies what waited for it.
        delivery.sudo().provider_ref = wamid
        self.run_queue(NOON + timedelta(minutes=10))
        self.assertRecordValues(
            delivery,
            [{"state": "sent", "date_delivered": delivered_at, "date_read": read_at}],
        )
        self.assertFalse(Pending.search([("message_ref", "=", wamid)]))
        # A failure reported late for a message already read changes nothing.
        late = self.undeliverable(delivery, NOON + timedelta(minutes=20))
        self.assertEqual(self.post(self.statuses(late)).status_code, 200)
        self.assertRecordValues(delivery, [{"state": "sent", "last_error": False}])

    def test_status_applied_as_soon_as_the_delivery_is_sent(self):
        """A failure reported before the sending transaction committed falls back as
        soon as the delivery has its id."""
        delivery = self.sent_whatsapp(self.customer)
        failed = self.undeliverable(delivery, NOON + timedelta(minutes=1))
        wamid = delivery.provider_ref
        delivery.sudo().provider_ref = False
        self.post(self.statuses(failed))
        self.assertEqual(delivery.state, "sent")
        delivery.sudo().provider_ref = wamid
        self.env["collection.whatsapp.status"].sudo()._collection_apply(delivery)
        self.assertEqual(delivery.state, "failed")
        self.assertIn("131026", delivery.last_error)

    def test_statuses_that_never_find_their_message_are_forgotten(self):
        unknown = {"id": "wamid.never", "status": "delivered", "timestamp": unix(NOON)}
        self.post(self.statuses(unknown))
        Pending = self.env["collection.whatsapp.status"].sudo()
        self.assertTrue(Pending.search([("message_ref", "=", "wamid.never")]))
        self.run_queue(NOON + timedelta(days=3))
        self.assertFalse(Pending.search([("message_ref", "=", "wamid.never")]))

    # ------------------------------------------------------------------
    # WhatsApp: messages customers send
    # ------------------------------------------------------------------

    def test_media_is_downloaded_in_two_steps_with_the_token(self):
        slip = b"%PDF-1.4 remittance slip"
        media_id = self.server.add_media(slip, "application/pdf", WHATSAPP_TOKEN)
        content, mimetype = whatsapp.download_media(self.server.url, WHATSAPP_TOKEN, media_id)
        self.assertEqual((content, mimetype), (slip, "application/pdf"))
        first, second = self.server.sent("whatsapp_media")
        self.assertEqual(first["path"], f"/{media_id}")
        self.assertEqual(second["path"], f"/media/{media_id}")
        self.assertEqual(
            {first["authorization"], second["authorization"]}, {f"Bearer {WHATSAPP_TOKEN}"}
        )
        with self.assertRaises(whatsapp.WhatsAppError):
            whatsapp.download_media(self.server.url, "wrong-token", media_id)

    def test_inbound_messages_go_to_the_replies(self):
        """A customer's text and a document with a caption, answering the reminder,
        are handed to the replies with the file downloaded from the Cloud API."""
        delivery = self.sent_whatsapp(self.customer)
        slip = b"%PDF-1.4 remittance slip"
        media_id = self.server.add_media(slip, "application/pdf", WHATSAPP_TOKEN)
        sent_at = NOON + timedelta(minutes=30)
        messages = [
            {
                "from": "34612345678",
                "id": "wamid.text1",
                "timestamp": unix(sent_at),
                "type": "text",
                "text": {"body": "les pago el 15"},
                "context": {"from": "34911000222", "id": delivery.provider_ref},
            },
            {
                "from": "34612345678",
                "id": "wamid.doc1",
                "timestamp": unix(sent_at),
                "type": "document",
                "document": {
                    "caption": "ya pagué",
                    "filename": "justificante.pdf",
                    "mime_type": "application/pdf",
                    "sha256": "x",
                    "id": media_id,
                },
            },
        ]
        event = self.server.whatsapp_event(
            PHONE_NUMBER_ID,
            messages=messages,
            contacts=[{"profile": {"name": "Acme"}, "wa_id": "34612345678"}],
        )
        if "collection.reply" not in self.env:
            # No replies yet: the messages are acknowledged and ignored.
            attachments = self.env["ir.attachment"].search_count([])
            self.assertEqual(self.post(event).status_code, 200)
            self.assertFalse(self.server.sent("whatsapp_media"))
            self.assertEqual(self.env["ir.attachment"].search_count([]), attachments)
            return
        received = []
        Reply = self.registry["collection.reply"]

        def _collection_receive(self, **kwargs):
            received.append(kwargs)

        with patch.object(Reply, "_collection_receive", _collection_receive):
            self.assertEqual(self.post(event).status_code, 200)
        self.assertEqual(
            [(r["channel"], r["sender"], r["text"], r["date"], r["company"]) for r in received],
            [
                ("whatsapp", "+34612345678", "les pago el 15", sent_at, self.company),
                ("whatsapp", "+34612345678", "ya pagué", sent_at, self.company),
            ],
        )
        self.assertEqual(received[0]["reply_to_ref"], delivery.provider_ref)
        self.assertEqual(received[0]["attachments"], [])
        self.assertEqual(
            received[1]["attachments"], [("justificante.pdf", slip, "application/pdf")]
        )
        self.assertEqual(received[1]["provider_ref"], "wamid.doc1")

    # ------------------------------------------------------------------
    # SMS: Twilio's status callbacks, through Odoo's SMS tracker
    # ------------------------------------------------------------------

    def sent_sms(self, partner):
        self.require_twilio()
        partner.with_company(self.company).collection_policy_id = self.level_sms.policy_id
        self.invoice(partner, 1000.0, day(-2))
        self.run_dunning(NOON)
        delivery = self.delivery(partner, "sms")
        self.assertEqual(delivery.state, "sent")
        return delivery

    def twilio_callback(
        self, delivery, status, error_code=None, error_message=None, signature=None
    ):
        """Twilio reports ``status`` of the SMS of ``delivery`` to sms_twilio's own
        callback, signed as Twilio signs it (with the account's auth token)."""
        from odoo.addons.sms_twilio.tools import sms_twilio as twilio_tools

        params = {
            "AccountSid": TWILIO_SID,
            "ApiVersion": "2010-04-01",
            "From": TWILIO_FROM_ES,
            "MessageSid": "SM" + "1" * 32,
            "MessageStatus": status,
            "SmsSid": "SM" + "1" * 32,
            "SmsStatus": status,
            "To": delivery.recipient,
        }
        if error_code:
            params.update({"ErrorCode": error_code, "ErrorMessage": error_message})
        if signature is None:
            signature = twilio_tools.generate_twilio_sms_callback_signature(
                self.company.sudo(), delivery.provider_ref, params
            )
        response = self.url_open(
            f"/sms_twilio/status/{delivery.provider_ref}",
            data=params,
            headers={"X-Twilio-Signature": signature},
        )
        self.env.invalidate_all()
        return response

    def test_sms_delivered_as_twilio_reports(self):
        delivery = self.sent_sms(self.customer)
        self.assertFalse(delivery.date_delivered, "handed to Twilio, not delivered yet")
        with freeze_time(NOON + timedelta(minutes=2)):
            self.assertEqual(self.twilio_callback(delivery, "sent").status_code, 200)
            self.assertFalse(delivery.date_delivered)
            self.assertEqual(self.twilio_callback(delivery, "delivered").status_code, 200)
        self.assertEqual(delivery.date_delivered, NOON + timedelta(minutes=2))
        with freeze_time(NOON + timedelta(minutes=5)):
            # A late copy of the report changes nothing, nor does a failure after it.
            self.twilio_callback(delivery, "delivered")
            self.twilio_callback(delivery, "undelivered", "30005", "Unknown destination handset")
        self.assertRecordValues(
            delivery,
            [{"state": "sent", "date_delivered": NOON + timedelta(minutes=2), "last_error": False}],
        )

    def test_sms_undelivered_falls_back_to_email(self):
        delivery = self.sent_sms(self.customer)
        with freeze_time(NOON + timedelta(minutes=2)):
            response = self.twilio_callback(
                delivery, "undelivered", "30005", "Unknown destination handset"
            )
        self.assertEqual(response.status_code, 200)
        self.assertEqual(delivery.state, "failed")
        self.assertIn("Unknown destination handset", delivery.last_error)
        communication = delivery.communication_id
        self.assertIn("sent by Email instead", communication.note)
        email = self.delivery(self.customer, "email")
        self.assertRecordValues(email, [{"state": "queued", "recipient": "acme@example.com"}])

        self.run_queue(NOON + timedelta(minutes=10))
        self.assertEqual(email.state, "sent")
        self.assertEqual([m["smtp_to_list"] for m in self.smtp_messages], [["acme@example.com"]])
        self.assertEqual(communication.state, "done")

    @mute_logger("odoo.addons.sms_twilio.controllers.controllers")
    def test_sms_callback_with_wrong_signature_changes_nothing(self):
        delivery = self.sent_sms(self.customer)
        response = self.twilio_callback(
            delivery, "undelivered", "30005", "Unknown destination handset", signature="forged"
        )
        self.assertEqual(response.status_code, 404)
        self.assertRecordValues(delivery, [{"state": "sent", "last_error": False}])
        self.assertFalse(self.deliveries(self.customer, "email"))

    # ------------------------------------------------------------------
    # Email: bounces, through Odoo's mail gateway
    # ------------------------------------------------------------------

    def sent_email(self, partner, when=NOON):
        partner.with_company(self.company).collection_policy_id = self.level_email.policy_id
        self.run_dunning(when)
        delivery = self.deliveries(partner, "email")[-1:]
        self.assertEqual(delivery.state, "sent")
        self.assertTrue(delivery.provider_ref)
        return delivery

    def bounce(self, delivery, action="failed", status="5.1.1", number=1):
        """The recipient's mail server returns the reminder email of ``delivery``: a
        delivery status notification (RFC 3464) to the bounce address, processed by
        Odoo's mail gateway."""
        alias_domain = self.company.alias_domain_id
        bounce_to = alias_domain.bounce_email if alias_domain else "bounce@example.com"
        recipient = delivery.recipient
        message = BOUNCE.format(
            to=bounce_to,
            recipient=recipient,
            action=action,
            status=status,
            message_id=delivery.provider_ref,
            number=number,
        )
        # sudo: the mail gateway (fetchmail, mailgate) processes incoming mail as superuser.
        self.env["mail.thread"].sudo().message_process(False, message)
        self.env.invalidate_all()

    def test_email_bounce_fails_the_delivery_and_falls_back_to_sms(self):
        self.require_twilio()
        self.invoice(self.customer, 1000.0, day(-2))
        delivery = self.sent_email(self.customer)
        self.bounce(delivery)
        self.assertEqual(delivery.state, "failed")
        self.assertIn("550 5.1.1", delivery.last_error)
        self.assertEqual(self.customer.message_bounce, 1)
        self.assertTrue(self.customer_notes(self.customer, "550 5.1.1"))
        sms = self.delivery(self.customer, "sms")
        self.assertEqual(sms.state, "queued")
        self.run_queue(NOON + timedelta(minutes=10))
        self.assertEqual(sms.state, "sent")
        self.assertEqual(delivery.communication_id.state, "done")

    def test_email_delay_notice_changes_nothing(self):
        self.invoice(self.customer, 1000.0, day(-2))
        delivery = self.sent_email(self.customer)
        self.bounce(delivery, action="delayed", status="4.4.7")
        self.assertRecordValues(delivery, [{"state": "sent", "last_error": False}])
        self.assertFalse(self.deliveries(self.customer, "sms"))

    def test_repeated_bounces_flag_the_address(self):
        """After repeated bounces the next reminder does not go to the address: it goes
        by SMS, with the reason, until the address is corrected."""
        self.require_twilio()
        self.invoice(self.customer, 1000.0, day(-2))
        delivery = self.sent_email(self.customer)
        for number in range(3):
            self.bounce(delivery, number=number)
        self.assertEqual(len(self.deliveries(self.customer, "sms")), 1, "one fallback")
        self.assertTrue(self.customer.collection_email_bouncing)
        # The SMS sent instead reaches the customer: the level was received, the next
        # one may come.
        self.run_queue(NOON + timedelta(minutes=10))
        self.assertEqual(self.deliveries(self.customer, "sms").state, "sent")

        self.run_dunning(day(7))
        reminder = self.reminders(self.customer)[-1]
        self.assertEqual(reminder.level_id, self.level_email_again)
        email, sms = reminder.delivery_ids.sorted("id")
        self.assertEqual((email.channel, email.state), ("email", "cancelled"))
        self.assertIn("bounced 3 times", email.last_error)
        self.assertEqual((sms.channel, sms.state), ("sms", "sent"))

        # A corrected address is written to again.
        self.customer.email = "accounts@acme.example.com"
        self.assertFalse(self.customer.collection_email_bouncing)

    # ------------------------------------------------------------------
    # Settings
    # ------------------------------------------------------------------

    def test_webhook_secrets_are_write_only(self):
        """An administrator pastes the verify token and the app secret in Settings:
        they are saved, never shown again, and the handshake answers to the new token."""
        admin = self.make_user(
            "receipts_admin",
            "base.group_system,account_collection.group_collection_manager",
            name="Ada Admin",
        )
        Settings = self.env["res.config.settings"].with_user(admin)
        Settings.create(
            {
                "collection_whatsapp_verify_token_new": " new-verify-token ",
                "collection_whatsapp_app_secret_new": "new-app-secret",
            }
        ).execute()
        settings = Settings.create({})
        self.assertRecordValues(
            settings,
            [
                {
                    "collection_whatsapp_verify_token_new": False,
                    "collection_whatsapp_verify_token_set": True,
                    "collection_whatsapp_app_secret_new": False,
                    "collection_whatsapp_app_secret_set": True,
                }
            ],
        )
        self.assertEqual(self.company.collection_whatsapp_app_secret, "new-app-secret")
        # Collectors and collection managers never read them.
        for user in (self.collector, self.collection_manager):
            with self.subTest(user=user.login), self.assertRaises(AccessError):
                self.company.with_user(user).read(["collection_whatsapp_app_secret"])
        response = self.verify(
            **{
                "hub.mode": "subscribe",
                "hub.verify_token": "new-verify-token",
                "hub.challenge": "42",
            }
        )
        self.assertEqual((response.status_code, response.text), (200, "42"))


def json_bytes(event):
    return json.dumps(event).encode()


BOUNCE = """Return-Path: <>
Date: Mon, 16 Mar 2026 12:05:00 +0000
From: MAILER-DAEMON@mx.example.com (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: {to}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
    boundary="BOUNDARY"
Message-Id: <bounce-{number}@mx.example.com>

--BOUNDARY
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

<{recipient}>: host mx.example.com said: 550 5.1.1 No such user

--BOUNDARY
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.com

Final-Recipient: rfc822; {recipient}
Original-Recipient: rfc822;{recipient}
Action: {action}
Status: {status}
Diagnostic-Code: smtp; 550 5.1.1 <{recipient}>: Recipient address rejected: User unknown

--BOUNDARY
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

Message-Id: {message_id}
Subject: Payment reminder
To: {recipient}

--BOUNDARY--
"""
