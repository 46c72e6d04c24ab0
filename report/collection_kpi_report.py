"""Collection analysis: SQL views behind the collection KPIs (README, "Collection KPIs").

Every view reads the ledger and the collection records at the moment it is queried;
nothing is stored. The customer's collector, stage and status are the current ones of
the row's company (company-dependent fields are JSON objects keyed by company id)."""

from odoo import api, fields, models
from odoo.tools import SQL

from ..models.collection_kpi import OVER_90_DAYS
from ..models.res_partner import COLLECTION_STATUS

# A payment dated within this many days after a collector's contact counts for them.
CONTACT_WINDOW_DAYS = 30
# ... and within this many days, the collector's prompt effect (README, "Analytics").
SHORT_CONTACT_WINDOW_DAYS = 7

PAYMENT_MOVE_CONDITION = (
    "(%(move)s.origin_payment_id IS NOT NULL OR %(move)s.statement_line_id IS NOT NULL)"
)


def payment_move_sql(alias):
    """SQL condition: the journal entry ``alias`` is a payment's or a bank statement
    line's, i.e. money received, not a credit note nor a miscellaneous entry."""
    return SQL(PAYMENT_MOVE_CONDITION, move=SQL.identifier(alias))


def local_date_sql(column, tz):
    """SQL expression: the date in time zone ``tz`` of the UTC timestamp ``column``."""
    return SQL("(%s AT TIME ZONE 'UTC' AT TIME ZONE %s)::date", column, tz)


# What the dimensions of every analysis read (besides the analysis' own sources).
DIMENSION_DEPENDS = {
    "res.company": ["currency_id"],
    "res.partner": [
        "commercial_partner_id",
        "collection_user_id",
        "collection_stage_id",
        "collection_status",
        "category_id",
    ],
}


class CollectionReportMixin(models.AbstractModel):
    """Dimensions shared by the collection analyses: period, company, customer and the
    customer's collector, stage, status and tags."""

    _name = "collection.report.mixin"
    _description = "Collection Analysis Dimensions"

    date = fields.Date(readonly=True)
    company_id = fields.Many2one("res.company", readonly=True)
    currency_id = fields.Many2one("res.currency", readonly=True)
    partner_id = fields.Many2one("res.partner", string="Customer", readonly=True)
    collection_user_id = fields.Many2one(
        "res.users",
        string="Customer's Collector",
        readonly=True,
        help="The collector in charge of the customer today.",
    )
    collection_stage_id = fields.Many2one(
        "collection.stage", string="Collection Stage", readonly=True
    )
    collection_status = fields.Selection(
        COLLECTION_STATUS, string="Collection Status", readonly=True
    )
    category_ids = fields.Many2many(
        "res.partner.category", related="partner_id.category_id", string="Customer Tags"
    )

    @api.model
    def _collection_dimensions_sql(self, row):
        """The columns company_id, currency_id and partner_id of the analysis row ``row``
        (an alias with a company_id and a partner_id) and the customer's collector, stage
        and status in that company: the columns every collection analysis is filtered and
        grouped by. The query joins _collection_dimensions_join(row)."""
        Ledger = self.env["collection.ledger"]
        Partner = self.env["res.partner"]
        company = SQL.identifier(row, "company_id")
        user, stage, status = (
            Ledger._company_dependent_sql(Partner, "partner", fname, company)
            for fname in ("collection_user_id", "collection_stage_id", "collection_status")
        )
        return SQL(
            """%(company)s, company.currency_id, %(partner)s,
               %(user)s AS collection_user_id,
               %(stage)s AS collection_stage_id,
               COALESCE(%(status)s, 'current') AS collection_status""",
            company=company,
            partner=SQL.identifier(row, "partner_id"),
            user=user,
            stage=stage,
            status=status,
        )

    @api.model
    def _collection_dimensions_join(self, row):
        """The joins _collection_dimensions_sql(row) reads: the row's company and customer."""
        return SQL(
            """JOIN res_company company ON company.id = %s
              JOIN res_partner partner ON partner.id = %s""",
            SQL.identifier(row, "company_id"),
            SQL.identifier(row, "partner_id"),
        )

    @api.model
    def _collection_tz(self):
        """Name of the user's time zone: the day of an interaction is the user's day."""
        return self.env.tz.zone


