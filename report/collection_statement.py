from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import UserError

# Without a period, a statement lists the payments of the last STATEMENT_DAYS days.
STATEMENT_DAYS = 30


class ReportCollectionStatement(models.AbstractModel):
    _name = "report.account_collection.report_collection_statement"
    _description = "Statement of Account"

    @api.model
    def _get_report_values(self, docids, data=None):
        partners = self.env["res.partner"].browse(docids)
        partners._collection_check_document_access()
        date_from, date_to = self._statement_period(data or {})
        return {
            "doc_ids": docids,
            "doc_model": "res.partner",
            "docs": partners,
            "date_from": date_from,
            "date_to": date_to,
        }

    @api.model
    def _statement_period(self, data):
        """The period of the payments listed: ``date_from`` and ``date_to`` of ``data``
        (ISO dates), by default the 30 days up to today."""
        try:
            date_to = (
                fields.Date.to_date(data.get("date_to"))
                or self.env["res.partner"]._collection_today()
            )
            date_from = fields.Date.to_date(data.get("date_from")) or date_to - timedelta(
                days=STATEMENT_DAYS
            )
        except (ValueError, TypeError) as e:
            raise UserError(
                self.env._("The period of a statement of account must be given as dates.")
            ) from e
        if date_from > date_to:
            raise UserError(
                self.env._(
                    "The period of a statement of account cannot start after it ends "
                    "(%(date_from)s to %(date_to)s).",
                    date_from=date_from,
                    date_to=date_to,
                )
            )
        return date_from, date_to
