import bisect
from datetime import date, timedelta

from dateutil.relativedelta import relativedelta

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.fields import Domain
from odoo.tools import SQL, date_utils

from ..tools.triggers import drop_statement_triggers, statement_triggers

# The ledger's dated events (collection.receivable.report._ledger_events_sql).
LEDGER_COLUMNS = ("ar", "credit_sales", "credit_notes", "collected", "overdue", "over_90")
# Receivables more than this many days past due count as "over 90 days".
OVER_90_DAYS = 90

# The KPIs' ledger (collection.receivable.report._ledger_events_sql) summed per day, kept
# by PostgreSQL triggers in the same statement as the journal items and matchings it comes
# from (README, "Collection KPIs", "The sums behind the KPIs"):
# - DAY_TABLE, one row per customer (commercial partner), company and day with events:
#   their number (``event_count``) and the sums of each LEDGER_COLUMNS column;
# - COMPANY_DAY_TABLE, the same per company and day as rows of changes: each refresh of
#   a customer adds what it changed in DAY_TABLE, so that concurrent transactions never
#   write the same row of it; a company's day is the sum of its rows (compacted daily).
# A company's KPIs read COMPANY_DAY_TABLE (a few rows per day of the book), a portfolio's
# DAY_TABLE (its customers' days), never the journal items.
DAY_TABLE = "collection_kpi_day"
COMPANY_DAY_TABLE = "collection_kpi_company_day"

