from datetime import timedelta

from odoo.tests import HttpCase, tagged

from odoo.addons.base.tests.common import MockSmtplibCase

from .common import CollectionCommon, CollectionTourMixin


@tagged("post_install", "-at_install")
class TestCollectionDunningTour(CollectionTourMixin, CollectionCommon, MockSmtplibCase, HttpCase):
    """An administrator adds a level to the default dunning policy from Settings,
    previews the reminders due today and runs them: the customer whose invoice just
    reached the new level gets one reminder, at that level."""

    def setUp(self):
        super().setUp()
        self.admin = self.make_user(
            "collection_admin",
            "base.group_system,account_collection.group_collection_manager",
            name="Ada Admin",
        )
        # The company starts from the shipped standard cadence (of the main company).
        shipped = self.env.ref("account_collection.collection_policy_default").sudo()
        self.policy = shipped.copy(
            {"name": "Standard reminders", "company_id": self.company.id}
        ).with_env(self.env)
        # The browser runs on the real clock: no quiet hours and no rest day, so the
        # email of the run goes out whatever the hour and the weekday.
        self.company.write(
            {
                "collection_policy_id": self.policy.id,
                "collection_quiet_hour_start": 0.0,
                "collection_quiet_hour_end": 0.0,
                "collection_rest_day": False,
            }
        )
        self.real_today = self.company._collection_today()
        self.overdue_invoice = self.invoice(
            self.customer, 800.0, self.real_today - timedelta(days=10)
        )
        # The customer was called three days after the due date: the invoice is at the
        # "Call" level, and no level of the shipped policy is due until day 15.
        self.call_level = self.policy.level_ids.filtered(lambda lv: lv.delay == 3)
        self.assertEqual(self.call_level.name, "Call")
        # sudo: an invoice's level is the run's to write (the fixture writes as it).
        self.overdue_invoice.sudo().collection_level_id = self.call_level
        self.Communication = self.env["collection.communication"]
        self.Dunning = self.env["collection.dunning"]

    def test_admin_adds_level_and_runs_reminders(self):
        self.assertFalse(
            self.Dunning._dunning_plan(self.company, self.real_today),
            "Before the new level, nothing is due today.",
        )

        # A fake SMTP server receives what the run sends.
        with self.mock_smtplib_connection():
            self.start_tour("/odoo", "collection_dunning_tour", login=self.admin.login)

        self.env.invalidate_all()
        level = self.policy.level_ids.filtered(lambda lv: lv.name == "Firm reminder")
        self.assertRecordValues(
            level,
            [
                {
                    "delay": 10,
                    "send_email": True,
                    "mail_template_id": self.env.ref(
                        "account_collection.mail_template_reminder_overdue"
                    ).id,
                }
            ],
        )

        communications = self.Communication.search([("partner_id", "=", self.customer.id)])
        self.assertEqual(len(communications), 1)
        self.assertRecordValues(
            communications,
            [
                {
                    "level_id": level.id,
                    "policy_id": self.policy.id,
                    "date": self.real_today,
                    "move_ids": self.overdue_invoice.ids,
                    "days_overdue": 10,
                    "overdue_amount": 800.0,
                    "state": "done",
                }
            ],
        )
        self.assertEqual(self.overdue_invoice.collection_level_id, level)
        self.assertEqual(self.overdue_invoice.collection_last_reminder_date, self.real_today)

        # The shipped policy sends automatically: the email left for the customer.
        self.assertRecordValues(
            communications.delivery_ids,
            [{"channel": "email", "state": "sent", "recipient": "acme@example.com"}],
        )
        # Only this customer's reminder: other companies' customers (demo data) may get
        # theirs in the same run, depending on the time of day and their quiet hours.
        to_acme = [email for email in self.emails if "acme@example.com" in email["smtp_to_list"]]
        self.assertEqual(len(to_acme), 1)
        self.assertEqual(to_acme[0]["smtp_to_list"], ["acme@example.com"])
        self.assertIn("overdue invoices", communications.delivery_ids.mail_id.subject)
        interaction = self.customer.with_company(self.company).collection_interaction_ids
        self.assertRecordValues(
            interaction, [{"channel": "email", "automatic": True, "outcome": "sent"}]
        )

        # A second run on the same day finds nothing more to send.
        self.assertFalse(self.Dunning._dunning_plan(self.company, self.real_today))
