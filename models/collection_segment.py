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
        remaining.filtered("collection_segment_id").write({"collection_segment_id": False})
        return assigned

    @api.model_create_multi
    def create(self, vals_list):
        segments = super().create(vals_list)
        segments._reassign()
        return segments

    def write(self, vals):
        result = super().write(vals)
        if {"domain", "sequence", "active", "policy_id", "user_id"} & set(vals):
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
