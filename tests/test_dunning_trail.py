import re
from contextlib import closing
from datetime import datetime

from odoo.tests import tagged
from odoo.tools import SQL

from odoo.addons.account_collection.models.res_partner import SET_BASED_FIELDS

from .common import TODAY, DunningCadenceCommon, day, on_day

# The columns that identify a row whatever the run that wrote it.
TRAIL_IGNORED = {"id"}


def trail_snapshot(env, partners, mark):
    """What a run leaves on ``partners``: every column of their rows, of the chatter
    messages posted on them since the message ``mark`` and of those messages'
    tracking values and followers, keyed by what identifies each row whatever its id
    (a message by its customer and rank, a tracking value by its message and field)."""
    env.flush_all()
    cr = env.cr

    def rows(query):
        cr.execute(query)
        columns = [d[0] for d in cr.description]
        return [dict(zip(columns, row, strict=True)) for row in cr.fetchall()]

    ids = tuple(partners.ids)
    customers = {
        row["id"]: {k: v for k, v in row.items() if k not in TRAIL_IGNORED}
        for row in rows(SQL("SELECT * FROM res_partner WHERE id IN %s ORDER BY id", ids))
    }
    messages = rows(
        SQL(
            """SELECT * FROM mail_message
                WHERE model = 'res.partner' AND res_id IN %s AND id > %s ORDER BY id""",
            ids,
            mark,
        )
    )
    key_of, rank = {}, {}
    snapshot_messages = {}
    for message in messages:
        rank[message["res_id"]] = rank.get(message["res_id"], 0) + 1
        key = key_of[message["id"]] = (message["res_id"], rank[message["res_id"]])
        values = {k: v for k, v in message.items() if k not in TRAIL_IGNORED}
        # A random number, the same shape.
        values["message_id"] = re.sub(r"\d", "#", values["message_id"] or "")
        snapshot_messages[key] = values
    trackings = {}
    if key_of:
        for tracking in rows(
            SQL(
                "SELECT * FROM mail_tracking_value WHERE mail_message_id IN %s ORDER BY id",
                tuple(key_of),
            )
        ):
            message = key_of[tracking["mail_message_id"]]
            values = {k: v for k, v in tracking.items() if k not in TRAIL_IGNORED}
            values["mail_message_id"] = message
            trackings[message, tracking["field_id"]] = values
    followers = rows(
        SQL(
            """SELECT res_id, partner_id, COUNT(*) AS count FROM mail_followers
                WHERE res_model = 'res.partner' AND res_id IN %s
                GROUP BY res_id, partner_id ORDER BY res_id, partner_id""",
            ids,
        )
    )
    return {
        "res_partner": customers,
        "mail_message": snapshot_messages,
        "mail_tracking_value": trackings,
        "mail_followers": followers,
    }