# The refresh of a set of (customer, company) keys recomputes their days from the journal
# items and matchings, writes the days that changed (two transactions changing the same
# customer's day write the same row: the second fails to serialize and Odoo retries it)
# and adds the difference per company and day to COMPANY_DAY_TABLE. The events are those
# of _ledger_events_sql, which the tests compare them with.
KPI_SUMS_DDL = f"""
CREATE TABLE IF NOT EXISTS {DAY_TABLE} (
    company_id integer NOT NULL REFERENCES res_company (id) ON DELETE CASCADE,
    partner_id integer NOT NULL REFERENCES res_partner (id) ON DELETE CASCADE,
    event_date date NOT NULL,
    event_count integer NOT NULL DEFAULT 0,
    ar numeric NOT NULL DEFAULT 0,
    credit_sales numeric NOT NULL DEFAULT 0,
    credit_notes numeric NOT NULL DEFAULT 0,
    collected numeric NOT NULL DEFAULT 0,
    overdue numeric NOT NULL DEFAULT 0,
    over_90 numeric NOT NULL DEFAULT 0,
    PRIMARY KEY (company_id, partner_id, event_date)
);
CREATE INDEX IF NOT EXISTS {DAY_TABLE}_partner_idx ON {DAY_TABLE} (partner_id);
CREATE TABLE IF NOT EXISTS {COMPANY_DAY_TABLE} (
    company_id integer NOT NULL REFERENCES res_company (id) ON DELETE CASCADE,
    event_date date NOT NULL,
    event_count integer NOT NULL DEFAULT 0,
    ar numeric NOT NULL DEFAULT 0,
    credit_sales numeric NOT NULL DEFAULT 0,
    credit_notes numeric NOT NULL DEFAULT 0,
    collected numeric NOT NULL DEFAULT 0,
    overdue numeric NOT NULL DEFAULT 0,
    over_90 numeric NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS {COMPANY_DAY_TABLE}_company_idx
    ON {COMPANY_DAY_TABLE} (company_id, event_date);

CREATE OR REPLACE FUNCTION collection_kpi_refresh(partner_ids integer[], company_ids integer[])
RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
EXECUTE $query$
WITH keys AS MATERIALIZED (
    SELECT DISTINCT k.partner_id, k.company_id
      FROM unnest($1::integer[], $2::integer[]) AS k (partner_id, company_id)
      JOIN res_partner rp ON rp.id = k.partner_id
      JOIN res_company rc ON rc.id = k.company_id
), receivable AS MATERIALIZED (
    SELECT aml.id, k.company_id, k.partner_id, aml.date,
           COALESCE(aml.date_maturity, aml.date) AS due, aml.balance, move.move_type
      FROM keys k
      JOIN res_partner p ON p.commercial_partner_id = k.partner_id
      JOIN account_move_line aml ON aml.partner_id = p.id AND aml.company_id = k.company_id
      JOIN account_move move ON move.id = aml.move_id
     WHERE aml.account_id IN (SELECT id FROM account_account
                               WHERE account_type = 'asset_receivable')
       AND aml.parent_state = 'posted'
), events AS (
    SELECT r.company_id, r.partner_id, event.*
      FROM receivable r
     CROSS JOIN LATERAL (VALUES
           (r.date, r.balance,
            CASE WHEN r.move_type IN ('out_invoice', 'out_receipt') THEN r.balance ELSE 0.0 END,
            CASE WHEN r.move_type = 'out_refund' THEN -r.balance ELSE 0.0 END,
            0.0, 0.0, 0.0),
           (GREATEST(r.date, r.due + 1), 0.0, 0.0, 0.0, 0.0, GREATEST(r.balance, 0.0), 0.0),
           (GREATEST(r.date, r.due + {OVER_90_DAYS + 1}), 0.0, 0.0, 0.0, 0.0, 0.0,
            GREATEST(r.balance, 0.0))
           ) AS event(event_date, ar, credit_sales, credit_notes, collected, overdue, over_90)
    UNION ALL
    SELECT r.company_id, r.partner_id, event.*
      FROM receivable r
      JOIN account_partial_reconcile apr ON apr.debit_move_id = r.id
      JOIN account_move_line counterpart ON counterpart.id = apr.credit_move_id
      JOIN account_move counterpart_move ON counterpart_move.id = counterpart.move_id
     CROSS JOIN LATERAL (VALUES
           (apr.max_date, 0.0, 0.0, 0.0,
            CASE WHEN (counterpart_move.origin_payment_id IS NOT NULL
                       OR counterpart_move.statement_line_id IS NOT NULL)
                 THEN apr.amount ELSE 0.0 END, 0.0, 0.0),
           (GREATEST(apr.max_date, r.due + 1), 0.0, 0.0, 0.0, 0.0, -apr.amount, 0.0),
           (GREATEST(apr.max_date, r.due + {OVER_90_DAYS + 1}), 0.0, 0.0, 0.0, 0.0, 0.0,
            -apr.amount)
           ) AS event(event_date, ar, credit_sales, credit_notes, collected, overdue, over_90)
     WHERE r.balance > 0
), fresh AS MATERIALIZED (
    SELECT company_id, partner_id, event_date, COUNT(*) AS event_count, SUM(ar) AS ar,
           SUM(credit_sales) AS credit_sales, SUM(credit_notes) AS credit_notes,
           SUM(collected) AS collected, SUM(overdue) AS overdue, SUM(over_90) AS over_90
      FROM events
     GROUP BY company_id, partner_id, event_date
), stored AS MATERIALIZED (
    SELECT d.*
      FROM {DAY_TABLE} d
      JOIN keys k ON k.company_id = d.company_id AND k.partner_id = d.partner_id
), changes AS MATERIALIZED (
    SELECT COALESCE(f.company_id, s.company_id) AS company_id,
           COALESCE(f.partner_id, s.partner_id) AS partner_id,
           COALESCE(f.event_date, s.event_date) AS event_date,
           f.event_count, f.ar, f.credit_sales, f.credit_notes, f.collected, f.overdue,
           f.over_90,
           COALESCE(f.event_count, 0) - COALESCE(s.event_count, 0) AS delta_count,
           COALESCE(f.ar, 0) - COALESCE(s.ar, 0) AS delta_ar,
           COALESCE(f.credit_sales, 0) - COALESCE(s.credit_sales, 0) AS delta_credit_sales,
           COALESCE(f.credit_notes, 0) - COALESCE(s.credit_notes, 0) AS delta_credit_notes,
           COALESCE(f.collected, 0) - COALESCE(s.collected, 0) AS delta_collected,
           COALESCE(f.overdue, 0) - COALESCE(s.overdue, 0) AS delta_overdue,
           COALESCE(f.over_90, 0) - COALESCE(s.over_90, 0) AS delta_over_90
      FROM fresh f
      FULL JOIN stored s ON s.company_id = f.company_id AND s.partner_id = f.partner_id
                        AND s.event_date = f.event_date
     WHERE (f.event_count, f.ar, f.credit_sales, f.credit_notes, f.collected, f.overdue,
            f.over_90)
           IS DISTINCT FROM
           (s.event_count, s.ar, s.credit_sales, s.credit_notes, s.collected, s.overdue,
            s.over_90)
), removed AS (
    DELETE FROM {DAY_TABLE} d
     USING changes c
     WHERE c.event_count IS NULL
       AND d.company_id = c.company_id AND d.partner_id = c.partner_id
       AND d.event_date = c.event_date
    RETURNING 1
), written AS (
    INSERT INTO {DAY_TABLE} AS d (company_id, partner_id, event_date, event_count, ar,
                                  credit_sales, credit_notes, collected, overdue, over_90)
    SELECT company_id, partner_id, event_date, event_count, ar, credit_sales, credit_notes,
           collected, overdue, over_90
      FROM changes
     WHERE event_count IS NOT NULL
     ORDER BY company_id, partner_id, event_date
    ON CONFLICT (company_id, partner_id, event_date) DO UPDATE
       SET event_count = EXCLUDED.event_count, ar = EXCLUDED.ar,
           credit_sales = EXCLUDED.credit_sales, credit_notes = EXCLUDED.credit_notes,
           collected = EXCLUDED.collected, overdue = EXCLUDED.overdue,
           over_90 = EXCLUDED.over_90
    RETURNING 1
)
INSERT INTO {COMPANY_DAY_TABLE} (company_id, event_date, event_count, ar, credit_sales,
                                 credit_notes, collected, overdue, over_90)
SELECT company_id, event_date, SUM(delta_count), SUM(delta_ar), SUM(delta_credit_sales),
       SUM(delta_credit_notes), SUM(delta_collected), SUM(delta_overdue), SUM(delta_over_90)
  FROM changes
 GROUP BY company_id, event_date
HAVING (SUM(delta_count), SUM(delta_ar), SUM(delta_credit_sales), SUM(delta_credit_notes),
        SUM(delta_collected), SUM(delta_overdue), SUM(delta_over_90))
       IS DISTINCT FROM (0, 0, 0, 0, 0, 0, 0)
$query$ USING partner_ids, company_ids;
END
$fn$;

-- The keys (commercial partner, company) of journal items given by partner and company.
CREATE OR REPLACE FUNCTION collection_kpi_refresh_lines(lines_partner integer[],
                                                         lines_company integer[])
RETURNS void LANGUAGE sql AS $fn$
SELECT collection_kpi_refresh(array_agg(k.partner_id), array_agg(k.company_id))
  FROM (SELECT DISTINCT p.commercial_partner_id AS partner_id, l.company_id
          FROM unnest(lines_partner, lines_company) AS l (partner_id, company_id)
          JOIN res_partner p ON p.id = l.partner_id) k
HAVING COUNT(*) > 0
$fn$;

-- Posted receivable items added, removed or changed in what their events read.
CREATE OR REPLACE FUNCTION collection_kpi_aml_inserted() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM collection_kpi_refresh_lines(array_agg(n.partner_id), array_agg(n.company_id))
       FROM collection_kpi_new_lines n
      WHERE n.partner_id IS NOT NULL AND n.parent_state = 'posted'
        AND n.account_id IN (SELECT id FROM account_account
                              WHERE account_type = 'asset_receivable')
     HAVING COUNT(*) > 0;
    RETURN NULL;
END
$fn$;

CREATE OR REPLACE FUNCTION collection_kpi_aml_deleted() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM collection_kpi_refresh_lines(array_agg(o.partner_id), array_agg(o.company_id))
       FROM collection_kpi_old_lines o
      WHERE o.partner_id IS NOT NULL AND o.parent_state = 'posted'
        AND o.account_id IN (SELECT id FROM account_account
                              WHERE account_type = 'asset_receivable')
     HAVING COUNT(*) > 0;
    RETURN NULL;
END
$fn$;

CREATE OR REPLACE FUNCTION collection_kpi_aml_updated() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM collection_kpi_refresh_lines(array_agg(v.partner_id), array_agg(v.company_id))
       FROM (SELECT o.partner_id, o.company_id, n.partner_id AS new_partner_id,
                    n.company_id AS new_company_id
               FROM collection_kpi_old_lines o
               JOIN collection_kpi_new_lines n ON n.id = o.id
              WHERE (o.partner_id, o.company_id, o.account_id, o.parent_state, o.date,
                     o.date_maturity, o.balance, o.move_id)
                    IS DISTINCT FROM
                    (n.partner_id, n.company_id, n.account_id, n.parent_state, n.date,
                     n.date_maturity, n.balance, n.move_id)
                AND ((o.partner_id IS NOT NULL AND o.parent_state = 'posted'
                      AND o.account_id IN (SELECT id FROM account_account
                                            WHERE account_type = 'asset_receivable'))
                  OR (n.partner_id IS NOT NULL AND n.parent_state = 'posted'
                      AND n.account_id IN (SELECT id FROM account_account
                                            WHERE account_type = 'asset_receivable')))
            ) c
      CROSS JOIN LATERAL (VALUES (c.partner_id, c.company_id),
                                 (c.new_partner_id, c.new_company_id)) AS v (partner_id, company_id)
      WHERE v.partner_id IS NOT NULL
     HAVING COUNT(*) > 0;
    RETURN NULL;
END
$fn$;

-- Matchings added, removed or changed: the events of the receivable debit they settle.
CREATE OR REPLACE FUNCTION collection_kpi_apr_changed() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM collection_kpi_refresh_lines(array_agg(aml.partner_id), array_agg(aml.company_id))
           FROM collection_kpi_new_matchings n
           JOIN account_move_line aml ON aml.id = n.debit_move_id
          WHERE aml.partner_id IS NOT NULL
         HAVING COUNT(*) > 0;
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM collection_kpi_refresh_lines(array_agg(aml.partner_id), array_agg(aml.company_id))
           FROM collection_kpi_old_matchings o
           JOIN account_move_line aml ON aml.id = o.debit_move_id
          WHERE aml.partner_id IS NOT NULL
         HAVING COUNT(*) > 0;
    ELSE
        PERFORM collection_kpi_refresh_lines(array_agg(aml.partner_id), array_agg(aml.company_id))
           FROM collection_kpi_old_matchings o
           JOIN collection_kpi_new_matchings n ON n.id = o.id
          CROSS JOIN LATERAL (VALUES (o.debit_move_id), (n.debit_move_id)) AS v (line_id)
           JOIN account_move_line aml ON aml.id = v.line_id
          WHERE (o.amount, o.max_date, o.debit_move_id, o.credit_move_id)
                IS DISTINCT FROM (n.amount, n.max_date, n.debit_move_id, n.credit_move_id)
            AND aml.partner_id IS NOT NULL
         HAVING COUNT(*) > 0;
    END IF;
    RETURN NULL;
END
$fn$;

-- An entry that changes type, or becomes (or stops being) a payment's or a statement
-- line's: its receivable items' sales and credit notes, the collections it settled.
CREATE OR REPLACE FUNCTION collection_kpi_move_changed() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM collection_kpi_refresh_lines(array_agg(aml.partner_id), array_agg(aml.company_id))
       FROM (SELECT n.id
               FROM collection_kpi_old_moves o
               JOIN collection_kpi_new_moves n ON n.id = o.id
              WHERE (o.move_type, o.origin_payment_id, o.statement_line_id)
                    IS DISTINCT FROM (n.move_type, n.origin_payment_id, n.statement_line_id)
            ) m
      CROSS JOIN LATERAL (
            SELECT line.id FROM account_move_line line WHERE line.move_id = m.id
            UNION
            SELECT apr.debit_move_id
              FROM account_move_line line
              JOIN account_partial_reconcile apr ON apr.credit_move_id = line.id
             WHERE line.move_id = m.id
            ) l
       JOIN account_move_line aml ON aml.id = l.id
      WHERE aml.partner_id IS NOT NULL
     HAVING COUNT(*) > 0;
    RETURN NULL;
END
$fn$;

-- A contact moved to another company: its items count for another customer.
CREATE OR REPLACE FUNCTION collection_kpi_partner_moved() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM collection_kpi_refresh(array_agg(k.partner_id), array_agg(k.company_id))
       FROM (SELECT DISTINCT cp.partner_id, aml.company_id
               FROM account_move_line aml
              CROSS JOIN (VALUES (OLD.commercial_partner_id), (NEW.commercial_partner_id))
                         AS cp (partner_id)
              WHERE aml.partner_id = NEW.id AND cp.partner_id IS NOT NULL) k
     HAVING COUNT(*) > 0;
    RETURN NULL;
END
$fn$;

-- An account that becomes, or stops being, a receivable account.
CREATE OR REPLACE FUNCTION collection_kpi_account_retyped() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM collection_kpi_refresh(array_agg(k.partner_id), array_agg(k.company_id))
       FROM (SELECT DISTINCT p.commercial_partner_id AS partner_id, aml.company_id
               FROM account_move_line aml
               JOIN res_partner p ON p.id = aml.partner_id
              WHERE aml.account_id = NEW.id) k
     HAVING COUNT(*) > 0;
    RETURN NULL;
END
$fn$;

{
    statement_triggers(
        "collection_kpi_aml",
        "account_move_line",
        "collection_kpi_old_lines",
        "collection_kpi_new_lines",
    )
}
{
    statement_triggers(
        "collection_kpi_apr",
        "account_partial_reconcile",
        "collection_kpi_old_matchings",
        "collection_kpi_new_matchings",
        function="collection_kpi_apr_changed",
    )
}
DROP TRIGGER IF EXISTS collection_kpi_move_changed ON account_move;
CREATE TRIGGER collection_kpi_move_changed AFTER UPDATE ON account_move
    REFERENCING OLD TABLE AS collection_kpi_old_moves NEW TABLE AS collection_kpi_new_moves
    FOR EACH STATEMENT EXECUTE FUNCTION collection_kpi_move_changed();
DROP TRIGGER IF EXISTS collection_kpi_partner_moved ON res_partner;
CREATE TRIGGER collection_kpi_partner_moved AFTER UPDATE OF commercial_partner_id
    ON res_partner FOR EACH ROW
    WHEN (OLD.commercial_partner_id IS DISTINCT FROM NEW.commercial_partner_id)
    EXECUTE FUNCTION collection_kpi_partner_moved();
DROP TRIGGER IF EXISTS collection_kpi_account_retyped ON account_account;
CREATE TRIGGER collection_kpi_account_retyped AFTER UPDATE OF account_type
    ON account_account FOR EACH ROW
    WHEN (OLD.account_type IS DISTINCT FROM NEW.account_type)
    EXECUTE FUNCTION collection_kpi_account_retyped();
"""

