from datetime import timedelta

from lxml import etree

from odoo import Command
from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, tagged

from .common import TODAY, CollectionCommon, on_day


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionAccess(CollectionCommon):
    """Who may see and do what in collections: a collector works with nothing but
    Collections / User, billing users read, other companies and other employees see
    nothing, and a restricted portfolio hides the other collectors' customers."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.overdue_invoice = cls.invoice(cls.customer, 1000.0, TODAY - timedelta(days=20))
        cls.other_customer = cls.env["res.partner"].create(
            {"name": "Bolt Industries", "is_company": True}
        )
        cls.other_invoice = cls.invoice(cls.other_customer, 400.0, TODAY - timedelta(days=5))
        cls.payment = cls.pay(cls.other_invoice, amount=100.0, pay_date=TODAY - timedelta(days=1))

        cls.billing_user = cls.make_user(
            "billing", "account.group_account_invoice", name="Bea Billing"
        )
        cls.employee = cls.make_user("employee", "base.group_user", name="Eve Employee")
        cls.company_2 = cls.setup_other_company(name="Other Company")["company"]
        cls.manager_2 = cls.make_user(
            "manager_2",
            "account_collection.group_collection_manager",
            cls.company_2,
            name="Otto Other",
        )
        cls.collector_2 = cls.make_user(
            "collector_2", "account_collection.group_collection_user", name="Cody Collector"
        )

        # The book of company 1: one interaction and one promise per customer.
        # Logged by the automatic reminders: facts only, nothing done to the customers.
        Interaction = cls.env["collection.interaction"].sudo()
        Promise = cls.env["collection.promise"]
        cls.interaction = Interaction.create(
            {"partner_id": cls.customer.id, "channel": "call", "outcome": "no_answer"}
        )
        cls.other_interaction = Interaction.create(
            {"partner_id": cls.other_customer.id, "channel": "email", "outcome": "sent"}
        )
        cls.promise = Promise.create(
            {
                "partner_id": cls.customer.id,
                "amount": 500.0,
                "date": TODAY + timedelta(days=7),
                "move_ids": [Command.set(cls.overdue_invoice.ids)],
            }
        )
        cls.other_promise = Promise.create(
            {
                "partner_id": cls.other_customer.id,
                "amount": 100.0,
                "date": TODAY + timedelta(days=3),
            }
        )

    # ------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------

    def _field_nodes(self, node):
        """The field nodes of a view level, not those of the x2many sub-views."""
        for child in node.iterchildren(tag=etree.Element):
            if child.tag == "field":
                yield child
            else:
                yield from self._field_nodes(child)

    def _spec_from_arch(self, node, models, model_name):
        """The web_read specification the web client builds for the fields of a view."""
        model_fields = models[model_name]["fields"]
        spec = {}
        for field_node in self._field_nodes(node):
            fname = field_node.get("name")
            field = model_fields[fname]
            if field["type"] == "many2one":
                spec[fname] = {"fields": {"display_name": {}}}
            elif field["type"] in ("one2many", "many2many"):
                sub_spec = {"display_name": {}}
                for sub_view in field_node.iterchildren("list", "form", "kanban"):
                    sub_spec.update(self._spec_from_arch(sub_view, models, field["relation"]))
                spec[fname] = {"fields": sub_spec}
            else:
                spec[fname] = {}
        return spec

    def _open_as_web_client(self, records, view_xmlid, view_type="form"):
        """Load a view and read its records the way the web client does."""
        view = self.env.ref(view_xmlid)
        result = records.get_views([(view.id, view_type)])
        arch = etree.fromstring(result["views"][view_type]["arch"])
        spec = self._spec_from_arch(arch, result["models"], records._name)
        return spec, records.web_read(spec)

    # ------------------------------------------------------------------
    # The collector's day with Collections / User alone
    # ------------------------------------------------------------------

    def test_collector_has_only_the_collections_group(self):
        self.assertFalse(self.collector.has_group("account.group_account_invoice"))
        self.assertFalse(self.collector.has_group("account.group_account_readonly"))
        self.assertFalse(self.collector.has_group("account_collection.group_collection_manager"))
        self.assertTrue(self.collector.has_group("account_collection.group_collection_user"))

    def test_collector_reads_customer_form(self):
        customer = self.customer.with_user(self.collector)
        spec, [values] = self._open_as_web_client(customer, "base.view_partner_form")
        self.assertIn("collection_overdue_amount", spec, "the Collections tab is shown")
        self.assertEqual(values["collection_overdue_amount"], 1000.0)
        self.assertEqual(values["collection_days_overdue"], 20)
        self.assertEqual(len(values["collection_interaction_ids"]), 1)
        self.assertEqual(values["collection_promise_ids"][0]["amount"], 500.0)

    def test_collector_reads_invoice_form(self):
        invoice = self.overdue_invoice.with_user(self.collector)
        spec, [values] = self._open_as_web_client(invoice, "account.view_move_form")
        self.assertIn("invoice_line_ids", spec)
        self.assertIn("collection_days_overdue", spec)
        self.assertEqual(values["name"], self.overdue_invoice.name)
        self.assertEqual(values["amount_residual"], 1000.0)
        self.assertEqual(values["collection_days_overdue"], 20)
        self.assertEqual(values["collection_open_promise_id"]["id"], self.promise.id)
        self.assertEqual(values["invoice_line_ids"][0]["price_unit"], 1000.0)

    def test_collector_reads_invoice_payments(self):
        invoice = self.other_invoice.with_user(self.collector)
        self.assertEqual(invoice.amount_residual, 300.0)
        self.assertEqual(invoice.payment_state, "partial")
        payment = self.payment.with_user(self.collector)
        spec, [values] = self._open_as_web_client(payment, "account.view_account_payment_form")
        self.assertIn("amount", spec)
        self.assertEqual(values["amount"], 100.0)
        self.assertEqual(values["partner_id"]["id"], self.other_customer.id)

    def test_collector_opens_worklist(self):
        Partner = self.env["res.partner"].with_user(self.collector)
        action = Partner.action_collection_worklist()
        self.assertEqual(action["res_model"], "res.partner")
        list_view = self.env.ref("account_collection.res_partner_view_list_collection")
        views = Partner.get_views([(list_view.id, "list")])
        arch = etree.fromstring(views["views"]["list"]["arch"])
        spec = self._spec_from_arch(arch, views["models"], "res.partner")
        self.assertIn("collection_priority", spec)
        result = Partner.web_search_read(action["domain"], spec, order="collection_priority desc")
        rows = {row["id"]: row for row in result["records"]}
        self.assertIn(self.customer.id, rows)
        self.assertIn(self.other_customer.id, rows)
        self.assertEqual(result["records"][0]["id"], self.customer.id, "highest priority first")
        self.assertEqual(rows[self.customer.id]["collection_overdue_amount"], 1000.0)
        self.assertEqual(rows[self.other_customer.id]["collection_due_amount"], 300.0)

    def test_collector_logs_interaction_with_promise(self):
        self.other_customer.collection_status = "negotiating"
        wizard_form = Form(
            self.env["collection.interaction.log"]
            .with_user(self.collector)
            .with_context(default_partner_id=self.other_customer.id)
        )
        wizard_form.channel = "call"
        wizard_form.outcome = "promise"
        self.assertTrue(wizard_form.promise, "a promise outcome ticks the promise")
        wizard_form.move_ids.add(self.other_invoice)
        wizard_form.promise_amount = 300.0
        wizard_form.promise_date = TODAY + timedelta(days=10)
        wizard_form.next_action_date = TODAY + timedelta(days=11)
        wizard_form.note = "Will pay the balance next week."
        wizard_form.save().action_confirm()

        partner = self.other_customer
        interaction = partner.collection_interaction_ids.filtered(lambda i: i.outcome == "promise")
        self.assertEqual(len(interaction), 1)
        self.assertEqual(interaction.user_id, self.collector)
        self.assertEqual(interaction.overdue_amount, 300.0)
        self.assertEqual(interaction.status_before, "negotiating")
        self.assertEqual(interaction.status_after, "paying")
        promise = interaction.promise_id
        self.assertEqual(promise.amount, 300.0)
        self.assertEqual(promise.move_ids, self.other_invoice)
        self.assertEqual(promise.user_id, self.collector)
        self.assertEqual(partner.collection_status, "paying")
        self.assertEqual(partner.collection_next_action_date, TODAY + timedelta(days=11))
        self.assertEqual(partner.collection_user_id, self.collector)
        follow_up = self.env.ref("account_collection.mail_activity_type_collection_follow_up")
        activity = partner.activity_ids.filtered(lambda a: a.activity_type_id == follow_up)
        self.assertEqual(activity.user_id, self.collector)
        self.assertEqual(activity.date_deadline, TODAY + timedelta(days=11))
        summary = self.env["mail.message"].search(
            [
                ("model", "=", "res.partner"),
                ("res_id", "=", partner.id),
                ("body", "ilike", "Will pay the balance next week."),
            ]
        )
        self.assertEqual(len(summary), 1, "the interaction is posted on the customer's chatter")
        self.assertEqual(summary.author_id, self.collector.partner_id)
        self.assertEqual(summary.subtype_id, self.env.ref("mail.mt_note"))

    def test_collector_creates_promise(self):
        self.other_customer.collection_status = "negotiating"
        messages_before = self.other_customer.message_ids
        promise = (
            self.env["collection.promise"]
            .with_user(self.collector)
            .create(
                {
                    "partner_id": self.other_customer.id,
                    "amount": 300.0,
                    "date": TODAY + timedelta(days=5),
                    "move_ids": [Command.set(self.other_invoice.ids)],
                }
            )
        )
        self.assertEqual(promise.state, "open")
        self.assertEqual(promise.user_id, self.collector)
        self.assertEqual(self.other_customer.collection_status, "paying")
        note = (self.other_customer.message_ids - messages_before).filtered(
            lambda m: "New promise to pay" in m.body
        )
        self.assertEqual(len(note), 1, "the promise is noted on the customer's chatter")
        self.assertEqual(note.author_id, self.collector.partner_id)

    # ------------------------------------------------------------------
    # Other users
    # ------------------------------------------------------------------

    def test_billing_user_reads_but_does_not_log(self):
        Interaction = self.env["collection.interaction"].with_user(self.billing_user)
        Promise = self.env["collection.promise"].with_user(self.billing_user)
        self.assertEqual(
            Interaction.search([("partner_id", "=", self.customer.id)]), self.interaction
        )
        self.assertEqual(self.interaction.with_user(self.billing_user).overdue_amount, 1000.0)
        self.assertEqual(Promise.search([("partner_id", "=", self.customer.id)]), self.promise)
        self.assertEqual(self.promise.with_user(self.billing_user).amount, 500.0)
        customer = self.customer.with_user(self.billing_user)
        self.assertEqual(customer.collection_interaction_count, 1)
        self.assertEqual(customer.collection_open_promise_count, 1)
        with self.assertRaises(AccessError):
            Interaction.create({"partner_id": self.customer.id, "channel": "call"})
        with self.assertRaises(AccessError):
            Promise.create(
                {"partner_id": self.customer.id, "amount": 10.0, "date": TODAY + timedelta(days=1)}
            )
        with self.assertRaises(AccessError):
            self.env["collection.interaction.log"].with_user(self.billing_user).create(
                {"partner_id": self.customer.id}
            )

    def test_other_company_sees_nothing(self):
        Interaction = self.env["collection.interaction"].with_user(self.manager_2)
        Promise = self.env["collection.promise"].with_user(self.manager_2)
        own = (
            self.env["collection.interaction"]
            .with_company(self.company_2)
            .create(
                {
                    "partner_id": self.customer.id,
                    "channel": "visit",
                    "company_id": self.company_2.id,
                }
            )
        )
        self.assertEqual(Interaction.search([("partner_id", "=", self.customer.id)]), own)
        self.assertFalse(Promise.search([]))
        with self.assertRaises(AccessError):
            self.interaction.with_user(self.manager_2).read(["overdue_amount"])
        with self.assertRaises(AccessError):
            self.promise.with_user(self.manager_2).read(["amount"])

    def test_user_without_collections_group(self):
        with self.assertRaises(AccessError):
            self.env["collection.interaction"].with_user(self.employee).search([])
        with self.assertRaises(AccessError):
            self.interaction.with_user(self.employee).read(["note"])
        with self.assertRaises(AccessError):
            self.env["collection.promise"].with_user(self.employee).search([])
        with self.assertRaises(AccessError):
            self.promise.with_user(self.employee).read(["amount"])
        with self.assertRaises(AccessError):
            self.env["collection.interaction.log"].with_user(self.employee).create(
                {"partner_id": self.customer.id, "channel": "call", "outcome": "contacted"}
            )
        # The contact itself stays readable, without the collection data.
        self.assertEqual(self.customer.with_user(self.employee).name, "Acme Customer")

    def test_user_without_collections_group_cannot_confirm_wizard(self):
        wizard = self.env["collection.interaction.log"].create(
            {"partner_id": self.customer.id, "channel": "call", "outcome": "contacted"}
        )
        with self.assertRaises(UserError):
            wizard.with_user(self.employee).action_confirm()
        self.assertEqual(self.customer.collection_interaction_ids, self.interaction)

    # ------------------------------------------------------------------
    # Portfolio
    # ------------------------------------------------------------------

    def _restrict_portfolios(self):
        self.customer.with_company(self.company).collection_user_id = self.collector
        self.other_customer.with_company(self.company).collection_user_id = self.collector_2
        self.company.collection_portfolio_restricted = True

    def test_portfolio_open_by_default(self):
        self.customer.with_company(self.company).collection_user_id = self.collector
        self.other_customer.with_company(self.company).collection_user_id = self.collector_2
        Interaction = self.env["collection.interaction"].with_user(self.collector)
        partners = self.customer | self.other_customer
        self.assertEqual(
            Interaction.search([("partner_id", "in", partners.ids)]),
            self.interaction | self.other_interaction,
        )
        action = self.env["res.partner"].with_user(self.collector).action_collection_worklist()
        worklist = self.env["res.partner"].with_user(self.collector).search(action["domain"])
        self.assertIn(self.other_customer, worklist)

    def test_portfolio_restricted_collector(self):
        self._restrict_portfolios()
        Interaction = self.env["collection.interaction"].with_user(self.collector)
        Promise = self.env["collection.promise"].with_user(self.collector)
        partners = self.customer | self.other_customer
        self.assertEqual(Interaction.search([("partner_id", "in", partners.ids)]), self.interaction)
        self.assertEqual(Promise.search([("partner_id", "in", partners.ids)]), self.promise)
        with self.assertRaises(AccessError):
            self.other_interaction.with_user(self.collector).read(["note"])
        with self.assertRaises(AccessError):
            self.other_promise.with_user(self.collector).read(["amount"])

        Partner = self.env["res.partner"].with_user(self.collector)
        action = Partner.action_collection_worklist()
        worklist = Partner.search(action["domain"])
        self.assertIn(self.customer, worklist)
        self.assertNotIn(self.other_customer, worklist)

    def test_portfolio_restricted_manager_sees_all(self):
        self._restrict_portfolios()
        Interaction = self.env["collection.interaction"].with_user(self.collection_manager)
        Promise = self.env["collection.promise"].with_user(self.collection_manager)
        partners = self.customer | self.other_customer
        self.assertEqual(
            Interaction.search([("partner_id", "in", partners.ids)]),
            self.interaction | self.other_interaction,
        )
        self.assertEqual(
            Promise.search([("partner_id", "in", partners.ids)]), self.promise | self.other_promise
        )
        Partner = self.env["res.partner"].with_user(self.collection_manager)
        worklist = Partner.search(Partner.action_collection_worklist()["domain"])
        self.assertIn(self.other_customer, worklist)
        self.assertIn(self.customer, worklist)

    def test_accounting_manager_is_collection_manager(self):
        accountant = self.make_user("chief_accountant", "account.group_account_manager")
        self.assertTrue(accountant.has_group("account_collection.group_collection_manager"))
        self.interaction.with_user(accountant).active = False
        self.assertFalse(self.interaction.active)
