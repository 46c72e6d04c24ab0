import base64
import logging

import phonenumbers
from markupsafe import Markup

from odoo import api, fields, models, tools
from odoo.exceptions import UserError, ValidationError

from ..tools import reply_classifier
from .collection_case_mixin import is_open_invoice, text_to_html
from .collection_communication import ENGINE, is_engine

_logger = logging.getLogger(__name__)

REPLY_CHANNELS = [
    ("email", "Email"),
    ("whatsapp", "WhatsApp"),
    ("sms", "SMS"),
    ("portal", "Portal"),
]
REPLY_KINDS = [
    ("promise", "Promise to Pay"),
    ("dispute", "Dispute"),
    ("paid", "Says Paid"),
    ("invoice_copy", "Asks for the Invoice"),
    ("opt_out", "Opt-out"),
    ("other", "Other"),
]
# The dispute reasons the classifier recognises, by the shipped reason they map to.
REASON_XMLIDS = {
    code: f"account_collection.collection_dispute_reason_{code}"
    for code in ("wrong_price", "not_received", "damaged", "returned", "not_ordered", "duplicate")
}
# What a collector may correct on a reply before applying it: the suggestion, and the
# customer to give a reply from an unknown sender to. The rest is what came in.
SUGGESTION_FIELDS = {"kind", "promise_date", "promise_amount", "dispute_reason_id"}
EDITABLE_FIELDS = SUGGESTION_FIELDS | {"assign_partner_id"}
# The largest attachment kept from an inbound message.
MAX_ATTACHMENT_SIZE = 16 * 1024 * 1024
# Types a browser would run rather than show (see ir.attachment._check_contents).
ACTIVE_CONTENT_TYPES = ("html", "xml", "svg", "javascript", "ecmascript")


