"""19.0.1.4.0: the worklist reads its customers in priority order from the priority of
the day kept on each customer's balance row (``collection_ledger_balance.priority`` and
``priority_date``, kept by the ledger's triggers, the status's and the promises' triggers
and an hourly scheduled action). The module's update added the columns; they are filled
here for today."""

from odoo import SUPERUSER_ID, api


def migrate(cr, version):
    env = api.Environment(cr, SUPERUSER_ID, {})
    env["collection.ledger"]._priority_fill()
