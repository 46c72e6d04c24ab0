from odoo import models


class IrModuleModule(models.Model):
    _inherit = "ir.module.module"

    def _load_module_terms(self, modules, langs, overwrite=False):
        """When a language is installed after the addon, name the default aging buckets
        in that language too."""
        super()._load_module_terms(modules, langs, overwrite=overwrite)
        if "account_collection" in modules and "collection.aging.bucket" in self.env:
            self.env["res.company"].sudo().search([])._collection_translate_default_buckets(langs)
