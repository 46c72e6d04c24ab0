from odoo import api, fields, models


class ResCompany(models.Model):
    _inherit = "res.company"

    def _default_collection_placement_stage(self):
        return self.env.ref(
            "account_collection.collection_stage_extrajudicial", raise_if_not_found=False
        )

    collection_placement_stage_id = fields.Many2one(
        "collection.stage",
        string="Agency Placement Stage",
        default=_default_collection_placement_stage,
        ondelete="set null",
        help="The stage customers move to when invoices of theirs are placed with an agency; "
        "recalling them moves them back. Empty: placing leaves the stage alone.",
    )

    @api.model
    def _collection_set_placement_stage(self):
        """Companies without a placement stage take the shipped *Extrajudicial* one
        (called by the module's data: the companies existing at install)."""
        stage = self._default_collection_placement_stage()
        if stage:
            self.search([("collection_placement_stage_id", "=", False)]).write(
                {"collection_placement_stage_id": stage.id}
            )


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    collection_placement_stage_id = fields.Many2one(
        related="company_id.collection_placement_stage_id", readonly=False
    )
