from datetime import datetime, time
from unittest.mock import patch

from odoo import Command, fields
from odoo.exceptions import AccessError, UserError
from odoo.tests import Form, TransactionCase, freeze_time, tagged

from ..models import collection_dunning
from .common import TODAY, DunningCadenceCommon, at, day, migration, on_day


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionDunning(DunningCadenceCommon):
    """The daily run of the reminders: which customer gets which level on which day,
    grouped once per customer; who is left alone; review, idempotency, a run killed
    half-way. Sending them is tested in test_dunning_delivery.py."""

    # ------------------------------------------------------------------
    # Levels and grouping
    # ------------------------------------------------------------------

    def test_levels_reached_day_by_day(self):
        invoice = self.invoice(self.customer, 1000.0, day(2))
        journey = [
            (day(-1), False),
            (day(0), self.level_soon),  # two days before the due date
            (day(1), False),
            (day(2), self.level_due),
            (day(6), False),
            (day(7), self.level_text),
            (day(11), False),
            (day(12), self.level_late),
            (day(21), False),
            (day(22), self.level_call),
            (day(40), False),
        ]
        for date, level in journey:
            with self.subTest(date=date):
                before = self.reminders()
                self.run_dunning(date)
                new = self.reminders() - before
                if not level:
                    self.assertFalse(new)
                    continue
                self.assertRecordValues(
                    new,
                    [
                        {
                            "partner_id": self.customer.id,
                            "level_id": level.id,
                            "date": date,
                            "state": "draft",
                            "user_id": self.collector.id,
                            "move_ids": invoice.ids,
                        }
                    ],
                )
                self.assertEqual(invoice.collection_level_id, level)
                self.assertEqual(self.level_of(self.customer), level)
                # Reviewed and sent the same day: the next level counts from today.
                new.with_user(self.collector).action_approve()
                with self.sms_gateway():
                    self.run_queue(datetime.combine(date, time(13)))

    def test_next_level_waits_for_the_reminder_to_leave(self):
        """A reminder waiting for review holds its invoices at their level: the next
        level comes once it was sent, the gap between the two levels later."""
        invoice = self.invoice(self.customer, 1000.0, day(-5))  # at Text today
        self.run_dunning(day(0))
        text = self.reminders(self.customer)
        self.run_dunning(day(5))  # Late is due, but Text has not left
        self.assertEqual(self.reminders(self.customer), text)
        with on_day(day(6)):
            text.with_user(self.collector).action_approve()
        with self.sms_gateway():
            self.run_queue(at(6, 13))
        self.run_dunning(day(10))
        self.assertEqual(self.reminders(self.customer), text)
        self.run_dunning(day(11))
        self.assertRecordValues(
            self.reminders(self.customer)[1:],
            [{"level_id": self.level_late.id, "move_ids": invoice.ids, "date": day(11)}],
        )

    def test_highest_level_once_grouping_the_invoices(self):
        contact = self.env["res.partner"].create(
            {"name": "Ann Accountant", "parent_id": self.customer.id, "type": "invoice"}
        )
        late = self.invoice(self.customer, 1000.0, day(-12))
        text = self.invoice(contact, 200.0, day(-5))
        soon = self.invoice(self.customer, 300.0, day(2))
        later = self.invoice(self.customer, 400.0, day(10))
        other = self.make_customer("Beta Customer")
        other_due = self.invoice(other, 500.0, day(0))

        self.run_dunning(day(0))

        self.assertRecordValues(
            self.reminders(),
            [
                {
                    "partner_id": self.customer.id,
                    "level_id": self.level_late.id,
                    "move_ids": (late | text | soon).ids,
                    "overdue_amount": 1200.0,
                    "due_amount": 1900.0,
                    "days_overdue": 12,
                },
                {
                    "partner_id": other.id,
                    "level_id": self.level_due.id,
                    "move_ids": other_due.ids,
                    "overdue_amount": 0.0,
                    "due_amount": 500.0,
                    "days_overdue": 0,
                },
            ],
        )
        # Each invoice is at the level it reached by its own due date.
        self.assertRecordValues(
            late | text | soon | later | other_due,
            [
                {"collection_level_id": self.level_late.id},
                {"collection_level_id": self.level_text.id},
                {"collection_level_id": self.level_soon.id},
                {"collection_level_id": False},
                {"collection_level_id": self.level_due.id},
            ],
        )
        self.assertEqual(self.level_of(self.customer), self.level_late)
        self.assertEqual(self.level_of(other), self.level_due)

        # Two days later the invoice that was due soon is due: only it is reminded.
        self.run_dunning(day(2))
        new = self.reminders(self.customer)[1:]
        self.assertRecordValues(
            new, [{"level_id": self.level_due.id, "move_ids": soon.ids, "date": day(2)}]
        )

    def test_coming_invoice_listed_under_its_own_heading(self):
        """A customer with an invoice late and another due in two days gets one message
        listing both, the coming one under "Coming due"; the coming invoice's reminder
        before its due date was that message, and is not sent again."""
        late = self.invoice(self.customer, 1000.0, day(-12))
        coming = self.invoice(self.customer, 300.0, day(2))
        self.run_dunning(day(0))
        reminder = self.reminders(self.customer)
        self.assertRecordValues(
            reminder, [{"level_id": self.level_late.id, "move_ids": (late | coming).ids}]
        )
        self.assertEqual(coming.collection_level_id, self.level_soon)
        reminder.with_user(self.collector).action_approve()
        with self.sms_gateway():
            self.run_queue(at(0, 13))
        body = self.mails(self.customer).body_html
        self.assertIn("Coming due", body)
        self.assertLess(body.index(late.name), body.index("Coming due"))
        self.assertGreater(body.index(coming.name), body.index("Coming due"))
        letter_html = (
            self.env["ir.actions.report"]
            ._render_qweb_html("account_collection.action_report_collection_letter", reminder.ids)[
                0
            ]
            .decode()
        )
        self.assertLess(letter_html.index(late.name), letter_html.index("Coming due"))
        self.assertGreater(letter_html.index(coming.name), letter_html.index("Coming due"))

        # On the days after, the coming invoice gets its next level, not Soon again.
        self.run_dunning(day(1))
        self.run_dunning(day(2))
        self.assertRecordValues(
            self.reminders(self.customer)[1:],
            [{"level_id": self.level_due.id, "move_ids": coming.ids, "date": day(2)}],
        )

    def test_minimum_amount_of_a_level(self):
        self.level_late.min_amount = 500.0
        self.level_soon.min_amount = 500.0
        small = self.make_customer("Small Debtor")
        small_invoice = self.invoice(small, 300.0, day(-12))
        # Before the due date the minimum applies to the total due.
        planned = self.make_customer("Planned Debtor")
        planned_soon = self.invoice(planned, 300.0, day(2))
        self.invoice(planned, 400.0, day(20))
        tiny = self.make_customer("Tiny Debtor")
        tiny_soon = self.invoice(tiny, 300.0, day(2))

        self.run_dunning(day(0))

        self.assertFalse(self.reminders(small | tiny))
        self.assertFalse(small_invoice.collection_level_id)
        self.assertFalse(tiny_soon.collection_level_id)
        self.assertRecordValues(
            self.reminders(planned),
            [{"level_id": self.level_soon.id, "move_ids": planned_soon.ids}],
        )

        # A new overdue invoice takes the small debtor over the minimum.
        second = self.invoice(small, 250.0, day(-11))
        self.run_dunning(day(1))
        self.assertRecordValues(
            self.reminders(small),
            [
                {
                    "level_id": self.level_late.id,
                    "move_ids": (small_invoice | second).ids,
                    "overdue_amount": 550.0,
                }
            ],
        )

    # ------------------------------------------------------------------
    # One level at a time
    # ------------------------------------------------------------------

    def test_old_debt_starts_at_the_entry_level_and_climbs_one_step_at_a_time(self):
        """Switched on over an old book, an invoice 25 days late gets the entry level
        first (by default the first level after the due date), not the Call that moves
        the customer to Delinquent; it reaches each next level once the previous one
        was sent the gap between their delays earlier."""
        self.policy.entry_level_id = False  # the default: the first level after due date
        old = self.invoice(self.customer, 1000.0, day(-25))
        journey = [
            (day(0), self.level_text),
            (day(1), False),
            (day(4), False),
            (day(5), self.level_late),  # Text was sent 10 - 5 days earlier
            (day(14), False),
            (day(15), self.level_call),  # Late was sent 20 - 10 days earlier
        ]
        customer = self.customer.with_company(self.company)
        for date, level in journey:
            with self.subTest(date=date):
                before = self.reminders()
                self.run_dunning(date)
                new = self.reminders() - before
                if not level:
                    self.assertFalse(new)
                    continue
                self.assertRecordValues(new, [{"level_id": level.id, "move_ids": old.ids}])
                new.with_user(self.collector).action_approve()
                with self.sms_gateway():
                    self.run_queue(datetime.combine(date, time(13)))
                self.assertEqual(old.collection_level_id, level)
                if level != self.level_call:
                    self.assertNotEqual(customer.collection_stage_id, self.stage_delinquent)
        self.assertEqual(customer.collection_stage_id, self.stage_delinquent)

    def test_entry_level_of_a_policy(self):
        """By default the first level after the due date; a policy may start overdue
        invoices at a later level, and a new invoice still gets the levels before its
        due date."""
        self.assertEqual(self.policy.entry_level_id, self.level_late)  # set in the class
        self.policy.entry_level_id = False
        self.policy.invalidate_recordset()
        other = self.make_policy(
            "Other",
            [{"name": "Before", "delay": -3}, {"name": "Firm", "delay": 8},
             {"name": "First", "delay": 4}],
        )  # fmt: skip
        self.assertEqual(other.policy_id.entry_level_id, other[1])
        self.company.collection_policy_id = self.policy
        self.policy.entry_level_id = self.level_late
        fresh = self.invoice(self.customer, 100.0, day(2))
        late = self.invoice(self.customer, 100.0, day(-7))  # between Text and Late
        older = self.invoice(self.make_customer("Older Customer"), 100.0, day(-30))
        self.run_dunning(day(0))
        self.assertEqual(fresh.collection_level_id, self.level_soon)
        self.assertEqual(late.collection_level_id, self.level_text)
        self.assertEqual(older.collection_level_id, self.level_late)

    def test_go_live_on_the_shipped_policy(self):
        """The shipped policy switched on over a book with invoices 100 and 45 days
        overdue: the first run sends the first overdue message, not Legal nor the
        formal notice, and the preview says so; then one level at a time."""
        policy = self.env.ref("account_collection.collection_policy_default")
        policy.sudo().company_id = self.company
        self.company.collection_policy_id = policy

        def ref(name):
            return self.env.ref(f"account_collection.{name}")

        self.assertEqual(policy.entry_level_id, ref("collection_level_whatsapp"))
        very_old = self.invoice(self.customer, 1000.0, day(-100))
        other = self.make_customer("Beta Customer")
        old = self.invoice(other, 500.0, day(-45))

        wizard = (
            self.env["collection.dunning.run"]
            .with_user(self.collection_manager)
            .with_context(lang="en_US")
            .create({})
        )
        self.assertEqual(set(wizard.line_ids.level_id), {ref("collection_level_whatsapp")})
        self.assertIn(
            "<b>First overdue message (+2 days)</b>: 2 customers, $\xa01,500.00 overdue"
            " (2 first reminders)",
            str(wizard.level_summary),
        )

        journey = [
            (day(0), "collection_level_whatsapp"),
            (day(1), "collection_level_call"),
            (day(2), None),
            (day(12), None),
            (day(13), "collection_level_15"),  # 12 days after the call
            (day(27), None),
            (day(28), "collection_level_30"),
            (day(58), "collection_level_60"),
            (day(88), "collection_level_90"),
        ]
        with self.sms_gateway():
            for date, level in journey:
                with self.subTest(date=date):
                    before = self.reminders()
                    self.run_dunning(date)
                    new = self.reminders() - before
                    if not level:
                        self.assertFalse(new)
                        continue
                    self.assertEqual(new.partner_id, self.customer | other)
                    self.assertEqual(set(new.level_id), {ref(level)})
                    self.assertEqual(very_old.collection_level_id, ref(level))
                    self.assertEqual(old.collection_level_id, ref(level))
                    # The letters are posted that afternoon.
                    letters = new.delivery_ids.filtered(lambda d: d.state == "to_print")
                    if letters:
                        with freeze_time(datetime.combine(date, time(15))):
                            letters.action_mark_posted()
                    if level != "collection_level_90":
                        self.assertNotEqual(
                            self.customer.with_company(self.company).collection_stage_id,
                            ref("collection_stage_legal"),
                        )
        self.assertEqual(
            self.customer.with_company(self.company).collection_stage_id,
            ref("collection_stage_legal"),
        )

    # ------------------------------------------------------------------
    # Who is left alone
    # ------------------------------------------------------------------

    def test_exclusions(self):
        control = self.make_customer("Control Customer")
        control_invoice = self.invoice(control, 1000.0, day(-12))

        mixed = self.make_customer("Mixed Customer")
        mixed_reminded = self.invoice(mixed, 1000.0, day(-12))
        mixed_blocked = self.invoice(mixed, 500.0, day(-12))
        mixed_blocked.no_followup = True

        blocked_only = self.make_customer("Blocked Customer")
        self.invoice(blocked_only, 1000.0, day(-12)).no_followup = True

        excluded = self.make_customer("Excluded Customer")
        excluded.with_company(self.company).collection_excluded = True

        # In dispute on its only invoice (below).
        dispute = self.make_customer("Disputing Customer")

        written_off = self.make_customer("Written Off Customer")
        written_off.with_company(self.company).collection_status = "uncollectible"

        legal = self.make_customer("Legal Customer")
        legal.with_company(self.company).collection_stage_id = self.stage_legal

        for partner in excluded | dispute | written_off | legal:
            self.invoice(partner, 1000.0, day(-12))
        self.env["collection.dispute"].create(
            {
                "partner_id": dispute.id,
                "move_ids": [Command.set(dispute.invoice_ids.ids)],
                "reason_id": self.env.ref(
                    "account_collection.collection_dispute_reason_wrong_price"
                ).id,
            }
        )

        promised = self.make_customer("Promising Customer")
        promised_invoice = self.invoice(promised, 1000.0, day(-12))
        self.env["collection.interaction.log"].with_user(self.collector).create(
            {
                "partner_id": promised.id,
                "channel": "call",
                "outcome": "promise",
                "promise": True,
                "promise_amount": 1000.0,
                "promise_date": day(3),
                "move_ids": [Command.set(promised_invoice.ids)],
            }
        ).action_confirm()

        self.run_dunning(day(0))

        self.assertRecordValues(
            self.reminders(),
            [
                {"partner_id": control.id, "move_ids": control_invoice.ids},
                {"partner_id": mixed.id, "move_ids": mixed_reminded.ids},
            ],
        )
        self.assertFalse(mixed_blocked.collection_level_id)

        # The promise covers its invoice until its date has passed.
        self.run_dunning(day(3))
        self.assertFalse(self.reminders(promised))
        self.run_dunning(day(4))
        self.assertRecordValues(
            self.reminders(promised),
            [{"level_id": self.level_late.id, "move_ids": promised_invoice.ids, "date": day(4)}],
        )
        # The others are still left alone.
        self.assertEqual(len(self.reminders()), 3)

    def test_email_opt_out_falls_back_to_sms(self):
        self.invoice(self.customer, 1000.0, day(0))
        self.env["mail.blacklist"]._add(self.customer.email)
        no_email = self.make_customer("Paper Customer", email=False)
        self.invoice(no_email, 1000.0, day(0))

        self.run_dunning(day(0))

        for partner, reason in (
            (self.customer, "Email: the customer opted out of emails."),
            (no_email, "Email: the customer has no email address."),
        ):
            with self.subTest(partner=partner.name):
                reminder = self.reminders(partner)
                self.assertEqual(reminder.level_id, self.level_due)
                self.assertRecordValues(
                    reminder.delivery_ids,
                    [
                        {
                            "channel": "email",
                            "state": "cancelled",
                            "last_error": reason,
                            "recipient": False,
                        },
                        {
                            "channel": "sms",
                            "state": "draft",
                            "last_error": False,
                            "recipient": "+34612345678",
                        },
                    ],
                )
                self.assertEqual(reminder.note, f"{reason}\nSent by SMS instead.")

    def test_phone_opt_out_falls_back_to_email(self):
        self.invoice(self.customer, 1000.0, day(-5))
        self.env["phone.blacklist"]._add(["+34612345678"])

        self.run_dunning(day(0))

        reminder = self.reminders(self.customer)
        self.assertEqual(reminder.level_id, self.level_text)
        reason = "SMS: the customer opted out of text messages."
        self.assertRecordValues(
            reminder.delivery_ids,
            [
                {"channel": "sms", "state": "cancelled", "last_error": reason},
                {"channel": "email", "state": "draft", "last_error": False},
            ],
        )
        self.assertEqual(reminder.note, f"{reason}\nSent by Email instead.")

    def test_invalid_phone_is_never_sent(self):
        wrong = self.make_customer("Wrong Number", phone="12")
        self.invoice(wrong, 1000.0, day(-5))

        self.run_dunning(day(0))

        reminder = self.reminders(wrong)
        sms = self.delivery(reminder, "sms")
        self.assertEqual(sms.state, "cancelled")
        self.assertIn("SMS: invalid phone number 12", sms.last_error)
        self.assertIn("SMS: invalid phone number 12", reminder.note)
        self.assertRecordValues(
            self.delivery(reminder, "email"), [{"state": "draft", "recipient": wrong.email}]
        )

        reminder.with_user(self.collector).action_approve()
        with self.sms_gateway() as sent:
            self.run_queue(at(0, 12))
        self.assertFalse(sent)
        self.assertFalse(self.env["sms.sms"].search([("partner_id", "=", wrong.id)]))
        self.assertEqual(sms.state, "cancelled")
        self.assertEqual(self.delivery(reminder, "email").state, "sent")
        self.assertEqual(reminder.state, "done")

    # ------------------------------------------------------------------
    # Review
    # ------------------------------------------------------------------

    def test_review_approve_and_skip(self):
        approved = self.customer
        skipped = self.make_customer("Skipped Customer")
        self.invoice(approved, 1000.0, day(-12))
        skipped_invoice = self.invoice(skipped, 800.0, day(-12))

        self.run_dunning(day(0))
        reminder, to_skip = self.reminders()
        self.assertRecordValues(reminder | to_skip, [{"state": "draft"}, {"state": "draft"}])
        self.assertEqual(set(reminder.delivery_ids.mapped("state")), {"draft"})
        # Nothing goes out while the reminders wait for review, and the stage waits too.
        with self.sms_gateway() as sent:
            self.run_queue(at(0, 13))
        self.assertFalse(sent)
        self.assertFalse(self.mails(approved | skipped))
        preventive = self.env.ref("account_collection.collection_stage_preventive")
        self.assertEqual(approved.with_company(self.company).collection_stage_id, preventive)

        reminder.with_user(self.collector).action_approve()
        to_skip.with_user(self.collector).action_skip()

        self.assertEqual(reminder.state, "queued")
        self.assertEqual(set(reminder.delivery_ids.mapped("state")), {"queued"})
        self.assertEqual(
            approved.with_company(self.company).collection_stage_id, self.stage_administrative
        )
        self.assertEqual(to_skip.state, "cancelled")
        self.assertEqual(set(to_skip.delivery_ids.mapped("state")), {"cancelled"})
        self.assertEqual(skipped.with_company(self.company).collection_stage_id, preventive)

        with self.sms_gateway() as sent:
            self.run_queue(at(0, 14))
        self.assertEqual(reminder.state, "done")
        self.assertEqual(set(reminder.delivery_ids.mapped("state")), {"sent"})
        self.assertEqual([s["number"] for s in sent], ["+34612345678"])
        self.assertEqual(len(self.mails(approved)), 1)
        self.assertFalse(self.mails(skipped))
        self.assertEqual(to_skip.state, "cancelled")
        self.assertFalse(
            self.env["collection.interaction"].search([("partner_id", "=", skipped.id)])
        )
        self.assertFalse(skipped_invoice.collection_last_reminder_date)
        # Skipped is final, sent too.
        with self.assertRaises(UserError):
            to_skip.with_user(self.collector).action_approve()
        with self.assertRaises(UserError):
            reminder.with_user(self.collector).action_skip()

    def test_collector_edits_a_draft_reminder(self):
        kept = self.invoice(self.customer, 1000.0, day(-12))
        removed = self.invoice(self.customer, 700.0, day(-11))
        self.run_dunning(day(0))
        reminder = self.reminders(self.customer).with_user(self.collector)

        # The collector takes an invoice out of the reminder and removes the SMS.
        with Form(reminder) as form:
            form.move_ids.remove(id=removed.id)
        self.assertEqual(reminder.move_ids, kept)
        self.delivery(reminder, "sms").action_cancel()
        # What goes out, and whether it went, is not typed over.
        with Form(reminder) as form, form.delivery_ids.edit(0) as line:
            with self.assertRaisesRegex(AssertionError, "readonly field 'state'"):
                line.state = "sent"
            with self.assertRaisesRegex(AssertionError, "readonly field 'channel'"):
                line.channel = "letter"
        self.assertEqual(reminder.state, "draft")

        # An invoice of another customer cannot be added.
        stranger = self.invoice(self.make_customer("Stranger"), 100.0, day(-12))
        with self.assertRaises(UserError):
            reminder.write({"move_ids": [Command.link(stranger.id)]})
        # Taking every invoice out is skipping the reminder: the collector is told so.
        with self.assertRaises(UserError) as caught:
            reminder.write({"move_ids": [Command.clear()]})
        self.assertIn("skip it", str(caught.exception))
        self.assertEqual(reminder.move_ids, kept)

        reminder.action_approve()
        with self.sms_gateway() as sent:
            self.run_queue(at(0, 13))

        self.assertFalse(sent)
        self.assertEqual(self.delivery(reminder, "sms").state, "cancelled")
        mail = self.mails(self.customer)
        self.assertEqual(len(mail), 1)
        self.assertIn(kept.name, mail.body_html)
        self.assertNotIn(removed.name, mail.body_html)
        self.assertEqual(kept.collection_last_reminder_date, day(0))
        self.assertFalse(removed.collection_last_reminder_date)

        # Once approved, the reminder is what was sent: no more editing.
        with self.assertRaisesRegex(AssertionError, "not editable"), Form(reminder) as form:
            form.move_ids.remove(id=kept.id)
        with self.assertRaises(UserError):
            reminder.write({"move_ids": [Command.unlink(kept.id)]})

    def test_stage_only_moves_forward(self):
        delinquent = self.make_customer("Delinquent Customer")
        delinquent.with_company(self.company).collection_stage_id = self.stage_delinquent
        self.invoice(delinquent, 1000.0, day(-12))
        self.invoice(self.customer, 1000.0, day(-12))
        self.run_dunning(day(0))
        self.reminders().with_user(self.collector).action_approve()
        # The Late level moves customers to Administrative, but not back from Delinquent.
        self.assertEqual(
            delinquent.with_company(self.company).collection_stage_id, self.stage_delinquent
        )
        self.assertEqual(
            self.customer.with_company(self.company).collection_stage_id,
            self.stage_administrative,
        )

    def test_stage_comes_back_once_everything_is_paid(self):
        """In Legal (a stage that stops reminders) the debt that took the customer there
        is left to the lawyers; once nothing is overdue any more the customer is back
        at the first stage and its new invoices are reminded again."""
        preventive = self.env.ref("account_collection.collection_stage_preventive")
        customer = self.customer.with_company(self.company)
        old = self.invoice(self.customer, 1000.0, day(-30))
        customer.collection_stage_id = self.stage_legal
        self.run_dunning(day(0))
        self.assertFalse(self.reminders())

        self.pay_on(1, old)
        self.assertEqual(customer.collection_stage_id, preventive)
        with on_day(day(1)):
            new = self.invoice(self.customer, 500.0, day(3))
        self.run_dunning(day(1))
        self.assertRecordValues(
            self.reminders(), [{"level_id": self.level_soon.id, "move_ids": new.ids}]
        )

        # A customer put in Legal with nothing overdue is back at the first stage by
        # the next run, and reminded.
        other = self.make_customer("Other Customer")
        other.with_company(self.company).collection_stage_id = self.stage_legal
        coming = self.invoice(other, 300.0, day(3))
        self.run_dunning(day(1))
        self.assertEqual(other.with_company(self.company).collection_stage_id, preventive)
        self.assertEqual(self.reminders(other).move_ids, coming)

    def test_all_channels_removed_means_nothing_sent(self):
        self.invoice(self.customer, 1000.0, day(-12))
        self.run_dunning(day(0))
        reminder = self.reminders(self.customer).with_user(self.collector)
        reminder.delivery_ids.action_cancel()
        reminder.action_approve()
        self.run_queue(at(0, 13))
        self.assertEqual(reminder.state, "cancelled")
        self.assertFalse(self.mails(self.customer))
        self.assertFalse(
            self.env["collection.interaction"].search([("partner_id", "=", self.customer.id)])
        )

    # ------------------------------------------------------------------
    # Exactly once
    # ------------------------------------------------------------------

    def test_running_twice_creates_nothing_new(self):
        early = self.make_customer("Early Customer")
        early_invoice = self.invoice(early, 1000.0, day(-12))
        later = self.make_customer("Later Customer")
        later_invoice = self.invoice(later, 1000.0, day(3))

        self.run_dunning(day(0))
        first = self.reminders()
        self.assertEqual(first.partner_id, early)

        self.run_dunning(day(0))
        self.assertEqual(self.reminders(), first)

        # The next day only the invoice that moved up is reminded.
        self.run_dunning(day(1))
        new = self.reminders() - first
        self.assertRecordValues(
            new,
            [
                {
                    "partner_id": later.id,
                    "level_id": self.level_soon.id,
                    "move_ids": later_invoice.ids,
                    "date": day(1),
                }
            ],
        )
        self.assertEqual(early_invoice.collection_level_id, self.level_late)
        self.run_dunning(day(1))
        self.assertEqual(self.reminders(), first | new)

    def test_run_near_midnight_is_dated_by_the_company_day(self):
        """The scheduler's user lives in Brussels, the company in UTC: at 23:30 UTC the
        run still belongs to the company's day, and the preview of the manager, who sees
        the company's day, lists what the run then creates on it."""
        self.dunning_cron.user_id.tz = "Europe/Brussels"
        self.company.partner_id.tz = "UTC"
        self.collection_manager.tz = "UTC"
        late = self.invoice(self.customer, 1000.0, day(-12))
        # At noon the day before, the customer had nothing new due: the run of today
        # at 23:30 UTC (already tomorrow in Brussels) is the one that reminds it.
        with freeze_time(datetime.combine(TODAY, time(23, 30))):
            Run = self.env["collection.dunning.run"].with_user(self.collection_manager)
            wizard = Run.create({})
            self.assertEqual(wizard.date, TODAY)
            self.assertEqual(wizard.line_ids.move_ids, late)
        self.run_dunning(datetime.combine(TODAY, time(23, 30)))
        self.assertRecordValues(self.reminders(), [{"partner_id": self.customer.id, "date": TODAY}])

    def test_run_killed_between_batches_resumes(self):
        customers = self.env["res.partner"]
        for index in range(5):
            partner = self.make_customer(f"Batch Customer {index}")
            self.invoice(partner, 100.0 * (index + 1), day(-12))
            customers |= partner
        Dunning = self.env.registry["collection.dunning"]
        create_from_plan = Dunning._create_from_plan
        calls = []

        def killed_after_first_batch(model, company, today, plan):
            calls.append(sorted(plan))
            if len(calls) > 1:
                raise RuntimeError("The worker was killed.")
            return create_from_plan(model, company, today, plan)

        with (
            patch.object(collection_dunning, "RUN_BATCH_SIZE", 2),
            patch.object(Dunning, "_create_from_plan", killed_after_first_batch),
            self.assertLogs("odoo.addons.base.models.ir_cron", level="ERROR"),
            on_day(day(0)),
            self.enter_registry_test_mode(),
        ):
            result = self.dunning_cron.method_direct_trigger()
        self.assertIsNot(result, True, "The run should have failed.")

        # The first batch was committed before the crash; nothing of the second.
        first_batch = customers.browse(calls[0])
        self.assertTrue(first_batch)
        self.assertLessEqual(len(first_batch), 2)
        done = self.reminders(customers)
        self.assertEqual(done.partner_id, first_batch)
        for partner in customers - first_batch:
            self.assertEqual(self.level_of(partner), self.env["collection.level"])

        # Run again: it carries on where it stopped.
        self.run_dunning(day(0))
        reminders = self.reminders(customers)
        self.assertEqual(reminders[: len(done)], done)
        self.assertEqual(len(reminders), 5)
        self.assertEqual(reminders.partner_id, customers)
        self.assertEqual(set(reminders.level_id), {self.level_late})
        self.assertEqual(sorted(reminders.mapped("partner_id.id")), customers.ids)
        for partner in customers:
            self.assertEqual(self.level_of(partner), self.level_late)

    def test_run_does_not_query_per_customer(self):
        """A run reminding ten customers asks the database what a run reminding two
        asks: the reminders, their invoices, deliveries and the customers' new level,
        stage and status are written set-based. The stage changes are still on each
        customer's chatter, as tracking logs them."""
        self.policy.mode = "automatic"
        Dunning = self.env.registry["collection.dunning"]
        run_dunning = Dunning._run_dunning
        queries = []

        def counted(model, *args, **kwargs):
            before = model.env.cr.sql_log_count
            result = run_dunning(model, *args, **kwargs)
            if result:
                queries.append(model.env.cr.sql_log_count - before)
            return result

        def book(count, tag):
            customers = self.env["res.partner"]
            for index in range(count):
                partner = self.make_customer(f"{tag} Customer {index}")
                # Two invoices at the Late level, one a level below it.
                self.invoice(partner, 100.0, day(-12))
                self.invoice(partner, 200.0, day(-11))
                self.invoice(partner, 50.0, day(-6))
                customers |= partner
            return customers

        with patch.object(Dunning, "_run_dunning", counted):
            self.run_dunning(day(0))  # the customer of the class, nothing due: warms up
            book(1, "Warm")
            self.run_dunning(day(0))
            two = book(2, "Small")
            self.run_dunning(day(1))
            ten = book(10, "Large")
            self.run_dunning(day(2))
        _warm, queries_two, queries_ten = queries
        self.assertEqual(len(self.reminders(two)), 2)
        self.assertEqual(len(self.reminders(ten)), 10)
        self.assertEqual(
            queries_ten,
            queries_two,
            f"Reminding ten customers took {queries_ten} queries, two took {queries_two}.",
        )
        first_stage = self.env.ref("account_collection.collection_stage_preventive")
        for partner in ten:
            reminder = self.reminders(partner)
            self.assertRecordValues(reminder, [{"level_id": self.level_late.id, "state": "queued"}])
            self.assertEqual(
                [move.collection_level_id for move in reminder.move_ids.sorted("amount_total")],
                [self.level_text, self.level_late, self.level_late],
            )
            self.assertEqual(self.level_of(partner), self.level_late)
            customer = partner.with_company(self.company)
            self.assertEqual(customer.collection_stage_id, self.stage_administrative)
            [change] = customer.message_ids.tracking_value_ids.filtered(
                lambda t: t.field_id.name == "collection_stage_id"
            )
            self.assertEqual(change.new_value_char, self.stage_administrative.name)
            # From the first stage, where customers start.
            self.assertEqual(change.old_value_char, first_stage.name)

    # ------------------------------------------------------------------
    # Run now, with a preview
    # ------------------------------------------------------------------

    def test_preview_lists_what_the_run_creates(self):
        late = self.invoice(self.customer, 1000.0, day(-12))
        other = self.make_customer("Beta Customer")
        soon = self.invoice(other, 500.0, day(2))
        excluded = self.make_customer("Excluded Customer")
        excluded.with_company(self.company).collection_excluded = True
        self.invoice(excluded, 500.0, day(-12))
        quiet = self.make_customer("Quiet Customer")
        self.invoice(quiet, 500.0, day(9))

        Run = self.env["collection.dunning.run"].with_user(self.collection_manager)
        wizard = Run.create({})
        self.assertEqual(wizard.count, 2)
        self.assertRecordValues(
            wizard.line_ids.sorted(lambda line: line.partner_id.name),
            [
                {
                    "partner_id": self.customer.id,
                    "level_id": self.level_late.id,
                    "move_ids": late.ids,
                    "channels": "Email, SMS",
                    "overdue_amount": 1000.0,
                },
                {
                    "partner_id": other.id,
                    "level_id": self.level_soon.id,
                    "move_ids": soon.ids,
                    "channels": "Email",
                    "overdue_amount": 0.0,
                },
            ],
        )

        # A collector can neither preview nor run.
        with self.assertRaises(AccessError):
            self.env["collection.dunning.run"].with_user(self.collector).create({})
        with self.assertRaises(AccessError):
            wizard.with_user(self.collector).action_run()
        self.assertFalse(self.reminders())

        with self.enter_registry_test_mode():
            action = wizard.action_run()
        created = self.reminders()
        self.assertEqual(
            [(r.partner_id, r.level_id, r.move_ids) for r in created.sorted("partner_id")],
            [
                (line.partner_id, line.level_id, line.move_ids)
                for line in wizard.line_ids.sorted("partner_id")
            ],
        )
        self.assertEqual(self.env["collection.communication"].search(action["domain"]), created)

    def test_run_now_runs_only_the_company_previewed(self):
        """Run Reminders creates the reminders of the company of its preview; another
        company's customers wait for their own run."""
        other_company = self.setup_other_company(name="Other Collections Co")["company"]
        other_company.write(
            {
                "collection_quiet_hour_start": 0.0,
                "collection_quiet_hour_end": 0.0,
                "collection_rest_day": False,
            }
        )
        other_policy = self.env["collection.policy"].create(
            {
                "name": "Other reminders",
                "company_id": other_company.id,
                "mode": "review",
                "level_ids": [Command.create({"name": "Other Late", "delay": 10})],
            }
        )
        other_company.collection_policy_id = other_policy
        other_customer = self.make_customer("Other Company Customer")
        other_invoice = self.invoice(other_customer, 900.0, day(-12), company=other_company)
        self.invoice(self.customer, 1000.0, day(-12))

        wizard = self.env["collection.dunning.run"].with_user(self.collection_manager).create({})
        self.assertEqual(wizard.line_ids.partner_id, self.customer)
        with self.enter_registry_test_mode():
            wizard.action_run()

        self.assertEqual(self.reminders().partner_id, self.customer)
        Communication = self.env["collection.communication"]
        self.assertFalse(Communication.search([("company_id", "=", other_company.id)]))
        self.assertFalse(other_invoice.collection_level_id)

        # The daily job still reminds every company.
        self.run_dunning(day(0))
        self.assertEqual(
            Communication.search([("company_id", "=", other_company.id)]).move_ids, other_invoice
        )

    def test_without_default_policy_only_customers_with_their_own(self):
        """Until a default policy is chosen, only the customers given a policy of their
        own are reminded; the preview and the run agree."""
        self.company.collection_policy_id = False
        self.invoice(self.customer, 1000.0, day(-12))
        own = self.make_customer("Own Policy Customer")
        own.with_company(self.company).collection_policy_id = self.policy
        own_invoice = self.invoice(own, 1000.0, day(-12))

        wizard = self.env["collection.dunning.run"].with_user(self.collection_manager).create({})
        self.assertRecordValues(
            wizard.line_ids,
            [{"partner_id": own.id, "level_id": self.level_late.id, "move_ids": own_invoice.ids}],
        )
        self.run_dunning(day(0))
        self.assertRecordValues(
            self.reminders(),
            [{"partner_id": own.id, "level_id": self.level_late.id, "move_ids": own_invoice.ids}],
        )

    # ------------------------------------------------------------------
    # The shipped policy
    # ------------------------------------------------------------------

    def test_default_policy(self):
        """The policy shipped with the module, from two days before the due date to the
        Legal stage, on automatic."""
        policy = self.env.ref("account_collection.collection_policy_default")
        policy.sudo().company_id = self.company
        self.company.collection_policy_id = policy
        self.assertEqual(policy.mode, "automatic")
        admin = self.env.ref("base.user_admin")
        invoice = self.invoice(self.customer, 1000.0, day(2))
        partner = self.customer.with_company(self.company)

        def ref(name):
            return self.env.ref(f"account_collection.{name}")

        journey = [
            # day, level, channels sent, stage after
            # Customers start in the first stage.
            (day(-1), None, None, "collection_stage_preventive"),
            (day(0), "collection_level_before_due", ["email"], "collection_stage_preventive"),
            (day(1), None, None, "collection_stage_preventive"),
            (day(2), "collection_level_due_date", ["email"], "collection_stage_preventive"),
            (day(4), "collection_level_whatsapp", ["sms"], "collection_stage_administrative"),
            (day(5), "collection_level_call", ["activity"], "collection_stage_administrative"),
            (day(16), None, None, "collection_stage_administrative"),
            (
                day(17),
                "collection_level_15",
                ["email", "letter"],
                "collection_stage_administrative",
            ),
            (day(32), "collection_level_30", ["letter"], "collection_stage_delinquent"),
            (day(62), "collection_level_60", ["activity"], "collection_stage_extrajudicial"),
            (day(92), "collection_level_90", [], "collection_stage_legal"),
        ]
        with self.sms_gateway() as sms_sent:
            for date, level, channels, stage_name in journey:
                with self.subTest(date=date):
                    before = self.reminders()
                    self.run_dunning(date)
                    new = self.reminders() - before
                    expected_stage = ref(stage_name) if stage_name else self.env["collection.stage"]
                    self.assertEqual(partner.collection_stage_id, expected_stage)
                    if not level:
                        self.assertFalse(new)
                        continue
                    # A letter waits to be printed and posted: its reminder is not done.
                    state = "queued" if "letter" in channels else "done"
                    self.assertRecordValues(
                        new, [{"level_id": ref(level).id, "move_ids": invoice.ids, "state": state}]
                    )
                    sent = new.delivery_ids.filtered(lambda d: d.state in ("sent", "to_print"))
                    self.assertEqual(sent.mapped("channel"), channels)
                    self.assertEqual(invoice.collection_level_id, ref(level))
                    # The letter is posted that afternoon: the next level counts from it.
                    letters = new.delivery_ids.filtered(lambda d: d.state == "to_print")
                    if letters:
                        with freeze_time(datetime.combine(date, time(15))):
                            letters.action_mark_posted()
            # Only this customer's (demo customers may get theirs in the same run).
            self.assertEqual(
                [s["number"] for s in sms_sent if s["number"] == "+34612345678"],
                ["+34612345678"],
            )

        reminders = self.reminders(self.customer)
        whatsapp = reminders.filtered(lambda r: r.level_id == ref("collection_level_whatsapp"))
        self.assertEqual(whatsapp.note, "WhatsApp: WhatsApp is not set up.\nSent by SMS instead.")
        self.assertEqual(len(self.mails(self.customer)), 3)
        self.assertEqual(
            reminders.filtered("letter_attachment_id").level_id,
            ref("collection_level_15") | ref("collection_level_30"),
        )
        activities = self.customer.activity_ids.sorted("id")
        self.assertEqual(activities.user_id, self.collector | admin)
        self.assertEqual(
            activities.mapped("summary"),
            [
                "Call the customer about overdue invoices",
                "Review the account: agency, payment agreement or legal action",
            ],
        )

        # In the Legal stage automatic reminders stop for the debt that reached it; a
        # new invoice is reminded from its first level, and claims only itself.
        with on_day(day(93)):
            new_invoice = self.invoice(self.customer, 300.0, day(95))
        self.run_dunning(day(93))
        self.run_dunning(day(95))
        self.assertRecordValues(
            self.reminders(self.customer) - reminders,
            [
                {"level_id": ref("collection_level_before_due").id, "due_amount": 300.0},
                {"level_id": ref("collection_level_due_date").id, "due_amount": 300.0},
            ],
        )
        self.assertEqual((self.reminders(self.customer) - reminders).move_ids, new_invoice)
        self.assertEqual(invoice.collection_level_id, ref("collection_level_90"))
        self.assertEqual(partner.collection_stage_id, ref("collection_stage_legal"))