class CollectionReceivableReport(models.Model):
    """One row per company, customer (commercial partner) and month, from the month of
    the customer's first receivable entry to the current month: the month's credit
    sales, credit notes and collections, and the receivables at the month's end."""

    _name = "collection.receivable.report"
    _inherit = ["collection.report.mixin"]
    _description = "Receivables Analysis"
    _auto = False
    _rec_name = "partner_id"
    _order = "date desc, partner_id"

    date = fields.Date(string="Month", readonly=True)
    credit_sales = fields.Monetary(
        readonly=True,
        help="Customer invoices (and sales receipts) dated in the month: their receivable "
        "amount, taxes included, in company currency.",
    )
    credit_notes = fields.Monetary(
        readonly=True, help="Customer credit notes dated in the month, taxes included."
    )
    collected = fields.Monetary(
        readonly=True,
        help="Payments matched with the customer's receivables whose matching is dated in "
        "the month (the later of the payment's and the invoice's dates). Credit notes "
        "are not collections.",
    )
    ar_balance = fields.Monetary(
        string="Receivables",
        readonly=True,
        help="Receivables at the end of the month (today for the current month): the "
        "balance of the posted receivable entries dated until then.",
    )
    ar_current = fields.Monetary(
        string="Current",
        readonly=True,
        help="Receivables at the end of the month that were not overdue: not yet due, net "
        "of unapplied payments and credit notes.",
    )
    ar_overdue = fields.Monetary(
        string="Overdue",
        readonly=True,
        help="What remained unpaid at the end of the month of the items due before it.",
    )
    ar_over_90 = fields.Monetary(
        string="Over 90 Days",
        readonly=True,
        help="What remained unpaid at the end of the month of the items due more than 90 "
        "days before it.",
    )

    _depends = {
        "account.move.line": [
            "parent_state",
            "account_id",
            "company_id",
            "partner_id",
            "date",
            "date_maturity",
            "balance",
            "move_id",
        ],
        "account.move": ["move_type", "origin_payment_id", "statement_line_id"],
        "account.partial.reconcile": ["amount", "max_date", "debit_move_id", "credit_move_id"],
        "account.account": ["account_type"],
        **DIMENSION_DEPENDS,
    }

    @api.model
    def _ledger_events_sql(self, company_ids=None, partner_query=None):
        """The ledger as dated events, one query for any number of customers: columns
        company_id, partner_id (commercial partner), event_date and the amounts it
        adds from that day on (stocks: ``ar``, ``overdue``, ``over_90``) or on that day
        (flows: ``credit_sales``, ``credit_notes``, ``collected``).

        A posted receivable entry adds its balance to ``ar`` on its date. A debit item
        (an invoice) adds its amount to ``overdue`` the day after it falls due (and to
        ``over_90`` 91 days after), and each matching of it (account.partial.reconcile)
        takes the matched amount off from its date (``max_date``, the later of the two
        entries' dates) or from the day the item falls overdue, whichever is later. So
        the overdue amount at a date is the sum, over the items due before it, of their
        amount less what was matched with them until that date.

        ``company_ids`` and ``partner_query`` (a query on res.partner; the events of
        the commercial partners it selects) restrict the events."""
        filters = []
        if company_ids is not None:
            filters.append(SQL("aml.company_id IN %s", tuple(company_ids) or (0,)))
        if partner_query is not None:
            filters.append(SQL("partner.commercial_partner_id IN %s", partner_query.subselect()))
        restrict = SQL().join(SQL(" AND %s", condition) for condition in filters)
        return SQL(
            """
            WITH receivable AS (
                SELECT aml.id,
                       aml.company_id,
                       partner.commercial_partner_id AS partner_id,
                       aml.date,
                       COALESCE(aml.date_maturity, aml.date) AS due,
                       aml.balance,
                       move.move_type
                  FROM account_move_line aml
                  JOIN account_move move ON move.id = aml.move_id
                  JOIN res_partner partner ON partner.id = aml.partner_id
                 WHERE %(receivable)s
                   %(restrict)s
            )
            SELECT r.company_id, r.partner_id, event.*
              FROM receivable r
             CROSS JOIN LATERAL (VALUES
                   (r.date, r.balance,
                    CASE WHEN r.move_type IN ('out_invoice', 'out_receipt')
                         THEN r.balance ELSE 0.0 END,
                    CASE WHEN r.move_type = 'out_refund' THEN -r.balance ELSE 0.0 END,
                    0.0, 0.0, 0.0),
                   (GREATEST(r.date, r.due + 1), 0.0, 0.0, 0.0, 0.0, GREATEST(r.balance, 0.0), 0.0),
                   (GREATEST(r.date, r.due + %(over_90)s), 0.0, 0.0, 0.0, 0.0, 0.0,
                    GREATEST(r.balance, 0.0))
                   ) AS event(event_date, ar, credit_sales, credit_notes, collected, overdue,
                              over_90)
            UNION ALL
            SELECT r.company_id, r.partner_id, event.*
              FROM account_partial_reconcile apr
              JOIN receivable r ON r.id = apr.debit_move_id AND r.balance > 0
              JOIN account_move_line counterpart ON counterpart.id = apr.credit_move_id
              JOIN account_move counterpart_move ON counterpart_move.id = counterpart.move_id
             CROSS JOIN LATERAL (VALUES
                   (apr.max_date, 0.0, 0.0, 0.0,
                    CASE WHEN %(is_payment)s THEN apr.amount ELSE 0.0 END, 0.0, 0.0),
                   (GREATEST(apr.max_date, r.due + 1), 0.0, 0.0, 0.0, 0.0, -apr.amount, 0.0),
                   (GREATEST(apr.max_date, r.due + %(over_90)s), 0.0, 0.0, 0.0, 0.0, 0.0,
                    -apr.amount)
                   ) AS event(event_date, ar, credit_sales, credit_notes, collected, overdue,
                              over_90)
            """,
            receivable=self.env["collection.ledger"]._receivable_condition(),
            restrict=restrict,
            over_90=OVER_90_DAYS + 1,
            is_payment=payment_move_sql("counterpart_move"),
        )

    @property
    def _table_query(self):
        today = fields.Date.context_today(self)
        return SQL(
            """
            WITH events AS (%(events)s),
            monthly AS (
                SELECT company_id, partner_id, date_trunc('month', event_date)::date AS month,
                       SUM(ar) AS ar, SUM(credit_sales) AS credit_sales,
                       SUM(credit_notes) AS credit_notes, SUM(collected) AS collected,
                       SUM(overdue) AS overdue, SUM(over_90) AS over_90
                  FROM events
                 WHERE event_date <= %(today)s
                 GROUP BY 1, 2, 3
            ),
            months AS (
                SELECT book.company_id, book.partner_id, month::date AS month
                  FROM (SELECT company_id, partner_id, MIN(month) AS first_month
                          FROM monthly
                         GROUP BY 1, 2) book
                 CROSS JOIN LATERAL generate_series(
                       book.first_month, date_trunc('month', %(today)s::date), interval '1 month'
                       ) AS month
            ),
            running AS (
                SELECT months.company_id, months.partner_id, months.month,
                       COALESCE(monthly.credit_sales, 0) AS credit_sales,
                       COALESCE(monthly.credit_notes, 0) AS credit_notes,
                       COALESCE(monthly.collected, 0) AS collected,
                       SUM(COALESCE(monthly.ar, 0)) OVER book AS ar_balance,
                       SUM(COALESCE(monthly.overdue, 0)) OVER book AS ar_overdue,
                       SUM(COALESCE(monthly.over_90, 0)) OVER book AS ar_over_90
                  FROM months
                  LEFT JOIN monthly ON monthly.company_id = months.company_id
                                   AND monthly.partner_id = months.partner_id
                                   AND monthly.month = months.month
                WINDOW book AS (PARTITION BY months.company_id, months.partner_id
                                ORDER BY months.month)
            )
            SELECT ROW_NUMBER() OVER (ORDER BY r.company_id, r.partner_id, r.month) AS id,
                   r.month AS date,
                   %(dimensions)s,
                   r.credit_sales,
                   r.credit_notes,
                   r.collected,
                   r.ar_balance,
                   r.ar_balance - r.ar_overdue AS ar_current,
                   r.ar_overdue,
                   r.ar_over_90
              FROM running r
              %(dimensions_join)s
             WHERE r.credit_sales != 0 OR r.credit_notes != 0 OR r.collected != 0
                OR r.ar_balance != 0 OR r.ar_overdue != 0
            """,
            events=self._ledger_events_sql(),
            today=today,
            dimensions=self._collection_dimensions_sql("r"),
            dimensions_join=self._collection_dimensions_join("r"),
        )


