import base64
from datetime import datetime, time, timedelta
from unittest.mock import patch

from odoo import Command, sql_db
from odoo.tests import tagged
from odoo.tests.common import _super_send
from odoo.tools import mute_logger
from odoo.tools.misc import file_path
from odoo.tools.safe_eval import safe_eval

from ..models import collection_communication_delivery as delivery_module
from ..models.collection_communication_delivery import MAX_ATTEMPTS
from ..tools import whatsapp
from .common import TODAY, DunningCadenceCommon, DunningCommon, at, day, on_day
from .fake_providers import PHONE_NUMBER_ID, FakeProviders

# Monday 16 March 2026 at noon (UTC, the company's time zone): messages may go.
NOON = datetime.combine(TODAY, time(12, 0))
WHATSAPP_TOKEN = "EAAG-test-token"
TWILIO_API_URL = "https://api.twilio.com"
TWILIO_SID = "AC" + "0123456789abcdef" * 2
TWILIO_TOKEN = "twilio-auth-token"
TWILIO_FROM_ES = "+34911000111"
TWILIO_FROM_US = "+15005550006"


# What one more email adds to a batch of the queue: Odoo's mail queue writing it
# (exception, then sent) and reading its notifications, its rows in the journal of
# provider calls (calling, accepted), its address, the delivery's email and provider
# reference, and the reads of the email's own record (10 measured on Odoo 19).
QUERIES_PER_EMAIL = 10


