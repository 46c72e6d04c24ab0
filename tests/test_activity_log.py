from datetime import timedelta

from odoo import fields
from odoo.exceptions import AccessError, ValidationError
from odoo.tests import Form, HttpCase, tagged

from .common import TODAY, CollectionCommon, CollectionTourMixin, day, on_day


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionActivityLog(CollectionCommon):
    """Marking a collection activity done opens the Log dialog, prefilled, so that its
    outcome is recorded; logging marks the activity done."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.customer.with_company(cls.company).collection_user_id = cls.collector
        cls.invoice(cls.customer, 1000.0, day(-20))
        cls.follow_up = cls.env.ref("account_collection.mail_activity_type_collection_follow_up")

    def plan(self, partner, activity_type=None, deadline=None):
        # sudo: planned by a reminder level or a manager.
        return partner.sudo().activity_schedule(
            activity_type_id=(activity_type or self.follow_up).id,
            date_deadline=deadline or day(2),
            summary="Call about the overdue invoices",
            user_id=self.collector.id,
        )

    def open_activities(self, partner):
        return self.env["mail.activity"].search(
            [("res_model", "=", "res.partner"), ("res_id", "=", partner.id)]
        )

    def test_mark_done_opens_the_log_dialog_and_logging_closes_it(self):
        activity = self.plan(self.customer)
        # Both the activity's Mark Done (the chatter) and its form's button.
        for action in (
            activity.with_user(self.collector).action_collection_log(),
            activity.with_user(self.collector).action_done(),
        ):
            self.assertEqual(action["res_model"], "collection.interaction.log")
            self.assertEqual(action["target"], "new")
        self.assertEqual(self.open_activities(self.customer), activity, "not done yet")

        wizard = Form(
            self.env["collection.interaction.log"]
            .with_user(self.collector)
            .with_context(action["context"])
        )
        self.assertEqual(wizard.partner_id, self.customer)
        self.assertEqual(wizard.channel, "call")
        self.assertEqual(wizard.activity_id, activity)
        wizard.outcome = "no_answer"
        wizard.next_action_date = day(5)
        wizard.note = "Rang twice"
        wizard.save().action_confirm()

        logged = self.env["collection.interaction"].search([("partner_id", "=", self.customer.id)])
        self.assertEqual(len(logged), 1)
        self.assertEqual(logged.outcome, "no_answer")
        self.assertNotIn(activity, self.open_activities(self.customer).exists())
        done = self.customer.message_ids.filtered(lambda m: m.mail_activity_type_id)[:1]
        self.assertIn("No Answer - Rang twice", str(done.body))
        # The next action planned by the log is a new follow-up, on its day.
        self.assertEqual(self.open_activities(self.customer).mapped("date_deadline"), [day(5)])

    def test_other_activities_are_done_as_usual(self):
        todo = self.plan(self.customer, self.env.ref("mail.mail_activity_data_todo"))
        self.assertFalse(todo.with_user(self.collector).action_collection_log())
        todo.with_user(self.collector).action_done()
        self.assertFalse(self.open_activities(self.customer))

    def test_log_cannot_close_another_customers_activity(self):
        """The attack: the Log dialog of one customer sent with another customer's
        activity, or a restricted collector's with an activity of another portfolio."""
        stranger = self.env["res.partner"].create({"name": "Stranger", "is_company": True})
        self.invoice(stranger, 500.0, day(-20))
        activity = self.plan(stranger)
        Log = self.env["collection.interaction.log"].with_user(self.collector)
        wizard = Log.create(
            {"partner_id": self.customer.id, "outcome": "contacted", "activity_id": activity.id}
        )
        with self.assertRaises(ValidationError):
            wizard.action_confirm()
        other = self.make_user("other_collector", "account_collection.group_collection_user")
        stranger.with_company(self.company).collection_user_id = other
        self.company.collection_portfolio_restricted = True
        wizard = Log.create(
            {"partner_id": stranger.id, "outcome": "contacted", "activity_id": activity.id}
        )
        with self.assertRaises(AccessError):
            wizard.action_confirm()
        self.assertEqual(self.open_activities(stranger), activity)
        self.assertFalse(self.env["collection.interaction"].search([]))


@tagged("post_install", "-at_install")
class TestCollectionActivityDoneTour(CollectionTourMixin, CollectionCommon, HttpCase):
    """In the browser: the chatter's Mark Done of a collection activity opens the Log
    dialog, and logging marks the activity done."""

    def test_mark_done_in_the_chatter_logs_the_outcome(self):
        # The browser runs on the real date.
        today = fields.Date.context_today(self.customer.with_user(self.collector))
        self.customer.with_company(self.company).collection_user_id = self.collector
        self.invoice(self.customer, 1000.0, today - timedelta(days=20))
        activity = self.customer.sudo().activity_schedule(
            "account_collection.mail_activity_type_collection_follow_up",
            date_deadline=today,
            summary="Call about the overdue invoices",
            user_id=self.collector.id,
        )
        self.start_tour(
            f"/odoo/res.partner/{self.customer.id}",
            "collection_activity_done_tour",
            login=self.collector.login,
        )
        self.assertFalse(activity.exists().filtered("active"))
        logged = self.env["collection.interaction"].search([("partner_id", "=", self.customer.id)])
        self.assertEqual(logged.mapped("outcome"), ["no_answer"])
        self.assertEqual(logged.user_id, self.collector)
