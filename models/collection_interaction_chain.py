"""The sealed interaction log: a hash chain per company.

Each interaction stores the SHA-256 of its facts and of the previous entry's hash, in
creation order within its company. The facts are read back from the database, so a
verification recomputes exactly what was sealed and notices any row changed afterwards,
even directly in SQL. Entries logged before the chain existed (databases upgraded from a
version without it) have no hash: the chain starts at the first hashed entry.
"""

import hashlib
import json
from datetime import date, datetime

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import SQL

# The columns of an interaction that its hash seals, and the invoices it is about.
# Not ``active``: archiving is the one change allowed on a logged interaction; nor the
# promise and dispute links, emptied when a manager deletes that promise (the outcome,
# the note and the figures of the interaction stay sealed).
CHAIN_COLUMNS = (
    "id",
    "company_id",
    "partner_id",
    "user_id",
    "date",
    "channel",
    "outcome",
    "automatic",
    "status_before",
    "status_after",
    "next_action_date",
    "note",
    "overdue_amount",
    "currency_id",
    "days_overdue",
    "create_uid",
    "create_date",
)
CHAIN_FIELDS = ("chain_hash", "chain_previous_hash")
VERIFY_BATCH_SIZE = 1000
# First key of the advisory lock on a company's chain (the second is the company's id).
CHAIN_LOCK_KEY = 0x636F6C6C


