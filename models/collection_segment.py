"""Segments: ordered rules on the customers, each giving a dunning policy and
optionally a collector (README, "Segments")."""

from odoo import api, fields, models
from odoo.exceptions import ValidationError
from odoo.fields import Domain
from odoo.tools import SQL
from odoo.tools.safe_eval import safe_eval


class CollectionSegment(models.Model):
    _name = "collection.segment"
    _description = "Collection Segment"
    _order = "sequence, id"

    name = fields.Char(required=True, translate=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    company_id = fields.Many2one(
        "res.company", required=True, index=True, default=lambda self: self.env.company
    )
    domain = fields.Char(
        string="Customers",
        default="[]",
        required=True,
        help="The customers of this segment: a customer belongs to the first segment, in "
        "order, whose rule it matches.",
    )
    policy_id = fields.Many2one(
        "collection.policy",
        string="Dunning Policy",
        required=True,
        domain="[('company_id', '=', company_id)]",
        help="Reminder policy of the segment's customers that have no policy of their own.",
    )
    user_id = fields.Many2one(
        "res.users",
        string="Collector",
        domain="[('share', '=', False)]",
        help="Collector given to the segment's customers that have none yet.",
    )
    user_ids = fields.Many2many(
        "res.users",
        "collection_segment_balanced_user_rel",
        "segment_id",
        "user_id",
        string="Collectors to Balance",
        domain="[('share', '=', False)]",
        help="When the segment gives no single collector: each of its customers without a "
        "collector goes to the one of these with the lightest open workload.",
    )
    balance_by = fields.Selection(
        [("amount", "Overdue Amount"), ("count", "Number of Customers")],
        string="Workload",
        default="amount",
        required=True,
        help="How the workload of the collectors to balance is measured: the overdue amount "
        "of their customers in the company (ties: fewer customers), or the number of their "
        "customers (ties: the lower overdue amount).",
    )

    def _customer_domain(self):
        self.ensure_one()
        return Domain(safe_eval(self.domain or "[]"))

    @api.constrains("domain")
    def _check_domain(self):
        for segment in self:
            try:
                self.env["res.partner"].search(segment._customer_domain(), limit=1)
            except Exception as e:
                raise ValidationError(
                    self.env._(
                        "The rule of the segment %(segment)s is not a valid filter on "
                        "customers: %(error)s",
                        segment=segment.name,
                        error=str(e),
                    )
                ) from e

    @api.model
    def _assign_segments(self, company, partners=None):
        """Put the customers of ``company`` (``partners``, or all the companies'
        commercial partners that are customers) in the first segment whose rule they
        match, and give those without a collector the segment's collector (by default:
        the companies and the customers, not the contacts of people). Returns
        {segment: customers}."""
        Partner = self.env["res.partner"].with_company(company).sudo()
        if partners is None:
            partners = Partner.search(
                [
                    ("parent_id", "=", False),
                    "|",
                    ("customer_rank", ">", 0),
                    ("is_company", "=", True),
                ]
            )
        remaining = Partner.browse(partners.commercial_partner_id.ids)
        assigned = {}
        # sudo: the segments are assigned by the engine, from the company's rules.
        for segment in self.sudo().search([("company_id", "=", company.id)]):
            if not remaining:
                break
            matched = Partner.search(Domain("id", "in", remaining.ids) & segment._customer_domain())
            assigned[segment] = matched
            remaining -= matched
        for segment, matched in assigned.items():
            matched.filtered(lambda p, s=segment: p.collection_segment_id != s).write(
                {"collection_segment_id": segment.id}
            )
            if segment.user_id:
                matched.filtered(lambda p: not p.collection_user_id).write(
                    {"collection_user_id": segment.user_id.id}
                )
            elif segment.user_ids:
                segment._balance_collectors(
                    company, matched.filtered(lambda p: not p.collection_user_id)
                )
        remaining.filtered("collection_segment_id").write({"collection_segment_id": False})
        return assigned

    def _collector_workloads(self, company):
        """{collector: [overdue amount, number of customers]} of the segment's collectors
        to balance: over the customers (commercial partners) they are in charge of in
        ``company``, one query."""
        self.ensure_one()
        Partner = self.env["res.partner"].with_company(company)
        Ledger = self.env["collection.ledger"]
        Partner.flush_model(["collection_user_id", "commercial_partner_id"])
        collector = Ledger._company_dependent_sql(Partner, "p", "collection_user_id")
        rows = self.env.execute_query(
            SQL(
                """
                SELECT %(collector)s, COALESCE(SUM(figures.overdue_amount), 0), COUNT(*)
                  FROM res_partner p
                  LEFT JOIN %(figures)s figures ON figures.partner_id = p.id
                 WHERE p.id = p.commercial_partner_id
                   AND %(collector)s IN %(user_ids)s
                 GROUP BY 1
                """,
                collector=collector,
                figures=Ledger._figures_sql(company, Partner._collection_today()),
                user_ids=tuple(self.user_ids.ids),
            )
        )
        loads = {user: [0.0, 0] for user in self.user_ids}
        for user_id, amount, count in rows:
            loads[self.env["res.users"].browse(user_id)] = [amount, count]
        return loads

    def _balance_collectors(self, company, partners):
        """Give each of ``partners`` (customers without a collector) the segment's
        collector to balance with the lightest workload (balance_by), the largest debts
        first, each assignment adding to its collector's workload."""
        self.ensure_one()
        if not partners:
            return
        loads = self._collector_workloads(company)
        by_count = self.balance_by == "count"

        def lightest(user):
            amount, count = loads[user]
            return (count, amount, user.id) if by_count else (amount, count, user.id)

        partners = partners.with_company(company)
        assigned = {}
        for partner in partners.sorted(lambda p: (-p.collection_overdue_amount, p.id)):
            user = min(loads, key=lightest)
            loads[user][0] += partner.collection_overdue_amount
            loads[user][1] += 1
            assigned.setdefault(user, partners.browse())
            assigned[user] |= partner
        for user, customers in assigned.items():
            customers.write({"collection_user_id": user.id})

    @api.model_create_multi
    def create(self, vals_list):
        segments = super().create(vals_list)
        segments._reassign()
        return segments

    def write(self, vals):
        result = super().write(vals)
        if {"domain", "sequence", "active", "policy_id", "user_id", "user_ids"} & set(vals):
            self._reassign()
        return result

    def _reassign(self):
        """The rules changed: put the customers of their companies in their segments
        again."""
        for company in self.company_id:
            self.with_company(company)._assign_segments(company)

    @api.model
    def _policy_sql(self, Partner, alias):
        """SQL value of the policy that reminds the customer row ``alias`` (``Partner``
        with the run's company): its own, else its segment's (NULL when neither)."""
        self.flush_model(["policy_id", "active"])
        Ledger = self.env["collection.ledger"]
        return SQL(
            "COALESCE(%s, (SELECT seg.policy_id FROM collection_segment seg"
            " WHERE seg.id = %s AND seg.active))",
            Ledger._company_dependent_sql(Partner, alias, "collection_policy_id"),
            Ledger._company_dependent_sql(Partner, alias, "collection_segment_id"),
        )

    @api.model
    def _cron_assign_segments(self):
        """Nightly: the segments of every company's customers."""
        for company in self.env["res.company"].search([]):
            self.with_company(company)._assign_segments(company)

    def action_assign_segments(self):
        """Apply the rules to the customers of the current company now."""
        if not self.env.user.has_group("account_collection.group_collection_manager"):
            raise ValidationError(self.env._("Only collection managers can apply the segments."))
        self._assign_segments(self.env.company)


class ResPartner(models.Model):
    _inherit = "res.partner"

    collection_segment_id = fields.Many2one(
        "collection.segment",
        string="Segment",
        company_dependent=True,
        readonly=True,
        help="The first segment whose rule the customer matches: it gives the customer its "
        "dunning policy when it has none of its own.",
        groups="base.group_user",
    )

    @api.model_create_multi
    def create(self, vals_list):
        partners = super().create(vals_list)
        customers = partners.filtered(lambda p: not p.parent_id)
        if customers and self.env["collection.segment"].sudo().search_count([], limit=1):
            self.env["collection.segment"]._assign_segments(self.env.company, customers)
        return partners

    def write(self, vals):
        result = super().write(vals)
        # A change of the customer (its country, tags, salesperson...) may move it to
        # another segment; the collection fields, written by the runs, do not.
        if any(not fname.startswith("collection_") for fname in vals) and self.env[
            "collection.segment"
        ].sudo().search_count([("company_id", "=", self.env.company.id)], limit=1):
            customers = self.filtered(lambda p: p.id and not p.parent_id)
            if customers:
                self.env["collection.segment"]._assign_segments(self.env.company, customers)
        return result

    def _compute_collection_next_reminder(self):
        super()._compute_collection_next_reminder()
        for partner in self:
            commercial = partner.commercial_partner_id
            if not commercial.collection_policy_id and commercial.collection_segment_id:
                partner.collection_effective_policy_id = commercial.collection_segment_id.policy_id
