from odoo import api, models
from odoo.tools import ormcache

# What makes an account one of a company's receivable accounts.
RECEIVABLE_KEYS = {"account_type", "company_ids"}


class AccountAccount(models.Model):
    _inherit = "account.account"

    @api.model
    @ormcache("company_id")
    def _collection_receivable_account_ids(self, company_id):
        """Ids of the receivable accounts of a company, archived ones included. Every
        figure query filters the open items on them (PostgreSQL then uses the ledger's
        index of unreconciled lines per account): cached, and cleared when an account is
        created or deleted or changes type or companies."""
        accounts = (
            self.sudo()
            .with_context(active_test=False)
            .search([("account_type", "=", "asset_receivable"), ("company_ids", "in", company_id)])
        )
        return tuple(accounts.ids)

    @api.model_create_multi
    def create(self, vals_list):
        accounts = super().create(vals_list)
        self.env.registry.clear_cache()  # _collection_receivable_account_ids
        return accounts

    def write(self, vals):
        result = super().write(vals)
        if RECEIVABLE_KEYS & vals.keys():
            self.env.registry.clear_cache()  # _collection_receivable_account_ids
        return result

    def unlink(self):
        result = super().unlink()
        self.env.registry.clear_cache()  # _collection_receivable_account_ids
        return result