# What uninstalling the module removes (hooks.uninstall_hook).
KPI_SUMS_DROP = f"""
{drop_statement_triggers("collection_kpi_aml", "account_move_line")}
{drop_statement_triggers("collection_kpi_apr", "account_partial_reconcile")}
DROP TRIGGER IF EXISTS collection_kpi_move_changed ON account_move;
DROP TRIGGER IF EXISTS collection_kpi_partner_moved ON res_partner;
DROP TRIGGER IF EXISTS collection_kpi_account_retyped ON account_account;
DROP FUNCTION IF EXISTS collection_kpi_aml_inserted();
DROP FUNCTION IF EXISTS collection_kpi_aml_deleted();
DROP FUNCTION IF EXISTS collection_kpi_aml_updated();
DROP FUNCTION IF EXISTS collection_kpi_apr_changed();
DROP FUNCTION IF EXISTS collection_kpi_move_changed();
DROP FUNCTION IF EXISTS collection_kpi_partner_moved();
DROP FUNCTION IF EXISTS collection_kpi_account_retyped();
DROP FUNCTION IF EXISTS collection_kpi_refresh_lines(integer[], integer[]);
DROP FUNCTION IF EXISTS collection_kpi_refresh(integer[], integer[]);
DROP TABLE IF EXISTS {COMPANY_DAY_TABLE};
DROP TABLE IF EXISTS {DAY_TABLE};
"""


