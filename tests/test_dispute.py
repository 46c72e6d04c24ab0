from contextlib import contextmanager

from odoo import Command
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import Form, tagged

from .common import TODAY, CollectionCommon, day, on_day


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionDispute(CollectionCommon):
    """A disputed invoice reaches the person who can fix it (the invoice's salesperson,
    a named user, a sales team's leader, else the collector) with an activity and an
    email; its reminders pause until the dispute is resolved, the customer's status
    follows, and every step is logged as an interaction."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # People outside collections who solve disputes.
        cls.salesperson, cls.warehouse, cls.team_leader, cls.billing_user = (
            cls.make_user(login, groups, name=name, email=f"{login}@example.com")
            for login, name, groups in [
                ("sam", "Sam Sales", "sales_team.group_sale_salesman"),
                ("wendy", "Wendy Warehouse", "base.group_user"),
                ("tess", "Tess Leader", "sales_team.group_sale_salesman"),
                ("bea", "Bea Billing", "account.group_account_invoice"),
            ]
        )
        cls.collector.email = "carla@example.com"
        cls.team = (
            cls.env["crm.team"]
            .sudo()
            .create(
                {
                    "name": "Key Accounts",
                    "user_id": cls.team_leader.id,
                    "company_id": cls.company.id,
                }
            )
        )
        Reason = cls.env["collection.dispute.reason"]
        cls.reason_price = Reason.create(
            {"name": "Price differs", "responsible_type": "salesperson", "sla_days": 5}
        )
        cls.reason_goods = Reason.create(
            {
                "name": "Nothing arrived",
                "responsible_type": "user",
                "user_id": cls.warehouse.id,
                "sla_days": 7,
            }
        )
        cls.reason_key = Reason.create(
            {
                "name": "Key account terms",
                "responsible_type": "team",
                "team_id": cls.team.id,
                "sla_days": 10,
            }
        )
        cls.dispute_type = cls.env.ref("account_collection.mail_activity_type_collection_dispute")
        cls.customer.with_company(cls.company).collection_user_id = cls.collector
        cls.dunning_cron = cls.env.ref("account_collection.ir_cron_collection_dunning")

    # ------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------

    @classmethod
    def sold_by(cls, salesperson, amount, due, partner=None):
        """A posted invoice of ``amount`` due on ``due``, sold by ``salesperson``."""
        move = cls.invoice(partner or cls.customer, amount, due, post=False)
        move.invoice_user_id = salesperson
        move.action_post()
        return move

    def open_dispute(
        self,
        invoices,
        reason,
        description="The price is not the one agreed.",
        user=None,
        partner=None,
    ):
        """The collector (or ``user``) records the customer's dispute in the back office."""
        return (
            self.env["collection.dispute"]
            .with_user(user or self.collector)
            .create(
                {
                    "partner_id": (partner or invoices.commercial_partner_id).id,
                    "move_ids": [Command.set(invoices.ids)],
                    "reason_id": reason.id,
                    "description": description,
                }
            )
        )

    def resolve(self, dispute, resolution, note="Checked with the customer.", user=None):
        dispute = dispute.with_user(user or self.collector)
        dispute.write({"resolution": resolution, "resolution_note": note})
        dispute.action_resolve()

    @contextmanager
    def refused(self, exception, text):
        """The operation fails with ``exception`` saying ``text``, and is rolled back
        (``assertRaises`` runs it in a savepoint)."""
        with self.assertRaises(exception) as caught:
            yield
        self.assertIn(text, str(caught.exception))

    def status(self, partner=None):
        return (partner or self.customer).with_company(self.company).collection_status

    def set_status(self, status, partner=None):
        (partner or self.customer).with_company(self.company).collection_status = status

    def dispute_activities(self, dispute):
        return dispute.activity_ids.filtered(lambda a: a.activity_type_id == self.dispute_type)

    def mails_to(self, user, dispute):
        return self.env["mail.mail"].search(
            [
                ("model", "=", "collection.dispute"),
                ("res_id", "=", dispute.id),
                ("recipient_ids", "in", user.partner_id.ids),
            ]
        )

    def interactions(self, dispute):
        return self.env["collection.interaction"].search(
            [("dispute_id", "=", dispute.id)], order="id"
        )

    def run_dunning(self, date):
        """The daily reminders job runs at noon of ``date``."""
        with on_day(date), self.enter_registry_test_mode():
            self.assertIs(self.dunning_cron.method_direct_trigger(), True)

    def reminders(self):
        return self.env["collection.communication"].search(
            [("partner_id", "=", self.customer.id)], order="id"
        )

    def assert_routed(self, dispute, user, deadline):
        """``user`` is the responsible, with one activity due on ``deadline`` and an
        email naming the customer, the invoices and the reason."""
        self.assertEqual(dispute.user_id, user)
        activity = self.dispute_activities(dispute)
        self.assertRecordValues(activity, [{"user_id": user.id, "date_deadline": deadline}])
        mail = self.mails_to(user, dispute)
        self.assertEqual(len(mail), 1, "The responsible gets one email.")
        self.assertIn(self.customer.name, mail.subject)
        self.assertIn(dispute.reason_id.name, mail.subject)
        for invoice in dispute.sudo().move_ids:
            self.assertIn(invoice.name, mail.subject)
            self.assertIn(invoice.name, str(mail.body_html))

    # ------------------------------------------------------------------
    # Routing
    # ------------------------------------------------------------------

    def test_route_to_invoice_salesperson(self):
        invoice = self.sold_by(self.salesperson, 1000.0, day(-20))
        dispute = self.open_dispute(invoice, self.reason_price)

        self.assert_routed(dispute, self.salesperson, day(5))
        self.assertRecordValues(
            dispute,
            [
                {
                    "state": "open",
                    "source": "back_office",
                    "date_open": TODAY,
                    "sla_deadline": day(5),
                }
            ],
        )
        self.assertIn(self.salesperson.partner_id, dispute.message_partner_ids)
        # The salesperson works outside collections and accounting, yet opens it from the
        # email: the invoice numbers and the customer's words are there.
        as_sales = dispute.with_user(self.salesperson)
        self.assertEqual(as_sales.invoice_names, invoice.name)
        self.assertEqual(as_sales.description, "The price is not the one agreed.")
        form = Form(as_sales)
        self.assertEqual(form.reason_id, self.reason_price)

    def test_route_to_named_user(self):
        invoice = self.sold_by(self.salesperson, 500.0, day(-3))
        dispute = self.open_dispute(invoice, self.reason_goods, "The pallet never arrived.")
        self.assert_routed(dispute, self.warehouse, day(7))

    def test_reassign_by_hand(self):
        invoice = self.sold_by(self.salesperson, 500.0, day(-3))
        dispute = self.open_dispute(invoice, self.reason_price)
        self.assertEqual(dispute.user_id, self.salesperson)

        # The collector sees it is a delivery problem and hands it to the warehouse.
        dispute.with_user(self.collector).user_id = self.warehouse
        self.assert_routed(dispute, self.warehouse, day(5))
        self.assertFalse(
            self.dispute_activities(dispute).filtered(lambda a: a.user_id == self.salesperson),
            "The salesperson's activity went with the dispute.",
        )
        with self.refused(UserError, "cannot be changed"):
            dispute.with_user(self.collector).partner_id = self.env["res.partner"].create(
                {"name": "Someone Else", "is_company": True}
            )

    def test_route_to_team_leader(self):
        invoice = self.sold_by(self.salesperson, 500.0, day(-3))
        dispute = self.open_dispute(invoice, self.reason_key)
        self.assert_routed(dispute, self.team_leader, day(10))

    def test_route_fallback_to_collector(self):
        # The invoice has no salesperson: the customer's collector gets the dispute.
        invoice = self.sold_by(self.env["res.users"], 700.0, day(-10))
        dispute = self.open_dispute(invoice, self.reason_price, user=self.collection_manager)
        self.assert_routed(dispute, self.collector, day(5))

        # A team without a leader routes to the collector as well.
        self.team.user_id = False
        other = self.sold_by(self.salesperson, 300.0, day(-10))
        dispute = self.open_dispute(other, self.reason_key, user=self.collection_manager)
        self.assertEqual(dispute.user_id, self.collector)

    def test_route_fallback_to_default_collector(self):
        orphan = self.env["res.partner"].create({"name": "Orphan Ltd", "is_company": True})
        self.assertFalse(orphan.with_company(self.company).collection_user_id)
        self.company.collection_default_user_id = self.collection_manager
        invoice = self.sold_by(self.env["res.users"], 400.0, day(-10), partner=orphan)
        dispute = self.open_dispute(invoice, self.reason_price)
        self.assertEqual(dispute.user_id, self.collection_manager)
        self.assertEqual(len(self.dispute_activities(dispute)), 1)

    def test_shipped_reasons(self):
        reasons = (
            self.env["collection.dispute.reason"]
            .search([])
            .filtered(lambda r: r.get_external_id()[r.id].startswith("account_collection."))
        )
        self.assertEqual(
            reasons.mapped("name"),
            [
                "Wrong price",
                "Goods not received",
                "Damaged",
                "Duplicate invoice",
                "Already paid",
                "Goods returned",
                "Not ordered",
                "Other",
            ],
        )
        wrong_price = self.env.ref("account_collection.collection_dispute_reason_wrong_price")
        invoice = self.sold_by(self.salesperson, 200.0, day(-5))
        dispute = self.open_dispute(invoice, wrong_price)
        self.assertEqual(dispute.user_id, self.salesperson)

    # ------------------------------------------------------------------
    # Status, interactions, resolution
    # ------------------------------------------------------------------

    def test_open_and_resolve_status_and_interactions(self):
        invoice = self.sold_by(self.salesperson, 1000.0, day(-20))
        self.set_status("paying")
        dispute = self.open_dispute(invoice, self.reason_price)

        self.assertEqual(self.status(), "dispute")
        self.assertEqual(self.customer.with_company(self.company).collection_open_dispute_count, 1)
        self.assertEqual(invoice.with_user(self.collector).collection_open_dispute_id, dispute)
        self.assertRecordValues(
            self.interactions(dispute),
            [
                {
                    "partner_id": self.customer.id,
                    "user_id": self.collector.id,
                    "channel": "note",
                    "outcome": "dispute",
                    "status_before": "paying",
                    "status_after": "dispute",
                    "move_ids": invoice.ids,
                    "overdue_amount": 1000.0,
                    "days_overdue": 20,
                }
            ],
        )

        # The salesperson takes it, finds the customer wrong, and rejects it.
        dispute.with_user(self.salesperson).action_start()
        self.assertEqual(dispute.state, "in_progress")
        self.resolve(
            dispute, "rejected", "The agreed price is on the order.", user=self.salesperson
        )

        self.assertRecordValues(
            dispute, [{"state": "resolved", "resolution": "rejected", "date_resolved": TODAY}]
        )
        self.assertEqual(self.status(), "paying", "The status before the dispute comes back.")
        self.assertFalse(invoice.with_user(self.collector).collection_open_dispute_id)
        self.assertFalse(self.dispute_activities(dispute), "The salesperson's activity is done.")
        closing = self.interactions(dispute)[1:]
        self.assertRecordValues(
            closing,
            [
                {
                    "user_id": self.salesperson.id,
                    "channel": "note",
                    "outcome": "dispute",
                    "status_before": "dispute",
                    "status_after": "paying",
                    "move_ids": invoice.ids,
                }
            ],
        )
        self.assertIn("Rejected", closing.note)
        self.assertIn("The agreed price is on the order.", closing.note)
        self.assertTrue(
            self.customer.message_ids.filtered(
                lambda m: "Dispute resolved (Rejected)" in str(m.body)
            )
        )

    def log_call(self, **values):
        """The collector logs a call with the Log dialog."""
        wizard = (
            self.env["collection.interaction.log"]
            .with_user(self.collector)
            .create({"partner_id": self.customer.id, "channel": "call", **values})
        )
        return wizard.action_confirm()

    def test_dispute_raised_in_a_call_opens_a_dispute(self):
        disputed = self.sold_by(self.salesperson, 1000.0, day(-20))
        other = self.sold_by(self.salesperson, 300.0, day(-15))
        Dispute = self.env["collection.dispute"]
        Interaction = self.env["collection.interaction"]

        # The dialog asks which invoices and why, and writes nothing without them.
        for label, values, message in (
            ("no invoice", {"dispute_reason_id": self.reason_price.id}, "Choose the invoices"),
            ("no reason", {"move_ids": [Command.set(disputed.ids)]}, "Choose the reason"),
        ):
            with self.subTest(label), self.refused(ValidationError, message):
                self.log_call(outcome="dispute", note="Wrong price.", **values)
            self.assertFalse(Dispute.search([("partner_id", "=", self.customer.id)]))
            self.assertFalse(Interaction.search([("partner_id", "=", self.customer.id)]))
            self.assertEqual(self.status(), "current")

        self.log_call(
            outcome="dispute",
            move_ids=[Command.set(disputed.ids)],
            dispute_reason_id=self.reason_price.id,
            note="The price is not the one on the order.",
        )
        dispute = Dispute.search([("partner_id", "=", self.customer.id)])
        self.assertRecordValues(
            dispute,
            [
                {
                    "state": "open",
                    "reason_id": self.reason_price.id,
                    "description": "The price is not the one on the order.",
                    "source": "back_office",
                    "status_before": "current",
                }
            ],
        )
        self.assertEqual(dispute.move_ids, disputed)
        self.assert_routed(dispute, self.salesperson, day(5))
        self.assertEqual(self.status(), "dispute")
        # One interaction: the call, linked to the dispute it opened.
        self.assertRecordValues(
            Interaction.search([("partner_id", "=", self.customer.id)]),
            [
                {
                    "dispute_id": dispute.id,
                    "user_id": self.collector.id,
                    "channel": "call",
                    "outcome": "dispute",
                    "status_before": "current",
                    "status_after": "dispute",
                    "move_ids": disputed.ids,
                }
            ],
        )
        self.assertFalse(other.with_user(self.collector).collection_open_dispute_id)

    def test_resolution_status_negotiating_when_nothing_to_come_back_to(self):
        invoice = self.sold_by(self.salesperson, 1000.0, day(-20))
        self.assertEqual(self.status(), "current")
        dispute = self.open_dispute(invoice, self.reason_price)
        self.resolve(dispute, "justified")
        self.assertEqual(self.status(), "negotiating", "Still overdue: the collector negotiates.")

    def test_resolution_keeps_dispute_while_another_is_open(self):
        first = self.sold_by(self.salesperson, 1000.0, day(-20))
        second = self.sold_by(self.salesperson, 400.0, day(-10))
        self.set_status("refusal")
        dispute_1 = self.open_dispute(first, self.reason_price)
        dispute_2 = self.open_dispute(second, self.reason_goods)
        self.assertEqual(dispute_2.status_before, "refusal", "The status before the first dispute.")

        self.resolve(dispute_1, "rejected")
        self.assertEqual(self.status(), "dispute")
        self.resolve(dispute_2, "rejected")
        self.assertEqual(self.status(), "refusal")

    def test_status_changed_meanwhile_is_left_alone(self):
        invoice = self.sold_by(self.salesperson, 1000.0, day(-20))
        dispute = self.open_dispute(invoice, self.reason_price)
        self.customer.with_user(self.collector)._collection_set_status("negotiating")
        self.resolve(dispute, "rejected")
        self.assertEqual(self.status(), "negotiating")
        self.assertEqual(self.interactions(dispute)[-1].status_after, "negotiating")

    def test_credit_note_resolution(self):
        invoice = self.sold_by(self.salesperson, 1000.0, day(-20))
        dispute = self.open_dispute(invoice, self.reason_price)
        dispute.with_user(self.salesperson).write({"resolution": "credit_note"})

        # Resolving with a credit note needs the credit note.
        with self.refused(UserError, "No posted credit note"):
            dispute.with_user(self.salesperson).action_resolve()
        self.assertEqual(dispute.state, "open")
        self.assertEqual(self.status(), "dispute")

        # The billing user issues it from the dispute, with Odoo's credit note wizard.
        action = dispute.with_user(self.billing_user).action_credit_note()
        self.assertEqual(action["res_model"], "account.move.reversal")
        wizard = (
            self.env["account.move.reversal"]
            .with_user(self.billing_user)
            .with_context(**action["context"])
            .create({"reason": "Wrong price", "journal_id": invoice.journal_id.id})
        )
        wizard.modify_moves()
        self.assertEqual(invoice.payment_state, "reversed")
        self.assertEqual(
            dispute.with_user(self.collector).credit_note_ids, invoice.reversal_move_ids
        )

        dispute.with_user(self.salesperson).action_resolve()
        self.assertEqual(dispute.state, "resolved")
        self.assertEqual(self.status(), "current", "The credit note cleared everything overdue.")
        self.assertEqual(self.interactions(dispute)[-1].status_after, "current")

    # ------------------------------------------------------------------
    # Reminders
    # ------------------------------------------------------------------

    def test_dunning_paused_and_resumed(self):
        self.company.write(
            {
                "collection_quiet_hour_start": 0.0,
                "collection_quiet_hour_end": 0.0,
                "collection_rest_day": False,
                "collection_calendar_id": False,
                "collection_public_holidays": False,
                "collection_message_interval_days": 0,
            }
        )
        template = self.env.ref("account_collection.mail_template_reminder_overdue")
        level = self.make_policy(
            "Dispute test reminders",
            [{"name": "Late", "delay": 10, "send_email": True, "mail_template_id": template.id}],
        )
        disputed = self.sold_by(self.salesperson, 1000.0, day(-20))
        other = self.sold_by(self.salesperson, 300.0, day(-15))
        dispute = self.open_dispute(disputed, self.reason_price)

        # The dispute pauses its invoice only: the other one gets its reminder, which
        # does not list the disputed one.
        self.assertEqual(self.status(), "dispute")
        self.run_dunning(TODAY)
        self.assertRecordValues(self.reminders(), [{"move_ids": other.ids, "date": TODAY}])
        self.assertFalse(disputed.collection_level_id)
        body = str(template._render_field("body_html", self.reminders().ids)[self.reminders().id])
        self.assertIn(other.name, body)
        self.assertNotIn(disputed.name, body)

        # The dispute is rejected: the next run reminds the customer of the invoice.
        with on_day(day(1)):
            self.resolve(dispute, "rejected")
        self.run_dunning(day(1))
        self.assertRecordValues(
            self.reminders(),
            [{"move_ids": other.ids, "date": TODAY}, {"move_ids": disputed.ids, "date": day(1)}],
        )
        self.assertEqual(disputed.collection_level_id, level)

    # ------------------------------------------------------------------
    # SLA
    # ------------------------------------------------------------------

    def test_sla_age(self):
        invoice = self.sold_by(self.salesperson, 1000.0, day(-20))
        dispute = self.open_dispute(invoice, self.reason_price)  # SLA 5 days
        Dispute = self.env["collection.dispute"].with_user(self.collector)
        self.assertRecordValues(dispute, [{"age_days": 0, "over_sla": False}])

        with on_day(day(5)):
            dispute.invalidate_recordset(["age_days", "over_sla"])
            self.assertRecordValues(dispute, [{"age_days": 5, "over_sla": False}])
            self.assertFalse(Dispute.search([("over_sla", "=", True)]))
        with on_day(day(6)):
            dispute.invalidate_recordset(["age_days", "over_sla"])
            self.assertRecordValues(dispute, [{"age_days": 6, "over_sla": True}])
            self.assertEqual(Dispute.search([("over_sla", "=", True)]), dispute)
            self.assertEqual(Dispute.search([("age_days", ">", 5)]), dispute)
            self.assertFalse(Dispute.search([("age_days", ">", 6)]))
        with on_day(day(8)):
            self.resolve(dispute, "justified")
        with on_day(day(30)):
            dispute.invalidate_recordset(["age_days", "over_sla"])
            self.assertRecordValues(dispute, [{"age_days": 8, "over_sla": False}])
            self.assertEqual(Dispute.search([("age_days", "=", 8)]), dispute)

    # ------------------------------------------------------------------
    # Bad input
    # ------------------------------------------------------------------

    def test_bad_input(self):
        invoice = self.sold_by(self.salesperson, 1000.0, day(-20))
        stranger = self.env["res.partner"].create({"name": "Stranger Co", "is_company": True})
        strangers_invoice = self.sold_by(self.salesperson, 100.0, day(-20), partner=stranger)
        paid = self.sold_by(self.salesperson, 100.0, day(-20))
        self.pay(paid)
        Dispute = self.env["collection.dispute"]

        with self.refused(ValidationError, "do not belong to Acme Customer"):
            self.open_dispute(invoice | strangers_invoice, self.reason_price, partner=self.customer)
        with self.refused(ValidationError, "still to be paid"):
            self.open_dispute(paid, self.reason_price)
        with self.refused(ValidationError, "Choose the invoices"):
            self.env["collection.dispute"].with_user(self.collector).create(
                {"partner_id": self.customer.id, "reason_id": self.reason_price.id}
            )
        # Nothing was written.
        self.assertFalse(Dispute.search([("partner_id", "in", (self.customer | stranger).ids)]))
        self.assertFalse(
            self.env["collection.interaction"].search([("partner_id", "=", self.customer.id)])
        )
        self.assertEqual(self.status(), "current")
        self.assertFalse(self.mails_to(self.salesperson, Dispute.search([])))

        dispute = self.open_dispute(invoice, self.reason_price)
        with self.refused(ValidationError, "already has an open dispute"):
            self.open_dispute(invoice, self.reason_goods)

        with self.refused(UserError, "Choose how the dispute"):
            dispute.with_user(self.collector).action_resolve()
        with self.refused(UserError, "follows its buttons"):
            dispute.with_user(self.collector).write({"state": "resolved"})
        self.assertEqual(dispute.state, "open")
        self.assertEqual(self.status(), "dispute")
        self.assertEqual(len(self.interactions(dispute)), 1)

        self.resolve(dispute, "rejected")
        with self.refused(UserError, "already resolved"):
            dispute.with_user(self.collector).action_resolve()
        with self.refused(UserError, "can no longer be changed"):
            dispute.with_user(self.collector).write({"resolution": "justified"})
        with self.refused(UserError, "kept as evidence"):
            dispute.with_user(self.collection_manager).unlink()

    def test_reason_needs_its_responsible(self):
        Reason = self.env["collection.dispute.reason"].with_user(self.collection_manager)
        with self.refused(ValidationError, "Choose the user"):
            Reason.create({"name": "Quality", "responsible_type": "user"})
        with self.refused(ValidationError, "Choose the sales team"):
            Reason.create({"name": "Quality", "responsible_type": "team"})

    # ------------------------------------------------------------------
    # Portal
    # ------------------------------------------------------------------

    def test_create_from_portal(self):
        invoice = self.sold_by(self.salesperson, 1000.0, day(-20))
        portal_user = self.make_user("acme_portal", "base.group_portal", name="Ann Acme")
        portal_user.partner_id.parent_id = self.customer
        Dispute = self.env["collection.dispute"].with_user(portal_user)
        contact = portal_user.partner_id

        dispute = Dispute._create_from_portal(
            contact,
            invoice,
            self.reason_price,
            "  We were charged 12 instead of 10.  ",
            attachments=[("order.txt", b"Agreed price: 10")],
        )
        self.assertRecordValues(
            dispute,
            [
                {
                    "partner_id": self.customer.id,
                    "company_id": self.company.id,
                    "source": "portal",
                    "state": "open",
                    "description": "We were charged 12 instead of 10.",
                    "user_id": self.salesperson.id,
                }
            ],
        )
        self.assert_routed(dispute, self.salesperson, day(5))
        self.assertEqual(dispute.attachment_ids.mapped("name"), ["order.txt"])
        self.assertEqual(self.status(), "dispute")
        self.assertRecordValues(
            self.interactions(dispute),
            [
                {
                    "channel": "portal",
                    "outcome": "dispute",
                    "user_id": False,
                    "status_after": "dispute",
                }
            ],
        )

        other_invoice = self.sold_by(self.salesperson, 100.0, day(-5))
        stranger = self.env["res.partner"].create({"name": "Stranger Co", "is_company": True})
        strangers_invoice = self.sold_by(self.salesperson, 100.0, day(-20), partner=stranger)
        with self.refused(UserError, "not yours"):
            Dispute._create_from_portal(contact, strangers_invoice, self.reason_price, "Wrong")
        with self.refused(UserError, "already in dispute"):
            Dispute._create_from_portal(contact, invoice, self.reason_price, "Again")
        with self.refused(UserError, "what is wrong"):
            Dispute._create_from_portal(contact, other_invoice, self.reason_price, "   ")
        archived = self.reason_goods.copy({"active": False})
        with self.refused(UserError, "reasons offered"):
            Dispute._create_from_portal(contact, other_invoice, archived, "Never came")
        self.pay(other_invoice)
        with self.refused(UserError, "cannot be disputed any more"):
            Dispute._create_from_portal(contact, other_invoice, self.reason_price, "Wrong")
        self.assertEqual(
            self.env["collection.dispute"].search(
                [("partner_id", "in", (self.customer | stranger).ids)]
            ),
            dispute,
        )

    # ------------------------------------------------------------------
    # Access
    # ------------------------------------------------------------------

    def test_collector_works_disputes_in_the_form(self):
        invoice = self.sold_by(self.salesperson, 1000.0, day(-20))
        with Form(self.env["collection.dispute"].with_user(self.collector)) as form:
            form.partner_id = self.customer
            form.move_ids.add(invoice)
            form.reason_id = self.reason_price
            form.description = "Wrong unit price."
        dispute = form.record
        self.assertEqual(dispute.user_id, self.salesperson)
        dispute.action_start()
        with Form(dispute) as form:
            form.resolution = "justified"
            form.resolution_note = "Price confirmed with sales."
        dispute.action_resolve()
        self.assertEqual(dispute.state, "resolved")

        # The customer form and the invoice form show the disputes.
        Form(self.customer.with_user(self.collector))
        Form(invoice.with_user(self.collector))

    def test_billing_reads_but_does_not_work(self):
        invoice = self.sold_by(self.salesperson, 1000.0, day(-20))
        dispute = self.open_dispute(invoice, self.reason_price)
        as_billing = dispute.with_user(self.billing_user)
        self.assertEqual(as_billing.move_ids, invoice)
        self.assertEqual(invoice.with_user(self.billing_user).collection_open_dispute_id, dispute)
        Form(as_billing)
        with self.assertRaises(AccessError):
            as_billing.write({"description": "Changed"})
        with self.assertRaises(AccessError):
            as_billing.action_start()
        with self.assertRaises(AccessError):
            self.open_dispute(invoice, self.reason_goods, user=self.billing_user)

    def test_responsible_sees_only_own_disputes(self):
        invoice = self.sold_by(self.salesperson, 1000.0, day(-20))
        other = self.sold_by(self.salesperson, 500.0, day(-20))
        to_sam = self.open_dispute(invoice, self.reason_price)
        to_wendy = self.open_dispute(other, self.reason_goods)
        Dispute = self.env["collection.dispute"]
        self.assertEqual(Dispute.with_user(self.salesperson).search([]), to_sam)
        self.assertEqual(Dispute.with_user(self.warehouse).search([]), to_wendy)
        with self.assertRaises(AccessError):
            to_wendy.with_user(self.salesperson).action_start()
        with self.assertRaises(AccessError):
            self.open_dispute(other, self.reason_price, user=self.warehouse)
        # Wendy works outside accounting: she reads the invoice numbers, not the invoices.
        self.assertEqual(to_wendy.with_user(self.warehouse).invoice_names, other.name)
        with self.assertRaises(AccessError):
            to_wendy.with_user(self.warehouse).read(["move_ids"])
        Form(to_wendy.with_user(self.warehouse))
        to_wendy.with_user(self.warehouse).write({"resolution": "justified"})
        to_wendy.with_user(self.warehouse).action_resolve()
        self.assertEqual(to_wendy.state, "resolved")
