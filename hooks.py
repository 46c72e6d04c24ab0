def post_init_hook(env):
    """Give every existing company its default aging buckets."""
    env["res.company"].search([])._collection_ensure_aging_buckets()
