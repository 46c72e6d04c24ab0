"""Where a write-off of bad debt is booked: the company's bad-debt expense account and
journal (Settings, *Collections*), and the marks a write-off leaves on journal entries.
The write-off itself is the wizard ``collection.write.off``."""

from odoo import api, fields, models
from odoo.exceptions import UserError

# The marks of a write-off on journal entries: written by the write-off only.
WRITE_OFF_FIELDS = ("collection_written_off_move_ids", "collection_write_off_reason")


class ResCompany(models.Model):
    _inherit = "res.company"

    collection_bad_debt_account_id = fields.Many2one(
        "account.account",
        string="Bad Debt Account",
        check_company=True,
        domain="[('account_type', 'in', ('expense', 'expense_other'))]",
        help="Expense account debited when a collection manager writes off a customer's "
        "open invoices as uncollectible.",
    )
    collection_write_off_journal_id = fields.Many2one(
        "account.journal",
        string="Write-off Journal",
        check_company=True,
        domain="[('type', '=', 'general')]",
        help="Journal of the write-off entries. Empty: the company's first miscellaneous journal.",
    )

    def _collection_write_off_journal(self):
        """The journal of this company's write-off entries (the setting, else the first
        miscellaneous journal)."""
        self.ensure_one()
        return self.collection_write_off_journal_id or self.env["account.journal"].search(
            [*self.env["account.journal"]._check_company_domain(self), ("type", "=", "general")],
            limit=1,
        )


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    collection_bad_debt_account_id = fields.Many2one(
        related="company_id.collection_bad_debt_account_id", readonly=False
    )
    collection_write_off_journal_id = fields.Many2one(
        related="company_id.collection_write_off_journal_id", readonly=False
    )


class AccountMove(models.Model):
    _inherit = "account.move"

    collection_written_off_move_ids = fields.Many2many(
        "account.move",
        "collection_write_off_move_rel",
        "write_off_id",
        "move_id",
        string="Written-off Invoices",
        readonly=True,
        copy=False,
        help="The customer invoices this write-off entry wrote off as bad debt.",
    )
    collection_write_off_ids = fields.Many2many(
        "account.move",
        "collection_write_off_move_rel",
        "move_id",
        "write_off_id",
        string="Write-offs",
        readonly=True,
        copy=False,
        help="The write-off entries that wrote this invoice off as bad debt.",
    )
    collection_write_off_reason = fields.Text(string="Write-off Reason", readonly=True, copy=False)

    @api.model_create_multi
    def create(self, vals_list):
        if not self.env.su and any(
            fname in vals for vals in vals_list for fname in WRITE_OFF_FIELDS
        ):
            raise UserError(self.env._("Write-off entries are made by the Write Off action only."))
        return super().create(vals_list)

    def write(self, vals):
        if not self.env.su and {*WRITE_OFF_FIELDS, "collection_write_off_ids"} & set(vals):
            raise UserError(self.env._("Write-off entries are made by the Write Off action only."))
        return super().write(vals)

    def _collection_matched_write_offs(self):
        """The write-off entries these invoices are matched with now (a write-off
        reversed since is not)."""
        lines = self.line_ids.filtered(lambda line: line.account_id.reconcile)
        counterparts = (
            lines.matched_credit_ids.credit_move_id | lines.matched_debit_ids.debit_move_id
        )
        return counterparts.move_id.filtered("collection_written_off_move_ids")

    def _collection_write_off_lines(self):
        """The open receivable items of these invoices (what a write-off credits)."""
        return self.line_ids.filtered(
            lambda line: (
                line.account_id.account_type == "asset_receivable"
                and not line.reconciled
                and line.amount_residual > 0
            )
        ).sorted(lambda line: (line.move_id.id, line.id))


class CollectionInteraction(models.Model):
    _inherit = "collection.interaction"

    outcome = fields.Selection(
        selection_add=[("written_off", "Written Off")], ondelete={"written_off": "set null"}
    )
