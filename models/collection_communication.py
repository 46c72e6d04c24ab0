import pytz
from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import format_amount, format_date


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
    due_move_ids = fields.Many2many(
        "account.move",
        compute="_compute_coming_move_ids",
        string="Invoices Due",
        help="The reminder's invoices due on or before its day.",
    )
    coming_move_ids = fields.Many2many(
        "account.move",
        compute="_compute_coming_move_ids",
        string="Coming Due",
        help="The reminder's invoices not due yet on its day, listed under their own "
        "heading: their reminder before the due date is this one.",
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
    waiting_reason = fields.Char(
        string="Waiting For",
        compute="_compute_waiting_reason",
        help="Why the reminder has not gone yet: waiting for review, the quiet hours or the "
        "rest day, the contact limit, or the next attempt after a refusal.",
    )
    delivery_summary = fields.Char(
        string="Channels",
        compute="_compute_delivery_summary",
        help="Each channel of the reminder and where it stands.",
    )
    preview_html = fields.Html(
        string="Preview",
        compute="_compute_preview_html",
        sanitize=False,
        help="Each channel's message as the customer will get it.",
    )

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

    @api.depends("move_ids.invoice_date_due", "date")
    def _compute_coming_move_ids(self):
        for communication in self:
            coming = communication.move_ids.filtered(
                lambda move, day=communication.date: (
                    day and move.invoice_date_due and move.invoice_date_due > day
                )
            )
            communication.coming_move_ids = coming
            communication.due_move_ids = communication.move_ids - coming

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

    @api.depends("state", "delivery_ids.state", "delivery_ids.next_attempt")
    @api.depends_context("lang")
    def _compute_waiting_reason(self):
        now = fields.Datetime.now()
        for communication in self:
            communication.waiting_reason = communication._waiting_reason(now)

    def _waiting_reason(self, now):
        """Why this reminder is not sent at ``now`` (naive UTC), in words; False when
        nothing holds it back. The moment a held delivery may go is the queue's own
        (``_postponed_until``), told in the company's time zone."""
        self.ensure_one()
        if self.state == "draft":
            return self.env._("To review")
        if self.state == "failed":
            return self.env._("A channel failed: retry it or skip the reminder")
        if self.state != "queued":
            return False
        company = self.company_id
        tz = company._collection_tz()

        def local(moment):
            return pytz.utc.localize(moment).astimezone(tz).replace(tzinfo=None)

        local_now = local(now).replace(second=0, microsecond=0)

        def when(moment):
            if moment.date() == local_now.date():
                return moment.strftime("%H:%M")
            day = format_date(self.env, moment.date(), date_format="MMM d")
            return f"{day}, {moment:%H:%M}"

        reasons = []
        for delivery in self.delivery_ids.filtered(
            lambda d: d.state == "queued" and d.channel != "activity"
        ):
            until = (
                delivery.next_attempt
                if delivery.next_attempt and delivery.next_attempt > now
                else False
            )
            if until and delivery.attempts and delivery.last_error:
                reasons.append(self.env._("next attempt at %(when)s", when=when(local(until))))
                continue
            until = until or delivery._postponed_until(now)
            if not until:
                continue
            # The company's quiet hours or rest day hold it now, then the contact limit
            # (the last message to the customer is too recent) until a later day.
            allowed = company._collection_next_allowed_time(local_now)
            if allowed != local_now:
                reasons.append(self.env._("quiet hours until %(when)s", when=when(allowed)))
            if local(until) > allowed:
                reasons.append(
                    self.env._(
                        "contact limit until %(day)s",
                        day=format_date(self.env, local(until).date(), date_format="MMM d"),
                    )
                )
        if reasons:
            reason = "; ".join(dict.fromkeys(reasons))
            return reason[:1].upper() + reason[1:]
        return self.env._("In the sending queue")

    @api.depends("delivery_ids.state", "delivery_ids.channel")
    @api.depends_context("lang")
    def _compute_delivery_summary(self):
        Delivery = self.env["collection.communication.delivery"]
        channels = dict(Delivery._fields["channel"]._description_selection(self.env))
        states = dict(Delivery._fields["state"]._description_selection(self.env))
        for communication in self:
            communication.delivery_summary = ", ".join(
                f"{channels[delivery.channel]}: {states[delivery.state]}"
                for delivery in communication.delivery_ids
            )

    @api.depends("level_id", "partner_id", "move_ids")
    @api.depends_context("lang")
    def _compute_preview_html(self):
        for communication in self:
            communication.preview_html = communication._preview_html()

    def _preview_html(self):
        """Each message channel of the level, rendered as the customer gets it: the
        email's subject and body, the SMS text, the WhatsApp template and its values,
        the letter's title. Rendered in the customer's language by the templates."""
        self.ensure_one()
        if not self.id or not self.level_id:
            return False
        level = self.level_id
        # sudo: the templates render for a reminder the user can read; collectors may not
        # edit templates, which rendering asks of them otherwise.
        communication = self.sudo()
        channels = set(self.delivery_ids.mapped("channel")) or set(level._message_channels())
        sections = []
        title = Markup("<h5 class='mt-3'>%s</h5>")
        if "email" in channels and level.mail_template_id:
            template = level.mail_template_id.sudo()
            subject = template._render_field("subject", communication.ids, compute_lang=True)[
                self.id
            ]
            body = template._render_field("body_html", communication.ids, compute_lang=True)[
                self.id
            ]
            sections.append(
                title % self.env._("Email")
                + Markup("<p><b>%s</b></p><div class='border rounded p-2'>%s</div>")
                % (subject or "", Markup(body or ""))
            )
        if "sms" in channels and level.sms_template_id:
            text = level.sms_template_id.sudo()._render_field(
                "body", communication.ids, compute_lang=True
            )[self.id]
            sections.append(
                title % self.env._("SMS")
                + Markup("<p class='border rounded p-2' style='white-space: pre-wrap'>%s</p>")
                % (text or "")
            )
        if "whatsapp" in channels and level.whatsapp_template_name:
            values = communication._template_values()
            names = [n.strip() for n in (level.whatsapp_parameters or "").split(",") if n.strip()]
            items = Markup("").join(
                Markup("<li>{{%s}} %s</li>") % (index, values.get(name, ""))
                for index, name in enumerate(names, start=1)
            )
            sections.append(
                title % self.env._("WhatsApp")
                + Markup("<p>%s</p><ul>%s</ul>")
                % (
                    self.env._(
                        "Template %(name)s, approved by WhatsApp, with the values:",
                        name=level.whatsapp_template_name,
                    ),
                    items,
                )
            )
        if "letter" in channels:
            sections.append(
                title % self.env._("Letter")
                + Markup("<p>%s</p>")
                % self.env._(
                    "A dunning letter listing the invoices, printed to PDF and attached to the "
                    "reminder when it is sent."
                )
            )
        return Markup("").join(sections) or False

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
