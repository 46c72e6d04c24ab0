"""When each open invoice will be paid: every customer's payment delay distribution
learnt from its own history (README, "Predicted payment dates").

The delay of a receivable item is the number of days from its due date to the day it was
fully paid (its last reconciliation). Paid items are observations; items still open are
*censored* observations: an item 40 days past due and unpaid says "more than 40 days",
which the Kaplan-Meier estimator of the survival curve S(t) = P(delay > t) counts as such
(an item open that long is at risk up to 40 days, then leaves the count without an
event). The predicted delay of an open item already ``e`` days past due is the median of
the delay *given* it is more than ``e``: the first t > e where S(t) <= S(e) / 2. A
customer with fewer than MIN_HISTORY items paid uses the curve of its segment's customers
together when they paid that many, else the curve of the whole company.
"""

from collections import defaultdict
from datetime import timedelta

from odoo import api, models
from odoo.tools import SQL

# Items a customer must have paid for its own curve to be used; with fewer, the curve of
# the company's customers together.
MIN_HISTORY = 5
# Items due in the last HISTORY_DAYS days are the history.
HISTORY_DAYS = 730
# When no curve reaches half of the survival left (the history never saw an item paid
# that late), the item is predicted paid UNKNOWN_DELAY_DAYS days after the day of the
# prediction.
UNKNOWN_DELAY_DAYS = 30

# The predictions kept (README, "Predicted payment dates"): each night a scheduled action
# fits every company's curves and keeps the predicted day of each open item
# (PREDICTION_TABLE), the counts of the company's and its segments' curves (CURVE_TABLE,
# segment 0: the company's) and the day of the fit (FIT_TABLE). The ledger's triggers
# mark a customer whose items change (a payment, an invoice, a credit note, a matching
# undone) or who changes segment (STALE_TABLE): its items are predicted again when read,
# from its own history then and the curves of the night, until the next fit. A company
# whose fit is not of the day (the night's run has not run yet) is fitted when read.
PREDICTION_TABLE = "collection_prediction_line"
CURVE_TABLE = "collection_prediction_curve"
FIT_TABLE = "collection_prediction_fit"
STALE_TABLE = "collection_prediction_stale"
# The kept predictions' open amounts summed per customer, day and source: what the cash-in
# forecast's pivot and graph read (a few rows per customer).
DAY_TABLE = "collection_prediction_day"
PREDICTIONS_DDL = f"""
CREATE TABLE IF NOT EXISTS {FIT_TABLE} (
    company_id integer PRIMARY KEY REFERENCES res_company (id) ON DELETE CASCADE,
    as_of date NOT NULL
);
CREATE TABLE IF NOT EXISTS {PREDICTION_TABLE} (
    line_id integer PRIMARY KEY REFERENCES account_move_line (id) ON DELETE CASCADE,
    company_id integer NOT NULL REFERENCES res_company (id) ON DELETE CASCADE,
    partner_id integer NOT NULL REFERENCES res_partner (id) ON DELETE CASCADE,
    predicted_date date NOT NULL,
    source varchar NOT NULL,
    amount_residual numeric
);
-- The item's open amount when predicted, the same until its customer's ledger changes
-- (then the customer's items are predicted again when read): the forecast sums it.
ALTER TABLE {PREDICTION_TABLE} ADD COLUMN IF NOT EXISTS amount_residual numeric;
UPDATE {PREDICTION_TABLE} s SET amount_residual = aml.amount_residual
  FROM account_move_line aml
 WHERE s.amount_residual IS NULL AND aml.id = s.line_id;
CREATE INDEX IF NOT EXISTS {PREDICTION_TABLE}_partner_idx
    ON {PREDICTION_TABLE} (company_id, partner_id);
CREATE TABLE IF NOT EXISTS {CURVE_TABLE} (
    company_id integer NOT NULL REFERENCES res_company (id) ON DELETE CASCADE,
    segment_id integer NOT NULL,
    delay integer NOT NULL,
    paid_count integer NOT NULL,
    open_count integer NOT NULL,
    PRIMARY KEY (company_id, segment_id, delay)
);
CREATE TABLE IF NOT EXISTS {DAY_TABLE} (
    company_id integer NOT NULL REFERENCES res_company (id) ON DELETE CASCADE,
    partner_id integer NOT NULL REFERENCES res_partner (id) ON DELETE CASCADE,
    predicted_date date NOT NULL,
    source varchar NOT NULL,
    amount_residual numeric NOT NULL,
    PRIMARY KEY (company_id, partner_id, predicted_date, source)
);
-- A company fitted before the sums were kept: summed from its kept predictions.
INSERT INTO {DAY_TABLE} (company_id, partner_id, predicted_date, source, amount_residual)
SELECT s.company_id, s.partner_id, s.predicted_date, s.source, SUM(s.amount_residual)
  FROM {PREDICTION_TABLE} s
 WHERE NOT EXISTS (SELECT 1 FROM {DAY_TABLE} d WHERE d.company_id = s.company_id)
 GROUP BY 1, 2, 3, 4;
CREATE TABLE IF NOT EXISTS {STALE_TABLE} (
    company_id integer NOT NULL REFERENCES res_company (id) ON DELETE CASCADE,
    partner_id integer NOT NULL REFERENCES res_partner (id) ON DELETE CASCADE,
    PRIMARY KEY (company_id, partner_id)
);

-- Every refresh of a customer's sums (collection_ledger_refresh) writes its balance row:
-- its predictions are no longer those of the night.
CREATE OR REPLACE FUNCTION collection_prediction_ledger_changed() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    INSERT INTO {STALE_TABLE} (company_id, partner_id)
    SELECT NEW.company_id, NEW.partner_id
     WHERE EXISTS (SELECT 1 FROM {FIT_TABLE} f WHERE f.company_id = NEW.company_id)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$fn$;
DROP TRIGGER IF EXISTS collection_prediction_ledger_changed ON collection_ledger_balance;
CREATE TRIGGER collection_prediction_ledger_changed
    AFTER INSERT OR UPDATE ON collection_ledger_balance
    FOR EACH ROW EXECUTE FUNCTION collection_prediction_ledger_changed();

-- A customer that changes segment learns from another curve.
CREATE OR REPLACE FUNCTION collection_prediction_segment_changed() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    INSERT INTO {STALE_TABLE} (company_id, partner_id)
    SELECT f.company_id, NEW.commercial_partner_id FROM {FIT_TABLE} f
     WHERE NEW.commercial_partner_id IS NOT NULL
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$fn$;
DROP TRIGGER IF EXISTS collection_prediction_segment_changed ON res_partner;
CREATE TRIGGER collection_prediction_segment_changed
    AFTER UPDATE OF collection_segment_id ON res_partner FOR EACH ROW
    WHEN (OLD.collection_segment_id IS DISTINCT FROM NEW.collection_segment_id)
    EXECUTE FUNCTION collection_prediction_segment_changed();
"""

