import json
from datetime import datetime
from urllib.parse import urlencode

from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.fields import Domain
from odoo.tools import SQL, consteq, format_amount
from odoo.tools.mail import email_normalize, generate_tracking_message_id
from odoo.tools.misc import SENTINEL, hmac

from .collection_case_mixin import ACCOUNTING_READERS, DISPUTE_OPEN_STATES, days_after
from .collection_ledger import (
    BROKEN_PROMISE_WINDOW,
    LEDGER_FIELDS,
    PARTNER_PRIORITY_DDL,
    figure_search,
)

COLLECTION_STATUS = [
    ("current", "Current"),
    ("overdue", "Overdue"),
    ("paying", "Paying"),
    ("negotiating", "Negotiating"),
    ("agreement", "In Payment Agreement"),
    ("dispute", "In Dispute"),
    ("refusal", "Refusal to Pay"),
    ("uncollectible", "Uncollectible"),
]

# Statuses that a commitment (a promise to pay, a payment agreement) moves on from when
# it ends; the others were set by something that still holds (a dispute, a refusal, a
# write-off).
COMMITMENT_STATUSES = ("agreement", "current", "overdue", "paying", "negotiating")

# The commitments a customer makes, with the state in which each still holds.
COMMITMENTS = {"collection.promise": "open", "collection.agreement": "active"}

# Statuses that still describe a customer after a dispute is resolved, when the customer
# still owes something overdue.
LASTING_STATUSES = ("overdue", "paying", "negotiating", "refusal", "uncollectible")

# Journal item fields the figures read: when one changes (a posting, a payment, a
# reconciliation, a credit note), the figures of its partner (the commercial partner on
# receivable lines) are read again at once, also within the same transaction.
LEDGER_DEPENDS = tuple(f"collection_move_line_ids.{fname}" for fname in LEDGER_FIELDS)

# A customer's collection fields a collector sets from the worklist (several customers
# at once), for the customers of their portfolio: see ResPartner._collection_worklist_write.
WORKLIST_FIELDS = ("collection_policy_id", "collection_excluded", "collection_stage_id")

# The collection fields the engine writes on many customers at once with one statement
# (ResPartner._collection_write_logged): no stored field depends on them.
SET_BASED_FIELDS = ("collection_level_id", "collection_stage_id", "collection_status")

# Figures computed from the ledger in SQL: readable, searchable, sortable, groupable.
FIGURE_FIELDS = (
    "collection_overdue_amount",
    "collection_due_amount",
    "collection_days_overdue",
    "collection_oldest_due_date",
    "collection_bucket_id",
    "collection_broken_promise_count",
    "collection_priority",
)

# Figures that are 0 for a customer with no open item in the company.
FIGURES_ZERO_WITHOUT_ITEMS = (
    "collection_overdue_amount",
    "collection_due_amount",
    "collection_days_overdue",
    "collection_priority",
)

# The figures' values in the cache when a customer has none.
FIGURE_DEFAULTS = {
    "collection_overdue_amount": 0.0,
    "collection_due_amount": 0.0,
    "collection_days_overdue": 0,
    "collection_oldest_due_date": None,
    "collection_bucket_id": None,
    "collection_broken_promise_count": 0,
    "collection_priority": 0.0,
}

# Computed fields read for all the customers read at once (ResPartner._read_format,
# ResPartner._export_rows): one query for any number of customers.
BATCH_FIELDS = (*FIGURE_FIELDS, "collection_currency_id")

# Bounces of a customer's address (Odoo's own counter, reset when the customer writes
# from it) after which reminders no longer go to it by email.
COLLECTION_BOUNCE_LIMIT = 3


