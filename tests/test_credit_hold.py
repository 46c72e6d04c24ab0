from odoo.exceptions import UserError
from odoo.tests import tagged

from .common import TODAY, DunningCadenceCommon, day, on_day


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionCreditHold(DunningCadenceCommon):
    """A level of reminders (or a collection manager) puts a customer on credit hold,
    which Odoo's own credit warnings show; the hold is released once nothing is overdue,
    and each change is logged as an interaction."""

    def held(self, customer):
        customer = customer.with_company(self.company).with_user(self.collector)
        customer.invalidate_recordset(["collection_credit_hold"])
        return customer.collection_credit_hold

    def notes(self, customer):
        return (
            self.env["collection.interaction"]
            .search([("partner_id", "=", customer.id), ("channel", "=", "note")], order="id")
            .mapped("note")
        )

    def test_level_puts_on_hold_and_payment_releases(self):
        self.level_late.credit_hold = True
        invoice = self.invoice(self.customer, 1000.0, day(-12))
        self.run_dunning(day(0))
        # Reviewed, not sent yet: no hold.
        self.assertFalse(self.held(self.customer))
        self.reminders().with_user(self.collector).action_approve()
        self.assertTrue(self.held(self.customer))
        self.assertEqual(self.notes(self.customer), ["Put on credit hold by the reminder's level."])

        # Odoo's credit warning on a new invoice says so.
        self.company.account_use_credit_limit = True
        draft = self.invoice(self.customer, 200.0, day(30), post=False)
        self.assertIn("Acme Customer is on credit hold", draft.partner_credit_warning)

        self.pay_on(1, invoice)
        self.assertFalse(self.held(self.customer))
        self.assertEqual(
            self.notes(self.customer)[-1],
            "Released from credit hold: nothing is overdue any more.",
        )
        draft.invalidate_recordset(["partner_credit_warning"])
        self.assertFalse(draft.partner_credit_warning)

    def test_only_managers_put_on_hold_by_hand(self):
        self.invoice(self.customer, 1000.0, day(-12))
        with self.assertRaisesRegex(UserError, "Only collection managers"):
            self.customer.with_user(self.collector).action_collection_credit_hold()
        self.assertFalse(self.held(self.customer))

        self.customer.with_user(self.collection_manager).action_collection_credit_hold()
        self.assertTrue(self.held(self.customer))
        self.assertEqual(self.notes(self.customer), ["Put on credit hold by Manuel Manager."])
        self.customer.with_user(self.collection_manager).action_collection_release_credit_hold()
        self.assertFalse(self.held(self.customer))

    def test_daily_run_releases_a_hold_with_nothing_overdue(self):
        self.invoice(self.customer, 1000.0, day(5))
        self.customer.with_user(self.collection_manager).action_collection_credit_hold()
        self.run_dunning(day(0))
        self.assertFalse(self.held(self.customer))

    def test_suggested_credit_limit_follows_sales_and_risk(self):
        self.invoice(self.customer, 12000.0, day(10))
        customer = self.customer.with_user(self.collector)
        # Three months of the year's sales (12,000 / 12 * 3), risk 0.
        self.assertEqual(customer.collection_suggested_credit_limit, 3000.0)
        self.customer.credit_limit = 1000.0
        customer.invalidate_recordset()
        # Twelve times its credit limit: risk 10, 10% less.
        self.assertEqual(customer.collection_risk_score, 10)
        self.assertEqual(customer.collection_suggested_credit_limit, 2700.0)
