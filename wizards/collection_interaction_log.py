from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools import format_amount, format_date, html_escape

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
    promise_amount = fields.Monetary(string="Promised Amount")
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

    @api.onchange("promise", "move_ids")
    def _onchange_promise(self):
        if self.promise and not self.promise_amount:
            if self.move_ids:
                self.promise_amount = sum(self.move_ids.mapped("amount_residual"))
            else:
                self.promise_amount = self.partner_id.with_company(
                    self.company_id
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
        # this wizard itself, after _collection_check_access() above.
        self.env["collection.interaction"].sudo().create(
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
        partner._collection_set_status(self.status_after)
        # sudo: collectors cannot write contacts; _collection_check_access() passed above.
        partner_sudo = partner.sudo()
        values = {}
        if self.next_action_date:
            values["collection_next_action_date"] = self.next_action_date
        if not partner_sudo.collection_user_id:
            values["collection_user_id"] = self.env.uid
        if values:
            partner_sudo.write(values)
        partner_sudo.message_post(
            body=self._summary_html(status_before, promise),
            author_id=self.env.user.partner_id.id,
            message_type="comment",
            subtype_xmlid="mail.mt_note",
        )
        if self.next_action_date:
            self._schedule_next_action(partner_sudo)
        return {"type": "ir.actions.act_window_close"}

    def _summary_html(self, status_before, promise):
        channels = dict(self._fields["channel"]._description_selection(self.env))
        outcomes = dict(self._fields["outcome"]._description_selection(self.env))
        statuses = dict(self._fields["status_after"]._description_selection(self.env))
        lines = [
            Markup("<b>%s</b>: %s") % (channels[self.channel], outcomes[self.outcome]),
        ]
        if self.status_after != status_before:
            lines.append(
                Markup("%s: %s → %s")
                % (
                    self.env._("Status"),
                    statuses.get(status_before, ""),
                    statuses[self.status_after],
                )
            )
        if promise:
            lines.append(
                Markup("%s: %s %s %s")
                % (
                    self.env._("Promise to pay"),
                    format_amount(self.env, promise.amount, promise.currency_id),
                    self.env._("by"),
                    format_date(self.env, promise.date),
                )
            )
        if self.move_ids:
            lines.append(
                Markup("%s: %s") % (self.env._("Invoices"), ", ".join(self.move_ids.mapped("name")))
            )
        if self.next_action_date:
            lines.append(
                Markup("%s: %s")
                % (self.env._("Next action"), format_date(self.env, self.next_action_date))
            )
        if self.note:
            lines.append(Markup("<i>%s</i>") % html_escape(self.note))
        return Markup("<br/>").join(lines)

    def _schedule_next_action(self, partner_sudo):
        """Create the collector's follow-up activity on the customer, or move the
        existing one to the new date."""
        activity_type = self.env.ref("account_collection.mail_activity_type_collection_follow_up")
        collector = partner_sudo.collection_user_id or self.env.user
        existing = partner_sudo.activity_ids.filtered(
            lambda a: a.activity_type_id == activity_type and a.user_id == collector
        )
        summary = self.env._("Collection follow-up")
        if existing:
            existing[:1].write({"date_deadline": self.next_action_date, "note": self.note or False})
        else:
            partner_sudo.activity_schedule(
                "account_collection.mail_activity_type_collection_follow_up",
                date_deadline=self.next_action_date,
                summary=summary,
                note=self.note or "",
                user_id=collector.id,
            )