# What uninstalling the module removes (hooks.uninstall_hook).
PREDICTIONS_DROP = f"""
DROP TRIGGER IF EXISTS collection_prediction_ledger_changed ON collection_ledger_balance;
DROP TRIGGER IF EXISTS collection_prediction_segment_changed ON res_partner;
DROP FUNCTION IF EXISTS collection_prediction_ledger_changed();
DROP FUNCTION IF EXISTS collection_prediction_segment_changed();
DROP TABLE IF EXISTS {STALE_TABLE};
DROP TABLE IF EXISTS {DAY_TABLE};
DROP TABLE IF EXISTS {CURVE_TABLE};
DROP TABLE IF EXISTS {PREDICTION_TABLE};
DROP TABLE IF EXISTS {FIT_TABLE};
"""


def kaplan_meier(counts):
    """The Kaplan-Meier survival curve of delays: ``counts`` is {delay: (paid, open)},
    the numbers of items paid after ``delay`` days and of items still open after
    ``delay`` days (censored). Returns [(t, S(t))] at each delay where an item was paid,
    ascending, S(t) the estimated share of items not paid after t days. An item censored
    at t is still at risk at t (it was not paid by then)."""
    at_risk = sum(paid + open_ for paid, open_ in counts.values())
    survival = 1.0
    curve = []
    for delay in sorted(counts):
        paid, open_ = counts[delay]
        if paid and at_risk:
            survival *= 1.0 - paid / at_risk
            curve.append((delay, survival))
        at_risk -= paid + open_
    return curve


def survival_at(curve, delay):
    """S(delay) from a Kaplan-Meier ``curve``: 1 before the first payment."""
    survival = 1.0
    for t, s in curve:
        if t > delay:
            break
        survival = s
    return survival


def conditional_median(curve, elapsed):
    """The median delay of an item not paid after ``elapsed`` days: the first delay t
    after ``elapsed`` where S(t) <= S(elapsed) / 2; None when the curve never gets there."""
    half = survival_at(curve, elapsed) / 2.0
    for t, s in curve:
        if t > elapsed and s <= half + 1e-12:
            return t
    return None


