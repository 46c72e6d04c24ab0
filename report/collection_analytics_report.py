"""Collection analytics: the recovery curve and the effectiveness of the reminders
(README, "Analytics"). SQL views read when queried, like the collection analyses of
collection_kpi_report.py, with the same customer dimensions and record rules."""

from odoo import api, fields, models
from odoo.tools import SQL

from .collection_kpi_report import DIMENSION_DEPENDS, local_date_sql, payment_move_sql

# The age buckets of the recovery curve, in days past the due date: (code, label, first
# day, last day; None: no end). The codes sort in the buckets' order.
RECOVERY_BUCKETS = [
    ("000_030", "0-30 days", 0, 30),
    ("031_060", "31-60 days", 31, 60),
    ("061_090", "61-90 days", 61, 90),
    ("091_180", "91-180 days", 91, 180),
    ("181_360", "181-360 days", 181, 360),
    ("361_up", "Over 360 days", 361, None),
]
# A payment within this many days after a reminder counts as paid after it.
EFFECT_WINDOW_DAYS = 7

# What the two analyses read of the ledger.
LEDGER_DEPENDS = {
    "account.move.line": [
        "parent_state",
        "account_id",
        "company_id",
        "partner_id",
        "date",
        "date_maturity",
        "balance",
        "reconciled",
        "move_id",
    ],
    "account.move": ["origin_payment_id", "statement_line_id"],
    "account.partial.reconcile": ["amount", "max_date", "debit_move_id", "credit_move_id"],
    "account.account": ["account_type"],
}


def matchings_sql(items, until=None):
    """SQL: the matchings (account.partial.reconcile) of the receivable items of the CTE
    ``items`` (an identifier with an ``id`` column), dated until ``until`` if given: the
    item, the matching's date (the later of the two entries' dates), its amount, and
    whether it was money received (``collected``) rather than a credit note or a
    write-off."""
    return SQL(
        """
        SELECT apr.debit_move_id AS item_id, apr.max_date AS date, apr.amount,
               %(is_payment)s AS collected
          FROM account_partial_reconcile apr
          JOIN account_move_line counterpart ON counterpart.id = apr.credit_move_id
          JOIN account_move counterpart_move ON counterpart_move.id = counterpart.move_id
         WHERE apr.debit_move_id IN (SELECT id FROM %(items)s)
           %(until)s
        """,
        is_payment=payment_move_sql("counterpart_move"),
        items=SQL.identifier(items),
        until=SQL("AND apr.max_date <= %s", until) if until else SQL(),
    )


class CollectionRatioMixin(models.AbstractModel):
    """Measures that are ratios of sums: ``_ratio_measures`` maps a measure field (with
    aggregator ``avg``) to (numerator field, denominator field); grouped, the measure is
    100 x SUM(numerator) / SUM(denominator), weighted by amount, not an average of the
    rows' ratios. ``_median_measures`` lists the fields whose ``avg`` is their median."""

    _name = "collection.ratio.mixin"
    _description = "Collection Analysis Ratios"

    _ratio_measures = {}
    _median_measures = ()

    def _read_group_select(self, aggregate_spec, query):
        fname, __, func = aggregate_spec.partition(":")
        if func == "avg" and fname in self._ratio_measures:
            numerator, denominator = self._ratio_measures[fname]
            return SQL(
                "100.0 * SUM(%s) / NULLIF(SUM(%s), 0)",
                self._field_to_sql(self._table, numerator, query),
                self._field_to_sql(self._table, denominator, query),
            )
        if func == "avg" and fname in self._median_measures:
            return SQL(
                "percentile_cont(0.5) WITHIN GROUP (ORDER BY %s)",
                self._field_to_sql(self._table, fname, query),
            )
        return super()._read_group_select(aggregate_spec, query)