class LedgerDays:
    """The ledger's events summed per day, with running totals: the receivables at any
    date and the flows of any period, for any number of dates, from one query."""

    def __init__(self, rows):
        self.days = []
        self.totals = []
        running = [0.0] * len(LEDGER_COLUMNS)
        for day, *amounts in rows:
            running = [
                total + (amount or 0.0) for total, amount in zip(running, amounts, strict=True)
            ]
            self.days.append(day)
            self.totals.append(running)

    def first_day(self):
        return self.days[0] if self.days else None

    def at(self, day, column):
        """Sum of ``column`` over the events dated until ``day`` included."""
        index = bisect.bisect_right(self.days, day)
        return self.totals[index - 1][LEDGER_COLUMNS.index(column)] if index else 0.0

    def between(self, start, end, column):
        """Sum of ``column`` over the events dated from ``start`` to ``end`` included."""
        return self.at(end, column) - self.at(start - timedelta(days=1), column)


class CollectionKpi(models.AbstractModel):
    """The collection KPIs of a period, for the current company and user: the figures
    the dashboard shows and the README defines (section "Collection KPIs")."""

    _name = "collection.kpi"
    _description = "Collection KPIs"

    @api.model
    @api.readonly
    def get_kpis(self, date_from, date_to, user_ids=None, domain_extra=None):
        """The collection KPIs from ``date_from`` to ``date_to`` (both included; dates
        or ``YYYY-MM-DD`` strings) in the current company, in its currency.

        Customers: all of the company's, or only the user's own portfolio when the
        company restricts collectors to their portfolio and the user is not a collection
        manager (the worklist's rule); ``user_ids`` keeps the customers of these
        collectors, ``domain_extra`` (a domain on res.partner, e.g. on ``category_id``,
        ``collection_stage_id`` or ``collection_status``) the customers it selects.

        Returns a dict (amounts in company currency, percentages from 0 to 100, days as
        decimal numbers; ``None`` where a ratio has nothing to divide by):

        - ``date_from``, ``date_to`` (strings), ``days`` (days in the period),
          ``company_id``, ``currency_id``;
        - ledger: ``ar_begin`` (receivables at the end of the day before the period),
          ``ar_end``, ``ar_end_current``, ``ar_end_overdue``, ``ar_end_over_90``
          (at the end of ``date_to``), ``credit_sales``, ``credit_notes``,
          ``net_credit_sales`` (of the period), ``recovered`` (payments matched in the
          period);
        - ratios: ``dso`` (countback), ``best_possible_dso``, ``add`` (average days
          delinquent), ``cei`` (collection effectiveness index), ``overdue_share``,
          ``over_90_share``;
        - promises: ``promises_made`` / ``promises_made_amount`` (made in the period),
          ``promises_kept``, ``promises_partial``, ``promises_broken``,
          ``promises_open`` and their ``*_amount`` (promises falling due in the period,
          by outcome), ``kept_rate``;
        - disputes: ``disputes`` (opened in the period), ``disputes_closed``,
          ``dispute_cycle_days`` (average of those closed in the period),
          ``disputes_open`` (open at the end of the period);
        - ``per_collector``: a list of dicts ``user_id``, ``name``, ``interactions``,
          ``promises``, ``promises_amount``, ``promises_kept``, ``promises_kept_amount``,
          ``collected_after_contact``, sorted by name;
        - ``previous``: the same figures (without ``previous``) for the previous period:
          as many calendar months before when ``date_from`` is the first of a month
          (March 1-16 -> February 1-16; a whole month -> the whole previous month),
          otherwise as many days immediately before.
        """
        date_from, date_to = self._kpi_check_period(date_from, date_to)
        self._kpi_check_access()
        partner_query = self._kpi_partner_query(user_ids, domain_extra)
        previous_from, previous_to = self._kpi_previous_period(date_from, date_to)
        ledger = self._kpi_ledger(date_to, partner_query)
        kpis = self._kpi_values(date_from, date_to, ledger, partner_query)
        kpis["previous"] = self._kpi_values(previous_from, previous_to, ledger, partner_query)
        return kpis

    # ------------------------------------------------------------------
    # Scope
    # ------------------------------------------------------------------

    @api.model
    def _kpi_check_period(self, date_from, date_to):
        try:
            date_from = fields.Date.to_date(date_from)
            date_to = fields.Date.to_date(date_to)
        except (TypeError, ValueError):
            date_from = date_to = None
        if not isinstance(date_from, date) or not isinstance(date_to, date):
            raise UserError(self.env._("Give the period of the KPIs as two dates (YYYY-MM-DD)."))
        if date_from > date_to:
            raise UserError(
                self.env._(
                    "The period of the KPIs starts after it ends (%(date_from)s to %(date_to)s).",
                    date_from=fields.Date.to_string(date_from),
                    date_to=fields.Date.to_string(date_to),
                )
            )
        return date_from, date_to

    @api.model
    def _kpi_check_access(self):
        """Collection users and billing users (the readers of the collection analyses)."""
        for model in (
            "collection.receivable.report",
            "collection.promise.report",
            "collection.dispute.report",
            "collection.collector.report",
        ):
            self.env[model].check_access("read")

    @api.model
    def _kpi_portfolio_only(self):
        """The worklist's rule (res.partner.action_collection_worklist): collectors who
        are not managers see only their own customers when the company says so."""
        return bool(
            self.env.company.collection_portfolio_restricted
            and not self.env.user.has_group("account_collection.group_collection_manager")
        )

    @api.model
    def _kpi_partner_query(self, user_ids, domain_extra):
        """Query of the customers the KPIs count, or None for every customer."""
        domain = Domain.TRUE
        if self._kpi_portfolio_only():
            domain &= Domain("collection_user_id", "=", self.env.uid)
        if user_ids:
            if not isinstance(user_ids, (list, tuple)) or not all(
                isinstance(user_id, int) for user_id in user_ids
            ):
                raise UserError(
                    self.env._("The collectors of the KPIs must be a list of user ids.")
                )
            domain &= Domain("collection_user_id", "in", list(user_ids))
        if domain_extra:
            try:
                domain &= Domain(domain_extra)
            except (TypeError, ValueError) as error:
                raise UserError(
                    self.env._(
                        "The customer filter of the KPIs is not a valid domain: %(error)s",
                        error=error,
                    )
                ) from error
        if domain.is_true():
            return None
        try:
            return self.env["res.partner"].with_context(active_test=False)._search(domain)
        except ValueError as error:
            raise UserError(
                self.env._(
                    "The customer filter of the KPIs is not a valid domain: %(error)s", error=error
                )
            ) from error

    @api.model
    def _kpi_previous_period(self, date_from, date_to):
        if date_from.day == 1:
            months = (date_to.year - date_from.year) * 12 + date_to.month - date_from.month + 1
            previous_to = date_to - relativedelta(months=months)
            if date_to == date_utils.end_of(date_to, "month"):
                previous_to = date_utils.end_of(previous_to, "month")
            return date_from - relativedelta(months=months), previous_to
        days = (date_to - date_from).days + 1
        return date_from - timedelta(days=days), date_from - timedelta(days=1)

    @api.model
    def _kpi_report_domain(self, partner_query):
        domain = Domain("company_id", "=", self.env.company.id)
        if partner_query is not None:
            domain &= Domain("partner_id", "in", partner_query)
        return domain

    # ------------------------------------------------------------------
    # Figures
    # ------------------------------------------------------------------

    @api.model
    def _kpi_ledger(self, date_to, partner_query):
        """The company's ledger events until ``date_to``, summed per day (one query), read
        from the sums the triggers keep: per company and day for every customer, per
        customer and day for the customers ``partner_query`` selects."""
        self._kpi_flush()
        company_id = self.env.company.id
        sums = SQL(", ").join(SQL("SUM(%s)", SQL.identifier(column)) for column in LEDGER_COLUMNS)
        if partner_query is None:
            query = SQL(
                """
                SELECT event_date, %(sums)s
                  FROM %(table)s
                 WHERE company_id = %(company_id)s AND event_date <= %(date_to)s
                 GROUP BY event_date
                HAVING SUM(event_count) > 0
                 ORDER BY event_date
                """,
                sums=sums,
                table=SQL.identifier(COMPANY_DAY_TABLE),
                company_id=company_id,
                date_to=date_to,
            )
        else:
            # The user may read the receivables analysis (checked by the caller); the
            # days are those of the current company and of the customers selected above.
            query = SQL(
                """
                SELECT event_date, %(sums)s
                  FROM %(table)s
                 WHERE company_id = %(company_id)s AND event_date <= %(date_to)s
                   AND partner_id IN %(partners)s
                 GROUP BY event_date
                 ORDER BY event_date
                """,
                sums=sums,
                table=SQL.identifier(DAY_TABLE),
                company_id=company_id,
                date_to=date_to,
                partners=partner_query.subselect(),
            )
        return LedgerDays(self.env.execute_query(query))

    @api.model
    def _kpi_ledger_live(self, date_to, partner_query):
        """``_kpi_ledger`` aggregated from the journal items and matchings themselves
        (collection.receivable.report._ledger_events_sql): what the sums must equal."""
        self._kpi_flush()
        Report = self.env["collection.receivable.report"]
        rows = self.env.execute_query(
            SQL(
                """
                SELECT event_date, %(sums)s
                  FROM (%(events)s) events
                 WHERE event_date <= %(date_to)s
                 GROUP BY event_date
                 ORDER BY event_date
                """,
                sums=SQL(", ").join(
                    SQL("SUM(%s)", SQL.identifier(column)) for column in LEDGER_COLUMNS
                ),
                events=Report._ledger_events_sql([self.env.company.id], partner_query),
                date_to=date_to,
            )
        )
        return LedgerDays(rows)

    @api.model
    def _kpi_flush(self):
        """Write the pending changes the ledger's events read: the triggers then bring the
        sums up to date."""
        for model, fnames in self.env["collection.receivable.report"]._depends.items():
            self.env[model].flush_model(fnames)

    # ------------------------------------------------------------------
    # The sums behind the KPIs
    # ------------------------------------------------------------------

    def init(self):
        super().init()
        cr = self.env.cr
        cr.execute(SQL("SELECT to_regclass(%s)", DAY_TABLE))
        created = cr.fetchone()[0] is None
        cr.execute(KPI_SUMS_DDL)
        if created:
            # Installed, or upgraded from a version without the sums: fill them from the
            # journal items already there.
            self._kpi_sums_rebuild()

    @api.model
    def _kpi_sums_rebuild(self):
        """Recompute the KPIs' sums (DAY_TABLE, COMPANY_DAY_TABLE) of every customer and
        company from the journal items and matchings: what the triggers keep up to date,
        from scratch. Returns the number of customer days written."""
        self._kpi_flush()
        cr = self.env.cr
        cr.execute(SQL("DELETE FROM %s", SQL.identifier(COMPANY_DAY_TABLE)))
        cr.execute(SQL("DELETE FROM %s", SQL.identifier(DAY_TABLE)))
        columns = SQL(", ").join(SQL.identifier(column) for column in LEDGER_COLUMNS)
        sums = SQL(", ").join(SQL("SUM(%s)", SQL.identifier(column)) for column in LEDGER_COLUMNS)
        cr.execute(
            SQL(
                """
                INSERT INTO %(table)s (company_id, partner_id, event_date, event_count, %(columns)s)
                SELECT company_id, partner_id, event_date, COUNT(*), %(sums)s
                  FROM (%(events)s) events
                 GROUP BY company_id, partner_id, event_date
                """,
                table=SQL.identifier(DAY_TABLE),
                columns=columns,
                sums=sums,
                events=self.env["collection.receivable.report"]._ledger_events_sql(),
            )
        )
        written = cr.rowcount
        self._kpi_sums_compact()
        cr.execute(
            SQL("ANALYZE %s, %s", SQL.identifier(DAY_TABLE), SQL.identifier(COMPANY_DAY_TABLE))
        )
        return written

    @api.model
    def _kpi_sums_compact(self):
        """Replace the rows of changes of COMPANY_DAY_TABLE by one row per company and day,
        summed from the customers' days (DAY_TABLE). Changes that concurrent transactions
        add meanwhile are not seen, not removed, and add up with the new rows."""
        cr = self.env.cr
        columns = SQL(", ").join(SQL.identifier(column) for column in LEDGER_COLUMNS)
        sums = SQL(", ").join(SQL("SUM(%s)", SQL.identifier(column)) for column in LEDGER_COLUMNS)
        cr.execute(SQL("DELETE FROM %s", SQL.identifier(COMPANY_DAY_TABLE)))
        cr.execute(
            SQL(
                """
                INSERT INTO %(company_table)s (company_id, event_date, event_count, %(columns)s)
                SELECT company_id, event_date, SUM(event_count), %(sums)s
                  FROM %(day_table)s
                 GROUP BY company_id, event_date
                 ORDER BY company_id, event_date
                """,
                company_table=SQL.identifier(COMPANY_DAY_TABLE),
                day_table=SQL.identifier(DAY_TABLE),
                columns=columns,
                sums=sums,
            )
        )
        return cr.rowcount

    @api.model
    def _cron_compact_kpi_sums(self):
        """Daily: one row per company and day of the KPIs' sums again."""
        self._kpi_flush()
        self._kpi_sums_compact()

    @api.model
    def _kpi_countback_dso(self, ledger, ar_end, date_to):
        """Days sales outstanding by the countback method: walk back from ``date_to``
        month by month (the first one from its 1st to ``date_to``), taking each month's
        credit sales off the receivables until they are used up; the days of the months
        used up fully, plus the part of the last month in proportion of its sales."""
        first_day = ledger.first_day()
        if ar_end <= 0 or first_day is None:
            return 0.0
        remaining, dso = ar_end, 0.0
        end = date_to
        while end >= first_day:
            start = end.replace(day=1)
            days = (end - start).days + 1
            sales = ledger.between(start, end, "credit_sales")
            if sales > 0 and remaining <= sales:
                return dso + remaining / sales * days
            remaining -= sales
            dso += days
            end = start - timedelta(days=1)
        # Receivables older than every recorded sale: every day back to the first one.
        return dso

    @api.model
    def _kpi_values(self, date_from, date_to, ledger, partner_query):
        currency = self.env.company.currency_id
        days = (date_to - date_from).days + 1
        ar_begin = ledger.at(date_from - timedelta(days=1), "ar")
        ar_end = ledger.at(date_to, "ar")
        ar_end_overdue = ledger.at(date_to, "overdue")
        ar_end_over_90 = ledger.at(date_to, "over_90")
        ar_end_current = ar_end - ar_end_overdue
        credit_sales = ledger.between(date_from, date_to, "credit_sales")
        credit_notes = ledger.between(date_from, date_to, "credit_notes")
        net_credit_sales = credit_sales - credit_notes
        recovered = ledger.between(date_from, date_to, "collected")

        dso = self._kpi_countback_dso(ledger, ar_end, date_to)
        best_possible_dso = (
            ar_end_current / credit_sales * days
            if currency.compare_amounts(credit_sales, 0) > 0
            else None
        )
        collectible = ar_begin + net_credit_sales - ar_end_current
        cei = (
            (ar_begin + net_credit_sales - ar_end) / collectible * 100
            if currency.compare_amounts(collectible, 0) > 0
            else None
        )
        has_receivables = currency.compare_amounts(ar_end, 0) > 0
        values = {
            "date_from": fields.Date.to_string(date_from),
            "date_to": fields.Date.to_string(date_to),
            "days": days,
            "company_id": self.env.company.id,
            "currency_id": currency.id,
            "ar_begin": currency.round(ar_begin),
            "ar_end": currency.round(ar_end),
            "ar_end_current": currency.round(ar_end_current),
            "ar_end_overdue": currency.round(ar_end_overdue),
            "ar_end_over_90": currency.round(ar_end_over_90),
            "credit_sales": currency.round(credit_sales),
            "credit_notes": currency.round(credit_notes),
            "net_credit_sales": currency.round(net_credit_sales),
            "recovered": currency.round(recovered),
            "dso": dso,
            "best_possible_dso": best_possible_dso,
            "add": dso - best_possible_dso if best_possible_dso is not None else None,
            "cei": cei,
            "overdue_share": ar_end_overdue / ar_end * 100 if has_receivables else None,
            "over_90_share": ar_end_over_90 / ar_end * 100 if has_receivables else None,
        }
        values.update(self._kpi_promises(date_from, date_to, partner_query))
        values.update(self._kpi_disputes(date_from, date_to, partner_query))
        values["per_collector"] = self._kpi_per_collector(date_from, date_to, partner_query)
        return values

    @api.model
    def _kpi_promises(self, date_from, date_to, partner_query):
        Promise = self.env["collection.promise.report"]
        domain = self._kpi_report_domain(partner_query)
        [(made, made_amount)] = Promise._read_group(
            domain & Domain("date_made", ">=", date_from) & Domain("date_made", "<=", date_to),
            [],
            ["__count", "amount:sum"],
        )
        falling_due = {
            state: (count, amount)
            for state, count, amount in Promise._read_group(
                domain & Domain("date", ">=", date_from) & Domain("date", "<=", date_to),
                ["state"],
                ["__count", "amount:sum"],
            )
        }
        values = {"promises_made": made, "promises_made_amount": made_amount or 0.0}
        for state in ("kept", "partial", "broken", "open"):
            count, amount = falling_due.get(state, (0, 0.0))
            values[f"promises_{state}"] = count
            values[f"promises_{state}_amount"] = amount or 0.0
        closed = values["promises_kept"] + values["promises_partial"] + values["promises_broken"]
        values["kept_rate"] = values["promises_kept"] / closed * 100 if closed else None
        return values

    @api.model
    def _kpi_disputes(self, date_from, date_to, partner_query):
        Dispute = self.env["collection.dispute.report"]
        domain = self._kpi_report_domain(partner_query)
        [(opened,)] = Dispute._read_group(
            domain & Domain("date", ">=", date_from) & Domain("date", "<=", date_to),
            [],
            ["__count"],
        )
        [(closed, cycle_days)] = Dispute._read_group(
            domain & Domain("date_closed", ">=", date_from) & Domain("date_closed", "<=", date_to),
            [],
            ["__count", "cycle_days:avg"],
        )
        [(still_open,)] = Dispute._read_group(
            domain
            & Domain("date", "<=", date_to)
            & (Domain("date_closed", "=", False) | Domain("date_closed", ">", date_to)),
            [],
            ["__count"],
        )
        return {
            "disputes": opened,
            "disputes_closed": closed,
            "dispute_cycle_days": cycle_days if closed else None,
            "disputes_open": still_open,
        }

    @api.model
    def _kpi_per_collector(self, date_from, date_to, partner_query):
        Collector = self.env["collection.collector.report"]
        groups = Collector._read_group(
            self._kpi_report_domain(partner_query)
            & Domain("date", ">=", date_from)
            & Domain("date", "<=", date_to),
            ["user_id"],
            [
                "interaction_count:sum",
                "promise_count:sum",
                "promise_amount:sum",
                "kept_count:sum",
                "kept_amount:sum",
                "collected_after_contact:sum",
            ],
        )
        rows = [
            {
                "user_id": user.id,
                "name": user.name,
                "interactions": interactions or 0,
                "promises": promises or 0,
                "promises_amount": promises_amount or 0.0,
                "promises_kept": kept or 0,
                "promises_kept_amount": kept_amount or 0.0,
                "collected_after_contact": collected or 0.0,
            }
            for user, interactions, promises, promises_amount, kept, kept_amount, collected in (
                groups
            )
        ]
        return sorted(rows, key=lambda row: (row["name"] or "", row["user_id"]))
