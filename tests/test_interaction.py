from datetime import datetime, timedelta

from odoo import Command
from odoo.exceptions import UserError, ValidationError
from odoo.tests import tagged
from odoo.tools import mute_logger

from .common import TODAY, CollectionCommon, on_day

# A spreadsheet of interaction history, and how its columns map to fields in the
# import dialog. Channels and outcomes may be given by label or by technical value.
IMPORT_HEADER = "Customer,Date,Channel,Outcome,Note,Overdue Then,Days Overdue Then"
IMPORT_FIELDS = [
    "partner_id",
    "date",
    "channel",
    "outcome",
    "note",
    "overdue_amount",
    "days_overdue",
]
IMPORT_OPTIONS = {
    "quoting": '"',
    "separator": ",",
    "has_headers": True,
    "datetime_format": "%Y-%m-%d %H:%M:%S",
}
GOOD_ROWS = [
    "Acme Customer,2025-11-03 10:00:00,Call,Promise to Pay,Promised by month end,1250.50,34",
    "Acme Customer,2025-12-01 09:30:00,email,sent,Second reminder,800,62",
    "Acme Customer,2025-12-05 16:00:00,Visit,Refused to Pay,At the office,900,66",
    "Acme Customer,2025-12-10 16:00:00,note,,Internal note,950,71",
]
BAD_ROWS = [
    "Acme Customer,2025-11-03 10:00:00,call,contacted,Good row,100,5",
    "Acme Customer,2025-11-04 10:00:00,telepathy,contacted,Bad channel,100,6",
    "Nobody Inc,2025-11-05 10:00:00,call,contacted,Bad customer,100,7",
]


