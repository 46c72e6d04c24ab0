"""The customer's collection risk: a score from 0 (safe) to 100 (riskiest), per company,
computed in SQL from the customer's own ledger and cases, each factor's share of it
explained in words (README, "Risk score")."""

from markupsafe import Markup

from odoo import api, fields, models
from odoo.tools import SQL

from .collection_case_mixin import DISPUTE_OPEN_STATES
from .collection_ledger import (
    BALANCE_TABLE,
    DEBIT_DAYS_EPOCH,
    DUE_TABLE,
    PAID_TABLE,
    figure_search,
)
from .res_partner import LEDGER_DEPENDS

# The factors of the risk score, in the order they are explained: name -> (weight,
# saturation). A factor adds ``weight * min(value / saturation, 1)`` points (values below
# zero add nothing); the weights add up to 100, the score is their sum, rounded.
#   lateness     average days late of the invoices paid in the last 12 months and of the
#                open overdue ones (at least today - due date days late), weighted by
#                their amounts (the open ones by what is left to pay)
#   late_share   share of those invoices that were paid late or are still open overdue
#   trend        days later the customer pays now (invoices paid in the last 6 months)
#                than before (paid 6 to 12 months ago)
#   commitments  promises and agreements broken in the last 12 months
#   disputes     disputes still open
#   exposure     total due against the credit limit (none without a credit limit)
#   oldest       days overdue of the oldest open item
RISK_FACTORS = {
    "lateness": (30, 60.0),
    "late_share": (15, 1.0),
    "trend": (10, 30.0),
    "commitments": (15, 3.0),
    "disputes": (10, 2.0),
    "exposure": (10, 1.0),
    "oldest": (10, 180.0),
}
# Days back the paid history counts, and where "recent" starts for the trend.
RISK_HISTORY_DAYS = 365
RISK_RECENT_DAYS = 182

# Risk bands: a score from the band's lower bound up to the next band's.
RISK_BANDS = [
    ("low", "Low"),
    ("medium", "Medium"),
    ("high", "High"),
    ("critical", "Critical"),
]
RISK_BAND_FLOORS = {"low": 0, "medium": 25, "high": 50, "critical": 75}

RISK_FIELDS = ("collection_risk_score", "collection_risk_band")

# What the risk score follows: the customer's ledger, credit limit and cases.
RISK_DEPENDS = (
    *LEDGER_DEPENDS,
    "credit_limit",
    "collection_promise_ids.state",
    "collection_agreement_ids.state",
    "collection_dispute_ids.state",
)


