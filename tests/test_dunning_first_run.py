from datetime import datetime, time

from odoo import Command
from odoo.tests import TransactionCase, freeze_time, tagged

from .common import TODAY, DunningCadenceCommon, at, day, migration, on_day


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestDunningClaimsTheTruth(DunningCadenceCommon):
    """What a reminder claims: not the disputed debt, not the debt a stage that stops
    reminders holds; and the gap to the next level counts from the day a message
    actually left."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.reason_price = cls.env.ref("account_collection.collection_dispute_reason_wrong_price")

    def dispute(self, moves):
        return (
            self.env["collection.dispute"]
            .with_user(self.collector)
            .create(
                {
                    "partner_id": moves.commercial_partner_id.id,
                    "move_ids": [Command.set(moves.ids)],
                    "reason_id": self.reason_price.id,
                    "description": "The price is not the one agreed.",
                }
            )
        )

    # ------------------------------------------------------------------
    # Disputed debt
    # ------------------------------------------------------------------

    def test_disputed_invoice_is_neither_claimed_nor_counted(self):
        claimed = self.invoice(self.customer, 1000.0, day(-12))
        disputed = self.invoice(self.customer, 800.0, day(-20))
        self.invoice(self.customer, 300.0, day(10))
        self.dispute(disputed)

        self.run_dunning(day(0))

        # The customer owes 1,800 overdue; the reminder claims the 1,000 not disputed,
        # the oldest of them 12 days late.
        self.assertRecordValues(
            self.reminders(self.customer),
            [
                {
                    "move_ids": claimed.ids,
                    "overdue_amount": 1000.0,
                    "due_amount": 1300.0,
                    "days_overdue": 12,
                }
            ],
        )
        self.assertEqual(self.customer.with_company(self.company).collection_overdue_amount, 1800.0)

    def test_disputed_invoice_does_not_count_toward_the_minimum(self):
        self.level_late.min_amount = 500.0
        self.invoice(self.customer, 300.0, day(-12))
        self.dispute(self.invoice(self.customer, 800.0, day(-12)))
        self.run_dunning(day(0))
        self.assertFalse(self.reminders(self.customer))

    def test_invoice_disputed_after_the_reminder_leaves_the_amounts(self):
        claimed = self.invoice(self.customer, 1000.0, day(-12))
        disputed = self.invoice(self.customer, 800.0, day(-12))
        self.run_dunning(day(0))
        reminder = self.reminders(self.customer)
        self.assertEqual(reminder.overdue_amount, 1800.0)
        self.dispute(disputed)
        reminder.with_user(self.collector).action_approve()
        with self.sms_gateway():
            self.run_queue(at(0, 14))
        self.assertRecordValues(
            reminder, [{"move_ids": claimed.ids, "overdue_amount": 1000.0, "state": "done"}]
        )
        self.assertIn("1,000.00", self.delivery(reminder, "email").mail_id.body_html)

    # ------------------------------------------------------------------
    # A stage that stops reminders holds the debt that reached it
    # ------------------------------------------------------------------

    def test_new_invoice_of_a_customer_in_legal_is_reminded(self):
        """A customer in Legal with old debt still open: the old debt is the lawyers',
        a new invoice is reminded from its first level, and the reminder claims only
        it."""
        customer = self.customer.with_company(self.company)
        old = self.invoice(self.customer, 1000.0, day(-60))
        customer.collection_stage_id = self.stage_legal
        self.run_dunning(day(0))
        self.assertFalse(self.reminders())

        with on_day(day(1)):
            new = self.invoice(self.customer, 500.0, day(3))
        self.run_dunning(day(1))
        self.assertRecordValues(
            self.reminders(),
            [
                {
                    "level_id": self.level_soon.id,
                    "move_ids": new.ids,
                    "overdue_amount": 0.0,
                    "due_amount": 500.0,
                }
            ],
        )
        self.run_dunning(day(3))
        self.assertRecordValues(
            self.reminders()[1:],
            [{"level_id": self.level_due.id, "move_ids": new.ids, "overdue_amount": 0.0}],
        )
        self.run_dunning(day(8))
        self.assertRecordValues(
            self.reminders()[2:],
            [{"level_id": self.level_text.id, "move_ids": new.ids, "overdue_amount": 500.0}],
        )
        # The old debt was never claimed, and the customer stays in Legal.
        self.assertFalse(old.collection_level_id)
        self.assertEqual(customer.collection_stage_id, self.stage_legal)

    # ------------------------------------------------------------------
    # The gap counts from the day the message left
    # ------------------------------------------------------------------

    def test_gap_to_the_next_level_counts_from_sending(self):
        """A reminder approved three days after the run leaves that day: its next level
        comes the gap between the two levels after that day, not after the run."""
        invoice = self.invoice(self.customer, 1000.0, day(-5))  # at Text today
        self.run_dunning(day(0))
        text = self.reminders(self.customer)
        self.assertEqual(text.level_id, self.level_text)
        with on_day(day(3)):
            text.with_user(self.collector).action_approve()
        with self.sms_gateway():
            self.run_queue(at(3, 13))
        self.assertEqual(self.delivery(text, "sms").state, "sent")
        self.assertEqual(
            self.env["collection.invoice.dunning"]
            .search([("move_id", "=", invoice.id)])
            .level_date,
            day(3),
        )
        # Late is 10 - 5 = 5 days after Text: day 8, not day 5.
        self.run_dunning(day(5))
        self.assertEqual(self.reminders(self.customer), text)
        self.run_dunning(day(8))
        self.assertRecordValues(
            self.reminders(self.customer)[1:], [{"level_id": self.level_late.id, "date": day(8)}]
        )

    def test_level_without_message_counts_from_the_run(self):
        invoice = self.invoice(self.customer, 1000.0, day(-20))
        self.policy.entry_level_id = self.level_call
        self.run_dunning(datetime.combine(day(0), time(12)))
        self.assertEqual(self.reminders(self.customer).level_id, self.level_call)
        self.assertEqual(
            self.env["collection.invoice.dunning"]
            .search([("move_id", "=", invoice.id)])
            .level_date,
            day(0),
        )


@tagged("post_install", "-at_install")
class TestUpgradeToShippedTemplates(TransactionCase):
    """Upgrading to 19.0.1.3.0: the shipped reminder templates nobody edited get the
    shipped text (with the Coming due section); edited ones keep their text; customers
    already in Legal are dated as entering it on the upgrade day."""

    def migrate(self):
        migration("19.0.1.3.0", "post-migrate").migrate(self.env.cr, "19.0.1.2.0")
        self.env.invalidate_all()

    def set_body(self, template, body, edited):
        self.env.flush_all()
        self.env.cr.execute(
            """UPDATE mail_template
                  SET body_html = jsonb_build_object('en_US', %s::text),
                      write_date = create_date + (CASE WHEN %s THEN interval '1 day'
                                                       ELSE interval '0' END)
                WHERE id = %s""",
            [body, edited, template.id],
        )
        template.invalidate_recordset()

    def test_unedited_templates_get_the_coming_due_section(self):
        due_today = self.env.ref("account_collection.mail_template_reminder_due_today")
        overdue = self.env.ref("account_collection.mail_template_reminder_overdue")
        shipped = due_today.body_html
        self.assertIn("Coming due", shipped)
        self.set_body(due_today, "<p>The following invoices are due today:</p>", edited=False)
        self.set_body(overdue, "<p>Our own words, no list.</p>", edited=True)

        self.migrate()

        self.assertEqual(due_today.body_html, shipped)
        self.assertEqual(due_today.write_date, due_today.create_date)
        self.assertEqual(overdue.body_html, "<p>Our own words, no list.</p>")
        # Run again (or on a database already migrated): nothing changes.
        self.migrate()
        self.assertEqual(due_today.body_html, shipped)
        self.assertEqual(overdue.body_html, "<p>Our own words, no list.</p>")

    @freeze_time("2026-03-16 12:00:00")
    def test_customers_in_legal_are_dated(self):
        legal = self.env.ref("account_collection.collection_stage_legal")
        partner = self.env["res.partner"].create({"name": "In Legal Since Long"})
        partner.collection_stage_id = legal
        self.env.flush_all()
        self.env.cr.execute(
            "UPDATE res_partner SET collection_stage_date = NULL WHERE id = %s", [partner.id]
        )
        partner.invalidate_recordset()
        self.assertFalse(partner.collection_stage_date)
        self.migrate()
        self.assertEqual(str(partner.collection_stage_date), "2026-03-16")


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestFirstRunOnTheShippedPolicy(DunningCadenceCommon):
    """The shipped policy switched on over a book with old debt, with the company's
    default quiet hours, rest days, public holidays and contact limit, run every day
    for three months while customers pay, dispute and get new invoices: nothing a
    collector would be ashamed of. No stage-changing level without the level before
    it sent, no message claiming a settled invoice, no message dated wrongly."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.shipped = cls.env.ref("account_collection.collection_policy_default")
        cls.shipped.sudo().company_id = cls.company
        cls.company.collection_policy_id = cls.shipped
        # The company's defaults, as a new company has them.
        defaults = cls.env["res.company"].default_get(
            [
                "collection_quiet_hour_start",
                "collection_quiet_hour_end",
                "collection_rest_day",
                "collection_public_holidays",
                "collection_message_interval_days",
            ]
        )
        cls.company.write(defaults)
        cls.ladder = cls.shipped.level_ids.sorted("delay")
        cls.reason_price = cls.env.ref("account_collection.collection_dispute_reason_wrong_price")

    def test_three_months_on_an_old_book(self):
        legal = self.env.ref("account_collection.collection_stage_legal")
        old = self.make_customer("Old Debtor")
        old_invoices = self.invoice(old, 1000.0, day(-150)) | self.invoice(old, 500.0, day(-40))
        late = self.make_customer("Late Payer")
        late_invoice = self.invoice(late, 800.0, day(-61))
        payer = self.make_customer("Pays Soon")
        paid_invoice = self.invoice(payer, 300.0, day(-20))
        disputing = self.make_customer("Disputing Customer")
        disputed = self.invoice(disputing, 2000.0, day(-100))
        undisputed = self.invoice(disputing, 400.0, day(-5))
        self.env["collection.dispute"].with_user(self.collector).create(
            {
                "partner_id": disputing.id,
                "move_ids": [Command.set(disputed.ids)],
                "reason_id": self.reason_price.id,
                "description": "Not the price agreed.",
            }
        )
        fresh = self.make_customer("Fresh Customer")
        fresh_invoices = self.invoice(fresh, 250.0, day(0)) | self.invoice(fresh, 150.0, day(2))
        in_legal = self.make_customer("Lawyers Customer")
        legal_invoice = self.invoice(in_legal, 5000.0, day(-200))
        in_legal.with_company(self.company).collection_stage_id = legal
        with on_day(day(10)):
            legal_new = self.invoice(in_legal, 700.0, day(20))

        # The first run's preview: everyone starts at the entry level or before it.
        wizard = self.env["collection.dunning.run"].with_user(self.collection_manager).create({})
        entry = self.shipped.entry_level_id
        self.assertTrue(wizard.line_ids)
        self.assertTrue(all(line.level_id.delay <= entry.delay for line in wizard.line_ids))

        customers = old | late | payer | disputing | fresh | in_legal
        settled_on = {}  # invoice: the day it was paid
        with self.sms_gateway():
            for offset in range(0, 100):
                if offset == 4:
                    self.pay_on(4, paid_invoice)
                    settled_on[paid_invoice] = day(4)
                if offset == 45:
                    self.pay_on(45, late_invoice)
                    settled_on[late_invoice] = day(45)
                self.run_dunning(day(offset))
                # The letters of the day are printed and posted in the afternoon.
                letters = self.env["collection.communication.delivery"].search(
                    [
                        ("state", "=", "to_print"),
                        ("communication_id.partner_id", "in", customers.ids),
                    ]
                )
                if letters:
                    with freeze_time(datetime.combine(day(offset), time(15))):
                        letters.action_mark_posted()

        reminders = self.reminders(customers)
        sent = reminders.delivery_ids.filtered(
            lambda d: d.state == "sent" and d.channel != "activity"
        )
        self.assertTrue(sent)

        # One level at a time: an invoice reaches a stage-changing level after the entry
        # only once the level before it was sent (or done, for a level without message).
        previous = dict(zip(self.ladder[1:], self.ladder[:-1], strict=True))
        for reminder in reminders.filtered(lambda r: r.level_id.stage_id and r.state == "done"):
            level = reminder.level_id
            if level == entry or level.delay < 0:
                continue
            for invoice in reminder.move_ids:
                before = reminders.filtered(
                    lambda r, i=invoice, lv=level: (
                        i in r.move_ids and r.state == "done" and r.level_id == previous[lv]
                    )
                )
                self.assertTrue(
                    before and min(before.mapped("date")) < reminder.date,
                    f"{invoice.name} reached {level.name} on {reminder.date} without "
                    f"{previous[level].name} before it",
                )

        # Nothing claimed once settled: no message sent after the day an invoice was
        # paid lists it, and nothing at all of the disputed invoice nor of the debt
        # held by the lawyers.
        for delivery in sent:
            moves = delivery.communication_id.move_ids
            self.assertNotIn(disputed, moves)
            self.assertNotIn(legal_invoice, moves)
            for invoice, paid_day in settled_on.items():
                if invoice in moves:
                    self.assertLess(delivery.date_sent.date(), paid_day)

        # No message dated wrongly: "due soon" before the due date, "due today" on it,
        # an overdue level no earlier than its delay after the due date.
        for delivery in sent:
            communication = delivery.communication_id
            local_day = delivery._collection_local(
                delivery.date_sent, delivery._collection_tz()
            ).date()
            delay = communication.level_id.delay
            if delay < 0:
                for invoice in communication.move_ids:
                    self.assertLess(local_day, invoice.invoice_date_due, communication.name)
                continue
            dues = communication.due_move_ids.mapped("invoice_date_due")
            if delay == 0:
                self.assertEqual(set(dues), {local_day}, communication.display_name)
            else:
                # The invoice that took the reminder to its level is that late.
                self.assertGreaterEqual((local_day - min(dues)).days, delay)

        # What each customer went through.
        self.assertEqual(legal_invoice.collection_level_id, self.env["collection.level"])
        self.assertTrue(legal_new.collection_level_id)
        self.assertEqual(undisputed.collection_level_id.delay >= 30, True)
        self.assertFalse(
            self.reminders(payer).filtered(lambda r: r.state == "done" and r.date >= day(4))
        )
        self.assertEqual(
            set(self.reminders(old)[:1].level_id.ids), set(entry.ids), "old debt starts at entry"
        )
        self.assertTrue(old_invoices[0].collection_level_id.stage_id)
        # The fresh invoices climb from their first level; the second one's messages,
        # held by the contact limit behind the first one's, reach the levels later.
        self.assertEqual(fresh_invoices[0].collection_level_id.delay, 90)
        self.assertGreaterEqual(fresh_invoices[1].collection_level_id.delay, 60)