def _canonical(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def chain_hash(previous_hash, facts):
    """The SHA-256 (hex) sealing ``facts`` (a dict) after the entry ``previous_hash``."""
    payload = json.dumps(
        {key: _canonical(value) for key, value in facts.items()},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(f"{previous_hash or ''}|{payload}".encode()).hexdigest()


class CollectionInteractionChain(models.Model):
    _inherit = "collection.interaction"

    chain_hash = fields.Char(
        string="Seal",
        readonly=True,
        copy=False,
        index="btree_not_null",
        help="SHA-256 of this interaction's facts and of the previous entry's seal in the "
        "company's log. Set when it is logged; the log's Verify action tells whether any "
        "entry was changed afterwards.",
    )
    chain_previous_hash = fields.Char(
        string="Previous Seal",
        readonly=True,
        copy=False,
        help="The seal of the entry logged before this one in the company (empty for the "
        "first entry of the chain).",
    )

    @api.model_create_multi
    def create(self, vals_list):
        # The seal is the engine's: never taken from the caller.
        for vals in vals_list:
            for fname in CHAIN_FIELDS:
                vals.pop(fname, None)
        companies = {vals.get("company_id") or self.env.company.id for vals in vals_list} | {
            self.env.company.id
        }
        self._chain_lock(sorted(companies))
        interactions = super().create(vals_list)
        interactions._chain_seal()
        return interactions

    def _chain_lock(self, company_ids):
        """One writer of a company's chain at a time, until its transaction ends: a
        concurrent one waits here before inserting its entries (so entries are chained
        in the order of their ids) and then chains after what this one committed (see
        ``_chain_head``). A lock, not a serialization failure, so that a reminder
        already sent is never rolled back for it."""
        for company_id in sorted(company_ids):
            self.env.cr.execute(
                SQL("SELECT pg_advisory_xact_lock(%s, %s)", CHAIN_LOCK_KEY, company_id)
            )

    def _chain_head(self, company_id, before_id):
        """The seal of the company's last entry before ``before_id``: the last one this
        transaction sees, or one committed by another transaction while this one waited
        for the lock (read on a fresh cursor, since this transaction's snapshot is older
        than that commit), whichever is later."""
        query = SQL(
            """SELECT id, chain_hash FROM collection_interaction
                WHERE company_id = %s AND chain_hash IS NOT NULL AND id < %s
             ORDER BY id DESC LIMIT 1""",
            company_id,
            before_id,
        )
        heads = [tuple(row) for row in self.env.execute_query(query)]
        # Not while the module is installed or updated: nobody else logs then, and the
        # table may not be committed yet.
        if self.env.registry.ready:
            with self.env.registry.cursor() as cr:
                cr.execute(query)
                heads += [tuple(row) for row in cr.fetchall()]
        return max(heads, default=(0, ""))[1]

    def _chain_facts(self, ids):
        """``{id: facts}`` of the interactions ``ids``, as stored in the database."""
        if not ids:
            return {}
        columns = SQL(", ").join(SQL.identifier(column) for column in CHAIN_COLUMNS)
        rows = self.env.execute_query_dict(
            SQL(
                "SELECT %s FROM collection_interaction WHERE id = ANY(%s)",
                columns,
                list(ids),
            )
        )
        facts = {row["id"]: row for row in rows}
        moves = self.env.execute_query(
            SQL(
                """SELECT collection_interaction_id, account_move_id
                     FROM collection_interaction_account_move_rel
                    WHERE collection_interaction_id = ANY(%s)
                 ORDER BY collection_interaction_id, account_move_id""",
                list(ids),
            )
        )
        for row in facts.values():
            row["move_ids"] = []
        for interaction_id, move_id in moves:
            facts[interaction_id]["move_ids"].append(move_id)
        return facts

    def _chain_seal(self):
        """Seal the new interactions ``self`` after the head of their company's chain."""
        if not self:
            return
        self.env.flush_all()
        facts = self._chain_facts(self.ids)
        by_company = {}
        for interaction_id in sorted(facts):
            by_company.setdefault(facts[interaction_id]["company_id"], []).append(interaction_id)
        for company_id, ids in by_company.items():
            head = self._chain_head(company_id, ids[0])
            for interaction_id in ids:
                sealed = chain_hash(head, facts[interaction_id])
                self.env.execute_query(
                    SQL(
                        """UPDATE collection_interaction
                              SET chain_hash = %s, chain_previous_hash = %s
                            WHERE id = %s""",
                        sealed,
                        head or None,
                        interaction_id,
                    )
                )
                head = sealed
        self.invalidate_recordset(list(CHAIN_FIELDS))

    @api.model
    def verify_chain(self, company_id):
        """Whether the interaction log of the company ``company_id`` is as it was logged.

        Every entry from the first sealed one on must carry the seal of the entry before
        it and a seal matching its facts as stored now; an entry changed, unsealed or
        removed from the middle breaks the chain there.

        :param int company_id: a company of the current user
        :return: ``{"valid": bool, "first_broken_id": int or False}``, the first entry
            (in logging order) that does not match
        :raise UserError: translated, for an unknown company
        :raise AccessError: when the user cannot read interactions of that company
        """
        try:
            company = self.env["res.company"].browse(int(company_id)).exists()
        except (TypeError, ValueError):
            company = self.env["res.company"]
        if not company:
            raise UserError(self.env._("There is no company %(company)s.", company=company_id))
        self.browse().check_access("read")
        if not self.env.su and company not in self.env.user.company_ids:
            raise AccessError(
                self.env._(
                    "You cannot verify the interaction log of %(company)s.",
                    company=company.name,
                )
            )
        # The check reads the company's whole log in SQL (record rules do not apply):
        # the user may read interactions in that company (checked above) and learns only
        # whether the log is intact and where it breaks.
        self.env.flush_all()
        rows = self.env.execute_query(
            SQL(
                """SELECT id, chain_hash, chain_previous_hash
                     FROM collection_interaction
                    WHERE company_id = %s
                      AND id >= (SELECT MIN(id) FROM collection_interaction
                                  WHERE company_id = %s AND chain_hash IS NOT NULL)
                 ORDER BY id""",
                company.id,
                company.id,
            )
        )
        previous = ""
        for start in range(0, len(rows), VERIFY_BATCH_SIZE):
            batch = rows[start : start + VERIFY_BATCH_SIZE]
            facts = self._chain_facts([row[0] for row in batch])
            for interaction_id, sealed, previous_sealed in batch:
                if (
                    not sealed
                    or (previous_sealed or "") != previous
                    or chain_hash(previous, facts[interaction_id]) != sealed
                ):
                    return {"valid": False, "first_broken_id": interaction_id}
                previous = sealed
        return {"valid": True, "first_broken_id": False}

    @api.model
    def action_collection_verify_chain(self):
        """The *Verify Interaction Log* action of collection managers: verify the current
        company's log and say the result; a broken log opens the first entry that does
        not match."""
        if not self.env.user.has_group("account_collection.group_collection_manager"):
            raise AccessError(
                self.env._("Only collection managers can verify the interaction log.")
            )
        company = self.env.company
        result = self.verify_chain(company.id)
        if result["valid"]:
            return {
                "type": "ir.actions.client",
                "tag": "display_notification",
                "params": {
                    "type": "success",
                    "title": self.env._("Interaction log intact"),
                    "message": self.env._(
                        "No interaction of %(company)s was changed since it was logged.",
                        company=company.name,
                    ),
                },
            }
        broken = self.with_context(active_test=False).browse(result["first_broken_id"])
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "danger",
                "sticky": True,
                "title": self.env._("Interaction log changed"),
                "message": self.env._(
                    "The interaction %(interaction)s (ID %(id)s) of %(company)s no longer "
                    "matches its seal: it, or the entry before it, was changed or removed "
                    "after it was logged.",
                    interaction=broken.summary or "",
                    id=broken.id,
                    company=company.name,
                ),
                "next": {
                    "type": "ir.actions.act_window",
                    "res_model": "collection.interaction",
                    "res_id": broken.id,
                    "views": [[False, "form"]],
                },
            },
        }
