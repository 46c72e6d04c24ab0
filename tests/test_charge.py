from datetime import date

from lxml import html

from odoo import Command
from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, tagged

from .common import TODAY, DunningCommon, day, on_day


class ChargeCommon(DunningCommon):
    """A statutory policy (12% from 2026-01-01, 10.15% before, 40.00 compensation) whose
    levels charge fees: 15.00 at 5 days late, 25.00 at 20 days late."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        Rate = cls.env["collection.interest.rate"]
        Rate.search([]).unlink()
        Rate.create(
            [
                {"date_from": date(2025, 7, 1), "rate": 10.15},
                {"date_from": date(2026, 1, 1), "rate": 12.0},
            ]
        )
        cls.levels = cls.make_policy(
            "Reminders",
            [
                {"name": "Late", "delay": 5, "fee_amount": 15.0},
                {"name": "Later", "delay": 20, "fee_amount": 25.0},
                {"name": "Last", "delay": 60},
            ],
        )
        cls.level_late, cls.level_later, cls.level_last = cls.levels
        cls.policy = cls.level_late.policy_id
        cls.policy.interest_mode = "statutory"
        cls.customer.with_company(cls.company).collection_user_id = cls.collector

    def reach(self, move, level):
        """``move`` reached ``level`` (as the reminders set it)."""
        move.sudo().collection_level_id = level

    def charges(self, moves=None):
        domain = [("company_id", "=", self.company.id)]
        if moves is not None:
            domain.append(("invoice_id", "in", moves.ids))
        return self.env["collection.charge"].search(domain, order="id")

    def claimable(self, move):
        move.invalidate_recordset()
        return (
            move.collection_interest_amount,
            move.collection_compensation_amount,
            move.collection_fee_amount,
        )

    def charge_invoices(self):
        return self.env["account.move"].search(
            [("collection_charge_invoice", "=", True), ("company_id", "=", self.company.id)],
            order="id",
        )


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionCharge(ChargeCommon):
    """Late-payment interest, compensation and level fees: claimable until a manager or
    a level invoices them, on a real customer invoice, never twice, never on
    themselves; waived with a reason; claimable again when the charge invoice is
    reversed. Today is 2026-03-16."""

    def test_manager_invoices_what_is_claimable(self):
        """1000 due 30 days ago, at the second level: 30 days x 1000 x 12% / 365 = 9.86
        interest, 40.00 compensation, 15.00 + 25.00 fees. The manager's Invoice Charges
        posts one invoice with a line per kind, products and income accounts of the
        settings, linked to the invoice it charges for."""
        move = self.invoice(self.customer, 1000.0, day(-30))
        self.reach(move, self.level_later)
        self.assertEqual(self.claimable(move), (9.86, 40.0, 40.0))
        customer = self.customer.with_user(self.collection_manager)
        self.assertEqual(customer.collection_fee_amount, 40.0)

        action = customer.action_collection_invoice_charges()

        charge_move = self.charge_invoices()
        self.assertEqual(len(charge_move), 1)
        self.assertEqual(action["res_id"], charge_move.id)
        self.assertEqual(charge_move.state, "posted")
        self.assertEqual(charge_move.move_type, "out_invoice")
        self.assertEqual(charge_move.partner_id, self.customer)
        self.assertEqual(charge_move.invoice_origin, move.name)
        lines = charge_move.invoice_line_ids.sorted("sequence")
        self.assertEqual(lines.mapped("price_subtotal"), [9.86, 40.0, 40.0])
        self.assertEqual(charge_move.amount_total, 89.86, "no tax on the shipped products")
        self.assertEqual(
            lines.product_id,
            self.env.ref("account_collection.product_collection_interest")
            | self.env.ref("account_collection.product_collection_compensation")
            | self.env.ref("account_collection.product_collection_fee"),
        )
        self.assertIn(move.name, lines[0].name)
        self.assertEqual(lines.account_id, self.company_data["default_account_revenue"])
        charges = self.charges(move)
        self.assertEqual(charges.mapped("kind"), ["interest", "compensation", "fee", "fee"])
        self.assertEqual(charges.mapped("level_id"), self.level_late | self.level_later)
        self.assertEqual(set(charges.mapped("state")), {"invoiced"})
        self.assertEqual(charges.charge_move_id, charge_move)
        self.assertEqual(charges.mapped("date_to"), [TODAY] * 4)
        self.assertEqual(charges[0].date_from, day(-29))
        self.assertEqual(charges.user_id, self.collection_manager)
        # Nothing claimable any more: invoiced.
        self.assertEqual(self.claimable(move), (0.0, 0.0, 0.0))
        self.assertFalse(self.customer.with_user(self.collector).collection_fee_amount)
        # The log says what was charged, on the invoice.
        logged = charges.interaction_id
        self.assertEqual(len(logged), 1)
        self.assertEqual(logged.move_ids, move)
        self.assertIn(charge_move.name, logged.note)

        # A product of its own, with its own income account, from the settings.
        income = self.company_data["default_account_revenue"].copy({"code": "769000"})
        product = self.env["product.product"].create(
            {"name": "Interest", "type": "service", "property_account_income_id": income.id}
        )
        self.company.collection_interest_product_id = product
        with on_day(day(10)):
            move.invalidate_recordset()
            move.with_user(self.collection_manager).action_collection_invoice_charges()
        second = self.charge_invoices() - charge_move
        self.assertEqual(second.invoice_line_ids.product_id, product)
        self.assertEqual(second.invoice_line_ids.account_id, income)

    def test_charges_never_count_twice(self):
        """Interest charged up to a day counts again from the day after; compensation
        once per invoice; a level's fee once per level per invoice. By hand: 1000 due
        2025-12-01, 400 paid on 2025-12-21, charged on 2026-01-10:
          2025-12-02..2025-12-20  19 days x 1000 x 10.15%
          2025-12-21..2025-12-31  11 days x  600 x 10.15%
          2026-01-01..2026-01-10  10 days x  600 x 12.00%
          = (192850 + 66990 + 72000) / 36500 = 9.09
        then 300 paid on 2026-02-10; today (2026-03-16):
          2026-01-11..2026-02-09  30 days x 600 x 12% + 35 days x 300 x 12%
          = (216000 + 126000) / 36500 = 9.37
        9.09 + 9.37 = 18.46, the interest of the whole period uncharged."""
        move = self.invoice(self.customer, 1000.0, date(2025, 12, 1))
        self.pay(move, 400.0, date(2025, 12, 21))
        self.reach(move, self.level_late)
        Charge = self.env["collection.charge"].with_user(self.collection_manager)
        with on_day(date(2026, 1, 10)):
            first = Charge._collection_invoice(move)
            self.assertEqual(first.invoice_line_ids.mapped("price_subtotal"), [9.09, 40.0, 15.0])
        self.pay(move, 300.0, date(2026, 2, 10))
        self.assertEqual(self.claimable(move), (9.37, 0.0, 0.0))
        second = Charge._collection_invoice(move)
        self.assertEqual(second.invoice_line_ids.mapped("price_subtotal"), [9.37])
        interest = self.charges(move).filtered(lambda c: c.kind == "interest")
        self.assertEqual(interest.mapped("date_from"), [date(2025, 12, 2), date(2026, 1, 11)])
        self.assertEqual(interest.mapped("date_to"), [date(2026, 1, 10), TODAY])
        self.assertAlmostEqual(sum(interest.mapped("amount")), 18.46)
        # Nothing left today: a third click invoices nothing.
        with self.assertRaisesRegex(UserError, "Nothing is claimable"):
            move.with_user(self.collection_manager).action_collection_invoice_charges()
        self.assertEqual(len(self.charge_invoices()), 2)
        # The next level brings its own fee only.
        self.reach(move, self.level_later)
        self.assertEqual(self.claimable(move), (0.0, 0.0, 25.0))

    def test_no_interest_on_interest(self):
        """The charge invoice, overdue in turn, bears no interest, compensation nor fee,
        and the customer's claimable amounts leave it out."""
        move = self.invoice(self.customer, 1000.0, day(-30))
        self.reach(move, self.level_later)
        charge_move = self.env["collection.charge"]._collection_invoice(move)
        self.assertTrue(charge_move.collection_charge_invoice)
        with on_day(day(90)):
            self.reach(charge_move, self.level_later)
            self.assertEqual(self.claimable(charge_move), (0.0, 0.0, 0.0))
            self.assertTrue(charge_move.collection_days_overdue)
            customer = self.customer.with_user(self.collector)
            customer.invalidate_recordset()
            # 90 days more on the 1000 only: 90 x 1000 x 12% / 365 = 29.59.
            self.assertAlmostEqual(customer.collection_interest_amount, 29.59)
            self.assertFalse(customer.collection_compensation_amount)
            with self.assertRaisesRegex(UserError, "Nothing is claimable"):
                charge_move.with_user(self.collection_manager).action_collection_invoice_charges()

    def test_waive_with_reason_is_logged(self):
        """A manager waives the interest and fees, keeping the compensation: they are no
        longer claimable, the reason is kept and logged as an interaction on the
        invoice; interest counts again from tomorrow."""
        move = self.invoice(self.customer, 1000.0, day(-30))
        self.reach(move, self.level_late)
        action = self.customer.with_user(self.collection_manager).action_collection_waive_charges()
        self.assertEqual(action["res_model"], "collection.charge.waive")
        Waive = self.env["collection.charge.waive"].with_user(self.collection_manager)
        blank = Waive.with_context(action["context"]).create({"reason": " "})
        with self.assertRaisesRegex(UserError, "Say why"):
            blank.action_confirm()
        wizard = Waive.with_context(action["context"]).create(
            {"reason": "Key account, first delay", "waive_compensation": False}
        )
        self.assertEqual(wizard.move_ids, move)
        self.assertEqual(
            (wizard.interest_amount, wizard.compensation_amount, wizard.fee_amount),
            (9.86, 40.0, 15.0),
        )
        wizard.action_confirm()
        charges = self.charges(move)
        self.assertEqual(charges.mapped("kind"), ["interest", "fee"])
        self.assertEqual(set(charges.mapped("state")), {"waived"})
        self.assertEqual(set(charges.mapped("reason")), {"Key account, first delay"})
        self.assertFalse(charges.charge_move_id)
        self.assertEqual(self.claimable(move), (0.0, 40.0, 0.0))
        interaction = charges.interaction_id
        self.assertEqual(len(interaction), 1)
        self.assertEqual(interaction.partner_id, self.customer)
        self.assertEqual(interaction.move_ids, move)
        self.assertEqual(interaction.user_id, self.collection_manager)
        self.assertIn("Key account, first delay", interaction.note)
        self.assertTrue(
            self.env["collection.interaction"].verify_chain(self.company.id)["valid"],
            "the waiver is logged through the chain",
        )
        with on_day(day(1)):
            # 1 day x 1000 x 12% / 365 = 0.33
            self.assertEqual(self.claimable(move), (0.33, 40.0, 0.0))
        with self.assertRaisesRegex(UserError, "Say why"):
            self.env["collection.charge"].with_user(self.collection_manager)._collection_waive(
                move, "  "
            )

    def test_reversed_charge_invoice_is_claimable_again(self):
        """Reversing the charge invoice with a credit note (Odoo's Credit Note, full
        refund) or cancelling it makes its charges reversed and the amounts claimable
        again; a credit note of part of it, or one not posted yet, leaves them invoiced."""
        move = self.invoice(self.customer, 1000.0, day(-30))
        self.reach(move, self.level_late)
        charge_move = self.env["collection.charge"]._collection_invoice(move)
        self.assertEqual(self.claimable(move), (0.0, 0.0, 0.0))
        # A credit note of part of it: still invoiced.
        partial = self.invoice(self.customer, 10.0, TODAY, move_type="out_refund")
        (charge_move | partial).line_ids.filtered(
            lambda line: line.account_id.account_type == "asset_receivable"
        ).reconcile()
        self.assertEqual(charge_move.payment_state, "partial")
        self.assertEqual(set(self.charges(move).mapped("state")), {"invoiced"})
        self.assertEqual(self.claimable(move), (0.0, 0.0, 0.0))
        reversal = (
            self.env["account.move.reversal"]
            .with_context(active_model="account.move", active_ids=charge_move.ids)
            .create({"journal_id": charge_move.journal_id.id, "reason": "Goodwill"})
        )
        reversal.refund_moves()
        credit_note = charge_move.reversal_move_ids
        self.assertEqual(credit_note.state, "draft")
        self.assertEqual(set(self.charges(move).mapped("state")), {"invoiced"}, "not posted yet")
        credit_note.action_post()  # reconciled with the invoice it reverses
        self.assertEqual(charge_move.payment_state, "reversed")
        self.assertEqual(set(self.charges(move).mapped("state")), {"reversed"})
        self.assertEqual(self.claimable(move), (9.86, 40.0, 15.0))

        # Invoiced again, then cancelled: claimable again.
        again = self.env["collection.charge"]._collection_invoice(move)
        self.assertEqual(again.amount_total, 64.86)
        again.button_draft()
        again.button_cancel()
        self.assertEqual(
            set(self.charges(move).filtered(lambda c: c.charge_move_id == again).mapped("state")),
            {"reversed"},
        )
        self.assertEqual(self.claimable(move), (9.86, 40.0, 15.0))

    def test_level_invoices_the_charges(self):
        """A level that invoices the charges: the dunning run that moves an invoice to
        it posts the charge invoice with the level's fee; levels without the option
        leave the charges claimable."""
        self.level_later.invoice_charges = True
        self.policy.mode = "automatic"
        move = self.invoice(self.customer, 1000.0, day(-10))
        self.run_dunning(day(-5))
        self.assertEqual(move.collection_level_id, self.level_late)
        self.assertFalse(self.charge_invoices(), "the first level does not invoice")
        self.assertEqual(self.claimable(move)[2], 15.0)
        self.run_dunning(day(10))
        with on_day(day(10)):
            move.invalidate_recordset()
            self.assertEqual(move.collection_level_id, self.level_later)
            charge_move = self.charge_invoices()
            self.assertEqual(len(charge_move), 1)
            charges = self.charges(move)
            self.assertEqual(charges.mapped("kind"), ["interest", "compensation", "fee", "fee"])
            self.assertTrue(all(charges.mapped("automatic")))
            self.assertFalse(charges.user_id)
            # 20 days x 1000 x 12% / 365 = 6.58
            self.assertEqual(charge_move.amount_total, 6.58 + 40.0 + 15.0 + 25.0)
            self.assertEqual(self.claimable(move), (0.0, 0.0, 0.0))
        # The next run does not charge again.
        self.run_dunning(day(10))
        self.assertEqual(self.charge_invoices(), charge_move)

    def test_collector_cannot_invoice_nor_waive(self):
        """The requests a collector could send over the API are refused and write
        nothing: the buttons, the service, the wizard, the charges themselves."""
        move = self.invoice(self.customer, 1000.0, day(-30))
        self.reach(move, self.level_late)
        customer = self.customer.with_user(self.collector)
        as_collector = move.with_user(self.collector)
        Charge = self.env["collection.charge"].with_user(self.collector)
        attacks = {
            "customer Invoice Charges": customer.action_collection_invoice_charges,
            "customer Waive Charges": customer.action_collection_waive_charges,
            "invoice Invoice Charges": as_collector.action_collection_invoice_charges,
            "invoice Waive Charges": as_collector.action_collection_waive_charges,
            "the service": lambda: Charge._collection_invoice(as_collector),
            "the waiver": lambda: Charge._collection_waive(as_collector, "I am nice"),
            "the wizard": lambda: (
                self.env["collection.charge.waive"]
                .with_user(self.collector)
                .create({"move_ids": [Command.set(move.ids)], "reason": "I am nice"})
            ),
            "a charge created": lambda: Charge.create(
                {"invoice_id": move.id, "kind": "interest", "amount": 1.0, "date_to": TODAY}
            ),
        }
        for name, attack in attacks.items():
            with self.subTest(name), self.assertRaises(AccessError):
                attack()
        # A billing user cannot take an invoice out of the interest by flagging it.
        billing = self.make_user("billing", "account.group_account_invoice")
        with self.assertRaisesRegex(UserError, "Only the late-payment charges"):
            move.with_user(billing).write({"collection_charge_invoice": True})
        self.assertFalse(self.charges())
        self.assertFalse(self.charge_invoices())
        self.assertEqual(self.claimable(move), (9.86, 40.0, 15.0))
        # A charge a manager invoiced cannot be rewritten nor deleted by anyone but the engine.
        self.env["collection.charge"]._collection_invoice(move)
        charge = self.charges(move)[0]
        for user in (self.collector, self.collection_manager):
            with self.subTest(user=user.login):
                with self.assertRaises(AccessError):
                    charge.with_user(user).write({"amount": 0.01})
                with self.assertRaises(AccessError):
                    charge.with_user(user).unlink()
        self.assertTrue(charge.with_user(self.collector).amount)

    def test_claimable_fees_on_reminders_statements_and_letters(self):
        """The reminder email, the statement and the letter list the fees claimable with
        the interest and the compensation."""
        move = self.invoice(self.customer, 1000.0, day(-30))
        self.reach(move, self.level_later)
        reminder = self.make_reminder(move, TODAY, delay=15)
        self.assertEqual(reminder.collection_fee_amount, 40.0)
        template = self.env.ref("account_collection.mail_template_reminder_overdue")
        body = template._render_field("body_html", reminder.ids)[reminder.id]
        self.assertIn("Dunning fees claimable:", body)
        self.assertIn("40.00", body)
        Report = self.env["ir.actions.report"].with_user(self.collector)
        content, _type = Report._render_qweb_html(
            "account_collection.action_report_collection_statement", self.customer.ids
        )
        text = " ".join(content.decode().split())
        self.assertIn("Dunning fees claimable", text)
        content, _type = self.env["ir.actions.report"]._render_qweb_html(
            "account_collection.action_report_collection_letter", reminder.ids
        )
        letter = html.fromstring(content)
        rows = [
            " ".join(row.text_content().split())
            for row in letter.xpath(
                "//table[contains(@class, 'o_collection_letter_claimable')]//tr"
            )
        ]
        self.assertEqual(len(rows), 3)
        self.assertTrue(rows[0].startswith("Late-payment interest claimable"))
        self.assertIn("9.86", rows[0])
        self.assertIn("40.00", rows[2])
        # Once invoiced, nothing is claimable and the lines go.
        self.env["collection.charge"]._collection_invoice(move)
        reminder.invalidate_recordset()
        body = template._render_field("body_html", reminder.ids)[reminder.id]
        self.assertNotIn("claimable", body)


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionChargePortal(ChargeCommon, HttpCase):
    """The customer's statement on the portal says what is claimable."""

    def test_portal_statement_says_claimable(self):
        move = self.invoice(self.customer, 1000.0, day(-30))
        self.reach(move, self.level_late)
        token = self.customer._collection_portal_token(self.company)
        response = self.url_open(
            f"/my/collections/{self.customer.id}?company_id={self.company.id}&access_token={token}",
            allow_redirects=False,
        )
        self.assertEqual(response.status_code, 200)
        page = html.fromstring(response.content)
        figures = {
            kind: " ".join(
                page.xpath(f"//*[contains(@class, 'o_collection_claimable_{kind}')]")[0]
                .text_content()
                .split()
            )
            for kind in ("interest", "compensation", "fee")
        }
        self.assertIn("9.86", figures["interest"])
        self.assertIn("40.00", figures["compensation"])
        self.assertIn("15.00", figures["fee"])
