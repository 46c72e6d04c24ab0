"""19.0.1.4.0: the send queue journals its provider calls (``collection.delivery.call``)
instead of committing "sending" before each one. A delivery left "sending" by the former
queue (a worker killed while its provider was called) may or may not have left: it is
failed for a person to check, as the former queue did after 15 minutes, so that the new
queue (which queues again a delivery "sending" with no call journaled) never sends it
twice."""

from odoo import SUPERUSER_ID, api


def fail_interrupted(env):
    deliveries = env["collection.communication.delivery"].search([("state", "=", "sending")])
    deliveries._set_failed(deliveries._interrupted_message())
    deliveries.communication_id._update_state()


def migrate(cr, version):
    fail_interrupted(api.Environment(cr, SUPERUSER_ID, {}))