class ResPartner(models.Model):
    _inherit = "res.partner"

    # Work fields, one value per company.
    collection_user_id = fields.Many2one(
        "res.users",
        string="Collector",
        company_dependent=True,
        tracking=True,
        domain="[('share', '=', False)]",
        help="Collector in charge of this customer's receivables in the current company.",
        groups="base.group_user",
    )
    collection_stage_id = fields.Many2one(
        "collection.stage",
        string="Collection Stage",
        company_dependent=True,
        tracking=True,
        group_expand="_read_group_collection_stage_ids",
        help="Stage of the customer's portfolio: preventive, administrative, delinquent, "
        "extrajudicial or legal.",
        groups="base.group_user",
    )
    collection_status = fields.Selection(
        COLLECTION_STATUS,
        string="Collection Status",
        company_dependent=True,
        tracking=True,
        default="current",
        help="Where the conversation with the customer stands. 'Current' means nothing "
        "overdue; 'Overdue', debt past due that nobody has worked yet (reminders may have "
        "been sent).",
        groups="base.group_user",
        # Fetched with the customer's other columns rather than apart: the figures
        # depend on it (the priority), so that read() of the figures of many customers
        # fetches it in one query that applies the record rules, instead of checking
        # them record by record in Python on every column of every customer.
        prefetch=True,
    )
    collection_policy_id = fields.Many2one(
        "collection.policy",
        string="Dunning Policy",
        company_dependent=True,
        help="Reminder policy of this customer. Empty: the company's default policy.",
        groups="base.group_user",
    )
    collection_level_id = fields.Many2one(
        "collection.level",
        string="Dunning Level",
        company_dependent=True,
        readonly=True,
        help="Level of the last reminder created for this customer.",
        groups="base.group_user",
    )
    collection_excluded = fields.Boolean(
        string="No Automatic Reminders",
        company_dependent=True,
        help="This customer gets no automatic reminder.",
        groups="base.group_user",
    )
    collection_next_action_date = fields.Date(
        string="Next Action",
        company_dependent=True,
        help="When the collector will next contact this customer.",
        groups="base.group_user",
    )

    # Figures from the ledger (current company, company currency).
    collection_currency_id = fields.Many2one(
        "res.currency",
        compute="_compute_collection_currency_id",
        string="Collection Currency",
        groups="base.group_user",
    )
    collection_overdue_amount = fields.Monetary(
        string="Overdue",
        currency_field="collection_currency_id",
        compute="_compute_collection_figures",
        search=figure_search("collection_overdue_amount"),
        aggregator="sum",
        help="Open posted receivables past their due date, excluding items marked 'No "
        "follow-up', in company currency.",
        groups="base.group_user",
    )
    collection_due_amount = fields.Monetary(
        string="Total Due",
        currency_field="collection_currency_id",
        compute="_compute_collection_figures",
        search=figure_search("collection_due_amount"),
        aggregator="sum",
        help="All open posted receivables, overdue or not, net of unreconciled payments "
        "and credit notes, in company currency.",
        groups="base.group_user",
    )
    collection_days_overdue = fields.Integer(
        string="Days Overdue",
        compute="_compute_collection_figures",
        search=figure_search("collection_days_overdue"),
        aggregator="max",
        help="Days since the due date of the oldest open overdue item (0 if none).",
        groups="base.group_user",
    )
    collection_oldest_due_date = fields.Date(
        string="Oldest Due Date",
        compute="_compute_collection_figures",
        search=figure_search("collection_oldest_due_date"),
        help="Due date of the oldest open overdue item.",
        groups="base.group_user",
    )
    collection_bucket_id = fields.Many2one(
        "collection.aging.bucket",
        string="Aging Bucket",
        compute="_compute_collection_figures",
        search=figure_search("collection_bucket_id"),
        help="Aging bucket of the oldest open overdue item.",
        groups="base.group_user",
    )
    collection_broken_promise_count = fields.Integer(
        string="Broken Promises",
        compute="_compute_collection_figures",
        search=figure_search("collection_broken_promise_count"),
        help="Promises broken or only partly kept in the last 365 days.",
        groups="base.group_user",
    )
    collection_priority = fields.Float(
        string="Priority",
        digits=(16, 0),
        compute="_compute_collection_figures",
        search=figure_search("collection_priority"),
        aggregator="sum",
        help="Higher is worked first: overdue amount, weighted up by days overdue and "
        "broken promises and by the status.",
        groups="base.group_user",
    )
    collection_aging_html = fields.Html(
        string="Aging",
        compute="_compute_collection_aging_html",
        sanitize=False,
        groups="base.group_user",
    )
    # The customer's journal items; only there so that the figures follow the ledger.
    collection_move_line_ids = fields.One2many(
        "account.move.line",
        "partner_id",
        string="Collection Journal Items",
        readonly=True,
        groups="base.group_user",
    )

    collection_interaction_ids = fields.One2many(
        "collection.interaction",
        "partner_id",
        string="Interactions",
        groups="account_collection.group_collection_user,account.group_account_invoice",
    )
    collection_promise_ids = fields.One2many(
        "collection.promise",
        "partner_id",
        string="Promises to Pay",
        groups="account_collection.group_collection_user,account.group_account_invoice",
    )
    collection_agreement_ids = fields.One2many(
        "collection.agreement",
        "partner_id",
        string="Payment Agreements",
        groups="account_collection.group_collection_user,account.group_account_invoice",
    )
    collection_interaction_count = fields.Integer(
        compute="_compute_collection_counts",
        groups="account_collection.group_collection_user,account.group_account_invoice",
    )
    collection_open_promise_count = fields.Integer(
        compute="_compute_collection_counts",
        groups="account_collection.group_collection_user,account.group_account_invoice",
    )

    def init(self):
        super().init()
        # A change of status changes the priority the ledger stores: a trigger keeps it
        # (collection.ledger, PRIORITY_DDL).
        self.env.cr.execute(PARTNER_PRIORITY_DDL)

    # ------------------------------------------------------------------
    # Figures in SQL
    # ------------------------------------------------------------------

    @api.model
    def _collection_today(self):
        return fields.Date.context_today(self)

    @api.model
    def _collection_broken_promises_sql(self, company, today):
        self.env["collection.promise"].flush_model(["partner_id", "company_id", "state", "date"])
        return SQL(
            """(
            SELECT partner_id, COUNT(*) AS broken_count
              FROM collection_promise
             WHERE company_id = %s
               AND state IN ('broken', 'partial')
               AND date >= %s::date - %s
             GROUP BY partner_id
            )""",
            company.id,
            today,
            BROKEN_PROMISE_WINDOW,
        )

    def _collection_field_sql(self, alias, fname, query, partner_ids=None):
        """SQL expression of the figure ``fname`` for the partner row ``alias`` of
        ``query``, joining the ledger aggregate once per query."""
        company = self.env.company
        today = self._collection_today()
        Ledger = self.env["collection.ledger"]
        figures = query.make_alias(alias, "collection_figures")
        query.add_join(
            "LEFT JOIN",
            figures,
            Ledger._figures_sql(company, today, partner_ids),
            SQL("%s = %s", SQL.identifier(figures, "partner_id"), SQL.identifier(alias, "id")),
        )
        if (
            fname == "collection_priority"
            and partner_ids is None
            and Ledger._priority_stored(company, today)
        ):
            # Searching or sorting every customer (the worklist's page): the priority of
            # today, stored. A few customers' (partner_ids) are computed, the same value.
            return SQL("COALESCE(%s, 0)", SQL.identifier(figures, "priority"))
        oldest = SQL.identifier(figures, "oldest_due_date")
        days = SQL("COALESCE(%s::date - %s, 0)", today, oldest)
        if fname == "collection_overdue_amount":
            return SQL("COALESCE(%s, 0)", SQL.identifier(figures, "overdue_amount"))
        if fname == "collection_due_amount":
            return SQL("COALESCE(%s, 0)", SQL.identifier(figures, "due_amount"))
        if fname == "collection_oldest_due_date":
            return oldest
        if fname == "collection_days_overdue":
            return days
        if fname == "collection_bucket_id":
            bucket = self.env["collection.aging.bucket"]._bucket_case_sql(company, days)
            return SQL(
                "(CASE WHEN %s IS NULL THEN NULL ELSE %s END)",
                SQL.identifier(figures, "partner_id"),
                bucket,
            )
        broken = query.make_alias(alias, "collection_broken")
        query.add_join(
            "LEFT JOIN",
            broken,
            self._collection_broken_promises_sql(company, today),
            SQL("%s = %s", SQL.identifier(broken, "partner_id"), SQL.identifier(alias, "id")),
        )
        broken_count = SQL("COALESCE(%s, 0)", SQL.identifier(broken, "broken_count"))
        if fname == "collection_broken_promise_count":
            return broken_count
        # collection_priority
        return Ledger._priority_sql(
            SQL.identifier(figures, "overdue_amount"),
            days,
            broken_count,
            self._field_to_sql(alias, "collection_status", query),
        )

    def _collection_figures_present_sql(self, alias, fname, query):
        """SQL condition that the partner row ``alias`` of ``query`` has figures (open
        items in the current company), for the figures that are 0 without them (see
        sql_figure_search); None for the others."""
        if fname not in FIGURES_ZERO_WITHOUT_ITEMS:
            return None
        figures = query.make_alias(alias, "collection_figures")
        return SQL("%s IS NOT NULL", SQL.identifier(figures, "partner_id"))

    def _field_to_sql(self, alias, field_expr, query=None):
        if field_expr == "collection_currency_id":
            # The figures are in the current company's currency: a constant, which lets
            # the amounts be aggregated in SQL (the pivot and graph views' measures).
            return SQL("%s", self.env.company.currency_id.id)
        if field_expr in FIGURE_FIELDS:
            if query is None:
                raise ValueError(f"{field_expr} can only be converted to SQL within a query")
            self._check_field_access(self._fields[field_expr], "read")
            return self._collection_field_sql(alias, field_expr, query)
        return super()._field_to_sql(alias, field_expr, query)

    @api.depends_context("company")
    def _compute_collection_currency_id(self):
        self.collection_currency_id = self.env.company.currency_id

    @api.depends(*LEDGER_DEPENDS, "collection_status")
    @api.depends_context("company", "tz")
    def _compute_collection_figures(self):
        # One query for all the partners; the values go into the cache one field at a
        # time, as the query gives them (amounts as floats, counts as integers): assigning
        # seven fields record by record, or converting each value, costs more than the
        # query.
        ids = [id_ for id_ in self._ids if id_]
        found, columns = (), dict.fromkeys(FIGURE_FIELDS, ())
        if ids:
            partners = self.browse(ids)
            query = partners.with_context(active_test=False)._search(
                [("id", "in", ids)], bypass_access=True
            )
            selected = []
            for fname in FIGURE_FIELDS:
                expr = partners._collection_field_sql(partners._table, fname, query, ids)
                default = FIGURE_DEFAULTS[fname]
                if default is not None:
                    sql_type = "float8" if isinstance(default, float) else "int4"
                    expr = SQL("COALESCE(%s, 0)::%s", expr, SQL(sql_type))
                selected.append(expr)
            rows = self.env.execute_query(
                query.select(SQL.identifier(partners._table, "id"), *selected)
            )
            if rows:
                found, *values = zip(*rows, strict=True)
                columns = dict(zip(FIGURE_FIELDS, values, strict=True))
        missing = set(self._ids).difference(found)
        for fname, default in FIGURE_DEFAULTS.items():
            cache = self._fields[fname]._get_cache(self.env)
            cache.update(zip(found, columns[fname], strict=True))
            cache.update(dict.fromkeys(missing, default))

    # ------------------------------------------------------------------
    # The figures of many customers at once (read(), the lists, the export)
    # ------------------------------------------------------------------

    @api.model
    def _collection_batch_fields(self):
        """Computed fields that ``read()`` (the lists' ``web_read``) and the export fill
        for all the records they read with one computation, instead of Odoo's batches of
        1,000 records checked and converted record by record: fields whose compute reads
        one aggregate for any number of records. Extend it for other such fields."""
        return BATCH_FIELDS

    def _collection_compute_batch(self, fnames):
        """Put the computed fields ``fnames`` of every record of ``self`` in the cache:
        the user's access to each field is checked once, and the records whose value is
        not in the cache yet are computed together, one call of the compute method (one
        query) for all of them. Values already in the cache (still valid: the ORM drops
        them when the journal items they follow change) are kept."""
        fields_ = [self._fields[fname] for fname in fnames]
        for field in fields_:
            self._check_field_access(field, "read")
        for field in fields_:
            missing = self.browse(tuple(field._cache_missing_ids(self)))
            if missing:
                field.compute_value(missing)
        return fields_

    def _collection_batch_fnames(self, fnames):
        """The fields of ``fnames`` to compute for all of ``self`` at once: none when
        ``self`` holds new records (a form being edited), which are computed as usual."""
        if not all(isinstance(id_, int) for id_ in self._ids):
            return []
        batch = self._collection_batch_fields()
        return list(dict.fromkeys(fname for fname in fnames if fname in batch))

    def _collection_batch_values(self, field, ids, convert):
        """The values of ``field`` of the records ``ids`` of ``self``, from the cache
        ``_collection_compute_batch`` filled (or read as usual, should something have
        dropped one since), each given by ``convert(value, records)`` from the record
        format (the field's ``convert_to_read`` or ``convert_to_export``). Each distinct
        value is converted once: the figures take few distinct values (a bucket, a
        count of days), and the bucket's display name is read once per bucket rather
        than once per customer."""
        cache = field._get_cache(self.env)
        values = [cache.get(id_, SENTINEL) for id_ in ids]
        distinct = set(values)
        distinct.discard(SENTINEL)
        converted = {
            value: convert(field.convert_to_record(value, self), self) for value in distinct
        }
        return [
            converted[value]
            if value is not SENTINEL
            else convert(self.browse(id_)[field.name], self)
            for id_, value in zip(ids, values, strict=True)
        ]

    def _determine_fields_to_fetch(self, field_names=None, ignore_when_in_cache=False):
        # read() of batch fields alone (the risk score and band: none of their
        # dependencies is a column the user reads) fetches no column, so Odoo checks the
        # record rules in Python (check_access -> filtered_domain), which fetches every
        # column of every customer read. Fetching the collection status with them checks
        # the rules in SQL, in the one query that fetches it (the figures' way). Not when
        # the status is in the cache already: the customers' columns were fetched with it
        # (a list's page), and checking the rules on them costs no query.
        fields_ = super()._determine_fields_to_fetch(field_names, ignore_when_in_cache)
        if (
            field_names
            and not any(field.column_type for field in fields_)
            and any(fname in self._collection_batch_fields() for fname in field_names)
        ):
            status = self._fields["collection_status"]
            if self._has_field_access(status, "read") and any(status._cache_missing_ids(self)):
                fields_.append(status)
        return fields_

    def _read_format(self, fnames, load="_classic_read"):
        batch = self._collection_batch_fnames(fnames) if len(self) > 1 else []
        if not batch:
            return super()._read_format(fnames, load)
        others = [fname for fname in fnames if fname not in batch]
        result = super()._read_format(others, load)
        ids = [vals["id"] for vals in result]
        use_display_name = load == "_classic_read"
        for field in self._collection_compute_batch(batch):

            def convert(value, records, field=field):
                return field.convert_to_read(value, records, use_display_name)

            for vals, value in zip(
                result, self._collection_batch_values(field, ids, convert), strict=True
            ):
                vals[field.name] = value
        if list(fnames) != [*others, *batch]:
            # The values in the order asked, as the ORM gives them.
            result = [{key: vals[key] for key in ("id", *fnames)} for vals in result]
        return result

    def _export_rows(self, fields, *, _is_toplevel_call=True):
        """The export of customers (the lists' *Export*): the figures of all of them are
        computed at once (``_collection_compute_batch``) and written in their columns;
        the other columns are the ORM's."""
        batch = self._collection_batch_fnames(path[0] for path in fields if len(path) == 1)
        if not _is_toplevel_call or not batch:
            return super()._export_rows(fields, _is_toplevel_call=_is_toplevel_call)
        columns = {i: path[0] for i, path in enumerate(fields) if len(path) == 1}
        columns = {i: self._fields[fname] for i, fname in columns.items() if fname in batch}
        # The other columns (the batch's hold the record's id until filled below), and
        # the record's id last, which only the record's own line carries (the lines of
        # sub-records, e.g. contacts, follow it without).
        others = [[".id"] if i in columns else path for i, path in enumerate(fields)]
        lines = super()._export_rows([*others, [".id"]], _is_toplevel_call=True)
        ids = list(self._ids)
        exported = {}
        for field in self._collection_compute_batch(batch):
            # A related record shows its display name, read as the user (as the ORM
            # exports it).
            values = self._collection_batch_values(field, ids, field.convert_to_export)
            exported[field] = dict(zip(ids, values, strict=True))
        cells = [(i, exported[field]) for i, field in columns.items()]
        for line in lines:
            record_id = line.pop()
            if not record_id:
                continue
            record_id = int(record_id)
            for i, values in cells:
                line[i] = values[record_id]
        return lines

    def _collection_aging(self):
        """Open receivables per aging bucket: {commercial partner id: {bucket: amount}},
        for the current company; every open item counts in the bucket of its own due
        date, credits included, so the buckets add up to the total due."""
        company = self.env.company
        today = self._collection_today()
        partners = self.commercial_partner_id
        if not partners:
            return {}
        rows = self.env.execute_query(
            self.env["collection.ledger"]._aging_sql(
                company,
                today,
                per_partner=True,
                partners=tuple(partners.ids),
            )
        )
        Bucket = self.env["collection.aging.bucket"]
        result = {}
        for partner_id, bucket_id, amount in rows:
            result.setdefault(partner_id, {})[Bucket.browse(bucket_id)] = amount
        return result

    @api.depends(*LEDGER_DEPENDS)
    @api.depends_context("company", "tz", "lang")
    def _compute_collection_aging_html(self):
        company = self.env.company
        buckets = self.env["collection.aging.bucket"].search([("company_id", "=", company.id)])
        aging = self.filtered("id")._collection_aging()
        for partner in self:
            amounts = aging.get(partner.commercial_partner_id.id, {})
            cells_head = Markup("").join(
                Markup("<th class='text-end'>%s</th>") % bucket.name for bucket in buckets
            )
            cells = Markup("").join(
                Markup("<td class='text-end'>%s</td>")
                % format_amount(self.env, amounts.get(bucket, 0.0), company.currency_id)
                for bucket in buckets
            )
            partner.collection_aging_html = Markup(
                "<table class='table table-sm o_collection_aging'>"
                "<thead><tr>%s<th class='text-end'>%s</th></tr></thead>"
                "<tbody><tr>%s<td class='text-end fw-bold'>%s</td></tr></tbody></table>"
            ) % (
                cells_head,
                self.env._("Total"),
                cells,
                format_amount(self.env, sum(amounts.values()), company.currency_id),
            )

    def _compute_collection_counts(self):
        Interaction = self.env["collection.interaction"]
        Promise = self.env["collection.promise"]
        interactions = dict(
            Interaction._read_group(
                [("partner_id", "in", self.commercial_partner_id.ids)], ["partner_id"], ["__count"]
            )
        )
        promises = dict(
            Promise._read_group(
                [("partner_id", "in", self.commercial_partner_id.ids), ("state", "=", "open")],
                ["partner_id"],
                ["__count"],
            )
        )
        for partner in self:
            commercial = partner.commercial_partner_id
            partner.collection_interaction_count = interactions.get(commercial, 0)
            partner.collection_open_promise_count = promises.get(commercial, 0)

    @api.model
    def _read_group_collection_stage_ids(self, stages, domain):
        return stages.search([])

    @api.model
    @api.readonly
    def web_read_group(
        self, domain, groupby, aggregates=(), limit=None, offset=0, order=None, **kwargs
    ):
        """The worklist's cards per stage: a stage holding customers opens with them, even
        a folded stage (Legal) or the customers without a stage, which Odoo folds."""
        result = super().web_read_group(
            domain, groupby, aggregates, limit=limit, offset=offset, order=order, **kwargs
        )
        if (
            list(groupby) != ["collection_stage_id"]
            or not kwargs.get("auto_unfold")
            or kwargs.get("opening_info")
        ):
            return result
        folded = [g for g in result["groups"] if g["__count"] and "__records" not in g]
        # The records in the order of the other groups' (the group's own field left out).
        record_order = ", ".join(
            spec
            for spec in (order or "").split(",")
            if spec.strip() and spec.split()[0] not in ("collection_stage_id", "__count")
        )
        for group in folded:
            records = self.search(
                Domain(domain) & Domain(group["__extra_domain"]),
                order=record_order or None,
                limit=kwargs.get("unfold_read_default_limit", 80),
            )
            group["__records"] = records.web_read(kwargs.get("unfold_read_specification") or {})
        return result

    # ------------------------------------------------------------------
    # CRUD
    # ------------------------------------------------------------------

    @api.model_create_multi
    def create(self, vals_list):
        default_collector = self.env.company.collection_default_user_id
        if default_collector:
            for vals in vals_list:
                if not vals.get("parent_id") and "collection_user_id" not in vals:
                    vals["collection_user_id"] = default_collector.id
        return super().create(vals_list)

    def _commercial_sync_to_descendants(self, fields_to_sync=None):
        # A write of fields that are not commercial (the collection fields, written on
        # thousands of customers by a dunning run) asks to sync an empty set of fields
        # to the contacts: nothing to do, and no write of nothing on each contact.
        if fields_to_sync is not None and not fields_to_sync:
            return
        return super()._commercial_sync_to_descendants(fields_to_sync)

    # ------------------------------------------------------------------
    # Actions
    # ------------------------------------------------------------------

    @api.model
    def action_collection_worklist(self):
        """Open the worklist: the customers with something due in the current company,
        highest priority first; only the collector's own when the company restricts
        collectors to their portfolio."""
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "account_collection.res_partner_action_collection_worklist"
        )
        domain = Domain("collection_due_amount", ">", 0)
        if self.env.company.collection_portfolio_restricted and not self.env.user.has_group(
            "account_collection.group_collection_manager"
        ):
            domain &= Domain("collection_user_id", "=", self.env.uid)
        action["domain"] = list(domain)
        return action

    def action_collection_log_interaction(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Log Interaction"),
            "res_model": "collection.interaction.log",
            "view_mode": "form",
            "target": "new",
            "context": {"default_partner_id": self.commercial_partner_id.id},
        }

    def _collection_open_records(self, action_xmlid):
        """The action ``action_xmlid`` restricted to this customer's records."""
        self.ensure_one()
        partner = self.commercial_partner_id
        action = self.env["ir.actions.act_window"]._for_xml_id(action_xmlid)
        action["domain"] = [("partner_id", "=", partner.id)]
        action["context"] = {"default_partner_id": partner.id}
        return action

    def action_collection_open_interactions(self):
        return self._collection_open_records("account_collection.collection_interaction_action")

    def action_collection_open_promises(self):
        return self._collection_open_records("account_collection.collection_promise_action")

    def action_collection_open_agreements(self):
        return self._collection_open_records("account_collection.collection_agreement_action")

    def action_collection_open_invoices(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "account_collection.account_move_action_collection_open"
        )
        action["domain"] = [
            ("move_type", "in", ("out_invoice", "out_refund")),
            ("state", "=", "posted"),
            ("payment_state", "not in", ("paid", "reversed", "in_payment")),
            ("commercial_partner_id", "=", self.commercial_partner_id.id),
        ]
        return action

    # ------------------------------------------------------------------
    # Business
    # ------------------------------------------------------------------

    def _collection_check_access(self):
        """Raise unless the current user may work these customers' collections: read
        access to the partners and a collections group. Callers then write the
        collection fields and the chatter with sudo()."""
        if not self.env.su and not self.env.user.has_group(
            "account_collection.group_collection_user"
        ):
            raise UserError(self.env._("Only collection users can work a customer's collections."))
        self.check_access("read")

    # --- The customer's collection status and stage: the one writer, the one decision

    def _collection_set_status(self, status, message=None):
        """Set the collection status of these customers (current company), in one
        write, with an optional note on each customer's chatter. Every change of the
        status goes through here (the dunning run through ``_collection_write_portfolio``):
        the rights are checked, then the customers are written as superuser."""
        self._collection_check_access()
        # sudo: collectors have no write access on contacts; access was checked above.
        partners_sudo = self.commercial_partner_id.sudo()
        partners_sudo.filtered(lambda p: p.collection_status != status).write(
            {"collection_status": status}
        )
        if message:
            partners_sudo._collection_post_note(message)

    def _collection_write_portfolio(self, values_per_partners):
        """The dunning run's writer of the status, the stage and the level of many
        customers of the current company at once: ``values_per_partners`` is {(field
        name, value): partners} with ``collection_status``, ``collection_stage_id`` or
        ``collection_level_id`` as field names,
        one write each, the changes logged in one batch of messages (see
        ``_collection_write_logged``). ``self`` holds all the customers written."""
        fnames = {fname for fname, _value in values_per_partners}
        if not fnames <= set(SET_BASED_FIELDS):
            raise ValueError(
                f"Only the collection status, stage and level are written here: {fnames}"
            )
        self._collection_check_access()
        # sudo: the reminders move customers through stages, whoever approved them; access
        # was checked above.
        self.sudo()._collection_write_logged(
            {key: partners.sudo() for key, partners in values_per_partners.items()}
        )

    def _collection_post_note(self, body):
        """Post ``body`` as a note by the current user on these customers' chatter."""
        self._collection_check_access()
        # sudo: collectors cannot post on contacts they cannot write; access was checked
        # above.
        for partner_sudo in self.commercial_partner_id.sudo():
            partner_sudo.message_post(
                body=body,
                author_id=self.env.user.partner_id.id,
                message_type="comment",
                subtype_xmlid="mail.mt_note",
            )

    def _collection_with_commitment(self, exclude=None, models=COMMITMENTS):
        """The customers among these who still have an open commitment in the current
        company: an open promise to pay or an active payment agreement (``exclude``, a
        promise or an agreement, does not count; ``models`` restricts the kinds of
        commitment, e.g. to the agreements)."""
        found = set()
        for model in models:
            domain = [
                ("partner_id", "in", self.ids),
                ("company_id", "=", self.env.company.id),
                ("state", "=", COMMITMENTS[model]),
            ]
            if exclude is not None and exclude._name == model:
                domain.append(("id", "not in", exclude.ids))
            # sudo: whether a commitment exists decides the status, whoever can see it.
            found.update(self.env[model].sudo().search(domain).partner_id.ids)
        return self.filtered(lambda p: p.id in found)

    def _collection_with_open_dispute(self, exclude=None):
        """The customers among these with an open dispute in the current company
        (``exclude``, a dispute, does not count)."""
        domain = [
            ("partner_id", "in", self.ids),
            ("company_id", "=", self.env.company.id),
            ("state", "in", DISPUTE_OPEN_STATES),
        ]
        if exclude is not None:
            domain.append(("id", "not in", exclude.ids))
        # sudo: an open dispute decides the status, whoever can see it.
        found = set(self.env["collection.dispute"].sudo().search(domain).partner_id.ids)
        return self.filtered(lambda p: p.id in found)

    def _collection_status_after(self, event, case=None):
        """{customer: collection status} of these customers (current company) once
        ``event`` happened; the one place that decides it:

        - ``"committed"``: a payment agreement started: *In payment agreement*; a promise
          to pay was made (``case`` a promise, or none): *Paying*, or still *In payment
          agreement* while an agreement is active;
        - ``"kept"``, ``"broken"``: the commitment ``case`` was kept, or broken (or
          cancelled): *Paying* (*Current* when nothing is overdue) or *Negotiating*; the
          status stays while another commitment is open, and when it is not one a
          commitment sets (a dispute, a refusal, a write-off);
        - ``"settled"``: nothing is overdue any more: *Current*, unless written off or
          still under a commitment;
        - ``"disputed"``: a dispute was opened: *In dispute*, unless written off;
        - ``"dispute_resolved"``: the dispute ``case`` was resolved: still *In dispute*
          while another dispute is open; *Current* when nothing is overdue any more; else
          the status before the dispute if it still applies (``case.status_before``),
          else *Negotiating*. A status changed since the dispute opened stays.
        """
        committed = disputed = under_agreement = self.browse()
        if event in ("kept", "broken", "settled", "dispute_resolved"):
            committed = self._collection_with_commitment(exclude=case)
        if event in ("committed", "kept", "broken"):
            under_agreement = self._collection_with_commitment(
                exclude=case, models=["collection.agreement"]
            )
        if event == "dispute_resolved":
            disputed = self._collection_with_open_dispute(exclude=case)
        result = {}
        for partner in self:
            status = partner.collection_status or "current"
            if event == "committed":
                agreement = case is not None and case._name == "collection.agreement"
                new = "agreement" if agreement or partner in under_agreement else "paying"
            elif event == "disputed":
                new = status if status == "uncollectible" else "dispute"
            elif event in ("kept", "broken"):
                if status == "agreement" and partner in committed - under_agreement:
                    # Only promises hold now, no agreement any more.
                    new = "paying"
                elif status not in COMMITMENT_STATUSES or partner in committed:
                    new = status
                elif event == "broken":
                    new = "negotiating"
                else:
                    new = "paying" if partner.collection_overdue_amount else "current"
            elif event == "settled":
                settled = not partner.collection_overdue_amount and partner not in committed
                new = "current" if settled and status != "uncollectible" else status
            elif event == "dispute_resolved":
                before = case.status_before
                if status != "dispute":
                    new = status
                elif partner in disputed:
                    new = "dispute"
                elif before == "uncollectible":
                    new = before
                elif not partner.collection_overdue_amount:
                    new = "current"
                elif before in LASTING_STATUSES or (before == "agreement" and partner in committed):
                    new = before
                else:
                    new = "negotiating"
            else:
                raise ValueError(f"Unknown collection event {event!r}")
            result[partner] = new
        return result

    def _collection_write_logged(self, values_per_partners):
        """Write collection fields on many customers of the current company at once:
        ``values_per_partners`` is {(field name, value): partners}, the fields among
        ``SET_BASED_FIELDS``. The values the customers have already are left out (a
        customer none of whose values change is not written). The customers are updated
        with one statement, with what ``write()`` writes (the company's value of each
        field, merged as
        ``BaseModel._write`` merges company-dependent values, the day a customer enters
        a new stage, see ``_collection_write_stage_date``, the write date and user),
        and the cache is invalidated as ``write()`` invalidates it (no stored field
        depends on these). The changes are logged on each customer's chatter as
        tracking logs them, with one statement for the messages and one for their
        tracking values (see ``_collection_log_tracking``)."""
        fnames = {fname for fname, _value in values_per_partners}
        if not fnames <= set(SET_BASED_FIELDS):
            raise ValueError(f"Not written set-based: {fnames - set(SET_BASED_FIELDS)}")
        values = {}  # partner id: {field name: value}
        for (fname, value), partners in values_per_partners.items():
            for partner_id in partners.ids:
                values.setdefault(partner_id, {})[fname] = value
        if not values:
            return
        partners = self.browse(sorted(values))
        fnames = sorted(fnames)
        # These columns only: reading one would fetch every column of the customers,
        # each company-dependent one with its fallback.
        partners.fetch(fnames)
        initial = {partner.id: {fname: partner[fname] for fname in fnames} for partner in partners}
        # A value a customer already has is not written again: a customer none of whose
        # values change keeps its row as it was (its 37 indexes are not rewritten) and
        # gets no message, as tracking would log none.
        for partner in partners:
            new = values[partner.id]
            for fname in list(new):
                field = self._fields[fname]
                if field.convert_to_write(initial[partner.id][fname], partner) == (
                    new[fname] or False
                ):
                    del new[fname]
            if not new:
                del values[partner.id]
        if not values:
            return
        partners = partners.browse(sorted(values))
        if "collection_stage_id" in fnames:
            today = self.env.company._collection_today()
            for partner_id, new in values.items():
                stage = initial[partner_id]["collection_stage_id"]
                if (
                    "collection_stage_id" in new
                    and (new["collection_stage_id"] or False) != stage.id
                ):
                    new["collection_stage_date"] = today
        self._collection_update_set_based(values)
        partners._collection_log_tracking(initial)

    def _collection_update_set_based(self, values):
        """UPDATE the customers of ``values`` ({partner id: {field name: value}}, fields
        among ``SET_BASED_FIELDS`` and ``collection_stage_date``) in the current
        company with one statement, then invalidate the cache."""
        company_id = self.env.company.id
        columns = sorted({fname for new in values.values() for fname in new})
        self.flush_model(columns)
        ids = sorted(values)
        Partner = self.browse(ids)
        arrays = []
        assignments = []
        Default = self.env["ir.default"]
        for fname in columns:
            field = self._fields[fname]
            assert field.company_dependent and field.store
            arrays.append(
                [
                    json.dumps(
                        {str(company_id): field.convert_to_column(values[pid][fname], Partner)}
                    )
                    if fname in values[pid]
                    else None
                    for pid in ids
                ]
            )
            column = SQL.identifier(fname)
            new = SQL.identifier("v", fname)
            # The expression BaseModel._write merges a company's value with.
            assignments.append(
                SQL(
                    """%(column)s = CASE WHEN %(new)s IS NULL THEN p.%(column)s ELSE
                       (SELECT jsonb_object_agg(d.key, d.value)
                          FROM jsonb_each(COALESCE(p.%(column)s, '{}'::jsonb) || %(new)s) d
                          JOIN jsonb_each(%(fallbacks)s) f
                            ON d.key = f.key AND d.value != f.value) END""",
                    column=column,
                    new=new,
                    fallbacks=Default._get_field_column_fallbacks(self._name, fname),
                )
            )
        # The ids also as an array condition: the customers are looked up by their
        # primary key, never by a scan of every contact hashed against the batch.
        self.env.execute_query(
            SQL(
                """UPDATE res_partner p
                      SET %(assignments)s, write_uid = %(uid)s, write_date = %(now)s
                     FROM unnest(%(ids)s::int[], %(arrays)s) AS v(id, %(columns)s)
                    WHERE p.id = v.id AND p.id = ANY(%(ids)s)""",
                assignments=SQL(", ").join(assignments),
                uid=self.env.uid,
                now=self.env.cr.now(),
                ids=ids,
                arrays=SQL(", ").join(SQL("%s::jsonb[]", array) for array in arrays),
                columns=SQL(", ").join(SQL.identifier(fname) for fname in columns),
            )
        )
        Partner.invalidate_recordset([*columns, "write_uid", "write_date"])
        Partner.modified(columns)

    def _collection_log_tracking(self, initial):
        """Log on each of these customers' chatter the changes of its tracked fields
        since ``initial`` ({partner id: {field name: value}}): the message and the
        tracking values Odoo's tracking writes (``mail.thread._message_track``, then
        ``_message_log``), inserted with one statement each. The values of each
        distinct change are computed once, by Odoo's ``_mail_track``."""
        fnames = sorted({fname for values in initial.values() for fname in values})
        tracked_fnames = [f for f in fnames if getattr(self._fields[f], "tracking", None)]
        if not tracked_fnames:
            return
        tracked = self.fields_get(
            tracked_fnames, attributes=("string", "type", "selection", "currency_field")
        )
        trackings = {}  # (initial values, new values): tracking values
        logged = []  # (partner id, tracking values)
        self.fetch(tracked_fnames)
        for partner in self:
            before = {fname: initial[partner.id][fname] for fname in tracked_fnames}
            key = tuple((fname, before[fname], partner[fname]) for fname in tracked_fnames)
            if key not in trackings:
                _changes, commands = partner._mail_track(tracked, before)
                trackings[key] = [values for _command, _id, values in commands]
            if trackings[key]:
                logged.append((partner.id, trackings[key]))
        if not logged:
            return
        author_id, email_from = self._message_compute_author()
        reply_to = self.env["mail.thread"]._notify_get_reply_to(
            default=email_from, author_id=author_id
        )[False]
        now = self.env.cr.now()
        rows = self.env.execute_query(
            SQL(
                """INSERT INTO mail_message
                          (author_id, email_from, model, res_id, message_type, is_internal,
                           subtype_id, body, email_add_signature, message_id, reply_to,
                           date,
                           create_uid, create_date, write_uid, write_date)
                   SELECT %(author)s, %(email_from)s, %(model)s, v.res_id, 'notification', TRUE,
                          %(subtype)s, '', FALSE, v.message_id, %(reply_to)s,
                          %(date)s,
                          %(uid)s, %(now)s, %(uid)s, %(now)s
                     FROM unnest(%(res_ids)s::int[], %(message_ids)s::varchar[])
                          WITH ORDINALITY AS v(res_id, message_id, n)
                    ORDER BY v.n
                RETURNING id, res_id""",
                author=author_id,
                email_from=email_from,
                model=self._name,
                res_ids=[partner_id for partner_id, _values in logged],
                message_ids=[generate_tracking_message_id("message-notify") for _row in logged],
                subtype=self.env["ir.model.data"]._xmlid_to_res_id("mail.mt_note"),
                reply_to=reply_to,
                date=fields.Datetime.now(),
                uid=self.env.uid,
                now=now,
            )
        )
        message_of = dict((res_id, message_id) for message_id, res_id in rows)
        Tracking = self.env["mail.tracking.value"]
        columns = sorted(
            {fname for _pid, values_list in logged for values in values_list for fname in values}
        )
        tracking_rows = [
            [message_of[partner_id], *(values.get(fname) for fname in columns)]
            for partner_id, values_list in logged
            for values in values_list
        ]
        self.env.execute_query(
            SQL(
                """INSERT INTO mail_tracking_value
                          (mail_message_id, %(columns)s,
                           create_uid, create_date, write_uid, write_date)
                   SELECT v.*, %(uid)s, %(now)s, %(uid)s, %(now)s
                     FROM unnest(%(arrays)s) AS v(mail_message_id, %(columns)s)""",
                columns=SQL(", ").join(SQL.identifier(fname) for fname in columns),
                arrays=SQL(", ").join(
                    SQL(
                        "%s::%s[]",
                        [row[index] for row in tracking_rows],
                        SQL(Tracking._fields[fname].column_type[1]),
                    )
                    for index, fname in enumerate(["mail_message_id", *columns])
                ),
                uid=self.env.uid,
                now=now,
            )
        )
        self.invalidate_recordset(
            ["message_ids", "message_needaction", "message_needaction_counter"]
        )

    def _collection_reset_status_when_settled(self):
        """Customers with nothing overdue any more go back to 'current' (except those
        written off or still under a commitment). Triggered by the ledger (a payment),
        whoever reconciled it."""
        # sudo: the ledger drives the status, whoever reconciled the payment.
        partners = self.commercial_partner_id.sudo().filtered(
            lambda p: p.collection_status not in ("current", "uncollectible")
        )
        settled = partners.browse()
        for partner, status in partners._collection_status_after("settled").items():
            if status == "current":
                settled |= partner
        settled._collection_set_status("current")
        return settled

    def _collection_mark_overdue(self):
        """The daily run's, for these customers of the current company: those whose
        status says nothing more than *Current* while debt is overdue read *Overdue*
        (time made it overdue, no write did), and those *Overdue* with nothing overdue
        any more (a credit note, an invoice cancelled) read *Current* again. The
        changes are logged on their chatter. Returns the customers marked overdue."""
        # sudo: time drives this status, whoever runs the daily job.
        self.sudo().fetch(["commercial_partner_id", "collection_status"])
        partners = self.sudo().filtered(lambda p: p.commercial_partner_id == p)
        late = partners.filtered(
            lambda p: (
                (p.collection_status or "current") == "current" and p.collection_overdue_amount > 0
            )
        )
        if late:
            late._collection_write_logged({("collection_status", "overdue"): late})
        (partners - late).filtered(
            lambda p: p.collection_status == "overdue" and not p.collection_overdue_amount
        )._collection_reset_status_when_settled()
        return late

    def _collection_reset_stage_when_settled(self):
        """Customers with nothing overdue any more go back to the first stage (current
        company): a stage that stops reminders (*Legal*) stops them for the debt that
        took the customer there, not for ever, and new invoices are reminded again.
        Triggered by the ledger (a payment) and by the daily run, whoever reconciled."""
        first = self.env["collection.stage"].sudo().search([], limit=1)
        if not first:
            return self.browse()
        # sudo: the ledger drives the stage, whoever reconciled the payment.
        partners = self.commercial_partner_id.sudo().filtered(
            lambda p: (
                p.collection_stage_id
                and p.collection_stage_id != first
                and not p.collection_overdue_amount
            )
        )
        if partners:
            partners._collection_write_logged({("collection_stage_id", first.id): partners})
        return partners

    # ------------------------------------------------------------------
    # Documents: statement of account, collection dossier
    # ------------------------------------------------------------------

    def _mail_get_operation_for_mail_message_operation(self, message_operation):
        """Collectors write to their customers from the customer's chatter (a statement
        of account, an answer) without the right to edit contacts: posting on a customer
        (a commercial partner) of their portfolio needs read access only."""
        result = super()._mail_get_operation_for_mail_message_operation(message_operation)
        user = self.env.user
        if message_operation != "create" or not user.has_group(
            "account_collection.group_collection_user"
        ):
            return result
        for partner in self:
            # sudo(False): the mail checks may pass sudo records; the portfolio is the user's.
            # Customers only: not the partner of an internal user (a colleague).
            if (
                partner.commercial_partner_id == partner
                and not partner.sudo().user_ids.filtered(lambda u: not u.share)
                and partner.sudo(False)._collection_in_user_portfolio()
            ):
                result[partner] = "read"
        return result

    def _collection_in_user_portfolio(self):
        """Whether the current user may work this customer: always, unless the company
        restricts collectors to their own portfolio and the user is a collector (not a
        manager) who is not this customer's collector."""
        self.ensure_one()
        user = self.env.user
        if (
            self.env.su
            or not self.env.company.collection_portfolio_restricted
            or user.has_group("account_collection.group_collection_manager")
        ):
            return True
        return self.commercial_partner_id.sudo().collection_user_id == user

    def _collection_check_document_access(self):
        """Raise unless the current user may print or send these customers' statements:
        billing users, and collection users for the customers of their portfolio, who
        can read them."""
        user = self.env.user
        self.check_access("read")
        if self.env.su or user.has_group("account.group_account_invoice"):
            return
        if not user.has_group("account_collection.group_collection_user"):
            raise AccessError(
                self.env._("Only collection and billing users can print a statement of account.")
            )
        for partner in self:
            if not partner._collection_in_user_portfolio():
                raise AccessError(
                    self.env._(
                        "%(partner)s is in another collector's portfolio.",
                        partner=partner.commercial_partner_id.display_name,
                    )
                )

    def _collection_check_dossier_access(self):
        """Raise unless the current user is a collection manager who can read these
        customers: the dossier gathers every portfolio's evidence."""
        if not self.env.su and not self.env.user.has_group(
            "account_collection.group_collection_manager"
        ):
            raise AccessError(
                self.env._("Only collection managers can print a collection dossier.")
            )
        self.check_access("read")

    def _collection_receivable_domain(self):
        """Domain of the posted receivable journal items of this commercial partner (and
        its contacts) in the current company."""
        self.ensure_one()
        return [
            ("partner_id.commercial_partner_id", "=", self.commercial_partner_id.id),
            ("company_id", "=", self.env.company.id),
            ("account_id.account_type", "=", "asset_receivable"),
            ("parent_state", "=", "posted"),
        ]

    def _collection_aging_values(self, company):
        """The aging buckets of ``company`` and this customer's open amount in each, for
        the documents (statement, dossier)."""
        self.ensure_one()
        buckets = self.env["collection.aging.bucket"].search([("company_id", "=", company.id)])
        aging = self._collection_aging().get(self.id, {})
        return {
            "buckets": buckets,
            "aging": {bucket: aging.get(bucket, 0.0) for bucket in buckets},
        }

    def _collection_statement_values(self, date_from, date_to):
        """What the statement of account shows for this customer in the current company:
        the open items (credits included) with their days overdue and a link to pay each
        invoice online, the payments received from ``date_from`` to ``date_to``, the
        aging by bucket and the total due. Records are read in the environment of
        ``self`` (use the customer's language for the document)."""
        self.ensure_one()
        partner = self.commercial_partner_id
        company = self.env.company
        today = self._collection_today()
        MoveLine = self.env["account.move.line"]
        base_domain = partner._collection_receivable_domain()
        base_url = partner.get_base_url()
        items = []
        for line in MoveLine.search(
            [*base_domain, ("reconciled", "=", False), ("amount_residual", "!=", 0)],
            order="date_maturity, date, id",
        ):
            move = line.move_id
            due_date = line.date_maturity or line.date
            pay_url = False
            if move.is_invoice() and line.amount_residual > 0:
                # sudo: the link carries the invoice's access token, which only the
                # portal mixin writes; the user can read the invoice (searched above).
                pay_url = base_url + move.sudo().get_portal_url()
            items.append(
                {
                    "line": line,
                    "move": move,
                    "date": move.invoice_date or line.date,
                    "date_maturity": due_date,
                    "days_overdue": max((today - due_date).days, 0),
                    "amount": line.balance,
                    "residual": line.amount_residual,
                    "pay_url": pay_url,
                }
            )
        payments = MoveLine.search(
            [
                *base_domain,
                ("balance", "<", 0),
                ("date", ">=", date_from),
                ("date", "<=", date_to),
                "|",
                ("move_id.origin_payment_id", "!=", False),
                ("move_id.statement_line_id", "!=", False),
            ],
            order="date, id",
        )
        return {
            "partner": partner,
            "company": company,
            "currency": company.currency_id,
            "today": today,
            "date_from": date_from,
            "date_to": date_to,
            "items": items,
            "payments": [
                {
                    "date": line.date,
                    "move": line.move_id,
                    "reference": line.move_id.ref or line.name,
                    "amount": -line.balance,
                }
                for line in payments
            ],
            "total_received": -sum(payments.mapped("balance")),
            **partner._collection_aging_values(company),
            "total_due": sum(item["residual"] for item in items),
            "overdue": partner.collection_overdue_amount,
            "portal_url": base_url + "/my/invoices",
        }

    def _collection_statement_pdf(self, date_from=None, date_to=None):
        """The statement of account of this customer in the current company, as PDF
        bytes, in the customer's language; the payments listed are those received from
        ``date_from`` to ``date_to`` (default: the 30 days up to today)."""
        self.ensure_one()
        data = {
            key: fields.Date.to_string(value)
            for key, value in (("date_from", date_from), ("date_to", date_to))
            if value
        }
        pdf, _report_type = self.env["ir.actions.report"]._render_qweb_pdf(
            "account_collection.action_report_collection_statement",
            self.commercial_partner_id.ids,
            data=data,
        )
        return pdf

    def _collection_dossier_values(self):
        """The evidence of this customer's collection in the current company, oldest
        first: every interaction (archived ones too), reminder with its deliveries,
        promise to pay, and change of collection status, stage or collector."""
        self.ensure_one()
        partner = self.commercial_partner_id
        company = self.env.company
        domain = [("partner_id", "=", partner.id), ("company_id", "=", company.id)]
        tracked = (
            self.env["ir.model.fields"]
            .sudo()
            .search(
                [
                    ("model", "=", "res.partner"),
                    (
                        "name",
                        "in",
                        ["collection_status", "collection_stage_id", "collection_user_id"],
                    ),
                ]
            )
        )
        # sudo: tracking values are only readable by administrators; the caller checked
        # that the user is a collection manager who can read this customer.
        changes = (
            self.env["mail.tracking.value"]
            .sudo()
            .search(
                [
                    ("mail_message_id.model", "=", "res.partner"),
                    ("mail_message_id.res_id", "=", partner.id),
                    ("field_id", "in", tracked.ids),
                ],
                order="id",
            )
        )
        return {
            "partner": partner,
            "company": company,
            "currency": company.currency_id,
            "today": self._collection_today(),
            "printed_at": fields.Datetime.now(),
            "interactions": self.env["collection.interaction"]
            .with_context(active_test=False)
            .search(domain, order="date, id"),
            "communications": self.env["collection.communication"].search(domain, order="date, id"),
            "promises": self.env["collection.promise"].search(domain, order="date_made, id"),
            "status_changes": [
                {
                    "date": change.mail_message_id.date,
                    "author": change.mail_message_id.author_id,
                    "field": change.field_id.field_description,
                    "old": partner._collection_tracking_display(change, "old"),
                    "new": partner._collection_tracking_display(change, "new"),
                }
                for change in changes
            ],
            **partner._collection_aging_values(company),
        }

    def _collection_tracking_display(self, change, side):
        """The old or new value (``side``) of the tracked change ``change`` of a
        collection field, in the language of the environment: status labels and stage
        names are translated again, whatever language the change was recorded in."""
        field = self._fields.get(change.field_id.name)
        stored = change[f"{side}_value_char"] or ""
        if field and field.type == "selection" and isinstance(field.selection, list):
            key = {label: value for value, label in field.selection}.get(stored)
            if key:
                return dict(field._description_selection(self.env))[key]
        elif field and field.type == "many2one":
            record = self.env[field.comodel_name].browse(change[f"{side}_value_integer"]).exists()
            if record:
                return record.display_name
        return stored

    def action_collection_print_statement(self):
        self.ensure_one()
        partner = self.commercial_partner_id
        partner._collection_check_document_access()
        return self.env.ref("account_collection.action_report_collection_statement").report_action(
            partner
        )

    def action_collection_send_statement(self):
        """Open the email composer with the statement of account attached."""
        self.ensure_one()
        partner = self.commercial_partner_id
        partner._collection_check_document_access()
        if not partner.email:
            raise UserError(
                self.env._(
                    "%(partner)s has no email address: add one to send the statement of account.",
                    partner=partner.display_name,
                )
            )
        template = self.env.ref(
            "account_collection.mail_template_collection_statement", raise_if_not_found=False
        )
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Send Statement"),
            "res_model": "mail.compose.message",
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "new",
            "context": {
                "default_model": "res.partner",
                "default_res_ids": partner.ids,
                "default_composition_mode": "comment",
                "default_template_id": template.id if template else False,
                "default_email_layout_xmlid": (
                    "mail.mail_notification_layout_with_responsible_signature"
                ),
                "force_email": True,
            },
        }

    def action_collection_print_dossier(self):
        self.ensure_one()
        partner = self.commercial_partner_id
        partner._collection_check_dossier_access()
        return self.env.ref("account_collection.action_report_collection_dossier").report_action(
            partner
        )

    # ------------------------------------------------------------------
    # Customer portal: the statement of account
    # ------------------------------------------------------------------

    collection_portal_link_version = fields.Integer(
        string="Statement Links Version",
        default=0,
        copy=False,
        groups="base.group_system",
        help="Raised by Revoke Links: the statement links issued before stop working.",
    )

    def _collection_portal_token(self, company, issued=None):
        """Access token of the customer's statement of account in ``company``, issued
        on ``issued`` (default: today): anyone holding it sees that statement until the
        company's link validity after that day, unless a manager revoked the customer's
        links (the reminders carry it). ``<expiry YYYYMMDD>-<signature>``: the signature
        is derived from the database secret, so it needs no storage and cannot be
        guessed."""
        self.ensure_one()
        issued = issued or fields.Date.context_today(self)
        expiry = days_after(issued, company.sudo().collection_portal_link_days)
        return self._collection_portal_token_for(company, expiry)

    def _collection_portal_token_for(self, company, expiry):
        partner = self.commercial_partner_id
        # sudo: the version of the customer's links is only read to sign them.
        version = partner.sudo().collection_portal_link_version
        signature = hmac(
            self.env(su=True),
            "account_collection.statement",
            (partner.id, company.id, expiry.isoformat(), version),
        )
        return f"{expiry:%Y%m%d}-{signature}"

    def _collection_portal_token_check(self, company, token):
        """``"valid"``, ``"expired"`` or ``"invalid"`` (wrong, revoked or made up):
        what ``token`` (as in a link) opens of the customer's statement in ``company``."""
        self.ensure_one()
        expiry_text, _dash, _signature = str(token or "").partition("-")
        try:
            expiry = datetime.strptime(expiry_text, "%Y%m%d").date()
        except ValueError:
            return "invalid"
        if not consteq(str(token), self._collection_portal_token_for(company, expiry)):
            return "invalid"
        if expiry < fields.Date.context_today(self):
            return "expired"
        return "valid"

    def _collection_portal_url(self, company, issued=None):
        """Path of the customer's statement of account in ``company`` on the portal,
        with its access token issued on ``issued`` (default: today): it opens without
        a login until the link expires."""
        self.ensure_one()
        partner = self.commercial_partner_id
        query = urlencode(
            {
                "company_id": company.id,
                "access_token": partner._collection_portal_token(company, issued),
            }
        )
        return f"/my/collections/{partner.id}?{query}"

    def action_collection_revoke_portal_links(self):
        """Every statement link sent to this customer stops working; the next reminders
        carry new ones. Collection managers only."""
        if not self.env.user.has_group("account_collection.group_collection_manager"):
            raise AccessError(
                self.env._("Only collection managers can revoke a customer's statement links.")
            )
        partners = self.commercial_partner_id
        partners.check_access("write")
        # sudo: the links' version is technical; the manager's right was checked above.
        for partner in partners.sudo():
            partner.collection_portal_link_version += 1
        for partner in partners:
            partner._collection_post_note(
                self.env._(
                    "Statement links revoked: the links sent before no longer open the statement."
                )
            )
        return True

    # ==================================================================
    # Disputes: the customer's disputes
    # ==================================================================

    collection_dispute_ids = fields.One2many(
        "collection.dispute",
        "partner_id",
        string="Disputes",
        groups=ACCOUNTING_READERS,
    )
    collection_open_dispute_count = fields.Integer(
        string="Open Disputes",
        compute="_compute_collection_open_dispute_count",
        groups=ACCOUNTING_READERS,
    )

    def _compute_collection_open_dispute_count(self):
        counts = dict(
            self.env["collection.dispute"]._read_group(
                [
                    ("partner_id", "in", self.commercial_partner_id.ids),
                    ("state", "in", DISPUTE_OPEN_STATES),
                ],
                ["partner_id"],
                ["__count"],
            )
        )
        for partner in self:
            partner.collection_open_dispute_count = counts.get(partner.commercial_partner_id, 0)

    def action_collection_open_disputes(self):
        return self._collection_open_records("account_collection.collection_dispute_action")

    # ==================================================================
    # Dunning rule: the customers who get no reminder
    # ==================================================================

    @api.model
    def _dunning_exclusion_sql(self, company, alias):
        """Dunning rule: TRUE when the customer of the table ``alias`` gets no reminder
        in ``company``: excluded from reminders, or uncollectible. A customer in dispute
        is still reminded of the invoices it does not dispute (see
        ``collection.dispute._dunning_exclusion_sql``)."""
        Partner = self.with_company(company)
        Partner.flush_model(["collection_excluded", "collection_status"])
        Ledger = self.env["collection.ledger"]
        return SQL(
            """(%(excluded)s IS TRUE
                OR COALESCE(%(status)s, 'current') = 'uncollectible')""",
            excluded=Ledger._company_dependent_sql(Partner, alias, "collection_excluded"),
            status=Ledger._company_dependent_sql(Partner, alias, "collection_status"),
        )

    # ==================================================================
    # Follow-up page: the open items, the reminders, the next reminder
    # ==================================================================

    collection_effective_policy_id = fields.Many2one(
        "collection.policy",
        string="Effective Policy",
        compute="_compute_collection_next_reminder",
        help="The dunning policy that reminds this customer: its own, else the company's "
        "default policy.",
        groups="base.group_user",
    )
    collection_next_level_id = fields.Many2one(
        "collection.level",
        string="Next Reminder",
        compute="_compute_collection_next_reminder",
        help="Level of the next reminder the daily run will create for this customer if "
        "nothing changes (no payment, promise, dispute or agreement in between).",
        groups="base.group_user",
    )
    collection_next_reminder_date = fields.Date(
        string="Next Reminder On",
        compute="_compute_collection_next_reminder",
        help="Day the daily run will create the next reminder, if nothing changes.",
        groups="base.group_user",
    )
    collection_open_move_ids = fields.Many2many(
        "account.move",
        string="Open Items",
        compute="_compute_collection_open_move_ids",
        help="The customer's posted invoices and credit notes not paid yet, in the current "
        "company, oldest due first.",
        groups="base.group_user",
    )
    collection_communication_ids = fields.One2many(
        "collection.communication",
        "partner_id",
        string="Reminders",
        groups="account_collection.group_collection_user,account.group_account_invoice",
    )

    @api.depends(*LEDGER_DEPENDS, "collection_policy_id", "collection_level_id")
    @api.depends_context("company", "tz")
    def _compute_collection_next_reminder(self):
        """The next reminder of all these customers from one plan of the dunning run
        (``collection.dunning._dunning_next_reminders``): the same rules, the same
        queries, for every customer at once."""
        company = self.env.company
        partners = self.filtered("id")
        commercial = partners.commercial_partner_id
        upcoming = {}
        if commercial:
            # sudo: a reading of the ledger's figures; the partners are readable.
            upcoming = (
                self.env["collection.dunning"]
                .sudo()
                .with_company(company)
                ._dunning_next_reminders(company, company._collection_today(), commercial.ids)
            )
        Level = self.env["collection.level"]
        for partner in self:
            entry = upcoming.get(partner.commercial_partner_id.id) or {}
            partner.collection_effective_policy_id = (
                partner.commercial_partner_id.collection_policy_id or company.collection_policy_id
            )
            partner.collection_next_level_id = entry.get("level", Level).sudo(False)
            partner.collection_next_reminder_date = entry.get("date")

    @api.depends(*LEDGER_DEPENDS)
    @api.depends_context("company")
    def _compute_collection_open_move_ids(self):
        Move = self.env["account.move"]
        partners = self.filtered("id")
        moves = Move
        if partners:
            moves = Move.search(
                [
                    ("commercial_partner_id", "in", partners.commercial_partner_id.ids),
                    ("company_id", "=", self.env.company.id),
                    ("move_type", "in", ("out_invoice", "out_refund")),
                    ("state", "=", "posted"),
                    ("payment_state", "not in", ("paid", "reversed", "in_payment")),
                ],
                order="invoice_date_due, id",
            )
        per_partner = {}
        for move in moves:
            per_partner.setdefault(move.commercial_partner_id.id, []).append(move.id)
        for partner in self:
            partner.collection_open_move_ids = Move.browse(
                per_partner.get(partner.commercial_partner_id.id, [])
            )

    def action_collection_send_next_reminder(self):
        """Send the customer's next reminder now, before its day: the reminder the run
        would create, created by the run's own writes, approved and queued at once
        (the queue sends it within quiet hours and the contact limit)."""
        self.ensure_one()
        partner = self.commercial_partner_id
        partner._collection_check_access()
        if not partner._collection_in_user_portfolio():
            raise AccessError(
                self.env._(
                    "%(partner)s is in another collector's portfolio.",
                    partner=partner.display_name,
                )
            )
        company = self.env.company
        today = company._collection_today()
        # sudo: the user may work this customer (checked above); reminders are facts the
        # dunning run writes.
        Dunning = self.env["collection.dunning"].sudo().with_company(company)
        entry = Dunning._dunning_next_reminders(company, today, partner.ids).get(partner.id)
        if not entry:
            raise UserError(
                self.env._(
                    "No reminder is due for %(partner)s: nothing overdue reaches a new level "
                    "of its policy, or a promise, a dispute or an agreement holds its invoices.",
                    partner=partner.display_name,
                )
            )
        Communication = self.env["collection.communication"].sudo()
        if Communication.search_count(
            [
                ("partner_id", "=", partner.id),
                ("level_id", "=", entry["level"].id),
                ("date", "=", today),
            ]
        ):
            raise UserError(
                self.env._(
                    "%(partner)s already got a reminder at level %(level)s today.",
                    partner=partner.display_name,
                    level=entry["level"].display_name,
                )
            )
        communication = Dunning._create_from_plan(company, today, {partner.id: entry})
        communication.filtered(lambda c: c.state == "draft")._start()
        self.env.ref("account_collection.ir_cron_collection_send_queue").sudo()._trigger()
        return {
            "type": "ir.actions.act_window",
            "res_model": "collection.communication",
            "res_id": communication.id,
            "view_mode": "form",
        }

    # ==================================================================
    # The day the customer entered its stage
    # ==================================================================

    collection_stage_date = fields.Date(
        string="In Stage Since",
        company_dependent=True,
        readonly=True,
        help="The day the customer entered its collection stage: a stage that stops "
        "reminders holds the invoices due by then, not the later ones.",
        groups="base.group_user",
    )

    def _collection_write_stage_date(self, vals):
        """Write ``vals``. A customer entering a stage is dated (current company): the
        debt due by then is the debt that reached the stage."""
        if "collection_stage_id" not in vals or "collection_stage_date" in vals:
            return self._collection_write_email(vals)
        stage_id = vals["collection_stage_id"] or False
        # sudo: which of the customers change stage decides their date; the write below
        # checks the rights.
        moving = self.browse([p.id for p in self.sudo() if p.collection_stage_id.id != stage_id])
        result = self._collection_write_email(vals)
        if moving:
            today = self.env.company._collection_today()
            super(ResPartner, moving.sudo()).write({"collection_stage_date": today})
        return result

    # === EMAIL BOUNCES === #

    collection_email_bouncing = fields.Boolean(
        string="Email Address Bouncing",
        compute="_compute_collection_email_bouncing",
        help="Reminders sent to this address bounced repeatedly: the next ones go by "
        "another channel until the address is corrected or the customer writes from it.",
    )

    @api.depends("message_bounce")
    def _compute_collection_email_bouncing(self):
        for partner in self:
            partner.collection_email_bouncing = partner.message_bounce >= COLLECTION_BOUNCE_LIMIT

    def _collection_write_email(self, vals):
        """Write ``vals``; a corrected email address starts again with no bounce."""
        if "email" in vals:
            # A corrected address has not bounced yet.
            changed = self.filtered(
                lambda p: (
                    p.message_bounce and email_normalize(vals["email"] or "") != p.email_normalized
                )
            )
            result = super().write(vals)
            changed.message_bounce = 0
            return result
        return super().write(vals)

    # ------------------------------------------------------------------
    # The worklist's multi-edit: policy, exclusion, stage
    # ------------------------------------------------------------------

    def write(self, vals):
        worklist_vals = self._collection_worklist_values(vals)
        if not worklist_vals:
            return self._collection_write_stage_date(vals)
        self._collection_worklist_write(worklist_vals)
        others = {fname: value for fname, value in vals.items() if fname not in worklist_vals}
        if others:
            return self._collection_write_stage_date(others)
        return True

    def _collection_worklist_values(self, vals):
        """The values of ``vals`` a collector (not a manager) writes through
        ``_collection_worklist_write``; empty for everybody else (their rights apply)."""
        if self.env.su or not set(vals) & set(WORKLIST_FIELDS):
            return {}
        user = self.env.user
        if not user.has_group("account_collection.group_collection_user") or user.has_group(
            "account_collection.group_collection_manager"
        ):
            return {}
        return {fname: vals[fname] for fname in WORKLIST_FIELDS if fname in vals}

    def _collection_worklist_write(self, vals):
        """A collector sets the dunning policy, the exclusion from reminders or the
        stage of these customers (current company) from the worklist: refused for a
        customer of another collector's portfolio when the company restricts collectors
        to theirs, and for a policy or stage the collector cannot read."""
        self._collection_check_access()
        outside = self.filtered(lambda p: not p._collection_in_user_portfolio())
        if outside:
            raise AccessError(
                self.env._(
                    "%(partners)s: in another collector's portfolio.",
                    partners=", ".join(outside.commercial_partner_id.mapped("display_name")),
                )
            )
        if vals.get("collection_policy_id"):
            policy = self.env["collection.policy"].browse(vals["collection_policy_id"])
            policy.check_access("read")
            if policy.company_id not in (self.env.company, self.env["res.company"]):
                raise AccessError(
                    self.env._(
                        "The policy %(policy)s is not one of %(company)s.",
                        policy=policy.display_name,
                        company=self.env.company.name,
                    )
                )
        if vals.get("collection_stage_id"):
            self.env["collection.stage"].browse(vals["collection_stage_id"]).check_access("read")
        # sudo: collectors have no write access on contacts; the portfolio, the policy
        # and the stage were checked above. The changes are tracked under the collector's
        # name.
        self.sudo()._collection_write_stage_date(vals)

    # === REMINDERS: WHO RECEIVES THEM === #

    collection_contact_id = fields.Many2one(
        "res.partner",
        string="Collection Contact",
        company_dependent=True,
        domain="[('commercial_partner_id', '=', commercial_partner_id), ('id', '!=', id)]",
        help="The person of this customer the reminders of the current company are "
        "addressed to, the other invoice contacts and the customer in copy. Empty: the "
        "customer's invoice addresses, else the customer itself.",
        groups="base.group_user",
    )

    @api.constrains("collection_contact_id")
    def _check_collection_contact_id(self):
        for partner in self:
            contact = partner.collection_contact_id
            if contact and (
                contact == partner or contact.commercial_partner_id != partner.commercial_partner_id
            ):
                raise ValidationError(
                    self.env._(
                        "%(contact)s is not a contact of %(partner)s: a customer's reminders "
                        "go to one of its own contacts.",
                        contact=contact.display_name,
                        partner=partner.display_name,
                    )
                )

    def _collection_recipient_contacts(self, company):
        """(addressees, others) of this customer's reminders in ``company``, in order:
        its collection contact there when set, else its invoice addresses; ``others``
        are its other invoice addresses. The customer itself comes after both."""
        self.ensure_one()
        invoice_contacts = self.child_ids.filtered(lambda c: c.type == "invoice")
        contact = self.with_company(company).collection_contact_id.with_env(self.env)
        # An archived collection contact left the customer: the invoice addresses again.
        addressees = contact.filtered("active") or invoice_contacts
        return addressees, invoice_contacts - addressees


