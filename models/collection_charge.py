"""Late-payment charges invoiced or waived: what was claimed of the interest, the
compensation and the level fees of an invoice, so that nothing is charged twice.

A charge is a fact written by the charges service only (``_collection_invoice``,
``_collection_waive``), after the caller's rights were checked: one row per charged
invoice and kind (a fee per level), linked to the invoice line that charges it. Its
state follows the ledger: a charge invoice cancelled, or settled in full by a credit
note (Odoo's reversal), makes its charges reversed and the amounts claimable again.
"""

from collections import defaultdict

from odoo import Command, api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.fields import Domain
from odoo.tools import format_amount, format_date

CHARGE_KINDS = ("interest", "compensation", "fee")

# The default product of each kind (data/collection_charge_data.xml), used when the
# company names none in its settings.
DEFAULT_PRODUCTS = {
    "interest": "account_collection.product_collection_interest",
    "compensation": "account_collection.product_collection_compensation",
    "fee": "account_collection.product_collection_fee",
}


class CollectionCharge(models.Model):
    _name = "collection.charge"
    _description = "Late-Payment Charge"
    _order = "date_to desc, id desc"
    _check_company_auto = True

    invoice_id = fields.Many2one(
        "account.move",
        string="Charged Invoice",
        required=True,
        index=True,
        ondelete="restrict",
        readonly=True,
        help="The overdue invoice this interest, compensation or fee is charged for.",
    )
    company_id = fields.Many2one(related="invoice_id.company_id", store=True, index=True)
    partner_id = fields.Many2one(
        related="invoice_id.commercial_partner_id", string="Customer", store=True, index=True
    )
    currency_id = fields.Many2one(related="invoice_id.currency_id", string="Currency")
    kind = fields.Selection(
        [
            ("interest", "Late-Payment Interest"),
            ("compensation", "Compensation for Recovery Costs"),
            ("fee", "Dunning Fee"),
        ],
        required=True,
        readonly=True,
    )
    level_id = fields.Many2one(
        "collection.level",
        string="Level",
        readonly=True,
        ondelete="restrict",
        help="The dunning level whose fee this is.",
    )
    amount = fields.Monetary(readonly=True)
    date_from = fields.Date(
        string="Interest From", readonly=True, help="First day of interest this charge counts."
    )
    date_to = fields.Date(
        string="Up To",
        required=True,
        readonly=True,
        help="The day the charge was counted up to: interest charged up to this day is "
        "counted again only from the day after.",
    )
    charge_move_id = fields.Many2one(
        "account.move",
        string="Charge Invoice",
        index="btree_not_null",
        readonly=True,
        ondelete="set null",
        help="The customer invoice that charges this amount.",
    )
    charge_line_id = fields.Many2one(
        "account.move.line", string="Invoice Line", readonly=True, ondelete="set null"
    )
    state = fields.Selection(
        [("invoiced", "Invoiced"), ("waived", "Waived"), ("reversed", "Reversed")],
        compute="_compute_state",
        store=True,
        index=True,
        help="Invoiced: on a charge invoice. Waived: a manager gave it up, with a reason. "
        "Reversed: its charge invoice was cancelled or credited in full, the amount is "
        "claimable again.",
    )
    reason = fields.Text(readonly=True, help="Why the charge was waived.")
    user_id = fields.Many2one(
        "res.users", string="By", readonly=True, help="Who invoiced or waived it."
    )
    automatic = fields.Boolean(readonly=True, help="Invoiced by a dunning level, not a person.")
    interaction_id = fields.Many2one(
        "collection.interaction", string="Logged As", readonly=True, ondelete="set null"
    )

    _amount_positive = models.Constraint("CHECK(amount > 0)", "A charge is a positive amount.")
    _level_of_fee = models.Constraint(
        "CHECK(kind != 'fee' OR level_id IS NOT NULL)", "A dunning fee is the fee of a level."
    )

    @api.depends("reason", "charge_move_id.state", "charge_move_id.payment_state")
    def _compute_state(self):
        for charge in self:
            move = charge.charge_move_id
            if not move:
                charge.state = "waived" if charge.reason else "reversed"
            elif move.state == "cancel" or move.payment_state == "reversed":
                charge.state = "reversed"
            else:
                charge.state = "invoiced"

    @api.depends("kind", "invoice_id", "amount")
    def _compute_display_name(self):
        kinds = dict(self._fields["kind"]._description_selection(self.env))
        for charge in self:
            amount = format_amount(self.env, charge.amount, charge.currency_id)
            kind = kinds.get(charge.kind, "")
            charge.display_name = f"{kind} - {charge.invoice_id.name or ''} - {amount}"

    # === SERVICE: INVOICE AND WAIVE === #

    @api.model
    def _collection_check_manager(self):
        """Only collection managers (and the dunning run, as superuser) invoice or
        waive charges."""
        if not (
            self.env.su or self.env.user.has_group("account_collection.group_collection_manager")
        ):
            raise AccessError(
                self.env._("Only collection managers can invoice or waive late-payment charges.")
            )

    @api.model
    def _collection_chargeable(self, moves):
        """The customer invoices of ``moves`` that may bear charges (not charge invoices)."""
        return moves.filtered(
            lambda m: (
                m.state == "posted"
                and m.move_type == "out_invoice"
                and not m.collection_charge_invoice
            )
        )

    @api.model
    def _collection_items(self, moves, today=None):
        """{invoice: [items]} of what is claimable on ``moves`` (see
        ``account.move._collection_charge_items``), locking the invoices first so that two
        managers at once cannot charge the same amounts twice."""
        moves = self._collection_chargeable(moves)
        if not moves:
            return {}
        moves.lock_for_update(allow_referencing=True)
        self.env["collection.charge"].invalidate_model()
        moves.invalidate_recordset(["collection_interest_amount", "collection_compensation_amount"])
        charged = moves._collection_charged()
        result = {}
        for move in moves:
            items = move._collection_charge_items(today=today, charged=charged.get(move.id))
            if items:
                result[move] = items
        return result

    @api.model
    def _collection_product(self, company, kind):
        product = company[f"collection_{kind}_product_id"]
        return product or self.env.ref(DEFAULT_PRODUCTS[kind])

    def _collection_line_name(self, move, kind, items):
        if kind == "interest":
            item = items[0]
            return self.env._(
                "Late-payment interest on %(invoice)s from %(start)s to %(end)s",
                invoice=move.name,
                start=format_date(self.env, item["date_from"]),
                end=format_date(self.env, item["date_to"]),
            )
        if kind == "compensation":
            return self.env._("Compensation for recovery costs on %(invoice)s", invoice=move.name)
        levels = self.env["collection.level"].browse([item["level_id"] for item in items])
        return self.env._(
            "Dunning fees on %(invoice)s: %(levels)s",
            invoice=move.name,
            levels=", ".join(levels.mapped("name")),
        )

    @api.model
    def _collection_invoice(self, moves, today=None, automatic=False):
        """Invoice what is claimable on ``moves``: per customer and currency, one posted
        customer invoice with a line per charged invoice and kind (the company's product
        of that kind, its income account), and the charges linking each line to the
        invoice it charges for. The charge invoices, or an empty recordset when nothing
        is claimable."""
        self._collection_check_manager()
        Move = self.env["account.move"]
        items_of = self._collection_items(moves, today)
        if not items_of:
            return Move
        groups = defaultdict(list)
        for move in items_of:
            groups[(move.company_id, move.commercial_partner_id, move.currency_id)].append(move)
        charge_moves = Move
        for (company, partner, currency), charged_moves in groups.items():
            charge_moves |= self._collection_invoice_group(
                company, partner, currency, charged_moves, items_of, today, automatic
            )
        return charge_moves.with_env(self.env)

    def _collection_invoice_group(
        self, company, partner, currency, charged_moves, items_of, today, automatic
    ):
        today = today or company._collection_today()
        lines, line_items = [], []
        for move in charged_moves:
            per_kind = defaultdict(list)
            for item in items_of[move]:
                per_kind[item["kind"]].append(item)
            for kind in CHARGE_KINDS:
                items = per_kind.get(kind)
                if not items:
                    continue
                product = self._collection_product(company, kind)
                lines.append(
                    Command.create(
                        {
                            "product_id": product.id,
                            "name": self._collection_line_name(move, kind, items),
                            "quantity": 1.0,
                            "price_unit": sum(item["amount"] for item in items),
                        }
                    )
                )
                line_items.append((move, items))
        # sudo: collection managers need not be billing users; _collection_check_manager()
        # passed above, and the invoice only holds what the charges service computed.
        Move = self.env["account.move"].sudo().with_company(company)
        charge_move = Move.create(
            {
                "move_type": "out_invoice",
                "partner_id": partner.id,
                "company_id": company.id,
                "currency_id": currency.id,
                "invoice_date": today,
                "invoice_origin": ", ".join(m.name for m in charged_moves),
                "collection_charge_invoice": True,
                "invoice_line_ids": lines,
            }
        )
        charge_move.action_post()
        product_lines = charge_move.invoice_line_ids.sorted("sequence")
        values = []
        for line, (move, items) in zip(product_lines, line_items, strict=True):
            for item in items:
                values.append(
                    {
                        "invoice_id": move.id,
                        "kind": item["kind"],
                        "level_id": item["level_id"],
                        "amount": item["amount"],
                        "date_from": item["date_from"],
                        "date_to": item["date_to"],
                        "charge_move_id": charge_move.id,
                        "charge_line_id": line.id,
                        "user_id": False if automatic else self.env.uid,
                        "automatic": automatic,
                    }
                )
        charges = self.sudo().create(values)
        links = ", ".join(m._get_html_link() for m in charged_moves)
        charge_move.message_post(
            body=self.env._("Late-payment charges on %(invoices)s.", invoices=links),
            subtype_xmlid="mail.mt_note",
        )
        interaction = charges._collection_log(
            self.env._("Charges invoiced on %(invoice)s", invoice=charge_move.name),
            automatic=automatic,
        )
        charges.interaction_id = interaction
        (self.env["account.move"].browse([m.id for m in charged_moves])).invalidate_recordset()
        return charge_move

    @api.model
    def _collection_waive(self, moves, reason, kinds=CHARGE_KINDS, today=None):
        """Waive what is claimable on ``moves`` of ``kinds``, for ``reason``, logged as an
        interaction on each customer. The charges waived."""
        self._collection_check_manager()
        reason = (reason or "").strip()
        if not reason:
            raise UserError(self.env._("Say why the charges are waived."))
        items_of = self._collection_items(moves, today)
        values = [
            {
                "invoice_id": move.id,
                "kind": item["kind"],
                "level_id": item["level_id"],
                "amount": item["amount"],
                "date_from": item["date_from"],
                "date_to": item["date_to"],
                "reason": reason,
                "user_id": self.env.uid,
            }
            for move, items in items_of.items()
            for item in items
            if item["kind"] in kinds
        ]
        if not values:
            raise UserError(self.env._("Nothing is claimable on these invoices: nothing to waive."))
        # sudo: charges are facts written by this service only; the rights were checked.
        charges = self.sudo().create(values)
        for partner_charges in charges.grouped("partner_id").values():
            partner_charges.interaction_id = partner_charges._collection_log(
                self.env._("Charges waived: %(reason)s", reason=reason)
            )
        moves.invalidate_recordset()
        return charges

    @api.model
    def _demo_charges(self, invoiced_ids, waived_ids, reason):
        """Demo data: the charges of ``invoiced_ids`` invoiced, those of ``waived_ids``
        waived for ``reason``."""
        Move = self.env["account.move"]
        self._collection_invoice(Move.browse(invoiced_ids))
        self._collection_waive(Move.browse(waived_ids), reason)

    def _collection_log(self, title, automatic=False):
        """Log these charges (of one customer) as an interaction on their invoices: the
        evidence of what was invoiced or waived, by whom and why."""
        kinds = dict(self._fields["kind"]._description_selection(self.env))
        lines = [title]
        for charge in self:
            kind = kinds[charge.kind]
            if charge.level_id:
                kind = f"{kind} ({charge.level_id.name})"
            amount = format_amount(self.env, charge.amount, charge.currency_id)
            lines.append(f"{charge.invoice_id.name} {kind}: {amount}")
        values = {
            "partner_id": self.partner_id.id,
            "company_id": self.company_id.id,
            "channel": "note",
            "move_ids": [Command.set(self.invoice_id.ids)],
            "note": "\n".join(lines),
        }
        if automatic:
            values.update({"automatic": True, "user_id": False})
        # sudo: the log is written through its normal API (the chain seals it); the
        # charges service checked the rights. The interaction does nothing to the customer.
        return (
            self.env["collection.interaction"]
            .sudo()
            .with_context(collection_interaction_effects=False)
            .create(values)
        )


