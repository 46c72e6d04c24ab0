from odoo import api, fields, models
from odoo.tools import SQL


class CollectionInvoiceDunning(models.Model):
    """Where the reminders stand for one invoice: the highest level it reached, the day
    it reached it (its next level counts the gap from there) and the day it was last
    reminded. Kept in a table of its own rather than on the invoice, so
    a run writes thousands of these rows with one statement without rewriting the
    invoices (and their many indexes), nor locking invoices accountants may be editing."""

    _name = "collection.invoice.dunning"
    _description = "Invoice Reminders State"
    _log_access = False

    move_id = fields.Many2one("account.move", string="Invoice", required=True, ondelete="cascade")
    level_id = fields.Many2one(
        "collection.level", string="Dunning Level", index="btree_not_null", ondelete="set null"
    )
    level_date = fields.Date(
        string="Level Reached On",
        help="The day the invoice's reminder at its level was sent (for a level without "
        "message, the day the run moved it there): the next level comes at least the gap "
        "between the two levels' delays later.",
    )
    last_reminder_date = fields.Date(string="Last Reminder")

    _move_unique = models.UniqueIndex("(move_id)", "An invoice has one reminders state.")

    @api.model
    def _set(self, fname, move_ids, values):
        """Set ``fname`` (``level_id``, ``level_date`` or ``last_reminder_date``) of the invoices
        ``move_ids`` to ``values`` (one per invoice), with one statement (see
        ``_set_columns``)."""
        self._set_columns(move_ids, {fname: values})

    @api.model
    def _set_columns(self, move_ids, columns):
        """Set the columns of ``columns`` ({field name: one value per invoice}, among
        ``level_id``, ``level_date`` and ``last_reminder_date``) of the invoices
        ``move_ids``, with one statement.

        An upsert the ORM has no equivalent of (``create`` of the missing rows and
        ``write`` of the others, per value): the rows are those ``BaseModel._create``
        would write (no log-access columns, ``_log_access = False``), and the cache is
        invalidated as ``write`` would. Writing the levels here rather than updating
        ``account_move`` saved about 100 µs per invoice (BENCHMARKS.md, "Dunning
        run")."""
        if not move_ids:
            return
        fnames = sorted(columns)
        assert set(fnames) <= {"level_id", "level_date", "last_reminder_date"}
        self.flush_model(fnames)
        self.env.cr.execute(
            SQL(
                """
                INSERT INTO collection_invoice_dunning (move_id, %(columns)s)
                SELECT * FROM unnest(%(move_ids)s::int[], %(arrays)s)
                    ON CONFLICT (move_id) DO UPDATE SET %(assignments)s
                """,
                columns=SQL(", ").join(SQL.identifier(fname) for fname in fnames),
                move_ids=list(move_ids),
                arrays=SQL(", ").join(
                    SQL(
                        "%s::%s[]",
                        list(columns[fname]),
                        SQL("int" if fname == "level_id" else "date"),
                    )
                    for fname in fnames
                ),
                assignments=SQL(", ").join(
                    SQL("%s = EXCLUDED.%s", SQL.identifier(fname), SQL.identifier(fname))
                    for fname in fnames
                ),
            )
        )
        self.invalidate_model(fnames)
        self.env["account.move"].invalidate_model(
            ["collection_level_id", "collection_last_reminder_date"]
        )