def trail_differences(expected, actual):
    """What differs between two snapshots, one line per difference."""
    lines = []
    for table, expected_rows in expected.items():
        actual_rows = actual[table]
        if isinstance(expected_rows, list):
            if expected_rows != actual_rows:
                lines.append(f"{table}: ORM {expected_rows} != set-based {actual_rows}")
            continue
        for key in expected_rows.keys() - actual_rows.keys():
            lines.append(f"{table} {key}: missing")
        for key in actual_rows.keys() - expected_rows.keys():
            lines.append(f"{table} {key}: not expected")
        for key in expected_rows.keys() & actual_rows.keys():
            for column, value in expected_rows[key].items():
                other = actual_rows[key].get(column)
                if value != other:
                    lines.append(f"{table} {key} {column}: ORM {value!r}, set-based {other!r}")
    return lines


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestDunningTrail(DunningCadenceCommon):
    """The run writes its customers' new level, stage and status and their chatter
    trail set-based: the rows are, column by column, the ones ``write()`` and Odoo's
    tracking leave."""

    def message_mark(self):
        [(mark,)] = self.env.execute_query(SQL("SELECT COALESCE(MAX(id), 0) FROM mail_message"))
        return mark

    def test_set_based_fields_have_no_stored_dependents(self):
        """Nothing stored is computed from the fields written set-based: invalidating
        the cache is all ``write()`` would have done besides writing them."""
        Partner = self.env["res.partner"]
        for fname in SET_BASED_FIELDS:
            tree = self.env.registry.get_field_trigger_tree(Partner._fields[fname])
            stored = [field for node in tree.depth_first() for field in node.root if field.store]
            self.assertFalse(stored, fname)

    def test_customers_trail_is_what_tracked_writes_leave(self):
        """The customers' rows, the tracking messages on their chatter and their
        tracking values are those the ORM's tracked ``write()`` leaves, column by
        column: a stage and a status changed, a stage left as it was, a customer whose
        values do not change, customers without stage yet."""
        company = self.company
        # Tracked, as outside the tests.
        Partner = (
            self.env["res.partner"]
            .with_company(company)
            .sudo()
            .with_context(tracking_disable=False, mail_notrack=False)
        )
        customers = Partner.browse(
            [self.make_customer(f"Trail Customer {index}").id for index in range(6)]
        )
        first, second, third, fourth, _fifth, sixth = customers
        (first | second).collection_stage_id = self.stage_administrative
        third.collection_status = "paying"
        sixth.write(
            {"collection_stage_id": self.stage_delinquent.id, "collection_status": "negotiating"}
        )
        self.env.flush_all()
        self.env.cr.precommit.run()
        # Clean the pending tracking, then remember where the chatter stands.
        mark = self.message_mark()
        changes = {
            ("collection_level_id", self.level_late.id): customers,
            ("collection_stage_id", self.stage_delinquent.id): first | third | fourth | sixth,
            ("collection_status", "negotiating"): second | third | sixth,
        }

        with closing(self.env.cr.savepoint()):
            for (fname, value), partners in changes.items():
                partners.write({fname: value})
            self.env.flush_all()
            self.env.cr.precommit.run()  # tracking logs the changes
            by_orm = trail_snapshot(self.env, customers, mark)
        self.env.invalidate_all()

        customers._collection_write_logged(changes)
        by_sql = trail_snapshot(self.env, customers, mark)
        self.assertEqual(trail_differences(by_orm, by_sql), [])
        # The trail is not empty: the stage and status changes are tracked.
        self.assertEqual(len(by_orm["mail_message"]), 4)
        # first: stage; second: status; third: stage and status; fourth: stage; the
        # fifth's level is not tracked and the sixth's values do not change.
        self.assertEqual(len(by_orm["mail_tracking_value"]), 5)
        # And the cache reads what was written.
        self.assertEqual(first.collection_stage_id, self.stage_delinquent)
        self.assertEqual(first.collection_stage_date, TODAY)
        self.assertEqual(second.collection_status, "negotiating")
        self.assertEqual(customers.collection_level_id, self.level_late)

    def test_values_a_customer_has_are_not_written_again(self):
        """A customer already at the level, stage and status written keeps its row as
        it was (its *Last Updated on* stays) and gets no message; the others of the
        same write are written and logged."""
        company = self.company
        Partner = (
            self.env["res.partner"]
            .with_company(company)
            .sudo()
            .with_context(tracking_disable=False, mail_notrack=False)
        )
        same, moved = (Partner.browse(self.make_customer(f"Kept {i}").id) for i in range(2))
        (same | moved).write(
            {
                "collection_level_id": self.level_late.id,
                "collection_stage_id": self.stage_administrative.id,
                "collection_status": "negotiating",
            }
        )
        self.env.flush_all()
        self.env.cr.precommit.run()
        long_ago = datetime(2020, 1, 1)
        self.env.cr.execute(
            SQL(
                "UPDATE res_partner SET write_date = %s WHERE id IN %s",
                long_ago,
                (same | moved)._ids,
            )
        )
        self.env.invalidate_all()
        mark = self.message_mark()

        (same | moved)._collection_write_logged(
            {
                ("collection_level_id", self.level_late.id): same | moved,
                ("collection_stage_id", self.stage_administrative.id): same,
                ("collection_stage_id", self.stage_delinquent.id): moved,
                ("collection_status", "negotiating"): same | moved,
            }
        )
        self.env.invalidate_all()
        self.assertEqual(same.write_date, long_ago)
        self.assertNotEqual(moved.write_date, long_ago)
        trail = trail_snapshot(self.env, same | moved, mark)
        self.assertEqual([key[0] for key in trail["mail_message"]], [moved.id])
        self.assertEqual(moved.collection_stage_id, self.stage_delinquent)
        self.assertEqual(same.collection_stage_id, self.stage_administrative)

    def test_run_writes_levels_and_names_at_once(self):
        """A run writes each invoice's level with the day it reached it, and each
        reminder's name as its computed name, in the same statements as the rows."""
        customers = self.env["res.partner"]
        for index in range(3):
            partner = self.make_customer(f"Run Customer {index}")
            self.invoice(partner, 100.0, day(-12))
            self.invoice(partner, 50.0, day(-6))
            customers |= partner
        self.run_dunning(day(0))
        reminders = self.reminders(customers)
        self.assertEqual(len(reminders), 3)
        for reminder in reminders:
            self.assertEqual(reminder.name, reminder._collection_name())
        States = self.env["collection.invoice.dunning"]
        states = States.search([("move_id", "in", reminders.move_ids.ids)]).sorted(
            lambda state: state.move_id.id
        )
        self.assertRecordValues(
            states,
            [
                {
                    "move_id": move.id,
                    "level_id": (
                        self.level_late if move.amount_total == 100.0 else self.level_text
                    ).id,
                    "level_date": TODAY,
                    "last_reminder_date": False,
                }
                for move in reminders.move_ids.sorted("id")
            ],
        )
