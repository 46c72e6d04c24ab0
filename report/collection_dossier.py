from odoo import api, models


class ReportCollectionDossier(models.AbstractModel):
    _name = "report.account_collection.report_collection_dossier"
    _description = "Collection Dossier"

    @api.model
    def _get_report_values(self, docids, data=None):
        partners = self.env["res.partner"].browse(docids)
        partners._collection_check_dossier_access()
        return {"doc_ids": docids, "doc_model": "res.partner", "docs": partners}