class CollectionReply(models.Model):
    """A message a customer sent back: a reply to a reminder email, an inbound WhatsApp
    message or SMS, a note typed on the portal. Created by the inbound channels only
    (``_collection_receive``), on the customer's chatter with its collector notified,
    read by the server (``classify``) into a suggestion that a collector applies in
    one click (``action_apply``)."""

    _name = "collection.reply"
    _description = "Customer Reply"
    _inherit = ["mail.thread", "mail.activity.mixin"]
    _order = "date desc, id desc"
    _check_company_auto = True

    name = fields.Char(compute="_compute_name", store=True)
    partner_id = fields.Many2one(
        "res.partner", string="Customer", index=True, readonly=True, check_company=True
    )
    company_id = fields.Many2one("res.company", required=True, index=True, readonly=True)
    currency_id = fields.Many2one(related="company_id.currency_id", string="Currency")
    user_id = fields.Many2one(
        "res.users", string="Collector", index=True, readonly=True,
        help="The customer's collector when the reply came in, who was notified.",
    )  # fmt: skip
    channel = fields.Selection(REPLY_CHANNELS, required=True, readonly=True)
    sender = fields.Char(
        readonly=True, help="The email address or the phone number (E.164) it came from."
    )
    text = fields.Text(readonly=True)
    date = fields.Datetime(required=True, readonly=True, default=fields.Datetime.now, index=True)
    attachment_ids = fields.Many2many("ir.attachment", string="Attachments", readonly=True)
    communication_id = fields.Many2one(
        "collection.communication",
        string="Reminder",
        readonly=True,
        index="btree_not_null",
        help="The reminder the customer answered, when known.",
    )
    move_ids = fields.Many2many(
        related="communication_id.move_ids", string="Reminded Invoices", readonly=True
    )
    provider_ref = fields.Char(
        string="Provider Reference",
        readonly=True,
        index="btree_not_null",
        help="The message id given by the channel: the same message received twice is kept once.",
    )
    state = fields.Selection(
        [("new", "To Read"), ("unmatched", "Unknown Sender"), ("done", "Done")],
        default="new",
        required=True,
        readonly=True,
        index=True,
        tracking=True,
    )
    kind = fields.Selection(
        REPLY_KINDS,
        string="Suggestion",
        help="What the reply says, as read by the server: correct it before applying.",
    )
    promise_date = fields.Date(string="Promised Date")
    promise_amount = fields.Monetary(string="Promised Amount")
    dispute_reason_id = fields.Many2one(
        "collection.dispute.reason",
        string="Dispute Reason",
        check_company=True,
        domain="[('company_id', 'in', (company_id, False))]",
    )
    assign_partner_id = fields.Many2one(
        "res.partner",
        string="Assign to Customer",
        domain="['|', ('is_company', '=', True), ('parent_id', '=', False)]",
        help="The customer a reply from an unknown sender comes from (then press Assign).",
    )
    open_move_ids = fields.Many2many(
        "account.move",
        compute="_compute_open_move_ids",
        string="Open Items",
        help="The customer's open invoices and credit notes in the reply's company, to match "
        "a payment the customer says it made.",
    )
    promise_id = fields.Many2one("collection.promise", readonly=True, string="Promise Made")
    dispute_id = fields.Many2one("collection.dispute", readonly=True, string="Dispute Opened")
    done_user_id = fields.Many2one("res.users", string="Handled By", readonly=True)
    opted_out = fields.Boolean(
        readonly=True, help="The sender asked not to be written to: its address is blacklisted."
    )

    _provider_ref_unique = models.UniqueIndex(
        "(company_id, channel, provider_ref) WHERE provider_ref IS NOT NULL",
        "A message of a channel is received once.",
    )

    @api.depends("partner_id", "sender", "channel")
    def _compute_name(self):
        channels = dict(REPLY_CHANNELS)
        for reply in self:
            reply.name = self.env._(
                "%(channel)s from %(sender)s",
                channel=channels.get(reply.channel, ""),
                sender=reply.partner_id.display_name or reply.sender or "",
            )

    @api.depends("partner_id", "company_id")
    def _compute_open_move_ids(self):
        Move = self.env["account.move"]
        for reply in self:
            if not reply.partner_id:
                reply.open_move_ids = Move
                continue
            domain = reply.partner_id.action_collection_open_invoices()["domain"]
            reply.open_move_ids = Move.search(
                [*domain, ("company_id", "=", reply.company_id.id)], order="invoice_date_due, id"
            )

    # ------------------------------------------------------------------
    # CRUD: facts come from the inbound channels
    # ------------------------------------------------------------------

    @api.model_create_multi
    def create(self, vals_list):
        if not is_engine(self.env):
            raise UserError(
                self.env._("Replies come from the customers' messages, not created by hand.")
            )
        return super().create(vals_list)

    def write(self, vals):
        if not is_engine(self.env):
            facts = set(vals) - EDITABLE_FIELDS - self._collection_mail_fields()
            if facts:
                raise UserError(
                    self.env._(
                        "What a customer wrote is kept as it came: correct the suggestion "
                        "and use the buttons. Not changed: %(fields)s",
                        fields=", ".join(
                            self._fields[fname].get_description(self.env)["string"]
                            for fname in sorted(facts)
                            if fname in self._fields
                        ),
                    )
                )
        return super().write(vals)

    @api.model
    def _collection_mail_fields(self):
        return {fname for fname in self._fields if fname.startswith(("message_", "activity_"))}

    def _engine_write(self, vals):
        return self.with_context(collection_engine=ENGINE).write(vals)

    # ------------------------------------------------------------------
    # Understanding a reply
    # ------------------------------------------------------------------

    @api.model
    def classify(self, text, lang=None, today=None):
        """What the reply ``text`` says, read on the server (deterministic, Spanish and
        English): ``{"kind": "promise"|"dispute"|"paid"|"invoice_copy"|"opt_out"|"other",
        "date": "YYYY-MM-DD" or False, "amount": float or False}``, plus ``"reason"``,
        the code of the dispute reason given (``wrong_price``, ``not_received``,
        ``damaged``, ``returned``, ``not_ordered``, ``duplicate``) or False. Relative
        dates resolve against ``today`` (ISO date, default the company's today) in
        ``lang`` (``es_ES``, ``en_US``..., default the user's)."""
        self.browse().check_access("read")
        if not isinstance(text, str):
            raise ValidationError(self.env._("Give the text of the reply to read."))
        try:
            day = fields.Date.to_date(today) if today else self.env.company._collection_today()
        except (TypeError, ValueError):
            raise ValidationError(
                self.env._("%(today)s is not a date (YYYY-MM-DD).", today=today)
            ) from None
        result = reply_classifier.classify(text, lang or self.env.lang or "en_US", day)
        result["date"] = result["date"].isoformat() if result["date"] else False
        return result

    def _collection_apply_classification(self):
        """Read each reply's text into its suggestion, in its customer's language on the
        day it came."""
        for reply in self:
            company = reply.company_id
            lang = reply.partner_id.lang or company.partner_id.lang or "en_US"
            day = company._collection_today(reply.date)
            found = reply_classifier.classify(reply.text or "", lang, day)
            reason = self.env["collection.dispute.reason"]
            if found["kind"] == "dispute":
                reason = (
                    self.env.ref(
                        REASON_XMLIDS.get(found["reason"])
                        or "account_collection.collection_dispute_reason_other",
                        raise_if_not_found=False,
                    )
                    or reason
                )
            reply._engine_write(
                {
                    "kind": found["kind"],
                    "promise_date": found["date"],
                    "promise_amount": found["amount"] or 0.0,
                    "dispute_reason_id": reason.id,
                }
            )

    # ------------------------------------------------------------------
    # Receiving
    # ------------------------------------------------------------------

    @api.model
    def _collection_receive(
        self,
        channel,
        company,
        sender,
        text,
        date=None,
        attachments=None,
        provider_ref=None,
        reply_to_ref=None,
        partner=None,
        communication=None,
    ):
        """Record a message a customer sent on ``channel`` (email, whatsapp, sms,
        portal) to ``company``, and return the ``collection.reply``.

        :param sender: the email address or the phone number it came from (matched to a
            customer by email or E.164 number when ``partner`` is not given)
        :param text: what it says
        :param date: when it came (naive UTC datetime, default now)
        :param attachments: list of (filename, bytes, mimetype) kept on the reply
        :param provider_ref: the channel's id of the message: the same message received
            again returns the reply already made
        :param reply_to_ref: the channel's id of the reminder message it answers
            (``collection.communication.delivery.provider_ref``)
        :param partner: the customer, when the channel knows it (the portal)
        :param communication: the reminder answered, when the channel knows it (email)

        Called by the inbound channels (webhooks, the mail gateway, the portal), which
        authenticate the message first: runs as the engine."""
        Reply = self.sudo().with_context(collection_engine=ENGINE, tracking_disable=True)
        company = company.sudo()
        if provider_ref:
            existing = Reply.search(
                [
                    ("company_id", "=", company.id),
                    ("channel", "=", channel),
                    ("provider_ref", "=", provider_ref),
                ],
                limit=1,
            )
            if existing:
                return existing.with_env(self.env)
        if not communication and reply_to_ref:
            delivery = (
                self.env["collection.communication.delivery"]
                .sudo()
                .search(
                    [("provider_ref", "=", reply_to_ref), ("company_id", "=", company.id)], limit=1
                )
            )
            communication = delivery.communication_id
        communication = (communication or self.env["collection.communication"]).sudo()
        contact = self._collection_match_sender(channel, sender, company)
        if partner:
            partner = partner.sudo().commercial_partner_id
        elif communication:
            partner = communication.partner_id
        else:
            partner = contact.commercial_partner_id
        if contact and contact.commercial_partner_id != partner:
            contact = self.env["res.partner"]
        collector = partner.with_company(company).collection_user_id if partner else False
        reply = Reply.create(
            {
                "partner_id": partner.id if partner else False,
                "company_id": company.id,
                "user_id": (collector or company.collection_default_user_id).id,
                "channel": channel,
                "sender": sender,
                "text": text or "",
                "date": date or fields.Datetime.now(),
                "communication_id": communication.id,
                "provider_ref": provider_ref or False,
                "state": "new" if partner else "unmatched",
            }
        )
        reply._collection_attach(attachments or [])
        reply._collection_apply_classification()
        if reply.kind == "opt_out":
            reply._collection_opt_out()
        if partner:
            reply._collection_post_on_customer(author=contact or partner)
        else:
            reply._collection_notify_unmatched()
        if (
            reply.state == "new"
            and reply.kind == "promise"
            and reply.promise_date
            and company.collection_reply_auto_promise
        ):
            reply._collection_apply_by_itself()
        return reply.with_env(self.env)

    @api.model
    def _collection_match_sender(self, channel, sender, company):
        """The contact ``sender`` (an email address, or a phone number) is, among the
        contacts of ``company``: one commercial partner only, else nobody."""
        Partner = self.env["res.partner"].sudo().with_context(active_test=False)
        if not sender:
            return Partner
        company_domain = [("company_id", "in", (False, company.id))]
        if "@" in sender:
            email = tools.email_normalize(sender)
            if not email:
                return Partner
            contacts = Partner.search([("email_normalized", "=", email), *company_domain])
        else:
            number = self._collection_e164(sender, company)
            if not number:
                return Partner
            contacts = Partner.search([("phone_sanitized", "=", number), *company_domain])
        if len(contacts.commercial_partner_id) != 1:
            return Partner
        # The customer itself when it is among them, else its contact.
        return (contacts & contacts.commercial_partner_id) or contacts[:1]

    @api.model
    def _collection_e164(self, number, company):
        """``number`` in E.164, read in the company's country when written without its
        international prefix; False when it is not a phone number."""
        number = (number or "").removeprefix("whatsapp:").strip()
        if not number.startswith("+") and number.isdigit() and len(number) > 9:
            number = "+" + number  # WhatsApp gives the number without its "+"
        region = (company.country_id.code or "").upper() or None
        try:
            parsed = phonenumbers.parse(number, region)
        except phonenumbers.NumberParseException:
            return False
        if not phonenumbers.is_possible_number(parsed):
            return False
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)

    def _collection_attach(self, attachments):
        """Keep the files ``attachments`` ((name, bytes, mimetype)) on the reply."""
        self.ensure_one()
        values = []
        for name, content, given_type in attachments:
            if not content or len(content) > MAX_ATTACHMENT_SIZE:
                continue
            # What a stranger sends is never served as a page or a script to the collector
            # who opens it: a type the browser would run is kept as plain text.
            mimetype = given_type or "application/octet-stream"
            if any(kind in mimetype for kind in ACTIVE_CONTENT_TYPES):
                mimetype = "text/plain"
            values.append(
                {
                    "name": name or self.env._("Attachment"),
                    "datas": base64.b64encode(content),
                    "mimetype": mimetype,
                    "res_model": self._name,
                    "res_id": self.id,
                    "company_id": self.company_id.id,
                }
            )
        if values:
            records = self.env["ir.attachment"].sudo().create(values)
            self._engine_write({"attachment_ids": [fields.Command.set(records.ids)]})

    def _collection_post_on_customer(self, author=None):
        """The reply on its customer's chatter, with its attachments, written by the
        customer, its collector notified."""
        self.ensure_one()
        partner = self.partner_id.sudo()
        collector = self.user_id.filtered(lambda u: not u.share)
        channels = dict(REPLY_CHANNELS)
        kinds = dict(self._fields["kind"]._description_selection(self.env))
        body = Markup("<b>%s</b> %s<br/>%s<br/><i>%s</i>") % (
            self.env._("Reply by %(channel)s", channel=channels[self.channel]),
            self._get_html_link(title=self.sender or self.name),
            text_to_html(self.text),
            self.env._("Read as: %(kind)s", kind=kinds.get(self.kind, "")),
        )
        if self.communication_id:
            body += Markup("<br/>%s %s") % (
                self.env._("Answers the reminder"),
                self.communication_id._get_html_link(),
            )
        attachments = self.attachment_ids.sudo()
        message = partner.with_context(mail_post_autofollow_author_skip=True).message_post(
            body=body,
            author_id=(author or partner).id,
            message_type="comment",
            subtype_xmlid="mail.mt_note",
            partner_ids=collector.partner_id.ids,
        )
        if attachments:
            # The customer's documents also show beside the conversation on the customer.
            copies = attachments.copy({"res_model": "res.partner", "res_id": partner.id})
            message.attachment_ids = [fields.Command.link(a.id) for a in copies]
        return message

    def _collection_notify_unmatched(self):
        """A reply from an unknown sender waits for a collector to assign it: the
        company's default collector gets an activity on it."""
        self.ensure_one()
        user = self.company_id.collection_default_user_id
        if user:
            self.sudo().activity_schedule(
                "mail.mail_activity_data_todo",
                user_id=user.id,
                summary=self.env._("Assign the reply of %(sender)s", sender=self.sender or ""),
            )

    def _collection_opt_out(self):
        """The sender asked not to be written to any more: its email address or phone
        number is blacklisted (Odoo's own blacklists, which the reminders honour), said
        so on the blacklist entry and, once posted, on the customer."""
        self.ensure_one()
        message = self.env._(
            "Asked not to be written to any more, by %(channel)s on %(date)s: “%(text)s”",
            channel=dict(REPLY_CHANNELS)[self.channel],
            date=fields.Datetime.to_string(self.date),
            text=(self.text or "")[:200],
        )
        sender = self.sender or ""
        if "@" in sender:
            if not tools.email_normalize(sender):
                return
            self.env["mail.blacklist"].sudo()._add(sender, message=message)
        else:
            number = self._collection_e164(sender, self.company_id)
            if not number:
                return
            self.env["phone.blacklist"].sudo()._add([number], message=message)
        _logger.info("Collection reply %s: %s blacklisted at the sender's request", self.id, sender)
        self._engine_write({"opted_out": True, "state": "done" if self.partner_id else self.state})

    # ------------------------------------------------------------------
    # Actions of the collector
    # ------------------------------------------------------------------

    def _collection_check_workable(self):
        """Raise unless the current user may work the customer of these replies."""
        for reply in self:
            if not reply.partner_id:
                raise UserError(
                    self.env._(
                        "Assign the reply of %(sender)s to its customer first.",
                        sender=reply.sender or reply.name,
                    )
                )
            partner = reply.partner_id.with_company(reply.company_id)
            partner._collection_check_access()
            self.env["collection.interaction"]._collection_check_portfolio(
                [{"partner_id": partner.id, "company_id": reply.company_id.id}]
            )

    def _collection_open_moves(self):
        """The invoices the reply is about: the open ones of the reminder it answers,
        else none."""
        self.ensure_one()
        return self.communication_id.sudo().move_ids.filtered(is_open_invoice)

    def _collection_done(self, **values):
        self._engine_write({"state": "done", "done_user_id": self.env.uid, **values})

    def action_mark_done(self):
        """The reply was read and needs nothing more."""
        self.check_access("write")
        for reply in self:
            if reply.state == "unmatched":
                raise UserError(
                    self.env._("Assign the reply of %(sender)s first.", sender=reply.sender)
                )
        self._collection_done()

    def action_assign(self):
        """Give a reply from an unknown sender to the customer chosen in *Assign to
        Customer*: it joins the customer's chatter and its collector is notified."""
        self.ensure_one()
        self.check_access("write")
        if self.state != "unmatched":
            raise UserError(self.env._("Only replies from an unknown sender are assigned."))
        partner = self.assign_partner_id.commercial_partner_id.with_company(self.company_id)
        if not partner:
            raise UserError(self.env._("Choose the customer the reply comes from."))
        partner._collection_check_access()
        self.env["collection.interaction"]._collection_check_portfolio(
            [{"partner_id": partner.id, "company_id": self.company_id.id}]
        )
        if partner.company_id and partner.company_id != self.company_id:
            raise ValidationError(
                self.env._(
                    "%(partner)s is a customer of another company.", partner=partner.display_name
                )
            )
        self._engine_write(
            {
                "partner_id": partner.id,
                "user_id": (
                    partner.collection_user_id or self.company_id.collection_default_user_id
                ).id,
                "state": "new",
                "assign_partner_id": False,
            }
        )
        self.activity_ids.sudo().action_feedback(
            feedback=self.env._("Assigned to %(partner)s", partner=partner.display_name)
        )
        if self.kind == "opt_out" and not self.opted_out:
            self._collection_opt_out()
        self._collection_post_on_customer()
        return True

    def action_apply(self):
        """Apply the suggestion in one click, through the same checked paths as the
        collector's own: a promise (prefilled with the date, the amount and the
        reminder's open invoices) or a dispute (with its reason) logged as an
        interaction of the reply's channel; "paid" opens the customer's open items with
        the remittance beside them; "invoice copy" opens the email with the statement
        and the invoices attached. What the reply does not say (a promise's day, a
        dispute's invoices) is asked in the Log Interaction dialog, prefilled."""
        self.ensure_one()
        self.check_access("write")
        if self.state == "done":
            raise UserError(self.env._("This reply was already handled."))
        self._collection_check_workable()
        handler = {
            "promise": self._collection_apply_promise,
            "dispute": self._collection_apply_dispute,
            "paid": self._collection_apply_paid,
            "invoice_copy": self._collection_apply_invoice_copy,
        }.get(self.kind)
        if not handler:
            self._collection_done()
            return True
        return handler()

    def _collection_log_values(self, **values):
        moves = self._collection_open_moves()
        return {
            "partner_id": self.partner_id.id,
            "company_id": self.company_id.id,
            "channel": self.channel,
            "move_ids": [fields.Command.set(moves.ids)],
            "note": self.text,
            **values,
        }

    def _collection_log_dialog(self, values):
        """The Log Interaction dialog, prefilled with ``values``, for what the reply
        does not say."""
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Log Interaction"),
            "res_model": "collection.interaction.log",
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "new",
            "context": {
                **{f"default_{key}": value for key, value in values.items() if key != "move_ids"},
                "default_move_ids": self._collection_open_moves().ids,
                "collection_reply_id": self.id,
            },
        }

    def _collection_log(self, values):
        """Log the interaction ``values`` through the Log Interaction dialog's own
        checks (as the current user): the dialog closes the reply with what it made."""
        Log = self.env["collection.interaction.log"].with_context(collection_reply_id=self.id)
        Log.create(values).action_confirm()

    def _collection_apply_promise(self):
        moves = self._collection_open_moves()
        amount = self.promise_amount or sum(moves.mapped("amount_residual"))
        if not amount:
            partner = self.partner_id.with_company(self.company_id)
            amount = partner.collection_overdue_amount or partner.collection_due_amount
        values = self._collection_log_values(
            outcome="promise", promise=True, promise_amount=amount, promise_date=self.promise_date
        )
        if not self.promise_date or amount <= 0:
            return self._collection_log_dialog(values)
        self._collection_log(values)
        return self._collection_notification(
            self.env._("Promise to pay recorded: %(promise)s", promise=self.promise_id.name)
        )

    def _collection_apply_dispute(self):
        reason = self.dispute_reason_id or self.env.ref(
            "account_collection.collection_dispute_reason_other"
        )
        values = self._collection_log_values(outcome="dispute", dispute_reason_id=reason.id)
        if not self._collection_open_moves():
            return self._collection_log_dialog(values)
        self._collection_log(values)
        return self._collection_notification(
            self.env._("Dispute opened: %(dispute)s", dispute=self.dispute_id.name)
        )

    def _collection_apply_paid(self):
        """The reply in a dialog with the remittance beside the customer's open items,
        to match the payment the customer says it made; the reply stays open until
        marked done."""
        return {
            "type": "ir.actions.act_window",
            "name": self.env._(
                "Match the payment of %(partner)s", partner=self.partner_id.display_name
            ),
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "views": [
                (self.env.ref("account_collection.collection_reply_view_form_paid").id, "form")
            ],
            "target": "new",
        }

    def _collection_apply_invoice_copy(self):
        """The email of the statement of account to the customer, with the invoices
        of the reminder attached; the reply is done once it is sent."""
        action = self.partner_id.action_collection_send_statement()
        moves = self._collection_open_moves()
        if moves:
            # sudo: the invoices' PDFs are the reminder's, whose customer the user may
            # work (checked by _collection_check_workable).
            attachments = self.communication_id.sudo()._invoice_attachments()
            action["context"]["default_attachment_ids"] = attachments.ids
        self._collection_done()
        return action

    def _collection_notification(self, message):
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success",
                "message": message,
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    def _collection_apply_by_itself(self):
        """The company lets promises apply themselves: the promise is made as the
        customer's collector (else the company's default collector) would make it, with
        the same checks; the reply stays to read when they refuse it."""
        self.ensure_one()
        user = self.user_id or self.company_id.collection_default_user_id
        if not user:
            return
        # As that user, not as the engine that received the reply: the user's checks apply.
        reply = self.with_context(collection_engine=None).with_user(user)
        reply = reply.with_company(self.company_id)
        try:
            with self.env.cr.savepoint():
                result = reply.action_apply()
        except (UserError, ValidationError) as error:
            _logger.info("Collection reply %s not applied by itself: %s", self.id, error)
            return
        if self.state != "done" and isinstance(result, dict):
            _logger.info("Collection reply %s needs a person: %s", self.id, result.get("name"))
