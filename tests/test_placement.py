import csv
import io

from odoo import Command
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import Form, tagged
from odoo.tools import mute_logger

from .common import TODAY, UNSTYLED_REPORT_URL, DunningCadenceCommon, at, day, on_day


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionPlacement(DunningCadenceCommon):
    """Invoices handed over to a collection agency: the agency gets its pack by email,
    the invoices' reminders stop while placed and resume once recalled, the customer
    moves to the placement stage and back, and the payments received meanwhile show the
    commission owed."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.stage_extrajudicial = cls.env.ref("account_collection.collection_stage_extrajudicial")
        cls.company.collection_placement_stage_id = cls.stage_extrajudicial
        cls.agency = cls.env["res.partner"].create(
            {
                "name": "Recobros Legales SL",
                "is_company": True,
                "email": "casos@recobros.example.com",
                "collection_is_agency": True,
                "collection_agency_commission": 20.0,
            }
        )

    def setUp(self):
        super().setUp()
        # wkhtmltopdf, printing the pack, would ask this server for the reports' styles
        # while the test holds it: it is sent where nothing answers and prints without.
        self.env["ir.config_parameter"].sudo().set_param("report.url", UNSTYLED_REPORT_URL)

    def place(self, moves, agency=None, user=None, commission=None, note=None, partner=None):
        """Place ``moves`` with ``agency`` through the dialog, as ``user`` (default: the
        collection manager), from the customer's Collections tab when ``partner`` is
        given, else from the invoices."""
        user = user or self.collection_manager
        if partner:
            action = partner.with_user(user).action_collection_place()
        else:
            action = moves.with_user(user).action_collection_place()
        wizard = Form(self.env[action["res_model"]].with_user(user).with_context(action["context"]))
        if partner:
            wizard.move_ids = moves
        wizard.agency_id = agency or self.agency
        if commission is not None:
            wizard.commission_percent = commission
        if note:
            wizard.note = note
        result = wizard.save().action_confirm()
        return self.env["collection.placement"].browse(result["res_id"])

    def interactions(self, partner):
        return self.env["collection.interaction"].search(
            [("partner_id", "=", partner.id)], order="id"
        )

    def stage_of(self, partner):
        return partner.with_company(self.company).collection_stage_id

    # ------------------------------------------------------------------
    # Reminders stopped and resumed
    # ------------------------------------------------------------------

    def test_placed_invoices_get_no_reminder_until_recalled(self):
        placed = self.invoice(self.customer, 1000.0, day(-12))
        other = self.invoice(self.customer, 300.0, day(-12))
        self.customer.with_company(self.company).collection_stage_id = self.stage_delinquent

        placement = self.place(placed, partner=self.customer, note="Call before writing.")

        self.assertRecordValues(
            placement,
            [
                {
                    "partner_id": self.customer.id,
                    "agency_id": self.agency.id,
                    "commission_percent": 20.0,
                    "state": "placed",
                    "date_placed": TODAY,
                    "amount_placed": 1000.0,
                    "stage_before_id": self.stage_delinquent.id,
                    "user_id": self.collection_manager.id,
                }
            ],
        )
        self.assertEqual(placement.move_ids, placed)
        self.assertEqual(placed.collection_placement_id, placement)
        self.assertEqual(self.stage_of(self.customer), self.stage_extrajudicial)
        logged = self.interactions(self.customer)
        self.assertEqual(len(logged), 1)
        self.assertRecordValues(
            logged, [{"channel": "email", "outcome": "sent", "user_id": self.collection_manager.id}]
        )
        self.assertEqual(logged.move_ids, placed)
        self.assertIn("Placed with Recobros Legales SL (commission 20%)", logged.note)
        # The log stays a valid chain.
        self.assertTrue(self.env["collection.interaction"].verify_chain(self.company.id)["valid"])

        self.run_dunning(day(0))
        self.assertEqual(self.reminders(self.customer).move_ids, other)
        # Placing again from the customer offers the invoices not placed yet.
        action = self.customer.with_user(self.collection_manager).action_collection_place()
        self.assertEqual(action["context"]["default_move_ids"], [Command.set(other.ids)])

        placement.with_user(self.collection_manager).action_recall()
        self.assertRecordValues(placement, [{"state": "recalled", "date_recalled": TODAY}])
        self.assertFalse(placed.collection_placement_id)
        self.assertEqual(self.stage_of(self.customer), self.stage_delinquent)
        recalled = self.interactions(self.customer)[1:]
        self.assertEqual(len(recalled), 1)
        self.assertIn("Recalled from Recobros Legales SL, reminders resume", recalled.note)

        self.run_dunning(day(1))
        self.assertIn(placed, self.reminders(self.customer).move_ids)
        self.assertTrue(self.env["collection.interaction"].verify_chain(self.company.id)["valid"])

    def test_reminder_waiting_drops_the_invoice_placed_since(self):
        placed = self.invoice(self.customer, 1000.0, day(-12))
        other = self.invoice(self.customer, 300.0, day(-12))
        self.run_dunning(day(0))
        reminder = self.reminders(self.customer)
        self.assertEqual(reminder.move_ids, placed | other)

        self.place(placed)
        reminder.with_user(self.collector).action_approve()
        with self.sms_gateway():
            self.run_queue(at(0, 14))

        self.assertEqual(reminder.move_ids, other)
        self.assertIn(f"{placed.name} (Placed with an agency before sending)", reminder.note)
        mail = self.delivery(reminder, "email").mail_id
        self.assertNotIn(placed.name, mail.body_html)

    def test_closing_a_placement_gives_the_invoices_back(self):
        placed = self.invoice(self.customer, 1000.0, day(-12))
        placement = self.place(placed)
        self.run_dunning(day(0))
        self.assertFalse(self.reminders(self.customer))

        placement.with_user(self.collection_manager).action_close()
        self.assertRecordValues(placement, [{"state": "closed", "date_closed": TODAY}])
        self.run_dunning(day(1))
        self.assertEqual(self.reminders(self.customer).move_ids, placed)

    # ------------------------------------------------------------------
    # The pack
    # ------------------------------------------------------------------

    def test_agency_gets_the_pack_by_email(self):
        first = self.invoice(self.customer, 1000.0, day(-40))
        second = self.invoice(self.customer, 250.0, day(-12))
        self.pay(second, 50.0)
        wizard_user = self.collection_manager
        action = first.with_user(wizard_user).action_collection_place()
        wizard = Form(
            self.env[action["res_model"]]
            .with_user(wizard_user)
            .with_context(action["context"], force_report_rendering=True)
        )
        wizard.move_ids = first | second
        wizard.agency_id = self.agency
        self.assertEqual(wizard.commission_percent, 20.0)
        self.assertEqual(wizard.amount, 1200.0)
        wizard.commission_percent = 15.0
        result = wizard.save().action_confirm()
        placement = self.env["collection.placement"].browse(result["res_id"])

        message = placement.message_ids.filtered(lambda m: m.message_type == "comment")
        self.assertEqual(len(message), 1)
        self.assertEqual(message.partner_ids, self.agency)
        self.assertIn(self.customer.name, message.subject)
        self.assertIn("15", str(message.body))
        attachments = message.attachment_ids.sorted("name")
        self.assertEqual(
            attachments.mapped("name"),
            [
                "Collection dossier - Acme Customer.pdf",
                "Open items - Acme Customer.csv",
                "Statement of account - Acme Customer.pdf",
            ],
        )
        self.assertEqual(
            attachments.mapped("mimetype"), ["application/pdf", "text/csv", "application/pdf"]
        )
        for pdf in attachments.filtered(lambda a: a.mimetype == "application/pdf"):
            self.assertTrue(pdf.raw.startswith(b"%PDF"), pdf.name)
        rows = list(csv.reader(io.StringIO(attachments[1].raw.decode())))
        self.assertEqual(rows[0][:6], ["invoice", "invoice_date", "due_date", "days_overdue",
                                       "amount_total", "amount_due"])  # fmt: skip
        self.assertEqual(
            [row[:6] for row in rows[1:]],
            [
                [first.name, str(day(-70)), str(day(-40)), "40", "1000.00", "1000.00"],
                [second.name, str(day(-42)), str(day(-12)), "12", "250.00", "200.00"],
            ],
        )
        # Through Odoo's mail queue, to the agency's address.
        mail = self.env["mail.mail"].search([("mail_message_id", "=", message.id)])
        self.assertEqual(len(mail), 1)
        self.assertEqual(mail.recipient_ids, self.agency)
        self.assertEqual(mail.attachment_ids, message.attachment_ids)

    def test_bad_placements_are_refused_and_leave_nothing(self):
        invoice = self.invoice(self.customer, 1000.0, day(-12))
        paid = self.invoice(self.customer, 100.0, day(-12))
        self.pay(paid)
        no_email = self.agency.copy({"name": "Sin Correo", "email": False})
        not_agency = self.env["res.partner"].create(
            {"name": "Just a supplier", "email": "s@example.com"}
        )
        Placement = self.env["collection.placement"].with_user(self.collection_manager)
        for moves, agency, error in (
            (invoice, no_email, "has no email address"),
            (invoice, not_agency, "is not a collection agency"),
            (paid, self.agency, "Only invoices still to be paid"),
            (self.env["account.move"], self.agency, "Select the invoices"),
        ):
            with self.subTest(error=error), self.assertRaisesRegex(UserError, error):
                Placement._collection_place(moves, agency)
        self.assertFalse(self.env["collection.placement"].search([]))
        self.assertFalse(self.interactions(self.customer))
        self.assertNotEqual(self.stage_of(self.customer), self.stage_extrajudicial)

        self.place(invoice)
        with self.assertRaisesRegex(ValidationError, "already placed with Recobros"):
            self.place(invoice, agency=self.agency.copy({"name": "Otra Agencia"}))
        with self.assertRaisesRegex(ValidationError, "between 0 and 100"):
            self.place(self.invoice(self.customer, 10.0, day(-12)), commission=120.0)

    # ------------------------------------------------------------------
    # What was collected and the commission
    # ------------------------------------------------------------------

    def test_payment_received_while_placed_shows_the_commission(self):
        invoice = self.invoice(self.customer, 1000.0, day(-30))
        self.pay_on(-1, invoice, 100.0)  # before placing: not the agency's
        placement = self.place(invoice)
        self.assertRecordValues(
            placement, [{"amount_placed": 900.0, "amount_collected": 0.0, "commission_amount": 0.0}]
        )

        self.pay_on(2, invoice, 400.0)
        self.assertRecordValues(
            placement,
            [{"state": "placed", "amount_collected": 400.0, "commission_amount": 80.0}],
        )
        self.assertEqual(placement.payment_line_ids.mapped("credit"), [400.0])
        self.assertTrue(
            placement.message_ids.filtered(
                lambda m: "received while placed: commission owed" in str(m.body)
            )
        )

        self.pay_on(3, invoice)
        self.assertRecordValues(
            placement,
            [
                {
                    "state": "collected",
                    "amount_collected": 900.0,
                    "commission_amount": 180.0,
                    "date_closed": day(3),
                }
            ],
        )
        collected = self.interactions(self.customer).filtered(
            lambda i: "Collected by" in (i.note or "")
        )
        self.assertEqual(len(collected), 1)
        self.assertTrue(collected.automatic)
        self.assertIn("Collected by Recobros Legales SL", collected.note)

    def test_invoice_credited_while_placed_closes_without_commission(self):
        invoice = self.invoice(self.customer, 1000.0, day(-30))
        placement = self.place(invoice)
        with on_day(day(2)):
            refund = self.invoice(self.customer, 1000.0, day(2), move_type="out_refund")
            (invoice | refund).line_ids.filtered(
                lambda line: line.account_type == "asset_receivable"
            ).reconcile()
        self.assertRecordValues(
            placement,
            [
                {
                    "state": "closed",
                    "amount_collected": 0.0,
                    "commission_amount": 0.0,
                    "date_closed": day(2),
                }
            ],
        )
        self.assertTrue(
            self.interactions(self.customer).filtered(
                lambda i: "settled without a payment" in (i.note or "")
            )
        )

    def test_payment_after_recall_owes_no_commission(self):
        invoice = self.invoice(self.customer, 1000.0, day(-30))
        placement = self.place(invoice)
        with on_day(day(1)):
            placement.with_user(self.collection_manager).action_recall()
        self.pay_on(5, invoice)
        self.assertRecordValues(
            placement, [{"state": "recalled", "amount_collected": 0.0, "commission_amount": 0.0}]
        )

    # ------------------------------------------------------------------
    # Access
    # ------------------------------------------------------------------

    @mute_logger("odoo.addons.base.models.ir_model", "odoo.addons.base.models.ir_rule")
    def test_collector_cannot_place_recall_nor_write(self):
        invoice = self.invoice(self.customer, 1000.0, day(-12))
        with self.assertRaises(AccessError):
            self.customer.with_user(self.collector).action_collection_place()
        with self.assertRaises(AccessError):
            invoice.with_user(self.collector).action_collection_place()
        with self.assertRaises(AccessError):
            self.env["collection.placement"].with_user(self.collector)._collection_place(
                invoice, self.agency
            )
        with self.assertRaises(AccessError):
            self.env["collection.placement"].with_user(self.collector).create(
                {
                    "partner_id": self.customer.id,
                    "agency_id": self.agency.id,
                    "move_ids": [Command.set(invoice.ids)],
                }
            )
        with self.assertRaises(AccessError):
            self.env["collection.placement.place"].with_user(self.collector).create(
                {
                    "partner_id": self.customer.id,
                    "agency_id": self.agency.id,
                    "move_ids": [Command.set(invoice.ids)],
                }
            )
        self.assertFalse(self.env["collection.placement"].search([]))

        placement = self.place(invoice)
        # The collector reads the placement of their customer, and changes nothing.
        as_collector = placement.with_user(self.collector)
        self.assertEqual(as_collector.read(["state"])[0]["state"], "placed")
        with self.assertRaises(AccessError):
            as_collector.action_recall()
        with self.assertRaises(AccessError):
            as_collector.write({"state": "recalled"})
        # Nor does a manager through the ORM: recalling is a button.
        with self.assertRaisesRegex(UserError, "set by placing, recalling"):
            placement.with_user(self.collection_manager).write({"state": "collected"})
        with self.assertRaisesRegex(UserError, "Place with Agency button"):
            self.env["collection.placement"].with_user(self.collection_manager).create(
                {
                    "partner_id": self.customer.id,
                    "agency_id": self.agency.id,
                    "move_ids": [Command.set(invoice.ids)],
                }
            )
        with self.assertRaises(UserError):
            placement.with_user(self.collection_manager).unlink()
        self.assertRecordValues(placement, [{"state": "placed"}])
        self.run_dunning(day(0))
        self.assertFalse(self.reminders(self.customer))

    @mute_logger("odoo.addons.base.models.ir_rule")
    def test_other_portfolio_and_other_company_cannot_read(self):
        invoice = self.invoice(self.customer, 1000.0, day(-12))
        placement = self.place(invoice)

        self.company.collection_portfolio_restricted = True
        other_collector = self.make_user(
            "other_collector", "account_collection.group_collection_user", name="Otto Other"
        )
        self.assertFalse(self.env["collection.placement"].with_user(other_collector).search([]))
        with self.assertRaises(AccessError):
            placement.with_user(other_collector).read(["state"])
        self.assertEqual(
            self.env["collection.placement"].with_user(self.collector).search([]), placement
        )

        company_2 = self.setup_other_company(name="Other Company")["company"]
        other_manager = self.make_user(
            "other_manager",
            "account_collection.group_collection_manager",
            company=company_2,
            name="Olga Other",
        )
        self.assertFalse(self.env["collection.placement"].with_user(other_manager).search([]))
        with self.assertRaises(AccessError):
            placement.with_user(other_manager).read(["agency_id", "amount_placed"])
        with self.assertRaises(AccessError):
            placement.with_user(other_manager).action_recall()
        self.assertRecordValues(placement, [{"state": "placed"}])
