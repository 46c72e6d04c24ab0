from odoo import Command
from odoo.exceptions import ValidationError
from odoo.tests import tagged

from .common import TODAY, CollectionCommon, day, on_day


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionPromise(CollectionCommon):
    """A promise to pay follows the ledger: payments reconciled with its invoices after
    it was made keep it; the daily check closes it as partly kept or broken once the
    grace period has passed, and the customer's status follows."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.broken_type = cls.env.ref("account_collection.mail_activity_type_broken_promise")
        cls.cron = cls.env.ref("account_collection.ir_cron_collection_evaluate_promises")

    def evaluate_on(self, date):
        """The daily check runs on ``date``."""
        with on_day(date), self.enter_registry_test_mode():
            self.cron.method_direct_trigger()

    def status(self, partner=None):
        return (partner or self.customer).with_company(self.company).collection_status

    def broken_activities(self, partner=None):
        return (partner or self.customer).activity_ids.filtered(
            lambda a: a.activity_type_id == self.broken_type
        )

    def partner_notes(self, text, partner=None):
        return (partner or self.customer).message_ids.filtered(lambda m: text in str(m.body))

    def receivable_line(self, move):
        return move.line_ids.filtered(lambda line: line.account_type == "asset_receivable")

    # ------------------------------------------------------------------

    def test_new_promise_sets_paying(self):
        invoice = self.invoice(self.customer, 1000.0, day(-15))
        self.assertEqual(self.status(), "current")

        promise = self.log_promise(invoice, 600.0, day(5))
        self.assertRecordValues(
            promise,
            [
                {
                    "partner_id": self.customer.id,
                    "amount": 600.0,
                    "date": day(5),
                    "date_made": TODAY,
                    "amount_paid": 0.0,
                    "state": "open",
                    "user_id": self.collector.id,
                    "currency_id": self.company.currency_id.id,
                }
            ],
        )
        self.assertEqual(promise.move_ids, invoice)
        self.assertEqual(invoice.collection_open_promise_id, promise)
        self.assertEqual(self.status(), "paying")
        self.assertEqual(promise.interaction_ids.partner_id, self.customer)

    def test_promise_made_without_a_call_sets_paying(self):
        """Recorded directly (e.g. from the promises list), a promise sets the status too."""
        invoice = self.invoice(self.customer, 1000.0, day(-15))
        Promise = self.env["collection.promise"].with_user(self.collector)
        promise = Promise.create(
            {
                "partner_id": self.customer.id,
                "amount": 1000.0,
                "date": day(3),
                "move_ids": [Command.set(invoice.ids)],
            }
        )
        self.assertEqual(promise.state, "open")
        self.assertEqual(self.status(), "paying")
        self.assertTrue(self.partner_notes("New promise to pay"))

    def test_kept_before_the_date(self):
        invoice = self.invoice(self.customer, 1000.0, day(-15))
        promise = self.log_promise(invoice, 600.0, day(5))

        self.pay_on(2, invoice, 600.0)
        self.assertRecordValues(
            promise, [{"state": "kept", "amount_paid": 600.0, "date_closed": day(2)}]
        )
        # 400 still overdue: the customer is still paying.
        self.assertEqual(self.status(), "paying")
        self.assertFalse(invoice.collection_open_promise_id)

        self.evaluate_on(day(10))
        self.assertEqual(promise.state, "kept")
        self.assertFalse(self.broken_activities())

    def test_kept_within_the_grace_period(self):
        invoice = self.invoice(self.customer, 1000.0, day(-15))
        promise = self.log_promise(invoice, 1000.0, day(5))
        self.evaluate_on(day(6))
        self.assertEqual(promise.state, "open")

        # Grace period of 2 days: paid on the last day of grace still keeps it.
        self.pay_on(7, invoice, 1000.0)
        self.assertRecordValues(
            promise, [{"state": "kept", "amount_paid": 1000.0, "date_closed": day(7)}]
        )
        # Nothing overdue any more.
        self.assertEqual(self.status(), "current")
        self.evaluate_on(day(8))
        self.assertEqual(promise.state, "kept")

    def test_partly_kept_after_the_grace_period(self):
        invoice = self.invoice(self.customer, 1000.0, day(-15))
        promise = self.log_promise(invoice, 600.0, day(5))
        self.pay_on(1, invoice, 200.0)
        self.assertRecordValues(promise, [{"state": "open", "amount_paid": 200.0}])

        self.evaluate_on(day(7))
        self.assertEqual(promise.state, "open")
        self.evaluate_on(day(8))
        self.assertRecordValues(
            promise, [{"state": "partial", "amount_paid": 200.0, "date_closed": day(8)}]
        )
        self.assertEqual(self.status(), "negotiating")
        self.assertTrue(self.partner_notes("Promise partly kept"))
        activity = self.broken_activities()
        self.assertEqual(len(activity), 1)
        self.assertEqual(activity.user_id, self.collector)

    def test_broken_after_the_grace_period(self):
        invoice = self.invoice(self.customer, 1000.0, day(-15))
        promise = self.log_promise(invoice, 600.0, day(5))

        # The promised day and the two days of grace: still open.
        for offset in (5, 6, 7):
            self.evaluate_on(day(offset))
            self.assertEqual(promise.state, "open")
        self.assertEqual(self.status(), "paying")
        self.assertFalse(self.broken_activities())

        self.evaluate_on(day(8))
        self.assertRecordValues(
            promise, [{"state": "broken", "amount_paid": 0.0, "date_closed": day(8)}]
        )
        self.assertEqual(self.status(), "negotiating")
        self.assertTrue(self.partner_notes("Broken promise"))
        activity = self.broken_activities()
        self.assertRecordValues(activity, [{"user_id": self.collector.id, "date_deadline": day(8)}])
        # A second run changes nothing.
        self.evaluate_on(day(9))
        self.assertEqual(len(self.broken_activities()), 1)

        # The customer finally pays everything: nothing overdue, back to current.
        self.pay_on(12, invoice)
        self.assertEqual(promise.state, "broken")
        self.assertEqual(self.status(), "current")

    def test_daily_check_goes_on_past_a_failing_promise(self):
        """A promise whose check fails is left open with the error on its chatter; the
        other promises of the run are closed all the same."""
        failing = self.log_promise(self.invoice(self.customer, 1000.0, day(-15)), 600.0, day(5))
        other = self.log_promise(self.invoice(self.customer, 400.0, day(-15)), 400.0, day(5))
        with self.failing_check(failing, "The ledger of this promise is locked."):
            self.evaluate_on(day(8))
        self.assertEqual(other.state, "broken")
        self.assertEqual(failing.state, "open")
        self.assertTrue(
            failing.message_ids.filtered(
                lambda m: "The ledger of this promise is locked." in str(m.body)
            )
        )
        # The next run, without the failure, closes it.
        self.evaluate_on(day(9))
        self.assertEqual(failing.state, "broken")

    def test_payment_after_the_grace_period_does_not_keep_it(self):
        invoice = self.invoice(self.customer, 1000.0, day(-15))
        promise = self.log_promise(invoice, 600.0, day(5))
        # Paid three days after the grace period, before the daily check ran.
        self.pay_on(10, invoice, 600.0)
        self.assertRecordValues(
            promise, [{"state": "broken", "amount_paid": 0.0, "date_closed": day(10)}]
        )
        self.assertTrue(self.broken_activities())

    def test_payment_in_time_matched_late_keeps_it(self):
        invoice = self.invoice(self.customer, 1000.0, day(-15))
        promise = self.log_promise(invoice, 600.0, day(5))
        # The customer pays on the promised day; the accountant matches it a week later,
        # after the daily check has closed the promise as broken.
        with on_day(day(5)):
            payment = self.customer_payment(self.customer, 600.0, day(5))
        self.evaluate_on(day(8))
        self.assertEqual(promise.state, "broken")
        with on_day(day(12)):
            (self.receivable_line(invoice) + self.receivable_line(payment.move_id)).reconcile()
        self.assertRecordValues(promise, [{"state": "kept", "amount_paid": 600.0}])

    def test_payment_made_before_the_promise_does_not_count(self):
        invoice = self.invoice(self.customer, 1000.0, day(-30))
        self.pay_on(-5, invoice, 300.0)
        # Received two days ago, not matched with the invoice yet.
        payment = self.customer_payment(self.customer, 200.0, day(-2))

        promise = self.log_promise(invoice, 500.0, day(5))
        self.assertEqual(promise.amount_paid, 0.0)

        # Tomorrow the accountant matches the older payment with the invoice.
        with on_day(day(1)):
            invoice.js_assign_outstanding_line(self.receivable_line(payment.move_id).id)
        self.assertEqual(invoice.amount_residual, 500.0)
        self.assertRecordValues(promise, [{"state": "open", "amount_paid": 0.0}])

        self.pay_on(3, invoice, 500.0)
        self.assertRecordValues(promise, [{"state": "kept", "amount_paid": 500.0}])

    def test_status_back_to_current_when_nothing_is_overdue(self):
        overdue = self.invoice(self.customer, 1000.0, day(-20))
        self.invoice(self.customer, 500.0, day(10))
        wizard = (
            self.env["collection.interaction.log"]
            .with_user(self.collector)
            .create({"partner_id": self.customer.id, "channel": "call", "outcome": "refusal"})
        )
        wizard.action_confirm()
        self.assertEqual(self.status(), "refusal")

        self.pay(overdue, 400.0)
        self.assertEqual(self.status(), "refusal")
        # The last overdue invoice is paid; the one not due yet does not matter.
        self.pay(overdue)
        self.assertEqual(self.status(), "current")
        self.assertEqual(self.customer.with_user(self.collector).collection_due_amount, 500.0)

    def test_grace_period_setting_is_honoured(self):
        settings = self.env["res.config.settings"].create({"collection_promise_grace_days": 5})
        settings.execute()
        self.assertEqual(self.company.collection_promise_grace_days, 5)

        invoice = self.invoice(self.customer, 1000.0, day(-15))
        promise = self.log_promise(invoice, 600.0, day(3))
        self.evaluate_on(day(6))
        self.assertEqual(promise.state, "open")
        self.evaluate_on(day(8))
        self.assertEqual(promise.state, "open")
        self.evaluate_on(day(9))
        self.assertEqual(promise.state, "broken")

    def test_promise_at_most_the_longest_promise_ahead(self):
        """A promise is dated at most the company's longest promise (90 days by
        default) after the day it is made: a collector cannot log one for next year."""
        invoice = self.invoice(self.customer, 1000.0, day(-15))
        self.assertEqual(self.company.collection_promise_max_days, 90)
        with self.assertRaises(ValidationError) as caught:
            self.log_promise(invoice, 600.0, day(91))
        self.assertIn("at most 90 days after it is made", str(caught.exception))
        self.assertFalse(self.env["collection.promise"].search([]))
        promise = self.log_promise(invoice, 600.0, day(90))
        with self.assertRaises(ValidationError) as caught:
            promise.with_user(self.collector).date = day(200)
        self.assertIn("at most 90 days after it is made", str(caught.exception))
        self.assertEqual(promise.date, day(90))

        settings = self.env["res.config.settings"].create({"collection_promise_max_days": 365})
        settings.execute()
        self.assertEqual(self.company.collection_promise_max_days, 365)
        promise.with_user(self.collector).date = day(200)
        self.assertEqual(promise.date, day(200))
        with self.assertRaises(ValidationError):
            self.env["res.config.settings"].create({"collection_promise_max_days": 0}).execute()

    def test_far_promise_does_not_break_payments(self):
        """A promise dated at the end of the calendar (made before dates were bounded)
        does not stop payments being registered on its invoice, nor the daily check."""
        invoice = self.invoice(self.customer, 1000.0, day(-15))
        promise = self.log_promise(invoice, 600.0, day(5))
        self.company.collection_promise_grace_days = 30
        promise.flush_recordset()
        self.env.cr.execute(
            "UPDATE collection_promise SET date = '9999-12-31' WHERE id = %s", [promise.id]
        )
        promise.invalidate_recordset()
        self.pay_on(1, invoice, 100.0)
        self.assertRecordValues(promise, [{"state": "open", "amount_paid": 100.0}])
        self.evaluate_on(day(400))
        self.assertEqual(promise.state, "open")
        self.pay_on(2, invoice, 500.0)
        self.assertRecordValues(promise, [{"state": "kept", "amount_paid": 600.0}])

    def test_no_grace_period(self):
        self.company.collection_promise_grace_days = 0
        invoice = self.invoice(self.customer, 1000.0, day(-15))
        promise = self.log_promise(invoice, 600.0, day(3))
        self.evaluate_on(day(3))
        self.assertEqual(promise.state, "open")
        self.evaluate_on(day(4))
        self.assertEqual(promise.state, "broken")

    def test_cancelled_promise_is_not_evaluated(self):
        invoice = self.invoice(self.customer, 1000.0, day(-15))
        promise = self.log_promise(invoice, 600.0, day(3))
        promise.with_user(self.collector).action_cancel()
        self.assertRecordValues(promise, [{"state": "cancelled", "date_closed": TODAY}])
        status = self.status()

        self.evaluate_on(day(10))
        self.pay_on(11, invoice, 600.0)
        self.assertRecordValues(promise, [{"state": "cancelled", "amount_paid": 0.0}])
        self.assertFalse(self.broken_activities())
        self.assertEqual(self.status(), status)

    def test_amount_paid(self):
        promised = self.invoice(self.customer, 1000.0, day(-15))
        other = self.invoice(self.customer, 500.0, day(-15))
        promise = self.log_promise(promised, 800.0, day(10))

        with on_day(day(1)):
            self.pay(promised, 300.0, day(1))
            # A payment of another invoice is not a payment of the promise.
            self.pay(other, 500.0, day(1))
        self.assertRecordValues(promise, [{"state": "open", "amount_paid": 300.0}])

        with on_day(day(2)):
            # A credit note lowers what is owed; it is not money received.
            credit_note = self.invoice(self.customer, 100.0, day(2), move_type="out_refund")
            promised.js_assign_outstanding_line(self.receivable_line(credit_note).id)
        self.assertEqual(promised.amount_residual, 600.0)
        self.assertRecordValues(promise, [{"state": "open", "amount_paid": 300.0}])

        self.pay_on(3, promised, 200.0)
        self.assertRecordValues(promise, [{"state": "open", "amount_paid": 500.0}])
        self.pay_on(4, promised, 300.0)
        self.assertRecordValues(promise, [{"state": "kept", "amount_paid": 800.0}])
        self.assertEqual(promise.with_user(self.collector).amount_paid, 800.0)

    # ------------------------------------------------------------------
    # Promises without invoices: the customer's overdue balance
    # ------------------------------------------------------------------

    def test_promise_without_invoices_kept_by_a_payment_on_account(self):
        """The customer promises to pay what is overdue and sends the money, which the
        accountant has not matched with any invoice yet: the promise is kept."""
        self.invoice(self.customer, 1000.0, day(-15))
        promise = self.log_promise(self.env["account.move"], 600.0, day(5))
        self.assertFalse(promise.move_ids)
        self.assertEqual(self.status(), "paying")

        with on_day(day(2)):
            self.customer_payment(self.customer, 600.0, day(2))
        self.assertRecordValues(
            promise, [{"state": "kept", "amount_paid": 600.0, "date_closed": day(2)}]
        )
        self.evaluate_on(day(10))
        self.assertEqual(promise.state, "kept")
        self.assertFalse(self.broken_activities())

    def test_promise_without_invoices_counts_payments_of_any_invoice(self):
        first = self.invoice(self.customer, 400.0, day(-20))
        second = self.invoice(self.customer, 600.0, day(-10))
        promise = self.log_promise(self.env["account.move"], 800.0, day(5))

        self.pay_on(1, first)
        self.assertRecordValues(promise, [{"state": "open", "amount_paid": 400.0}])
        self.pay_on(3, second, 400.0)
        self.assertRecordValues(promise, [{"state": "kept", "amount_paid": 800.0}])

    def test_promise_without_invoices_partly_kept_or_broken(self):
        self.invoice(self.customer, 1000.0, day(-15))
        # Received before the promise was made: it does not count.
        self.customer_payment(self.customer, 100.0, day(-1))
        partly = self.log_promise(self.env["account.move"], 600.0, day(5))
        other = self.env["res.partner"].create({"name": "Other Customer", "is_company": True})
        self.invoice(other, 500.0, day(-15))
        other.with_company(self.company).collection_user_id = self.collector
        broken = self.log_promise(self.env["account.move"], 500.0, day(5), partner=other)
        self.assertEqual(broken.partner_id, other)
        with on_day(day(2)):
            self.customer_payment(self.customer, 200.0, day(2))
            # Another customer's money is not this customer's.
            self.customer_payment(self.env["res.partner"].create({"name": "Third"}), 900.0)
        self.assertRecordValues(partly, [{"state": "open", "amount_paid": 200.0}])

        self.evaluate_on(day(8))
        self.assertRecordValues(
            partly + broken,
            [
                {"state": "partial", "amount_paid": 200.0},
                {"state": "broken", "amount_paid": 0.0},
            ],
        )

    def test_cancelled_payment_reopens_a_kept_promise_without_invoices(self):
        self.invoice(self.customer, 1000.0, day(-15))
        promise = self.log_promise(self.env["account.move"], 600.0, day(5))
        with on_day(day(1)):
            payment = self.customer_payment(self.customer, 600.0, day(1))
        self.assertEqual(promise.state, "kept")

        # The transfer bounced: the accountant cancels the payment.
        with on_day(day(2)):
            payment.action_draft()
            payment.action_cancel()
        self.assertRecordValues(
            promise, [{"state": "open", "amount_paid": 0.0, "date_closed": False}]
        )
        self.assertEqual(self.status(), "paying")
        self.evaluate_on(day(8))
        self.assertEqual(promise.state, "broken")

    def test_unmatching_the_payment_reopens_a_kept_promise(self):
        invoice = self.invoice(self.customer, 1000.0, day(-15))
        other = self.invoice(self.customer, 600.0, day(-15))
        promise = self.log_promise(invoice, 600.0, day(5))
        self.pay_on(2, invoice, 600.0)
        self.assertEqual(promise.state, "kept")
        self.assertEqual(self.status(), "paying")

        # The payment was for the other invoice: the accountant unmatches it.
        with on_day(day(3)):
            self.receivable_line(invoice).remove_move_reconcile()
        self.assertRecordValues(
            promise, [{"state": "open", "amount_paid": 0.0, "date_closed": False}]
        )
        self.assertEqual(self.status(), "paying")
        self.assertTrue(self.partner_notes("Promise open again"))
        self.assertTrue(other)

        # Unmatched after the grace period: broken at once.
        self.pay_on(4, invoice, 600.0)
        self.assertEqual(promise.state, "kept")
        with on_day(day(9)):
            self.receivable_line(invoice).remove_move_reconcile()
        self.assertRecordValues(promise, [{"state": "broken", "amount_paid": 0.0}])
        self.assertTrue(self.broken_activities())

    def test_promise_without_invoices_pauses_the_reminders_of_the_overdue_debt(self):
        self.make_policy("Test reminders", [{"name": "Late", "delay": 5}], mode="automatic")
        overdue = self.invoice(self.customer, 1000.0, day(-15))
        not_due = self.invoice(self.customer, 300.0, day(2))
        self.log_promise(self.env["account.move"], 1000.0, day(10))
        Dunning = self.env["collection.dunning"]

        def reminded(on):
            plan = Dunning._dunning_plan(self.company, on, self.customer.ids)
            return self.env["account.move"].browse(
                sorted(plan.get(self.customer.id, {}).get("moves", {}))
            )

        self.assertEqual(reminded(TODAY), self.env["account.move"])
        # The invoice not due when the promise was made is not covered by it.
        self.assertEqual(reminded(day(8)), not_due)
        self.assertEqual(reminded(day(11)), overdue | not_due)
