from odoo import api, fields, models


class CollectionChargeWaive(models.TransientModel):
    _name = "collection.charge.waive"
    _description = "Waive Late-Payment Charges"

    move_ids = fields.Many2many("account.move", string="Invoices", required=True)
    currency_id = fields.Many2one(related="company_id.currency_id")
    company_id = fields.Many2one("res.company", default=lambda self: self.env.company)
    waive_interest = fields.Boolean(string="Interest", default=True)
    waive_compensation = fields.Boolean(string="Compensation", default=True)
    waive_fee = fields.Boolean(string="Fees", default=True)
    interest_amount = fields.Monetary(compute="_compute_amounts", string="Interest Claimable")
    compensation_amount = fields.Monetary(
        compute="_compute_amounts", string="Compensation Claimable"
    )
    fee_amount = fields.Monetary(compute="_compute_amounts", string="Fees Claimable")
    reason = fields.Text(
        required=True,
        help="Why the company gives these charges up: kept with the charges and logged on "
        "the customer.",
    )

    @api.depends("move_ids")
    def _compute_amounts(self):
        for wizard in self:
            company = wizard.company_id or self.env.company
            today = company._collection_today()
            totals = {"interest": 0.0, "compensation": 0.0, "fee": 0.0}
            for move in wizard.move_ids:
                for item in move._collection_charge_items():
                    totals[item["kind"]] += move.currency_id._convert(
                        item["amount"], company.currency_id, company, today
                    )
            wizard.interest_amount = totals["interest"]
            wizard.compensation_amount = totals["compensation"]
            wizard.fee_amount = totals["fee"]

    @api.model_create_multi
    def create(self, vals_list):
        self.env["collection.charge"]._collection_check_manager()
        return super().create(vals_list)

    def action_confirm(self):
        self.ensure_one()
        kinds = [
            kind
            for kind, waive in (
                ("interest", self.waive_interest),
                ("compensation", self.waive_compensation),
                ("fee", self.waive_fee),
            )
            if waive
        ]
        self.env["collection.charge"]._collection_waive(self.move_ids, self.reason, kinds=kinds)
        return {"type": "ir.actions.act_window_close"}