class CollectionLevelCharge(models.Model):
    _inherit = "collection.level"

    fee_amount = fields.Monetary(
        string="Fee",
        help="A fee the company may claim on each invoice that reaches this level, once per "
        "invoice: shown as claimable, invoiced only by a manager or by the option below. "
        "Zero: no fee.",
    )
    invoice_charges = fields.Boolean(
        string="Invoice the Charges",
        help="When invoices reach this level, the dunning run invoices what is claimable on "
        "them (interest, compensation, fees) on a customer invoice of its own.",
    )

    _fee_amount_positive = models.Constraint(
        "CHECK(fee_amount >= 0)", "The fee of a level cannot be negative."
    )


class ResCompanyCharge(models.Model):
    _inherit = "res.company"

    collection_interest_product_id = fields.Many2one(
        "product.product",
        string="Interest Product",
        help="Product of the lines that invoice late-payment interest (its income account). "
        "Empty: the Late-payment interest product shipped with Collections.",
    )
    collection_compensation_product_id = fields.Many2one(
        "product.product",
        string="Compensation Product",
        help="Product of the lines that invoice the compensation for recovery costs. Empty: "
        "the product shipped with Collections.",
    )
    collection_fee_product_id = fields.Many2one(
        "product.product",
        string="Fee Product",
        help="Product of the lines that invoice the dunning fees of the levels. Empty: the "
        "product shipped with Collections.",
    )


