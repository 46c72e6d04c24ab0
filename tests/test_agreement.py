from contextlib import contextmanager
from datetime import date

from odoo import Command
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import tagged

from .common import TODAY, CollectionCommon, day, on_day


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionAgreement(CollectionCommon):
    """Payment agreements: the instalment plan, interest and fee, the manager's approval
    above the company's amount, the instalments followed on the ledger (kept, partly
    paid, missed after the grace period), the break that resumes the reminders, the
    completion, the PDF, and the requests and acceptances from the portal."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company.write(
            {"collection_agreement_grace_days": 5, "collection_agreement_approval_amount": 0.0}
        )
        cls.customer.with_company(cls.company).collection_user_id = cls.collector
        cls.broken_type = cls.env.ref("account_collection.mail_activity_type_broken_agreement")
        cls.agreement_cron = cls.env.ref(
            "account_collection.ir_cron_collection_evaluate_agreements"
        )
        cls.dunning_cron = cls.env.ref("account_collection.ir_cron_collection_dunning")
        cls.portal_user = cls.make_user("acme_portal", "base.group_portal", name="Ann Buyer")
        cls.portal_user.partner_id.parent_id = cls.customer

    # ------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------

    def make_agreement(self, invoices, count=3, first=date(2026, 4, 16), user=None, **values):
        """The collector (or ``user``) drafts an agreement on ``invoices``: ``count``
        monthly instalments from ``first``."""
        return (
            self.env["collection.agreement"]
            .with_user(user or self.collector)
            .create(
                {
                    "partner_id": invoices[:1].commercial_partner_id.id,
                    "move_ids": [Command.set(invoices.ids)],
                    "instalment_count": count,
                    "date_first": first,
                    **values,
                }
            )
        )

    @contextmanager
    def assertRefused(self, exception, pattern):
        """Like assertRaisesRegex, within a savepoint rolled back on the error, as the
        request of a user would be."""
        with self.assertRaises(exception) as caught:
            yield caught
        self.assertRegex(str(caught.exception), pattern)

    def plan(self, agreement):
        return [
            (i.date, i.amount, i.amount_paid, i.state)
            for i in agreement.instalment_ids.sorted(lambda i: (i.date, i.sequence))
        ]

    def status(self, partner=None):
        return (partner or self.customer).with_company(self.company).collection_status

    def evaluate_on(self, when):
        """The daily check of the agreements runs at noon of ``when``."""
        with on_day(when), self.enter_registry_test_mode():
            self.assertIs(self.agreement_cron.method_direct_trigger(), True)

    def interactions(self, partner=None):
        return self.env["collection.interaction"].search(
            [("partner_id", "=", (partner or self.customer).id)], order="id"
        )

    # ------------------------------------------------------------------
    # The plan
    # ------------------------------------------------------------------

    def test_daily_check_goes_on_past_a_failing_agreement(self):
        """An agreement whose check fails stays active with the error on its chatter;
        the other agreements of the run are followed all the same."""
        other_customer = self.env["res.partner"].create(
            {"name": "Other Customer", "is_company": True}
        )
        failing = self.make_agreement(self.invoice(self.customer, 1000.0, day(-20)), count=2)
        other = self.make_agreement(self.invoice(other_customer, 1000.0, day(-20)), count=2)
        (failing | other).with_user(self.collector).action_activate()
        # The first instalment (16 April) and its grace period have passed.
        with self.failing_check(failing, "The ledger of this agreement is locked."):
            self.evaluate_on(date(2026, 4, 30))
        self.assertEqual(other.state, "broken")
        self.assertEqual(failing.state, "active")
        self.assertTrue(
            failing.message_ids.filtered(
                lambda m: "The ledger of this agreement is locked." in str(m.body)
            )
        )
        self.evaluate_on(date(2026, 5, 1))
        self.assertEqual(failing.state, "broken")

    def test_even_instalments_last_takes_the_remainder(self):
        invoices = self.invoice(self.customer, 600.0, day(-20)) + self.invoice(
            self.customer, 400.0, day(-10)
        )
        agreement = self.make_agreement(invoices)
        self.assertRecordValues(
            agreement,
            [
                {
                    "state": "draft",
                    "amount": 1000.0,
                    "amount_total": 1000.0,
                    "user_id": self.collector.id,
                    "date_start": TODAY,
                }
            ],
        )
        self.assertTrue(agreement.name.startswith("PA/2026/"))
        self.assertEqual(
            self.plan(agreement),
            [
                (date(2026, 4, 16), 333.33, 0.0, "pending"),
                (date(2026, 5, 16), 333.33, 0.0, "pending"),
                (date(2026, 6, 16), 333.34, 0.0, "pending"),
            ],
        )

        # Every week instead, in four: computed again on request.
        agreement.with_user(self.collector).write(
            {"instalment_count": 4, "interval_type": "weeks", "date_first": day(4)}
        )
        agreement.with_user(self.collector).action_generate_instalments()
        self.assertEqual(
            self.plan(agreement),
            [
                (date(2026, 3, 20), 250.0, 0.0, "pending"),
                (date(2026, 3, 27), 250.0, 0.0, "pending"),
                (date(2026, 4, 3), 250.0, 0.0, "pending"),
                (date(2026, 4, 10), 250.0, 0.0, "pending"),
            ],
        )

        # Month ends stay month ends: 31 January, then the end of each month.
        with on_day(date(2026, 1, 10)):
            invoice = self.invoice(self.customer, 100.0, date(2026, 1, 5))
            january = self.make_agreement(invoice, count=3, first=date(2026, 1, 31))
        self.assertEqual(
            self.plan(january),
            [
                (date(2026, 1, 31), 33.33, 0.0, "pending"),
                (date(2026, 2, 28), 33.33, 0.0, "pending"),
                (date(2026, 3, 31), 33.34, 0.0, "pending"),
            ],
        )

    def test_interest_and_fee_are_invoiced_and_count(self):
        invoice = self.invoice(self.customer, 1000.0, day(-20))
        agreement = self.make_agreement(invoice, count=4, interest_rate=5.0, fee_amount=25.0)
        self.assertRecordValues(
            agreement,
            [
                {
                    "amount": 1000.0,
                    "interest_amount": 50.0,
                    "charges_amount": 75.0,
                    "amount_total": 1075.0,
                }
            ],
        )
        self.assertEqual([i.amount for i in agreement.instalment_ids], [268.75] * 4)

        agreement.with_user(self.collector).action_activate()
        charges = agreement.charges_move_id
        self.assertRecordValues(
            charges,
            [
                {
                    "move_type": "out_invoice",
                    "state": "posted",
                    "partner_id": self.customer.id,
                    "amount_total": 75.0,
                    "invoice_date": TODAY,
                    "invoice_date_due": date(2026, 7, 16),
                    "invoice_origin": agreement.name,
                }
            ],
        )

        # The invoice paid in full covers the first three instalments and part of the fourth.
        self.pay_on(10, invoice, 1000.0)
        self.assertEqual(agreement.state, "active")
        self.assertEqual(agreement.amount_paid, 1000.0)
        self.assertEqual(
            [(i.amount_paid, i.state) for i in agreement.instalment_ids],
            [(268.75, "paid"), (268.75, "paid"), (268.75, "paid"), (193.75, "partial")],
        )
        # The interest and fee complete it.
        self.pay_on(12, charges, 75.0)
        self.assertRecordValues(
            agreement, [{"state": "completed", "amount_paid": 1075.0, "date_closed": day(12)}]
        )

    # ------------------------------------------------------------------
    # Approval
    # ------------------------------------------------------------------

    def test_approval_above_the_company_amount(self):
        self.company.collection_agreement_approval_amount = 5000.0
        big = self.make_agreement(self.invoice(self.customer, 6000.0, day(-20)))
        self.assertTrue(big.approval_required)

        # The collector may propose it, not start it.
        big.with_user(self.collector).action_propose()
        self.assertEqual(big.state, "proposed")
        with self.assertRefused(UserError, "collection manager must approve it"):
            big.with_user(self.collector).action_activate()
        self.assertRecordValues(big, [{"state": "proposed", "approved_user_id": False}])
        self.assertEqual(self.status(), "current")

        big.with_user(self.collection_manager).action_activate()
        self.assertRecordValues(
            big, [{"state": "active", "approved_user_id": self.collection_manager.id}]
        )
        self.assertEqual(self.status(), "agreement")

        # Up to the amount, the collector starts it alone.
        other = self.env["res.partner"].create({"name": "Beta Customer", "is_company": True})
        small = self.make_agreement(self.invoice(other, 5000.0, day(-20)))
        self.assertFalse(small.approval_required)
        small.with_user(self.collector).action_activate()
        self.assertRecordValues(small, [{"state": "active", "approved_user_id": False}])

        # An approval given on a draft is lost when the plan changes afterwards.
        third = self.env["res.partner"].create({"name": "Gamma Customer", "is_company": True})
        draft = self.make_agreement(self.invoice(third, 4900.0, day(-20)), fee_amount=50.0)
        self.assertFalse(draft.approval_required)
        draft.with_user(self.collector).write({"fee_amount": 150.0})
        self.assertTrue(draft.approval_required)
        with self.assertRaises(UserError):
            draft.with_user(self.collector).action_approve()
        draft.with_user(self.collection_manager).action_approve()
        self.assertEqual(draft.approved_user_id, self.collection_manager)
        draft.with_user(self.collector).write({"fee_amount": 200.0})
        self.assertFalse(draft.approved_user_id)
        draft.with_user(self.collector).action_generate_instalments()
        with self.assertRefused(UserError, "collection manager must approve it"):
            draft.with_user(self.collector).action_activate()
        self.assertEqual(draft.state, "draft")

    # ------------------------------------------------------------------
    # Following the ledger
    # ------------------------------------------------------------------

    def test_instalments_kept_with_partial_payments_and_grace(self):
        invoice = self.invoice(self.customer, 1000.0, day(-30))
        # Paid before the agreement: it is not part of it.
        self.pay_on(-5, invoice, 100.0)
        agreement = self.make_agreement(invoice)
        self.assertEqual(agreement.amount, 900.0)
        agreement.with_user(self.collector).action_propose()
        agreement.with_user(self.collector).action_activate()
        self.assertRecordValues(agreement, [{"state": "active", "amount_paid": 0.0}])
        self.assertEqual(self.status(), "agreement")
        started = self.interactions()[-1]
        self.assertRecordValues(
            started,
            [{"channel": "note", "status_after": "agreement", "user_id": self.collector.id}],
        )
        self.assertEqual(started.move_ids, invoice)

        with on_day(date(2026, 4, 10)):
            self.pay(invoice, 200.0, date(2026, 4, 10))
        self.assertEqual(
            self.plan(agreement),
            [
                (date(2026, 4, 16), 300.0, 200.0, "partial"),
                (date(2026, 5, 16), 300.0, 0.0, "pending"),
                (date(2026, 6, 16), 300.0, 0.0, "pending"),
            ],
        )
        # The rest of the first instalment arrives within the grace period (5 days).
        with on_day(date(2026, 4, 20)):
            self.pay(invoice, 100.0, date(2026, 4, 20))
        self.evaluate_on(date(2026, 4, 21))
        self.assertEqual(agreement.state, "active")
        # One payment covering the second instalment and half of the third.
        with on_day(date(2026, 5, 21)):
            self.pay(invoice, 450.0, date(2026, 5, 21))
        self.evaluate_on(date(2026, 6, 21))
        self.assertEqual(agreement.state, "active")
        self.assertEqual(
            self.plan(agreement),
            [
                (date(2026, 4, 16), 300.0, 300.0, "paid"),
                (date(2026, 5, 16), 300.0, 300.0, "paid"),
                (date(2026, 6, 16), 300.0, 150.0, "partial"),
            ],
        )
        self.assertEqual(self.status(), "agreement")

        # The last payment, on the last day of grace, completes it.
        with on_day(date(2026, 6, 21)):
            self.pay(invoice, 150.0, date(2026, 6, 21))
        self.assertRecordValues(
            agreement,
            [{"state": "completed", "amount_paid": 900.0, "date_closed": date(2026, 6, 21)}],
        )
        self.assertEqual([i.state for i in agreement.instalment_ids], ["paid"] * 3)
        self.assertEqual(self.status(), "current")
        completed = self.interactions()[-1]
        self.assertRecordValues(
            completed, [{"status_after": "current", "automatic": True, "user_id": False}]
        )
        self.assertIn("completed", completed.note)
        self.assertFalse(agreement.activity_ids)

    def test_missed_instalment_breaks_and_reminders_resume(self):
        template = self.env.ref("account_collection.mail_template_reminder_overdue")
        self.make_policy(
            "Test reminders",
            [{"name": "Late", "delay": 10, "send_email": True, "mail_template_id": template.id}],
        )
        invoice = self.invoice(self.customer, 1000.0, day(-20))
        control = self.env["res.partner"].create(
            {"name": "Control Customer", "is_company": True, "email": "control@example.com"}
        )
        control_invoice = self.invoice(control, 500.0, day(-20))
        agreement = self.make_agreement(invoice, count=2, first=date(2026, 4, 1))
        agreement.with_user(self.collector).action_activate()

        def reminders(partner):
            return self.env["collection.communication"].search([("partner_id", "=", partner.id)])

        def run_dunning(when):
            with on_day(when), self.enter_registry_test_mode():
                self.assertIs(self.dunning_cron.method_direct_trigger(), True)

        # While the agreement runs, its invoice gets no reminder; others do.
        run_dunning(TODAY)
        self.assertFalse(reminders(self.customer))
        self.assertEqual(reminders(control).move_ids, control_invoice)

        with on_day(date(2026, 3, 30)):
            self.pay(invoice, 200.0, date(2026, 3, 30))
        # The first instalment's date (1 April) and 5 days of grace pass.
        self.evaluate_on(date(2026, 4, 6))
        self.assertEqual(agreement.state, "active")
        self.assertFalse(agreement.activity_ids)
        self.evaluate_on(date(2026, 4, 7))
        self.assertRecordValues(
            agreement, [{"state": "broken", "amount_paid": 200.0, "date_closed": date(2026, 4, 7)}]
        )
        self.assertEqual(
            self.plan(agreement),
            [
                (date(2026, 4, 1), 500.0, 200.0, "missed"),
                (date(2026, 5, 1), 500.0, 0.0, "pending"),
            ],
        )
        self.assertEqual(self.status(), "negotiating")
        activity = agreement.activity_ids
        self.assertRecordValues(
            activity,
            [
                {
                    "activity_type_id": self.broken_type.id,
                    "user_id": self.collector.id,
                    "date_deadline": date(2026, 4, 7),
                }
            ],
        )
        self.assertTrue(agreement.message_ids.filtered(lambda m: "broken" in str(m.body)))
        self.assertTrue(
            self.customer.message_ids.filtered(
                lambda m: agreement.name in str(m.body) and "broken" in str(m.body)
            )
        )
        broken = self.interactions()[-1]
        self.assertRecordValues(
            broken,
            [{"status_before": "agreement", "status_after": "negotiating", "automatic": True}],
        )
        # A second run changes nothing.
        self.evaluate_on(date(2026, 4, 8))
        self.assertEqual(len(agreement.activity_ids), 1)

        # The reminders resume on the invoice.
        run_dunning(date(2026, 4, 7))
        self.assertEqual(reminders(self.customer).move_ids, invoice)

    def test_payment_dated_before_the_start_does_not_count(self):
        invoice = self.invoice(self.customer, 1000.0, day(-30))
        # Received two days ago, not matched yet.
        payment = self.customer_payment(self.customer, 300.0, day(-2))
        agreement = self.make_agreement(invoice, count=2, first=date(2026, 4, 1))
        agreement.with_user(self.collector).action_activate()
        line = payment.move_id.line_ids.filtered(lambda aml: aml.account_type == "asset_receivable")
        with on_day(day(1)):
            invoice.js_assign_outstanding_line(line.id)
        self.assertEqual(invoice.amount_residual, 700.0)
        self.assertRecordValues(agreement, [{"state": "active", "amount_paid": 0.0}])

    # ------------------------------------------------------------------
    # The PDF
    # ------------------------------------------------------------------

    def test_pdf_has_the_plan_in_the_customer_language(self):
        self.env["res.lang"]._activate_lang("es_ES")
        self.customer.lang = "es_ES"
        invoice = self.invoice(self.customer, 1000.0, day(-20))
        agreement = self.make_agreement(invoice, interest_rate=2.0)
        html, _kind = (
            self.env["ir.actions.report"]
            .with_user(self.collector)
            ._render_qweb_html(
                "account_collection.action_report_collection_agreement", agreement.ids
            )
        )
        html = html.decode()
        self.assertIn(agreement.name, html)
        self.assertIn(invoice.name, html)
        self.assertIn("Acme Customer", html)
        # Spanish dates and amounts: 1,020.00 in 3 instalments of 340.00.
        for text in ("16/04/2026", "16/05/2026", "16/06/2026", "340,00", "1.020,00", "20,00"):
            self.assertIn(text, html)
        self.assertIn("5 days", html.replace("</span>", "").replace("<span>", ""))

    def test_sent_by_email_with_the_plan(self):
        invoice = self.invoice(self.customer, 1000.0, day(-20))
        agreement = self.make_agreement(invoice)
        with self.assertRefused(UserError, "Propose the agreement before sending it"):
            agreement.with_user(self.collector).action_send()
        agreement.with_user(self.collector).action_propose()
        action = agreement.with_user(self.collector).action_send()
        template = self.env.ref("account_collection.mail_template_collection_agreement")
        self.assertEqual(action["context"]["default_template_id"], template.id)
        self.assertEqual(
            template.report_template_ids,
            self.env.ref("account_collection.action_report_collection_agreement"),
        )
        body = template._render_field("body_html", agreement.ids)[agreement.id]
        for text in (agreement.name, "333.33", "333.34", "04/16/2026", "06/16/2026"):
            self.assertIn(text, body)
        # The link opens the agreement without a login, through its access token.
        self.assertTrue(agreement.access_token)
        self.assertIn(f"/my/agreements/{agreement.id}?access_token={agreement.access_token}", body)

    # ------------------------------------------------------------------
    # Access
    # ------------------------------------------------------------------

    def test_access(self):
        invoice = self.invoice(self.customer, 900.0, day(-20))
        agreement = self.make_agreement(invoice)
        billing = self.make_user("billing", "account.group_account_invoice")
        employee = self.make_user("employee", "base.group_user")
        collector_2 = self.make_user("collector_2", "account_collection.group_collection_user")
        # Billing users read agreements and their plans; they change nothing.
        self.assertEqual(agreement.with_user(billing).amount_total, 900.0)
        self.assertEqual(len(agreement.with_user(billing).instalment_ids), 3)
        with self.assertRaises(AccessError):
            agreement.with_user(billing).write({"note": "Paid by transfer."})
        # Other employees do not even read them.
        with self.assertRaises(AccessError):
            agreement.with_user(employee).read(["amount_total"])
        # With portfolios restricted, another collector does not see this customer's.
        Agreement = self.env["collection.agreement"]
        self.assertEqual(Agreement.with_user(collector_2).search([]), agreement)
        self.company.collection_portfolio_restricted = True
        self.assertFalse(Agreement.with_user(collector_2).search([]))
        self.assertEqual(Agreement.with_user(self.collector).search([]), agreement)
        self.assertEqual(Agreement.with_user(self.collection_manager).search([]), agreement)

    # ------------------------------------------------------------------
    # Bad input
    # ------------------------------------------------------------------

    def test_bad_input_is_refused_and_nothing_written(self):
        invoice = self.invoice(self.customer, 1000.0, day(-20))
        other = self.env["res.partner"].create({"name": "Beta Customer", "is_company": True})
        foreign = self.invoice(other, 500.0, day(-20))
        Agreement = self.env["collection.agreement"]

        with self.assertRefused(ValidationError, "do not belong to Acme Customer"):
            self.make_agreement(invoice + foreign)
        paid = self.invoice(self.customer, 100.0, day(-20))
        self.pay(paid)
        with self.assertRefused(ValidationError, "still open"):
            self.make_agreement(paid)
        with self.assertRefused(ValidationError, "in the past"):
            self.make_agreement(invoice, first=day(-1))
        self.assertFalse(Agreement.search([("partner_id", "in", (self.customer | other).ids)]))

        # No instalment.
        empty = self.make_agreement(invoice, count=0)
        self.assertFalse(empty.instalment_ids)
        with self.assertRefused(ValidationError, "has no instalment"):
            empty.with_user(self.collector).action_propose()
        with self.assertRefused(ValidationError, "at least one instalment"):
            empty.with_user(self.collector).action_generate_instalments()
        self.assertEqual(empty.state, "draft")
        empty.with_user(self.collection_manager).unlink()

        agreement = self.make_agreement(invoice)
        first = agreement.instalment_ids.sorted("date")[0]
        # An instalment in the past.
        with self.assertRefused(ValidationError, "in the past"):
            first.with_user(self.collector).date = day(-1)
        # Amounts edited by hand that do not add up to the total.
        first.with_user(self.collector).amount = 300.0
        with self.assertRefused(ValidationError, r"add up to .*966\.67.* total is .*1,000\.00"):
            agreement.with_user(self.collector).action_propose()
        with self.assertRefused(ValidationError, "add up to"):
            agreement.with_user(self.collector).action_activate()
        self.assertEqual(agreement.state, "draft")
        self.assertEqual(self.status(), "current")
        # Put right, it goes.
        first.with_user(self.collector).amount = 333.33
        agreement.with_user(self.collector).action_propose()
        self.assertEqual(agreement.state, "proposed")

        # The ledger and the workflow are not typed in.
        with self.assertRaises(UserError):
            agreement.with_user(self.collector).write({"state": "active"})
        with self.assertRaises(UserError):
            agreement.instalment_ids[0].with_user(self.collector).write({"state": "paid"})
        with self.assertRaises(UserError):
            agreement.with_user(self.collector).write({"fee_amount": 10.0})
        with self.assertRaises(UserError):
            agreement.with_user(self.collector).unlink()

        # One invoice, one live agreement.
        second = self.make_agreement(invoice)
        with self.assertRefused(ValidationError, "already belong to the payment agreement"):
            second.with_user(self.collector).action_propose()
        self.assertEqual(second.state, "draft")

    # ------------------------------------------------------------------
    # Portal
    # ------------------------------------------------------------------

    def test_request_from_the_portal(self):
        invoices = self.invoice(self.customer, 600.0, day(-20)) + self.invoice(
            self.customer, 300.0, day(-10)
        )
        Agreement = self.env["collection.agreement"].with_user(self.portal_user)
        agreement = Agreement._request_from_portal(
            self.portal_user.partner_id, invoices, 3, "We can pay in three months."
        )
        self.assertRecordValues(
            agreement.sudo(),
            [
                {
                    "state": "draft",
                    "origin": "portal",
                    "partner_id": self.customer.id,
                    "user_id": self.collector.id,
                    "amount_total": 900.0,
                    "request_message": "We can pay in three months.",
                }
            ],
        )
        self.assertEqual(
            self.plan(agreement.sudo()),
            [
                (date(2026, 4, 16), 300.0, 0.0, "pending"),
                (date(2026, 5, 16), 300.0, 0.0, "pending"),
                (date(2026, 6, 16), 300.0, 0.0, "pending"),
            ],
        )
        interaction = self.interactions()[-1]
        self.assertRecordValues(interaction, [{"channel": "portal", "user_id": False}])
        self.assertEqual(interaction.move_ids, invoices)
        self.assertIn("We can pay in three months.", interaction.note)
        # The collector is told, and reads the customer's words on the chatter.
        self.assertRecordValues(
            agreement.sudo().activity_ids,
            [{"user_id": self.collector.id, "date_deadline": TODAY}],
        )
        self.assertTrue(
            agreement.sudo().message_ids.filtered(
                lambda m: m.author_id == self.customer and "three months" in str(m.body)
            )
        )

        # Twice the same invoices, another customer's invoices, a wrong count: refused.
        with self.assertRefused(UserError, "already in a payment agreement"):
            Agreement._request_from_portal(self.customer, invoices[0], 2)
        other = self.env["res.partner"].create({"name": "Beta Customer", "is_company": True})
        with self.assertRefused(UserError, "not yours"):
            Agreement._request_from_portal(self.customer, self.invoice(other, 100.0, day(-5)), 2)
        fresh = self.invoice(self.customer, 100.0, day(-5))
        for count in (0, 25, "many"):
            with self.assertRefused(UserError, "between 1 and 24"):
                Agreement._request_from_portal(self.customer, fresh, count)
        with self.assertRefused(UserError, "Choose the invoices"):
            Agreement._request_from_portal(self.customer, fresh.browse(), 2)
        self.assertEqual(
            self.env["collection.agreement"].search_count([("partner_id", "=", self.customer.id)]),
            1,
        )

    def test_accept_from_the_portal(self):
        invoice = self.invoice(self.customer, 900.0, day(-20))
        agreement = self.make_agreement(invoice)
        as_customer = agreement.with_user(self.portal_user)
        # Not proposed yet.
        with self.assertRefused(UserError, "not waiting for your acceptance"):
            as_customer._accept_from_portal("Ann Buyer")
        agreement.with_user(self.collector).action_propose()
        with self.assertRefused(UserError, "Type your name"):
            as_customer._accept_from_portal("  ")
        self.assertEqual(agreement.state, "proposed")

        with on_day(day(1)):
            as_customer._accept_from_portal("Ann Buyer")
        self.assertRecordValues(agreement, [{"state": "active", "signed_by": "Ann Buyer"}])
        self.assertEqual(self.status(), "agreement")
        self.assertRecordValues(
            self.interactions()[-1],
            [{"channel": "portal", "user_id": False, "status_after": "agreement"}],
        )

        # Above the approval amount, the acceptance waits for a manager.
        self.company.collection_agreement_approval_amount = 1000.0
        other = self.env["res.partner"].create({"name": "Beta Customer", "is_company": True})
        other.with_company(self.company).collection_user_id = self.collector
        big = self.make_agreement(self.invoice(other, 3000.0, day(-20)))
        big.with_user(self.collector).action_propose()
        big.with_user(self.portal_user)._accept_from_portal("Bob Beta")
        self.assertRecordValues(big, [{"state": "proposed", "signed_by": "Bob Beta"}])
        self.assertEqual(big.activity_ids.user_id, self.collector)
        self.assertEqual(self.status(other), "current")
        # Approved, it starts at once: the customer has already accepted it.
        big.with_user(self.collection_manager).action_approve()
        self.assertRecordValues(
            big,
            [
                {
                    "state": "active",
                    "signed_by": "Bob Beta",
                    "approved_user_id": self.collection_manager.id,
                }
            ],
        )
        self.assertEqual(self.status(other), "agreement")

    def test_cancel_an_active_agreement(self):
        invoice = self.invoice(self.customer, 900.0, day(-20))
        agreement = self.make_agreement(invoice)
        agreement.with_user(self.collector).action_activate()
        with self.assertRefused(UserError, "Only a collection manager"):
            agreement.with_user(self.collector).action_cancel()
        agreement.with_user(self.collection_manager).action_cancel()
        self.assertRecordValues(agreement, [{"state": "cancelled", "date_closed": TODAY}])
        self.assertEqual(self.status(), "negotiating")
        # Its invoice can go into a new agreement.
        again = self.make_agreement(invoice)
        again.with_user(self.collector).action_activate()
        self.assertEqual(again.state, "active")
