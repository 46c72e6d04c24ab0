from datetime import timedelta

from odoo import api, fields, models
from odoo.tools import SQL
from odoo.tools.misc import get_lang

from ..models.collection_ledger import LEDGER_FIELDS
from .grouping import reads_only

# Weeks the cash-in forecast spreads the open invoices over; what is predicted later is
# counted in the week after the last, "Later".
FORECAST_WEEKS = 13
# The fields every item of a customer predicted on the same day from the same history
# shares: groups, filters and sorts on these alone, summing the expected amounts, are read
# from the predictions summed per customer, day and source (the pivot, the graph).
PER_DAY_FIELDS = {
    "partner_id",
    "user_id",
    "company_id",
    "currency_id",
    "predicted_date",
    "week_start",
    "later",
    "source",
}
PER_DAY_AGGREGATES = {"amount_residual:sum"}


class CollectionCashForecast(models.Model):
    """One row per open receivable item the customer owes in the current company, on the
    week its payment is predicted (collection.prediction), so that the rows add up to
    the open invoices: the expected cash-in of the next 13 weeks, and what is expected
    later. Computed when read."""

    _name = "collection.cash.forecast"
    _inherit = ["collection.group.format.mixin"]
    _description = "Cash-in Forecast"
    _auto = False
    _order = "predicted_date, id"
    _rec_name = "move_id"

    move_line_id = fields.Many2one("account.move.line", string="Journal Item", readonly=True)
    move_id = fields.Many2one("account.move", string="Invoice", readonly=True)
    partner_id = fields.Many2one("res.partner", string="Customer", readonly=True)
    user_id = fields.Many2one("res.users", string="Collector", readonly=True)
    company_id = fields.Many2one("res.company", readonly=True)
    currency_id = fields.Many2one("res.currency", string="Currency", readonly=True)
    date_maturity = fields.Date(string="Due Date", readonly=True)
    predicted_date = fields.Date(string="Predicted Payment", readonly=True)
    week_start = fields.Date(
        string="Week",
        readonly=True,
        help="First day of the week the payment is predicted in; the week after the "
        "forecast's 13 weeks holds everything predicted later.",
    )
    later = fields.Boolean(
        string="After 13 Weeks", readonly=True, help="Predicted after the forecast's 13 weeks."
    )
    source = fields.Selection(
        [
            ("customer", "Customer's history"),
            ("segment", "Segment's history"),
            ("company", "Company's history"),
        ],
        string="Learnt From",
        readonly=True,
        help="Whose payment history the prediction comes from: the customer's own, else its "
        "segment's customers' or the company's customers' when the customer paid fewer than "
        "five invoices.",
    )
    amount_residual = fields.Monetary(
        string="Expected", readonly=True, help="Open amount of the item, in company currency."
    )

    _depends = {
        "account.move.line": list(LEDGER_FIELDS),
        "account.partial.reconcile": ["max_date", "debit_move_id"],
        "res.partner": ["commercial_partner_id", "collection_user_id"],
    }

    def _ledger_written_in_transaction(self):
        """Whether this transaction wrote to the database (pending ORM changes to the
        ledger written first). One that did not sees the same ledger at every query: the
        transactions are repeatable-read snapshots."""
        self.env["collection.ledger"]._flush()
        self.env["res.partner"].flush_model(["collection_segment_id"])
        [[written]] = self.env.execute_query(
            SQL("SELECT pg_current_xact_id_if_assigned() IS NOT NULL")
        )
        return written

    def _forecast_predictions(self, company, today):
        """The predictions of the open items of ``company`` not kept from the night's
        fit (collection.prediction): (whether the kept ones are read, {line id: (move
        id, partner id, predicted date, source)} of the others), all of them fitted now
        when the company's kept fit is not of ``today``. Computed once per read-only
        transaction: a list view counts and reads its rows, each query reading the view,
        on the same predictions. A transaction that wrote computes them again."""
        Prediction = self.env["collection.prediction"]

        def compute():
            if Prediction._kept_fit(company, today):
                return True, Prediction._predict_changed_items(company, today)
            return False, Prediction._predict_open_items(company, today)

        if self._ledger_written_in_transaction():
            return compute()
        key = ("collection.cash.forecast", company.id, today)
        cache = self.env.cr.cache
        if key not in cache:
            cache[key] = compute()
        return cache[key]

    @property
    def _table_query(self):
        company = self.env.company
        today = self.env["res.partner"]._collection_today()
        kept, predictions = self._forecast_predictions(company, today)
        # The weeks start on the first day of the week of the user's language, as the
        # pivot and graph group them by week.
        first_week_day = int(get_lang(self.env).week_start) - 1
        first_week = today - timedelta(days=(today.weekday() - first_week_day) % 7)
        later_week = first_week + timedelta(weeks=FORECAST_WEEKS)
        days_offset = f"-{first_week_day and 7 - first_week_day} DAY"
        Partner = self.env["res.partner"].with_company(company)
        Ledger = self.env["collection.ledger"]

        def week_of(day):
            return SQL(
                "(date_trunc('week', %s::timestamp - INTERVAL %s) + INTERVAL %s)::date",
                day,
                days_offset,
                days_offset,
            )

        if self.env.context.get("collection_forecast_rows") == "day":
            return self._per_day_query(kept, predictions, week_of(SQL("r.day")), later_week)
        week = week_of(SQL("prediction.day"))
        kept_sql = SQL()
        if kept:
            kept_sql = SQL(
                "SELECT k.line_id, k.predicted_date, k.source FROM %s k UNION ALL",
                self.env["collection.prediction"]._kept_predictions_sql(company),
            )
        return SQL(
            """
            SELECT aml.id AS id,
                   aml.id AS move_line_id,
                   aml.move_id AS move_id,
                   p.commercial_partner_id AS partner_id,
                   %(collector)s AS user_id,
                   aml.company_id AS company_id,
                   %(currency)s AS currency_id,
                   %(due_date)s AS date_maturity,
                   prediction.day AS predicted_date,
                   LEAST(%(week)s, %(later_week)s) AS week_start,
                   %(week)s >= %(later_week)s AS later,
                   prediction.source AS source,
                   aml.amount_residual AS amount_residual
              FROM (
                   %(kept)s
                   SELECT * FROM unnest(%(line_ids)s::int[], %(dates)s::date[],
                                        %(sources)s::varchar[])
              ) AS prediction(line_id, day, source)
              JOIN account_move_line aml ON aml.id = prediction.line_id
              JOIN res_partner p ON p.id = aml.partner_id
              JOIN res_partner cp ON cp.id = p.commercial_partner_id
            """,
            collector=Ledger._company_dependent_sql(Partner, "cp", "collection_user_id"),
            currency=company.currency_id.id,
            due_date=Ledger._due_date_sql(),
            week=week,
            later_week=later_week,
            kept=kept_sql,
            **self._predictions_arrays(predictions, today),
        )

    def _predictions_arrays(self, predictions, today):
        """The predictions made when read as the arrays the queries unnest."""
        return {
            "line_ids": list(predictions) or [0],
            "dates": [values[2] for values in predictions.values()] or [today],
            "sources": [values[3] for values in predictions.values()] or ["company"],
        }

    def _per_day_query(self, kept, predictions, week, later_week):
        """The view's rows summed per customer, predicted day and source: the predictions
        kept from the night's fit (their items' open amounts kept with them, the same
        while the customer's ledger does not change, and summed per customer, day and
        source at the fit) and those made when read (``kept``,
        ``predictions``: as _forecast_predictions), in the week ``week`` (SQL of the day
        ``r.day``). The same columns, those of an item (journal item, invoice, due date)
        empty. Only for groups on PER_DAY_FIELDS."""
        company = self.env.company
        today = self.env["res.partner"]._collection_today()
        Partner = self.env["res.partner"].with_company(company)
        Ledger = self.env["collection.ledger"]
        kept_sql = SQL()
        if kept:
            kept_sql = SQL(
                """SELECT k.partner_id, k.predicted_date, k.source, k.amount_residual
                     FROM %s k
                    UNION ALL""",
                self.env["collection.prediction"]._kept_day_sums_sql(company),
            )
        return SQL(
            """
            SELECT ROW_NUMBER() OVER () AS id,
                   NULL::integer AS move_line_id,
                   NULL::integer AS move_id,
                   r.partner_id AS partner_id,
                   %(collector)s AS user_id,
                   %(company)s AS company_id,
                   %(currency)s AS currency_id,
                   NULL::date AS date_maturity,
                   r.day AS predicted_date,
                   LEAST(%(week)s, %(later_week)s) AS week_start,
                   %(week)s >= %(later_week)s AS later,
                   r.source AS source,
                   r.residual AS amount_residual
              FROM (
                   %(kept)s
                   SELECT p.commercial_partner_id, prediction.day, prediction.source,
                          SUM(aml.amount_residual)
                     FROM unnest(%(line_ids)s::int[], %(dates)s::date[], %(sources)s::varchar[])
                          AS prediction(line_id, day, source)
                     JOIN account_move_line aml ON aml.id = prediction.line_id
                     JOIN res_partner p ON p.id = aml.partner_id
                    GROUP BY 1, 2, 3
              ) AS r(partner_id, day, source, residual)
              JOIN res_partner cp ON cp.id = r.partner_id
            """,
            collector=Ledger._company_dependent_sql(Partner, "cp", "collection_user_id"),
            company=company.id,
            currency=company.currency_id.id,
            week=week,
            later_week=later_week,
            kept=kept_sql,
            **self._predictions_arrays(predictions, today),
        )

    def _per_day(self, domain, groupby_specs, aggregates, order=None):
        """The model in the context that reads the rows per customer, day and source when
        the groups ``groupby_specs`` and ``aggregates`` of the items of ``domain`` (and of
        the user's record rules) can be read from them, else itself."""
        domains = [domain, self.env["ir.rule"]._compute_domain(self._name, "read")]
        fnames, aggregate_specs = PER_DAY_FIELDS, PER_DAY_AGGREGATES
        if reads_only(domains, groupby_specs, aggregates, order, fnames, aggregate_specs):
            return self.with_context(collection_forecast_rows="day")
        return self

    @api.model
    def _read_group(
        self, domain, groupby=(), aggregates=(), having=(), offset=0, limit=None, order=None
    ):
        model = self._per_day(domain, groupby, aggregates, order)
        return super(CollectionCashForecast, model)._read_group(
            domain, groupby, aggregates, having, offset, limit, order
        )

    @api.model
    def _read_grouping_sets(self, domain, grouping_sets, aggregates=(), order=None):
        specs = [spec for groupby in grouping_sets for spec in groupby]
        model = self._per_day(domain, specs, aggregates, order)
        return super(CollectionCashForecast, model)._read_grouping_sets(
            domain, grouping_sets, aggregates, order
        )

    def action_open_document(self):
        """Open the invoice of the item."""
        self.ensure_one()
        return self.move_id._get_records_action()
