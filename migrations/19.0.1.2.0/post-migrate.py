"""19.0.1.2.0: the dunning run moves from collection.communication to the service
collection.dunning. The daily cron is noupdate: point it at the new model."""

from odoo import SUPERUSER_ID, api


def migrate(cr, version):
    env = api.Environment(cr, SUPERUSER_ID, {})
    cron = env.ref("account_collection.ir_cron_collection_dunning", raise_if_not_found=False)
    if not cron or cron.model_id.model != "collection.communication":
        return
    cron.write(
        {
            "model_id": env["ir.model"]._get_id("collection.dunning"),
            "code": "model._cron_run_dunning()",
        }
    )
