from odoo import api, fields, models
from odoo.tools import SQL

from ..models.collection_ledger import DUE_TABLE, LEDGER_FIELDS
from ..models.res_partner import COLLECTION_STATUS
from .grouping import reads_only

# The fields every item of a customer with the same due date shares: groups, filters and
# sorts on these alone, summing the amounts, are read from the residuals kept per
# customer and due date (collection_ledger_due) rather than from every open item.
PER_DUE_DATE_FIELDS = {
    "partner_id",
    "user_id",
    "stage_id",
    "status",
    "company_id",
    "currency_id",
    "date_maturity",
    "days_overdue",
    "bucket_id",
}
PER_DUE_DATE_AGGREGATES = {
    "amount_residual:sum",
    "amount_overdue:sum",
    "days_overdue:max",
    "days_overdue:min",
}
# Those that need no due date (the pivot's customers by bucket, the exports): read from the
# residuals summed per customer and bucket first, the customer's collector, stage and
# status then read once per customer and bucket.
PER_BUCKET_FIELDS = PER_DUE_DATE_FIELDS - {"date_maturity", "days_overdue"}
PER_BUCKET_AGGREGATES = {"amount_residual:sum", "amount_overdue:sum", "days_overdue:max"}


class CollectionAgedReceivableReport(models.Model):
    """One row per open posted receivable item of the current company, in the aging
    bucket of its own due date (credits included), so that grouping by customer and
    bucket gives the aging of the customers' Collections tab and adds up to their
    total due. Computed when read: a payment shows at once. Groups that need no more
    than the customer and the due date of the items (the pivot, the graph, the PDF and
    spreadsheet) are summed from the residuals kept per customer and due date, which
    the ledger's triggers keep in the same statement as the items."""

    _name = "collection.aged.receivable.report"
    _inherit = ["collection.group.format.mixin"]
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
        if rows := self.env.context.get("collection_aged_rows"):
            return self._per_due_date_query(per_bucket=rows == "bucket")
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

    def _per_due_date_query(self, per_bucket=False):
        """The view's rows summed per customer and due date (or, ``per_bucket``, per
        customer and bucket), from the residuals the ledger keeps (DUE_TABLE): the same
        columns, those of an item (journal item, document, entry date) and the id empty,
        and the due date too per bucket (its days overdue then the most of the bucket's).
        Only for groups on PER_DUE_DATE_FIELDS (PER_BUCKET_FIELDS). The company is the kept
        rows' own and no window function numbers the rows, so that PostgreSQL applies the
        groups' company condition to the kept rows and counts them right."""
        company = self.env.company
        today = self.env["res.partner"]._collection_today()
        Partner = self.env["res.partner"].with_company(company)
        Ledger = self.env["collection.ledger"]
        Ledger._flush()
        days = SQL("(%s::date - d.due_date)", today)
        bucket = self.env["collection.aging.bucket"]._bucket_case_sql(company, days)
        overdue = SQL("CASE WHEN %s > 0 THEN d.debit_amount ELSE 0 END", days)
        if per_bucket:
            rows = SQL(
                """SELECT d.partner_id, d.company_id, NULL::date AS due_date,
                          %(bucket)s AS bucket_id, GREATEST(MAX(%(days)s), 0) AS days_overdue,
                          SUM(d.residual) AS residual, SUM(%(overdue)s) AS overdue
                     FROM %(due)s d
                    WHERE d.company_id = %(company)s
                    GROUP BY d.partner_id, d.company_id, 4""",
                bucket=bucket,
                days=days,
                overdue=overdue,
                due=SQL.identifier(DUE_TABLE),
                company=company.id,
            )
        else:
            rows = SQL(
                """SELECT d.partner_id, d.company_id, d.due_date, %(bucket)s AS bucket_id,
                          GREATEST(%(days)s, 0) AS days_overdue,
                          d.residual, %(overdue)s AS overdue
                     FROM %(due)s d
                    WHERE d.company_id = %(company)s""",
                bucket=bucket,
                days=days,
                overdue=overdue,
                due=SQL.identifier(DUE_TABLE),
                company=company.id,
            )
        return SQL(
            """
            SELECT NULL::integer AS id,
                   NULL::integer AS move_line_id,
                   NULL::integer AS move_id,
                   r.partner_id AS partner_id,
                   %(collector)s AS user_id,
                   %(stage)s AS stage_id,
                   COALESCE(%(status)s, 'current') AS status,
                   r.company_id AS company_id,
                   %(currency)s AS currency_id,
                   NULL::date AS date,
                   r.due_date AS date_maturity,
                   r.days_overdue AS days_overdue,
                   r.bucket_id AS bucket_id,
                   r.residual AS amount_residual,
                   r.overdue AS amount_overdue
              FROM (%(rows)s) r
              JOIN res_partner cp ON cp.id = r.partner_id
            """,
            collector=Ledger._company_dependent_sql(Partner, "cp", "collection_user_id"),
            stage=Ledger._company_dependent_sql(Partner, "cp", "collection_stage_id"),
            status=Ledger._company_dependent_sql(Partner, "cp", "collection_status"),
            currency=company.currency_id.id,
            rows=rows,
        )

    def _per_due_date(self, domain, groupby_specs, aggregates, order=None):
        """The model in the context that reads the rows per customer and bucket or per
        customer and due date when the groups ``groupby_specs`` and ``aggregates`` of the
        items of ``domain`` (and of the user's record rules) can be read from them, else
        itself."""
        domains = [domain, self.env["ir.rule"]._compute_domain(self._name, "read")]
        for rows, fnames, aggregate_specs in (
            ("bucket", PER_BUCKET_FIELDS, PER_BUCKET_AGGREGATES),
            ("due_date", PER_DUE_DATE_FIELDS, PER_DUE_DATE_AGGREGATES),
        ):
            if reads_only(domains, groupby_specs, aggregates, order, fnames, aggregate_specs):
                return self.with_context(collection_aged_rows=rows)
        return self

    @api.model
    def _read_group(
        self, domain, groupby=(), aggregates=(), having=(), offset=0, limit=None, order=None
    ):
        model = self._per_due_date(domain, groupby, aggregates, order)
        return super(CollectionAgedReceivableReport, model)._read_group(
            domain, groupby, aggregates, having, offset, limit, order
        )

    @api.model
    def _read_grouping_sets(self, domain, grouping_sets, aggregates=(), order=None):
        specs = [spec for groupby in grouping_sets for spec in groupby]
        model = self._per_due_date(domain, specs, aggregates, order)
        return super(CollectionAgedReceivableReport, model)._read_grouping_sets(
            domain, grouping_sets, aggregates, order
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
        # One query: the collector is the customer's, one per customer. The rows and
        # totals keyed by ids: hashing a record hashes a frozenset of its ids.
        for partner, collector, bucket, amount in self._read_group(
            domain, ["partner_id", "user_id", "bucket_id"], ["amount_residual:sum"]
        ):
            row = rows.get(partner._ids)
            if row is None:
                row = rows[partner._ids] = {
                    "partner": partner,
                    "collector": collector,
                    "amounts": {},
                    "total": 0.0,
                }
            row["amounts"][bucket] = row["amounts"].get(bucket, 0.0) + amount
            row["total"] += amount
        # Each bucket's total added in the order of the rows, as the rows' sum.
        sums = {}
        for row in rows.values():
            for bucket, amount in row["amounts"].items():
                sums[bucket._ids] = sums.get(bucket._ids, 0.0) + amount
        totals = {bucket: sums.get(bucket._ids, 0.0) for bucket in buckets}
        return {
            "company": company,
            "currency": company.currency_id,
            "date": self.env["res.partner"]._collection_today(),
            "buckets": buckets,
            "rows": list(rows.values()),
            "totals": totals,
            "total": sum(row["total"] for row in rows.values()),
        }
