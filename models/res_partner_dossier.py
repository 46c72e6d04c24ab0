"""The customer's collection dossier as sealed evidence, and the write-off of its debt.

The dossier (``_collection_dossier_values``, printed by
``report/collection_dossier_templates.xml``) gathers everything of the customer's
collection in the current company; this file completes it with the messages each
reminder carried and their receipts, the letters, the replies, the disputes, the
payment agreements and their acceptance, the invoice and payment history and the
write-offs, and seals it: the head of the sealed interaction log and the SHA-256 of
every document it lists (the manifest)."""

import hashlib

from odoo import models
from odoo.exceptions import AccessError
from odoo.fields import Domain
from odoo.tools import SQL, html2plaintext


class ResPartner(models.Model):
    _inherit = "res.partner"

    # === DOSSIER === #

    def _collection_dossier_values(self):
        values = super()._collection_dossier_values()
        partner = values["partner"]
        company = values["company"]
        domain = [("partner_id", "=", partner.id), ("company_id", "=", company.id)]
        # sudo: the caller checked that the user is a collection manager who can read
        # this customer (``_collection_check_dossier_access``); the messages sent, the
        # replies' files and the ledger are read for the evidence.
        env_sudo = self.sudo().env
        communications = values["communications"]
        disputes = self.env["collection.dispute"].search(domain, order="date_open, id")
        agreements = self.env["collection.agreement"].search(domain, order="id")
        replies = self.env["collection.reply"].search(domain, order="date, id")
        ledger = (
            env_sudo["account.move.line"]
            .search(partner._collection_receivable_domain(), order="date, move_id, id")
            .with_env(self.env)
        )
        write_offs = (
            env_sudo["account.move"]
            .search(
                [
                    ("collection_written_off_move_ids.commercial_partner_id", "=", partner.id),
                    ("company_id", "=", company.id),
                    ("state", "=", "posted"),
                ],
                order="date, id",
            )
            .with_env(self.env)
        )
        values.update(
            {
                "messages": {
                    delivery.id: self._collection_dossier_message(delivery)
                    for delivery in communications.delivery_ids.sudo()
                },
                "disputes": disputes,
                "agreements": agreements,
                "replies": replies,
                "ledger": [
                    {
                        "line": line,
                        "kind": self._collection_dossier_entry_kind(line.move_id),
                        "matched": ", ".join(
                            (
                                line.matched_debit_ids.debit_move_id
                                | line.matched_credit_ids.credit_move_id
                            ).move_id.mapped("name")
                        ),
                    }
                    for line in ledger
                ],
                "write_offs": write_offs,
                "seal": self._collection_dossier_seal(partner, company),
                "manifest": self._collection_dossier_manifest(
                    communications, disputes, agreements, replies, ledger.move_id | write_offs
                ),
            }
        )
        return values

    def _collection_dossier_message(self, delivery):
        """What the reminder's ``delivery`` (sudo) carried: its subject and text as
        sent (the email, the SMS), empty for the other channels."""
        if delivery.mail_id:
            return {
                "subject": delivery.mail_id.subject or "",
                "text": html2plaintext(delivery.mail_id.body_html or "").strip(),
            }
        if delivery.sms_id:
            return {"subject": "", "text": delivery.sms_id.body or ""}
        return {"subject": "", "text": ""}

    def _collection_dossier_entry_kind(self, move):
        if move.collection_written_off_move_ids:
            return self.env._("Write-off")
        if move.origin_payment_id or move.statement_line_id:
            return self.env._("Payment")
        types = dict(move._fields["move_type"]._description_selection(self.env))
        return types.get(move.move_type, "")

    def _collection_dossier_seal(self, partner, company):
        """The heads of the sealed interaction log: the company's last entry and this
        customer's, each with its id and seal (empty when nothing is sealed yet)."""
        self.env["collection.interaction"].flush_model(["chain_hash", "partner_id", "company_id"])
        heads = {}
        for key, condition in (
            ("company", SQL()),
            ("customer", SQL("AND partner_id = %s", partner.id)),
        ):
            # The seal is evidence about the log as stored, whatever the record rules.
            rows = self.env.execute_query(
                SQL(
                    """SELECT id, chain_hash FROM collection_interaction
                        WHERE company_id = %s AND chain_hash IS NOT NULL %s
                     ORDER BY id DESC LIMIT 1""",
                    company.id,
                    condition,
                )
            )
            heads[key] = {"id": rows[0][0], "hash": rows[0][1]} if rows else False
        return heads

    def _collection_dossier_manifest(self, communications, disputes, agreements, replies, moves):
        """The documents of the dossier with the SHA-256 of their content: the letters
        printed, the files of the disputes and replies, the agreements' documents (the
        signature of their acceptance included), the invoices' PDFs and the documents of
        the write-off entries (the dossiers attached then)."""
        domain = Domain.OR(
            [
                Domain(
                    "id",
                    "in",
                    (
                        communications.sudo().letter_attachment_id | replies.sudo().attachment_ids
                    ).ids,
                ),
                Domain("res_model", "=", "collection.dispute")
                & Domain("res_id", "in", disputes.ids),
                Domain("res_model", "=", "collection.agreement")
                & Domain("res_id", "in", agreements.ids),
                Domain("res_model", "=", "account.move") & Domain("res_id", "in", moves.ids),
            ]
        )
        # The signature of an agreement is an attachment of its field.
        domain &= Domain("res_field", "=", False) | Domain("res_field", "!=", False)
        # sudo: files of records the collection manager reads (checked by the caller).
        attachments = self.env["ir.attachment"].sudo().search(domain, order="id")
        labels = {}
        for model in {attachment.res_model for attachment in attachments if attachment.res_model}:
            records = (
                self.env[model]
                .sudo()
                .browse(attachments.filtered(lambda a, m=model: a.res_model == m).mapped("res_id"))
                .exists()
            )
            labels.update({(model, record.id): record.display_name for record in records})
        return [
            {
                "attachment": attachment,
                "name": attachment.name,
                "record": labels.get((attachment.res_model, attachment.res_id), ""),
                "size": attachment.file_size,
                "sha256": hashlib.sha256(attachment.raw or b"").hexdigest(),
            }
            for attachment in attachments
        ]

    # === ACTIONS === #

    def action_collection_write_off(self):
        """Open the write-off of this customer's open invoices (collection managers)."""
        self.ensure_one()
        if not self.env.user.has_group("account_collection.group_collection_manager"):
            raise AccessError(self.env._("Only collection managers can write off bad debt."))
        partner = self.commercial_partner_id
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Write Off"),
            "res_model": "collection.write.off",
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "new",
            "context": {"default_partner_id": partner.id},
        }

    def action_collection_verify_seal(self):
        """The *Verify* button of the customer's dossier: whether the company's sealed
        interaction log, this customer's entries included, is as it was logged."""
        self.ensure_one()
        return self.env["collection.interaction"].action_collection_verify_chain()

    # === LEDGER === #

    def _collection_thank_paid(self, moves):
        # Invoices written off were not paid by the customer: no thank-you.
        return super()._collection_thank_paid(
            moves.filtered(lambda move: not move._collection_matched_write_offs())
        )

    def _collection_reset_stage_when_settled(self):
        # A customer written off keeps the stage its debt reached: nothing is overdue
        # because the debt was written off, not paid.
        keep = self.commercial_partner_id.filtered(lambda p: p.collection_status == "uncollectible")
        return super(
            ResPartner, self.filtered(lambda p: p.commercial_partner_id not in keep)
        )._collection_reset_stage_when_settled()
