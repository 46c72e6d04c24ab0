from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError

RESPONSIBLE_TYPES = [
    ("salesperson", "Invoice Salesperson"),
    ("user", "Named User"),
    ("team", "Sales Team Leader"),
    ("collector", "Customer's Collector"),
]


class CollectionDisputeReason(models.Model):
    _name = "collection.dispute.reason"
    _inherit = ["collection.shared.mixin"]
    _description = "Dispute Reason"
    _order = "sequence, id"

    name = fields.Char(required=True, translate=True)
    sequence = fields.Integer(default=10)
    active = fields.Boolean(default=True)
    company_id = fields.Many2one(
        "res.company", index=True, help="Empty: the reason is offered in every company."
    )
    responsible_type = fields.Selection(
        RESPONSIBLE_TYPES,
        string="Route To",
        required=True,
        default="salesperson",
        help="Who must solve the disputes given for this reason: the salesperson of the "
        "disputed invoice, a named user, the leader of a sales team or the customer's "
        "collector. When nobody is found, the customer's collector (else the company's "
        "default collector) gets the dispute.",
    )
    user_id = fields.Many2one(
        "res.users", string="Responsible", domain="[('share', '=', False)]", check_company=True
    )
    team_id = fields.Many2one("crm.team", string="Sales Team", check_company=True)
    sla_days = fields.Integer(
        string="SLA (days)",
        default=5,
        help="Days within which a dispute given for this reason should be resolved.",
    )

    _sla_days_positive = models.Constraint(
        "CHECK (sla_days >= 0)", "The SLA of a dispute reason cannot be negative."
    )

    @api.constrains("responsible_type", "user_id", "team_id")
    def _check_responsible(self):
        for reason in self:
            if reason.responsible_type == "user" and not reason.user_id:
                raise ValidationError(
                    self.env._(
                        "Choose the user who handles the disputes “%(reason)s”.", reason=reason.name
                    )
                )
            if reason.responsible_type == "team" and not reason.team_id:
                raise ValidationError(
                    self.env._(
                        "Choose the sales team whose leader handles the disputes “%(reason)s”.",
                        reason=reason.name,
                    )
                )

    @api.model
    def _portal_reasons(self, company):
        """The active reasons a customer of ``company`` may choose on the portal."""
        # sudo: portal visitors only get the reasons' names, which they choose from.
        return self.sudo().search([("company_id", "in", (False, company.id))])

    @api.ondelete(at_uninstall=False)
    def _unlink_except_in_use(self):
        """A reason disputes were given for stays, with them: it can be archived."""
        # sudo: only whether the reason is given by a dispute is read, in any company.
        used = (
            self.env["collection.dispute"]
            .sudo()
            .with_context(active_test=False)
            .search([("reason_id", "in", self.ids)])
            .reason_id
        )
        for reason in self & used:
            raise UserError(
                self.env._(
                    "The dispute reason “%(reason)s” is given by disputes: archive it instead.",
                    reason=reason.name,
                )
            )

    # === SHARED BY EVERY COMPANY === #

    def _collection_shared_records(self):
        """A reason without a company is every company's."""
        return self.filtered(lambda reason: not reason.company_id)

    def _collection_shared_denied_message(self, shared):
        return self.env._(
            "The dispute reason “%(reason)s” is shared by every company: only a "
            "collection manager of every company, or an administrator, can add, "
            "change or delete it. Add a reason of your company instead.",
            reason=shared[0].name,
        )
