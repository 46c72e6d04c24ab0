"""19.0.1.4.0: the risk score reads the customers' paid history (invoices paid in full,
per customer, company and day of their last matching) and the number of their open
overdue debits from sums kept by triggers on the journal items and their matchings, like
the figures' sums of 19.0.1.3.0. The module's update created the table and the column;
they are filled here from the journal items already there."""

from odoo import SUPERUSER_ID, api


def migrate(cr, version):
    env = api.Environment(cr, SUPERUSER_ID, {})
    env["collection.ledger"]._sums_rebuild()