class CollectionRecoveryReport(models.Model):
    """The recovery curve: one row per receivable item (an invoice's receivable line)
    and age bucket it reached, i.e. that was still unpaid on the bucket's first day past
    its due date, up to today. Per bucket, what was still owed then, what was collected
    while the item was in the bucket and what was collected from then on: the share of
    what is still unpaid at an age that the company ends up collecting."""

    _name = "collection.recovery.report"
    _inherit = ["collection.report.mixin", "collection.ratio.mixin"]
    _description = "Recovery Curve"
    _auto = False
    _rec_name = "move_id"
    _order = "bucket, date desc, id"

    _ratio_measures = {
        "recovery_rate": ("amount_recovered", "amount_open"),
        "collected_rate": ("amount_collected", "amount_open"),
    }

    date = fields.Date(string="Due Date", readonly=True)
    move_id = fields.Many2one("account.move", string="Invoice", readonly=True)
    bucket = fields.Selection(
        [(code, label) for code, label, __, __ in RECOVERY_BUCKETS],
        string="Age",
        readonly=True,
        help="Days past the due date.",
    )
    date_reached = fields.Date(
        string="Reached On", readonly=True, help="The day the item reached the age bucket."
    )
    amount_open = fields.Monetary(
        string="Unpaid at This Age",
        readonly=True,
        help="What was still owed on the item on the bucket's first day past due, in "
        "company currency.",
    )
    amount_collected = fields.Monetary(
        string="Collected at This Age",
        readonly=True,
        help="Payments on the item dated while it was in the bucket.",
    )
    amount_recovered = fields.Monetary(
        string="Recovered",
        readonly=True,
        help="Payments on the item dated from the bucket's first day on, until today.",
    )
    recovery_rate = fields.Float(
        string="Recovery Rate (%)",
        readonly=True,
        aggregator="avg",
        digits=(16, 1),
        help="Of what was still unpaid at this age, the share the company collected "
        "afterwards. Invoices still open count as not recovered (yet): look at older due "
        "dates for the settled picture.",
    )
    collected_rate = fields.Float(
        string="Collected at This Age (%)",
        readonly=True,
        aggregator="avg",
        digits=(16, 1),
        help="Of what was still unpaid at the start of the bucket, the share collected "
        "before its end.",
    )

    _depends = {**LEDGER_DEPENDS, **DIMENSION_DEPENDS}

    @property
    def _table_query(self):
        # One pass over the items and their matchings, a few sums per item and bucket
        # (what was matched before the bucket, collected in it, collected from it on),
        # then one row per bucket reached.
        today = fields.Date.context_today(self)
        sums, buckets = [], []
        for sequence, (code, __, first, last) in enumerate(RECOVERY_BUCKETS, start=1):
            start = SQL("item.due + %s", first)
            in_bucket = SQL("matching.date <= item.due + %s", last) if last else SQL("TRUE")
            sums.append(
                SQL(
                    """COALESCE(SUM(matching.amount) FILTER (
                           WHERE matching.date < %(start)s), 0) AS before_%(n)s,
                       COALESCE(SUM(matching.amount) FILTER (
                           WHERE matching.collected AND matching.date >= %(start)s
                             AND %(in_bucket)s), 0) AS collected_%(n)s,
                       COALESCE(SUM(matching.amount) FILTER (
                           WHERE matching.collected AND matching.date >= %(start)s), 0)
                           AS recovered_%(n)s""",
                    start=start,
                    in_bucket=in_bucket,
                    n=SQL(str(sequence)),
                )
            )
            buckets.append(
                SQL(
                    "(%(sequence)s, %(code)s, %(first)s, p.before_%(n)s, p.collected_%(n)s,"
                    " p.recovered_%(n)s)",
                    sequence=sequence,
                    code=code,
                    first=first,
                    n=SQL(str(sequence)),
                )
            )
        return SQL(
            """
            WITH item AS (
                SELECT aml.id, aml.move_id, aml.company_id,
                       partner.commercial_partner_id AS partner_id,
                       COALESCE(aml.date_maturity, aml.date) AS due, aml.balance
                  FROM account_move_line aml
                  JOIN res_partner partner ON partner.id = aml.partner_id
                 WHERE %(receivable)s
                   AND aml.balance > 0
                   AND COALESCE(aml.date_maturity, aml.date) <= %(today)s
            ),
            matching AS (%(matchings)s),
            per_item AS (
                SELECT item.id, item.move_id, item.company_id, item.partner_id, item.due,
                       item.balance, %(sums)s
                  FROM item
                  LEFT JOIN matching ON matching.item_id = item.id
                 GROUP BY item.id, item.move_id, item.company_id, item.partner_id, item.due,
                          item.balance
            ),
            reached AS (
                SELECT p.id * 10 + b.sequence AS id, p.move_id, p.company_id, p.partner_id,
                       p.due, b.code AS bucket, p.due + b.first_day AS date_reached,
                       p.balance - b.matched_before AS amount_open,
                       b.collected AS amount_collected,
                       b.recovered AS amount_recovered
                  FROM per_item p
                 CROSS JOIN LATERAL (VALUES %(buckets)s)
                       AS b(sequence, code, first_day, matched_before, collected, recovered)
                 WHERE p.due + b.first_day <= %(today)s
                   AND p.balance - b.matched_before > 0
            )
            SELECT r.id,
                   r.move_id,
                   r.due AS date,
                   r.bucket,
                   r.date_reached,
                   %(dimensions)s,
                   r.amount_open,
                   r.amount_collected,
                   r.amount_recovered,
                   100.0 * r.amount_recovered / r.amount_open AS recovery_rate,
                   100.0 * r.amount_collected / r.amount_open AS collected_rate
              FROM reached r
              %(dimensions_join)s
            """,
            receivable=self.env["collection.ledger"]._receivable_condition(),
            matchings=matchings_sql("item", until=today),
            sums=SQL(", ").join(sums),
            buckets=SQL(", ").join(buckets),
            today=today,
            dimensions=self._collection_dimensions_sql("r"),
            dimensions_join=self._collection_dimensions_join("r"),
        )

    @api.model
    def _recovery_curve(self, domain=()):
        """{bucket code: recovery rate in %} of the rows of ``domain`` the user may read
        (None for a bucket no item reached)."""
        groups = self._read_group(list(domain), ["bucket"], ["recovery_rate:avg"])
        rates = dict(groups)
        return {code: rates.get(code) for code, __, __, __ in RECOVERY_BUCKETS}


