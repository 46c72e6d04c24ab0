from datetime import date

from odoo import Command
from odoo.exceptions import ValidationError
from odoo.tests import tagged

from .common import TODAY, CollectionCommon, day, on_day


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionStatusWords(CollectionCommon):
    """A customer's status says what its records say: *Paying* after a promise to pay,
    *In Payment Agreement* only under an active payment agreement, *In Dispute* only
    with an open dispute."""

    def status(self, partner=None):
        return (partner or self.customer).with_company(self.company).collection_status

    def log(self, values):
        return (
            self.env["collection.interaction.log"]
            .with_user(self.collector)
            .create({"partner_id": self.customer.id, "channel": "call", **values})
        )

    def log_promise(self, invoice, amount):
        wizard = self.log(
            {
                "outcome": "promise",
                "promise": True,
                "promise_amount": amount,
                "promise_date": day(5),
                "move_ids": [Command.set(invoice.ids)],
            }
        )
        self.assertEqual(wizard.status_after, "paying")
        wizard.action_confirm()

    def start_agreement(self, invoice):
        agreement = (
            self.env["collection.agreement"]
            .with_user(self.collector)
            .create(
                {
                    "partner_id": self.customer.id,
                    "move_ids": [Command.set(invoice.ids)],
                    "instalment_count": 2,
                    "date_first": date(2026, 4, 16),
                }
            )
        )
        agreement.action_activate()
        return agreement

    def test_promise_sets_paying(self):
        invoice = self.invoice(self.customer, 1000.0, day(-15))
        self.log_promise(invoice, 600.0)
        self.assertEqual(self.status(), "paying")
        promise = self.customer.with_user(self.collector).collection_promise_ids
        self.assertEqual(promise.interaction_ids.status_after, "paying")

    def test_promise_recorded_directly_sets_paying(self):
        invoice = self.invoice(self.customer, 1000.0, day(-15))
        self.env["collection.promise"].with_user(self.collector).create(
            {
                "partner_id": self.customer.id,
                "amount": 1000.0,
                "date": day(3),
                "move_ids": [Command.set(invoice.ids)],
            }
        )
        self.assertEqual(self.status(), "paying")

    def test_agreement_sets_in_payment_agreement_and_a_promise_keeps_it(self):
        first = self.invoice(self.customer, 1000.0, day(-15))
        second = self.invoice(self.customer, 500.0, day(-5))
        self.start_agreement(first)
        self.assertEqual(self.status(), "agreement")
        # A promise on another invoice while the agreement runs: still in an agreement.
        wizard = self.log(
            {
                "outcome": "promise",
                "promise": True,
                "promise_amount": 500.0,
                "promise_date": day(5),
                "move_ids": [Command.set(second.ids)],
            }
        )
        self.assertEqual(wizard.status_after, "agreement")
        wizard.action_confirm()
        self.assertEqual(self.status(), "agreement")

    def test_log_claims_no_dispute_without_a_dispute(self):
        self.invoice(self.customer, 1000.0, day(-15))
        wizard = self.log({"outcome": "contacted"})
        # A conversation does not make a dispute: the status stays until one is opened.
        self.assertEqual(wizard.status_after, "current")
        wizard.status_after = "dispute"
        with self.assertRaisesRegex(ValidationError, "no open dispute"):
            wizard.action_confirm()
        self.assertEqual(self.status(), "current")
        self.assertFalse(self.customer.with_user(self.collector).collection_interaction_ids)

    def test_log_claims_no_agreement_without_an_agreement(self):
        self.invoice(self.customer, 1000.0, day(-15))
        wizard = self.log({"outcome": "contacted", "status_after": "agreement"})
        with self.assertRaisesRegex(ValidationError, "no active payment agreement"):
            wizard.action_confirm()
        self.assertEqual(self.status(), "current")

    def test_log_keeps_dispute_while_a_dispute_is_open(self):
        invoice = self.invoice(self.customer, 1000.0, day(-15))
        self.env["collection.dispute"].with_user(self.collector).create(
            {
                "partner_id": self.customer.id,
                "move_ids": [Command.set(invoice.ids)],
                "reason_id": self.env.ref(
                    "account_collection.collection_dispute_reason_wrong_price"
                ).id,
            }
        )
        self.assertEqual(self.status(), "dispute")
        # A call while the dispute is open keeps the customer in dispute.
        wizard = self.log({"outcome": "contacted"})
        self.assertEqual(wizard.status_after, "dispute")
        wizard.action_confirm()
        self.assertEqual(self.status(), "dispute")

    def test_reminder_level_sets_no_dispute_or_agreement(self):
        statuses = dict(
            self.env["collection.level"]._fields["status"]._description_selection(self.env)
        )
        self.assertNotIn("dispute", statuses)
        self.assertNotIn("agreement", statuses)
        self.assertIn("negotiating", statuses)
