from odoo import fields, models
from odoo.exceptions import UserError


class ResPartner(models.Model):
    """Collection agencies and lawyers invoices are placed with, and the customer's
    placements (see ``collection.placement``)."""

    _inherit = "res.partner"

    collection_is_agency = fields.Boolean(
        string="Collection Agency",
        help="A collection agency or a lawyer invoices can be placed with.",
    )
    collection_agency_commission = fields.Float(
        string="Agency Commission (%)",
        digits=(5, 2),
        help="The agency's commission on what it collects: the default of its placements.",
    )
    collection_placement_count = fields.Integer(
        string="Placements",
        compute="_compute_collection_placement_count",
        groups="account_collection.group_collection_user,account.group_account_invoice",
    )

    _collection_agency_commission_range = models.Constraint(
        "CHECK (collection_agency_commission >= 0 AND collection_agency_commission <= 100)",
        "An agency's commission is between 0 and 100 percent.",
    )

    def _compute_collection_placement_count(self):
        counts = dict(
            self.env["collection.placement"]._read_group(
                [
                    ("partner_id", "in", self.commercial_partner_id.ids),
                    ("company_id", "=", self.env.company.id),
                ],
                ["partner_id"],
                ["__count"],
            )
        )
        for partner in self:
            partner.collection_placement_count = counts.get(partner.commercial_partner_id, 0)

    def action_collection_open_placements(self):
        return self._collection_open_records("account_collection.collection_placement_action")

    def action_collection_place(self):
        """Open the dialog placing this customer's open invoices with an agency."""
        self.ensure_one()
        partner = self.commercial_partner_id
        self.env["collection.placement"]._collection_check_manager()
        moves = self.env["account.move"].search(
            [
                ("commercial_partner_id", "=", partner.id),
                ("company_id", "=", self.env.company.id),
                ("move_type", "=", "out_invoice"),
                ("state", "=", "posted"),
                ("payment_state", "in", ("not_paid", "partial")),
                ("collection_days_overdue", ">", 0),
                ("id", "not in", self.env["collection.placement"]._collection_placed_move_ids()),
            ]
        )
        return self.env["collection.placement.place"]._collection_action(partner, moves)


class AccountMove(models.Model):
    _inherit = "account.move"

    collection_placement_id = fields.Many2one(
        "collection.placement",
        string="Placed With Agency",
        compute="_compute_collection_placement_id",
        groups="account_collection.group_collection_user,account.group_account_invoice",
        help="The agency placement that holds this invoice: it gets no reminder meanwhile.",
    )

    def _compute_collection_placement_id(self):
        placements = self.env["collection.placement"].search(
            [("move_ids", "in", self.filtered("id").ids), ("state", "=", "placed")]
        )
        for move in self:
            move.collection_placement_id = placements.filtered(
                lambda p, move=move: move in p.move_ids
            )[:1]

    def action_collection_place(self):
        """Open the dialog placing these invoices (one customer's) with an agency."""
        self.env["collection.placement"]._collection_check_manager()
        partner = self.commercial_partner_id
        if len(partner) != 1:
            raise UserError(
                self.env._("The invoices placed together are those of one customer and company.")
            )
        return self.env["collection.placement.place"]._collection_action(partner, self)
