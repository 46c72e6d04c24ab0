from .models.collection_kpi import KPI_SUMS_DROP
from .models.collection_ledger import LEDGER_SUMS_DROP
from .models.collection_prediction import PREDICTIONS_DROP


def post_init_hook(env):
    """Give every existing company its default aging buckets; customers already
    overdue read *Overdue*."""
    env["res.company"].search([])._collection_ensure_aging_buckets()
    for company in env["res.company"].search([]):
        env["collection.dunning"].with_company(company)._mark_overdue_statuses(company)


def uninstall_hook(env):
    """Remove the sums behind the figures and the KPIs, the payment predictions kept and
    the triggers on the journal items that keep them: accounting goes on without them."""
    env.cr.execute(PREDICTIONS_DROP)
    env.cr.execute(LEDGER_SUMS_DROP)
    env.cr.execute(KPI_SUMS_DROP)