class DelayModel:
    """The fitted delay distributions of a company's customers at a day (``as_of``):
    ``predict(partner_id, due_date)`` and, for comparison, ``baseline(partner_id,
    due_date)`` (the due date plus the customer's average delay)."""

    def __init__(self, as_of, counts, segments=None, shared=None):
        """``counts``: {partner id: {delay: (paid, open)}}; ``segments``: {partner id:
        segment id} of the customers in a segment; ``shared``: the counts of the company's
        curve and of its segments' ({delay: (paid, open)}, {segment id: {delay: (paid,
        open)}}) when they are not those of ``counts`` (the curves kept from the
        night's fit, ``counts`` holding a few customers only)."""
        self.as_of = as_of
        self.segments = segments or {}
        company = defaultdict(lambda: [0, 0])
        per_segment = defaultdict(lambda: defaultdict(lambda: [0, 0]))
        self.curves = {}
        self.paid = {}
        self.means = {}
        total_days = total_paid = 0
        for partner_id, partner_counts in counts.items():
            paid = sum(p for p, _o in partner_counts.values())
            self.paid[partner_id] = paid
            if paid >= MIN_HISTORY:
                self.curves[partner_id] = kaplan_meier(partner_counts)
            if paid:
                days = sum(delay * p for delay, (p, _o) in partner_counts.items())
                self.means[partner_id] = days / paid
                total_days += days
                total_paid += paid
            segment = self.segments.get(partner_id)
            for delay, (p, o) in partner_counts.items():
                company[delay][0] += p
                company[delay][1] += o
                if segment:
                    per_segment[segment][delay][0] += p
                    per_segment[segment][delay][1] += o
        if shared is not None:
            company, per_segment = shared
        self.company_counts = {delay: tuple(values) for delay, values in company.items()}
        self.segment_counts = {
            segment: {delay: tuple(values) for delay, values in segment_counts.items()}
            for segment, segment_counts in per_segment.items()
        }
        self.company_curve = kaplan_meier(company)
        self.segment_curves = {
            segment: kaplan_meier(segment_counts)
            for segment, segment_counts in per_segment.items()
            if sum(p for p, _o in segment_counts.values()) >= MIN_HISTORY
        }
        self.company_mean = total_days / total_paid if total_paid else 0.0
        # The predicted delays already computed, per curves tried and days elapsed: the
        # items of the customers that share a curve (the company's, a segment's) and
        # are as many days past due get the same delay, computed once.
        self._delays = {}

    def source(self, partner_id):
        """Whose history the customer's predictions come from: 'customer' (its own),
        'segment' (its segment's customers together) or 'company'."""
        if partner_id in self.curves:
            return "customer"
        if self.segments.get(partner_id) in self.segment_curves:
            return "segment"
        return "company"

    def predict_delay(self, partner_id, due_date):
        elapsed = (self.as_of - due_date).days
        segment = self.segments.get(partner_id)
        # The curves tried, in order: the customer's, its segment's, the company's.
        key = (
            partner_id if partner_id in self.curves else None,
            segment if segment in self.segment_curves else None,
            elapsed,
        )
        delay = self._delays.get(key)
        if delay is None:
            delay = self._delays[key] = self._predict_delay(partner_id, segment, elapsed)
        return delay

    def _predict_delay(self, partner_id, segment, elapsed):
        curves = (
            self.curves.get(partner_id),
            self.segment_curves.get(segment),
            self.company_curve,
        )
        for curve in curves:
            if curve:
                delay = conditional_median(curve, elapsed)
                if delay is not None:
                    return delay
        return elapsed + UNKNOWN_DELAY_DAYS

    def predict(self, partner_id, due_date):
        """The predicted payment day of an item of ``partner_id`` due on ``due_date`` and
        open on ``as_of``: never before ``as_of``."""
        return max(due_date + timedelta(days=self.predict_delay(partner_id, due_date)), self.as_of)

    def baseline(self, partner_id, due_date):
        """The naive prediction the benchmark compares with: the due date plus the
        customer's average delay (the company's when it never paid)."""
        mean = self.means.get(partner_id, self.company_mean)
        return due_date + timedelta(days=round(mean))


