from odoo import api, fields, models
from odoo.tools import SQL

from ..models.collection_ledger import LEDGER_FIELDS
from ..models.res_partner import COLLECTION_STATUS
from .grouping import shared_group_formatter


class CollectionAgedReceivableReport(models.Model):
    """One row per open posted receivable item of the current company, in the aging
    bucket of its own due date (credits included), so that grouping by customer and
    bucket gives the aging of the customers' Collections tab and adds up to their
    total due. Computed when read: a payment shows at once."""

    _name = "collection.aged.receivable.report"
    _description = "Aged Receivables"
    _auto = False
    _order = "partner_id, date_maturity, id"
    _rec_name = "move_id"

    move_line_id = fields.Many2one("account.move.line", string="Journal Item", readonly=True)
    move_id = fields.Many2one("account.move", string="Document", readonly=True)
    move_type = fields.Selection(related="move_id.move_type", string="Document Type")
    partner_id = fields.Many2one("res.partner", string="Customer", readonly=True)
    user_id = fields.Many2one("res.users", string="Collector", readonly=True)
    stage_id = fields.Many2one("collection.stage", string="Collection Stage", readonly=True)
    status = fields.Selection(COLLECTION_STATUS, string="Collection Status", readonly=True)
    company_id = fields.Many2one("res.company", readonly=True)
    currency_id = fields.Many2one("res.currency", string="Currency", readonly=True)
    date = fields.Date(readonly=True)
    date_maturity = fields.Date(string="Due Date", readonly=True)
    days_overdue = fields.Integer(
        readonly=True, aggregator="max", help="Days past the due date; 0 when not due yet."
    )
    bucket_id = fields.Many2one("collection.aging.bucket", string="Aging Bucket", readonly=True)
    amount_residual = fields.Monetary(
        string="Amount Due",
        readonly=True,
        help="Open amount of the item in company currency; credits (unmatched payments and "
        "credit notes) are negative.",
    )
    amount_overdue = fields.Monetary(
        string="Overdue",
        readonly=True,
        help="Open amount of the item when it is past its due date and not marked 'No "
        "follow-up'; credits do not count.",
    )

    _depends = {
        "account.move.line": list(LEDGER_FIELDS),
        "res.partner": [
            "commercial_partner_id",
            "collection_user_id",
            "collection_stage_id",
            "collection_status",
        ],
        "collection.aging.bucket": ["company_id", "days_from"],
    }

    @property
    def _table_query(self):
        company = self.env.company
        today = self.env["res.partner"]._collection_today()
        Partner = self.env["res.partner"].with_company(company)
        Ledger = self.env["collection.ledger"]
        due_date = Ledger._due_date_sql()
        days = SQL("(%s::date - %s)", today, due_date)
        return SQL(
            """
            SELECT aml.id AS id,
                   aml.id AS move_line_id,
                   aml.move_id AS move_id,
                   p.commercial_partner_id AS partner_id,
                   %(collector)s AS user_id,
                   %(stage)s AS stage_id,
                   COALESCE(%(status)s, 'current') AS status,
                   aml.company_id AS company_id,
                   %(currency)s AS currency_id,
                   aml.date AS date,
                   %(due_date)s AS date_maturity,
                   GREATEST(%(days)s, 0) AS days_overdue,
                   %(bucket)s AS bucket_id,
                   aml.amount_residual AS amount_residual,
                   CASE WHEN %(open_debit)s AND %(days)s > 0
                        THEN aml.amount_residual ELSE 0 END AS amount_overdue
              FROM account_move_line aml
              JOIN res_partner p ON p.id = aml.partner_id
              JOIN res_partner cp ON cp.id = p.commercial_partner_id
             WHERE %(open_receivable)s
            """,
            collector=Ledger._company_dependent_sql(Partner, "cp", "collection_user_id"),
            stage=Ledger._company_dependent_sql(Partner, "cp", "collection_stage_id"),
            status=Ledger._company_dependent_sql(Partner, "cp", "collection_status"),
            currency=company.currency_id.id,
            due_date=due_date,
            days=days,
            bucket=self.env["collection.aging.bucket"]._bucket_case_sql(company, days),
            open_debit=Ledger._open_debit_condition(),
            open_receivable=Ledger._open_receivable_condition(company),
        )

    @api.model
    def _web_read_group_groupby_formatter(self, groupby_spec, values):
        return shared_group_formatter(
            super()._web_read_group_groupby_formatter(groupby_spec, values)
        )

    def action_open_document(self):
        """Open the invoice, credit note or payment entry of the item."""
        self.ensure_one()
        return self.move_id._get_records_action()

    # ------------------------------------------------------------------
    # Exports
    # ------------------------------------------------------------------

    def _export_domain(self):
        """The items to export: the selected ones, else all those of the view's filters."""
        if self:
            return [("id", "in", self.ids)]
        return list(self.env.context.get("active_domain") or [])

    def action_print_pdf(self):
        export = self.env["collection.aged.receivable.export"].create(
            {"domain": repr(self._export_domain())}
        )
        return export.action_print_pdf()

    def action_export_xlsx(self):
        export = self.env["collection.aged.receivable.export"].create(
            {"domain": repr(self._export_domain())}
        )
        return export.action_export_xlsx()

    @api.model
    def _aged_receivable_data(self, domain):
        """The aging of the items matching ``domain`` that the user may see: the current
        company's buckets, one row per customer with the amount in each bucket and the
        total, and the totals per bucket. The same grouping as the pivot view."""
        company = self.env.company
        buckets = self.env["collection.aging.bucket"].search([("company_id", "=", company.id)])
        rows = {}
        # One query: the collector is the customer's, one per customer.
        for partner, collector, bucket, amount in self._read_group(
            domain, ["partner_id", "user_id", "bucket_id"], ["amount_residual:sum"]
        ):
            row = rows.setdefault(
                partner,
                {"partner": partner, "collector": collector, "amounts": {}, "total": 0.0},
            )
            row["amounts"][bucket] = row["amounts"].get(bucket, 0.0) + amount
            row["total"] += amount
        totals = {
            bucket: sum(row["amounts"].get(bucket, 0.0) for row in rows.values())
            for bucket in buckets
        }
        return {
            "company": company,
            "currency": company.currency_id,
            "date": self.env["res.partner"]._collection_today(),
            "buckets": buckets,
            "rows": list(rows.values()),
            "totals": totals,
            "total": sum(row["total"] for row in rows.values()),
        }
