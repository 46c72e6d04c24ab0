from odoo import api, models
from odoo.exceptions import AccessError


def may_change_shared(env):
    """Whether the current user may change the collection configuration every company
    shares (the stages, the dispute reasons without a company, the statutory interest
    rates): a user of every company, or an administrator. A user of some companies would
    change the others'."""
    if env.su or env.user.has_group("base.group_system"):
        return True
    # sudo: only which companies exist is read, to compare with the user's.
    return not (env["res.company"].sudo().search([]) - env.user.company_ids)


class CollectionSharedMixin(models.AbstractModel):
    """Configuration every company shares: only a user who may change what they share
    (``may_change_shared``) adds, changes or deletes it."""

    _name = "collection.shared.mixin"
    _description = "Collection Configuration Shared by Every Company"

    def _collection_shared_records(self):
        """Those of these records every company shares (all of them by default)."""
        return self

    def _collection_shared_denied_message(self, shared):
        """The translated refusal for ``shared`` (these records' shared ones)."""
        raise NotImplementedError

    def _check_shared_access(self):
        shared = self._collection_shared_records()
        if shared and not may_change_shared(self.env):
            raise AccessError(self._collection_shared_denied_message(shared))

    @api.model_create_multi
    def create(self, vals_list):
        records = super().create(vals_list)
        records._check_shared_access()
        return records

    def write(self, vals):
        self._check_shared_access()
        result = super().write(vals)
        if "company_id" in vals:
            self._check_shared_access()
        return result

    def unlink(self):
        self._check_shared_access()
        return super().unlink()
