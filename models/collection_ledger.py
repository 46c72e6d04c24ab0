"""The ledger's SQL, in one place: which journal items are a customer's open receivables,
the journal item fields that rule and the figures read, the flush before a query, the
aggregate the customers' figures are computed from, the priority formula, and the one way
to read a company-dependent field in SQL. The customers' and invoices' figures, the
dunning run, the KPIs, the reports and the dashboard all read the ledger through
``collection.ledger`` (README, "How figures are computed")."""

from odoo import api, models
from odoo.fields import Domain
from odoo.tools import SQL

# Journal item fields the open-receivable rule and the figures read: flushed before every
# ledger query, and the dependencies of the figures (a posting, a payment, a
# reconciliation, a credit note changes one of them).
LEDGER_FIELDS = (
    "partner_id",
    "move_id",
    "company_id",
    "account_id",
    "parent_state",
    "reconciled",
    "amount_residual",
    "date_maturity",
    "date",
    "no_followup",
)

# The priority (README, "How figures are computed", Priority):
#   overdue * (1 + min(days overdue, PRIORITY_DAYS_CAP) / PRIORITY_DAYS_STEP)
#           * (1 + broken promises of the last BROKEN_PROMISE_WINDOW days) * status weight
# Every PRIORITY_DAYS_STEP days overdue count the overdue amount once more, up to
# PRIORITY_DAYS_CAP days (a year's arrears weigh 13 times their amount, older ones no more).
PRIORITY_DAYS_CAP = 360
PRIORITY_DAYS_STEP = 30.0
# Broken or partly kept promises of the last BROKEN_PROMISE_WINDOW days raise the priority.
BROKEN_PROMISE_WINDOW = 365
# Weight of each status: a customer who refuses to pay or is negotiating comes first, one
# in dispute or in an agreement later, and one written off last. Any other status: 1.0.
STATUS_PRIORITY_WEIGHT = {
    "current": 1.0,
    "overdue": 1.0,
    "paying": 0.5,
    "negotiating": 1.2,
    "agreement": 0.5,
    "dispute": 0.3,
    "refusal": 1.5,
    "uncollectible": 0.1,
}


def sql_figure_search(model, fname, operator, value):
    """Domain selecting the records of ``model`` whose figure ``fname`` (a field that
    ``model._field_to_sql`` turns into an SQL expression) satisfies ``operator value``,
    evaluated in the database for any number of records. The condition is written on
    the query that searches, so a filter and a sort on figures of the same query share
    one join of the ledger aggregate (the worklist's page runs it once)."""
    if operator not in {"=", "!=", "<", "<=", ">", ">=", "in", "not in"}:
        return NotImplemented

    def to_sql(model, alias, query):
        expr = model._field_to_sql(alias, fname, query)
        if operator in ("in", "not in"):
            values = [v for v in value if v is not False and v is not None]
            parts = []
            if values:
                parts.append(SQL("%s IN %s", expr, tuple(values)))
            if len(values) != len(value):
                parts.append(SQL("%s IS NULL", expr))
            condition = SQL("(%s)", SQL(" OR ").join(parts)) if parts else SQL("FALSE")
            if operator == "not in":
                condition = SQL("NOT COALESCE(%s, FALSE)", condition)
            return condition
        if value is False or value is None:
            return SQL("%s IS NULL" if operator == "=" else "%s IS NOT NULL", expr)
        return SQL("%s %s %s", expr, SQL(operator), value)

    return Domain.custom(to_sql=to_sql)


def figure_search(fname):
    """The search method of the figure ``fname`` (``search=`` of its field declaration):
    the filter is evaluated in SQL, by sql_figure_search."""

    def search(records, operator, value):
        return sql_figure_search(records, fname, operator, value)

    return search


