import calendar
import time
from datetime import date, timedelta

from odoo.tests import HttpCase, tagged

from .common import CollectionCommon, CollectionTourMixin
from .fake_providers import PHONE_NUMBER_ID, FakeProviders

APP_SECRET = "replies-tour-app-secret"
WEBHOOK = "/collection/webhook/whatsapp"


def next_fifteenth(today):
    """The next 15th from ``today`` on, as "el 15" reads."""
    if today.day <= 15:
        return today.replace(day=15)
    month = today.month % 12 + 1
    year = today.year + (today.month == 12)
    return date(year, month, min(15, calendar.monthrange(year, month)[1]))


@tagged("post_install", "-at_install")
class TestCollectionReplyTour(CollectionTourMixin, CollectionCommon, HttpCase):
    """A customer answers a WhatsApp reminder "les pago el 15": WhatsApp calls the
    signed webhook, the collector opens the reply and turns it into a promise in one
    click. The browser runs on the real clock."""

    def setUp(self):
        super().setUp()
        self.company.write(
            {
                "collection_whatsapp_phone_number_id": PHONE_NUMBER_ID,
                "collection_whatsapp_app_secret": APP_SECRET,
            }
        )
        self.customer.write({"phone": "+34 622 987 654", "lang": "es_ES"})
        self.env["res.lang"]._activate_lang("es_ES")
        self.customer.with_company(self.company).collection_user_id = self.collector
        self.today = self.company._collection_today()
        self.overdue = self.invoice(self.customer, 800.0, self.today - timedelta(days=10))
        self.reminder = self.make_reminder(self.overdue, self.today)
        self.env["collection.communication.delivery"].sudo().create(
            {
                "communication_id": self.reminder.id,
                "channel": "whatsapp",
                "recipient": "+34622987654",
                "provider_ref": "wamid.TOUR-REMINDER",
            }
        )

    def test_collector_turns_a_whatsapp_reply_into_a_promise(self):
        event = FakeProviders.whatsapp_event(
            PHONE_NUMBER_ID,
            messages=[
                {
                    "from": "34622987654",
                    "id": "wamid.TOUR-REPLY",
                    "timestamp": str(int(time.time())),
                    "type": "text",
                    "text": {"body": "les pago el 15"},
                    "context": {"from": "34911000222", "id": "wamid.TOUR-REMINDER"},
                }
            ],
            contacts=[{"profile": {"name": "Acme"}, "wa_id": "34622987654"}],
        )
        server = FakeProviders()
        response = server.whatsapp_webhook(
            self.base_url() + WEBHOOK, event, app_secret=APP_SECRET, session=self.opener
        )
        self.assertEqual(response.status_code, 200)
        reply = self.env["collection.reply"].search([("provider_ref", "=", "wamid.TOUR-REPLY")])
        self.assertRecordValues(
            reply,
            [
                {
                    "partner_id": self.customer.id,
                    "communication_id": self.reminder.id,
                    "kind": "promise",
                    "promise_date": next_fifteenth(self.today),
                    "state": "new",
                }
            ],
        )

        self.start_tour("/odoo", "collection_reply_tour", login=self.collector.login)

        self.env.invalidate_all()
        self.assertEqual(reply.state, "done")
        self.assertRecordValues(
            reply.promise_id,
            [
                {
                    "partner_id": self.customer.id,
                    "date": next_fifteenth(self.today),
                    "amount": 800.0,
                    "user_id": self.collector.id,
                    "state": "open",
                }
            ],
        )
        self.assertEqual(reply.promise_id.move_ids, self.overdue)
