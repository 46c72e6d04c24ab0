from odoo import api, models


class AccountPartialReconcile(models.Model):
    _inherit = "account.partial.reconcile"

    @api.model_create_multi
    def create(self, vals_list):
        partials = super().create(vals_list)
        partials._collection_after_reconcile()
        return partials

    def unlink(self):
        moves = (self.debit_move_id | self.credit_move_id).move_id
        result = super().unlink()
        # A payment unmatched from an invoice no longer keeps the promises on it.
        self.env["collection.promise"]._collection_follow_ledger(
            moves.exists(), states=("open", "kept")
        )
        # Nor counts as collected by the agency the invoices are placed with.
        self.env["collection.placement"]._collection_follow_ledger(moves.exists())
        return result

    def _collection_after_reconcile(self):
        """A payment was matched with invoices: re-evaluate the promises on those
        invoices (open ones, and broken ones a payment made in time may still keep) and
        put customers with nothing overdue any more back to 'current' and the first
        stage."""
        moves = (self.debit_move_id | self.credit_move_id).move_id
        self.env["collection.promise"]._collection_follow_ledger(moves)
        receivable_moves = moves.filtered(lambda m: m.is_sale_document(include_receipts=True))
        if not receivable_moves:
            return
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
        # What the agency the invoices are placed with collected, and its commission.
        self.env["collection.placement"]._collection_follow_ledger(receivable_moves)
        partners = receivable_moves.commercial_partner_id
        for company in receivable_moves.company_id:
            partners.with_company(company)._collection_reset_status_when_settled()
            partners.with_company(company)._collection_reset_stage_when_settled()
        # A customer whose reminded invoice is now paid may get a short thank-you.
        self.env["res.partner"]._collection_thank_paid(receivable_moves)
