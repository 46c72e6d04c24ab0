from odoo import api, fields, models
from odoo.exceptions import ValidationError

from ..models.collection_case_mixin import OPEN_INVOICES_DOMAIN
from ..models.collection_interaction import CHANNELS, OUTCOMES
from ..models.res_partner import COLLECTION_STATUS


class CollectionInteractionLog(models.TransientModel):
    _name = "collection.interaction.log"
    _description = "Log a Collection Interaction"
    _check_company_auto = True

    partner_id = fields.Many2one("res.partner", string="Customer", required=True, readonly=True)
    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company
    )
    currency_id = fields.Many2one(related="company_id.currency_id")
    channel = fields.Selection(CHANNELS, required=True, default="call")
    outcome = fields.Selection(OUTCOMES, required=True, default="contacted")
    status_before = fields.Selection(COLLECTION_STATUS, compute="_compute_status_before")
    status_after = fields.Selection(
        COLLECTION_STATUS,
        string="New Status",
        compute="_compute_status_after",
        store=True,
        precompute=True,
        readonly=False,
        required=True,
    )
    move_ids = fields.Many2many(
        "account.move",
        string="Invoices",
        check_company=True,
        domain=OPEN_INVOICES_DOMAIN,
        help="Invoices the conversation was about; also the invoices of the promise.",
    )
    overdue_amount = fields.Monetary(related="partner_id.collection_overdue_amount")
    days_overdue = fields.Integer(related="partner_id.collection_days_overdue")
    promise = fields.Boolean(string="Promise to Pay")
    promise_amount = fields.Monetary(
        string="Promised Amount",
        compute="_compute_promise_amount",
        store=True,
        readonly=False,
        precompute=True,
        help="What the customer promised: what is left to pay on the invoices picked "
        "(without invoices, the overdue amount), which can be lowered.",
    )
    promise_date = fields.Date(string="Promised Date")
    dispute_reason_id = fields.Many2one(
        "collection.dispute.reason",
        string="Dispute Reason",
        check_company=True,
        domain="[('company_id', 'in', (company_id, False))]",
        help="Why the customer disputes the invoices: a dispute is opened on them and routed "
        "to who can solve it; their reminders pause meanwhile.",
    )
    next_action_date = fields.Date(
        string="Next Action",
        help="Schedules (or moves) the collector's follow-up activity on the customer.",
    )
    note = fields.Text()
    activity_id = fields.Many2one(
        "mail.activity",
        string="Marks Done",
        readonly=True,
        help="The planned activity whose outcome this is: logging marks it done.",
    )

    @api.depends("partner_id", "company_id")
    def _compute_status_before(self):
        for wizard in self:
            partner = wizard.partner_id.with_company(wizard.company_id)
            wizard.status_before = partner.collection_status or "current"

    @api.depends("status_before", "outcome", "promise")
    def _compute_status_after(self):
        # A dispute or a payment agreement is a record of its own: the outcome of a
        # conversation alone does not make the customer's status say so.
        for wizard in self:
            partner = wizard.partner_id.commercial_partner_id.with_company(wizard.company_id)
            if wizard.promise or wizard.outcome == "promise":
                wizard.status_after = (
                    partner._collection_status_after("committed")[partner] if partner else "paying"
                )
            elif wizard.outcome == "refusal":
                wizard.status_after = "refusal"
            elif wizard.outcome == "dispute":
                # Dispute Raised opens the dispute (on the invoices the dialog asks for).
                wizard.status_after = "dispute"
            else:
                wizard.status_after = wizard.status_before or "current"

    def _check_status_after(self, partner):
        """The new status says what the records say: *In Dispute* with an open dispute,
        *In Payment Agreement* with an active agreement (Dispute Raised opens the
        dispute it claims)."""
        if (
            self.status_after == "dispute"
            and self.outcome != "dispute"
            and not partner._collection_with_open_dispute()
        ):
            raise ValidationError(
                self.env._(
                    "%(partner)s has no open dispute: open one on the disputed invoices (the "
                    "Open a Dispute button of the invoice) to put the customer in dispute.",
                    partner=partner.display_name,
                )
            )
        if self.status_after == "agreement" and not partner._collection_with_commitment(
            models=["collection.agreement"]
        ):
            raise ValidationError(
                self.env._(
                    "%(partner)s has no active payment agreement: start one (Payment "
                    "Agreements) to put the customer in a payment agreement; a promise to pay "
                    "makes the customer Paying.",
                    partner=partner.display_name,
                )
            )

    @api.onchange("outcome")
    def _onchange_outcome(self):
        if self.outcome == "promise":
            self.promise = True

    @api.depends("promise", "move_ids")
    def _compute_promise_amount(self):
        """The promised amount follows the invoices picked."""
        for wizard in self:
            if not wizard.promise:
                wizard.promise_amount = wizard.promise_amount or 0.0
            elif wizard.move_ids:
                wizard.promise_amount = sum(wizard.move_ids.mapped("amount_residual_signed"))
            else:
                wizard.promise_amount = wizard.partner_id.with_company(
                    wizard.company_id
                ).collection_overdue_amount

    def action_confirm(self):
        self.ensure_one()
        partner = self.partner_id.commercial_partner_id.with_company(self.company_id)
        partner._collection_check_access()
        self.env["collection.interaction"]._collection_check_portfolio(
            [{"partner_id": partner.id, "company_id": self.company_id.id}]
        )
        status_before = partner.collection_status or "current"
        if self.promise:
            if not self.promise_amount or self.promise_amount <= 0:
                raise ValidationError(self.env._("The promised amount must be greater than zero."))
            if not self.promise_date:
                raise ValidationError(self.env._("Set the date the customer promised to pay by."))
        if self.outcome == "dispute":
            if not self.move_ids:
                raise ValidationError(self.env._("Choose the invoices the customer disputes."))
            if not self.dispute_reason_id:
                raise ValidationError(
                    self.env._("Choose the reason why the customer disputes the invoices.")
                )
        if self.next_action_date and self.next_action_date < fields.Date.context_today(self):
            raise ValidationError(self.env._("The next action cannot be planned in the past."))
        self._check_status_after(partner)

        promise = self.env["collection.promise"]
        if self.promise:
            promise = promise.create(
                {
                    "partner_id": partner.id,
                    "company_id": self.company_id.id,
                    "amount": self.promise_amount,
                    "date": self.promise_date,
                    "move_ids": [fields.Command.set(self.move_ids.ids)],
                    "user_id": self.env.uid,
                    "note": self.note,
                }
            )
        dispute = self.env["collection.dispute"]
        if self.outcome == "dispute":
            # The call below is the interaction that opens the dispute.
            dispute = dispute.with_context(collection_interaction_logged=True).create(
                {
                    "partner_id": partner.id,
                    "company_id": self.company_id.id,
                    "move_ids": [fields.Command.set(self.move_ids.ids)],
                    "reason_id": self.dispute_reason_id.id,
                    "description": self.note,
                }
            )
        # sudo: the facts (status before the promise, the ledger's figures) are set by
        # this wizard itself, after _collection_check_access() above. The interaction
        # does what logging it does (status, next action, chatter), as over the API.
        activity = self.activity_id
        if activity and (
            activity.res_model != "res.partner"
            or activity.activity_type_id not in activity._collection_activity_types()
            or self.env["res.partner"].browse(activity.res_id).commercial_partner_id != partner
        ):
            raise ValidationError(
                self.env._(
                    "The activity %(activity)s is not one of %(partner)s.",
                    activity=activity.display_name,
                    partner=partner.display_name,
                )
            )
        if activity.active:
            # Done before the interaction is logged, which may plan the next follow-up.
            # sudo: the activity of this customer (checked above, after the access and
            # portfolio checks) is done with the outcome logged, whoever it was for.
            outcomes = dict(self._fields["outcome"]._description_selection(self.env))
            activity.sudo().action_feedback(
                feedback=" - ".join(filter(None, [outcomes[self.outcome], self.note]))
            )
        self.env["collection.interaction"].sudo().with_context(
            collection_interaction_effects=True
        ).create(
            {
                "user_id": self.env.uid,
                "partner_id": partner.id,
                "company_id": self.company_id.id,
                "channel": self.channel,
                "outcome": self.outcome,
                "status_before": status_before,
                "status_after": self.status_after,
                "move_ids": [fields.Command.set(self.move_ids.ids)],
                "promise_id": promise.id,
                "dispute_id": dispute.id,
                "next_action_date": self.next_action_date,
                "note": self.note,
            }
        )
        self._collection_close_reply(promise, dispute)
        return {"type": "ir.actions.act_window_close"}

    def _collection_close_reply(self, promise, dispute):
        """The customer's reply the dialog was opened from (context
        ``collection_reply_id``) is handled by what was logged."""
        reply_id = self.env.context.get("collection_reply_id")
        if not reply_id:
            return
        reply = self.env["collection.reply"].browse(reply_id).exists()
        if reply and reply.partner_id == self.partner_id.commercial_partner_id:
            reply.check_access("write")
            reply._collection_done(promise_id=promise.id, dispute_id=dispute.id)