def csv_file(rows):
    return "\n".join([IMPORT_HEADER, *rows, ""]).encode()


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionInteraction(CollectionCommon):
    """The interaction log is evidence: created once, with the figures of the ledger at
    that moment, never edited or deleted; history comes in by import; bad input is
    refused with a clear message and leaves nothing behind."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.overdue_invoice = cls.invoice(cls.customer, 1000.0, TODAY - timedelta(days=10))
        cls.future_invoice = cls.invoice(cls.customer, 500.0, TODAY + timedelta(days=10))
        cls.stranger = cls.env["res.partner"].create({"name": "Stranger Ltd", "is_company": True})
        cls.stranger_invoice = cls.invoice(cls.stranger, 200.0, TODAY - timedelta(days=3))
        cls.Interaction = cls.env["collection.interaction"]

    def _log_as_collector(self, **values):
        return self.Interaction.with_user(self.collector).create(
            {"partner_id": self.customer.id, "channel": "call", "outcome": "no_answer", **values}
        )

    # ------------------------------------------------------------------
    # Evidence
    # ------------------------------------------------------------------

    def test_collector_cannot_change_or_delete(self):
        interaction = self._log_as_collector(note="Nobody picked up.")
        self.assertEqual(interaction.user_id, self.collector)
        facts = {
            "note": "Customer promised everything.",
            "channel": "visit",
            "outcome": "promise",
            "date": datetime(2026, 1, 1, 10, 0),
            "partner_id": self.stranger.id,
            "overdue_amount": 1.0,
            "days_overdue": 0,
            "status_after": "agreement",
            "user_id": self.collection_manager.id,
        }
        for field_name, value in facts.items():
            with self.subTest(field=field_name), self.assertRaisesRegex(UserError, "evidence"):
                interaction.with_user(self.collector).write({field_name: value})
        with self.assertRaises(UserError):
            interaction.with_user(self.collector).active = False
        with self.assertRaises(UserError):
            interaction.with_user(self.collector).unlink()
        interaction.invalidate_recordset()
        self.assertEqual(interaction.note, "Nobody picked up.")
        self.assertEqual(interaction.channel, "call")
        self.assertTrue(interaction.active)

    def test_manager_archives_but_cannot_change_facts(self):
        interaction = self._log_as_collector(note="Nobody picked up.")
        as_manager = interaction.with_user(self.collection_manager)
        with self.assertRaisesRegex(UserError, "evidence"):
            as_manager.write({"note": "Corrected."})
        with self.assertRaisesRegex(UserError, "evidence"):
            as_manager.write({"active": False, "overdue_amount": 0.0})
        as_manager.active = False
        self.assertFalse(interaction.active)
        self.assertFalse(
            self.Interaction.with_user(self.collector).search(
                [("partner_id", "=", self.customer.id)]
            ),
            "archived interactions leave the log",
        )
        as_manager.active = True
        self.assertTrue(interaction.active)

    def test_nobody_deletes(self):
        interaction = self._log_as_collector()
        for user in (self.collector, self.collection_manager):
            with self.subTest(user=user.login), self.assertRaises(UserError):
                interaction.with_user(user).unlink()
        with self.assertRaisesRegex(UserError, "evidence"):
            interaction.sudo().unlink()
        self.assertTrue(interaction.exists())

    def test_snapshots_follow_the_ledger_at_creation_only(self):
        interaction = self._log_as_collector()
        self.assertEqual(interaction.overdue_amount, 1000.0)
        self.assertEqual(interaction.days_overdue, 10)
        self.assertEqual(interaction.status_before, "current")

        self.pay(self.overdue_invoice)
        self.assertEqual(self.customer.collection_overdue_amount, 0.0)
        interaction.invalidate_recordset()
        self.assertEqual(
            interaction.overdue_amount, 1000.0, "a later payment does not rewrite history"
        )
        self.assertEqual(interaction.days_overdue, 10)

        later = self._log_as_collector()
        self.assertEqual(later.overdue_amount, 0.0)
        self.assertEqual(later.days_overdue, 0)

    def test_collector_cannot_forge_snapshots(self):
        interaction = self._log_as_collector(
            overdue_amount=1.0,
            days_overdue=999,
            automatic=True,
            user_id=self.collection_manager.id,
            date=datetime(2020, 1, 1, 9, 0),
            status_before="refusal",
        )
        self.assertEqual(interaction.overdue_amount, 1000.0)
        self.assertEqual(interaction.days_overdue, 10)
        self.assertFalse(interaction.automatic)
        self.assertEqual(interaction.user_id, self.collector)
        self.assertEqual(interaction.date.date(), TODAY, "a collector's entry is dated now")
        self.assertEqual(interaction.status_before, "current", "the status of the ledger")

    def test_invoices_of_another_customer_are_refused(self):
        other = self.env["res.partner"].create({"name": "Other Customer", "is_company": True})
        foreign_invoice = self.invoice(other, 300.0, TODAY - timedelta(days=5))
        with (
            self.assertRaisesRegex(ValidationError, "do not belong to Acme Customer"),
            self.env.cr.savepoint(),
        ):
            self._log_as_collector(move_ids=[Command.set(foreign_invoice.ids)])
        self.assertFalse(self.Interaction.search([("partner_id", "=", self.customer.id)]))

    def test_manager_brings_historical_values(self):
        interaction = self.Interaction.with_user(self.collection_manager).create(
            {
                "partner_id": self.customer.id,
                "date": datetime(2025, 6, 2, 9, 0),
                "channel": "letter",
                "outcome": "sent",
                "overdue_amount": 2500.0,
                "days_overdue": 75,
                "user_id": self.collector.id,
            }
        )
        self.assertEqual(interaction.overdue_amount, 2500.0)
        self.assertEqual(interaction.days_overdue, 75)
        self.assertEqual(interaction.user_id, self.collector)
        self.assertEqual(interaction.date, datetime(2025, 6, 2, 9, 0))

    def test_automation_logs_without_user(self):
        interaction = self.Interaction.sudo().create(
            {
                "partner_id": self.customer.id,
                "channel": "email",
                "outcome": "sent",
                "automatic": True,
                "user_id": False,
                "note": "Reminder 1 sent.",
            }
        )
        self.assertTrue(interaction.automatic)
        self.assertFalse(interaction.user_id)
        self.assertEqual(interaction.overdue_amount, 1000.0, "snapshot taken from the ledger")
        self.assertIn(
            interaction, self.customer.with_user(self.collector).collection_interaction_ids
        )

    def test_interaction_on_contact_goes_to_company(self):
        contact = self.env["res.partner"].create(
            {"name": "Ann Payables", "parent_id": self.customer.id}
        )
        interaction = self.Interaction.with_user(self.collector).create(
            {"partner_id": contact.id, "channel": "call", "outcome": "contacted"}
        )
        self.assertEqual(interaction.partner_id, self.customer)
        self.assertEqual(interaction.overdue_amount, 1000.0)

    def test_collector_cannot_forge_promise_outcome(self):
        """A promise's state and amount paid follow the ledger, whoever asks."""
        Promise = self.env["collection.promise"].with_user(self.collector)
        promise = Promise.create(
            {
                "partner_id": self.customer.id,
                "amount": 600.0,
                "date": TODAY + timedelta(days=5),
                "move_ids": [Command.set(self.overdue_invoice.ids)],
                "state": "kept",
                "amount_paid": 600.0,
                "date_made": TODAY - timedelta(days=90),
            }
        )
        self.assertRecordValues(
            promise, [{"state": "open", "amount_paid": 0.0, "date_made": TODAY}]
        )
        for values in (
            {"state": "kept"},
            {"amount_paid": 600.0},
            {"date_made": TODAY - timedelta(days=90)},
        ):
            with (
                self.subTest(values=values),
                self.assertRaisesRegex(UserError, "follow the ledger"),
            ):
                promise.with_user(self.collector).write(values)
        # The collector checks the payments: nothing paid, still open.
        promise.with_user(self.collector).action_evaluate()
        self.assertRecordValues(promise, [{"state": "open", "amount_paid": 0.0}])
        # Cancelling stays the collector's call, once.
        promise.with_user(self.collector).action_cancel()
        self.assertEqual(promise.state, "cancelled")
        with self.assertRaises(UserError):
            promise.with_user(self.collector).write({"state": "open"})

    # ------------------------------------------------------------------
    # Import
    # ------------------------------------------------------------------

    def _base_import(self, rows):
        """Import a CSV file from the import dialog, as a collection manager."""
        if "base_import.import" not in self.env:
            self.skipTest("base_import is not installed")
        importer = (
            self.env["base_import.import"]
            .with_user(self.collection_manager)
            .create(
                {
                    "res_model": "collection.interaction",
                    "file": csv_file(rows),
                    "file_type": "text/csv",
                    "file_name": "history.csv",
                }
            )
        )
        with mute_logger("odoo.sql_db"):
            return importer.execute_import(
                IMPORT_FIELDS, IMPORT_HEADER.split(","), dict(IMPORT_OPTIONS)
            )

    def _load(self, rows):
        """Model.load() as the import dialog calls it, as a collection manager."""
        Interaction = self.Interaction.with_user(self.collection_manager)
        with mute_logger("odoo.sql_db"):
            return Interaction.with_context(import_file=True).load(
                IMPORT_FIELDS, [row.split(",") for row in rows]
            )

    def _assert_history_imported(self, result):
        self.assertFalse(result["messages"])
        imported = self.Interaction.browse(result["ids"])
        self.assertRecordValues(
            imported,
            [
                {
                    "partner_id": self.customer.id,
                    "channel": "call",
                    "outcome": "promise",
                    "note": "Promised by month end",
                    "overdue_amount": 1250.5,
                    "days_overdue": 34,
                },
                {
                    "partner_id": self.customer.id,
                    "channel": "email",
                    "outcome": "sent",
                    "note": "Second reminder",
                    "overdue_amount": 800.0,
                    "days_overdue": 62,
                },
                {
                    "partner_id": self.customer.id,
                    "channel": "visit",
                    "outcome": "refusal",
                    "note": "At the office",
                    "overdue_amount": 900.0,
                    "days_overdue": 66,
                },
                {
                    "partner_id": self.customer.id,
                    "channel": "note",
                    "outcome": False,
                    "note": "Internal note",
                    "overdue_amount": 950.0,
                    "days_overdue": 71,
                },
            ],
        )
        self.assertEqual(
            [d.date() for d in imported.mapped("date")],
            [
                datetime(2025, 11, 3).date(),
                datetime(2025, 12, 1).date(),
                datetime(2025, 12, 5).date(),
                datetime(2025, 12, 10).date(),
            ],
        )

    def _assert_bad_rows_refused(self, result):
        self.assertIs(result["ids"], False)
        self.assertTrue(result["messages"])
        self.assertTrue(all(m["type"] == "error" for m in result["messages"]))
        channel_error = next(m for m in result["messages"] if "telepathy" in m["message"])
        self.assertEqual(channel_error["field"], "channel")
        self.assertEqual(channel_error["record"], 1)
        self.assertIn("not found in selection field 'Channel'", channel_error["message"])
        partner_error = next(m for m in result["messages"] if "Nobody Inc" in m["message"])
        self.assertEqual(partner_error["field"], "partner_id")
        self.assertEqual(partner_error["record"], 2)
        self.assertIn("No matching record found", partner_error["message"])
        self.assertFalse(self.Interaction.search([("partner_id", "=", self.customer.id)]))

    def test_import_history_with_base_import(self):
        self._assert_history_imported(self._base_import(GOOD_ROWS))

    def test_import_bad_rows_with_base_import(self):
        self._assert_bad_rows_refused(self._base_import(BAD_ROWS))

    def test_load_history(self):
        self._assert_history_imported(self._load(GOOD_ROWS))

    def test_load_rejects_bad_rows(self):
        self._assert_bad_rows_refused(self._load(BAD_ROWS))

    # ------------------------------------------------------------------
    # Bad input
    # ------------------------------------------------------------------

    def _assert_nothing_written(self, messages_before):
        customer = self.customer.with_company(self.company)
        self.assertFalse(self.env["collection.promise"].search([("partner_id", "=", customer.id)]))
        self.assertFalse(self.Interaction.search([("partner_id", "=", customer.id)]))
        self.assertEqual(customer.collection_status, "negotiating")
        self.assertFalse(customer.collection_next_action_date)
        self.assertEqual(customer.message_ids, messages_before)
        self.assertFalse(customer.activity_ids)

    def _promise_as_collector(self, **values):
        return (
            self.env["collection.promise"]
            .with_user(self.collector)
            .create(
                {
                    "partner_id": self.customer.id,
                    "amount": 400.0,
                    "date": TODAY + timedelta(days=5),
                    **values,
                }
            )
        )

    def _wizard_as_collector(self, **values):
        return (
            self.env["collection.interaction.log"]
            .with_user(self.collector)
            .with_context(default_partner_id=self.customer.id)
            .create({"channel": "call", "outcome": "promise", **values})
        )

    def test_bad_promises(self):
        self.customer.collection_status = "negotiating"
        draft = self.invoice(self.customer, 300.0, TODAY + timedelta(days=30), post=False)
        paid = self.invoice(self.customer, 300.0, TODAY - timedelta(days=2))
        self.pay(paid)
        self.assertIn(paid.payment_state, ("paid", "in_payment"))
        messages_before = self.customer.message_ids
        cases = [
            ("zero amount", {"amount": 0.0}, "greater than zero"),
            ("negative amount", {"amount": -50.0}, "greater than zero"),
            ("date in the past", {"date": TODAY - timedelta(days=1)}, "in the past"),
            (
                "invoice of another customer",
                {"move_ids": [Command.set(self.stranger_invoice.ids)]},
                "do not belong to Acme Customer.*" + self.stranger_invoice.name,
            ),
            (
                "draft invoice",
                {"move_ids": [Command.set(draft.ids)]},
                "only cover posted customer invoices that are still open",
            ),
            (
                "paid invoice",
                {"move_ids": [Command.set(paid.ids)]},
                "only cover posted customer invoices that are still open.*" + paid.name,
            ),
        ]
        for label, values, message in cases:
            with self.subTest(label):
                with self.assertRaises(ValidationError) as caught:
                    self._promise_as_collector(**values)
                self.assertRegex(str(caught.exception), message)
                self._assert_nothing_written(messages_before)
                with self.assertRaises(ValidationError) as caught:
                    self._wizard_as_collector(
                        promise=True,
                        promise_amount=values.get("amount", 400.0),
                        promise_date=values.get("date", TODAY + timedelta(days=5)),
                        move_ids=values.get("move_ids", []),
                    ).action_confirm()
                self.assertRegex(str(caught.exception), message)
                self._assert_nothing_written(messages_before)

    def test_bad_wizard_input(self):
        self.customer.collection_status = "negotiating"
        messages_before = self.customer.message_ids
        cases = [
            (
                "promise without date",
                {"promise": True, "promise_amount": 400.0},
                "date the customer promised to pay",
            ),
            (
                "next action in the past",
                {"outcome": "callback", "next_action_date": TODAY - timedelta(days=1)},
                "next action cannot be planned in the past",
            ),
        ]
        for label, values, message in cases:
            with self.subTest(label):
                wizard = self._wizard_as_collector(**values)
                # The wizard checks everything before writing anything.
                with self.assertRaisesRegex(ValidationError, message):
                    wizard.action_confirm()
                self._assert_nothing_written(messages_before)

    def test_good_promise_after_refusals(self):
        """The collector corrects the input and the promise goes through."""
        self.customer.collection_status = "negotiating"
        with self.assertRaises(ValidationError):
            self._promise_as_collector(amount=0.0)
        promise = self._promise_as_collector(move_ids=[Command.set(self.overdue_invoice.ids)])
        self.assertEqual(promise.state, "open")
        self.assertEqual(self.customer.collection_status, "paying")

    # ------------------------------------------------------------------
    # Activities close
    # ------------------------------------------------------------------

    def _plan_level_call(self):
        """The collector's call planned today on the customer, as a reminder level's
        activity channel plans it (collection_communication_delivery)."""
        follow_up = self.env.ref("account_collection.mail_activity_type_collection_follow_up")
        self.customer.with_company(self.company).collection_user_id = self.collector
        self.customer.sudo().activity_schedule(
            activity_type_id=follow_up.id,
            summary="Call the customer about overdue invoices",
            user_id=self.collector.id,
            date_deadline=TODAY,
        )
        return follow_up

    def _log_call_as_collector(self, **values):
        wizard = (
            self.env["collection.interaction.log"]
            .with_user(self.collector)
            .with_context(default_partner_id=self.customer.id)
            .create({"channel": "call", "outcome": "contacted", **values})
        )
        wizard.action_confirm()

    def test_logging_a_call_closes_the_levels_call_activity(self):
        """A reminder level planned a call for the collector; the collector calls and logs
        it: the call activity is done (in the customer's chatter), not left open."""
        follow_up = self._plan_level_call()
        self._log_call_as_collector(note="Will check with AP.")
        self.assertFalse(self.customer.activity_ids)
        done = self.customer.message_ids.filtered(
            lambda m: m.mail_activity_type_id == follow_up and m.subtype_id.name == "Activities"
        )
        self.assertTrue(done, "the call activity is marked done on the chatter")

    def test_logging_a_call_with_a_next_action_plans_a_fresh_follow_up(self):
        """The level's call is done; the next action the collector planned is a new
        activity on its own date."""
        self._plan_level_call()
        self._log_call_as_collector(next_action_date=TODAY + timedelta(days=3))
        [activity] = self.customer.activity_ids
        self.assertEqual(activity.date_deadline, TODAY + timedelta(days=3))
        self.assertNotEqual(activity.summary, "Call the customer about overdue invoices")

    def test_logging_a_call_leaves_a_call_planned_for_a_later_day(self):
        """Only what was due by today is the outcome of this call: a follow-up the
        collector planned for next week stays planned."""
        follow_up = self.env.ref("account_collection.mail_activity_type_collection_follow_up")
        self.customer.sudo().activity_schedule(
            activity_type_id=follow_up.id,
            summary="Call back after the board meeting",
            user_id=self.collector.id,
            date_deadline=TODAY + timedelta(days=5),
        )
        self._log_call_as_collector()
        [activity] = self.customer.activity_ids
        self.assertEqual(activity.summary, "Call back after the board meeting")