class ResPartner(models.Model):
    _inherit = "res.partner"

    collection_risk_score = fields.Integer(
        string="Risk Score",
        compute="_compute_collection_risk",
        search=figure_search("collection_risk_score"),
        aggregator="avg",
        help="From 0 (pays on time, nothing open) to 100 (riskiest), in the current company: "
        "how many days late the customer paid its invoices of the last 12 months and how "
        "late its open overdue invoices already are (weighted by amount), the share of them "
        "paid late or still overdue, whether it pays later than 6 months before, promises "
        "and agreements broken in the last 12 months, open disputes, what it owes against "
        "its credit limit and the days overdue of its oldest open item. Each factor's points "
        "are shown under Risk Factors.",
        groups="base.group_user",
    )
    collection_risk_band = fields.Selection(
        RISK_BANDS,
        string="Risk",
        compute="_compute_collection_risk",
        search=figure_search("collection_risk_band"),
        help="Low (score under 25), Medium (under 50), High (under 75) or Critical.",
        groups="base.group_user",
    )
    collection_risk_html = fields.Html(
        string="Risk Factors",
        compute="_compute_collection_risk_html",
        sanitize=False,
        groups="base.group_user",
    )

    # ------------------------------------------------------------------
    # SQL
    # ------------------------------------------------------------------

    @api.model
    def _collection_risk_paid_sql(self, company, today, partner_ids=None):
        """Per commercial partner, the invoices of ``company`` paid (fully matched) in the
        last RISK_HISTORY_DAYS days: count, count paid late, average days late weighted
        by amount, over all, over the recent ones and the older ones; and its open overdue
        items, each at least ``today - due date`` days late (a payment not seen yet):
        count, amount left to pay, average days late weighted by it, and the average days
        late of paid and open items together (``all_days``). Read from the paid history
        the ledger's triggers keep per customer and day (PAID_TABLE) and from the open
        debits they keep per customer (BALANCE_TABLE's ``debit_count``, ``debit_days``),
        less those due from ``today`` on (DUE_TABLE: few rows), as the overdue amount
        is; ``_collection_risk_paid_live_sql`` is the same from the journal items, which
        they always equal."""
        self.env["collection.ledger"]._flush()
        self.env["account.move.line"].flush_model(["balance"])
        self.env["account.partial.reconcile"].flush_model(["max_date", "debit_move_id"])
        paid_restrict = due_restrict = balance_restrict = SQL()
        if partner_ids is not None:
            ids = tuple(partner_ids) or (0,)
            paid_restrict = SQL("AND s.partner_id IN %s", ids)
            due_restrict = SQL("AND d.partner_id IN %s", ids)
            balance_restrict = SQL("AND b.partner_id IN %s", ids)
        rows = SQL(
            """
                SELECT s.partner_id, FALSE AS open, s.paid_date, s.paid_count AS items,
                       s.late_count AS late_items, s.amount, s.late_amount
                  FROM %(paid)s s
                 WHERE s.company_id = %(company)s
                   AND s.paid_date > %(today)s::date - %(history)s
                   AND s.paid_date <= %(today)s
                   %(paid_restrict)s
                 UNION ALL
                SELECT b.partner_id, TRUE, NULL,
                       (b.debit_count - COALESCE(f.debit_count, 0))::int, 0,
                       b.debit_amount - COALESCE(f.debit_amount, 0),
                       (%(today)s::date - %(epoch)s::date)
                           * (b.debit_amount - COALESCE(f.debit_amount, 0))
                           - (b.debit_days - COALESCE(f.debit_days, 0))
                  FROM %(balance)s b
                  LEFT JOIN (
                      SELECT d.partner_id, SUM(d.debit_count) AS debit_count,
                             SUM(d.debit_amount) AS debit_amount,
                             SUM(d.debit_amount * (d.due_date - %(epoch)s::date)) AS debit_days
                        FROM %(due)s d
                       WHERE d.company_id = %(company)s
                         AND d.due_date >= %(today)s
                         AND d.debit_count > 0
                         %(due_restrict)s
                       GROUP BY d.partner_id
                  ) f ON f.partner_id = b.partner_id
                 WHERE b.company_id = %(company)s
                   AND b.debit_count > COALESCE(f.debit_count, 0)
                   %(balance_restrict)s
            """,
            paid=SQL.identifier(PAID_TABLE),
            due=SQL.identifier(DUE_TABLE),
            balance=SQL.identifier(BALANCE_TABLE),
            epoch=DEBIT_DAYS_EPOCH,
            company=company.id,
            today=today,
            history=RISK_HISTORY_DAYS,
            paid_restrict=paid_restrict,
            due_restrict=due_restrict,
            balance_restrict=balance_restrict,
        )
        return self._collection_risk_history_sql(rows, today)

    @api.model
    def _collection_risk_history_sql(self, rows, today):
        """The aggregate of ``_collection_risk_paid_sql`` over ``rows``: per customer
        (``partner_id``), paid invoices (``open`` false, with ``paid_date``) and open
        overdue items (``open`` true), each row ``items`` of them, ``late_items`` of
        them late, for ``amount``, with ``late_amount`` the sum of each one's amount
        times its days late."""
        recent = SQL("paid.paid_date >= %s::date - %s", today, RISK_RECENT_DAYS)
        closed = SQL("NOT paid.open")
        return SQL(
            """(
            SELECT paid.partner_id,
                   COALESCE(SUM(paid.items) FILTER (WHERE %(closed)s), 0) AS paid_count,
                   COALESCE(SUM(paid.late_items) FILTER (WHERE %(closed)s), 0) AS late_count,
                   SUM(paid.late_amount) FILTER (WHERE %(closed)s)
                       / NULLIF(SUM(paid.amount) FILTER (WHERE %(closed)s), 0) AS late_days,
                   SUM(paid.late_amount) FILTER (WHERE %(closed)s AND %(recent)s)
                       / NULLIF(SUM(paid.amount) FILTER (WHERE %(closed)s AND %(recent)s), 0)
                       AS recent_days,
                   SUM(paid.late_amount) FILTER (WHERE %(closed)s AND NOT %(recent)s)
                       / NULLIF(SUM(paid.amount) FILTER (WHERE %(closed)s AND NOT %(recent)s), 0)
                       AS older_days,
                   COALESCE(SUM(paid.items) FILTER (WHERE paid.open), 0) AS open_count,
                   SUM(paid.amount) FILTER (WHERE paid.open) AS open_amount,
                   SUM(paid.late_amount) FILTER (WHERE paid.open)
                       / NULLIF(SUM(paid.amount) FILTER (WHERE paid.open), 0) AS open_days,
                   SUM(paid.amount) FILTER (WHERE %(closed)s) AS paid_amount,
                   SUM(paid.late_amount) / NULLIF(SUM(paid.amount), 0) AS all_days
              FROM (%(rows)s) paid
             GROUP BY paid.partner_id
            )""",
            recent=recent,
            closed=closed,
            rows=rows,
        )

    @api.model
    def _collection_risk_paid_live_sql(self, company, today, partner_ids=None):
        """``_collection_risk_paid_sql`` aggregated from the journal items and their
        matchings themselves: an invoice is paid on the day of its last matching."""
        Ledger = self.env["collection.ledger"]
        Ledger._flush()
        self.env["account.move.line"].flush_model(["balance"])
        self.env["account.partial.reconcile"].flush_model(["max_date", "debit_move_id"])
        restrict = SQL()
        if partner_ids is not None:
            restrict = SQL("AND p.commercial_partner_id IN %s", tuple(partner_ids) or (0,))
        due_date = Ledger._due_date_sql()
        rows = SQL(
            """
                SELECT partner_id, FALSE AS open, paid_date, 1 AS items,
                       (paid_date > due_date)::int AS late_items, amount,
                       amount * GREATEST(paid_date - due_date, 0) AS late_amount
                  FROM (
                    SELECT p.commercial_partner_id AS partner_id, aml.balance AS amount,
                           %(due_date)s AS due_date, MAX(apr.max_date) AS paid_date
                      FROM account_partial_reconcile apr
                      JOIN account_move_line aml ON aml.id = apr.debit_move_id
                      JOIN res_partner p ON p.id = aml.partner_id
                     WHERE %(receivable)s
                       AND aml.reconciled
                       AND aml.balance > 0
                       %(restrict)s
                     GROUP BY aml.id, p.commercial_partner_id
                  ) invoices
                 WHERE paid_date > %(today)s::date - %(history)s AND paid_date <= %(today)s
                 UNION ALL
                SELECT p.commercial_partner_id, TRUE, NULL, 1, 0, aml.amount_residual,
                       aml.amount_residual * (%(today)s::date - %(due_date)s)
                  FROM account_move_line aml
                  JOIN res_partner p ON p.id = aml.partner_id
                 WHERE %(open_receivable)s
                   AND %(open_debit)s
                   AND %(due_date)s < %(today)s
                   %(restrict)s
            """,
            due_date=due_date,
            receivable=Ledger._receivable_condition(company),
            open_receivable=Ledger._open_receivable_condition(company),
            open_debit=Ledger._open_debit_condition(),
            today=today,
            history=RISK_HISTORY_DAYS,
            restrict=restrict,
        )
        return self._collection_risk_history_sql(rows, today)

    @api.model
    def _collection_risk_cases_sql(self, company, today):
        """Per customer of ``company``: agreements broken in the last RISK_HISTORY_DAYS
        days and disputes still open."""
        self.env["collection.agreement"].flush_model(
            ["partner_id", "company_id", "state", "date_closed"]
        )
        self.env["collection.dispute"].flush_model(["partner_id", "company_id", "state"])
        return SQL(
            """(
            SELECT partner_id, SUM(broken) AS broken_agreements, SUM(disputes) AS open_disputes
              FROM (
                SELECT partner_id, 1 AS broken, 0 AS disputes
                  FROM collection_agreement
                 WHERE company_id = %(company)s AND state = 'broken'
                   AND COALESCE(date_closed, date_start) > %(today)s::date - %(history)s
                 UNION ALL
                SELECT partner_id, 0, 1
                  FROM collection_dispute
                 WHERE company_id = %(company)s AND state IN %(open)s
              ) cases
             GROUP BY partner_id
            )""",
            company=company.id,
            today=today,
            history=RISK_HISTORY_DAYS,
            open=DISPUTE_OPEN_STATES,
        )

    def _collection_risk_columns(self, alias, query, partner_ids=None):
        """SQL expressions for the partner row ``alias`` of ``query``: each factor's value
        (``<factor>``) and points (``<factor>_points``), the facts the explanation cites
        (``paid_count``, ``late_count``, ``paid_days``, ``paid_amount``, ``recent_days``,
        ``older_days``, ``open_count``, ``open_days``, ``open_amount``, ``credit_limit``),
        and ``score``. The ledger aggregates are joined once per
        query, those of the figures shared with them."""
        company = self.env.company
        today = self._collection_today()

        def join(name, subquery):
            table = query.make_alias(alias, name)
            query.add_join(
                "LEFT JOIN",
                table,
                subquery,
                SQL("%s = %s", SQL.identifier(table, "partner_id"), SQL.identifier(alias, "id")),
            )
            return lambda column: SQL.identifier(table, column)

        paid = join(
            "collection_risk_paid", self._collection_risk_paid_sql(company, today, partner_ids)
        )
        cases = join("collection_risk_cases", self._collection_risk_cases_sql(company, today))
        figure = super()._collection_field_sql
        due = figure(alias, "collection_due_amount", query, partner_ids)
        days = figure(alias, "collection_days_overdue", query, partner_ids)
        broken = figure(alias, "collection_broken_promise_count", query, partner_ids)
        # The credit limit as the ORM reads it (the company's fallback when the customer has
        # none); the score is shown to collectors who may not read the limit itself.
        credit_limit = self.env["collection.ledger"]._company_dependent_sql(
            self, alias, "credit_limit"
        )
        paid_count = SQL("COALESCE(%s, 0)", paid("paid_count"))
        open_count = SQL("COALESCE(%s, 0)", paid("open_count"))
        columns = {
            "paid_count": paid_count,
            "late_count": SQL("COALESCE(%s, 0)", paid("late_count")),
            "paid_days": SQL("COALESCE(%s, 0)::float", paid("late_days")),
            "paid_amount": SQL("COALESCE(%s, 0)::float", paid("paid_amount")),
            "recent_days": paid("recent_days"),
            "older_days": paid("older_days"),
            "open_count": open_count,
            "open_days": SQL("COALESCE(%s, 0)::float", paid("open_days")),
            "open_amount": SQL("COALESCE(%s, 0)::float", paid("open_amount")),
            "credit_limit": SQL("COALESCE(%s, 0)", credit_limit),
            # Paid and open overdue invoices together, an open one late by its days overdue.
            "lateness": SQL("COALESCE(%s, 0)", paid("all_days")),
            "late_share": SQL(
                "COALESCE((%s + %s)::float / NULLIF(%s + %s, 0), 0)",
                paid("late_count"),
                open_count,
                paid_count,
                open_count,
            ),
            "trend": SQL("COALESCE(%s - %s, 0)", paid("recent_days"), paid("older_days")),
            "commitments": SQL("(%s + COALESCE(%s, 0))", broken, cases("broken_agreements")),
            "disputes": SQL("COALESCE(%s, 0)", cases("open_disputes")),
            "exposure": SQL("COALESCE(%s / NULLIF(GREATEST(%s, 0), 0), 0)", due, credit_limit),
            "oldest": days,
        }
        for factor, (weight, saturation) in RISK_FACTORS.items():
            columns[f"{factor}_points"] = SQL(
                "(%s * LEAST(GREATEST(%s::float, 0) / %s, 1))",
                weight,
                columns[factor],
                saturation,
            )
        columns["score"] = SQL(
            "ROUND((%s)::numeric, 0)::int",
            SQL(" + ").join(columns[f"{factor}_points"] for factor in RISK_FACTORS),
        )
        return columns

    @api.model
    def _collection_risk_band_sql(self, score):
        bands = sorted(RISK_BAND_FLOORS.items(), key=lambda item: -item[1])
        return SQL(
            "(CASE %s END)",
            SQL(" ").join(
                SQL("WHEN %s >= %s THEN %s", score, floor, band) for band, floor in bands
            ),
        )

    def _collection_field_sql(self, alias, fname, query, partner_ids=None):
        if fname in RISK_FIELDS:
            score = self._collection_risk_columns(alias, query, partner_ids)["score"]
            if fname == "collection_risk_score":
                return score
            return self._collection_risk_band_sql(score)
        expr = super()._collection_field_sql(alias, fname, query, partner_ids)
        if fname == "collection_priority" and self.env.company.collection_priority_risk:
            # The riskiest customers come first: a score of 100 doubles the priority.
            score = self._collection_risk_columns(alias, query, partner_ids)["score"]
            return SQL("ROUND((%s * (1 + %s / 100.0))::numeric, 0)", expr, score)
        return expr

    def _field_to_sql(self, alias, field_expr, query=None):
        if field_expr in RISK_FIELDS:
            if query is None:
                raise ValueError(f"{field_expr} can only be converted to SQL within a query")
            self._check_field_access(self._fields[field_expr], "read")
            return self._collection_field_sql(alias, field_expr, query)
        return super()._field_to_sql(alias, field_expr, query)

    # ------------------------------------------------------------------
    # Compute
    # ------------------------------------------------------------------

    def _collection_risk_factors(self):
        """{partner id: {column: value}} of _collection_risk_columns, in one query for
        all these partners (current company)."""
        partners = self.filtered("id")
        if not partners:
            return {}
        query = partners.with_context(active_test=False)._search(
            [("id", "in", partners.ids)], bypass_access=True
        )
        columns = partners._collection_risk_columns(
            partners._table, query, partner_ids=partners.ids
        )
        names = list(columns)
        rows = self.env.execute_query(
            query.select(SQL.identifier(partners._table, "id"), *columns.values())
        )
        return {row[0]: dict(zip(names, row[1:], strict=True)) for row in rows}

    @api.model
    def _collection_risk_band(self, score):
        return next(
            band
            for band, floor in sorted(RISK_BAND_FLOORS.items(), key=lambda item: -item[1])
            if score >= floor
        )

    @api.depends(*RISK_DEPENDS)
    @api.depends_context("company", "tz")
    def _compute_collection_risk(self):
        # The score of all the partners in one query, put in the cache as it gives them
        # (as the figures are): the factors' explanation is computed only when shown.
        ids = [id_ for id_ in self._ids if id_]
        found = scores = ()
        if ids:
            partners = self.browse(ids)
            query = partners.with_context(active_test=False)._search(
                [("id", "in", ids)], bypass_access=True
            )
            score = partners._collection_risk_columns(partners._table, query, ids)["score"]
            rows = self.env.execute_query(
                query.select(SQL.identifier(partners._table, "id"), score)
            )
            if rows:
                found, scores = zip(*rows, strict=True)
        bands = {score: self._collection_risk_band(score) for score in {0, *scores}}
        missing = set(self._ids).difference(found)
        score_cache = self._fields["collection_risk_score"]._get_cache(self.env)
        score_cache.update(zip(found, scores, strict=True))
        score_cache.update(dict.fromkeys(missing, 0))
        band_cache = self._fields["collection_risk_band"]._get_cache(self.env)
        band_cache.update(zip(found, (bands[score] for score in scores), strict=True))
        band_cache.update(dict.fromkeys(missing, bands[0]))

    @api.depends(*RISK_DEPENDS)
    @api.depends_context("company", "tz", "lang")
    def _compute_collection_risk_html(self):
        factors = self._collection_risk_factors()
        for partner in self:
            values = factors.get(partner.id)
            partner.collection_risk_html = (
                partner._collection_risk_explain(values) if values else False
            )

    @api.model
    def _collection_batch_fields(self):
        return (*super()._collection_batch_fields(), *RISK_FIELDS)

    def _collection_risk_reasons(self, values):
        """[(points, sentence)] explaining the factors of ``values`` (a row of
        _collection_risk_factors) that add to the score, highest first, and, when the
        customer paid nothing in the period, a sentence saying so. The points of lateness
        and late share are split between the paid invoices and the open overdue ones in
        proportion to what each adds to them (days late times amount, late invoices)."""
        _ = self.env._
        reasons = []
        points = {factor: values[f"{factor}_points"] for factor in RISK_FACTORS}
        paid = values["paid_count"]
        unpaid = values["open_count"]
        paid_late_days = values["paid_amount"] * values["paid_days"]
        open_late_days = values["open_amount"] * values["open_days"]
        late_days = paid_late_days + open_late_days
        paid_lateness = points["lateness"] * paid_late_days / late_days if late_days else 0.0
        late = values["late_count"] + unpaid
        paid_late_share = points["late_share"] * values["late_count"] / late if late else 0.0
        if not paid:
            reasons.append((0.0, _("No invoice paid in the last 12 months.")))
        else:
            lateness = round(values["paid_days"])
            if lateness:
                sentence = _("Pays %(days)s days late on average", days=lateness)
            elif unpaid:
                sentence = _("Paid on time in the last 12 months")
            else:
                sentence = _("Pays on time")
            trend = round(values["trend"])
            if values["recent_days"] is not None and values["older_days"] is not None and trend:
                if trend > 0:
                    sentence = _(
                        "%(sentence)s, %(days)s days later than six months before",
                        sentence=sentence,
                        days=trend,
                    )
                else:
                    sentence = _(
                        "%(sentence)s, %(days)s days earlier than six months before",
                        sentence=sentence,
                        days=-trend,
                    )
            reasons.append((paid_lateness + points["trend"], sentence + "."))
            reasons.append(
                (
                    paid_late_share,
                    _(
                        "%(late)s of %(paid)s invoices paid in the last 12 months were paid late.",
                        late=values["late_count"],
                        paid=paid,
                    ),
                )
            )
        if unpaid:
            reasons.append(
                (
                    points["lateness"] - paid_lateness + points["late_share"] - paid_late_share,
                    _(
                        "%(count)s invoices still unpaid, %(days)s days late on average.",
                        count=unpaid,
                        days=round(values["open_days"]),
                    ),
                )
            )
        if values["commitments"]:
            reasons.append(
                (
                    points["commitments"],
                    _(
                        "%(count)s promises or agreements broken in the last 12 months.",
                        count=int(values["commitments"]),
                    ),
                )
            )
        if values["disputes"]:
            reasons.append(
                (
                    points["disputes"],
                    _("%(count)s disputes still open.", count=int(values["disputes"])),
                )
            )
        if values["credit_limit"] > 0:
            reasons.append(
                (
                    points["exposure"],
                    _(
                        "Owes %(share)s%% of its credit limit.",
                        share=round(values["exposure"] * 100),
                    ),
                )
            )
        if values["oldest"]:
            reasons.append(
                (
                    points["oldest"],
                    _("Oldest overdue item %(days)s days past due.", days=values["oldest"]),
                )
            )
        return sorted(reasons, key=lambda reason: -reason[0])

    def _collection_risk_explain(self, values):
        _ = self.env._
        items = Markup("").join(
            Markup("<li>%s <span class='text-muted'>(%s)</span></li>")
            % (sentence, _("+%(points)s points", points=round(points)))
            for points, sentence in self._collection_risk_reasons(values)
        )
        return Markup("<ul class='mb-0 o_collection_risk'>%s</ul>") % items
