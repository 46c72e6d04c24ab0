from datetime import datetime, time, timedelta

import pytz
from markupsafe import Markup

from odoo import Command, api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import SQL, format_amount, format_date

# The reminders' engine (the dunning run, the sending queue, the review buttons) writes
# reminders and deliveries with this object in its context. It cannot travel through
# an RPC call, so no user sets what a reminder says or what became of it by hand.
ENGINE = object()

# Fields of a reminder a collector may write while reviewing it (the invoices only
# while it waits for review): everything else is a fact the engine sets.
REVIEW_FIELDS = {"move_ids", "user_id"}
# Written through, each delivery checking its own writes (see its write()).
GUARDED_FIELDS = {"delivery_ids"}


def is_engine(env):
    """Whether ``env`` writes as the reminders' engine: as superuser (the scheduled
    jobs), or through ``_engine_write``."""
    return env.su or env.context.get("collection_engine") is ENGINE


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
    overdue_amount = fields.Monetary(
        readonly=True, help="Overdue amount of the customer, read again just before it is sent."
    )
    due_amount = fields.Monetary(
        readonly=True, help="Total due by the customer, read again just before it is sent."
    )
    days_overdue = fields.Integer(
        readonly=True, help="Days overdue of the customer, read again just before it is sent."
    )
    note = fields.Text(
        readonly=True,
        help="Why a channel was not used, and which one replaced it; the invoices taken off "
        "before it was sent.",
    )
    cancel_reason = fields.Char(
        string="Not Sent Because",
        readonly=True,
        help="Why the reminder was cancelled before it left: its invoices were paid, "
        "credited, disputed, promised or put on hold since it was created, or its message "
        "would no longer be true on the day it could go.",
    )
    portal_url = fields.Char(
        compute="_compute_portal_url",
        groups="account_collection.group_collection_user",
        help="The customer's statement link, which opens without a login: collectors of "
        "the customer only.",
    )
    letter_attachment_id = fields.Many2one("ir.attachment", string="Letter", readonly=True)
    recipient_summary = fields.Text(
        string="Sent To",
        compute="_compute_recipient_summary",
        help="Who each channel of the reminder goes to: the contacts, their addresses and "
        "those in copy.",
    )
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
    settled_warning = fields.Char(
        string="Settled Since",
        compute="_compute_settled_warning",
        help="The invoices of a reminder waiting for review that were paid, credited, "
        "disputed, promised or put on hold since it was created: approving takes them off, "
        "and cancels the reminder when nothing is left to claim.",
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
            communication.name = communication._collection_name()

    @api.depends("partner_id", "level_id")
    @api.depends_context("lang")
    def _compute_display_name(self):
        """The level in the reader's language (the stored name is the run's)."""
        for communication in self:
            communication.display_name = communication._collection_name()

    def _collection_name(self):
        self.ensure_one()
        return self._collection_name_of(self.level_id, self.partner_id)

    @api.model
    def _collection_name_of(self, level, partner):
        """The name of a reminder at ``level`` for ``partner`` (the run writes it with
        the row, see ``collection.dunning._insert_reminders``)."""
        return self.env._(
            "%(level)s - %(partner)s",
            level=level.name or "",
            partner=partner.display_name or "",
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

    @api.depends("partner_id", "company_id", "date")
    def _compute_portal_url(self):
        """The customer's statement of account on the portal, with its access token
        issued on the reminder's day: the customer sees and pays the invoices, promises
        to pay or disputes one without logging in, for the company's link validity
        after that day."""
        for communication in self:
            if not communication.partner_id or not communication.company_id:
                communication.portal_url = False
                continue
            communication.portal_url = communication.get_base_url() + (
                communication.partner_id._collection_portal_url(
                    communication.company_id, communication.date
                )
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
        postponed = self._collection_postponed(now)
        if self.state == "draft":
            if postponed:
                return self.env._("To review, postponed to %(day)s", day=postponed)
            return self.env._("To review")
        if self.state == "failed":
            return self.env._("A channel failed: retry it or skip the reminder")
        if self.state != "queued":
            return False
        if postponed:
            return self.env._("Postponed to %(day)s", day=postponed)
        company = self.company_id
        Delivery = self.env["collection.communication.delivery"]
        # The customer's clock: the quiet hours and rest days are the customer's.
        local = Delivery._collection_local
        tz = Delivery._collection_tz_of(self.partner_id, company)
        local_now = local(now, tz).replace(second=0, microsecond=0)

        def when(moment):
            if moment.date() == local_now.date():
                return moment.strftime("%H:%M")
            day = format_date(self.env, moment.date(), date_format="MMM d")
            return f"{day}, {moment:%H:%M}"

        reasons = []
        if self.delivery_ids.filtered(lambda d: d.state == "to_print"):
            reasons.append(self.env._("letter to print"))
        for delivery in self.delivery_ids.filtered(
            lambda d: d.state == "queued" and d.channel != "activity"
        ):
            until = (
                delivery.next_attempt
                if delivery.next_attempt and delivery.next_attempt > now
                else False
            )
            if until and delivery.attempts and delivery.last_error:
                reasons.append(self.env._("next attempt at %(when)s", when=when(local(until, tz))))
                continue
            until = until or delivery._postponed_until(now)
            if not until:
                continue
            # The quiet hours or a rest day hold it now, then the contact limit (the last
            # message to the customer is too recent) until a later day.
            allowed = company._collection_next_allowed_time(local_now)
            if allowed != local_now:
                reasons.append(self.env._("quiet hours until %(when)s", when=when(allowed)))
            if local(until, tz) > allowed:
                reasons.append(
                    self.env._(
                        "contact limit until %(day)s",
                        day=format_date(self.env, local(until, tz).date(), date_format="MMM d"),
                    )
                )
        if reasons:
            reason = "; ".join(dict.fromkeys(reasons))
            return reason[:1].upper() + reason[1:]
        return self.env._("In the sending queue")

    @api.depends_context("lang")
    def _compute_settled_warning(self):
        """Read from the ledger each time (no dependency: a payment changes it)."""
        self.settled_warning = False
        drafts = self.filtered(lambda c: c.id and c.state == "draft")
        reasons = self._collection_settled_reasons()
        for company in drafts.company_id:
            reminders = drafts.filtered(lambda c, co=company: c.company_id == co)
            claims = reminders._collection_claims(company, company._collection_today())
            for reminder in reminders:
                settled = {
                    move_id: why
                    for move_id, (why, _due) in claims.get(reminder.id, {}).items()
                    if why
                }
                if not settled:
                    continue
                names = dict(reminder.move_ids.mapped(lambda m: (m.id, m.display_name)))
                invoices = ", ".join(
                    f"{names.get(move_id, move_id)} ({reasons[why]})"
                    for move_id, why in settled.items()
                )
                if len(settled) == len(claims[reminder.id]):
                    reminder.settled_warning = self.env._(
                        "Nothing left to claim: %(invoices)s. Approving cancels it.",
                        invoices=invoices,
                    )
                else:
                    reminder.settled_warning = self.env._(
                        "Settled since it was created: %(invoices)s. Approving takes them off.",
                        invoices=invoices,
                    )

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

    @api.depends("level_id", "partner_id", "move_ids", "edited_body", "delivery_ids.recipient")
    @api.depends_context("lang")
    def _compute_preview_html(self):
        for communication in self:
            communication.preview_html = communication._preview_html()

    def _preview_html(self):
        """Each message channel of the reminder, rendered as the customer gets it and
        with whom it goes to: the email's subject and body (the edited one when a
        collector edited it), the SMS text and its length, the WhatsApp template, its
        language and values, the letter. Rendered in the customer's language by the
        templates."""
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

        def recipient(channel):
            delivery = communication.delivery_ids.filtered(lambda d: d.channel == channel)[:1]
            if delivery.recipient:
                return Markup("<p class='text-muted mb-1'>%s</p>") % self.env._(
                    "To: %(recipient)s", recipient=delivery.recipient
                )
            if delivery.last_error:
                return Markup("<p class='text-danger mb-1'>%s</p>") % delivery.last_error
            return Markup()

        if "email" in channels and (level.mail_template_id or communication.edited_body):
            if communication.edited_body:
                subject, body = communication.edited_subject, communication.edited_body
                edited = Markup("<p class='text-info mb-1'>%s</p>") % self.env._(
                    "Edited before sending: this text goes instead of the template's."
                )
            else:
                template = level.mail_template_id.sudo()
                subject = template._render_field("subject", communication.ids, compute_lang=True)[
                    self.id
                ]
                body = template._render_field("body_html", communication.ids, compute_lang=True)[
                    self.id
                ]
                edited = Markup()
            sections.append(
                title % self.env._("Email")
                + recipient("email")
                + edited
                + Markup("<p><b>%s</b></p><div class='border rounded p-2'>%s</div>")
                % (subject or "", Markup(body or ""))
            )
        if "sms" in channels and level.sms_template_id:
            text = level.sms_template_id.sudo()._render_field(
                "body", communication.ids, compute_lang=True
            )[self.id]
            sections.append(
                title % self.env._("SMS")
                + recipient("sms")
                + Markup("<p class='border rounded p-2' style='white-space: pre-wrap'>%s</p>")
                % (text or "")
                + Markup("<p class='text-muted'>%s</p>")
                % self.env._("%(count)s characters", count=len(text or ""))
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
                + recipient("whatsapp")
                + Markup("<p>%s</p><ul>%s</ul>")
                % (
                    self.env._(
                        "Template %(name)s (%(lang)s), approved by WhatsApp, with the values:",
                        name=level.whatsapp_template_name,
                        lang=level.whatsapp_language or communication.partner_id.lang or "en_US",
                    ),
                    items,
                )
            )
        if "letter" in channels:
            sections.append(
                title % self.env._("Letter")
                + Markup("<p>%s</p>")
                % self.env._(
                    "A dunning letter listing the invoices, made into a PDF when the reminder "
                    "is sent, then waiting in Letters to Print to be printed and posted."
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

    @api.model_create_multi
    def create(self, vals_list):
        if not is_engine(self.env):
            raise UserError(self.env._("Reminders are created by the reminders run, not by hand."))
        return super().create(vals_list)

    def write(self, vals):
        if not is_engine(self.env):
            facts = set(vals) - REVIEW_FIELDS - GUARDED_FIELDS - self._collection_mail_fields()
            if facts:
                raise UserError(
                    self.env._(
                        "What a reminder says and what became of it are set by the "
                        "reminders engine: review it with its buttons (approve, skip, retry). "
                        "Not changed: %(fields)s",
                        fields=", ".join(
                            self._fields[fname].get_description(self.env)["string"]
                            for fname in sorted(facts)
                            if fname in self._fields
                        ),
                    )
                )
        # The engine takes settled invoices off a reminder about to leave (see
        # _collection_refresh); a reviewer changes them only while it waits for review.
        if "move_ids" in vals and not is_engine(self.env) and any(c.state != "draft" for c in self):
            raise UserError(
                self.env._("The invoices of a reminder can only change while it waits for review.")
            )
        return super().write(vals)

    @api.model
    def _collection_mail_fields(self):
        """The chatter's own fields (followers, attachments), which mail writes."""
        return {fname for fname in self._fields if fname.startswith(("message_", "activity_"))}

    def _engine_write(self, vals):
        """Write the facts ``vals`` as the reminders' engine (see ENGINE), with the
        current user's access rights."""
        return self.with_context(collection_engine=ENGINE).write(vals)

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
        """Approve the reminders for sending. The ledger is read again first: a reminder
        whose invoices were all settled since, or whose message can no longer be true,
        is cancelled with its reason instead (and the user told so)."""
        if any(c.state != "draft" for c in self):
            raise UserError(self.env._("Only reminders waiting for review can be approved."))
        self.check_access("write")
        # sudo: the engine rereads the ledger and writes its facts on reminders the user
        # may approve (checked above).
        fresh, _changed = self.sudo()._collection_refresh(fields.Datetime.now(), drop_untrue=True)
        to_start = self.filtered(lambda c: c.id in fresh)
        to_start._start()
        cancelled = self - to_start
        if not cancelled:
            return None
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "warning",
                "message": "\n".join(
                    self.env._(
                        "%(reminder)s not sent: %(reason)s",
                        reminder=c.name,
                        reason=c.cancel_reason,
                    )
                    for c in cancelled
                ),
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    def action_skip(self):
        if any(c.state not in ("draft", "queued") for c in self):
            raise UserError(self.env._("Only reminders not sent yet can be skipped."))
        self.delivery_ids.filtered(
            lambda d: d.state in ("draft", "queued", "to_print")
        )._set_cancelled()
        # The invoices stay at the level they reached: the next level comes on its day.
        self._engine_write(
            {
                "state": "cancelled",
                "cancel_reason": self.env._(
                    "Skipped by %(user)s: this level counts as done", user=self.env.user.name
                ),
            }
        )

    def action_retry(self):
        failed = self.delivery_ids.filtered(lambda d: d.state == "failed")
        if not failed:
            raise UserError(self.env._("Nothing failed to send here."))
        failed.action_retry()

    # ------------------------------------------------------------------
    # The truth at sending
    # ------------------------------------------------------------------

    def _collection_settled_reasons(self):
        """What took an invoice off a reminder, in words."""
        return {
            "paid": self.env._("Paid before sending"),
            "credited": self.env._("Credited before sending"),
            "cancelled": self.env._("Invoice cancelled before sending"),
            "held": self.env._("Put on hold before sending"),
            "disputed": self.env._("Disputed before sending"),
            "promised": self.env._("Promised before sending"),
            "agreement": self.env._("Covered by a payment agreement before sending"),
            "placed": self.env._("Placed with an agency before sending"),
            "excluded": self.env._("Customer excluded from reminders before sending"),
        }

    def _collection_claims(self, company, today):
        """{reminder id: {invoice id: (why it is settled or False, first due date)}} for
        the reminders of ``self`` (of ``company``), read from the ledger and the rules of
        the dunning run on ``today``, in one query: an invoice is settled when it is
        paid, credited or cancelled, on hold (Odoo's "No follow-up"), in an open
        dispute, covered by an open promise or an active payment agreement, or its
        customer is excluded from reminders."""
        Ledger = self.env["collection.ledger"]
        Ledger._flush()
        self.env["account.move"].flush_model(["state", "payment_state"])
        self.flush_model(["move_ids", "partner_id"])
        Partner = self.env["res.partner"].with_company(company)
        Partner.flush_model(["collection_excluded"])
        move = SQL("m.id")
        lines = SQL(
            """FROM account_move_line aml
                WHERE aml.move_id = m.id AND %s AND aml.amount_residual > 0""",
            Ledger._open_receivable_condition(company),
        )
        rows = self.env.execute_query(
            SQL(
                """
                SELECT rel.communication_id, m.id, m.state, m.payment_state,
                       EXISTS (SELECT 1 %(lines)s AND aml.no_followup IS NOT TRUE),
                       EXISTS (SELECT 1 %(lines)s),
                       (SELECT MIN(%(due_date)s) %(lines)s),
                       %(disputed)s, %(promised)s, %(agreement)s,
                       %(excluded)s IS TRUE, %(placed)s
                  FROM collection_communication_account_move_rel rel
                  JOIN collection_communication c ON c.id = rel.communication_id
                  JOIN res_partner p ON p.id = c.partner_id
                  JOIN account_move m ON m.id = rel.move_id
                 WHERE rel.communication_id IN %(ids)s
                """,
                lines=lines,
                due_date=Ledger._due_date_sql(),
                disputed=self.env["collection.dispute"]._dunning_exclusion_sql(move, today),
                promised=self.env["collection.promise"]._dunning_exclusion_sql(move, today),
                agreement=self.env["collection.agreement"]._dunning_exclusion_sql(move, today),
                excluded=Ledger._company_dependent_sql(Partner, "p", "collection_excluded"),
                placed=self.env["collection.placement"]._dunning_exclusion_sql(move, today),
                ids=tuple(self.ids) or (0,),
            )
        )
        claims = {}
        for row in rows:
            (communication_id, move_id, state, payment_state, claimable, open_, due_date,
             disputed, promised, agreement, excluded, placed) = row  # fmt: skip
            if state != "posted":
                why = "cancelled"
            elif not open_:
                why = "credited" if payment_state == "reversed" else "paid"
            elif not claimable:
                why = "held"
            elif excluded:
                why = "excluded"
            elif placed:
                why = "placed"
            elif disputed:
                why = "disputed"
            elif promised:
                why = "promised"
            elif agreement:
                why = "agreement"
            else:
                why = False
            claims.setdefault(communication_id, {})[move_id] = (why, due_date)
        return claims

    def _collection_refresh(self, now, drop_untrue=False):
        """Read the ledger again for the reminders of ``self`` at ``now`` (naive UTC),
        just before they leave or are approved: the invoices settled since are taken
        off (and said so in the note), the amounts are those of now, and a reminder
        with nothing left to claim is cancelled with the reason. With
        ``drop_untrue``, a reminder whose message can no longer be true on the
        customer's day (``_collection_last_day``) is cancelled too.

        Returns ({reminder id: last day its message is true (False: no limit)} for the
        reminders still to send, the reminders whose message changed)."""
        result = {}
        changed = self.browse()
        reasons = self._collection_settled_reasons()
        for company in self.company_id:
            reminders = self.filtered(lambda c, co=company: c.company_id == co)
            today = company._collection_today(now)
            claims = reminders._collection_claims(company, today)
            figures = self._collection_current_figures(reminders, company, today)
            for reminder in reminders:
                moves = claims.get(reminder.id, {})
                settled = {move_id: why for move_id, (why, _due) in moves.items() if why}
                kept = [move_id for move_id, (why, _due) in moves.items() if not why]
                if not kept:
                    reminder._collection_cancel(
                        "; ".join(reasons[why] for why in dict.fromkeys(settled.values()))
                        or reasons["paid"]
                    )
                    continue
                last_day = reminder._collection_last_day([moves[m][1] for m in kept])
                if drop_untrue and last_day and reminder._collection_local_day(now) > last_day:
                    reminder._collection_cancel(reminder._collection_untrue_reason(last_day))
                    continue
                result[reminder.id] = last_day
                values = dict(figures[reminder.partner_id.id])
                if settled:
                    values["move_ids"] = [Command.set(kept)]
                    names = dict(reminder.move_ids.mapped(lambda m: (m.id, m.display_name)))
                    values["note"] = "\n".join(
                        filter(
                            None,
                            [
                                reminder.note,
                                self.env._(
                                    "Taken off: %(invoices)s.",
                                    invoices=", ".join(
                                        f"{names[move_id]} ({reasons[why]})"
                                        for move_id, why in settled.items()
                                    ),
                                ),
                            ],
                        )
                    )
                values = {
                    fname: value
                    for fname, value in values.items()
                    if fname in ("move_ids", "note") or reminder[fname] != value
                }
                if values and reminder.edited_body:
                    values.update(edited_subject=False, edited_body=False)
                    values["note"] = "\n".join(
                        filter(
                            None,
                            [
                                values.get("note", reminder.note),
                                self.env._(
                                    "The edited email was set aside: the invoices or amounts "
                                    "changed since it was edited, the level's email goes instead."
                                ),
                            ],
                        )
                    )
                if values:
                    reminder.sudo().write(values)
                    changed |= reminder
        return result, changed

    @api.model
    def _collection_current_figures(self, reminders, company, today):
        """{customer id: its figures now} for the customers of ``reminders``, as the
        run reads them when it creates a reminder (what a reminder claims, see
        ``collection.dunning._claimable_figures``), for all of them at once."""
        stage_before = {}
        for reminder in reminders:
            pid = reminder.partner_id.id
            stage_before[pid] = min(stage_before.get(pid, reminder.date), reminder.date)
        return self.env["collection.dunning"]._claimable_figures(
            company, today, reminders.partner_id.ids, stage_before=stage_before
        )

    def _collection_last_day(self, due_dates):
        """The last day the message of this reminder is true, False when it has none.
        A message before the due date ("due soon") is true until the day before the
        first due date of its invoices, one on the due date ("due today") on that day
        only, and either gives way to the next level of its policy: until the day before
        the gap between the two levels' delays has passed since the reminder's day. A
        message about overdue invoices stays true until it leaves: the invoices' next
        level waits for it (``collection.level._dunning_next_step_sql``)."""
        self.ensure_one()
        level = self.level_id
        due_dates = [due for due in due_dates if due]
        if level.delay > 0 or not due_dates:
            return False
        last = min(due_dates) - timedelta(days=1 if level.delay < 0 else 0)
        later = level.policy_id.level_ids.filtered(lambda lv: lv.delay > level.delay)
        if later:
            gap = min(later.mapped("delay")) - level.delay
            last = min(last, self.date + timedelta(days=gap - 1))
        return last

    def _collection_local_day(self, moment):
        """The customer's day at ``moment`` (naive UTC)."""
        self.ensure_one()
        Delivery = self.env["collection.communication.delivery"]
        tz = Delivery._collection_tz_of(self.partner_id, self.company_id)
        return Delivery._collection_local(moment, tz).date()

    def _collection_untrue_reason(self, last_day):
        return self.env._(
            "Dropped: it could not go by %(day)s, the last day its message is true",
            day=format_date(self.env, last_day, date_format="MMM d"),
        )

    def _collection_cancel(self, reason):
        """Nothing is sent any more of this reminder, because of ``reason``: the
        deliveries not sent yet are cancelled with it, the reminder is cancelled with it
        (sent if one of its channels already went) and the customer's chatter says so."""
        self.ensure_one()
        pending = self.delivery_ids.filtered(
            lambda d: d.state in ("draft", "queued", "failed", "to_print")
        )
        pending._set_cancelled()
        pending._engine_write({"last_error": reason})
        if self.delivery_ids.filtered(lambda d: d.state in ("sent", "sending")):
            self._update_state()
            return
        self._engine_write({"state": "cancelled", "cancel_reason": reason})
        self._collection_note_on_customer(
            self.env._("Reminder not sent (%(reason)s):", reason=reason)
        )

    def _collection_note_on_customer(self, text):
        """Note ``text``, followed by a link to this reminder, on the customer's chatter."""
        self.ensure_one()
        # sudo: the engine records what became of a reminder, whoever runs it.
        self.partner_id.sudo().message_post(
            body=Markup("%s %s") % (text, self._get_html_link()),
            message_type="comment",
            subtype_xmlid="mail.mt_note",
        )

    @api.model
    def _collection_notes_on_customers(self, notes):
        """Note each (reminder, text) of ``notes`` on its customer's chatter, as
        ``_collection_note_on_customer`` does, with as few writes as there are notes
        on one customer."""
        rounds = []
        for communication, text in notes:
            body = Markup("%s %s") % (text, communication._get_html_link())
            partner_id = communication.partner_id.id
            for bodies in rounds:
                if partner_id not in bodies:
                    bodies[partner_id] = body
                    break
            else:
                rounds.append({partner_id: body})
        Partner = self.env["res.partner"].sudo()
        for bodies in rounds:
            # sudo: the engine records what became of a reminder, whoever runs it.
            Partner.browse(bodies)._message_log_batch(bodies, message_type="comment")

    @api.model
    def _collection_refresh_drafts(self, now):
        """The reminders waiting for review whose invoices were all settled, or whose
        message can no longer be true, cancel themselves; the others show the invoices
        and amounts of now. Run by the sending queue; drafts a collector is editing
        (locked) are left for the next run."""
        drafts = self.search([("state", "=", "draft")], order="id")
        Cron = self.env["ir.cron"]
        for start in range(0, len(drafts), 200):
            batch = (
                drafts[start : start + 200]
                .try_lock_for_update()
                .filtered(lambda c: c.state == "draft")
            )
            batch._collection_refresh(now, drop_untrue=True)
            Cron._commit_progress(0)

    def _start(self):
        """Queue the deliveries and apply the level's stage and status changes. The
        deliveries of a postponed reminder wait for its day."""
        now = fields.Datetime.now()
        per_moment = {}
        for communication in self:
            per_moment.setdefault(communication._collection_not_before(now), []).append(
                communication.id
            )
        for moment, ids in per_moment.items():
            self.browse(ids).delivery_ids.filtered(lambda d: d.state == "draft")._set_queued(
                next_attempt=moment
            )
        self._engine_write({"state": "queued"})
        self.env["collection.dunning"]._apply_portfolio_changes(self)
        self._update_state()

    def _update_state(self):
        for communication in self.filtered(lambda c: c.state == "queued"):
            state = communication._state_from_deliveries()
            if state != "queued":
                communication._engine_write({"state": state})

    def _state_from_deliveries(self):
        """The reminder's state from its deliveries' once it is under way: queued while
        one is to send, failed if one failed, skipped when none could go, else sent."""
        self.ensure_one()
        states = set(self.delivery_ids.mapped("state"))
        if states & {"queued", "sending", "draft", "to_print"}:
            return "queued"
        failed = self.delivery_ids.filtered(lambda d: d.state == "failed")
        if self.level_id.whatsapp_fallback_sms and self.delivery_ids.filtered(
            lambda d: d.channel == "sms" and d.state == "sent"
        ):
            # The SMS sent in place of the WhatsApp message reached the customer.
            failed = failed.filtered(lambda d: d.channel != "whatsapp")
        # A channel that could not deliver it, replaced by one that did.
        failed -= self.delivery_ids.filtered(lambda d: d.state == "sent").fallback_of_id
        if failed:
            return "failed"
        if states and states <= {"cancelled"}:
            # Every channel was taken off or could not reach the customer.
            return "cancelled"
        return "done"

    # ------------------------------------------------------------------
    # Review: postpone, edit the email
    # ------------------------------------------------------------------

    edited_subject = fields.Char(
        string="Edited Subject",
        readonly=True,
        help="The subject of the email as a collector edited it before sending.",
    )
    edited_body = fields.Html(
        string="Edited Email",
        readonly=True,
        help="The email as a collector edited it in the composer before sending: this text "
        "goes instead of the template's. Set aside when the invoices or amounts change "
        "before it leaves.",
    )

    email_editable = fields.Boolean(
        compute="_compute_email_editable",
        help="Whether the reminder's email can still be edited before it goes.",
    )

    @api.depends("state", "delivery_ids.state", "delivery_ids.channel")
    def _compute_email_editable(self):
        for communication in self:
            deliveries = communication.delivery_ids
            communication.email_editable = (
                communication.state in ("draft", "queued")
                and not deliveries.filtered(lambda d: d.state in ("sending", "sent"))
                and bool(
                    deliveries.filtered(
                        lambda d: d.channel == "email" and d.state in ("draft", "queued", "failed")
                    )
                )
            )

    def _collection_postponed(self, now):
        """The new day of a reminder postponed to a later day than its company's today
        at ``now`` (naive UTC), in words; False when it is not postponed (the run dates
        its reminders with the company's today)."""
        self.ensure_one()
        if not self.date or not self.company_id:
            return False
        if self.date <= self.company_id._collection_today(now):
            return False
        return format_date(self.env, self.date, date_format="MMM d")

    def _collection_not_before(self, now):
        """When the messages of a postponed reminder may go (naive UTC): the start of
        its day on the customer's clock; False when they may go at ``now``."""
        self.ensure_one()
        if not self._collection_postponed(now):
            return False
        Delivery = self.env["collection.communication.delivery"]
        tz = Delivery._collection_tz_of(self.partner_id, self.company_id)
        moment = (
            tz.localize(datetime.combine(self.date, time.min))
            .astimezone(pytz.utc)
            .replace(tzinfo=None)
        )
        return moment if moment > now else False

    def action_postpone(self):
        """Open the dialog asking the new day of the selected reminders."""
        self._collection_check_not_started("postpone")
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Postpone Reminders"),
            "res_model": "collection.communication.postpone",
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "new",
            "context": {"default_communication_ids": [Command.set(self.ids)]},
        }

    def _collection_check_not_started(self, action):
        """Raise unless the current user may change these reminders, none of whose
        messages left yet; ``action`` (``postpone`` or ``edit``) is what is done."""
        if not self:
            raise UserError(self.env._("Select the reminders first."))
        started = self.filtered(
            lambda c: (
                c.state not in ("draft", "queued")
                or c.delivery_ids.filtered(lambda d: d.state in ("sending", "sent"))
            )
        )
        if started:
            names = ", ".join(started.mapped("name"))
            if action == "postpone":
                message = self.env._(
                    "Only reminders none of whose messages left yet can be postponed: "
                    "%(reminders)s.",
                    reminders=names,
                )
            else:
                message = self.env._(
                    "Only the email of a reminder none of whose messages left yet can be "
                    "edited: %(reminders)s.",
                    reminders=names,
                )
            raise UserError(message)
        self.check_access("write")

    def _collection_postpone(self, new_date):
        """Postpone these reminders to ``new_date``: same level, new day. Their messages
        go on that day (those waiting for review still wait for it), they speak as of
        that day, and the invoices' next level counts its gap from it. Refused when the
        message would no longer be true on that day (a "due soon" past the due date):
        skip the level instead."""
        self._collection_check_not_started("postpone")
        new_date = fields.Date.to_date(new_date)
        now = fields.Datetime.now()
        for communication in self:
            today = communication.company_id._collection_today(now)
            if not new_date or new_date <= max(today, communication.date):
                raise UserError(
                    self.env._(
                        "Postpone %(reminder)s to a day later than %(day)s.",
                        reminder=communication.name,
                        day=format_date(
                            self.env, max(today, communication.date), date_format="MMM d"
                        ),
                    )
                )
            level = communication.level_id
            due_dates = [d for d in communication.move_ids.mapped("invoice_date_due") if d]
            if level.delay <= 0 and due_dates:
                last_day = min(due_dates) - timedelta(days=1 if level.delay < 0 else 0)
                if new_date > last_day:
                    raise UserError(
                        self.env._(
                            "%(reminder)s speaks of invoices not overdue yet: its message is "
                            "true until %(day)s. Skip this level instead.",
                            reminder=communication.name,
                            day=format_date(self.env, last_day, date_format="MMM d"),
                        )
                    )
        old_dates = {communication.id: communication.date for communication in self}
        self._engine_write({"date": new_date})
        # sudo: the reminders' bookkeeping of the invoices of reminders the user may
        # change (checked above): the next level counts from the new day.
        moves = self.move_ids
        self.env["collection.invoice.dunning"].sudo()._set(
            "level_date", moves.ids, [new_date] * len(moves)
        )
        for communication in self:
            communication.delivery_ids.filtered(lambda d: d.state == "queued")._set_postponed(
                communication._collection_not_before(now)
            )
            communication.message_post(
                body=self.env._(
                    "Postponed from %(old)s to %(new)s by %(user)s: same level, new day.",
                    old=format_date(self.env, old_dates[communication.id], date_format="MMM d"),
                    new=format_date(self.env, new_date, date_format="MMM d"),
                    user=self.env.user.name,
                ),
                message_type="comment",
                subtype_xmlid="mail.mt_note",
            )

    def _collection_check_email_editable(self):
        """Raise unless the current user may edit the email of this reminder: one not
        sent yet, of a reminder none of whose messages left."""
        self.ensure_one()
        self._collection_check_not_started("edit")
        if not self.delivery_ids.filtered(
            lambda d: d.channel == "email" and d.state in ("draft", "queued", "failed")
        ):
            raise UserError(self.env._("%(reminder)s sends no email to edit.", reminder=self.name))

    def action_edit_email(self):
        """Open Odoo's composer on the reminder's email, as it would go now: sending
        from the composer keeps the edited text for the reminder (see
        ``_collection_set_edited_email``), which then goes as usual (review, quiet
        hours, the truth at sending)."""
        self._collection_check_email_editable()
        # sudo: the engine reads the ledger again for a reminder the user may change
        # (checked above), so the text edited is that of now.
        self.sudo()._collection_refresh(fields.Datetime.now())
        if self.state == "cancelled":
            raise UserError(self.cancel_reason)
        subject, body = self.edited_subject, self.edited_body
        if not body:
            # sudo: rendered as the preview renders it (collectors may not edit
            # templates, which rendering asks of them otherwise).
            template = self.level_id.mail_template_id.sudo()
            communication = self.sudo()
            subject = template._render_field("subject", communication.ids, compute_lang=True)[
                self.id
            ]
            body = template._render_field("body_html", communication.ids, compute_lang=True)[
                self.id
            ]
        context = {
            "default_model": self._name,
            "default_res_ids": self.ids,
            "default_composition_mode": "comment",
            "default_subject": subject,
            "default_body": body,
            "default_partner_ids": self.partner_id.ids,
            "collection_reminder_email_id": self.id,
        }
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Edit the Email"),
            "res_model": "mail.compose.message",
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "new",
            "context": context,
        }

    def _collection_set_edited_email(self, subject, body):
        """Keep ``subject`` and ``body`` as the reminder's email, sent instead of the
        template's; an email already rendered for a retry is rendered again."""
        self._collection_check_email_editable()
        self._engine_write({"edited_subject": subject or False, "edited_body": body or False})
        # sudo: the engine forgets an email rendered before the edit (checked above).
        self.delivery_ids.filtered(lambda d: d.channel == "email").sudo()._discard_rendered()
        self.message_post(
            body=self.env._("Email edited before sending by %(user)s.", user=self.env.user.name),
            message_type="comment",
            subtype_xmlid="mail.mt_note",
        )

    # ------------------------------------------------------------------
    # Recipients and letters
    # ------------------------------------------------------------------

    @api.depends(
        "delivery_ids.recipient",
        "delivery_ids.recipient_partner_ids",
        "delivery_ids.email_cc",
        "delivery_ids.state",
    )
    @api.depends_context("lang")
    def _compute_recipient_summary(self):
        Dunning = self.env["collection.dunning"]
        for communication in self:
            communication.recipient_summary = (
                "\n".join(
                    f"{Dunning._channel_label(delivery.channel)}: {delivery._recipient_label()}"
                    for delivery in communication.delivery_ids
                    if delivery.channel != "activity" and delivery.state != "cancelled"
                )
                or False
            )

    def _collection_letter_addressee(self):
        """The contact the letter of this reminder is addressed to (its invoice address,
        or its collection contact), else the customer."""
        self.ensure_one()
        letter = self.delivery_ids.filtered(lambda d: d.channel == "letter")[:1]
        return letter.recipient_partner_ids[:1] or self.partner_id

    def _collection_render_letter(self):
        """Render the dunning letter of this reminder as it is now into its letter PDF
        (attached to the reminder), the file printed and posted."""
        self.ensure_one()
        report = self.env.ref("account_collection.action_report_collection_letter")
        # sudo: the engine renders the letter of a reminder the user may post.
        pdf, _report_type = self.env["ir.actions.report"].sudo()._render_qweb_pdf(report, self.ids)
        attachment = self.sudo().letter_attachment_id
        if attachment:
            attachment.raw = pdf
            return attachment
        attachment = (
            self.env["ir.attachment"]
            .sudo()
            .create(
                {
                    "name": self.env._("Dunning letter - %(name)s.pdf", name=self.name),
                    "raw": pdf,
                    "res_model": self._name,
                    "res_id": self.id,
                    "mimetype": "application/pdf",
                }
            )
        )
        self._engine_write({"letter_attachment_id": attachment.id})
        return attachment