class CollectionPromiseReport(models.Model):
    """One row per promise to pay (cancelled ones left out), dated by the promised date,
    with the customer's portfolio dimensions and a kept rate measure. A promise counts
    as made on the day it was made (``date_made``) and falls due on its date."""

    _name = "collection.promise.report"
    _inherit = ["collection.report.mixin"]
    _description = "Promises to Pay Analysis"
    _auto = False
    _rec_name = "promise_id"
    _order = "date desc, id desc"

    date = fields.Date(string="Promised Date", readonly=True)
    date_made = fields.Date(string="Made On", readonly=True)
    date_closed = fields.Date(string="Closed On", readonly=True)
    promise_id = fields.Many2one("collection.promise", string="Promise", readonly=True)
    user_id = fields.Many2one(
        "res.users", string="Collector", readonly=True, help="Who obtained the promise."
    )
    state = fields.Selection(
        [("open", "Open"), ("kept", "Kept"), ("partial", "Partly Kept"), ("broken", "Broken")],
        readonly=True,
    )
    amount = fields.Monetary(string="Amount Promised", readonly=True)
    amount_paid = fields.Monetary(readonly=True)
    kept_count = fields.Integer(string="Kept", readonly=True)
    partial_count = fields.Integer(string="Partly Kept", readonly=True)
    broken_count = fields.Integer(string="Broken", readonly=True)
    kept_rate = fields.Float(
        string="Kept Rate (%)",
        readonly=True,
        aggregator="avg",
        help="Kept promises out of the promises kept, partly kept or broken; open "
        "promises do not count.",
    )

    _depends = {
        "collection.promise": [
            "partner_id",
            "company_id",
            "user_id",
            "date",
            "date_made",
            "date_closed",
            "state",
            "amount",
            "amount_paid",
        ],
        **DIMENSION_DEPENDS,
    }

    @property
    def _table_query(self):
        return SQL(
            """
            SELECT promise.id,
                   promise.id AS promise_id,
                   promise.date,
                   promise.date_made,
                   promise.date_closed,
                   %(dimensions)s,
                   promise.user_id,
                   promise.state,
                   promise.amount,
                   COALESCE(promise.amount_paid, 0) AS amount_paid,
                   (promise.state = 'kept')::int AS kept_count,
                   (promise.state = 'partial')::int AS partial_count,
                   (promise.state = 'broken')::int AS broken_count,
                   CASE WHEN promise.state = 'kept' THEN 100.0
                        WHEN promise.state IN ('partial', 'broken') THEN 0.0
                   END AS kept_rate
              FROM collection_promise promise
              %(dimensions_join)s
             WHERE promise.state != 'cancelled'
            """,
            dimensions=self._collection_dimensions_sql("promise"),
            dimensions_join=self._collection_dimensions_join("promise"),
        )


