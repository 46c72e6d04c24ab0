from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import format_date

from .collection_agreement import _WORKFLOW


class CollectionAgreementInstalment(models.Model):
    _name = "collection.agreement.instalment"
    _description = "Payment Agreement Instalment"
    _order = "agreement_id, date, sequence, id"

    agreement_id = fields.Many2one(
        "collection.agreement", required=True, index=True, ondelete="cascade"
    )
    sequence = fields.Integer(default=10)
    company_id = fields.Many2one(related="agreement_id.company_id", store=True, index=True)
    partner_id = fields.Many2one(related="agreement_id.partner_id", store=True, string="Customer")
    currency_id = fields.Many2one(related="agreement_id.currency_id")
    date = fields.Date(required=True)
    amount = fields.Monetary(required=True)
    amount_paid = fields.Monetary(readonly=True, copy=False)
    state = fields.Selection(
        [
            ("pending", "Pending"),
            ("partial", "Partly Paid"),
            ("paid", "Paid"),
            ("missed", "Missed"),
        ],
        default="pending",
        required=True,
        readonly=True,
        copy=False,
    )

    _amount_positive = models.Constraint(
        "CHECK (amount > 0)", "Every instalment must be greater than zero."
    )

    @api.model_create_multi
    def create(self, vals_list):
        workflow = self.env.context.get("collection_agreement_workflow") is _WORKFLOW
        today = fields.Date.context_today(self)
        for vals in vals_list:
            if not workflow:
                vals.pop("amount_paid", None)
                vals.pop("state", None)
            if vals.get("date") and fields.Date.to_date(vals["date"]) < today:
                raise ValidationError(
                    self.env._(
                        "An instalment cannot fall in the past (%(date)s).",
                        date=format_date(self.env, fields.Date.to_date(vals["date"])),
                    )
                )
        agreements = self.env["collection.agreement"].browse(
            {vals.get("agreement_id") for vals in vals_list if vals.get("agreement_id")}
        )
        if not workflow and any(a.state != "draft" for a in agreements):
            raise UserError(self.env._("Instalments can only be added to a draft agreement."))
        instalments = super().create(vals_list)
        if not workflow:
            instalments.agreement_id._collection_plan_changed()
        return instalments

    def write(self, vals):
        workflow = self.env.context.get("collection_agreement_workflow") is _WORKFLOW
        if not workflow:
            if {"amount_paid", "state"} & set(vals):
                raise UserError(
                    self.env._(
                        "The payments of an instalment follow the ledger and cannot be set by hand."
                    )
                )
            if any(i.agreement_id.state != "draft" for i in self):
                raise UserError(
                    self.env._("Only the instalments of a draft agreement can be changed.")
                )
            if vals.get("date") and fields.Date.to_date(vals["date"]) < fields.Date.context_today(
                self
            ):
                raise ValidationError(
                    self.env._(
                        "An instalment cannot fall in the past (%(date)s).",
                        date=format_date(self.env, fields.Date.to_date(vals["date"])),
                    )
                )
        result = super().write(vals)
        if not workflow and {"date", "amount"} & set(vals):
            self.agreement_id._collection_plan_changed()
        return result

    @api.ondelete(at_uninstall=False)
    def _unlink_except_not_draft(self):
        if any(i.agreement_id.state != "draft" for i in self):
            raise UserError(self.env._("Only the instalments of a draft agreement can be removed."))

    def _collection_workflow_write(self, vals):
        return self.with_context(collection_agreement_workflow=_WORKFLOW).write(vals)