class CollectionPrediction(models.AbstractModel):
    """The payment date predictions of the current company, a service reading the
    ledger in SQL (the history, the open items) and fitting the curves in Python."""

    _name = "collection.prediction"
    _description = "Collection Payment Predictions"

    @api.model
    def _items_sql(self, company, as_of, restrict=None, history=True):
        """The receivable items the customers owed (debits) of ``company``, entered by
        ``as_of`` and (with ``history``) due in the HISTORY_DAYS days before it or later, with their
        commercial partner, due date, delay and whether they were paid by ``as_of``
        (``paid``): the delay of a paid item is from its due date to its last
        reconciliation, that of an item open then from its due date to ``as_of``."""
        Ledger = self.env["collection.ledger"]
        Ledger._flush()
        self.env["account.partial.reconcile"].flush_model(["max_date", "debit_move_id"])
        due_date = Ledger._due_date_sql()
        return SQL(
            """
            SELECT aml.id AS line_id, aml.move_id, p.commercial_partner_id AS partner_id,
                   %(due_date)s AS due_date, aml.amount_residual, aml.balance,
                   (aml.reconciled AND paid.day <= %(as_of)s) AS paid,
                   paid.day AS paid_date,
                   (CASE WHEN aml.reconciled AND paid.day <= %(as_of)s THEN paid.day
                         ELSE %(as_of)s::date END) - %(due_date)s AS delay
              FROM account_move_line aml
              JOIN res_partner p ON p.id = aml.partner_id
              LEFT JOIN LATERAL (
                    SELECT MAX(apr.max_date) AS day
                      FROM account_partial_reconcile apr
                     WHERE apr.debit_move_id = aml.id
              ) paid ON aml.reconciled
             WHERE %(receivable)s
               AND aml.balance > 0
               AND aml.date <= %(as_of)s
               %(history)s
               %(restrict)s
            """,
            due_date=due_date,
            as_of=as_of,
            receivable=Ledger._receivable_condition(company),
            history=SQL("AND %s > %s::date - %s", due_date, as_of, HISTORY_DAYS)
            if history
            else SQL(),
            restrict=SQL("AND %s", restrict) if restrict is not None else SQL(),
        )

    @api.model
    def _delay_counts(self, company, as_of, restrict=None):
        """{partner id: {delay: (paid, open)}} of the items of _items_sql."""
        rows = self.env.execute_query(
            SQL(
                """SELECT items.partner_id, items.delay,
                          COUNT(*) FILTER (WHERE items.paid),
                          COUNT(*) FILTER (WHERE NOT items.paid)
                     FROM (%s) items
                    GROUP BY 1, 2""",
                self._items_sql(company, as_of, restrict),
            )
        )
        counts = defaultdict(dict)
        for partner_id, delay, paid, open_ in rows:
            counts[partner_id][delay] = (paid, open_)
        return counts

    @api.model
    def _model(self, company, as_of):
        """The DelayModel of ``company``'s customers fitted on the ledger as it was on
        ``as_of``, with their segments (today's)."""
        counts = self._delay_counts(company, as_of)
        return DelayModel(as_of, counts, self._segments(company, counts))

    @api.model
    def _segments(self, company, partner_ids):
        """{partner id: segment id} of the customers ``partner_ids`` that have a segment
        in ``company`` (today's)."""
        # sudo: the segments of the customers whose ledger is read, a fitting detail.
        partners = self.env["res.partner"].with_company(company).sudo().browse(list(partner_ids))
        return {p.id: p.collection_segment_id.id for p in partners if p.collection_segment_id}

    @api.model
    def _open_items(self, company, as_of, restrict=None):
        """[(line id, move id, partner id, due date, amount residual, balance, day paid
        in full or None)] of the debits open on ``as_of`` (not paid in full by then)."""
        return self.env.execute_query(
            SQL(
                """SELECT items.line_id, items.move_id, items.partner_id, items.due_date,
                          items.amount_residual, items.balance, items.paid_date
                     FROM (%s) items
                    WHERE NOT items.paid
                    ORDER BY items.line_id""",
                self._items_sql(company, as_of, restrict, history=False),
            )
        )

    @api.model
    def _fit_open_items(self, company, today, restrict=None, model=None):
        """{line id: (move id, partner id, predicted date, source)} of the debits of
        ``company`` open today (``restrict``: an SQL condition on their item ``aml`` and
        partner ``p``), from the curves ``model`` (default: fitted now on the whole
        company's history)."""
        return self._predict_items(model or self._model(company, today), company, today, restrict)

    @api.model
    def _predict_items(self, model, company, today, restrict=None):
        """{line id: (move id, partner id, predicted date, source)} of the debits of
        ``company`` open today (``restrict``: an SQL condition on their item ``aml`` and
        partner ``p``), predicted from the curves ``model``."""
        return {
            line_id: (move_id, partner_id, model.predict(partner_id, due), model.source(partner_id))
            for line_id, move_id, partner_id, due, residual, _balance, _paid in self._open_items(
                company, today, restrict
            )
            if residual > 0
        }

    @api.model
    def _predict_open_items(self, company, today, restrict=None):
        """{line id: (move id, partner id, predicted date, source)} of the debits of
        ``company`` open today (``restrict``: an SQL condition on their item ``aml`` and
        partner ``p``): those kept from the night's fit, those of the customers whose items
        changed since predicted again (``_predict_changed_items``); all fitted now when
        the company's kept fit is not of ``today``."""
        if not self._kept_fit(company, today):
            return self._fit_open_items(company, today, restrict)
        kept = self.env.execute_query(
            SQL(
                """SELECT s.line_id, aml.move_id, s.partner_id, s.predicted_date, s.source
                     FROM %(predictions)s s
                     JOIN account_move_line aml ON aml.id = s.line_id
                     JOIN res_partner p ON p.id = aml.partner_id
                    WHERE %(restrict)s""",
                predictions=self._kept_predictions_sql(company),
                restrict=restrict if restrict is not None else SQL("TRUE"),
            )
        )
        predictions = {line_id: tuple(values) for line_id, *values in kept}
        predictions.update(self._predict_changed_items(company, today, restrict))
        return dict(sorted(predictions.items()))

    # ------------------------------------------------------------------
    # Predictions kept from the night's fit
    # ------------------------------------------------------------------

    def init(self):
        super().init()
        self.env.cr.execute(PREDICTIONS_DDL)

    @api.model
    def _kept_fit(self, company, today):
        """Whether the predictions kept for ``company`` were fitted on ``today``."""
        self.env["collection.ledger"]._flush()
        self.env["res.partner"].flush_model(["collection_segment_id"])
        [[kept]] = self.env.execute_query(
            SQL(
                "SELECT EXISTS (SELECT 1 FROM %s WHERE company_id = %s AND as_of = %s)",
                SQL.identifier(FIT_TABLE),
                company.id,
                today,
            )
        )
        return kept

    @api.model
    def _kept_predictions_sql(self, company):
        """Query: the predictions kept (line_id, partner_id, predicted_date, source,
        amount_residual) of the customers of ``company`` whose items did not change
        since."""
        return SQL(
            """(
            SELECT s.line_id, s.partner_id, s.predicted_date, s.source, s.amount_residual
              FROM %(predictions)s s
             WHERE s.company_id = %(company)s
               AND NOT EXISTS (SELECT 1 FROM %(stale)s st
                                WHERE st.company_id = s.company_id
                                  AND st.partner_id = s.partner_id)
            )""",
            predictions=SQL.identifier(PREDICTION_TABLE),
            stale=SQL.identifier(STALE_TABLE),
            company=company.id,
        )

    @api.model
    def _kept_day_sums_sql(self, company):
        """Query: the open amounts of the predictions kept (partner_id, predicted_date,
        source, amount_residual) summed per customer, day and source, of the customers of
        ``company`` whose items did not change since."""
        return SQL(
            """(
            SELECT d.partner_id, d.predicted_date, d.source, d.amount_residual
              FROM %(days)s d
             WHERE d.company_id = %(company)s
               AND NOT EXISTS (SELECT 1 FROM %(stale)s st
                                WHERE st.company_id = d.company_id
                                  AND st.partner_id = d.partner_id)
            )""",
            days=SQL.identifier(DAY_TABLE),
            stale=SQL.identifier(STALE_TABLE),
            company=company.id,
        )

    @api.model
    def _changed_partner_ids(self, company):
        """The customers of ``company`` whose items changed since the night's fit."""
        rows = self.env.execute_query(
            SQL(
                "SELECT partner_id FROM %s WHERE company_id = %s ORDER BY partner_id",
                SQL.identifier(STALE_TABLE),
                company.id,
            )
        )
        return [partner_id for [partner_id] in rows]

    @api.model
    def _kept_curves(self, company):
        """The counts of the company's curve and of its segments' kept from the night's
        fit: ({delay: (paid, open)}, {segment id: {delay: (paid, open)}})."""
        company_counts, segment_counts = {}, defaultdict(dict)
        for segment_id, delay, paid, open_ in self.env.execute_query(
            SQL(
                "SELECT segment_id, delay, paid_count, open_count FROM %s WHERE company_id = %s",
                SQL.identifier(CURVE_TABLE),
                company.id,
            )
        ):
            if segment_id:
                segment_counts[segment_id][delay] = (paid, open_)
            else:
                company_counts[delay] = (paid, open_)
        return company_counts, segment_counts

    @api.model
    def _predict_changed_items(self, company, today, restrict=None):
        """The predictions (as _predict_open_items) of the open debits of the customers
        of ``company`` whose items changed since the night's fit: each from its own
        history now, else from the curves of its segment's or the company's customers
        kept from the night."""
        partner_ids = self._changed_partner_ids(company)
        if not partner_ids:
            return {}
        customers = SQL("p.commercial_partner_id IN %s", tuple(partner_ids))
        counts = self._delay_counts(company, today, customers)
        segments = self._segments(company, counts)
        model = DelayModel(today, counts, segments, shared=self._kept_curves(company))
        if restrict is not None:
            customers = SQL("%s AND %s", customers, restrict)
        return self._predict_items(model, company, today, customers)

    @api.model
    def _refresh_predictions(self, company, today):
        """Fit the curves of ``company`` on its whole history of ``today`` and keep them
        with the predictions of its open debits; returns their number."""
        model = self._model(company, today)
        predictions = self._fit_open_items(company, today, model=model)
        cr = self.env.cr
        table = SQL.identifier(PREDICTION_TABLE)
        cr.execute(SQL("DELETE FROM %s WHERE company_id = %s", table, company.id))
        cr.execute(
            SQL(
                """INSERT INTO %s (line_id, company_id, partner_id, predicted_date, source,
                                  amount_residual)
                   SELECT p.line_id, %s, p.partner_id, p.day, p.source, aml.amount_residual
                     FROM unnest(%s::int[], %s::int[], %s::date[], %s::varchar[])
                          AS p (line_id, partner_id, day, source)
                     JOIN account_move_line aml ON aml.id = p.line_id""",
                table,
                company.id,
                list(predictions),
                [values[1] for values in predictions.values()],
                [values[2] for values in predictions.values()],
                [values[3] for values in predictions.values()],
            )
        )
        curves = [(0, model.company_counts), *model.segment_counts.items()]
        rows = [
            (segment_id, delay, paid, open_)
            for segment_id, counts in curves
            for delay, (paid, open_) in counts.items()
        ]
        cr.execute(
            SQL("DELETE FROM %s WHERE company_id = %s", SQL.identifier(CURVE_TABLE), company.id)
        )
        cr.execute(
            SQL(
                """INSERT INTO %s (company_id, segment_id, delay, paid_count, open_count)
                   SELECT %s, * FROM unnest(%s::int[], %s::int[], %s::int[], %s::int[])""",
                SQL.identifier(CURVE_TABLE),
                company.id,
                [row[0] for row in rows],
                [row[1] for row in rows],
                [row[2] for row in rows],
                [row[3] for row in rows],
            )
        )
        day_table = SQL.identifier(DAY_TABLE)
        cr.execute(SQL("DELETE FROM %s WHERE company_id = %s", day_table, company.id))
        cr.execute(
            SQL(
                """INSERT INTO %s (company_id, partner_id, predicted_date, source, amount_residual)
                   SELECT company_id, partner_id, predicted_date, source, SUM(amount_residual)
                     FROM %s
                    WHERE company_id = %s
                    GROUP BY 1, 2, 3, 4""",
                day_table,
                table,
                company.id,
            )
        )
        cr.execute(
            SQL("DELETE FROM %s WHERE company_id = %s", SQL.identifier(STALE_TABLE), company.id)
        )
        cr.execute(
            SQL(
                """INSERT INTO %s (company_id, as_of) VALUES (%s, %s)
                   ON CONFLICT (company_id) DO UPDATE SET as_of = EXCLUDED.as_of""",
                SQL.identifier(FIT_TABLE),
                company.id,
                today,
            )
        )
        return len(predictions)

    @api.model
    def _cron_refresh_predictions(self):
        """Each night: fit every company's curves on the day and keep the predictions of
        its open invoices, which the cash-in forecast and the invoices read."""
        companies = self.env["res.company"].sudo().search([])
        for index, company in enumerate(companies):
            self.sudo().with_company(company)._refresh_predictions(
                company, company._collection_today()
            )
            self.env["ir.cron"]._commit_progress(1, remaining=len(companies) - index - 1)
