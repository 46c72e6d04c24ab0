import base64
import hashlib
import io
import json
from unittest.mock import patch

from odoo import Command
from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, tagged
from odoo.tools import mute_logger
from odoo.tools.pdf import PdfReader

from .common import TODAY, UNSTYLED_REPORT_URL, CollectionCommon, day, on_day

# A signature as the portal sends it: a 1x1 PNG, base64.
SIGNATURE_PNG = (
    b"iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


class WriteOffCommon(CollectionCommon):
    """A customer with two overdue invoices and one not due yet; the company books bad
    debt on its expense account."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.bad_debt = cls.company_data["default_account_expense"]
        cls.company.collection_bad_debt_account_id = cls.bad_debt
        cls.old = cls.invoice(cls.customer, 1000.0, day(-90))
        cls.late = cls.invoice(cls.customer, 400.0, day(-30))
        cls.not_due = cls.invoice(cls.customer, 250.0, day(10))

    def setUp(self):
        super().setUp()
        # wkhtmltopdf, printing the dossier, would ask this server for the report's
        # styles while the test holds it: it is sent where nothing answers and prints
        # without them (its text is then readable by the tests).
        self.env["ir.config_parameter"].sudo().set_param("report.url", UNSTYLED_REPORT_URL)

    def wizard(self, user=None, **values):
        user = user or self.collection_manager
        return (
            self.env["collection.write.off"]
            .with_user(user)
            .with_context(default_partner_id=self.customer.id, force_report_rendering=True)
            .create({"reason": "Customer insolvent", **values})
        )

    def status(self, partner=None):
        return (partner or self.customer).with_company(self.company).collection_status

    def write_offs(self):
        return self.env["account.move"].search(
            [("collection_written_off_move_ids", "!=", False), ("company_id", "=", self.company.id)]
        )


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionWriteOff(WriteOffCommon):
    """A collection manager writes off a customer's overdue invoices: a balanced entry
    matched with them, the customer uncollectible, the write-off logged and the sealed
    dossier attached."""

    def test_overdue_invoices_are_proposed(self):
        wizard = self.wizard()
        self.assertEqual(wizard.move_ids, self.old | self.late)
        self.assertEqual(wizard.open_move_ids, self.old | self.late | self.not_due)
        self.assertEqual(wizard.account_id, self.bad_debt)
        self.assertEqual(wizard.journal_id.type, "general")
        self.assertEqual(wizard.amount, 1400.0)

    def test_write_off_entry_is_balanced_and_reconciled(self):
        self.pay(self.old, 300.0)
        legal = self.env.ref("account_collection.collection_stage_legal")
        self.customer.with_company(self.company).collection_stage_id = legal
        action = self.wizard().action_write_off()
        entry = self.env["account.move"].browse(action["res_id"])
        self.assertEqual(entry.state, "posted")
        self.assertEqual(entry.collection_written_off_move_ids, self.old | self.late)
        self.assertEqual(entry.collection_write_off_reason, "Customer insolvent")
        receivable = entry.line_ids.filtered(lambda line: line.account_id.reconcile)
        expense = entry.line_ids - receivable
        self.assertEqual(sorted(receivable.mapped("credit")), [400.0, 700.0])
        self.assertEqual(expense.account_id, self.bad_debt)
        self.assertEqual(expense.debit, 1100.0)
        self.assertEqual(sum(entry.line_ids.mapped("balance")), 0.0)
        self.assertTrue(all(receivable.mapped("reconciled")))
        for invoice in self.old | self.late:
            self.assertEqual(invoice.payment_state, "paid")
            self.assertEqual(invoice.amount_residual, 0.0)
        self.assertEqual(self.not_due.payment_state, "not_paid")
        customer = self.customer.with_company(self.company)
        self.assertEqual(customer.collection_overdue_amount, 0.0)
        self.assertEqual(customer.collection_due_amount, 250.0)
        self.assertEqual(self.status(), "uncollectible")
        # Nothing overdue because it was written off, not paid: the stage stays.
        self.assertEqual(customer.collection_stage_id, legal)

    def test_failure_leaves_nothing_written(self):
        """The dossier cannot be printed (or the entry is refused): no entry, no log,
        the invoices and the status as they were, even for a caller that goes on."""
        wizard = self.wizard()
        Wizard = type(self.env["collection.write.off"])
        with patch.object(
            Wizard, "_collection_attach_dossier", side_effect=UserError("wkhtmltopdf missing")
        ):
            with self.assertRaisesRegex(UserError, "wkhtmltopdf"):
                wizard.action_write_off()
        self.assertFalse(self.write_offs())
        self.assertFalse(
            self.env["collection.interaction"].search([("partner_id", "=", self.customer.id)])
        )
        self.assertEqual(self.status(), "current")
        self.assertEqual(self.old.payment_state, "not_paid")
        self.assertEqual(self.old.amount_residual, 1000.0)

    def test_write_off_is_logged_with_the_dossier(self):
        entry = self.env["account.move"].browse(self.wizard().action_write_off()["res_id"])
        interaction = self.env["collection.interaction"].search(
            [("partner_id", "=", self.customer.id), ("outcome", "=", "written_off")]
        )
        self.assertEqual(len(interaction), 1)
        self.assertEqual(interaction.user_id, self.collection_manager)
        self.assertEqual(interaction.status_after, "uncollectible")
        self.assertEqual(interaction.overdue_amount, 1400.0)
        self.assertEqual(interaction.move_ids, self.old | self.late)
        self.assertEqual(interaction.note, "Customer insolvent")
        self.assertRegex(interaction.chain_hash, r"^[0-9a-f]{64}$")
        [dossier] = self.env["ir.attachment"].search(
            [("res_model", "=", "account.move"), ("res_id", "=", entry.id)]
        )
        self.assertEqual(dossier.mimetype, "application/pdf")
        self.assertTrue(dossier.raw.startswith(b"%PDF"))
        digest = hashlib.sha256(dossier.raw).hexdigest()
        self.assertIn(digest, entry.message_ids[0].body)
        message = self.customer.message_ids.filtered(lambda m: digest in (m.body or ""))
        self.assertEqual(len(message), 1)
        self.assertEqual(message.attachment_ids.raw, dossier.raw)
        self.assertIn(interaction.chain_hash, message.body)
        self.assertEqual(
            self.env["collection.interaction"].verify_chain(self.company.id),
            {"valid": True, "first_broken_id": False},
        )

    def test_no_thank_you_for_a_write_off(self):
        """A reminded invoice written off was not paid: the customer is not thanked."""
        policy = self.env.ref("account_collection.collection_policy_default")
        policy.sudo().confirm_payment = True
        self.company.collection_policy_id = policy
        self.old.sudo().collection_last_reminder_date = day(-10)
        before = self.customer.message_ids
        self.wizard(move_ids=[Command.set(self.old.ids)]).action_write_off()
        new = self.customer.message_ids - before
        self.assertFalse(new.filtered(lambda m: "Thank you" in (m.body or "")))

    def test_foreign_currency_invoice_written_off_in_its_currency(self):
        eur = self.setup_other_currency("EUR")
        invoice = self.invoice(self.customer, 1000.0, day(-40), currency=eur)
        self.pay(invoice, 200.0)  # EUR, at the rate of 2 per USD
        entry = self.env["account.move"].browse(
            self.wizard(move_ids=[Command.set(invoice.ids)]).action_write_off()["res_id"]
        )
        receivable = entry.line_ids.filtered(lambda line: line.account_id.reconcile)
        self.assertEqual(receivable.currency_id, eur)
        self.assertEqual(receivable.amount_currency, -800.0)
        self.assertEqual(receivable.credit, 400.0)
        expense = entry.line_ids - receivable
        self.assertEqual(expense.currency_id, eur)
        self.assertEqual(expense.amount_currency, 800.0)
        self.assertEqual(expense.debit, 400.0)
        self.assertEqual(invoice.payment_state, "paid")
        self.assertEqual(invoice.amount_residual, 0.0)
        # No exchange difference: the residual is written off as booked.
        self.assertFalse(receivable.matched_debit_ids.exchange_move_id)

    def test_bad_input_writes_nothing(self):
        other_customer = self.env["res.partner"].create({"name": "Other", "is_company": True})
        other_invoice = self.invoice(other_customer, 500.0, day(-40))
        other_company = self.setup_other_company()["company"]
        self.collection_manager.company_ids |= other_company
        foreign_invoice = self.invoice(self.customer, 300.0, day(-40), company=other_company)
        draft = self.invoice(self.customer, 100.0, day(-40), post=False)
        self.company.collection_bad_debt_account_id = False
        cases = [
            ({}, "bad-debt expense account"),
            ({"account_id": self.bad_debt.id, "move_ids": [Command.clear()]}, "Select the"),
            ({"account_id": self.bad_debt.id, "reason": "  "}, "reason"),
            (
                {"account_id": self.bad_debt.id, "move_ids": [Command.set(other_invoice.ids)]},
                "not of Acme Customer",
            ),
            (
                {"account_id": self.bad_debt.id, "move_ids": [Command.set(foreign_invoice.ids)]},
                "belongs to",
            ),
            (
                {"account_id": self.bad_debt.id, "move_ids": [Command.set(draft.ids)]},
                "not a posted customer invoice",
            ),
            (
                {
                    "account_id": self.company_data["default_account_receivable"].id,
                    "move_ids": [Command.set(self.old.ids)],
                },
                "not an expense account",
            ),
        ]
        interactions = self.env["collection.interaction"].search_count([])
        for values, message in cases:
            with self.subTest(message=message):
                wizard = self.wizard(**values)
                with self.assertRaisesRegex(UserError, message):
                    wizard.action_write_off()
        self.assertFalse(self.write_offs())
        self.assertEqual(self.env["collection.interaction"].search_count([]), interactions)
        self.assertEqual(self.status(), "current")
        self.assertEqual(self.old.payment_state, "not_paid")

    def test_invoices_placed_with_an_agency_are_not_written_off(self):
        """An agency still works the invoices placed with it: they are not proposed,
        and selecting one is refused until the placement is recalled (or collected)."""
        agency = self.env["res.partner"].create(
            {
                "name": "Recovery Agency",
                "is_company": True,
                "email": "cases@agency.example.com",
                "collection_is_agency": True,
            }
        )
        placement = (
            self.env["collection.placement"]
            .with_user(self.collection_manager)
            .with_context(force_report_rendering=True)
            ._collection_place(self.old, agency)
        )
        self.assertEqual(placement.state, "placed")
        wizard = self.wizard()
        self.assertEqual(wizard.move_ids, self.late)
        wizard.move_ids = self.old | self.late
        with self.assertRaises(UserError) as caught:
            wizard.action_write_off()
        self.assertIn("is placed with Recovery Agency", str(caught.exception))
        self.assertFalse(self.write_offs())
        self.assertEqual(placement.state, "placed")
        self.assertEqual(self.old.payment_state, "not_paid")
        # Recalled, the invoice is the company's again: it can be written off.
        placement.with_user(self.collection_manager).action_recall()
        self.assertEqual(self.wizard().move_ids, self.old | self.late)

    def test_spanish_error(self):
        self.env["res.lang"]._activate_lang("es_ES")
        self.company.collection_bad_debt_account_id = False
        wizard = self.wizard().with_context(lang="es_ES")
        with self.assertRaisesRegex(UserError, "cuenta de gastos por incobrables"):
            wizard.action_write_off()

    def test_collector_cannot_write_off(self):
        """A collector attacks: creating the wizard, calling it on a manager's wizard, or
        marking an entry as a write-off; nothing is written."""
        with self.assertRaises(AccessError):
            self.wizard(user=self.collector)
        wizard = self.wizard()
        with self.assertRaises(AccessError):
            wizard.with_user(self.collector).action_write_off()
        with self.assertRaises(AccessError):
            self.customer.with_user(self.collector).action_collection_write_off()
        billing = self.make_user("billing", "account.group_account_invoice")
        with self.assertRaises(UserError):
            self.old.with_user(billing).write(
                {"collection_written_off_move_ids": [Command.set(self.late.ids)]}
            )
        self.assertFalse(self.write_offs())
        self.assertEqual(self.status(), "current")
        action = self.customer.with_user(self.collection_manager).action_collection_write_off()
        self.assertEqual(action["res_model"], "collection.write.off")


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionWriteOffRecovery(WriteOffCommon):
    """A payment after the write-off: the accountant reverses the write-off (Odoo's
    Reverse), the invoices are open again and the payment is matched with them; the KPIs
    show the amount written off and the amount recovered after it."""

    def kpis(self, date_from=None, date_to=TODAY):
        return (
            self.env["collection.kpi"]
            .with_user(self.collection_manager)
            .get_kpis(date_from or day(-29), date_to)
        )

    def test_recovery_after_write_off(self):
        with on_day(day(-20)):
            entry = self.env["account.move"].browse(
                self.wizard(date=day(-20)).action_write_off()["res_id"]
            )
        kpis = self.kpis()
        self.assertEqual(kpis["written_off"], 1400.0)
        self.assertEqual(kpis["recovered_after_write_off"], 0.0)
        self.assertEqual(kpis["recovered"], 0.0)
        self.assertEqual(kpis["previous"]["written_off"], 0.0)
        # The customer pays 600 on account ten days later.
        payment = self.customer_payment(self.customer, 600.0, day(-10))
        # The accountant reverses the write-off: the invoices are due again.
        reversal = (
            self.env["account.move.reversal"]
            .with_context(active_model="account.move", active_ids=entry.ids)
            .create({"journal_id": entry.journal_id.id, "date": day(-10), "reason": "Paid"})
        )
        reversal.reverse_moves()
        self.assertEqual(self.old.payment_state, "not_paid")
        self.assertEqual(self.old.amount_residual, 1000.0)
        # The payment is matched with the oldest invoice, as Odoo matches.
        (payment.move_id.line_ids | self.old.line_ids).filtered(
            lambda line: line.account_id.account_type == "asset_receivable"
        ).reconcile()
        self.assertEqual(self.old.amount_residual, 400.0)
        kpis = self.kpis()
        self.assertEqual(kpis["written_off"], 1400.0)
        self.assertEqual(kpis["recovered_after_write_off"], 600.0)
        self.assertEqual(kpis["recovered"], 600.0)
        # The customer stays uncollectible until a manager says otherwise.
        self.assertEqual(self.status(), "uncollectible")
        # The rest is written off again.
        with on_day(day(-5)):
            self.wizard(
                date=day(-5), move_ids=[Command.set((self.old | self.late).ids)]
            ).action_write_off()
        kpis = self.kpis()
        self.assertEqual(kpis["written_off"], 2200.0)
        self.assertEqual(kpis["recovered_after_write_off"], 600.0)
        # A payment on an invoice never written off is not a recovery.
        self.pay(self.not_due)
        kpis = self.kpis()
        self.assertEqual(kpis["recovered"], 850.0)
        self.assertEqual(kpis["recovered_after_write_off"], 600.0)
        # Before the write-off, nothing.
        kpis = self.kpis(day(-60), day(-21))
        self.assertEqual((kpis["written_off"], kpis["recovered_after_write_off"]), (0.0, 0.0))


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionDossierSeal(WriteOffCommon):
    """The dossier is complete evidence and sealed: the messages sent, the replies, the
    disputes with their files, the agreements accepted, the ledger, the head of the
    sealed log and the SHA-256 of each document; Verify tells whether the log changed."""

    def dossier_values(self):
        return self.customer.with_user(self.collection_manager)._collection_dossier_values()

    def dossier_text(self):
        pdf, _ = (
            self.env["ir.actions.report"]
            .with_user(self.collection_manager)
            .with_context(force_report_rendering=True)
            ._render_qweb_pdf(
                "account_collection.action_report_collection_dossier", self.customer.ids
            )
        )
        text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
        return " ".join(text.split())

    def test_dossier_lists_documents_with_their_hash(self):
        reason = self.env["collection.dispute.reason"].search([], limit=1)
        dispute = self.env["collection.dispute"].create(
            {
                "partner_id": self.customer.id,
                "move_ids": [Command.set(self.late.ids)],
                "reason_id": reason.id,
                "description": "Goods arrived broken",
            }
        )
        photo = self.env["ir.attachment"].create(
            {
                "name": "broken.txt",
                "raw": b"a photo of broken goods",
                "res_model": "collection.dispute",
                "res_id": dispute.id,
            }
        )
        agreement = (
            self.env["collection.agreement"]
            .with_user(self.collector)
            .create(
                {
                    "partner_id": self.customer.id,
                    "move_ids": [Command.set(self.old.ids)],
                    "instalment_count": 2,
                    "date_first": day(30),
                }
            )
        )
        agreement.with_user(self.collector).action_propose()
        agreement._accept_from_portal("Ann Buyer", signature=SIGNATURE_PNG)
        signature = self.env["ir.attachment"].search(
            [
                ("res_model", "=", "collection.agreement"),
                ("res_id", "=", agreement.id),
                ("res_field", "=", "signature"),
            ]
        )
        self.assertTrue(signature)
        first = (
            self.env["collection.interaction"]
            .with_user(self.collector)
            .create({"partner_id": self.customer.id, "channel": "call", "outcome": "contacted"})
        )
        values = self.dossier_values()
        self.assertEqual(values["disputes"], dispute)
        self.assertEqual(values["agreements"], agreement)
        manifest = {doc["attachment"]: doc for doc in values["manifest"]}
        self.assertIn(photo, manifest)
        self.assertEqual(
            manifest[photo]["sha256"], hashlib.sha256(b"a photo of broken goods").hexdigest()
        )
        self.assertEqual(manifest[photo]["record"], dispute.display_name)
        self.assertEqual(
            manifest[signature]["sha256"],
            hashlib.sha256(base64.b64decode(agreement.signature)).hexdigest(),
        )
        head = self.env["collection.interaction"].search(
            [("company_id", "=", self.company.id)], order="id desc", limit=1
        )
        self.assertEqual(values["seal"]["company"], {"id": head.id, "hash": head.chain_hash})
        customer_head = self.env["collection.interaction"].search(
            [("partner_id", "=", self.customer.id)], order="id desc", limit=1
        )
        self.assertGreaterEqual(customer_head.id, first.id)
        self.assertEqual(values["seal"]["customer"]["hash"], customer_head.chain_hash)
        kinds = {item["line"].move_id: item["kind"] for item in values["ledger"]}
        self.assertEqual(set(kinds), set(self.old | self.late | self.not_due))
        text = self.dossier_text()
        for expected in (
            "Document Manifest",
            "broken.txt",
            manifest[photo]["sha256"][:24],
            customer_head.chain_hash[:24],
            "Goods arrived broken",
            "Ann Buyer",
            "Invoices and Payments",
            self.old.name,
        ):
            self.assertIn(expected, text)

    def test_dossier_holds_messages_replies_agreements_and_write_off(self):
        reminder = self.make_reminder(self.old, day(-5))
        mail = self.env["mail.mail"].create(
            {"subject": "Your overdue invoice", "body_html": "<p>Please pay INV 1000</p>"}
        )
        delivery = (
            self.env["collection.communication.delivery"]
            .sudo()
            .create(
                {
                    "communication_id": reminder.id,
                    "channel": "email",
                    "state": "sent",
                    "recipient": "acme@example.com",
                    "mail_id": mail.id,
                }
            )
        )
        delivery.sudo().write({"date_delivered": "2026-03-12 10:00:00"})
        reply = self.env["collection.reply"]._collection_receive(
            "email",
            self.company,
            "acme@example.com",
            "We will pay next week",
            attachments=[("remittance.txt", b"remittance advice", "text/plain")],
            partner=self.customer,
        )
        self.wizard().action_write_off()
        values = self.dossier_values()
        self.assertEqual(
            values["messages"][delivery.id],
            {"subject": "Your overdue invoice", "text": "Please pay INV 1000"},
        )
        self.assertEqual(values["write_offs"], self.write_offs())
        self.assertIn("Write-off", {item["kind"] for item in values["ledger"]})
        text = self.dossier_text()
        self.assertIn("Please pay INV 1000", text)
        self.assertIn("Customer insolvent", text)
        # The dossier attached to the write-off is in the manifest of the next one.
        [attached] = self.env["ir.attachment"].search(
            [("res_model", "=", "account.move"), ("res_id", "in", self.write_offs().ids)]
        )
        manifest = {doc["attachment"]: doc["sha256"] for doc in values["manifest"]}
        self.assertEqual(manifest[attached], hashlib.sha256(attached.raw).hexdigest())
        self.assertIn(reply, values["replies"])
        self.assertIn("We will pay next week", text)
        remittance = reply.sudo().attachment_ids
        self.assertEqual(manifest[remittance], hashlib.sha256(b"remittance advice").hexdigest())

    def test_verify_button_tells_a_changed_row(self):
        entry = (
            self.env["collection.interaction"]
            .with_user(self.collector)
            .create({"partner_id": self.customer.id, "channel": "call", "outcome": "no_answer"})
        )
        customer = self.customer.with_user(self.collection_manager)
        self.assertEqual(customer.action_collection_verify_seal()["params"]["type"], "success")
        self.env.cr.execute(
            "UPDATE collection_interaction SET outcome = 'contacted' WHERE id = %s", [entry.id]
        )
        action = customer.action_collection_verify_seal()
        self.assertEqual(action["params"]["type"], "danger")
        self.assertEqual(action["params"]["next"]["res_id"], entry.id)
        with self.assertRaises(AccessError):
            self.customer.with_user(self.collector).action_collection_verify_seal()


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionWriteOffApi(WriteOffCommon, HttpCase):
    """Over JSON-2 with an API key: a collector cannot write off; an auditor verifies the
    log after a write-off and finds a row changed in SQL."""

    def json2(self, user, model, method, **params):
        # sudo: a key without expiry (the database clock is not the frozen one).
        key = (
            self.env["res.users.apikeys"]
            .with_user(user)
            .sudo()
            ._generate(scope="rpc", name="audit", expiration_date=None)
        )
        return self.url_open(
            f"/json/2/{model}/{method}",
            data=json.dumps(params),
            headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )

    @mute_logger("odoo.http")
    def test_collector_write_off_over_json2_is_refused(self):
        response = self.json2(
            self.collector,
            "collection.write.off",
            "create",
            vals_list=[
                {
                    "partner_id": self.customer.id,
                    "reason": "I say so",
                    "account_id": self.bad_debt.id,
                    "move_ids": [[6, 0, self.old.ids]],
                }
            ],
        )
        self.assertEqual(response.status_code, 403, response.text)
        response = self.json2(
            self.collector,
            "account.move",
            "write",
            ids=self.old.ids,
            vals={"collection_write_off_reason": "forged"},
        )
        self.assertNotEqual(response.status_code, 200, response.text)
        self.assertFalse(self.write_offs())
        self.assertFalse(self.old.collection_write_off_reason)
        self.assertEqual(self.status(), "current")

    def test_manager_writes_off_and_auditor_verifies_over_json2(self):
        response = self.json2(
            self.collection_manager,
            "collection.write.off",
            "create",
            vals_list=[{"partner_id": self.customer.id, "reason": "Insolvent"}],
        )
        self.assertEqual(response.status_code, 200, response.text)
        [wizard_id] = response.json()
        response = self.json2(
            self.collection_manager, "collection.write.off", "action_write_off", ids=[wizard_id]
        )
        self.assertEqual(response.status_code, 200, response.text)
        self.assertEqual(self.old.payment_state, "paid")
        response = self.json2(
            self.collector, "collection.interaction", "verify_chain", company_id=self.company.id
        )
        self.assertEqual(response.json(), {"valid": True, "first_broken_id": False})
        interaction = self.env["collection.interaction"].search([("outcome", "=", "written_off")])
        self.env.cr.execute(
            "UPDATE collection_interaction SET note = 'Paid in full' WHERE id = %s",
            [interaction.id],
        )
        response = self.json2(
            self.collector, "collection.interaction", "verify_chain", company_id=self.company.id
        )
        self.assertEqual(response.json(), {"valid": False, "first_broken_id": interaction.id})
