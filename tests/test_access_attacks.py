import json
from datetime import datetime, timedelta

from odoo import Command
from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, tagged
from odoo.tools import mute_logger

from .common import TODAY, DunningCadenceCommon, day, on_day

# What a user's refused write raises: the guard's message, or the ORM's refusal
# (AccessError is a UserError).
REFUSED = UserError


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionAttacks(DunningCadenceCommon, HttpCase):
    """The requests a collector or a billing user could send over RPC to go around
    what the application lets them do, each refused with a clear error and leaving
    nothing written. Acme is Carla's customer, Bolt is Cody's; each got a reminder
    (email and SMS) waiting for review."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.collector_2 = cls.make_user(
            "collector_2", "account_collection.group_collection_user", name="Cody Collector"
        )
        cls.billing_user = cls.make_user(
            "billing", "account.group_account_invoice", name="Bea Billing"
        )
        cls.other = cls.make_customer("Bolt Industries")
        cls.other.with_company(cls.company).collection_user_id = cls.collector_2
        cls.acme_invoice = cls.invoice(cls.customer, 1000.0, day(-12))
        cls.bolt_invoice = cls.invoice(cls.other, 700.0, day(-12))

    def setUp(self):
        super().setUp()
        self.run_dunning(day(0))
        self.reminder = self.reminders(self.customer)
        self.other_reminder = self.reminders(self.other)
        self.assertEqual(len(self.reminder), 1)
        self.assertEqual(self.reminder.state, "draft")
        self.email = self.delivery(self.reminder, "email")
        self.sms = self.delivery(self.reminder, "sms")

    def restrict_portfolios(self):
        self.company.collection_portfolio_restricted = True

    def assert_refused(self, records, vals, user=None):
        """A write of ``vals`` on ``records`` by ``user`` (the collector) is refused and
        changes nothing."""
        user = user or self.collector
        fnames = list(vals)
        before = records.read(fnames)
        with self.assertRaises(REFUSED), self.env.cr.savepoint():
            records.with_user(user).write(vals)
        records.invalidate_recordset()
        self.assertEqual(records.read(fnames), before, f"{fnames} changed")

    # ------------------------------------------------------------------
    # 1. Redirecting a reminder
    # ------------------------------------------------------------------

    def test_collector_cannot_redirect_a_reminder_to_themselves(self):
        self.assert_refused(self.email, {"recipient": "carla@attacker.example.com"})
        self.assert_refused(self.sms, {"recipient": "+34 600 000 000"})
        # Not through the reminder's deliveries either.
        self.assert_refused(
            self.reminder,
            {"delivery_ids": [Command.update(self.email.id, {"recipient": "x@attacker.com"})]},
        )
        self.assert_refused(
            self.reminder,
            {
                "delivery_ids": [
                    Command.create(
                        {"channel": "email", "recipient": "x@attacker.com", "state": "queued"}
                    )
                ]
            },
        )
        self.assertEqual(self.reminder.delivery_ids, self.email | self.sms)

    def test_collector_cannot_send_another_customers_reminder(self):
        # Bolt's email moved onto Acme's reminder, or Acme's email onto Bolt's reminder.
        other_email = self.delivery(self.other_reminder, "email")
        self.assert_refused(other_email, {"communication_id": self.reminder.id})
        self.assert_refused(self.email, {"communication_id": self.other_reminder.id})

    def test_collector_cannot_requeue_a_cancelled_delivery(self):
        self.sms.with_user(self.collector).action_cancel()
        self.assertEqual(self.sms.state, "cancelled")
        self.assert_refused(self.sms, {"state": "queued"})
        self.assert_refused(self.sms, {"state": "draft"})

    def test_collector_cannot_point_a_delivery_at_another_email(self):
        mail = self.env["mail.mail"].create(
            {"email_to": "carla@attacker.example.com", "subject": "Old", "body_html": "<p>x</p>"}
        )
        self.assert_refused(self.email, {"mail_id": mail.id})
        sms = self.env["sms.sms"].create({"number": "+34600000000", "body": "x"})
        self.assert_refused(self.sms, {"sms_id": sms.id})

    def test_collector_cannot_create_or_delete_deliveries(self):
        Delivery = self.env["collection.communication.delivery"].with_user(self.collector)
        with self.assertRaises(REFUSED), self.env.cr.savepoint():
            Delivery.create(
                {
                    "communication_id": self.reminder.id,
                    "channel": "email",
                    "recipient": "carla@attacker.example.com",
                    "state": "queued",
                }
            )
        with self.assertRaises(REFUSED), self.env.cr.savepoint():
            self.sms.with_user(self.collector).unlink()
        self.assertEqual(self.reminder.delivery_ids, self.email | self.sms)

    def test_manager_cannot_forge_deliveries_either(self):
        self.assert_refused(
            self.email, {"recipient": "x@attacker.com"}, user=self.collection_manager
        )
        self.assert_refused(
            self.email,
            {"state": "sent", "date_sent": datetime(2026, 3, 1)},
            user=self.collection_manager,
        )

    def test_redirect_over_json2_is_refused(self):
        """The attack as an integration would send it: JSON-2 with the collector's API
        key."""
        key = (
            self.env["res.users.apikeys"]
            .with_user(self.collector)
            ._generate(scope="rpc", name="attack", expiration_date=datetime.now() + timedelta(1))
        )
        # The database checks the expiry on its own (real) clock, not the frozen one.
        self.env.cr.execute(
            "UPDATE res_users_apikeys SET expiration_date = now() + interval '1 day'"
            " WHERE user_id = %s",
            [self.collector.id],
        )
        with mute_logger("odoo.http"):
            response = self.url_open(
                "/json/2/collection.communication.delivery/write",
                data=json.dumps(
                    {"ids": self.email.ids, "vals": {"recipient": "carla@attacker.example.com"}}
                ),
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
            )
        self.assertNotEqual(response.status_code, 200, response.text)
        self.assertIn("reminders engine", response.json()["message"])
        self.email.invalidate_recordset()
        self.assertEqual(self.email.recipient, "acme.customer@example.com")

    # ------------------------------------------------------------------
    # 2. Forging a reminder's facts
    # ------------------------------------------------------------------

    def test_collector_cannot_forge_a_reminder(self):
        forged = {
            "state": "done",
            "date": day(-30),
            "overdue_amount": 1.0,
            "due_amount": 1.0,
            "days_overdue": 1,
            "level_id": self.level_soon.id,
            "policy_id": False,
            "note": "Customer agreed by phone",
            "partner_id": self.other.id,
        }
        for fname, value in forged.items():
            with self.subTest(field=fname):
                self.assert_refused(self.reminder, {fname: value})

    def test_collector_cannot_forge_a_delivery(self):
        forged = {
            "state": "sent",
            "date_sent": datetime(2026, 3, 10, 9),
            "attempts": 0,
            "next_attempt": datetime(2030, 1, 1),
            "last_error": False,
            "provider_ref": "<forged@example.com>",
            "channel": "letter",
        }
        for fname, value in forged.items():
            with self.subTest(field=fname):
                self.assert_refused(self.email, {fname: value})

    def test_collector_still_reviews_a_reminder(self):
        """What collectors do through the buttons still works: take an invoice out of
        a draft, give it to another collector, take a channel off, approve."""
        second = self.invoice(self.customer, 300.0, day(-11))
        self.reminder.move_ids |= second
        reminder = self.reminder.with_user(self.collector)
        reminder.write({"move_ids": [Command.unlink(second.id)], "user_id": self.collector_2.id})
        self.assertEqual(reminder.move_ids, self.acme_invoice)
        self.sms.with_user(self.collector).action_cancel()
        reminder.action_approve()
        self.assertEqual(self.reminder.state, "queued")
        self.assertEqual(self.email.state, "queued")
        self.assertEqual(self.sms.state, "cancelled")

    # ------------------------------------------------------------------
    # 3. The portfolio rule: reminders, deliveries, instalments, invoice levels
    # ------------------------------------------------------------------

    def test_restricted_collector_reads_no_other_portfolio_reminder(self):
        self.restrict_portfolios()
        Reminder = self.env["collection.communication"].with_user(self.collector)
        Delivery = self.env["collection.communication.delivery"].with_user(self.collector)
        partners = (self.customer | self.other).ids
        self.assertEqual(Reminder.search([("partner_id", "in", partners)]), self.reminder)
        self.assertEqual(
            Delivery.search([("partner_id", "in", partners)]), self.reminder.delivery_ids
        )
        # The statement link would let the collector act as Bolt on the portal.
        with self.assertRaises(AccessError):
            self.other_reminder.with_user(self.collector).read(["portal_url"])
        with self.assertRaises(AccessError):
            self.delivery(self.other_reminder, "email").with_user(self.collector).read(
                ["recipient"]
            )
        # Nor approve, skip or retry it.
        with self.assertRaises(AccessError), self.env.cr.savepoint():
            self.other_reminder.with_user(self.collector).action_approve()
        with self.assertRaises(AccessError), self.env.cr.savepoint():
            self.delivery(self.other_reminder, "sms").with_user(self.collector).action_cancel()
        self.assertEqual(self.other_reminder.state, "draft")
        self.assertEqual(set(self.other_reminder.delivery_ids.mapped("state")), {"draft"})
        # Their own reminder's link, they see.
        self.assertIn("/my/collections/", self.reminder.with_user(self.collector).portal_url)

    def test_billing_user_does_not_get_the_statement_link(self):
        reminder = self.reminder.with_user(self.billing_user)
        self.assertEqual(reminder.overdue_amount, 1000.0)
        with self.assertRaises(AccessError):
            reminder.read(["portal_url"])

    def test_restricted_collector_reads_no_other_portfolio_instalment(self):
        self.restrict_portfolios()
        agreement = self.env["collection.agreement"].create(
            {
                "partner_id": self.other.id,
                "move_ids": [Command.set(self.bolt_invoice.ids)],
                "instalment_count": 2,
                "date_first": day(30),
                "user_id": self.collector_2.id,
            }
        )
        self.assertEqual(len(agreement.instalment_ids), 2)
        Instalment = self.env["collection.agreement.instalment"].with_user(self.collector)
        self.assertFalse(Instalment.search([("partner_id", "=", self.other.id)]))
        with self.assertRaises(AccessError):
            agreement.instalment_ids.with_user(self.collector).read(["amount", "date"])
        # Cody, whose customer it is, reads them.
        Instalment = Instalment.with_user(self.collector_2)
        self.assertEqual(
            Instalment.search([("partner_id", "=", self.other.id)]), agreement.instalment_ids
        )

    def test_other_company_reads_no_invoice_level(self):
        company_2 = self.setup_other_company(name="Other Company")["company"]
        manager_2 = self.make_user(
            "manager_2", "account_collection.group_collection_manager", company_2
        )
        States = self.env["collection.invoice.dunning"].with_user(manager_2)
        self.assertFalse(States.search([("move_id", "=", self.acme_invoice.id)]))
        state = self.env["collection.invoice.dunning"].search(
            [("move_id", "=", self.acme_invoice.id)]
        )
        self.assertEqual(state.level_id, self.level_late)
        with self.assertRaises(AccessError):
            state.with_user(manager_2).read(["move_id", "level_id"])

    # ------------------------------------------------------------------
    # 4. Writing into another portfolio
    # ------------------------------------------------------------------

    def assert_portfolio_refused(self, caught):
        message = str(caught.exception)
        self.assertIn("Bolt Industries is in another collector's portfolio", message)
        self.assertNotIn("company", message.lower())

    def test_restricted_collector_cannot_log_on_another_portfolio(self):
        self.restrict_portfolios()
        status = self.other.with_company(self.company).collection_status
        self.assertIn(status, ("current", "overdue"))
        Interaction = self.env["collection.interaction"].with_user(self.collector)
        with self.assertRaises(AccessError) as caught, self.env.cr.savepoint():
            Interaction.create(
                {
                    "partner_id": self.other.id,
                    "channel": "call",
                    "outcome": "refusal",
                    "status_after": "uncollectible",
                }
            )
        self.assert_portfolio_refused(caught)
        self.assertFalse(
            self.env["collection.interaction"].search(
                [("partner_id", "=", self.other.id), ("channel", "=", "call")]
            )
        )
        self.assertEqual(self.other.with_company(self.company).collection_status, status)

    def test_restricted_collector_cannot_run_the_log_dialog_on_another_portfolio(self):
        self.restrict_portfolios()
        wizard = (
            self.env["collection.interaction.log"]
            .with_user(self.collector)
            .create(
                {
                    "partner_id": self.other.id,
                    "channel": "call",
                    "outcome": "promise",
                    "promise": True,
                    "promise_amount": 100.0,
                    "promise_date": day(5),
                }
            )
        )
        with self.assertRaises(AccessError) as caught, self.env.cr.savepoint():
            wizard.action_confirm()
        self.assert_portfolio_refused(caught)
        self.assertFalse(
            self.env["collection.promise"].search([("partner_id", "=", self.other.id)])
        )

    def test_restricted_collector_cannot_promise_for_another_portfolio(self):
        self.restrict_portfolios()
        Promise = self.env["collection.promise"].with_user(self.collector)
        with self.assertRaises(AccessError) as caught, self.env.cr.savepoint():
            Promise.create({"partner_id": self.other.id, "amount": 100.0, "date": day(5)})
        self.assert_portfolio_refused(caught)
        # Nor move one of their own promises over to Bolt.
        promise = Promise.create({"partner_id": self.customer.id, "amount": 100.0, "date": day(5)})
        with self.assertRaises(AccessError) as caught, self.env.cr.savepoint():
            promise.write({"partner_id": self.other.id})
        self.assert_portfolio_refused(caught)
        self.assertFalse(
            self.env["collection.promise"].search([("partner_id", "=", self.other.id)])
        )

    def test_restricted_collector_cannot_open_cases_on_another_portfolio(self):
        self.restrict_portfolios()
        Dispute = self.env["collection.dispute"].with_user(self.collector)
        with self.assertRaises(AccessError) as caught, self.env.cr.savepoint():
            Dispute.create(
                {
                    "partner_id": self.other.id,
                    "move_ids": [Command.set(self.bolt_invoice.ids)],
                    "reason_id": self.env.ref(
                        "account_collection.collection_dispute_reason_wrong_price"
                    ).id,
                }
            )
        self.assert_portfolio_refused(caught)
        Agreement = self.env["collection.agreement"].with_user(self.collector)
        with self.assertRaises(AccessError) as caught, self.env.cr.savepoint():
            Agreement.create(
                {
                    "partner_id": self.other.id,
                    "move_ids": [Command.set(self.bolt_invoice.ids)],
                    "instalment_count": 2,
                    "date_first": day(30),
                }
            )
        self.assert_portfolio_refused(caught)
        self.assertFalse(
            self.env["collection.dispute"].search([("partner_id", "=", self.other.id)])
        )
        self.assertFalse(
            self.env["collection.agreement"].search([("partner_id", "=", self.other.id)])
        )

    def test_unrestricted_collector_works_every_customer(self):
        promise = (
            self.env["collection.promise"]
            .with_user(self.collector)
            .create({"partner_id": self.other.id, "amount": 100.0, "date": day(5)})
        )
        self.assertEqual(promise.user_id, self.collector)

    # ------------------------------------------------------------------
    # 7. The invoices' side of promises and disputes
    # ------------------------------------------------------------------

    def test_billing_user_cannot_rewire_promises_from_the_invoice(self):
        promise = self.env["collection.promise"].create(
            {
                "partner_id": self.customer.id,
                "amount": 500.0,
                "date": day(7),
                "move_ids": [Command.set(self.acme_invoice.ids)],
            }
        )
        closed = self.env["collection.promise"].create(
            {"partner_id": self.customer.id, "amount": 100.0, "date": day(3)}
        )
        closed.action_cancel()
        bolt_invoice = self.bolt_invoice.with_user(self.billing_user)
        acme_invoice = self.acme_invoice.with_user(self.billing_user)
        # Another customer's invoice attached to Acme's promise.
        with self.assertRaises(UserError), self.env.cr.savepoint():
            bolt_invoice.write({"collection_promise_ids": [Command.link(promise.id)]})
        # A cancelled promise edited.
        with self.assertRaises(UserError), self.env.cr.savepoint():
            acme_invoice.write({"collection_promise_ids": [Command.link(closed.id)]})
        # The promise stripped of its invoice.
        with self.assertRaises(UserError), self.env.cr.savepoint():
            acme_invoice.write({"collection_promise_ids": [Command.clear()]})
        self.assertEqual(promise.move_ids, self.acme_invoice)
        self.assertFalse(closed.move_ids)

    def test_billing_user_cannot_strip_a_dispute_from_the_invoice(self):
        dispute = self.env["collection.dispute"].create(
            {
                "partner_id": self.customer.id,
                "move_ids": [Command.set(self.acme_invoice.ids)],
                "reason_id": self.env.ref(
                    "account_collection.collection_dispute_reason_wrong_price"
                ).id,
            }
        )
        acme_invoice = self.acme_invoice.with_user(self.billing_user)
        with self.assertRaises(UserError), self.env.cr.savepoint():
            acme_invoice.write({"collection_dispute_ids": [Command.unlink(dispute.id)]})
        with self.assertRaises(UserError), self.env.cr.savepoint():
            self.bolt_invoice.with_user(self.billing_user).write(
                {"collection_dispute_ids": [Command.link(dispute.id)]}
            )
        self.assertEqual(dispute.move_ids, self.acme_invoice)

    def test_billing_user_cannot_forge_an_invoices_reminders(self):
        acme_invoice = self.acme_invoice.with_user(self.billing_user)
        with self.assertRaises(UserError), self.env.cr.savepoint():
            acme_invoice.write({"collection_level_id": self.level_soon.id})
        with self.assertRaises(UserError), self.env.cr.savepoint():
            acme_invoice.write({"collection_last_reminder_date": day(-1)})
        self.acme_invoice.invalidate_recordset()
        self.assertEqual(self.acme_invoice.collection_level_id, self.level_late)
        self.assertFalse(self.acme_invoice.collection_last_reminder_date)

    # ------------------------------------------------------------------
    # 12. Smaller findings
    # ------------------------------------------------------------------

    def test_collector_cannot_post_on_an_internal_users_partner(self):
        colleague = self.collection_manager.partner_id
        with self.assertRaises(AccessError), self.env.cr.savepoint():
            colleague.with_user(self.collector).message_post(
                body="Please call me", message_type="comment", subtype_xmlid="mail.mt_comment"
            )
        self.assertFalse(
            colleague.message_ids.filtered(lambda m: "Please call me" in (m.body or ""))
        )
        # On their customer, they still write.
        self.customer.with_user(self.collector).message_post(
            body="Statement sent", message_type="comment", subtype_xmlid="mail.mt_note"
        )

    def test_portal_user_reads_no_internal_collection_field(self):
        portal = self.make_user("acme_portal", "base.group_portal", name="Pat Portal")
        portal.partner_id.parent_id = self.customer
        with self.assertRaises(AccessError):
            self.customer.with_user(portal).read(
                ["collection_status", "collection_stage_id", "collection_user_id"]
            )

    # ------------------------------------------------------------------
    # 5. Journal entries: a collector reads the customers' side of the ledger only
    # ------------------------------------------------------------------

    def make_books(self):
        """What else the company's books hold: a vendor bill, a vendor payment, a payroll
        entry and a bank line paying the rent; and Acme's payment on account."""
        vendor = self.env["res.partner"].create({"name": "Victor Vendor"})
        journal_misc = self.company_data["default_journal_misc"]
        books = {
            "bill": self.invoice(vendor, 800.0, day(10), move_type="in_invoice"),
            "payroll": self.env["account.move"].create(
                {
                    "move_type": "entry",
                    "journal_id": journal_misc.id,
                    "date": day(-2),
                    "ref": "Payroll February",
                    "line_ids": [
                        Command.create(
                            {
                                "name": "Salaries",
                                "account_id": self.company_data["default_account_expense"].id,
                                "debit": 4200.0,
                            }
                        ),
                        Command.create(
                            {
                                "name": "Salaries to pay",
                                "account_id": self.company_data["default_account_payable"].id,
                                "partner_id": vendor.id,
                                "credit": 4200.0,
                            }
                        ),
                    ],
                }
            ),
            "bank_line": self.env["account.bank.statement.line"].create(
                {
                    "journal_id": self.company_data["default_journal_bank"].id,
                    "date": day(-1),
                    "payment_ref": "Rent March",
                    "partner_id": vendor.id,
                    "amount": -1200.0,
                }
            ),
            "vendor_payment": self.env["account.payment"].create(
                {
                    "payment_type": "outbound",
                    "partner_type": "supplier",
                    "partner_id": vendor.id,
                    "amount": 300.0,
                    "date": day(-1),
                    "journal_id": self.company_data["default_journal_bank"].id,
                }
            ),
            "acme_payment": self.customer_payment(self.customer, 50.0, day(-1)),
            "bolt_payment": self.customer_payment(self.other, 70.0, day(-1)),
        }
        books["payroll"].action_post()
        books["vendor_payment"].action_post()
        return books

    def visible(self, user, model, records):
        """Which of ``records`` ``user`` finds when searching ``model``."""
        return self.env[model].with_user(user).search([("id", "in", records.ids)])

    def test_collector_reads_no_vendor_bill_payroll_or_bank_line(self):
        books = self.make_books()
        hidden_moves = (
            books["bill"]
            | books["payroll"]
            | books["bank_line"].move_id
            | books["vendor_payment"].move_id
        )
        customer_moves = (
            self.acme_invoice
            | self.bolt_invoice
            | books["acme_payment"].move_id
            | books["bolt_payment"].move_id
        )
        self.assertEqual(
            self.visible(self.collector, "account.move", hidden_moves | customer_moves),
            customer_moves,
        )
        for move in hidden_moves:
            with self.subTest(move=move.display_name), self.assertRaises(AccessError):
                move.with_user(self.collector).read(["name", "amount_total", "ref"])
        # Not through their journal items either.
        self.assertFalse(self.visible(self.collector, "account.move.line", hidden_moves.line_ids))
        with self.assertRaises(AccessError):
            books["payroll"].line_ids.with_user(self.collector).read(["balance", "name"])
        # Nor through the payments or the bank lines.
        payments = books["vendor_payment"] | books["acme_payment"] | books["bolt_payment"]
        self.assertEqual(
            self.visible(self.collector, "account.payment", payments),
            books["acme_payment"] | books["bolt_payment"],
        )
        with self.assertRaises(AccessError):
            books["vendor_payment"].with_user(self.collector).read(["amount", "partner_id"])
        self.assertFalse(
            self.visible(self.collector, "account.bank.statement.line", books["bank_line"])
        )
        with self.assertRaises(AccessError):
            books["bank_line"].with_user(self.collector).read(["amount", "payment_ref"])
        # The customers' receivable items, they read.
        receivable = customer_moves.line_ids.filtered(
            lambda line: line.account_type == "asset_receivable"
        )
        self.assertEqual(
            receivable.with_user(self.collector).mapped("balance"), receivable.mapped("balance")
        )

    def test_restricted_collector_reads_only_their_customers_entries(self):
        self.restrict_portfolios()
        books = self.make_books()
        acme = self.acme_invoice | books["acme_payment"].move_id
        bolt = self.bolt_invoice | books["bolt_payment"].move_id
        self.assertEqual(self.visible(self.collector, "account.move", acme | bolt), acme)
        with self.assertRaises(AccessError):
            self.bolt_invoice.with_user(self.collector).read(["name", "amount_residual"])
        self.assertEqual(
            self.visible(self.collector, "account.move.line", (acme | bolt).line_ids),
            self.visible(self.collector, "account.move.line", acme.line_ids),
        )
        self.assertFalse(self.visible(self.collector, "account.move.line", bolt.line_ids))
        self.assertEqual(
            self.visible(
                self.collector, "account.payment", books["acme_payment"] | books["bolt_payment"]
            ),
            books["acme_payment"],
        )
        with self.assertRaises(AccessError):
            books["bolt_payment"].with_user(self.collector).read(["amount"])
        # Cody, whose customer Bolt is, reads Bolt's entries; a collection manager
        # reads every customer's but no vendor bill.
        self.assertEqual(self.visible(self.collector_2, "account.move", acme | bolt), bolt)
        self.assertEqual(
            self.visible(self.collection_manager, "account.move", acme | bolt | books["bill"]),
            acme | bolt,
        )

    def test_accountants_still_read_every_entry(self):
        self.restrict_portfolios()
        books = self.make_books()
        moves = books["bill"] | books["payroll"] | books["bank_line"].move_id | self.bolt_invoice
        accountant = self.make_user("bookkeeper", "account.group_account_user")
        auditor = self.make_user("auditor", "account.group_account_readonly")
        # Billing users and bookkeepers who also collect keep reading the whole ledger.
        collecting_biller = self.make_user(
            "collecting_biller",
            "account.group_account_invoice,account_collection.group_collection_user",
        )
        for user in (self.billing_user, accountant, auditor, collecting_biller):
            with self.subTest(user=user.login):
                self.assertEqual(self.visible(user, "account.move", moves), moves)
                self.assertEqual(
                    self.visible(user, "account.move.line", moves.line_ids), moves.line_ids
                )
                self.assertEqual(
                    self.visible(user, "account.payment", books["vendor_payment"]),
                    books["vendor_payment"],
                )
                self.assertEqual(
                    self.visible(user, "account.bank.statement.line", books["bank_line"]),
                    books["bank_line"],
                )

    # ------------------------------------------------------------------
    # 12. The names of records a user cannot read
    # ------------------------------------------------------------------

    def test_collector_reads_no_email_or_sms_through_a_delivery(self):
        """An email's subject (or an SMS's number) is not read through the delivery
        that sent it by someone who cannot read emails: its id and name used to come
        back with the delivery."""
        mail = self.env["mail.mail"].create(
            {"email_to": "acme@example.com", "subject": "Private subject", "body_html": "x"}
        )
        sms = self.env["sms.sms"].create({"number": "+34600000001", "body": "Private"})
        self.email.sudo().mail_id = mail
        self.sms.sudo().sms_id = sms
        for user in (self.collector, self.collection_manager, self.billing_user):
            with self.subTest(user=user.login):
                with self.assertRaises(AccessError):
                    self.email.with_user(user).read(["mail_id"])
                with self.assertRaises(AccessError):
                    self.sms.with_user(user).read(["sms_id"])
                with self.assertRaises(AccessError):
                    self.email.with_user(user).web_read(
                        {"mail_id": {"fields": {"display_name": {}}}}
                    )
        # The delivery itself, collectors still read (its state, recipient, error).
        [values] = self.email.with_user(self.collector).read()
        self.assertNotIn("mail_id", values)
        self.assertEqual(values["recipient"], "acme.customer@example.com")
        # Administrators, who read emails and SMS, still see which one it was.
        admin = self.make_user(
            "administrator", "base.group_system,account_collection.group_collection_manager"
        )
        self.assertEqual(self.email.with_user(admin).read(["mail_id"])[0]["mail_id"][0], mail.id)

    def test_collector_cannot_point_a_reminder_at_another_attachment(self):
        """Pointing the reminder's letter at a file the collector cannot read (here a
        vendor's bill) would give away its name through the reminder."""
        bill = self.invoice(
            self.env["res.partner"].create({"name": "Vendor"}), 80.0, day(5), "in_invoice"
        )
        private = self.env["ir.attachment"].create(
            {
                "name": "Salary slips.pdf",
                "raw": b"%PDF",
                "res_model": "account.move",
                "res_id": bill.id,
            }
        )
        with self.assertRaises(AccessError):
            private.with_user(self.collector).read(["name"])
        self.assert_refused(self.reminder, {"letter_attachment_id": private.id})

    # ------------------------------------------------------------------
    # Deleting configuration in use
    # ------------------------------------------------------------------

    def assert_kept(self, records, message):
        """A collection manager deleting ``records`` is told ``message`` and nothing is
        deleted."""
        with self.assertRaises(UserError) as caught, self.env.cr.savepoint():
            records.with_user(self.collection_manager).unlink()
        self.assertNotIsInstance(caught.exception, AccessError)
        self.assertIn(message, str(caught.exception))
        self.assertEqual(records.exists(), records)

    def test_manager_cannot_delete_a_level_or_policy_in_use(self):
        # Reminders were created at the level; Acme's invoice is at it.
        self.assertEqual(self.reminder.level_id, self.level_late)
        self.assert_kept(self.level_late, f"The level “{self.level_late.name}” is in use")
        self.assert_kept(self.policy, f"The policy “{self.policy.name}” is in use")
        self.assert_kept(self.policy.level_ids, "is in use")
        self.assertEqual(self.acme_invoice.collection_level_id, self.level_late)
        # A policy only a customer follows is in use too; one nobody uses goes.
        unused = self.env["collection.policy"].create(
            {"name": "Spare", "level_ids": [Command.create({"name": "Spare", "delay": 3})]}
        )
        self.other.with_company(self.company).collection_policy_id = unused
        self.assert_kept(unused, "The policy “Spare” is in use")
        self.other.with_company(self.company).collection_policy_id = False
        unused.level_ids.with_user(self.collection_manager).unlink()
        unused.with_user(self.collection_manager).unlink()
        self.assertFalse(unused.exists())

    def test_manager_cannot_delete_a_stage_holding_customers(self):
        # Stages are every company's: a manager of every company manages them.
        self.collection_manager.company_ids = self.env["res.company"].search([])
        stage = self.env["collection.stage"].create({"name": "Lawyer"})
        self.customer.with_company(self.company).collection_stage_id = stage
        self.assert_kept(stage, "The stage “Lawyer” holds customers")
        self.assertEqual(self.customer.with_company(self.company).collection_stage_id, stage)
        self.customer.with_company(self.company).collection_stage_id = False
        stage.with_user(self.collection_manager).unlink()
        self.assertFalse(stage.exists())

    def test_manager_cannot_delete_a_stage_a_level_moves_to(self):
        """A level that moves customers to a stage would silently stop doing so if the
        stage went: the stage stays until the level no longer names it."""
        self.collection_manager.company_ids = self.env["res.company"].search([])
        stage = self.env["collection.stage"].create({"name": "Agency"})
        self.level_late.stage_id = stage
        self.assert_kept(stage, "The stage “Agency” is where the level")
        self.assertEqual(self.level_late.stage_id, stage)
        self.level_late.stage_id = False
        stage.with_user(self.collection_manager).unlink()
        self.assertFalse(stage.exists())

    def test_manager_cannot_delete_a_dispute_reason_in_use(self):
        reason = self.env["collection.dispute.reason"].create(
            {"name": "Late delivery", "company_id": self.company.id}
        )
        self.env["collection.dispute"].create(
            {
                "partner_id": self.customer.id,
                "move_ids": [Command.set(self.acme_invoice.ids)],
                "reason_id": reason.id,
            }
        )
        self.assert_kept(reason, "The dispute reason “Late delivery” is given by disputes")

    # ------------------------------------------------------------------
    # Shared configuration: stages and company-less dispute reasons
    # ------------------------------------------------------------------

    def test_manager_of_another_company_cannot_change_shared_configuration(self):
        company_2 = self.setup_other_company(name="Other Company")["company"]
        manager_2 = self.make_user(
            "manager_2", "account_collection.group_collection_manager", company_2
        )
        legal = self.env.ref("account_collection.collection_stage_legal")
        shared_reason = self.env.ref("account_collection.collection_dispute_reason_wrong_price")
        self.assertFalse(shared_reason.company_id)
        spare = self.env["collection.stage"].create({"name": "Spare"})
        Stage = self.env["collection.stage"].with_user(manager_2)
        Reason = self.env["collection.dispute.reason"].with_user(manager_2)
        attacks = {
            "rename a stage": lambda: legal.with_user(manager_2).write({"name": "Closed"}),
            "stop a stage's reminders": lambda: legal.with_user(manager_2).write(
                {"stop_dunning": False}
            ),
            "archive a stage": lambda: legal.with_user(manager_2).action_archive(),
            "add a stage": lambda: Stage.create({"name": "Other's stage"}),
            "delete a stage": lambda: spare.with_user(manager_2).unlink(),
            "reroute a shared reason": lambda: shared_reason.with_user(manager_2).write(
                {"responsible_type": "collector", "sla_days": 90}
            ),
            "delete a shared reason": lambda: shared_reason.with_user(manager_2).unlink(),
            "add a shared reason": lambda: Reason.create({"name": "Shared", "company_id": False}),
        }
        for attack, request in attacks.items():
            with self.subTest(attack=attack):
                with self.assertRaises(AccessError) as caught, self.env.cr.savepoint():
                    request()
                self.assertIn("shared by every company", str(caught.exception))
        self.assertRecordValues(legal, [{"name": "Legal", "stop_dunning": True, "active": True}])
        self.assertTrue(spare.exists())
        self.assertEqual(shared_reason.sla_days, 5)
        self.assertFalse(self.env["collection.stage"].search([("name", "=", "Other's stage")]))
        # Reasons of their own company, they add and change.
        reason = Reason.create({"name": "Wrong size", "company_id": company_2.id})
        self.assertEqual(reason.sudo().company_id, company_2)
        reason.write({"sla_days": 3})
        # A collection manager of every company changes what they all share.
        everywhere = self.make_user("manager_all", "account_collection.group_collection_manager")
        everywhere.company_ids = self.env["res.company"].search([])
        legal.with_user(everywhere).write({"name": "Court"})
        shared_reason.with_user(everywhere).write({"sla_days": 7})
        self.assertEqual(legal.name, "Court")
