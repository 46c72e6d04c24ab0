import itertools

from odoo import api, fields, models
from odoo.tools import SQL, ormcache


def default_buckets(env):
    """Default aging buckets of a company, as (name, first day overdue it holds), with
    names in ``env``'s language. Each bucket runs up to the day before the next one
    starts; the first one also holds what is not overdue yet, the last one everything
    older."""
    return [
        (env._("Not due"), 0),
        (env._("1-30 days"), 1),
        (env._("31-60 days"), 31),
        (env._("61-90 days"), 61),
        (env._("91-120 days"), 91),
        (env._("Over 120 days"), 121),
    ]


class CollectionAgingBucket(models.Model):
    _name = "collection.aging.bucket"
    _description = "Collection Aging Bucket"
    _order = "company_id, days_from, id"

    name = fields.Char(required=True, translate=True)
    company_id = fields.Many2one(
        "res.company", required=True, index=True, default=lambda self: self.env.company
    )
    days_from = fields.Integer(
        string="Starts at (days overdue)",
        required=True,
        help="Number of days past the due date at which this bucket starts. A bucket ends "
        "the day before the next one starts; the first bucket also holds the items that are "
        "not overdue yet, the last one everything older.",
    )
    days_to = fields.Integer(
        string="Ends at (days overdue)",
        compute="_compute_days_to",
        help="Last day of the bucket, from the next bucket's start. Empty for the last bucket.",
    )

    _days_from_unique = models.UniqueIndex(
        "(company_id, days_from)",
        "Two aging buckets of a company cannot start on the same day.",
    )

    @api.depends("days_from", "company_id")
    def _compute_days_to(self):
        for company in self.company_id:
            buckets = self.search([("company_id", "=", company.id)])
            for bucket, following in itertools.pairwise(buckets):
                bucket.days_to = following.days_from - 1
            buckets[-1:].days_to = False
        (self - self.filtered("company_id")).days_to = False

    @api.model_create_multi
    def create(self, vals_list):
        buckets = super().create(vals_list)
        self.env.registry.clear_cache()  # _bucket_bounds
        return buckets

    def write(self, vals):
        result = super().write(vals)
        if {"company_id", "days_from"} & vals.keys():
            self.env.registry.clear_cache()  # _bucket_bounds
        return result

    def unlink(self):
        result = super().unlink()
        self.env.registry.clear_cache()  # _bucket_bounds
        return result

    @api.model
    @ormcache("company_id")
    def _bucket_bounds(self, company_id):
        """((bucket id, first day), ...) of a company's buckets, in order. Every figure
        query reads them: cached, and cleared when a bucket changes."""
        buckets = self.sudo().search([("company_id", "=", company_id)])
        return tuple((bucket.id, bucket.days_from) for bucket in buckets)

    @api.model
    def _bucket_case_sql(self, company, days_sql):
        """SQL expression giving the id of the ``company`` bucket holding ``days_sql`` days
        overdue (NULL if the company has no bucket)."""
        bounds = self._bucket_bounds(company.id)
        if not bounds:
            return SQL("NULL::integer")
        whens = [
            SQL("WHEN %s >= %s THEN %s", days_sql, days_from, bucket_id)
            for bucket_id, days_from in reversed(bounds[1:])
        ]
        return SQL("(CASE %s ELSE %s END)", SQL(" ").join(whens), bounds[0][0])

    def _bucket_for_days(self, days):
        """The bucket of ``self`` (one company's buckets) that holds ``days`` days overdue."""
        found = self.browse()
        for bucket in self.sorted("days_from"):
            if not found or days >= bucket.days_from:
                found = bucket
        return found
