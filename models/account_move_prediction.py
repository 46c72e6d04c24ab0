from odoo import api, fields, models
from odoo.tools import SQL

from .collection_ledger import LEDGER_FIELDS


class AccountMove(models.Model):
    _inherit = "account.move"

    collection_predicted_date = fields.Date(
        string="Predicted Payment",
        compute="_compute_collection_predicted_date",
        help="When the customer is expected to pay what is still open on this invoice, "
        "learnt from how late it paid its past invoices (from how late the company's "
        "customers paid, when it paid fewer than five).",
        groups="account_collection.group_collection_user,account.group_account_invoice",
    )

    @api.depends(*(f"line_ids.{fname}" for fname in LEDGER_FIELDS), "state")
    @api.depends_context("company", "tz")
    def _compute_collection_predicted_date(self):
        self.collection_predicted_date = False
        moves = self.filtered(lambda m: m.id and m.state == "posted" and m.is_sale_document())
        if not moves:
            return
        today = fields.Date.context_today(self)
        for company in moves.company_id:
            company_moves = moves.filtered(lambda m, c=company: m.company_id == c)
            predictions = (
                self.env["collection.prediction"]
                .with_company(company)
                ._predict_open_items(
                    company, today, restrict=SQL("aml.move_id IN %s", tuple(company_moves.ids))
                )
            )
            latest = {}
            for move_id, _partner, day, _source in predictions.values():
                latest[move_id] = max(latest.get(move_id, day), day)
            for move in company_moves:
                move.collection_predicted_date = latest.get(move.id, False)