class CollectionLedger(models.AbstractModel):
    """The ledger as the collections read it, a service in the manner of
    ``account.move.send``: SQL fragments and queries over the journal items, no data."""

    _name = "collection.ledger"
    _description = "Collection Ledger"

    # ------------------------------------------------------------------
    # Which items
    # ------------------------------------------------------------------

    @api.model
    def _flush(self):
        """Write the pending changes the ledger queries read to the database."""
        self.env["account.move.line"].flush_model(LEDGER_FIELDS)
        self.env["res.partner"].flush_model(["commercial_partner_id"])

    @api.model
    def _receivable_condition(self, company=None, alias="aml"):
        """SQL condition on the journal item ``alias``: a posted item on a receivable
        account, of ``company`` if given (then filtered on the company's receivable
        accounts' ids, which lets PostgreSQL use the ledger's index of unreconciled lines
        per account and partner), else of any company."""
        if company is None:
            return SQL(
                "%s IN (SELECT id FROM account_account WHERE account_type = 'asset_receivable') "
                "AND %s = 'posted'",
                SQL.identifier(alias, "account_id"),
                SQL.identifier(alias, "parent_state"),
            )
        account_ids = self.env["account.account"]._collection_receivable_account_ids(company.id)
        return SQL(
            "%s IN %s AND %s = %s AND %s = 'posted'",
            SQL.identifier(alias, "account_id"),
            account_ids or (0,),
            SQL.identifier(alias, "company_id"),
            company.id,
            SQL.identifier(alias, "parent_state"),
        )

    @api.model
    def _open_receivable_condition(self, company=None, alias="aml"):
        """SQL condition on the journal item ``alias``: an open (not fully reconciled)
        posted receivable item, of ``company`` if given (see _receivable_condition).
        Credits (unmatched payments, credit notes) are open items too."""
        return SQL(
            "%s AND %s IS NOT TRUE AND %s != 0",
            self._receivable_condition(company, alias),
            SQL.identifier(alias, "reconciled"),
            SQL.identifier(alias, "amount_residual"),
        )

    @api.model
    def _open_debit_condition(self, alias="aml"):
        """SQL condition on an open receivable item ``alias``: something the customer owes
        (a positive residual) and may be reminded of (not marked 'No follow-up')."""
        return SQL(
            "%s > 0 AND %s IS NOT TRUE",
            SQL.identifier(alias, "amount_residual"),
            SQL.identifier(alias, "no_followup"),
        )

    @api.model
    def _due_date_sql(self, alias="aml"):
        """SQL expression: the due date of the journal item ``alias`` (its entry date when
        it has none)."""
        return SQL(
            "COALESCE(%s, %s)",
            SQL.identifier(alias, "date_maturity"),
            SQL.identifier(alias, "date"),
        )

    @api.model
    def _open_debit_lines(self, lines):
        """The journal items of ``lines`` that _open_receivable_condition and
        _open_debit_condition select, read from the records (in memory)."""
        return lines.filtered(
            lambda line: (
                line.parent_state == "posted"
                and line.account_type == "asset_receivable"
                and not line.reconciled
                and line.amount_residual > 0
                and not line.no_followup
            )
        )

    # ------------------------------------------------------------------
    # Figures
    # ------------------------------------------------------------------

    @api.model
    def _figures_sql(self, company, today, partner_ids=None, restrict=None):
        """One aggregate over the open receivable items of ``company``, per commercial
        partner (``partner_id``): total due net of credits (``due_amount``), overdue amount
        (``overdue_amount``) and oldest overdue due date (``oldest_due_date``).
        ``partner_ids`` restricts it to these commercial partners, ``restrict`` (an SQL
        condition on the item ``aml`` and its partner ``p``) to some items."""
        self._flush()
        due_date = self._due_date_sql()
        overdue = SQL("%s AND %s < %s", self._open_debit_condition(), due_date, today)
        restrict = SQL("AND %s", restrict) if restrict is not None else SQL()
        if partner_ids is not None:
            restrict = SQL(
                "%s AND p.commercial_partner_id IN %s", restrict, tuple(partner_ids) or (0,)
            )
        return SQL(
            """(
            SELECT p.commercial_partner_id AS partner_id,
                   SUM(aml.amount_residual) AS due_amount,
                   COALESCE(SUM(aml.amount_residual) FILTER (WHERE %(overdue)s), 0)
                       AS overdue_amount,
                   MIN(%(due_date)s) FILTER (WHERE %(overdue)s) AS oldest_due_date
              FROM account_move_line aml
              JOIN res_partner p ON p.id = aml.partner_id
             WHERE %(open_receivable)s
               %(restrict)s
             GROUP BY p.commercial_partner_id
            )""",
            overdue=overdue,
            due_date=due_date,
            open_receivable=self._open_receivable_condition(company),
            restrict=restrict,
        )

    @api.model
    def _aging_sql(self, company, today, restrict=None, per_partner=False):
        """Query: the open receivable items of ``company`` summed per aging bucket of their
        own due date, credits included, so that the buckets add up to the total due. Rows
        (bucket id, amount), or (commercial partner id, bucket id, amount) when
        ``per_partner``. ``restrict``: an SQL condition on the item ``aml`` and its partner
        ``p``."""
        self._flush()
        days = SQL("(%s::date - %s)", today, self._due_date_sql())
        columns = [
            self.env["collection.aging.bucket"]._bucket_case_sql(company, days),
            SQL("SUM(aml.amount_residual)"),
        ]
        group_by = SQL("1")
        if per_partner:
            columns.insert(0, SQL("p.commercial_partner_id"))
            group_by = SQL("1, 2")
        return SQL(
            """
            SELECT %(columns)s
              FROM account_move_line aml
              JOIN res_partner p ON p.id = aml.partner_id
             WHERE %(open_receivable)s
               %(restrict)s
             GROUP BY %(group_by)s
            """,
            columns=SQL(", ").join(columns),
            open_receivable=self._open_receivable_condition(company),
            restrict=SQL("AND %s", restrict) if restrict is not None else SQL(),
            group_by=group_by,
        )

    @api.model
    def _priority_sql(self, overdue_amount, days_overdue, broken_count, status):
        """SQL expression of the priority from the SQL expressions of its terms (see
        PRIORITY_DAYS_CAP and the constants beside it)."""
        weight = SQL(
            "(CASE %s %s ELSE 1.0 END)",
            status,
            SQL(" ").join(
                SQL("WHEN %s THEN %s", key, value) for key, value in STATUS_PRIORITY_WEIGHT.items()
            ),
        )
        return SQL(
            "ROUND((COALESCE(%s, 0) * (1 + LEAST(%s, %s) / %s) * (1 + %s) * %s)::numeric, 0)",
            overdue_amount,
            days_overdue,
            PRIORITY_DAYS_CAP,
            PRIORITY_DAYS_STEP,
            broken_count,
            weight,
        )

    # ------------------------------------------------------------------
    # Company-dependent fields
    # ------------------------------------------------------------------

    @api.model
    def _company_dependent_sql(self, model, alias, fname, company_sql=None):
        """SQL value of the company-dependent field ``fname`` of ``model`` on its row
        ``alias``: in the current company of ``model``, as the ORM reads it (with the
        field's fallback default), or, with ``company_sql`` (an SQL expression giving a
        company id per row, the analyses' case), the value stored for that company
        (NULL when none), cast to the field's column type."""
        field = model._fields[fname]
        if company_sql is None:
            return field.to_sql(model, alias)
        stored = SQL(
            "(%s ->> (%s)::text)::%s",
            SQL.identifier(alias, fname),
            company_sql,
            SQL(field._column_type[1]),
        )
        # The field's default (ir.default, e.g. the first stage) for what is not stored.
        fallback = field.get_company_dependent_fallback(model)
        fallback = field.convert_to_column(field.convert_to_write(fallback, model), model)
        if fallback in (None, False):
            return stored
        return SQL("COALESCE(%s, %s::%s)", stored, fallback, SQL(field._column_type[1]))