class ResConfigSettingsCharge(models.TransientModel):
    _inherit = "res.config.settings"

    collection_interest_product_id = fields.Many2one(
        related="company_id.collection_interest_product_id", readonly=False
    )
    collection_compensation_product_id = fields.Many2one(
        related="company_id.collection_compensation_product_id", readonly=False
    )
    collection_fee_product_id = fields.Many2one(
        related="company_id.collection_fee_product_id", readonly=False
    )


class AccountMoveCharge(models.Model):
    _inherit = "account.move"

    collection_charge_invoice = fields.Boolean(
        string="Late-Payment Charges Invoice",
        readonly=True,
        copy=False,
        help="This invoice charges late-payment interest, compensation or fees of other "
        "invoices: it bears none itself.",
    )
    collection_charge_ids = fields.One2many(
        "collection.charge",
        "invoice_id",
        string="Charges",
        help="The interest, compensation and fees invoiced or waived on this invoice.",
    )
    collection_invoiced_charge_ids = fields.One2many(
        "collection.charge",
        "charge_move_id",
        string="Charges Invoiced",
        help="The charges this invoice invoices.",
    )
    collection_charge_count = fields.Integer(
        string="Charge Count", compute="_compute_collection_charge_count"
    )

    @api.model_create_multi
    def create(self, vals_list):
        if any("collection_charge_invoice" in vals for vals in vals_list):
            self._collection_check_charge_invoice_written()
        return super().create(vals_list)

    def write(self, vals):
        if "collection_charge_invoice" in vals:
            self._collection_check_charge_invoice_written()
        return super().write(vals)

    @api.model
    def _collection_check_charge_invoice_written(self):
        """Only the charges service marks an invoice as a charge invoice (it then bears no
        interest): nobody takes an invoice out of the interest by writing the flag."""
        if not self.env.su:
            raise UserError(
                self.env._("Only the late-payment charges make an invoice a charge invoice.")
            )

    @api.depends("collection_charge_ids", "collection_invoiced_charge_ids")
    def _compute_collection_charge_count(self):
        for move in self:
            # sudo: counted for the smart button of an invoice the user reads.
            move_sudo = move.sudo()
            move.collection_charge_count = len(
                move_sudo.collection_charge_ids | move_sudo.collection_invoiced_charge_ids
            )

    def action_collection_invoice_charges(self):
        """Invoice what is claimable on these invoices (managers)."""
        charge_moves = self.env["collection.charge"]._collection_invoice(self)
        return charge_moves._collection_open_charge_invoices()

    def action_collection_waive_charges(self):
        self.env["collection.charge"]._collection_check_manager()
        return self._collection_waive_wizard(self)

    def action_collection_open_charges(self):
        self.ensure_one()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "account_collection.collection_charge_action"
        )
        mine = Domain("invoice_id", "=", self.id) | Domain("charge_move_id", "=", self.id)
        action["domain"] = list(mine)
        action["context"] = {"create": False}
        return action

    def _collection_open_charge_invoices(self):
        """The window of the charge invoices ``self`` just created, or a notice that
        nothing was claimable."""
        if not self:
            raise UserError(
                self.env._("Nothing is claimable on these invoices: nothing to invoice.")
            )
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "account.action_move_out_invoice_type"
        )
        if len(self) == 1:
            action.update({"views": [(False, "form")], "view_mode": "form", "res_id": self.id})
        else:
            action["domain"] = [("id", "in", self.ids)]
        return action

    def _collection_waive_wizard(self, moves):
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Waive Charges"),
            "res_model": "collection.charge.waive",
            "view_mode": "form",
            "target": "new",
            "context": {"default_move_ids": [Command.set(moves.ids)]},
        }


