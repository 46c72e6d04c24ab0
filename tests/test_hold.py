from lxml import etree

from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, HttpCase, get_db_name, tagged
from odoo.tools import mute_logger

from .common import TODAY, CollectionCommon, DunningCadenceCommon, at, day, on_day


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionHold(DunningCadenceCommon):
    """One invoice held from its form or the invoice list: Odoo's own "No follow-up"
    on its receivable lines, with a reason and an optional end, logged on the customer,
    released by hand or on its day."""

    def hold(self, moves, reason, until=False, user=None):
        action = moves.with_user(user or self.collector).action_collection_hold()
        wizard = Form(
            self.env[action["res_model"]]
            .with_user(user or self.collector)
            .with_context(action["context"])
        )
        wizard.reason = reason
        if until:
            wizard.until = until
        return wizard.save().action_confirm()

    def interactions(self, partner):
        return self.env["collection.interaction"].search(
            [("partner_id", "=", partner.id)], order="id"
        )

    def receivable_lines(self, move):
        return move.line_ids.filtered(lambda line: line.account_type == "asset_receivable")

    def test_held_invoice_gets_no_reminder_until_its_day(self):
        held = self.invoice(self.customer, 1000.0, day(-12))
        other = self.invoice(self.customer, 300.0, day(-12))
        self.hold(held, "Waits for a credit note", until=day(10))

        self.assertEqual(self.receivable_lines(held).mapped("no_followup"), [True])
        self.assertFalse(self.receivable_lines(other).no_followup)
        self.assertRecordValues(held, [{"collection_hold_reason": "Waits for a credit note"}])
        self.assertEqual(held.collection_hold_until, day(10))
        logged = self.interactions(self.customer)
        self.assertEqual(len(logged), 1)
        self.assertEqual(logged.user_id, self.collector)
        self.assertEqual(logged.move_ids, held)
        self.assertIn("Reminders held until Mar 26: Waits for a credit note", logged.note)

        self.run_dunning(day(0))
        self.assertEqual(self.reminders(self.customer).move_ids, other)

        # The day after its end, the daily job releases it, and says so.
        self.run_cron(
            self.env.ref("account_collection.ir_cron_collection_release_holds"), at(10, 23)
        )
        self.assertTrue(held.collection_hold_until)
        self.run_cron(
            self.env.ref("account_collection.ir_cron_collection_release_holds"), at(11, 6)
        )
        held.invalidate_recordset()
        self.assertFalse(self.receivable_lines(held).no_followup)
        self.assertFalse(held.collection_hold_reason)
        self.assertFalse(held.collection_hold_until)
        released = self.interactions(self.customer)[1:]
        self.assertTrue(released.automatic)
        self.assertIn("Hold ended on Mar 26", released.note)
        self.run_dunning(day(11))
        self.assertIn(held, self.reminders(self.customer).move_ids)

    def test_hold_many_from_the_list_and_release(self):
        arch = etree.fromstring(
            self.env["account.move"]
            .with_user(self.collector)
            .get_views([(self.env.ref("account.view_out_invoice_tree").id, "list")])["views"][
                "list"
            ]["arch"]
        )
        self.assertTrue(arch.xpath("//header/button[@name='action_collection_hold']"))
        first = self.invoice(self.customer, 1000.0, day(-12))
        second = self.invoice(self.customer, 300.0, day(-5))
        self.hold(first | second, "Customer's audit")
        self.assertEqual(
            (first | second).mapped("collection_hold_reason"), ["Customer's audit"] * 2
        )
        self.assertFalse(first.collection_hold_until)
        self.run_dunning(day(0))
        self.assertFalse(self.reminders(self.customer))

        (first | second).with_user(self.collector).action_collection_release_hold()
        self.assertFalse(self.receivable_lines(first | second).filtered("no_followup"))
        self.assertFalse((first | second).filtered("collection_hold_reason"))
        released = self.interactions(self.customer)[1:]
        self.assertEqual(released.user_id, self.collector)
        self.assertEqual(released.move_ids, first | second)
        for interaction in released:
            self.assertIn("Hold released by Carla Collector (Customer's audit)", interaction.note)
        self.run_dunning(day(1))
        self.assertEqual(self.reminders(self.customer).move_ids, first | second)

    def test_billing_user_holds_any_invoice(self):
        invoice = self.invoice(self.customer, 1000.0, day(-12))
        self.company.collection_portfolio_restricted = True
        billing = self.make_user("billing", "account.group_account_invoice")
        self.hold(invoice, "Duplicate of another invoice", user=billing)
        self.assertTrue(self.receivable_lines(invoice).no_followup)
        self.assertEqual(self.interactions(self.customer).user_id, billing)
        invoice.with_user(billing).action_collection_release_hold()
        self.assertFalse(self.receivable_lines(invoice).no_followup)

    def test_hold_refuses_bad_input_and_other_portfolios(self):
        invoice = self.invoice(self.customer, 1000.0, day(-12))
        draft = self.invoice(self.customer, 500.0, day(-12), post=False)
        for moves, reason, until, message in [
            (invoice, "  ", False, "Say why"),
            (invoice, "Audit", day(-1), "later than today"),
            (invoice, "Audit", day(0), "later than today"),
            (draft, "Audit", False, "posted customer invoices"),
        ]:
            with (
                self.subTest(reason=reason, until=until),
                self.assertRaisesRegex(UserError, message),
            ):
                moves.with_user(self.collector)._collection_hold(reason, until)
        # A collector restricted to a portfolio holds none of another's invoices, not
        # even by calling the method itself.
        self.company.collection_portfolio_restricted = True
        other = self.make_user("other_collector", "account_collection.group_collection_user")
        with self.assertRaises(AccessError):
            invoice.with_user(other)._collection_hold("Mine now", False)
        with self.assertRaises(AccessError):
            self.hold(invoice, "Mine now", user=other)
        employee = self.make_user("employee", "base.group_user")
        with self.assertRaises(AccessError):
            invoice.with_user(employee)._collection_hold("Mine now", False)
        self.assertFalse(self.receivable_lines(invoice).no_followup)
        self.assertFalse(invoice.collection_hold_reason)
        self.assertFalse(self.interactions(self.customer))
        # The reason and the end are written by holding, not typed on the invoice.
        with self.assertRaises(UserError):
            invoice.with_user(self.collector).write({"collection_hold_reason": "Typed"})


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionWorklistEdit(DunningCadenceCommon):
    """Collectors set the policy, the exclusion and the stage of the customers of their
    portfolio from the worklist, several at once."""

    def test_collector_sets_policy_exclusion_and_stage_of_many(self):
        arch = etree.fromstring(
            self.env["res.partner"]
            .with_user(self.collector)
            .get_views(
                [(self.env.ref("account_collection.res_partner_view_list_collection").id, "list")]
            )["views"]["list"]["arch"]
        )
        self.assertEqual(arch.get("multi_edit"), "1")
        for fname in ("collection_policy_id", "collection_excluded", "collection_stage_id"):
            field = arch.find(f"field[@name='{fname}']")
            self.assertIsNotNone(field, fname)
            self.assertNotIn(field.get("readonly"), ("1", "True"), fname)

        second = self.make_customer("Second Customer")
        customers = (self.customer | second).with_company(self.company)
        soft = self.policy.copy({"name": "Soft reminders"})
        # The worklist's multi-edit saves each selected row with the same values.
        values = {
            "collection_policy_id": soft.id,
            "collection_excluded": True,
            "collection_stage_id": self.stage_delinquent.id,
        }
        customers.with_user(self.collector).web_save_multi([values, values], {})
        for customer in customers:
            self.assertRecordValues(
                customer,
                [
                    {
                        "collection_policy_id": soft.id,
                        "collection_excluded": True,
                        "collection_stage_id": self.stage_delinquent.id,
                    }
                ],
            )
        # What else a customer is stays the contact managers' to write.
        with self.assertRaises(AccessError):
            self.customer.with_user(self.collector).write({"name": "Renamed"})
        with self.assertRaises(AccessError):
            self.customer.with_user(self.collector).write(
                {"collection_stage_id": self.stage_legal.id, "name": "Renamed"}
            )
        self.assertEqual(self.customer.name, "Acme Customer")

    def test_restricted_collector_cannot_edit_another_portfolio(self):
        """The attack: a collector restricted to a portfolio sends the worklist's save
        for a customer of another collector."""
        self.company.collection_portfolio_restricted = True
        stranger = self.make_customer("Stranger Customer")
        other = self.make_user("other_collector", "account_collection.group_collection_user")
        stranger.with_company(self.company).collection_user_id = other
        before = stranger.with_company(self.company).collection_stage_id
        for values in [
            {"collection_stage_id": self.stage_legal.id},
            {"collection_excluded": True},
            {"collection_policy_id": False},
        ]:
            with self.subTest(values=values), self.assertRaises(AccessError):
                stranger.with_user(self.collector).web_save_multi([values], {})
        with self.assertRaises(AccessError):
            (self.customer | stranger).with_user(self.collector).write(
                {"collection_excluded": True}
            )
        stranger.invalidate_recordset()
        self.customer.invalidate_recordset()
        self.assertEqual(stranger.with_company(self.company).collection_stage_id, before)
        self.assertFalse(stranger.with_company(self.company).collection_excluded)
        self.assertFalse(self.customer.with_company(self.company).collection_excluded)
        # A policy of another company is refused too.
        company_2 = self.setup_other_company(name="Elsewhere")["company"]
        foreign = self.env["collection.policy"].create(
            {"name": "Elsewhere", "company_id": company_2.id}
        )
        with self.assertRaises(AccessError):
            self.customer.with_user(self.collector).write({"collection_policy_id": foreign.id})


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionHoldOverApi(CollectionCommon, HttpCase):
    """The attacks over JSON-2: a collector restricted to a portfolio writes the stage of
    another collector's customer, or holds one of its invoices."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company.collection_portfolio_restricted = True
        cls.other = cls.make_user("other_collector", "account_collection.group_collection_user")
        cls.customer.with_company(cls.company).collection_user_id = cls.other
        cls.customer_invoice = cls.invoice(cls.customer, 1000.0, day(-12))
        cls.legal = cls.env.ref("account_collection.collection_stage_legal")

    def json2(self, model, method, **params):
        """POST /json/2/<model>/<method> with the restricted collector's API key."""
        # sudo: a key without expiry (the database clock is not the frozen one).
        key = (
            self.env["res.users.apikeys"]
            .with_user(self.collector)
            .sudo()
            ._generate(scope="rpc", name="integration", expiration_date=None)
        )
        with mute_logger("odoo.http"):
            return self.url_open(
                f"/json/2/{model}/{method}",
                json=params,
                headers={"Authorization": f"Bearer {key}", "X-Odoo-Database": get_db_name()},
            )

    def test_stage_of_another_portfolio_is_refused(self):
        response = self.json2(
            "res.partner",
            "write",
            ids=self.customer.ids,
            vals={"collection_stage_id": self.legal.id, "collection_excluded": True},
        )
        self.assertNotEqual(response.status_code, 200)
        self.assertIn("another collector's portfolio", response.text)
        customer = self.customer.with_company(self.company)
        self.assertNotEqual(customer.collection_stage_id, self.legal)
        self.assertFalse(customer.collection_excluded)

    def test_hold_of_another_portfolio_is_refused(self):
        response = self.json2(
            "collection.invoice.hold",
            "create",
            vals_list=[{"move_ids": self.customer_invoice.ids, "reason": "Mine now"}],
        )
        if response.status_code == 200:
            # The dialog may be created (the invoices readable): confirming it is refused.
            response = self.json2("collection.invoice.hold", "action_confirm", ids=response.json())
            self.assertIn("another collector's portfolio", response.text)
        self.assertEqual(response.status_code, 403, response.text)
        self.assertFalse(self.customer_invoice.line_ids.filtered("no_followup"))
        self.assertFalse(self.customer_invoice.collection_hold_reason)