@tagged("post_install", "-at_install")
class TestDunningCronMigration(TransactionCase):
    """Upgrading to 19.0.1.2.0 points the daily reminders job (noupdate) at the dunning
    service."""

    def test_cron_moves_to_the_dunning_service(self):
        cron = self.env.ref("account_collection.ir_cron_collection_dunning")
        cron.model_id = self.env["ir.model"]._get("collection.communication")
        script = migration("19.0.1.2.0", "post-migrate")
        script.migrate(self.env.cr, "19.0.1.1.0")
        self.env.invalidate_all()
        self.assertRecordValues(
            cron, [{"model_name": "collection.dunning", "code": "model._cron_run_dunning()"}]
        )
        # Run again (or on a database already migrated): nothing changes.
        script.migrate(self.env.cr, "19.0.1.1.0")
        self.assertEqual(cron.model_id.model, "collection.dunning")

    def test_invoice_levels_get_the_day_they_were_reached(self):
        """Upgrading to 19.0.1.2.0: an invoice already at a level counts the gap to its
        next level from its last reminder at that level."""
        partner = self.env["res.partner"].create({"name": "Upgraded Customer"})
        policy = self.env["collection.policy"].create(
            {
                "name": "Upgrade",
                "level_ids": [
                    Command.create({"name": "First", "delay": 5}),
                    Command.create({"name": "Second", "delay": 15}),
                ],
            }
        )
        first, _second = policy.level_ids.sorted("delay")
        moves = self.env["account.move"]
        for _index in range(3):
            moves |= self.env["account.move"].create(
                {
                    "move_type": "out_invoice",
                    "partner_id": partner.id,
                    "invoice_date": "2026-01-01",
                    "invoice_line_ids": [Command.create({"name": "Goods", "price_unit": 10.0})],
                }
            )
        reminded, dated, unknown = moves
        self.env["collection.communication"].create(
            {
                "partner_id": partner.id,
                "company_id": self.env.company.id,
                "level_id": first.id,
                "policy_id": policy.id,
                "date": "2026-02-01",
                "move_ids": [Command.set(reminded.ids)],
            }
        )
        States = self.env["collection.invoice.dunning"]
        States._set("level_id", moves.ids, [first.id] * 3)
        States._set("last_reminder_date", dated.ids, ["2026-02-10"])
        migration("19.0.1.2.0", "post-level-date").migrate(self.env.cr, "19.0.1.1.0")
        States.invalidate_model()
        states = States.search([("move_id", "in", moves.ids)])
        self.assertEqual(
            {state.move_id: state.level_date for state in states},
            {
                reminded: fields.Date.to_date("2026-02-01"),
                dated: fields.Date.to_date("2026-02-10"),
                unknown: False,
            },
        )
