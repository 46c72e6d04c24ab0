from datetime import timedelta

from odoo import fields, models
from odoo.tools import SQL
from odoo.tools.misc import get_lang

from ..models.collection_ledger import LEDGER_FIELDS

# Weeks the cash-in forecast spreads the open invoices over; what is predicted later is
# counted in the week after the last, "Later".
FORECAST_WEEKS = 13


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
        line_ids = list(predictions) or [0]
        dates = [values[2] for values in predictions.values()] or [today]
        sources = [values[3] for values in predictions.values()] or ["company"]
        Partner = self.env["res.partner"].with_company(company)
        Ledger = self.env["collection.ledger"]
        week = SQL(
            "(date_trunc('week', prediction.day::timestamp - INTERVAL %s) + INTERVAL %s)::date",
            days_offset,
            days_offset,
        )
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
            line_ids=line_ids,
            dates=dates,
            sources=sources,
        )

    def action_open_document(self):
        """Open the invoice of the item."""
        self.ensure_one()
        return self.move_id._get_records_action()
