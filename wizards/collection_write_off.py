import hashlib
from datetime import timedelta

from markupsafe import Markup

from odoo import Command, api, fields, models
from odoo.exceptions import AccessError, UserError
from odoo.tools import format_amount

# Customer documents a write-off takes: what the customer owes on them.
WRITE_OFF_MOVE_TYPES = ("out_invoice", "out_receipt")


class CollectionWriteOff(models.TransientModel):
    """Write off a customer's open invoices as bad debt, for collection managers: one
    posted journal entry crediting the receivable of each invoice (in its currency) and
    debiting the company's bad-debt expense account, matched with the invoices; the
    customer becomes *Uncollectible*, the write-off is logged and the sealed dossier is
    attached to the entry and to the customer's chatter. All or nothing."""

    _name = "collection.write.off"
    _description = "Write Off Bad Debt"
    _check_company_auto = True

    company_id = fields.Many2one(
        "res.company", required=True, readonly=True, default=lambda self: self.env.company
    )
    partner_id = fields.Many2one(
        "res.partner",
        string="Customer",
        required=True,
        domain="[('is_company', '=', True)]",
    )
    move_ids = fields.Many2many(
        "account.move",
        string="Invoices",
        compute="_compute_move_ids",
        store=True,
        readonly=False,
        domain="[('id', 'in', open_move_ids)]",
        help="The open invoices written off, for what is still due on each. By default the "
        "customer's overdue ones.",
    )
    open_move_ids = fields.Many2many(
        "account.move",
        "collection_write_off_open_move_rel",
        string="Open Invoices",
        compute="_compute_open_move_ids",
    )
    account_id = fields.Many2one(
        "account.account",
        string="Bad Debt Account",
        compute="_compute_account_id",
        store=True,
        readonly=False,
        check_company=True,
        domain="[('account_type', 'in', ('expense', 'expense_other'))]",
        help="Expense account debited; the company's setting by default.",
    )
    journal_id = fields.Many2one(
        "account.journal",
        string="Journal",
        compute="_compute_journal_id",
        store=True,
        readonly=False,
        check_company=True,
        domain="[('type', '=', 'general')]",
    )
    date = fields.Date(string="Accounting Date", required=True, default=fields.Date.context_today)
    reason = fields.Text(
        help="Why the debt cannot be collected: written on the entry, logged on the customer "
        "and printed in the dossier.",
    )
    currency_id = fields.Many2one(related="company_id.currency_id")
    amount = fields.Monetary(
        string="Amount Written Off",
        compute="_compute_amount",
        help="What is still due on the invoices selected, in company currency.",
    )

    # === COMPUTE METHODS === #

    @api.depends("partner_id", "company_id")
    def _compute_open_move_ids(self):
        for wizard in self:
            wizard.open_move_ids = wizard._collection_open_moves()

    @api.depends("partner_id", "company_id")
    def _compute_move_ids(self):
        today = fields.Date.context_today(self)
        for wizard in self:
            moves = wizard._collection_open_moves()
            placed = wizard._collection_placements(moves).move_ids
            wizard.move_ids = moves.filtered(
                lambda move, placed=placed: (
                    move not in placed
                    and any(
                        (line.date_maturity or line.date) < today
                        for line in move._collection_write_off_lines()
                    )
                )
            )

    @api.depends("company_id")
    def _compute_account_id(self):
        for wizard in self:
            wizard.account_id = wizard.company_id.collection_bad_debt_account_id

    @api.depends("company_id")
    def _compute_journal_id(self):
        for wizard in self:
            wizard.journal_id = wizard.company_id._collection_write_off_journal()

    @api.depends("move_ids")
    def _compute_amount(self):
        for wizard in self:
            wizard.amount = sum(
                wizard.move_ids._collection_write_off_lines().mapped("amount_residual")
            )

    # === BUSINESS METHODS === #

    def _collection_open_moves(self):
        """The customer's posted invoices in the wizard's company with something due."""
        self.ensure_one()
        if not self.partner_id:
            return self.env["account.move"]
        return self.env["account.move"].search(
            [
                ("commercial_partner_id", "=", self.partner_id.commercial_partner_id.id),
                ("company_id", "=", self.company_id.id),
                ("state", "=", "posted"),
                ("move_type", "in", WRITE_OFF_MOVE_TYPES),
                ("amount_residual", ">", 0),
            ],
            order="invoice_date_due, id",
        )

    def _collection_placements(self, moves):
        """The placements holding ``moves`` now: an agency still works those invoices."""
        # sudo: another portfolio's placement still holds its invoices.
        return (
            self.env["collection.placement"]
            .sudo()
            .search([("state", "=", "placed"), ("move_ids", "in", moves.ids)])
        )

    def _collection_check(self):
        """Raise a translated error unless the write-off can be made as it stands."""
        self.ensure_one()
        if not self.env.su and not self.env.user.has_group(
            "account_collection.group_collection_manager"
        ):
            raise AccessError(self.env._("Only collection managers can write off bad debt."))
        company = self.company_id
        if company not in self.env.user.company_ids and not self.env.su:
            raise AccessError(
                self.env._("You cannot write off debt of %(company)s.", company=company.name)
            )
        partner = self.partner_id.commercial_partner_id
        partner.check_access("read")
        if not (self.reason or "").strip():
            raise UserError(self.env._("Give the reason of the write-off."))
        if not self.account_id:
            raise UserError(
                self.env._(
                    "Set the bad-debt expense account of %(company)s (Collections settings, "
                    "Write-offs) before writing off debt.",
                    company=company.name,
                )
            )
        if self.account_id.account_type not in ("expense", "expense_other") or (
            company not in self.account_id.company_ids
        ):
            raise UserError(
                self.env._(
                    "The bad-debt account %(account)s is not an expense account of %(company)s.",
                    account=self.account_id.display_name,
                    company=company.name,
                )
            )
        if not self.journal_id or self.journal_id.company_id != company:
            raise UserError(
                self.env._(
                    "%(company)s has no miscellaneous journal for the write-off entry.",
                    company=company.name,
                )
            )
        if not self.move_ids:
            raise UserError(self.env._("Select the invoices to write off."))
        placements = self._collection_placements(self.move_ids)
        for move in self.move_ids:
            placement = placements.filtered(lambda p, move=move: move in p.move_ids)[:1]
            if placement:
                raise UserError(
                    self.env._(
                        "%(invoice)s is placed with %(agency)s, who still works it: recall "
                        "the placement before writing the invoice off.",
                        invoice=move.display_name,
                        agency=placement.agency_id.display_name,
                    )
                )
            if move.company_id != company:
                raise UserError(
                    self.env._(
                        "%(invoice)s belongs to %(other)s, not to %(company)s.",
                        invoice=move.display_name,
                        other=move.company_id.name,
                        company=company.name,
                    )
                )
            if move.commercial_partner_id != partner:
                raise UserError(
                    self.env._(
                        "%(invoice)s is an invoice of %(other)s, not of %(customer)s.",
                        invoice=move.display_name,
                        other=move.commercial_partner_id.display_name,
                        customer=partner.display_name,
                    )
                )
            if (
                move.state != "posted"
                or move.move_type not in WRITE_OFF_MOVE_TYPES
                or not move._collection_write_off_lines()
            ):
                raise UserError(
                    self.env._(
                        "%(invoice)s is not a posted customer invoice with something still "
                        "due: only those are written off.",
                        invoice=move.display_name,
                    )
                )

    def action_write_off(self):
        """Write the selected invoices off (see the class) and open the entry."""
        self.ensure_one()
        self._collection_check()
        company = self.company_id
        partner = self.partner_id.commercial_partner_id.with_company(company)
        moves = self.move_ids.with_company(company)
        reason = self.reason.strip()
        # All or nothing, also for a caller that catches the error (a lock date refusing
        # the entry, a dossier that cannot be printed): nothing is left half-written.
        with self.env.cr.savepoint():
            entry = self._collection_write_off(partner, moves, reason)
        return {
            "type": "ir.actions.act_window",
            "res_model": "account.move",
            "res_id": entry.id,
            "views": [(False, "form")],
            "target": "current",
        }

    def _collection_write_off(self, partner, moves, reason):
        company = self.company_id
        # The write-off logged first, so that its snapshot holds what was overdue and the
        # dossier holds the entry; the customer becomes Uncollectible there.
        interaction = (
            self.env["collection.interaction"]
            .with_company(company)
            .with_context(collection_interaction_effects=True)
            .create(
                {
                    "partner_id": partner.id,
                    "company_id": company.id,
                    "channel": "note",
                    "outcome": "written_off",
                    "status_after": "uncollectible",
                    "move_ids": [Command.set(moves.ids)],
                    "note": reason,
                }
            )
        )
        entry = self._collection_create_entry(moves, reason)
        self._collection_attach_dossier(entry, interaction)
        return entry

    def _collection_create_entry(self, moves, reason):
        """Post the write-off entry of ``moves`` and match it with them."""
        company = self.company_id
        lines = moves._collection_write_off_lines()
        line_values = []
        expense = {}
        for line in lines:
            line_values.append(
                {
                    "name": self.env._("Write-off of %(invoice)s", invoice=line.move_id.name),
                    "account_id": line.account_id.id,
                    "partner_id": line.partner_id.id,
                    "currency_id": line.currency_id.id,
                    "amount_currency": -line.amount_residual_currency,
                    "balance": -line.amount_residual,
                }
            )
            total = expense.setdefault(line.currency_id, [0.0, 0.0])
            total[0] += line.amount_residual_currency
            total[1] += line.amount_residual
        for currency, (amount_currency, balance) in expense.items():
            line_values.append(
                {
                    "name": self.env._("Bad debt: %(reason)s", reason=reason.splitlines()[0]),
                    "account_id": self.account_id.id,
                    "partner_id": self.partner_id.commercial_partner_id.id,
                    "currency_id": currency.id,
                    "amount_currency": amount_currency,
                    "balance": balance,
                }
            )
        # sudo: collection managers write off bad debt without the right to write journal
        # entries; _collection_check() checked they are collection managers of the
        # company, and the entry says who made it (the current user stays its author).
        entry = (
            self.env["account.move"]
            .with_company(company)
            .sudo()
            .create(
                {
                    "move_type": "entry",
                    "journal_id": self.journal_id.id,
                    "date": self.date,
                    "ref": self.env._(
                        "Write-off: %(customer)s",
                        customer=self.partner_id.commercial_partner_id.name,
                    ),
                    "collection_written_off_move_ids": [Command.set(moves.ids)],
                    "collection_write_off_reason": reason,
                    "line_ids": [Command.create(values) for values in line_values],
                }
            )
        )
        entry.action_post()
        # The lines were created in the order of ``line_values``: each invoice's open
        # line, then the expense.
        counterparts = entry.line_ids.sorted("id")[: len(lines)]
        # One plan, one matching per pair: what follows the ledger (promises, statuses)
        # runs once for all of them.
        self.env["account.move.line"].sudo()._reconcile_plan(
            [
                line.sudo() | counterpart
                for line, counterpart in zip(lines, counterparts, strict=True)
            ]
        )
        return entry

    def _collection_attach_dossier(self, entry, interaction):
        """Attach the customer's sealed dossier, as it stands with the write-off logged,
        to the entry and to the customer's chatter, with the file's SHA-256."""
        company = self.company_id
        partner = self.partner_id.commercial_partner_id.with_company(company)
        pdf, _report_type = (
            self.env["ir.actions.report"]
            .with_company(company)
            ._render_qweb_pdf("account_collection.action_report_collection_dossier", partner.ids)
        )
        digest = hashlib.sha256(pdf).hexdigest()
        name = self.env._("Collection dossier - %(customer)s.pdf", customer=partner.name)
        body = Markup("<b>%s</b><br/>%s<br/>%s<br/>%s") % (
            self.env._(
                "Written off as bad debt: %(amount)s",
                amount=format_amount(
                    self.env,
                    -sum(
                        entry.line_ids.filtered(lambda line: line.account_id.reconcile).mapped(
                            "balance"
                        )
                    ),
                    company.currency_id,
                ),
            ),
            self.env._(
                "Invoices: %(invoices)s",
                invoices=", ".join(entry.collection_written_off_move_ids.mapped("name")),
            ),
            self.env._("Reason: %(reason)s", reason=entry.collection_write_off_reason),
            self.env._(
                "Sealed dossier attached (SHA-256 %(digest)s), log sealed up to %(seal)s.",
                digest=digest,
                seal=interaction.chain_hash or "",
            ),
        )
        # sudo: the write-off's records are written by it (access checked by the caller).
        attachment = (
            self.env["ir.attachment"]
            .sudo()
            .create(
                {
                    "name": name,
                    "raw": pdf,
                    "mimetype": "application/pdf",
                    "res_model": "account.move",
                    "res_id": entry.id,
                }
            )
        )
        # Not an invoice sent to be read: Odoo does not import the dossier as one.
        entry.with_context(disable_attachment_import=True).message_post(
            body=body + Markup("<br/>%s") % partner._get_html_link(),
            attachment_ids=attachment.ids,
            author_id=self.env.user.partner_id.id,
            message_type="comment",
            subtype_xmlid="mail.mt_note",
        )
        partner.sudo().message_post(
            body=body + Markup("<br/>%s") % entry._get_html_link(),
            attachments=[(name, pdf)],
            author_id=self.env.user.partner_id.id,
            message_type="comment",
            subtype_xmlid="mail.mt_note",
        )
        return attachment

    # === DEMO === #

    @api.model
    def _demo_write_off(self, partner_id, reason, days_ago=10):
        """The demo's write-off: ``reason``, the overdue invoices of the customer
        ``partner_id`` written off ``days_ago`` days ago, on the company's bad-debt
        account (the first expense account when none is set)."""
        company = self.env.company
        if not company.collection_bad_debt_account_id:
            company.collection_bad_debt_account_id = self.env["account.account"].search(
                [
                    *self.env["account.account"]._check_company_domain(company),
                    ("account_type", "=", "expense"),
                ],
                limit=1,
            )
        wizard = self.create(
            {
                "partner_id": partner_id,
                "reason": reason,
                "date": fields.Date.context_today(self) - timedelta(days=days_ago),
            }
        )
        if wizard.move_ids and wizard.account_id:
            wizard.action_write_off()
