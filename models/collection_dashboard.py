from datetime import timedelta

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.fields import Domain
from odoo.tools import SQL, date_utils

# Periods of the dashboard's KPI cards; each runs from its first day to today.
PERIODS = ("month", "last_30_days", "quarter", "year")

# How many customers the "Top Overdue Customers" card lists.
TOP_OVERDUE_LIMIT = 5
# How many promises the "Promises Due This Week" card lists (its count covers them all).
PROMISE_LIST_LIMIT = 6


class CollectionDashboard(models.AbstractModel):
    """The Collections dashboard, landing page of the app: KPI cards with their trend
    against the previous period, the aging of the open receivables, the promises due
    this week and the customers who owe the most. A collector sees the figures of their
    own portfolio when the company restricts collectors to it, a manager everything;
    every card carries the action opening the records behind its figure."""

    _name = "collection.dashboard"
    _description = "Collections Dashboard"

    @api.model
    @api.readonly
    def get_dashboard_data(self, period="last_30_days"):
        """Everything the dashboard shows, for the current company and user, in the
        company currency. ``period`` (one of ``PERIODS``) is the period of the KPI
        cards; the other cards show the book as it stands today."""
        self._dashboard_check_access()
        if period not in PERIODS:
            raise UserError(
                self.env._(
                    "Unknown dashboard period %(period)s. Choose one of: %(periods)s.",
                    period=period,
                    periods=", ".join(PERIODS),
                )
            )
        company = self.env.company
        today = fields.Date.context_today(self)
        date_from, date_to = self._dashboard_period_dates(period, today)
        portfolio_only = self._dashboard_portfolio_only()
        # The worklist action applies the portfolio restriction: the customer cards
        # count exactly the rows the worklist shows with the card's filter.
        worklist = self.env["res.partner"].action_collection_worklist()
        return {
            "period": period,
            "date_from": fields.Date.to_string(date_from),
            "date_to": fields.Date.to_string(date_to),
            "currency_id": company.currency_id.id,
            "portfolio_only": portfolio_only,
            "kpis": self._dashboard_kpis(date_from, date_to, worklist),
            "customers": self._dashboard_customer_cards(worklist, today),
            "aging": self._dashboard_aging(portfolio_only, today),
            "promises": self._dashboard_promises(today),
            "top_overdue": self._dashboard_top_overdue(worklist),
        }

    # ------------------------------------------------------------------
    # Scope
    # ------------------------------------------------------------------

    @api.model
    def _dashboard_check_access(self):
        if not self.env.su and not self.env.user.has_group(
            "account_collection.group_collection_user"
        ):
            raise AccessError(self.env._("The Collections dashboard is for collection users."))

    @api.model
    def _dashboard_portfolio_only(self):
        """Whether the figures are those of the user's own portfolio: the rule of the
        worklist (res.partner.action_collection_worklist), collectors who are not
        managers in a company restricting collectors to their portfolio."""
        return bool(
            self.env.company.collection_portfolio_restricted
            and not self.env.user.has_group("account_collection.group_collection_manager")
        )

    @api.model
    def _dashboard_period_dates(self, period, today):
        if period == "last_30_days":
            return today - timedelta(days=29), today
        return date_utils.start_of(today, period), today

    # ------------------------------------------------------------------
    # KPI cards
    # ------------------------------------------------------------------

    @api.model
    def _dashboard_kpis(self, date_from, date_to, worklist):
        """The KPI cards: the value of the period, the value of the previous period and
        whether a rise is good news (DSO going up is not). The KPI service applies the
        portfolio rule itself."""
        kpis = self.env["collection.kpi"].get_kpis(date_from, date_to)
        previous = kpis.get("previous") or {}
        receivables = self._dashboard_receivables_action(date_from, date_to)
        cards = [
            (
                "dso",
                self.env._("DSO"),
                "days",
                False,
                self.env._(
                    "Days sales outstanding: how many days of credit sales the receivables "
                    "represent (countback method)."
                ),
                receivables,
            ),
            (
                "cei",
                self.env._("Collection Effectiveness"),
                "percent",
                True,
                self.env._(
                    "What was collected in the period out of what could have been collected."
                ),
                receivables,
            ),
            (
                "add",
                self.env._("Average Days Delinquent"),
                "days",
                False,
                self.env._(
                    "Days sales outstanding beyond the best possible: how late customers pay."
                ),
                receivables,
            ),
            (
                "overdue_share",
                self.env._("Receivables Overdue"),
                "percent",
                False,
                self.env._("Share of the receivables past their due date."),
                self._dashboard_worklist_action(
                    worklist, self.env._("Overdue Customers"), "overdue"
                ),
            ),
            (
                "over_90_share",
                self.env._("Receivables Over 90 Days"),
                "percent",
                False,
                self.env._("Share of the receivables more than 90 days past their due date."),
                self._dashboard_worklist_action(
                    worklist, self.env._("Over 90 Days"), "over_90_days"
                ),
            ),
            (
                "recovered",
                self.env._("Recovered"),
                "monetary",
                True,
                self.env._("Payments matched with the customers' receivables in the period."),
                receivables,
            ),
            (
                "kept_rate",
                self.env._("Promises Kept"),
                "percent",
                True,
                self.env._(
                    "Share of the promises falling due in the period and closed that were kept."
                ),
                self._dashboard_promises_action(
                    self.env._("Promises Falling Due"), date_from, date_to, open_only=False
                ),
            ),
        ]
        return [
            {
                "key": key,
                "label": label,
                "help": help_text,
                "format": value_format,
                "value": kpis.get(key),
                "previous": previous.get(key),
                "trend": self._dashboard_trend(kpis.get(key), previous.get(key)),
                "higher_is_better": higher_is_better,
                "action": action,
            }
            for key, label, value_format, higher_is_better, help_text, action in cards
        ]

    @api.model
    def _dashboard_receivables_action(self, date_from, date_to):
        """The receivables analysis (credit sales, collections and receivables per
        customer and month) of the months of the period."""
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "account_collection.collection_receivable_report_action"
        )
        action["domain"] = [
            ("date", ">=", fields.Date.to_string(date_utils.start_of(date_from, "month"))),
            ("date", "<=", fields.Date.to_string(date_to)),
        ]
        action["context"] = {}
        return action

    @api.model
    def _dashboard_trend(self, value, previous):
        if value is None or previous is None or value is False or previous is False:
            return False
        if round(value - previous, 6) > 0:
            return "up"
        if round(value - previous, 6) < 0:
            return "down"
        return "flat"

    # ------------------------------------------------------------------
    # Customer cards
    # ------------------------------------------------------------------

    @api.model
    def _dashboard_customer_cards(self, worklist, today):
        """Counts of the worklist's customers under its filters Overdue, Over 90 Days,
        Next Action Due, Broken Promise and Dispute, in one query over the ledger."""
        Partner = self.env["res.partner"]
        alias = Partner._table
        query = Partner._search(Domain(worklist["domain"]))

        def expr(fname):
            return Partner._field_to_sql(alias, fname, query)

        overdue = expr("collection_overdue_amount")
        days = expr("collection_days_overdue")
        self.env["collection.reply"].flush_model(["partner_id", "state", "company_id"])
        rows = self.env.execute_query(
            query.select(
                SQL("COUNT(*)"),
                SQL("COALESCE(SUM(%s), 0)", expr("collection_due_amount")),
                SQL("COUNT(*) FILTER (WHERE %s > 0)", overdue),
                SQL("COALESCE(SUM(%s), 0)", overdue),
                SQL("COUNT(*) FILTER (WHERE %s > 90)", days),
                SQL("COALESCE(SUM(%s) FILTER (WHERE %s > 90), 0)", overdue, days),
                SQL("COUNT(*) FILTER (WHERE %s <= %s)", expr("collection_next_action_date"), today),
                SQL("COUNT(*) FILTER (WHERE %s > 0)", expr("collection_broken_promise_count")),
                SQL("COUNT(*) FILTER (WHERE %s = 'dispute')", expr("collection_status")),
                SQL(
                    """COUNT(*) FILTER (WHERE EXISTS (
                        SELECT 1 FROM collection_reply r
                         WHERE r.partner_id = %s AND r.state = 'new' AND r.company_id = %s))""",
                    SQL.identifier(alias, "id"),
                    self.env.company.id,
                ),
            )
        )
        (
            due_count,
            due_amount,
            overdue_count,
            overdue_amount,
            over_90_count,
            over_90_amount,
            next_action_count,
            broken_count,
            dispute_count,
            replies_count,
        ) = rows[0]
        cards = [
            ("due", self.env._("Customers to Collect"), due_count, due_amount, None),
            ("overdue", self.env._("Customers Overdue"), overdue_count, overdue_amount, "overdue"),
            (
                "over_90_days",
                self.env._("Customers Over 90 Days"),
                over_90_count,
                over_90_amount,
                "over_90_days",
            ),
            (
                "next_action_due",
                self.env._("Next Action Due"),
                next_action_count,
                None,
                "next_action_due",
            ),
            ("broken_promise", self.env._("Broken Promises"), broken_count, None, "broken_promise"),
            ("dispute", self.env._("In Dispute"), dispute_count, None, "dispute"),
            (
                "replies_to_read",
                self.env._("Replies to Read"),
                replies_count,
                None,
                "replies_to_read",
            ),
        ]
        return [
            {
                "key": key,
                "label": label,
                "count": count,
                "amount": float(amount) if amount is not None else None,
                "action": self._dashboard_worklist_action(worklist, label, search_filter),
            }
            for key, label, count, amount, search_filter in cards
        ]

    @api.model
    def _dashboard_worklist_action(self, worklist, name, search_filter=None):
        """The worklist with one of its search filters on (a facet the user can remove)."""
        return dict(
            worklist,
            name=name,
            context={f"search_default_{search_filter}": 1} if search_filter else {},
        )

    # ------------------------------------------------------------------
    # Aging
    # ------------------------------------------------------------------

    @api.model
    def _dashboard_aging(self, portfolio_only, today):
        """The open receivables per aging bucket, in one aggregate: every open item in
        the bucket of its own due date, credits included, so that the bars add up to
        the total due (the customers' Aging of their Collections tab, summed)."""
        company = self.env.company
        Partner = self.env["res.partner"]
        Bucket = self.env["collection.aging.bucket"]
        buckets = Bucket.search([("company_id", "=", company.id)])
        partners = None
        if portfolio_only:
            portfolio = Partner.with_context(active_test=False)._search(
                [("collection_user_id", "=", self.env.uid)]
            )
            partners = portfolio.subselect()
        amounts = dict(
            self.env.execute_query(
                self.env["collection.ledger"]._aging_sql(company, today, partners=partners)
            )
        )
        bars = [
            {
                "bucket_id": bucket.id,
                "name": bucket.name,
                "amount": float(amounts.get(bucket.id) or 0.0),
                "action": self._dashboard_aging_action(bucket),
            }
            for bucket in buckets
        ]
        return {
            "total": sum(bar["amount"] for bar in bars),
            "bars": bars,
        }

    @api.model
    def _dashboard_aging_action(self, bucket):
        """The aged receivables (the open items, each in the bucket of its own due
        date) of one bucket, as a facet the user can remove."""
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "account_collection.collection_aged_receivable_report_action"
        )
        action["name"] = self.env._("Aging: %(bucket)s", bucket=bucket.name)
        action["views"] = [[False, "list"], [False, "pivot"], [False, "graph"]]
        action["domain"] = []
        action["context"] = {"search_default_bucket_id": bucket.id}
        return action

    # ------------------------------------------------------------------
    # Promises
    # ------------------------------------------------------------------

    @api.model
    def _dashboard_promises(self, today):
        """The open promises whose date falls in the current week (Monday to Sunday),
        those the user may read (their portfolio's when the company restricts it)."""
        week_start = date_utils.start_of(today, "week")
        week_end = week_start + timedelta(days=6)
        domain = [("state", "=", "open"), ("date", ">=", week_start), ("date", "<=", week_end)]
        Promise = self.env["collection.promise"]
        [(count, amount)] = Promise._read_group(domain, [], ["__count", "amount:sum"])
        promises = Promise.search(domain, order="date, id", limit=PROMISE_LIST_LIMIT)
        return {
            "count": count,
            "amount": amount or 0.0,
            "date_from": fields.Date.to_string(week_start),
            "date_to": fields.Date.to_string(week_end),
            "records": [
                {
                    "id": promise.id,
                    "partner": promise.partner_id.display_name,
                    "date": fields.Date.to_string(promise.date),
                    "amount": promise.amount,
                    "overdue": promise.date < today,
                    "action": {
                        "type": "ir.actions.act_window",
                        "res_model": "collection.promise",
                        "res_id": promise.id,
                        "views": [[False, "form"]],
                    },
                }
                for promise in promises
            ],
            "action": self._dashboard_promises_action(
                self.env._("Promises Due This Week"), week_start, week_end
            ),
        }

    @api.model
    def _dashboard_promises_action(self, name, date_from, date_to, open_only=True):
        """The promises to pay falling due from ``date_from`` to ``date_to``; only the
        open ones (a facet the user can remove) when ``open_only``."""
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "account_collection.collection_promise_action"
        )
        action["name"] = name
        action["domain"] = [
            ("date", ">=", fields.Date.to_string(date_from)),
            ("date", "<=", fields.Date.to_string(date_to)),
        ]
        action["context"] = {"search_default_open": 1} if open_only else {}
        return action

    # ------------------------------------------------------------------
    # Top overdue customers
    # ------------------------------------------------------------------

    @api.model
    def _dashboard_top_overdue(self, worklist):
        """The worklist's customers owing the most overdue, highest first."""
        Partner = self.env["res.partner"]
        partners = Partner.search(
            Domain(worklist["domain"]) & Domain("collection_overdue_amount", ">", 0),
            order="collection_overdue_amount desc, id",
            limit=TOP_OVERDUE_LIMIT,
        )
        status_labels = dict(Partner._fields["collection_status"]._description_selection(self.env))
        return {
            "records": [
                {
                    "id": partner.id,
                    "name": partner.display_name,
                    "overdue_amount": partner.collection_overdue_amount,
                    "days_overdue": partner.collection_days_overdue,
                    "status": partner.collection_status,
                    "status_label": status_labels.get(partner.collection_status, ""),
                    "collector": partner.collection_user_id.display_name or "",
                    "action": {
                        "type": "ir.actions.act_window",
                        "res_model": "res.partner",
                        "res_id": partner.id,
                        "views": [[False, "form"]],
                    },
                }
                for partner in partners
            ],
            "action": self._dashboard_worklist_action(
                worklist, self.env._("Overdue Customers"), "overdue"
            ),
        }
