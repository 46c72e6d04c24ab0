import json
from datetime import datetime, timedelta

from odoo import Command
from odoo.exceptions import UserError
from odoo.tests import HttpCase, tagged
from odoo.tools import mute_logger

from .common import TODAY, DunningCadenceCommon, day, on_day

# What a user's refused write raises: the guard's message, or the ORM's refusal
# (AccessError is a UserError).
REFUSED = UserError


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionAttacks(DunningCadenceCommon, HttpCase):
    """The requests a collector or a billing user could send over RPC to go around
    what the application lets them do, each refused with a clear error and leaving
    nothing written. Acme is Carla's customer, Bolt is Cody's; each got a reminder
    (email and SMS) waiting for review."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.collector_2 = cls.make_user(
            "collector_2", "account_collection.group_collection_user", name="Cody Collector"
        )
        cls.billing_user = cls.make_user(
            "billing", "account.group_account_invoice", name="Bea Billing"
        )
        cls.other = cls.make_customer("Bolt Industries")
        cls.other.with_company(cls.company).collection_user_id = cls.collector_2
        cls.acme_invoice = cls.invoice(cls.customer, 1000.0, day(-12))
        cls.bolt_invoice = cls.invoice(cls.other, 700.0, day(-12))

    def setUp(self):
        super().setUp()
        self.run_dunning(day(0))
        self.reminder = self.reminders(self.customer)
        self.other_reminder = self.reminders(self.other)
        self.assertEqual(len(self.reminder), 1)
        self.assertEqual(self.reminder.state, "draft")
        self.email = self.delivery(self.reminder, "email")
        self.sms = self.delivery(self.reminder, "sms")

    def restrict_portfolios(self):
        self.company.collection_portfolio_restricted = True

    def assert_refused(self, records, vals, user=None):
        """A write of ``vals`` on ``records`` by ``user`` (the collector) is refused and
        changes nothing."""
        user = user or self.collector
        fnames = list(vals)
        before = records.read(fnames)
        with self.assertRaises(REFUSED), self.env.cr.savepoint():
            records.with_user(user).write(vals)
        records.invalidate_recordset()
        self.assertEqual(records.read(fnames), before, f"{fnames} changed")

    # ------------------------------------------------------------------
    # 1. Redirecting a reminder
    # ------------------------------------------------------------------

    def test_collector_cannot_redirect_a_reminder_to_themselves(self):
        self.assert_refused(self.email, {"recipient": "carla@attacker.example.com"})
        self.assert_refused(self.sms, {"recipient": "+34 600 000 000"})
        # Not through the reminder's deliveries either.
        self.assert_refused(
            self.reminder,
            {"delivery_ids": [Command.update(self.email.id, {"recipient": "x@attacker.com"})]},
        )
        self.assert_refused(
            self.reminder,
            {
                "delivery_ids": [
                    Command.create(
                        {"channel": "email", "recipient": "x@attacker.com", "state": "queued"}
                    )
                ]
            },
        )
        self.assertEqual(self.reminder.delivery_ids, self.email | self.sms)

    def test_collector_cannot_send_another_customers_reminder(self):
        # Bolt's email moved onto Acme's reminder, or Acme's email onto Bolt's reminder.
        other_email = self.delivery(self.other_reminder, "email")
        self.assert_refused(other_email, {"communication_id": self.reminder.id})
        self.assert_refused(self.email, {"communication_id": self.other_reminder.id})

    def test_collector_cannot_requeue_a_cancelled_delivery(self):
        self.sms.with_user(self.collector).action_cancel()
        self.assertEqual(self.sms.state, "cancelled")
        self.assert_refused(self.sms, {"state": "queued"})
        self.assert_refused(self.sms, {"state": "draft"})

    def test_collector_cannot_point_a_delivery_at_another_email(self):
        mail = self.env["mail.mail"].create(
            {"email_to": "carla@attacker.example.com", "subject": "Old", "body_html": "<p>x</p>"}
        )
        self.assert_refused(self.email, {"mail_id": mail.id})
        sms = self.env["sms.sms"].create({"number": "+34600000000", "body": "x"})
        self.assert_refused(self.sms, {"sms_id": sms.id})

    def test_collector_cannot_create_or_delete_deliveries(self):
        Delivery = self.env["collection.communication.delivery"].with_user(self.collector)
        with self.assertRaises(REFUSED), self.env.cr.savepoint():
            Delivery.create(
                {
                    "communication_id": self.reminder.id,
                    "channel": "email",
                    "recipient": "carla@attacker.example.com",
                    "state": "queued",
                }
            )
        with self.assertRaises(REFUSED), self.env.cr.savepoint():
            self.sms.with_user(self.collector).unlink()
        self.assertEqual(self.reminder.delivery_ids, self.email | self.sms)

    def test_manager_cannot_forge_deliveries_either(self):
        self.assert_refused(
            self.email, {"recipient": "x@attacker.com"}, user=self.collection_manager
        )
        self.assert_refused(
            self.email,
            {"state": "sent", "date_sent": datetime(2026, 3, 1)},
            user=self.collection_manager,
        )

    def test_redirect_over_json2_is_refused(self):
        """The attack as an integration would send it: JSON-2 with the collector's API
        key."""
        key = (
            self.env["res.users.apikeys"]
            .with_user(self.collector)
            ._generate(scope="rpc", name="attack", expiration_date=datetime.now() + timedelta(1))
        )
        # The database checks the expiry on its own (real) clock, not the frozen one.
        self.env.cr.execute(
            "UPDATE res_users_apikeys SET expiration_date = now() + interval '1 day'"
            " WHERE user_id = %s",
            [self.collector.id],
        )
        with mute_logger("odoo.http"):
            response = self.url_open(
                "/json/2/collection.communication.delivery/write",
                data=json.dumps(
                    {"ids": self.email.ids, "vals": {"recipient": "carla@attacker.example.com"}}
                ),
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
            )
        self.assertNotEqual(response.status_code, 200, response.text)
        self.assertIn("reminders engine", response.json()["message"])
        self.email.invalidate_recordset()
        self.assertEqual(self.email.recipient, "acme.customer@example.com")

    # ------------------------------------------------------------------
    # 2. Forging a reminder's facts
    # ------------------------------------------------------------------

    def test_collector_cannot_forge_a_reminder(self):
        forged = {
            "state": "done",
            "date": day(-30),
            "overdue_amount": 1.0,
            "due_amount": 1.0,
            "days_overdue": 1,
            "level_id": self.level_soon.id,
            "policy_id": False,
            "note": "Customer agreed by phone",
            "partner_id": self.other.id,
        }
        for fname, value in forged.items():
            with self.subTest(field=fname):
                self.assert_refused(self.reminder, {fname: value})

    def test_collector_cannot_forge_a_delivery(self):
        forged = {
            "state": "sent",
            "date_sent": datetime(2026, 3, 10, 9),
            "attempts": 0,
            "next_attempt": datetime(2030, 1, 1),
            "last_error": False,
            "provider_ref": "<forged@example.com>",
            "channel": "letter",
        }
        for fname, value in forged.items():
            with self.subTest(field=fname):
                self.assert_refused(self.email, {fname: value})

    def test_collector_still_reviews_a_reminder(self):
        """What collectors do through the buttons still works: take an invoice out of
        a draft, give it to another collector, take a channel off, approve."""
        second = self.invoice(self.customer, 300.0, day(-11))
        self.reminder.move_ids |= second
        reminder = self.reminder.with_user(self.collector)
        reminder.write({"move_ids": [Command.unlink(second.id)], "user_id": self.collector_2.id})
        self.assertEqual(reminder.move_ids, self.acme_invoice)
        self.sms.with_user(self.collector).action_cancel()
        reminder.action_approve()
        self.assertEqual(self.reminder.state, "queued")
        self.assertEqual(self.email.state, "queued")
        self.assertEqual(self.sms.state, "cancelled")
