from datetime import timedelta

from odoo import Command, fields
from odoo.tests import HttpCase, tagged

from .common import CollectionCommon, CollectionTourMixin


@tagged("post_install", "-at_install")
class TestCollectionWorklistTour(CollectionTourMixin, CollectionCommon, HttpCase):
    """A collector works the worklist in the browser: logs a call in which the
    customer promises to pay, and finds the call and the promise on the customer."""

    def setUp(self):
        super().setUp()
        # The browser runs on the real date: build the book around it.
        self.real_today = fields.Date.context_today(self.customer.with_user(self.collector))
        self.invoice(self.customer, 1500.0, self.real_today - timedelta(days=45))
        self.smaller_debtor = self.env["res.partner"].create(
            {"name": "Abbott Small Debtor", "is_company": True}
        )
        self.invoice(self.smaller_debtor, 200.0, self.real_today - timedelta(days=5))

    def test_collector_logs_call_with_promise(self):
        self.start_tour("/odoo", "collection_worklist_tour", login=self.collector.login)

        self.env.invalidate_all()
        customer = self.customer.with_company(self.company)
        promise = customer.collection_promise_ids
        self.assertEqual(len(promise), 1)
        self.assertEqual(promise.amount, 1000.0)
        self.assertEqual(promise.date, self.real_today + timedelta(days=7))
        self.assertEqual(promise.state, "open")
        self.assertEqual(promise.user_id, self.collector)
        self.assertEqual(customer.collection_status, "paying")
        self.assertEqual(customer.collection_user_id, self.collector)
        self.assertEqual(customer.collection_next_action_date, self.real_today + timedelta(days=3))

        interaction = customer.collection_interaction_ids
        self.assertEqual(len(interaction), 1)
        self.assertRecordValues(
            interaction,
            [
                {
                    "channel": "call",
                    "outcome": "promise",
                    "user_id": self.collector.id,
                    "promise_id": promise.id,
                    "status_before": "current",
                    "status_after": "paying",
                    "overdue_amount": 1500.0,
                    "days_overdue": 45,
                }
            ],
        )

        activity = customer.activity_ids.filtered(
            lambda a: (
                a.activity_type_id
                == self.env.ref("account_collection.mail_activity_type_collection_follow_up")
            )
        )
        self.assertEqual(len(activity), 1)
        self.assertEqual(activity.user_id, self.collector)
        self.assertEqual(activity.date_deadline, self.real_today + timedelta(days=3))

        summary = customer.message_ids.filtered(
            lambda m: m.author_id == self.collector.partner_id and "Promise to pay" in m.body
        )
        self.assertEqual(len(summary), 1)

        # The other customer was left alone.
        self.assertFalse(self.smaller_debtor.with_company(self.company).collection_promise_ids)

    def test_collector_switches_worklist_views(self):
        """The list, cards, pivot and graph of the worklist open for a collector; the
        pivot and the graph sum the overdue amounts (1,500 + 200)."""
        self.start_tour("/odoo", "collection_worklist_views_tour", login=self.collector.login)


@tagged("post_install", "-at_install")
class TestCollectionMenusTour(CollectionTourMixin, CollectionCommon, HttpCase):
    """Every Collections menu opens, for a collector and for a manager, on a desktop:
    the worklist in each of its views, a customer's Collections tab and a reminder.
    A client error on any screen fails the tour."""

    browser_size = "1920x1080"

    def setUp(self):
        super().setUp()
        # The browser runs on the real date: build the book around it.
        today = fields.Date.context_today(self.customer.with_user(self.collector))
        self.customer.with_company(self.company).collection_user_id = self.collector
        overdue = self.invoice(self.customer, 1500.0, today - timedelta(days=45))
        coming = self.invoice(self.customer, 300.0, today + timedelta(days=10))
        Promise = self.env["collection.promise"].with_user(self.collector)
        Promise.create(
            {
                "partner_id": self.customer.id,
                "amount": 500.0,
                "date": today + timedelta(days=3),
                "move_ids": [Command.set(overdue.ids)],
            }
        )
        reason = self.env.ref("account_collection.collection_dispute_reason_wrong_price")
        self.env["collection.dispute"].with_user(self.collector).create(
            {
                "partner_id": self.customer.id,
                "move_ids": [Command.set(coming.ids)],
                "reason_id": reason.id,
                "description": "The price is not the one agreed.",
            }
        )
        self.env["collection.interaction"].with_user(self.collector).create(
            {"partner_id": self.customer.id, "channel": "call", "outcome": "no_answer"}
        )
        self.make_reminder(overdue, today)

    def test_collector_opens_every_menu(self):
        self.start_tour("/odoo", "collection_menus_collector_tour", login=self.collector.login)

    def test_manager_opens_every_menu(self):
        self.start_tour(
            "/odoo", "collection_menus_manager_tour", login=self.collection_manager.login
        )


@tagged("post_install", "-at_install")
class TestCollectionMenusPhoneTour(TestCollectionMenusTour):
    """The same on a 390 px phone: the menus from the app's sidebar, the views from the
    view switcher; the worklist opens on its cards, the first column a stage."""

    browser_size = "390x844"
    touch_enabled = True
    allow_inherited_tests_method = True  # the tours of the desktop class, on a phone