class CollectionEffectivenessReport(models.Model):
    """The effectiveness of the reminders: one row per reminder sent by email, SMS,
    WhatsApp or letter and invoice it was about that was still owed on the day it was
    sent: what was owed then, what was paid in the 7 days from that day, and how many
    days after the reminder the invoice was paid in full. A reminder sent on two
    channels counts once per channel."""

    _name = "collection.effectiveness.report"
    _inherit = ["collection.report.mixin", "collection.ratio.mixin"]
    _description = "Reminder Effectiveness"
    _auto = False
    _rec_name = "communication_id"
    _order = "date desc, id desc"

    _ratio_measures = {"paid_7_days_rate": ("amount_paid_7_days", "amount_reminded")}
    _median_measures = ("days_to_pay",)

    date = fields.Date(string="Sent On", readonly=True)
    communication_id = fields.Many2one("collection.communication", string="Reminder", readonly=True)
    delivery_id = fields.Many2one(
        "collection.communication.delivery", string="Delivery", readonly=True
    )
    move_id = fields.Many2one("account.move", string="Invoice", readonly=True)
    level_id = fields.Many2one("collection.level", string="Level", readonly=True)
    policy_id = fields.Many2one("collection.policy", string="Dunning Policy", readonly=True)
    channel = fields.Selection(
        [("email", "Email"), ("whatsapp", "WhatsApp"), ("sms", "SMS"), ("letter", "Letter")],
        readonly=True,
    )
    user_id = fields.Many2one(
        "res.users", string="Collector", readonly=True, help="The reminder's collector."
    )
    amount_reminded = fields.Monetary(
        string="Reminded",
        readonly=True,
        help="What was still owed on the invoice on the day the reminder was sent, in "
        "company currency.",
    )
    amount_paid_7_days = fields.Monetary(
        string="Paid within 7 Days",
        readonly=True,
        help="Payments on the invoice dated from the day of the reminder to 7 days later.",
    )
    paid_7_days_rate = fields.Float(
        string="Paid within 7 Days (%)",
        readonly=True,
        aggregator="avg",
        digits=(16, 1),
        help="Share of the reminded amounts paid within 7 days of the reminder.",
    )
    days_to_pay = fields.Float(
        string="Median Days to Pay",
        readonly=True,
        aggregator="avg",
        digits=(16, 1),
        help="Days from the reminder to the payment that settled the invoice; grouped, "
        "the median. Invoices not settled yet do not count.",
    )

    _depends = {
        **LEDGER_DEPENDS,
        "collection.communication": ["partner_id", "company_id", "level_id", "policy_id"],
        "collection.communication.delivery": ["communication_id", "channel", "state", "date_sent"],
        **DIMENSION_DEPENDS,
    }

    @property
    def _table_query(self):
        sent = local_date_sql(SQL("delivery.date_sent"), self._collection_tz())
        return SQL(
            """
            WITH reminded AS (
                SELECT delivery.id AS delivery_id, delivery.channel,
                       communication.id AS communication_id, communication.company_id,
                       communication.partner_id, communication.level_id,
                       communication.policy_id, communication.user_id,
                       %(sent)s AS date, aml.id AS item_id, aml.move_id, aml.balance,
                       aml.reconciled
                  FROM collection_communication_delivery delivery
                  JOIN collection_communication communication
                    ON communication.id = delivery.communication_id
                  JOIN collection_communication_account_move_rel rel
                    ON rel.communication_id = communication.id
                  JOIN account_move_line aml ON aml.move_id = rel.move_id
                 WHERE delivery.state = 'sent'
                   AND delivery.date_sent IS NOT NULL
                   AND delivery.channel != 'activity'
                   AND %(receivable)s
                   AND aml.balance > 0
            ),
            item AS (SELECT DISTINCT item_id AS id FROM reminded),
            matching AS (%(matchings)s),
            effect AS (
                SELECT reminded.delivery_id, reminded.item_id,
                       MIN(reminded.channel) AS channel,
                       MIN(reminded.communication_id) AS communication_id,
                       MIN(reminded.company_id) AS company_id,
                       MIN(reminded.partner_id) AS partner_id,
                       MIN(reminded.level_id) AS level_id,
                       MIN(reminded.policy_id) AS policy_id,
                       MIN(reminded.user_id) AS user_id,
                       MIN(reminded.move_id) AS move_id,
                       reminded.date,
                       reminded.balance - COALESCE(SUM(matching.amount) FILTER (
                           WHERE matching.date < reminded.date), 0) AS amount_reminded,
                       COALESCE(SUM(matching.amount) FILTER (
                           WHERE matching.collected
                             AND matching.date >= reminded.date
                             AND matching.date <= reminded.date + %(window)s), 0)
                           AS amount_paid_7_days,
                       CASE WHEN BOOL_AND(reminded.reconciled) THEN
                           MAX(matching.date) FILTER (
                               WHERE matching.collected AND matching.date >= reminded.date
                           ) - reminded.date
                       END AS days_to_pay
                  FROM reminded
                  LEFT JOIN matching ON matching.item_id = reminded.item_id
                 GROUP BY reminded.delivery_id, reminded.item_id, reminded.date,
                          reminded.balance
            )
            SELECT ROW_NUMBER() OVER (ORDER BY e.delivery_id, e.item_id) AS id,
                   e.date,
                   e.delivery_id,
                   e.communication_id,
                   e.move_id,
                   e.level_id,
                   e.policy_id,
                   e.channel,
                   e.user_id,
                   %(dimensions)s,
                   e.amount_reminded,
                   e.amount_paid_7_days,
                   100.0 * e.amount_paid_7_days / e.amount_reminded AS paid_7_days_rate,
                   e.days_to_pay::float AS days_to_pay
              FROM effect e
              %(dimensions_join)s
             WHERE e.amount_reminded > 0
            """,
            sent=sent,
            receivable=self.env["collection.ledger"]._receivable_condition(),
            matchings=matchings_sql("item"),
            window=EFFECT_WINDOW_DAYS,
            dimensions=self._collection_dimensions_sql("e"),
            dimensions_join=self._collection_dimensions_join("e"),
        )
