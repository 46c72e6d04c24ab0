from odoo import api, fields, models


class CollectionPlacementPlace(models.TransientModel):
    _name = "collection.placement.place"
    _description = "Place Invoices with an Agency"

    partner_id = fields.Many2one("res.partner", string="Customer", required=True, readonly=True)
    company_id = fields.Many2one(
        "res.company", required=True, readonly=True, default=lambda self: self.env.company
    )
    currency_id = fields.Many2one(related="company_id.currency_id")
    agency_id = fields.Many2one(
        "res.partner",
        string="Agency",
        required=True,
        domain="[('collection_is_agency', '=', True)]",
        help="The collection agency or lawyer the invoices are handed over to.",
    )
    commission_percent = fields.Float(
        string="Commission (%)",
        compute="_compute_commission_percent",
        store=True,
        readonly=False,
        digits=(5, 2),
        help="Share of what the agency collects that it is owed; from the agency by default.",
    )
    move_ids = fields.Many2many(
        "account.move",
        string="Invoices",
        required=True,
        domain="[('commercial_partner_id', '=', partner_id), ('company_id', '=', company_id),"
        " ('move_type', '=', 'out_invoice'), ('state', '=', 'posted'),"
        " ('payment_state', 'in', ('not_paid', 'partial'))]",
    )
    amount = fields.Monetary(string="Amount Placed", compute="_compute_amount")
    note = fields.Text(
        string="Instructions", help="What the agency is asked to do, sent with the pack."
    )

    @api.depends("agency_id")
    def _compute_commission_percent(self):
        for wizard in self:
            wizard.commission_percent = wizard.agency_id.collection_agency_commission

    @api.depends("move_ids")
    def _compute_amount(self):
        for wizard in self:
            wizard.amount = sum(wizard.move_ids.mapped("amount_residual_signed"))

    @api.model
    def _collection_action(self, partner, moves):
        """The action opening this dialog for ``partner``'s invoices ``moves``."""
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Place with Agency"),
            "res_model": self._name,
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "new",
            "context": {
                "default_partner_id": partner.id,
                "default_company_id": (moves.company_id[:1] or self.env.company).id,
                "default_move_ids": [fields.Command.set(moves.ids)],
            },
        }

    def action_confirm(self):
        self.ensure_one()
        placement = self.env["collection.placement"]._collection_place(
            self.move_ids, self.agency_id, self.commission_percent, self.note
        )
        return {
            "type": "ir.actions.act_window",
            "res_model": "collection.placement",
            "res_id": placement.id,
            "view_mode": "form",
            "views": [(False, "form")],
        }
