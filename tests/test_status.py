from datetime import date

from odoo import Command
from odoo.exceptions import ValidationError
from odoo.tests import tagged

from .common import TODAY, CollectionCommon, DunningCommon, day, on_day


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


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionStatusOverdue(DunningCommon):
    """A customer with overdue debt nobody has worked yet reads *Overdue*, not
    *Current*: *Current* means nothing is overdue. The daily run marks them; a payment
    that settles the debt brings them back."""

    def status(self, partner=None):
        return (partner or self.customer).with_company(self.company).collection_status

    def test_overdue_customer_nobody_worked_reads_overdue(self):
        on_time = self.env["res.partner"].create({"name": "On Time", "is_company": True})
        late = self.invoice(self.customer, 1000.0, day(-15))
        self.invoice(on_time, 500.0, day(10))
        self.run_dunning()
        self.assertEqual(self.status(), "overdue")
        self.assertEqual(self.status(on_time), "current")
        labels = dict(
            self.env["res.partner"]._fields["collection_status"]._description_selection(self.env)
        )
        self.assertEqual(labels["overdue"], "Overdue")
        self.assertEqual(labels["current"], "Current")
        # The change is on the customer's chatter, as every change of the status.
        tracked = self.customer.message_ids.sudo().tracking_value_ids.filtered(
            lambda t: t.field_id.name == "collection_status"
        )
        self.assertIn("Overdue", tracked.mapped("new_value_char"))
        # Paid: nothing overdue any more, current again.
        self.pay(late)
        self.assertEqual(self.status(), "current")

    def test_worked_customer_keeps_its_status(self):
        self.invoice(self.customer, 1000.0, day(-15))
        self.customer.with_company(self.company).collection_status = "refusal"
        self.run_dunning()
        self.assertEqual(self.status(), "refusal")

    def test_overdue_customer_settled_by_a_credit_note_reads_current(self):
        late = self.invoice(self.customer, 1000.0, day(-15))
        self.run_dunning()
        self.assertEqual(self.status(), "overdue")
        # A credit note reverses the invoice: the next run sees nothing overdue.
        self.env["account.move.reversal"].with_context(
            active_model="account.move", active_ids=late.ids
        ).create({"journal_id": late.journal_id.id}).refund_moves()
        credit = late.reversal_move_ids
        credit.action_post()
        self.run_dunning(day(1))
        self.assertEqual(self.status(), "current")

    def test_dispute_resolved_returns_to_overdue(self):
        invoice = self.invoice(self.customer, 1000.0, day(-15))
        self.run_dunning()
        dispute = (
            self.env["collection.dispute"]
            .with_user(self.collector)
            .create(
                {
                    "partner_id": self.customer.id,
                    "move_ids": [Command.set(invoice.ids)],
                    "reason_id": self.env.ref(
                        "account_collection.collection_dispute_reason_wrong_price"
                    ).id,
                }
            )
        )
        self.assertEqual(self.status(), "dispute")
        self.assertEqual(dispute.status_before, "overdue")
        dispute.write({"resolution": "rejected", "resolution_note": "Price as agreed."})
        dispute.action_resolve()
        # Resolved with the debt still overdue: back to what it was, overdue.
        self.assertEqual(self.status(), "overdue")

    def test_the_daily_runs_notes_are_in_the_companys_language(self):
        """What the engine writes on a customer's chatter (the change of status) is in
        the company's language, not in the language of the scheduler's user."""
        self.env["res.lang"]._activate_lang("es_ES")
        self.env["ir.module.module"]._load_module_terms(
            ["account_collection"], ["es_ES"], overwrite=True
        )
        self.company.partner_id.lang = "es_ES"
        self.assertEqual(self.dunning_cron.user_id.lang, "en_US")
        self.invoice(self.customer, 1000.0, day(-15))
        self.run_dunning()
        tracked = self.customer.message_ids.sudo().tracking_value_ids.filtered(
            lambda t: t.field_id.name == "collection_status"
        )
        self.assertEqual(tracked.mapped("new_value_char"), ["Vencido"])
        self.assertEqual(tracked.mapped("old_value_char"), ["Al corriente"])
