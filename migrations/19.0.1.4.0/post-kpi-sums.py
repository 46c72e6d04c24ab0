"""19.0.1.4.0: the collection KPIs read their ledger from sums kept per customer, company
and day by triggers on the journal items and matchings (``collection.kpi``'s tables, created
by the module's update): they are computed again from the journal items already there."""

from odoo import SUPERUSER_ID, api


def fill_kpi_sums(env):
    """Compute the KPIs' sums of every customer and company from the journal items."""
    return env["collection.kpi"]._kpi_sums_rebuild()


def migrate(cr, version):
    fill_kpi_sums(api.Environment(cr, SUPERUSER_ID, {}))
