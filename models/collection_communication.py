from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import format_amount


class CollectionCommunication(models.Model):
    """A reminder: what the dunning run (``collection.dunning``) decided for one
    customer on one day, at one level, about some of its invoices, and its review.
    Its deliveries (``collection.communication.delivery``) send it."""

    _name = "collection.communication"
    _description = "Collection Reminder"
    _inherit = ["mail.thread"]
    _order = "date desc, id desc"
    _check_company_auto = True

    name = fields.Char(compute="_compute_name", store=True)
    partner_id = fields.Many2one(
        "res.partner", string="Customer", required=True, index=True, readonly=True
    )
    company_id = fields.Many2one("res.company", required=True, index=True, readonly=True)
    currency_id = fields.Many2one(related="company_id.currency_id", string="Currency")
    policy_id = fields.Many2one("collection.policy", readonly=True, index=True)
    level_id = fields.Many2one("collection.level", required=True, readonly=True, index=True)
    date = fields.Date(
        required=True, readonly=True, index=True, help="Day of the run that created the reminder."
    )
    user_id = fields.Many2one("res.users", string="Collector", index=True)
    move_ids = fields.Many2many(
        "account.move",
        "collection_communication_account_move_rel",
        "communication_id",
        "move_id",
        string="Invoices",
        help="The invoices the reminder is about. A collector may take some out while the "
        "reminder waits for review.",
    )
    state = fields.Selection(
        [
            ("draft", "To Review"),
            ("queued", "Sending"),
            ("done", "Sent"),
            ("failed", "Failed"),
            ("cancelled", "Skipped"),
        ],
        default="draft",
        required=True,
        readonly=True,
        index=True,
        tracking=True,
    )
    delivery_ids = fields.One2many(
        "collection.communication.delivery", "communication_id", string="Deliveries"
    )
    overdue_amount = fields.Monetary(readonly=True, help="Overdue amount when created.")
    due_amount = fields.Monetary(readonly=True, help="Total due when created.")
    days_overdue = fields.Integer(readonly=True, help="Days overdue when created.")
    note = fields.Text(readonly=True, help="Why a channel was not used, and which one replaced it.")
    portal_url = fields.Char(compute="_compute_portal_url")
    letter_attachment_id = fields.Many2one("ir.attachment", string="Letter", readonly=True)

    _partner_level_date_unique = models.UniqueIndex(
        "(partner_id, level_id, date)",
        "A customer gets one reminder per level and day.",
    )

    @api.depends("partner_id", "level_id")
    def _compute_name(self):
        for communication in self:
            communication.name = self.env._(
                "%(level)s - %(partner)s",
                level=communication.level_id.name or "",
                partner=communication.partner_id.display_name or "",
            )

    @api.depends("partner_id", "company_id")
    def _compute_portal_url(self):
        """The customer's statement of account on the portal, with its access token:
        the customer sees and pays the invoices, promises to pay or disputes one
        without logging in."""
        for communication in self:
            if not communication.partner_id or not communication.company_id:
                communication.portal_url = False
                continue
            communication.portal_url = communication.get_base_url() + (
                communication.partner_id._collection_portal_url(communication.company_id)
            )

    @api.constrains("move_ids", "partner_id")
    def _check_move_ids(self):
        for communication in self:
            if not communication.move_ids:
                raise ValidationError(
                    self.env._(
                        "A reminder is about at least one invoice: skip it instead of removing "
                        "them all."
                    )
                )
            if communication.move_ids.commercial_partner_id != communication.partner_id:
                raise ValidationError(
                    self.env._(
                        "A reminder of %(partner)s can only be about that customer's invoices.",
                        partner=communication.partner_id.display_name,
                    )
                )

    def write(self, vals):
        if "move_ids" in vals and any(c.state != "draft" for c in self):
            raise UserError(
                self.env._("The invoices of a reminder can only change while it waits for review.")
            )
        return super().write(vals)

    def _invoice_attachments(self):
        """The PDF of each invoice of the reminder, attached to the reminder: the one
        Odoo already keeps for the invoice when it was sent, else a fresh one."""
        self.ensure_one()
        Attachment = self.env["ir.attachment"].sudo()
        attachments = Attachment
        for move in self.move_ids.sudo():
            if move.invoice_pdf_report_id:
                attachments |= move.invoice_pdf_report_id
                continue
            pdf, _report_type = (
                self.env["ir.actions.report"]
                .sudo()
                ._render_qweb_pdf("account.account_invoices", move.ids)
            )
            attachments |= Attachment.create(
                {
                    "name": f"{(move.name or 'invoice').replace('/', '_')}.pdf",
                    "raw": pdf,
                    "res_model": self._name,
                    "res_id": self.id,
                    "mimetype": "application/pdf",
                }
            )
        return attachments

    # ------------------------------------------------------------------
    # Values for the templates
    # ------------------------------------------------------------------

    def _template_values(self):
        """Values a template or a WhatsApp message may show, formatted in the customer's
        language."""
        self.ensure_one()
        env = self.with_context(lang=self.partner_id.lang).env
        return {
            "partner_name": self.partner_id.name,
            "overdue_amount": format_amount(env, self.overdue_amount, self.currency_id),
            "due_amount": format_amount(env, self.due_amount, self.currency_id),
            "days_overdue": str(self.days_overdue),
            "invoice_names": ", ".join(self.move_ids.mapped("name")),
            "portal_url": self.portal_url,
            "company_name": self.company_id.name,
        }

    # ------------------------------------------------------------------
    # Review
    # ------------------------------------------------------------------

    def action_approve(self):
        if any(c.state != "draft" for c in self):
            raise UserError(self.env._("Only reminders waiting for review can be approved."))
        self._start()

    def action_skip(self):
        if any(c.state not in ("draft", "queued") for c in self):
            raise UserError(self.env._("Only reminders not sent yet can be skipped."))
        self.delivery_ids.filtered(lambda d: d.state in ("draft", "queued"))._set_cancelled()
        self.write({"state": "cancelled"})

    def action_retry(self):
        failed = self.delivery_ids.filtered(lambda d: d.state == "failed")
        if not failed:
            raise UserError(self.env._("Nothing failed to send here."))
        failed.action_retry()

    def _start(self):
        """Queue the deliveries and apply the level's stage and status changes."""
        self.delivery_ids.filtered(lambda d: d.state == "draft")._set_queued()
        self.write({"state": "queued"})
        self.env["collection.dunning"]._apply_portfolio_changes(self)
        self._update_state()

    def _update_state(self):
        for communication in self.filtered(lambda c: c.state == "queued"):
            state = communication._state_from_deliveries()
            if state != "queued":
                communication.state = state

    def _state_from_deliveries(self):
        """The reminder's state from its deliveries' once it is under way: queued while
        one is to send, failed if one failed, skipped when none could go, else sent."""
        self.ensure_one()
        states = set(self.delivery_ids.mapped("state"))
        if states & {"queued", "sending", "draft"}:
            return "queued"
        failed = self.delivery_ids.filtered(lambda d: d.state == "failed")
        if self.level_id.whatsapp_fallback_sms and self.delivery_ids.filtered(
            lambda d: d.channel == "sms" and d.state == "sent"
        ):
            # The SMS sent in place of the WhatsApp message reached the customer.
            failed = failed.filtered(lambda d: d.channel != "whatsapp")
        if failed:
            return "failed"
        if states and states <= {"cancelled"}:
            # Every channel was taken off or could not reach the customer.
            return "cancelled"
        return "done"
