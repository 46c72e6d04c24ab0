"""19.0.1.4.0: the payment predictions of the open invoices are kept, fitted each night by a
scheduled action (``collection.prediction``'s tables, created by the module's update):
they are fitted now, so that the cash-in forecast reads them from the first day."""

from odoo import SUPERUSER_ID, api


def fit_predictions(env):
    """Fit every company's curves on its day and keep its open invoices' predictions."""
    Prediction = env["collection.prediction"]
    for company in env["res.company"].search([]):
        Prediction.with_company(company)._refresh_predictions(company, company._collection_today())


def migrate(cr, version):
    fit_predictions(api.Environment(cr, SUPERUSER_ID, {}))
