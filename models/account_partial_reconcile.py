from odoo import api, models


class AccountPartialReconcile(models.Model):
    _inherit = "account.partial.reconcile"

    @api.model_create_multi
    def create(self, vals_list):
        partials = super().create(vals_list)
        partials._collection_after_reconcile()
        return partials

    def _collection_after_reconcile(self):
        """A payment was matched with invoices: re-evaluate the promises on those
        invoices (open ones, and broken ones a payment made in time may still keep) and
        put customers with nothing overdue any more back to 'current' and the first
        stage."""
        moves = (self.debit_move_id | self.credit_move_id).move_id
        receivable_moves = moves.filtered(lambda m: m.is_sale_document(include_receipts=True))
        if not receivable_moves:
            return
        # sudo: the ledger drives the promises, whoever reconciled the payment.
        promises = (
            self.env["collection.promise"]
            .sudo()
            .search(
                [
                    ("move_ids", "in", receivable_moves.ids),
                    ("state", "in", ("open", "broken", "partial")),
                ]
            )
        )
        promises._collection_evaluate()
        # Same for the active payment agreements covering those invoices.
        agreements = (
            self.env["collection.agreement"]
            .sudo()
            .search(
                [
                    ("state", "=", "active"),
                    "|",
                    ("move_ids", "in", receivable_moves.ids),
                    ("charges_move_id", "in", receivable_moves.ids),
                ]
            )
        )
        agreements._collection_evaluate()
        partners = receivable_moves.commercial_partner_id
        for company in receivable_moves.company_id:
            partners.with_company(company)._collection_reset_status_when_settled()
            partners.with_company(company)._collection_reset_stage_when_settled()
