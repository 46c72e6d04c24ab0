import bisect
from datetime import date, timedelta

from dateutil.relativedelta import relativedelta

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.fields import Domain
from odoo.tools import SQL, date_utils

# The ledger's dated events (collection.receivable.report._ledger_events_sql).
LEDGER_COLUMNS = ("ar", "credit_sales", "credit_notes", "collected", "overdue", "over_90")


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
        """The company's ledger events until ``date_to``, summed per day (one query)."""
        Report = self.env["collection.receivable.report"]
        for model, fnames in Report._depends.items():
            self.env[model].flush_model(fnames)
        # The user may read the receivables analysis (checked by the caller); the
        # events are those of the current company and of the customers selected above.
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
