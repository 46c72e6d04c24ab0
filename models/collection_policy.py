from odoo import api, fields, models
from odoo.exceptions import UserError


class CollectionPolicy(models.Model):
    _name = "collection.policy"
    _description = "Dunning Policy"
    _inherit = ["mail.thread"]
    _order = "sequence, id"
    _check_company_auto = True

    name = fields.Char(required=True, translate=True, tracking=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True, tracking=True)
    company_id = fields.Many2one(
        "res.company", required=True, index=True, default=lambda self: self.env.company
    )
    level_ids = fields.One2many("collection.level", "policy_id", string="Levels", copy=True)
    mode = fields.Selection(
        [("review", "Review before sending"), ("automatic", "Send automatically")],
        required=True,
        default="review",
        tracking=True,
        help="Review: each reminder waits as a draft for a collector to approve, edit or skip "
        "it. Automatic: reminders go out as soon as they are due (within quiet hours and the "
        "message cap).",
    )
    description = fields.Text(translate=True)
    entry_level_id = fields.Many2one(
        "collection.level",
        string="First Reminder of an Overdue Invoice",
        compute="_compute_entry_level_id",
        store=True,
        readonly=False,
        domain="[('policy_id', '=', id)]",
        help="The level an invoice already overdue gets as its first reminder (at go-live, "
        "or an invoice entered late): its text must suit an invoice that is overdue. Invoices "
        "then climb one level at a time. Empty: the first level after the due date.",
    )
    level_count = fields.Integer(compute="_compute_level_count")

    @api.depends("level_ids.delay")
    def _compute_entry_level_id(self):
        for policy in self:
            if policy.entry_level_id in policy.level_ids:
                continue
            overdue = policy.level_ids.filtered(lambda level: level.delay > 0)
            policy.entry_level_id = overdue.sorted("delay")[:1]

    @api.depends("level_ids")
    def _compute_level_count(self):
        for policy in self:
            policy.level_count = len(policy.level_ids)

    def copy_data(self, default=None):
        vals_list = super().copy_data(default=default)
        for policy, vals in zip(self, vals_list, strict=True):
            vals.setdefault("name", self.env._("%s (copy)", policy.name))
        return vals_list


class CollectionPolicyThanks(models.Model):
    """Closing the loop: a short confirmation to the customer once it paid."""

    _inherit = "collection.policy"

    confirm_payment = fields.Boolean(
        string="Thank When Paid",
        help="When a reminded invoice is paid in full, or a promise to pay is kept, the "
        "customer gets a short confirmation by email, on its chatter with the rest of the "
        "conversation. Off by default.",
    )

    @api.ondelete(at_uninstall=False)
    def _unlink_except_in_use(self):
        """A policy reminders were created by, or that customers or companies follow,
        stays: it can be archived instead."""
        # sudo: only whether the policy is referenced anywhere is read, in any company.
        Reminder = self.env["collection.communication"].sudo().with_context(active_test=False)
        used = set(Reminder.search([("policy_id", "in", self.ids)]).policy_id.ids)
        used |= set(Reminder.search([("level_id.policy_id", "in", self.ids)]).policy_id.ids)
        used |= set(
            self.env["collection.invoice.dunning"]
            .sudo()
            .search([("level_id.policy_id", "in", self.ids)])
            .level_id.policy_id.ids
        )
        used |= set(
            self.env["res.company"]
            .sudo()
            .search([("collection_policy_id", "in", self.ids)])
            .collection_policy_id.ids
        )
        Partner = self.env["res.partner"]
        used |= Partner._collection_ids_in_use("collection_policy_id", self.ids)
        levels = Partner._collection_ids_in_use("collection_level_id", self.level_ids.ids)
        used |= set(self.env["collection.level"].browse(levels).policy_id.ids)
        for policy in self.filtered(lambda policy: policy.id in used):
            raise UserError(
                self.env._(
                    "The policy “%(policy)s” is in use: reminders were created by it, or "
                    "customers or companies follow it. Archive it instead.",
                    policy=policy.name,
                )
            )
