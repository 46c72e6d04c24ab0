def post_init_hook(env):
    """Give every existing company its default aging buckets; customers already
    overdue read *Overdue*."""
    env["res.company"].search([])._collection_ensure_aging_buckets()
    for company in env["res.company"].search([]):
        env["collection.dunning"].with_company(company)._mark_overdue_statuses(company)