class ResPartnerCharge(models.Model):
    _inherit = "res.partner"

    def _collection_chargeable_moves(self):
        """The customer's open invoices in the current company that may bear charges."""
        self.ensure_one()
        return self.env["collection.charge"]._collection_chargeable(
            self.with_company(self.env.company).collection_open_move_ids
        )

    def action_collection_invoice_charges(self):
        """Invoice what is claimable on the customer's open invoices (managers)."""
        self.ensure_one()
        Charge = self.env["collection.charge"]
        Charge._collection_check_manager()
        charge_moves = Charge._collection_invoice(self._collection_chargeable_moves())
        return charge_moves._collection_open_charge_invoices()

    def action_collection_waive_charges(self):
        self.ensure_one()
        self.env["collection.charge"]._collection_check_manager()
        return self.env["account.move"]._collection_waive_wizard(
            self._collection_chargeable_moves()
        )


class CollectionDunningCharge(models.AbstractModel):
    _inherit = "collection.dunning"

    @api.model
    def _invoice_level_charges(self, plan, today):
        """The invoices of ``plan`` that reached a level invoicing the charges get their
        claimable charges invoiced, a charge invoice per customer; a customer whose
        invoice cannot be made (no sales journal, a product without account) keeps its
        charges claimable and gets the error on its chatter."""
        Level = self.env["collection.level"].sudo()
        levels = Level.browse({lid for entry in plan.values() for lid in entry["moves"].values()})
        invoicing = levels.filtered("invoice_charges")
        if not invoicing:
            return
        Move = self.env["account.move"].sudo()
        Charge = self.env["collection.charge"].sudo()
        for partner_id, entry in plan.items():
            move_ids = [mid for mid, lid in entry["moves"].items() if lid in invoicing.ids]
            if not move_ids:
                continue
            moves = Move.browse(sorted(move_ids))
            moves.invalidate_recordset(["collection_level_id"])
            try:
                with self.env.cr.savepoint():
                    Charge._collection_invoice(moves, today=today, automatic=True)
            except (UserError, AccessError) as error:
                self.env["res.partner"].sudo().browse(partner_id).message_post(
                    body=self.env._(
                        "The late-payment charges could not be invoiced: %(error)s",
                        error=str(error),
                    ),
                    subtype_xmlid="mail.mt_note",
                )