class ResPartnerReplies(models.Model):
    """The customer's replies (collection.reply), for the worklist's *Replies to Read*."""

    _inherit = "res.partner"

    collection_reply_ids = fields.One2many(
        "collection.reply",
        "partner_id",
        string="Replies",
        groups="account_collection.group_collection_user,account.group_account_invoice",
    )

    def _collection_thank(self, company, text):
        """Send the customer a short confirmation ``text`` (already in its language) by
        email, on its chatter, when its dunning policy in ``company`` says so and it has
        an address. Runs for the ledger, whoever matched the payment."""
        self.ensure_one()
        partner = self.commercial_partner_id.with_company(company).sudo()
        policy = partner.collection_policy_id or company.sudo().collection_policy_id
        if not policy.confirm_payment or not partner.email or partner.is_blacklisted:
            return False
        return partner.with_context(mail_post_autofollow=False).message_post(
            body=text,
            partner_ids=partner.ids,
            message_type="comment",
            subtype_xmlid="mail.mt_comment",
            email_layout_xmlid="mail.mail_notification_light",
        )

    @api.model
    def _collection_thank_paid(self, moves):
        """Thank the customers of the reminded ``moves`` that are now paid in full."""
        paid = moves.filtered(
            lambda m: (
                m.move_type == "out_invoice"
                and m.payment_state in ("paid", "in_payment")
                and m.collection_last_reminder_date
            )
        )
        # A promise kept by the same payment says thank you already.
        kept = (
            self.env["collection.promise"]
            .sudo()
            .search([("move_ids", "in", paid.ids), ("state", "=", "kept")])
            .filtered(lambda p: p.date_closed == p.company_id._collection_today())
        )
        paid -= kept.move_ids
        for (partner, company), invoices in paid.grouped(
            lambda m: (m.commercial_partner_id, m.company_id)
        ).items():
            lang = partner.lang or company.partner_id.lang
            env = self.with_context(lang=lang).env
            partner.with_env(env)._collection_thank(
                company,
                env._(
                    "Thank you: we received your payment of %(invoices)s. Your account is "
                    "up to date for these invoices.",
                    invoices=", ".join(invoices.mapped("name")),
                ),
            )

    @api.model
    def _collection_ids_in_use(self, fname, ids):
        """The ids among ``ids`` that a customer holds in its company-dependent field
        ``fname`` (a stage, a policy, a level), in any company."""
        if not ids:
            return set()
        self.flush_model([fname])
        rows = self.env.execute_query(
            SQL(
                """SELECT DISTINCT e.value::int
                     FROM res_partner p, jsonb_each_text(p.%(fname)s) e
                    WHERE p.%(fname)s IS NOT NULL AND e.value = ANY(%(ids)s)""",
                fname=SQL.identifier(fname),
                ids=[str(record_id) for record_id in ids],
            )
        )
        return {row[0] for row in rows}