class WorkerKilled(BaseException):
    """The worker process dies (killed, out of memory) in the middle of its work."""


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionDelivery(DunningCommon):
    """Reminders leave through the real provider code: the WhatsApp Business Cloud API
    client of the addon and Odoo's SMS queue with the shipped Twilio provider, both
    talking HTTP to a local server that answers like them. A message is sent once
    when the provider accepts it; refusals, rate limits, server errors and timeouts
    are retried with a growing wait and stay visible until they go or give up."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # The client's own timeout (1 s) is shorter than a slow answer (2 s).
        cls.server = FakeProviders(slow_seconds=2.0).start()
        cls.addClassCleanup(cls.server.stop)
        params = cls.env["ir.config_parameter"].sudo()
        params.set_param("account_collection.whatsapp_api_url", cls.server.url)
        params.set_param("account_collection.whatsapp_timeout", "1")

        cls.company.partner_id.tz = "UTC"
        cls.company.write(
            {
                "collection_whatsapp_phone_number_id": PHONE_NUMBER_ID,
                "collection_whatsapp_token": WHATSAPP_TOKEN,
            }
        )
        # The SMS go through Odoo's SMS queue, here with the Twilio provider Odoo ships
        # (module sms_twilio, installed with the addon for these tests).
        cls.twilio = "sms_provider" in cls.env["res.company"]._fields
        if cls.twilio:
            cls.company.write(
                {
                    "sms_provider": "twilio",
                    "sms_twilio_account_sid": TWILIO_SID,
                    "sms_twilio_auth_token": TWILIO_TOKEN,
                    "sms_twilio_number_ids": [
                        Command.create(
                            {
                                "number": TWILIO_FROM_US,
                                "country_id": cls.env.ref("base.us").id,
                                "sequence": 1,
                            }
                        ),
                        Command.create(
                            {"number": TWILIO_FROM_ES, "country_id": cls.spain.id, "sequence": 2}
                        ),
                    ],
                }
            )
        sms_template = cls.env.ref("account_collection.sms_template_reminder_overdue")
        levels = cls.make_policy(
            "Phone reminders",
            [
                {
                    "name": "WhatsApp reminder",
                    "delay": 2,
                    "send_whatsapp": True,
                    "whatsapp_template_name": "payment_reminder",
                    "whatsapp_language": "es",
                    "whatsapp_parameters": "partner_name, overdue_amount, portal_url",
                    "whatsapp_fallback_sms": True,
                    "sms_template_id": sms_template.id,
                },
                {
                    "name": "SMS reminder",
                    "delay": 5,
                    "send_sms": True,
                    "sms_template_id": sms_template.id,
                },
            ],
            mode="automatic",
        )
        cls.policy = levels.policy_id
        cls.level_whatsapp, cls.level_sms = levels
        cls.customer.write({"phone": "612 34 56 78", "country_id": cls.spain.id})
        cls.failed_action = cls.env.ref(
            "account_collection.collection_communication_delivery_action_failed"
        )

    @classmethod
    def _request_handler(cls, session, request, /, **kwargs):
        """Twilio's API is answered by the local server: only the address changes, the
        request Twilio's code builds is sent as it is. Requests to the local server keep
        the client's own timeout (the test framework raises short ones), since the
        slow answers are meant to outlast it."""
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
        self.server.slow_seconds = 2.0

    # ------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------

    def new_customer(self, name, phone):
        return self.env["res.partner"].create(
            {"name": name, "is_company": True, "phone": phone, "country_id": self.spain.id}
        )

    def require_twilio(self):
        if not self.twilio:
            self.skipTest("SMS through Twilio: install sms_twilio with the addon")

    def portal_link(self, invoice):
        """Where the customer of ``invoice`` sees its statement of account and pays
        online: the portal page with the token of that customer and company."""
        partner = invoice.commercial_partner_id
        token = partner._collection_portal_token(self.company)
        return (
            f"{invoice.get_base_url()}/my/collections/{partner.id}"
            f"?company_id={self.company.id}&access_token={token}"
        )

    def delivery(self, partner, channel):
        deliveries = self.env["collection.communication.delivery"].search(
            [("partner_id", "=", partner.id), ("channel", "=", channel)]
        )
        self.assertEqual(len(deliveries), 1, f"one {channel} delivery for {partner.name}")
        return deliveries

    def whatsapp_requests(self, phone=None):
        return [
            r for r in self.server.sent("whatsapp") if phone is None or r["json"]["to"] == phone
        ]

    def twilio_requests(self, phone=None):
        return [r for r in self.server.sent("twilio") if phone is None or r["form"]["To"] == phone]

    def interactions(self, partners, channel):
        return self.env["collection.interaction"].search(
            [("partner_id", "in", partners.ids), ("channel", "=", channel)]
        )

    def in_failed_deliveries(self, delivery):
        """Whether the Failed Deliveries menu lists ``delivery``."""
        domain = safe_eval(self.failed_action.domain)
        return delivery in delivery.search(domain)

    def assertRetryLater(self, delivery, sent_at, error):
        """Not sent: queued again for a later attempt, the provider's error kept and
        listed in Failed Deliveries."""
        self.assertEqual(delivery.state, "queued")
        self.assertEqual(delivery.attempts, 1)
        self.assertGreater(delivery.next_attempt, sent_at)
        self.assertIn(error, delivery.last_error)
        self.assertFalse(delivery.date_sent)
        self.assertFalse(delivery.provider_ref)
        self.assertTrue(self.in_failed_deliveries(delivery))
        self.assertEqual(delivery.communication_id.state, "queued")
        self.assertFalse(self.interactions(delivery.partner_id, delivery.channel))

    def assertSentToMobile(self, delivery, level):
        """``delivery`` of ``level`` went once, at noon, to Acme's mobile."""
        self.assertSentOnce(delivery)
        self.assertRecordValues(
            delivery,
            [
                {
                    "recipient": "+34612345678",
                    "attempts": 1,
                    "date_sent": NOON,
                    "level_id": level.id,
                }
            ],
        )

    def assertSentOnce(self, delivery):
        self.assertEqual(delivery.state, "sent")
        self.assertFalse(delivery.last_error)
        self.assertFalse(self.in_failed_deliveries(delivery))
        self.assertEqual(delivery.communication_id.state, "done")
        interactions = self.interactions(delivery.partner_id, delivery.channel)
        self.assertRecordValues(
            interactions,
            [
                {
                    "automatic": True,
                    "outcome": "sent",
                    "user_id": False,
                    "move_ids": delivery.communication_id.move_ids.ids,
                }
            ],
        )

    # ------------------------------------------------------------------
    # WhatsApp
    # ------------------------------------------------------------------

    def test_whatsapp_template_message_accepted(self):
        invoice = self.invoice(self.customer, 1000.0, day(-2))
        self.run_dunning()

        [request] = self.whatsapp_requests()
        self.assertEqual(request["path"], f"/{PHONE_NUMBER_ID}/messages")
        self.assertEqual(request["authorization"], f"Bearer {WHATSAPP_TOKEN}")
        payload = request["json"]
        parameters = payload["template"]["components"][0]["parameters"]
        self.assertEqual(
            payload,
            {
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": "+34612345678",
                "type": "template",
                "template": {
                    "name": "payment_reminder",
                    "language": {"code": "es"},
                    "components": [{"type": "body", "parameters": parameters}],
                },
            },
        )
        self.assertEqual([p["type"] for p in parameters], ["text"] * 3)
        name, amount, link = (p["text"] for p in parameters)
        self.assertEqual(name, "Acme Customer")
        self.assertIn("1,000.00", amount)
        self.assertEqual(link, self.portal_link(invoice))

        delivery = self.delivery(self.customer, "whatsapp")
        self.assertSentToMobile(delivery, self.level_whatsapp)
        self.assertTrue(delivery.provider_ref.startswith("wamid."), delivery.provider_ref)
        self.assertEqual(invoice.collection_last_reminder_date, TODAY)

        # Later runs find nothing left to send.
        self.run_queue(NOON + timedelta(hours=1))
        self.assertEqual(len(self.whatsapp_requests()), 1)

    def test_delivery_is_named_after_its_reminder_and_channel(self):
        """A delivery opened from a failure list or a link says which reminder and
        which channel it is."""
        self.invoice(self.customer, 1000.0, day(-2))
        self.run_dunning()
        delivery = self.delivery(self.customer, "whatsapp")
        self.assertEqual(delivery.display_name, "WhatsApp reminder - Acme Customer, by WhatsApp")

    def test_whatsapp_api_address_without_https_is_refused(self):
        """The access token is never sent in clear: an http:// address (but the local
        machine's) is refused, and the message fails with the reason."""
        self.env["ir.config_parameter"].set_param(
            "account_collection.whatsapp_api_url", "http://graph.example.com/v21.0"
        )
        self.invoice(self.customer, 1000.0, day(-2))
        self.run_dunning()

        self.assertFalse(self.whatsapp_requests())
        delivery = self.delivery(self.customer, "whatsapp")
        self.assertNotEqual(delivery.state, "sent")
        self.assertIn("https://", delivery.last_error)

    def test_whatsapp_failures_are_retried_later(self):
        cases = [
            (400, "HTTP 400 (code 131008)"),
            (401, "HTTP 401 (code 190)"),
            (500, "HTTP 500 (code 1)"),
            (429, "HTTP 429 (code 130429)"),
            ("slow", "Timeout"),
        ]
        customers = {}
        for index, (answer, _error) in enumerate(cases):
            customers[answer] = self.new_customer(f"Customer {answer}", f"612 00 00 0{index}")
            self.invoice(customers[answer], 500.0, day(-2))
        # One customer after the other (ordered by id), each gets its scripted answer.
        self.server.script("whatsapp", [answer for answer, _error in cases])
        self.run_dunning()

        for index, (answer, error) in enumerate(cases):
            with self.subTest(answer=answer):
                phone = f"+3461200000{index}"
                self.assertEqual(len(self.whatsapp_requests(phone)), 1)
                delivery = self.delivery(customers[answer], "whatsapp")
                self.assertRetryLater(delivery, NOON, error)

        # On the next attempt the API accepts every one of them.
        self.run_queue(NOON + timedelta(minutes=10))
        for index, (answer, _error) in enumerate(cases):
            with self.subTest(answer=answer):
                self.assertEqual(len(self.whatsapp_requests(f"+3461200000{index}")), 2)
                self.assertSentOnce(self.delivery(customers[answer], "whatsapp"))

    def test_whatsapp_rate_limited_then_sent_exactly_once(self):
        self.invoice(self.customer, 1000.0, day(-2))
        self.server.script("whatsapp", [429])
        self.run_dunning()
        delivery = self.delivery(self.customer, "whatsapp")
        self.assertRetryLater(delivery, NOON, "Rate limit hit")
        retry_at = delivery.next_attempt

        # Not before the time set for the next attempt.
        self.run_queue(retry_at - timedelta(minutes=1))
        self.assertEqual(len(self.whatsapp_requests()), 1)
        self.assertEqual(delivery.state, "queued")

        self.run_queue(retry_at)
        self.assertEqual(len(self.whatsapp_requests()), 2)
        self.assertSentOnce(delivery)
        self.assertEqual(delivery.attempts, 2)
        self.assertEqual(delivery.date_sent, retry_at)

        self.run_queue(retry_at + timedelta(hours=1))
        self.run_dunning(NOON + timedelta(hours=2))
        self.assertEqual(len(self.whatsapp_requests()), 2)
        self.assertEqual(len(self.interactions(self.customer, "whatsapp")), 1)

    def test_whatsapp_gives_up_after_max_attempts(self):
        self.require_twilio()
        self.invoice(self.customer, 1000.0, day(-2))
        self.server.script("whatsapp", [500] * (MAX_ATTEMPTS + 1))
        self.run_dunning()
        delivery = self.delivery(self.customer, "whatsapp")

        # The wait before the next attempt, set after each failed one.
        waits = [delivery.next_attempt - NOON]
        run_at = NOON
        for _run in range(MAX_ATTEMPTS * 2):
            if delivery.state != "queued":
                break
            run_at = delivery.next_attempt
            requests_before = len(self.whatsapp_requests())
            self.run_queue(run_at)
            if len(self.whatsapp_requests()) == requests_before:
                # Quiet hours held it back to the morning: that is no attempt.
                self.assertEqual(delivery.state, "queued")
                self.assertGreater(delivery.next_attempt, run_at)
            elif delivery.state == "queued":
                waits.append(delivery.next_attempt - run_at)

        self.assertEqual(len(self.whatsapp_requests()), MAX_ATTEMPTS)
        self.assertEqual(len(waits), MAX_ATTEMPTS - 1)
        self.assertEqual(waits[0], timedelta(minutes=5))
        self.assertEqual(waits, sorted(set(waits)), "each wait is longer than the one before")
        self.assertRecordValues(
            delivery,
            [
                {
                    "state": "failed",
                    "attempts": MAX_ATTEMPTS,
                    "next_attempt": False,
                    "date_sent": False,
                }
            ],
        )
        self.assertIn("HTTP 500", delivery.last_error)
        self.assertTrue(self.in_failed_deliveries(delivery))
        self.assertFalse(self.interactions(self.customer, "whatsapp"))
        # WhatsApp gave up: the level falls back to SMS, which reaches the customer.
        self.assertEqual(len(self.twilio_requests()), 1)
        self.assertEqual(self.delivery(self.customer, "sms").state, "sent")
        self.assertIn("SMS instead", delivery.communication_id.note)
        self.assertEqual(delivery.communication_id.state, "done")

        # A failed delivery is not tried again by itself, nor is the SMS sent twice.
        self.run_queue(run_at + timedelta(days=1))
        self.assertEqual(len(self.whatsapp_requests()), MAX_ATTEMPTS)
        self.assertEqual(len(self.twilio_requests()), 1)

    def test_whatsapp_undeliverable_falls_back_to_sms(self):
        self.require_twilio()
        invoice = self.invoice(self.customer, 1000.0, day(-2))
        self.server.script("whatsapp", ["undeliverable"])
        self.run_dunning()

        # The recipient cannot get WhatsApp messages: no retry, the SMS goes instead.
        whatsapp_delivery = self.delivery(self.customer, "whatsapp")
        self.assertRecordValues(
            whatsapp_delivery, [{"state": "failed", "attempts": 1, "next_attempt": False}]
        )
        self.assertIn("131026", whatsapp_delivery.last_error)
        self.assertTrue(self.in_failed_deliveries(whatsapp_delivery))

        sms_delivery = self.delivery(self.customer, "sms")
        [sms_request] = self.twilio_requests()
        self.assertEqual(sms_request["form"]["To"], "+34612345678")
        self.assertIn(self.portal_link(invoice), sms_request["form"]["Body"])
        self.assertRecordValues(sms_delivery, [{"state": "sent", "recipient": "+34612345678"}])
        communication = sms_delivery.communication_id
        self.assertEqual(communication, whatsapp_delivery.communication_id)
        self.assertIn("SMS instead", communication.note)
        self.assertEqual(communication.state, "done", "the customer got the reminder")
        self.assertEqual(len(self.interactions(self.customer, "sms")), 1)
        self.assertFalse(self.interactions(self.customer, "whatsapp"))

        self.run_queue(NOON + timedelta(days=1))
        self.assertEqual(len(self.whatsapp_requests()), 1)
        self.assertEqual(len(self.twilio_requests()), 1)

    def test_whatsapp_failing_for_good_is_not_sent_by_sms_without_fallback(self):
        self.level_whatsapp.whatsapp_fallback_sms = False
        self.invoice(self.customer, 1000.0, day(-2))
        self.server.script("whatsapp", ["undeliverable"])
        self.run_dunning()
        self.assertEqual(self.delivery(self.customer, "whatsapp").state, "failed")
        self.assertFalse(
            self.env["collection.communication.delivery"].search(
                [("partner_id", "=", self.customer.id), ("channel", "=", "sms")]
            )
        )
        self.assertFalse(self.twilio_requests())

    # ------------------------------------------------------------------
    # SMS through Odoo's SMS queue and the Twilio provider
    # ------------------------------------------------------------------

    def test_sms_through_twilio_accepted(self):
        self.require_twilio()
        # An invoice five days late starts at the SMS level.
        self.policy.entry_level_id = self.level_sms
        invoice = self.invoice(self.customer, 1000.0, day(-5))
        self.run_dunning()

        [request] = self.twilio_requests()
        self.assertEqual(request["path"], f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json")
        credentials = base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
        self.assertEqual(request["authorization"], f"Basic {credentials}")
        form = request["form"]
        self.assertEqual(form["To"], "+34612345678")
        # Twilio's code picks the company's number of the customer's country.
        self.assertEqual(form["From"], TWILIO_FROM_ES)
        body = form["Body"]
        self.assertTrue(body.startswith(f"{self.company.name}: Acme Customer, you have "), body)
        self.assertIn("1,000.00", body)
        self.assertIn(self.portal_link(invoice), body)

        delivery = self.delivery(self.customer, "sms")
        self.assertSentToMobile(delivery, self.level_sms)
        # The reference is the one Twilio reports the delivery status with.
        self.assertTrue(delivery.provider_ref)
        self.assertTrue(
            form["StatusCallback"].endswith(f"/sms_twilio/status/{delivery.provider_ref}")
        )
        self.assertEqual(delivery.sms_id.state, "pending")
        self.assertFalse(self.whatsapp_requests())

        self.run_queue(NOON + timedelta(hours=1))
        self.assertEqual(len(self.twilio_requests()), 1)

    def test_sms_failures_are_retried_later(self):
        self.require_twilio()
        # Twilio's code waits 5 s for an answer.
        self.server.slow_seconds = 6.0
        cases = [400, 401, 429, 500, "slow"]
        # Invoices five days late start at the SMS level.
        self.policy.entry_level_id = self.level_sms
        customers = {}
        for index, answer in enumerate(cases):
            customers[answer] = self.new_customer(f"Customer {answer}", f"612 00 00 0{index}")
            self.invoice(customers[answer], 500.0, day(-5))
        self.server.script("twilio", cases)
        self.run_dunning()

        for index, answer in enumerate(cases):
            with self.subTest(answer=answer):
                self.assertEqual(len(self.twilio_requests(f"+3461200000{index}")), 1)
                delivery = self.delivery(customers[answer], "sms")
                self.assertRetryLater(delivery, NOON, "SMS not accepted")
                self.assertEqual(delivery.sms_id.state, "error")
        # What went wrong can be told apart.
        self.assertIn("Format", self.delivery(customers[400], "sms").last_error)
        self.assertIn("Server Error", self.delivery(customers["slow"], "sms").last_error)

        self.run_queue(NOON + timedelta(minutes=10))
        for index, answer in enumerate(cases):
            with self.subTest(answer=answer):
                self.assertEqual(len(self.twilio_requests(f"+3461200000{index}")), 2)
                delivery = self.delivery(customers[answer], "sms")
                self.assertSentOnce(delivery)
                self.assertEqual(delivery.attempts, 2)
                # The same SMS went again, not a second one.
                self.assertEqual(
                    self.env["sms.sms"].search_count([("partner_id", "=", customers[answer].id)]), 1
                )

    # ------------------------------------------------------------------
    # A worker that dies while sending
    # ------------------------------------------------------------------

    def run_dunning_killed(self, send_template):
        """The daily reminders job runs with WhatsApp's ``send_template`` replaced by
        ``send_template``, which kills the worker (raises WorkerKilled) at some call.
        (Not assertRaises: it would roll back what the run committed.)"""
        with patch.object(whatsapp, "send_template", side_effect=send_template):
            try:
                self.run_dunning()
            except WorkerKilled:
                pass
            else:
                self.fail("the worker was not killed")

    def test_interrupted_send_is_not_sent_again(self):
        self.invoice(self.customer, 1000.0, day(-2))
        send_template = whatsapp.send_template

        def send_and_die(*args, **kwargs):
            send_template(*args, **kwargs)
            raise WorkerKilled

        # The provider accepts the message, then the worker is killed before its answer
        # is known: the batch's transaction is lost, the journal of provider calls
        # keeps the call.
        self.run_dunning_killed(send_and_die)
        self.assertEqual(len(self.whatsapp_requests()), 1)
        delivery = self.delivery(self.customer, "whatsapp")
        self.assertNotEqual(delivery.state, "sent")

        # The next run knows the call was made and its answer never came: failed for a
        # person to check, never sent again by itself.
        self.run_queue(NOON + timedelta(minutes=1))
        self.assertEqual(len(self.whatsapp_requests()), 1)
        self.assertRecordValues(delivery, [{"state": "failed", "attempts": 1}])
        self.assertIn("Interrupted while sending", delivery.last_error)
        self.assertIn("Check before sending it again", delivery.last_error)
        self.assertTrue(self.in_failed_deliveries(delivery))
        self.assertEqual(delivery.communication_id.state, "failed")
        self.run_queue(NOON + timedelta(days=1))
        self.assertEqual(len(self.whatsapp_requests()), 1)

    def test_worker_killed_in_the_middle_of_a_batch(self):
        """Three WhatsApp reminders leave in one batch: the provider takes the first,
        the worker is killed while it waits for the answer to the second (which left),
        the third is never handed over. The next run records the first sent, with its
        trail; fails the second for a person to check (whether it left is unknown);
        sends the third. Nothing goes twice, nothing is recorded sent that did not
        leave."""
        customers = (
            self.customer
            | self.new_customer("Globex", "612 34 56 79")
            | self.new_customer("Initech", "612 34 56 80")
        )
        for customer in customers:
            self.invoice(customer, 1000.0, day(-2))
        send_template = whatsapp.send_template
        calls = []

        def answer_then_die_on_the_second(*args, **kwargs):
            calls.append(args)
            message_id = send_template(*args, **kwargs)
            if len(calls) == 2:
                raise WorkerKilled
            return message_id

        self.run_dunning_killed(answer_then_die_on_the_second)
        deliveries = customers.mapped(lambda c: self.delivery(c, "whatsapp"))
        by_phone = {d.recipient: d for d in deliveries}
        taken, unanswered = (by_phone[r["json"]["to"]] for r in self.whatsapp_requests())
        never_called = deliveries - taken - unanswered
        self.assertNotIn("sent", deliveries.mapped("state"))
        self.assertFalse(self.interactions(customers, "whatsapp"))

        self.run_queue(NOON + timedelta(minutes=1))
        self.assertEqual(
            sorted(r["json"]["to"] for r in self.whatsapp_requests()),
            sorted(deliveries.mapped("recipient")),
            "each message went once",
        )
        self.assertSentOnce(taken)
        self.assertSentOnce(never_called)
        self.assertTrue(taken.provider_ref)
        self.assertNotEqual(taken.provider_ref, never_called.provider_ref)
        self.assertRecordValues(unanswered, [{"state": "failed", "attempts": 1}])
        self.assertIn("Interrupted while sending", unanswered.last_error)
        self.assertFalse(self.interactions(unanswered.partner_id, "whatsapp"))
        self.assertFalse(
            self.twilio_requests(), "a message that may have left is not sent by SMS either"
        )

        self.run_queue(NOON + timedelta(days=1))
        self.assertEqual(len(self.whatsapp_requests()), 3)
        self.assertEqual(len(self.interactions(customers, "whatsapp")), 2)


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionDunningSending(DunningCadenceCommon):
    """The reminders of the daily run sent by the queue: emails (with the invoices
    attached, in the customer's language), quiet hours, the rest day and the message
    cap, letters and activities."""

    def approved_reminder(self, partner=None, on=0):
        """The daily run of ``day(on)`` reminds ``partner`` (default: Acme); the collector
        approves the reminder."""
        partner = partner or self.customer
        self.run_dunning(day(on))
        reminder = self.reminders(partner)
        reminder.with_user(self.collector).action_approve()
        return reminder

    # ------------------------------------------------------------------
    # Sending
    # ------------------------------------------------------------------

    def test_last_reminder_day_is_the_company_day(self):
        """A company in Tokyo: its reminder run and sent at 20:00 UTC (05:00 the next
        day in Tokyo) are of its next day, and so is the invoice's last reminder."""
        self.company.partner_id.tz = "Asia/Tokyo"
        invoice = self.invoice(self.customer, 1000.0, day(1))
        self.run_dunning(at(0, 20))
        reminder = self.reminders(self.customer)
        self.assertEqual(reminder.date, day(1))
        reminder.with_user(self.collector).action_approve()
        self.run_queue(at(0, 20, 30))
        self.assertEqual(self.delivery(reminder, "email").state, "sent")
        self.assertEqual(invoice.collection_last_reminder_date, day(1))

    def test_email_sent_by_the_queue(self):
        first = self.invoice(self.customer, 1000.0, day(0))
        second = self.invoice(self.customer, 234.5, day(0))
        reminder = self.approved_reminder()

        self.run_queue(at(0, 14))

        delivery = self.delivery(reminder, "email")
        self.assertRecordValues(
            delivery,
            [
                {
                    "state": "sent",
                    "recipient": "acme.customer@example.com",
                    "attempts": 1,
                    "date_sent": at(0, 14),
                }
            ],
        )
        self.assertTrue(delivery.provider_ref)
        self.assertEqual(reminder.state, "done")
        mail = delivery.mail_id
        self.assertEqual(mail, self.mails(self.customer))
        self.assertEqual(mail.email_to, "acme.customer@example.com")
        self.assertEqual(mail.state, "sent")
        self.assertEqual(
            [message["smtp_to_list"] for message in self.smtp_messages],
            [["acme.customer@example.com"]],
        )
        self.assertEqual(mail.subject, f"{self.company.name}: invoices due today")
        self.assertIn("The following invoices are due today:", mail.body_html)
        for invoice, amount in ((first, "$\xa01,000.00"), (second, "$\xa0234.50")):
            self.assertIn(invoice.name, mail.body_html)
            self.assertIn(amount, mail.body_html)

        interaction = self.env["collection.interaction"].search(
            [("partner_id", "=", self.customer.id)]
        )
        self.assertRecordValues(
            interaction,
            [
                {
                    "channel": "email",
                    "automatic": True,
                    "outcome": "sent",
                    "move_ids": (first | second).ids,
                    "user_id": False,
                }
            ],
        )
        self.assertTrue(
            self.customer.message_ids.filtered(
                lambda m: "Reminder sent by Email" in str(m.body) and reminder.name in str(m.body)
            )
        )
        self.assertEqual((first | second).mapped("collection_last_reminder_date"), [day(0)] * 2)

        # Running the queue again sends nothing twice.
        self.run_queue(at(0, 15))
        self.assertEqual(len(self.smtp_messages), 1)
        self.assertEqual(len(self.mails(self.customer)), 1)
        self.assertEqual(len(interaction.search([("partner_id", "=", self.customer.id)])), 1)

    def test_address_found_invalid_fails_at_once(self):
        """An address Odoo's mail client finds invalid is not tried again five times
        over a day: the delivery fails at its first attempt, with the reason, for a
        person to correct the address and retry it."""
        self.customer.email = "acme.customer(at)example"
        self.invoice(self.customer, 1000.0, day(0))
        reminder = self.approved_reminder()
        self.run_queue(at(0, 14))
        delivery = self.delivery(reminder, "email")
        self.assertRecordValues(
            delivery, [{"state": "failed", "attempts": 1, "next_attempt": False}]
        )
        self.assertTrue(delivery.last_error)
        self.assertEqual(reminder.state, "failed")
        self.assertFalse(self.smtp_messages)
        self.run_queue(at(0, 20))
        self.assertEqual(delivery.attempts, 1)
        self.assertFalse(self.smtp_messages)

    def test_queries_of_a_batch_grow_only_by_each_emails_own_writes(self):
        """The queue sends its deliveries in batches, each read and written as a whole
        (the truth check, the recipients, the rendering, the trail): what a batch of
        six emails costs more than a batch of three is only each email's own writes:
        Odoo's mail queue marking it sent (and checking its notifications), its two
        rows in the journal of provider calls, its address, and the delivery's email
        and provider reference. Sending one delivery per transaction took 57 queries
        each."""
        customers = self.env["res.partner"].concat(
            *(self.make_customer(f"Customer {index}") for index in range(9))
        )
        for index, customer in enumerate(customers):
            self.invoice(customer, 100.0 + index, day(0))
        self.run_dunning(day(0))
        self.reminders(customers).with_user(self.collector).action_approve()
        Delivery = type(self.env["collection.communication.delivery"])
        send_batch = Delivery._send_batch
        queries = []

        def counted(deliveries, now, journal):
            start = sql_db.sql_counter
            result = send_batch(deliveries, now, journal)
            queries.append((len(deliveries), sql_db.sql_counter - start))
            return result

        with (
            patch.object(delivery_module, "QUEUE_BATCH_SIZE", 6),
            patch.object(Delivery, "_send_batch", counted),
        ):
            self.run_queue(at(0, 14))
        self.assertEqual(len(self.smtp_messages), 9)
        self.assertEqual([size for size, _count in queries], [6, 3])
        (_six, big), (_three, small) = queries
        self.assertLessEqual(
            (big - small) / 3, QUERIES_PER_EMAIL, f"queries of batches of 6 and 3: {queries}"
        )

    def test_email_that_cannot_be_rendered_is_tried_again_later(self):
        """An email that fails before it leaves (here its template) does not hold back
        the others of its batch: they go; it is tried again after the backoff, its
        error shown, each try an attempt (it fails for a person to check after the
        last one), as when it was sent on its own."""
        globex = self.make_customer("Globex")
        self.invoice(self.customer, 1000.0, day(0))
        self.invoice(globex, 500.0, day(0))
        self.run_dunning(day(0))
        reminders = self.reminders()
        reminders.with_user(self.collector).action_approve()
        broken = reminders.filtered(lambda r: r.partner_id == self.customer)
        Template = type(self.env["mail.template"])
        send_mail_batch = Template.send_mail_batch

        def fail_for_acme(template, res_ids, *args, **kwargs):
            if broken.id in res_ids:
                raise ValueError("the template cannot be rendered")
            return send_mail_batch(template, res_ids, *args, **kwargs)

        with (
            patch.object(Template, "send_mail_batch", fail_for_acme),
            mute_logger("odoo.addons.account_collection.models.collection_communication_delivery"),
        ):
            self.run_queue(at(0, 14))
            self.assertEqual(
                [message["smtp_to_list"] for message in self.smtp_messages],
                [["globex@example.com"]],
            )
            self.assertEqual((reminders - broken).state, "done")
            delivery = self.delivery(broken, "email")
            self.assertRecordValues(delivery, [{"state": "queued", "attempts": 1}])
            self.assertIn("the template cannot be rendered", delivery.last_error)
            self.assertGreater(delivery.next_attempt, at(0, 14))
            # Not before its next attempt; then one attempt more (each counts, up to
            # MAX_ATTEMPTS, as a provider's refusal does).
            self.run_queue(at(0, 14) + timedelta(minutes=1))
            self.assertEqual(delivery.attempts, 1)
            self.run_queue(at(0, 14) + timedelta(minutes=10))
        self.assertRecordValues(delivery, [{"state": "queued", "attempts": 2}])
        self.assertEqual(broken.state, "queued")
        self.assertEqual(len(self.smtp_messages), 1)

    def test_email_with_the_invoices_attached(self):
        self.level_due.attach_invoices = True
        first = self.invoice(self.customer, 1000.0, day(0))
        second = self.invoice(self.customer, 234.5, day(0))
        reminder = self.approved_reminder()
        self.run_queue(at(0, 14))

        mail = self.delivery(reminder, "email").mail_id
        self.assertEqual(mail.state, "sent")
        self.assertEqual(
            sorted(mail.attachment_ids.mapped("name")),
            sorted(f"{move.name.replace('/', '_')}.pdf" for move in first | second),
        )
        self.assertTrue(all(mail.attachment_ids.mapped("raw")))
        # The customer received them: the message on the wire carries both files.
        self.assertEqual(len(self.smtp_messages), 1)
        for move in first | second:
            self.assertIn(move.name.replace("/", "_"), self.smtp_messages[0]["message"])

    def test_email_in_the_customers_language(self):
        """The shipped templates are translatable: a customer in Spanish reads the
        reminder in Spanish, with amounts in the Spanish format. The translation is set
        on the template here, as a company that words its own reminders would."""
        self.env["res.lang"]._activate_lang("es_ES")
        self.template_due.update_field_translations(
            "subject", {"es_ES": "{{ object.company_id.name }}: facturas que vencen hoy"}
        )
        body = str(self.template_due.body_html)
        for english, spanish in (
            ("Dear", "Estimado/a"),
            ("The following invoices are due today:", "Las siguientes facturas vencen hoy:"),
        ):
            body = body.replace(english, spanish)
        self.template_due.update_field_translations("body_html", {"es_ES": body})
        spanish = self.make_customer("Cliente Español", lang="es_ES")
        invoice = self.invoice(spanish, 1234.5, day(0))
        english_invoice = self.invoice(self.customer, 1234.5, day(0))
        self.run_dunning(day(0))
        self.reminders().with_user(self.collector).action_approve()
        self.run_queue(at(0, 13))

        mail = self.mails(spanish)
        self.assertEqual(mail.subject, f"{self.company.name}: facturas que vencen hoy")
        self.assertIn("Las siguientes facturas vencen hoy:", mail.body_html)
        self.assertNotIn("The following invoices are due today", mail.body_html)
        self.assertIn(invoice.name, mail.body_html)
        self.assertIn("1.234,50", mail.body_html)

        english = self.mails(self.customer)
        self.assertEqual(english.subject, f"{self.company.name}: invoices due today")
        self.assertIn("The following invoices are due today:", english.body_html)
        self.assertIn(english_invoice.name, english.body_html)
        self.assertIn("1,234.50", english.body_html)

    def test_shipped_spanish_templates(self):
        try:
            file_path("account_collection/i18n/es.po")
        except FileNotFoundError:
            self.skipTest("No Spanish translation file shipped yet.")
        self.env["res.lang"]._activate_lang("es_ES")
        self.env["ir.module.module"]._load_module_terms(["account_collection"], ["es_ES"])
        for template in self.template_before | self.template_due | self.template_overdue:
            with self.subTest(template=template.name):
                spanish = template.with_context(lang="es_ES")
                self.assertNotEqual(spanish.subject, template.subject)
                self.assertNotIn("Dear", spanish.body_html)
        self.assertNotEqual(
            self.sms_template.with_context(lang="es_ES").body, self.sms_template.body
        )

    def test_quiet_hours_and_rest_day(self):
        self.company.write(
            {
                "collection_quiet_hour_start": 20.0,
                "collection_quiet_hour_end": 8.0,
                "collection_rest_day": "6",
            }
        )
        self.company.partner_id.tz = "Europe/Madrid"  # UTC+1 in March
        # Overdue reminders (still true the next day), by email.
        self.customer.phone = False
        self.invoice(self.customer, 1000.0, day(-10))
        reminder = self.approved_reminder()
        delivery = self.delivery(reminder, "email")

        # 22:00 in Madrid: the email waits for 08:00 the next morning.
        self.run_queue(at(0, 21))
        self.assertRecordValues(
            delivery, [{"state": "queued", "next_attempt": at(1, 7), "attempts": 0}]
        )
        self.run_queue(at(1, 6, 30))
        self.assertEqual(delivery.state, "queued")
        self.assertFalse(self.mails(self.customer))
        self.run_queue(at(1, 7))
        self.assertEqual(delivery.state, "sent")

        # Sunday 2026-03-22 is the rest day: Monday 08:00.
        sunday = 6
        self.assertEqual(day(sunday).weekday(), 6)
        other = self.make_customer("Sunday Customer", phone=False)
        self.invoice(other, 1000.0, day(sunday - 10))
        reminder = self.approved_reminder(other, on=sunday)
        self.run_queue(at(sunday, 10))
        delivery = self.delivery(reminder, "email")
        self.assertRecordValues(delivery, [{"state": "queued", "next_attempt": at(sunday + 1, 7)}])
        self.assertFalse(self.mails(other))
        self.run_queue(at(sunday + 1, 7, 5))
        self.assertEqual(delivery.state, "sent")

    def test_message_cap(self):
        self.company.collection_message_interval_days = 3
        self.invoice(self.customer, 1000.0, day(0))
        self.invoice(self.customer, 500.0, day(4))
        self.run_dunning(day(0))
        self.reminders(self.customer).with_user(self.collector).action_approve()
        self.run_queue(at(0, 12))
        self.assertEqual(len(self.mails(self.customer)), 1)

        # Two days later the second invoice is two days from its due date: its reminder
        # waits until three days after the first message, the day before the due date.
        self.run_dunning(day(2))
        second = self.reminders(self.customer)[1:]
        self.assertEqual(second.level_id, self.level_soon)
        second.with_user(self.collector).action_approve()
        self.run_queue(at(2, 12))
        delivery = self.delivery(second, "email")
        self.assertRecordValues(delivery, [{"state": "queued", "next_attempt": at(3, 12)}])
        self.assertEqual(len(self.mails(self.customer)), 1)
        self.run_queue(at(2, 18))
        self.assertEqual(delivery.state, "queued")
        self.run_queue(at(3, 12))
        self.assertEqual(delivery.state, "sent")
        self.assertEqual(len(self.mails(self.customer)), 2)

    def test_letter(self):
        self.level_late.write({"send_email": False, "send_sms": False, "send_letter": True})
        invoice = self.invoice(self.customer, 1000.0, day(-12))
        reminder = self.approved_reminder()

        self.run_queue(at(0, 13))

        letter = reminder.letter_attachment_id
        self.assertRecordValues(
            letter,
            [
                {
                    "name": f"Dunning letter - {reminder.name}.pdf",
                    "res_id": reminder.id,
                    "res_model": "collection.communication",
                    "mimetype": "application/pdf",
                }
            ],
        )
        # Tests render reports as HTML instead of calling wkhtmltopdf: the letter's text.
        self.assertIn(invoice.name.encode(), letter.raw)
        self.assertIn(b"Dear", letter.raw)
        # Rendered is not sent: it waits to be printed and posted.
        self.assertEqual(self.delivery(reminder, "letter").state, "to_print")
        self.assertEqual(reminder.state, "queued")
        self.delivery(reminder, "letter").with_user(self.collector).action_mark_posted()
        self.assertEqual(self.delivery(reminder, "letter").state, "sent")
        self.assertEqual(reminder.state, "done")
        self.assertRecordValues(
            self.env["collection.interaction"].search([("partner_id", "=", self.customer.id)]),
            [{"channel": "letter", "automatic": True}],
        )
        self.assertEqual(invoice.collection_last_reminder_date, day(0))
        self.assertFalse(self.smtp_messages)

        # The same report, rendered by wkhtmltopdf as in production, is a PDF.
        with self.allow_pdf_render():
            pdf, kind = (
                self.env["ir.actions.report"]
                .with_context(force_report_rendering=True)
                ._render_qweb_pdf(
                    "account_collection.action_report_collection_letter", reminder.ids
                )
            )
        self.assertEqual(kind, "pdf")
        self.assertTrue(pdf.startswith(b"%PDF"))

    def test_activities(self):
        self.policy.mode = "automatic"
        salesperson = self.env["res.users"].create(
            {
                "name": "Sam Seller",
                "login": "sam",
                "group_ids": [Command.set(self.env.ref("account.group_account_invoice").ids)],
            }
        )
        cases = [
            ("collector", False, self.collector),
            ("salesperson", False, salesperson),
            ("user", self.collection_manager, self.collection_manager),
        ]
        # An invoice twenty days late starts at the call.
        self.policy.entry_level_id = self.level_call
        for index, (responsible, user, expected) in enumerate(cases):
            with self.subTest(responsible=responsible):
                self.level_call.write(
                    {"activity_responsible": responsible, "activity_user_id": user}
                )
                partner = self.make_customer(f"Call Customer {index}")
                invoice = self.invoice(partner, 1000.0, day(-20))
                invoice.invoice_user_id = salesperson
                self.run_dunning(day(0))
                reminder = self.reminders(partner)
                self.assertEqual(reminder.level_id, self.level_call)
                self.assertEqual(reminder.state, "done")
                self.assertRecordValues(
                    partner.activity_ids,
                    [
                        {
                            "user_id": expected.id,
                            "activity_type_id": self.followup_type.id,
                            "summary": "Call about the overdue invoices",
                            "date_deadline": day(0),
                        }
                    ],
                )
                self.assertEqual(
                    partner.with_company(self.company).collection_stage_id, self.stage_delinquent
                )
                # A task for the team is not a message to the customer.
                self.assertFalse(
                    self.env["collection.interaction"].search([("partner_id", "=", partner.id)])
                )
