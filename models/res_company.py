from odoo import api, fields, models

from .collection_aging_bucket import default_buckets


class ResCompany(models.Model):
    _inherit = "res.company"

    collection_aging_bucket_ids = fields.One2many(
        "collection.aging.bucket", "company_id", string="Aging Buckets"
    )
    collection_default_user_id = fields.Many2one(
        "res.users",
        string="Default Collector",
        help="Collector given to customers that have none.",
    )
    collection_promise_grace_days = fields.Integer(
        string="Promise Grace Period (days)",
        default=2,
        help="Days after a promise's date during which a payment still keeps it.",
    )
    collection_portfolio_restricted = fields.Boolean(
        string="Collectors See Only Their Own Portfolio",
        help="Collectors who are not collection managers only see their own customers in "
        "the worklist, and only their customers' interactions and promises.",
    )

    @api.model_create_multi
    def create(self, vals_list):
        companies = super().create(vals_list)
        companies._collection_ensure_aging_buckets()
        return companies

    def _collection_ensure_aging_buckets(self):
        """Create the default aging buckets for the companies of ``self`` that have none."""
        Bucket = self.env["collection.aging.bucket"].sudo().with_context(lang="en_US")
        with_buckets = set(Bucket.search([("company_id", "in", self.ids)]).company_id.ids)
        companies = self.filtered(lambda c: c.id not in with_buckets)
        if not companies:
            return
        Bucket.create(
            [
                {"name": name, "days_from": days_from, "company_id": company.id}
                for company in companies
                for name, days_from in default_buckets(Bucket.env)
            ]
        )
        languages = [code for code, _name in self.env["res.lang"].get_installed()]
        companies._collection_translate_default_buckets(languages)

    def _collection_translate_default_buckets(self, languages):
        """Give the default aging buckets of these companies their name in ``languages``,
        so that each user reads them in their own; buckets renamed by the company keep
        their name."""
        Bucket = self.env["collection.aging.bucket"].sudo().with_context(lang="en_US")
        english = {days: name for name, days in default_buckets(Bucket.env)}
        buckets = Bucket.search([("company_id", "in", self.ids)]).filtered(
            lambda b: english.get(b.days_from) == b.name
        )
        for lang in languages:
            if lang == "en_US" or not buckets:
                continue
            names = {days: name for name, days in default_buckets(Bucket.with_context(lang=lang).env)}
            for bucket in buckets:
                bucket.with_context(lang=lang).name = names[bucket.days_from]