class CollectionDisputeReport(models.Model):
    """One row per dispute (``collection.dispute``): opened on its opening day, closed
    on the day it was resolved, with the interactions that opened and closed it."""

    _name = "collection.dispute.report"
    _inherit = ["collection.report.mixin"]
    _description = "Disputes Analysis"
    _auto = False
    _rec_name = "partner_id"
    _order = "date desc, id desc"

    date = fields.Date(string="Opened On", readonly=True)
    date_closed = fields.Date(string="Closed On", readonly=True)
    dispute_id = fields.Many2one("collection.dispute", string="Dispute", readonly=True)
    interaction_id = fields.Many2one(
        "collection.interaction", string="Opening Interaction", readonly=True
    )
    closing_interaction_id = fields.Many2one(
        "collection.interaction", string="Closing Interaction", readonly=True
    )
    user_id = fields.Many2one(
        "res.users", string="Opened By", readonly=True, help="Who logged the opening interaction."
    )
    state = fields.Selection([("open", "Open"), ("closed", "Closed")], readonly=True)
    dispute_count = fields.Integer(string="Disputes", readonly=True)
    cycle_days = fields.Float(
        string="Cycle Time (Days)",
        readonly=True,
        aggregator="avg",
        digits=(16, 1),
        help="Days from the opening of the dispute to its resolution; empty while it is open.",
    )

    _depends = {
        "collection.dispute": [
            "partner_id",
            "company_id",
            "state",
            "date_open",
            "date_resolved",
        ],
        "collection.interaction": ["dispute_id", "user_id", "active"],
        **DIMENSION_DEPENDS,
    }

    @property
    def _table_query(self):
        return SQL(
            """
            SELECT dispute.id,
                   dispute.id AS dispute_id,
                   opening.id AS interaction_id,
                   closing.id AS closing_interaction_id,
                   dispute.date_open AS date,
                   closing.date_resolved AS date_closed,
                   %(dimensions)s,
                   opening.user_id,
                   CASE WHEN dispute.state = 'resolved' THEN 'closed' ELSE 'open' END AS state,
                   1 AS dispute_count,
                   (closing.date_resolved - dispute.date_open)::float AS cycle_days
              FROM collection_dispute dispute
              %(dimensions_join)s
              LEFT JOIN LATERAL (
                   SELECT interaction.id, interaction.user_id
                     FROM collection_interaction interaction
                    WHERE interaction.dispute_id = dispute.id
                      AND interaction.active
                    ORDER BY interaction.date, interaction.id
                    LIMIT 1
                   ) opening ON TRUE
              LEFT JOIN LATERAL (
                   SELECT interaction.id, dispute.date_resolved
                     FROM (SELECT 1) resolved
                     LEFT JOIN collection_interaction interaction
                            ON interaction.dispute_id = dispute.id
                           AND interaction.active
                           AND interaction.id != opening.id
                    WHERE dispute.state = 'resolved'
                    ORDER BY interaction.date DESC, interaction.id DESC
                    LIMIT 1
                   ) closing ON TRUE
            """,
            dimensions=self._collection_dimensions_sql("dispute"),
            dimensions_join=self._collection_dimensions_join("dispute"),
        )


