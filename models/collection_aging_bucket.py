from odoo import api, fields, models
from odoo.tools import SQL


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
            for bucket, following in zip(buckets, buckets[1:]):
                bucket.days_to = following.days_from - 1
            buckets[-1:].days_to = False
        (self - self.filtered("company_id")).days_to = False

    @api.model
    def _bucket_case_sql(self, company, days_sql):
        """SQL expression giving the id of the ``company`` bucket holding ``days_sql`` days
        overdue (NULL if the company has no bucket)."""
        buckets = self.sudo().search([("company_id", "=", company.id)])
        if not buckets:
            return SQL("NULL::integer")
        whens = [
            SQL("WHEN %s >= %s THEN %s", days_sql, bucket.days_from, bucket.id)
            for bucket in reversed(buckets[1:])
        ]
        return SQL("(CASE %s ELSE %s END)", SQL(" ").join(whens), buckets[0].id)

    def _bucket_for_days(self, days):
        """The bucket of ``self`` (one company's buckets) that holds ``days`` days overdue."""
        found = self.browse()
        for bucket in self.sorted("days_from"):
            if not found or days >= bucket.days_from:
                found = bucket
        return found