class CollectionCollectorReport(models.Model):
    """What each collector did and obtained: one row per interaction they logged, per
    promise they obtained (dated when made), per promise of theirs that was kept (dated
    by its promised date) and per payment matched with their customer's invoices within
    30 days after one of their interactions with that customer (dated by the payment)."""

    _name = "collection.collector.report"
    _inherit = ["collection.report.mixin"]
    _description = "Collectors Analysis"
    _auto = False
    _rec_name = "user_id"
    _order = "date desc, id desc"

    user_id = fields.Many2one("res.users", string="Collector", readonly=True)
    kind = fields.Selection(
        [
            ("interaction", "Interaction"),
            ("promise", "Promise Obtained"),
            ("kept", "Promise Kept"),
            ("collected", "Collected after Contact"),
        ],
        readonly=True,
    )
    interaction_count = fields.Integer(string="Interactions", readonly=True)
    promise_count = fields.Integer(string="Promises Obtained", readonly=True)
    promise_amount = fields.Monetary(string="Amount Promised", readonly=True)
    kept_count = fields.Integer(string="Promises Kept", readonly=True)
    kept_amount = fields.Monetary(string="Amount of Kept Promises", readonly=True)
    collected_after_contact = fields.Monetary(
        string="Collected within 30 Days of a Contact",
        readonly=True,
        help="Payments matched with the customer's invoices and dated within 30 days after "
        "an interaction of the collector with the customer. A payment counts once per "
        "collector, for every collector who contacted the customer in those 30 days.",
    )
    collected_within_7_days = fields.Monetary(
        string="Collected within 7 Days of a Contact",
        readonly=True,
        help="Payments matched with the customer's invoices and dated within 7 days after "
        "an interaction of the collector with the customer (counted as the 30 days' are).",
    )

    _depends = {
        "collection.interaction": [
            "partner_id",
            "company_id",
            "user_id",
            "date",
            "automatic",
            "active",
        ],
        "collection.promise": [
            "partner_id",
            "company_id",
            "user_id",
            "date",
            "date_made",
            "state",
            "amount",
        ],
        "account.move.line": [
            "parent_state",
            "account_id",
            "company_id",
            "partner_id",
            "date",
            "balance",
            "move_id",
        ],
        "account.move": ["origin_payment_id", "statement_line_id"],
        "account.partial.reconcile": ["amount", "debit_move_id", "credit_move_id"],
        "account.account": ["account_type"],
        **DIMENSION_DEPENDS,
    }

    @property
    def _table_query(self):
        tz = self._collection_tz()
        contact_date = local_date_sql(SQL("interaction.date"), tz)
        return SQL(
            """
            WITH contact AS (
                SELECT interaction.id, interaction.company_id, interaction.partner_id,
                       interaction.user_id, %(contact_date)s AS date
                  FROM collection_interaction interaction
                 WHERE interaction.active
                   AND interaction.user_id IS NOT NULL
                   AND interaction.automatic IS NOT TRUE
            ),
            activity AS (
                SELECT 'interaction' AS kind, contact.id AS source_id, contact.company_id,
                       contact.partner_id, contact.user_id, contact.date,
                       1 AS interaction_count, 0 AS promise_count, 0.0 AS promise_amount,
                       0 AS kept_count, 0.0 AS kept_amount, 0.0 AS collected_after_contact,
                       0.0 AS collected_within_7_days
                  FROM contact
                UNION ALL
                SELECT 'promise', promise.id, promise.company_id, promise.partner_id,
                       promise.user_id, promise.date_made,
                       0, 1, promise.amount, 0, 0.0, 0.0, 0.0
                  FROM collection_promise promise
                 WHERE promise.state != 'cancelled' AND promise.user_id IS NOT NULL
                UNION ALL
                SELECT 'kept', promise.id, promise.company_id, promise.partner_id,
                       promise.user_id, promise.date,
                       0, 0, 0.0, 1, promise.amount, 0.0, 0.0
                  FROM collection_promise promise
                 WHERE promise.state = 'kept' AND promise.user_id IS NOT NULL
                UNION ALL
                SELECT 'collected', apr.id, invoice_line.company_id,
                       invoice_partner.commercial_partner_id, contact.user_id, payment_line.date,
                       0, 0, 0.0, 0, 0.0, apr.amount,
                       CASE WHEN BOOL_OR(payment_line.date <= contact.date + %(window_7)s)
                            THEN apr.amount ELSE 0.0 END
                  FROM account_partial_reconcile apr
                  JOIN account_move_line invoice_line ON invoice_line.id = apr.debit_move_id
                  JOIN res_partner invoice_partner ON invoice_partner.id = invoice_line.partner_id
                  JOIN account_move_line payment_line ON payment_line.id = apr.credit_move_id
                  JOIN account_move payment_move ON payment_move.id = payment_line.move_id
                  JOIN contact ON contact.company_id = invoice_line.company_id
                              AND contact.partner_id = invoice_partner.commercial_partner_id
                              AND payment_line.date >= contact.date
                              AND payment_line.date <= contact.date + %(window)s
                 WHERE %(receivable)s
                   AND invoice_line.balance > 0
                   AND %(is_payment)s
                 GROUP BY apr.id, invoice_line.company_id, invoice_partner.commercial_partner_id,
                          contact.user_id, payment_line.date, apr.amount
            )
            SELECT ROW_NUMBER() OVER (ORDER BY activity.kind, activity.source_id,
                                      activity.user_id) AS id,
                   activity.kind,
                   activity.date,
                   %(dimensions)s,
                   activity.user_id,
                   activity.interaction_count,
                   activity.promise_count,
                   activity.promise_amount,
                   activity.kept_count,
                   activity.kept_amount,
                   activity.collected_after_contact,
                   activity.collected_within_7_days
              FROM activity
              %(dimensions_join)s
            """,
            contact_date=contact_date,
            window=CONTACT_WINDOW_DAYS,
            window_7=SHORT_CONTACT_WINDOW_DAYS,
            receivable=self.env["collection.ledger"]._receivable_condition(alias="invoice_line"),
            is_payment=payment_move_sql("payment_move"),
            dimensions=self._collection_dimensions_sql("activity"),
            dimensions_join=self._collection_dimensions_join("activity"),
        )
