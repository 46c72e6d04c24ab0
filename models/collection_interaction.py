from datetime import timedelta

from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.tools import SQL, format_amount, format_date, html_escape

from .res_partner import COLLECTION_STATUS

# Channels where the collector reaches the customer: logging one closes the calls and
# follow-ups planned up to today.
CONTACT_CHANNELS = ("call", "visit")

CHANNELS = [
    ("call", "Call"),
    ("email", "Email"),
    ("visit", "Visit"),
    ("sms", "SMS"),
    ("whatsapp", "WhatsApp"),
    ("letter", "Letter"),
    ("portal", "Portal"),
    ("note", "Note"),
]

OUTCOMES = [
    ("contacted", "Contacted"),
    ("no_answer", "No Answer"),
    ("voicemail", "Left a Message"),
    ("wrong_contact", "Wrong Contact"),
    ("promise", "Promise to Pay"),
    ("dispute", "Dispute Raised"),
    ("refusal", "Refused to Pay"),
    ("already_paid", "Says Already Paid"),
    ("callback", "Call Back Later"),
    ("sent", "Message Sent"),
]

# Fields of an interaction that anybody may still change after it is logged.
MUTABLE_FIELDS = {"active"}

# At most this many requests of one kind (promise, dispute, agreement) per customer
# in 24 hours from the portal; more are refused with a message.
PORTAL_DAILY_LIMIT = 3


class CollectionInteraction(models.Model):
    _name = "collection.interaction"
    _inherit = ["collection.case.mixin"]
    _description = "Collection Interaction"
    _order = "date desc, id desc"
    _check_company_auto = True
    _rec_name = "summary"

    partner_id = fields.Many2one(ondelete="restrict", domain=[])
    user_id = fields.Many2one(
        index=True,
        help="Who had the interaction; empty for messages sent by the automatic reminders.",
    )
    date = fields.Datetime(required=True, default=fields.Datetime.now, index=True)
    channel = fields.Selection(CHANNELS, required=True, default="call")
    outcome = fields.Selection(OUTCOMES)
    automatic = fields.Boolean(help="Logged by the automatic reminders, not by a person.")
    status_before = fields.Selection(COLLECTION_STATUS, string="Status Before")
    status_after = fields.Selection(COLLECTION_STATUS, string="Status After")
    move_ids = fields.Many2many(
        "account.move",
        "collection_interaction_account_move_rel",
        "collection_interaction_id",
        "account_move_id",
        domain=[],
    )
    promise_id = fields.Many2one(
        "collection.promise", string="Promise", index="btree_not_null", check_company=True
    )
    dispute_id = fields.Many2one(
        "collection.dispute", string="Dispute", index="btree_not_null", check_company=True
    )
    next_action_date = fields.Date(string="Next Action")
    note = fields.Text()
    overdue_amount = fields.Monetary(
        string="Overdue Then",
        help="The customer's overdue amount when the interaction was logged.",
    )
    days_overdue = fields.Integer(
        string="Days Overdue Then",
        help="Days overdue of the customer's oldest open item when the interaction was logged.",
    )
    summary = fields.Char(compute="_compute_summary")
    active = fields.Boolean(default=True)

    @api.depends("channel", "outcome", "partner_id", "date")
    def _compute_summary(self):
        channels = dict(self._fields["channel"]._description_selection(self.env))
        outcomes = dict(self._fields["outcome"]._description_selection(self.env))
        for interaction in self:
            parts = [channels.get(interaction.channel, "")]
            if interaction.outcome:
                parts.append(outcomes[interaction.outcome])
            if interaction.partner_id:
                parts.append(interaction.partner_id.display_name)
            interaction.summary = " - ".join(p for p in parts if p)

    @api.model_create_multi
    def create(self, vals_list):
        """Take the snapshots of the customer's figures at creation. Collection managers
        (importing the history kept elsewhere before) and automation may bring their own
        date, collector, status and figures; a collector's entries are always dated now,
        theirs, and get the status and figures of the ledger."""
        may_set_facts = self.env.su or self.env.user.has_group(
            "account_collection.group_collection_manager"
        )
        Partner = self.env["res.partner"]
        effects = [self._collection_logged_now(vals) for vals in vals_list]
        today = fields.Date.context_today(self)
        for vals, logged_now in zip(vals_list, effects, strict=True):
            next_action = fields.Date.to_date(vals.get("next_action_date"))
            if logged_now and next_action and next_action < today:
                raise ValidationError(self.env._("The next action cannot be planned in the past."))
        for vals in vals_list:
            partner = Partner.browse(vals.get("partner_id")).commercial_partner_id
            if partner:
                vals["partner_id"] = partner.id
            if not may_set_facts:
                for fname in (
                    "overdue_amount",
                    "days_overdue",
                    "automatic",
                    "date",
                    "status_before",
                ):
                    vals.pop(fname, None)
                vals["user_id"] = self.env.uid
            if partner and "overdue_amount" not in vals and "days_overdue" not in vals:
                company = self.env["res.company"].browse(vals.get("company_id")) or self.env.company
                partner = partner.with_company(company)
                vals["overdue_amount"] = partner.collection_overdue_amount
                vals["days_overdue"] = partner.collection_days_overdue
            if partner and "status_before" not in vals:
                vals["status_before"] = partner.collection_status
            if "status_after" not in vals and "status_before" in vals:
                vals["status_after"] = vals["status_before"]
        self._collection_check_portfolio(vals_list)
        interactions = super().create(vals_list)
        for interaction, logged_now in zip(interactions, effects, strict=True):
            if logged_now:
                interaction._collection_apply_log()
        return interactions

    def _collection_logged_now(self, vals):
        """Whether the interaction of ``vals`` is logged by a person now (the Log dialog,
        the API) and does what logging does to the customer (``_collection_apply_log``);
        not the history a manager imports or dates in the past, not what the automatic
        reminders, the ledger or the portal log as superuser. The context key
        ``collection_interaction_effects`` decides when set."""
        forced = self.env.context.get("collection_interaction_effects")
        if forced is not None:
            return bool(forced)
        if self.env.su or self.env.context.get("import_file") or vals.get("automatic"):
            return False
        if vals.get("channel") == "portal":
            return False
        date = vals.get("date")
        return not date or fields.Datetime.to_datetime(date).date() >= fields.Date.context_today(
            self
        )

    def _collection_apply_log(self):
        """What logging this interaction does, whether from the Log dialog or over the
        API: the customer takes its status after, its next action date and follow-up
        activity, the current user as collector when it has none, and a note on its
        chatter summing the interaction up."""
        self.ensure_one()
        partner = self.partner_id.with_company(self.company_id)
        partner._collection_check_access()
        if self.status_after and self.status_after != (partner.collection_status or "current"):
            partner._collection_set_status(self.status_after)
        # sudo: collectors cannot write contacts; _collection_check_access() passed above.
        partner_sudo = partner.sudo()
        values = {}
        if self.next_action_date:
            values["collection_next_action_date"] = self.next_action_date
        if not partner_sudo.collection_user_id:
            values["collection_user_id"] = self.user_id.id or self.env.uid
        if values:
            partner_sudo.write(values)
        partner_sudo.message_post(
            body=self._collection_summary_html(),
            author_id=self.env.user.partner_id.id,
            message_type="comment",
            subtype_xmlid="mail.mt_note",
        )
        if self.channel in CONTACT_CHANNELS:
            self._collection_close_planned_contacts(partner_sudo)
        if self.next_action_date:
            self._collection_schedule_next_action(partner_sudo)

    def _collection_close_planned_contacts(self, partner_sudo):
        """A call or a visit logged is the outcome of the calls and follow-ups planned
        on the customer up to today (by a reminder level or an earlier next action):
        they are marked done with this interaction's summary; later ones stay planned."""
        today = fields.Date.context_today(self)
        types = self.env.ref("account_collection.mail_activity_type_collection_follow_up") | (
            self.env["collection.level"].sudo().search([]).activity_type_id
        )
        planned = partner_sudo.activity_ids.filtered(
            lambda a: a.activity_type_id in types and a.date_deadline <= today
        )
        if planned:
            planned.action_feedback(feedback=self._collection_summary_html())

    def _collection_summary_html(self):
        channels = dict(self._fields["channel"]._description_selection(self.env))
        outcomes = dict(self._fields["outcome"]._description_selection(self.env))
        statuses = dict(self._fields["status_after"]._description_selection(self.env))
        first = Markup("<b>%s</b>") % channels[self.channel]
        if self.outcome:
            first += Markup(": %s") % outcomes[self.outcome]
        lines = [first]
        if self.status_after and self.status_after != self.status_before:
            lines.append(
                Markup("%s: %s → %s")
                % (
                    self.env._("Status"),
                    statuses.get(self.status_before, ""),
                    statuses[self.status_after],
                )
            )
        promise = self.promise_id
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

    def _collection_schedule_next_action(self, partner_sudo):
        """Create the collector's follow-up activity on the customer, or move the
        existing one to the new date."""
        activity_type = self.env.ref("account_collection.mail_activity_type_collection_follow_up")
        collector = partner_sudo.collection_user_id or self.env.user
        existing = partner_sudo.activity_ids.filtered(
            lambda a: a.activity_type_id == activity_type and a.user_id == collector
        )
        if existing:
            existing[:1].write({"date_deadline": self.next_action_date, "note": self.note or False})
        else:
            partner_sudo.activity_schedule(
                "account_collection.mail_activity_type_collection_follow_up",
                date_deadline=self.next_action_date,
                summary=self.env._("Collection follow-up"),
                note=self.note or "",
                user_id=collector.id,
            )

    @api.constrains("move_ids", "partner_id")
    def _check_move_ids(self):
        self._collection_check_moves()

    def _collection_move_is_open(self, move):
        # An interaction is about the customer's invoices, paid or not.
        return True

    def _valid_field_parameter(self, field, name):
        # The case mixin's fields are tracked on the models with a chatter; an
        # interaction has none (it does not change once logged).
        return name == "tracking" or super()._valid_field_parameter(field, name)

    def write(self, vals):
        changed = set(vals) - MUTABLE_FIELDS
        if changed:
            raise UserError(
                self.env._(
                    "Logged interactions are evidence and cannot be changed. Log a new "
                    "interaction to correct or complete one."
                )
            )
        if "active" in vals and not self.env.user.has_group(
            "account_collection.group_collection_manager"
        ):
            raise UserError(self.env._("Only collection managers can archive interactions."))
        return super().write(vals)

    @api.ondelete(at_uninstall=False)
    def _unlink_except_evidence(self):
        raise UserError(
            self.env._(
                "Logged interactions are evidence and cannot be deleted. A collection manager "
                "can archive them."
            )
        )

    # ------------------------------------------------------------------
    # Portal
    # ------------------------------------------------------------------
    # What a customer does on the portal (a promise, a dispute, a request for a payment
    # agreement) is checked against the daily limit, logged as an interaction with
    # channel *Portal* and told to its collector in the same way whatever its kind. The
    # portal controller has checked that the visitor may act for the customer; these
    # methods work as superuser for that customer only.

    @api.model
    def _portal_check_rate(self, partner, company, kind):
        """Refuse a request of ``kind`` sent from the portal when the customer already
        sent ``PORTAL_DAILY_LIMIT`` of that kind in the last 24 hours.

        Promises and disputes are counted by their portal interactions, agreement
        requests by the agreements asked for on the portal.

        :param partner: ``res.partner``, the customer (its commercial partner is used)
        :param company: ``res.company`` whose statement the customer answers
        :param str kind: ``"promise"``, ``"dispute"`` or ``"agreement"``
        :raise UserError: translated, when the limit is reached
        """
        partner = partner.sudo().commercial_partner_id
        # One request of a customer at a time: a concurrent one waits on the customer's
        # row until this one is committed, then fails to serialize and is run again by
        # the server, counting this one. (A plain SELECT ... FOR UPDATE would not do:
        # under repeatable read the second one would still count from its snapshot.)
        self.env.execute_query(
            SQL("UPDATE res_partner SET write_date = write_date WHERE id = %s", partner.id)
        )
        # Only what the customer posted counts: records created by a portal user or a
        # visitor (create_uid cannot be set), not what a collector logged by hand.
        domain = [
            ("partner_id", "=", partner.id),
            ("company_id", "in", company.ids),
            ("create_uid.share", "=", True),
        ]
        since = fields.Datetime.now() - timedelta(days=1)
        # sudo: portal visitors have no access to interactions and agreements; only the
        # customer's own requests are counted.
        if kind == "agreement":
            count = (
                self.env["collection.agreement"]
                .sudo()
                .search_count([*domain, ("origin", "=", "portal"), ("create_date", ">", since)])
            )
        else:
            count = self.sudo().search_count(
                [
                    *domain,
                    ("channel", "=", "portal"),
                    ("outcome", "=", kind),
                    ("create_date", ">", since),
                ]
            )
        if count < PORTAL_DAILY_LIMIT:
            return
        if kind == "promise":
            message = self.env._(
                "You have already made %(count)s promises to pay today. Please wait until "
                "tomorrow or contact us directly.",
                count=PORTAL_DAILY_LIMIT,
            )
        elif kind == "dispute":
            message = self.env._(
                "You have already opened %(count)s disputes today. Please wait until "
                "tomorrow or contact us directly.",
                count=PORTAL_DAILY_LIMIT,
            )
        else:
            message = self.env._(
                "You have already asked for %(count)s payment agreements today. Please "
                "wait for our answer or contact us directly.",
                count=PORTAL_DAILY_LIMIT,
            )
        raise UserError(message)

    @api.model
    def _portal_log(self, partner, company, outcome, *, status_before, moves, note, **values):
        """Log what the customer did on the portal as an interaction (channel *Portal*,
        nobody of the company taking part), with the status the customer had before
        and has now.

        :param partner: ``res.partner``, the customer (commercial partner)
        :param company: ``res.company`` whose statement the customer answered
        :param str outcome: the interaction's outcome (``"promise"``, ...)
        :param str status_before: the customer's status before the request
        :param moves: ``account.move`` recordset the request is about
        :param str note: what the customer wrote
        :param values: more fields of the interaction (``promise_id``, ...)
        :return: the new ``collection.interaction`` (as superuser)
        """
        partner = partner.sudo().commercial_partner_id.with_company(company)
        # sudo: portal visitors have no access to the interactions; the caller checked
        # the visitor may act for the customer.
        return self.sudo().create(
            {
                "partner_id": partner.id,
                "company_id": company.id,
                "channel": "portal",
                "outcome": outcome,
                # Nobody of the company took part: the customer wrote on the portal.
                "user_id": False,
                "automatic": False,
                "status_before": status_before,
                "status_after": partner.collection_status or "current",
                "move_ids": [fields.Command.set(moves.ids)],
                "note": note or False,
                **values,
            }
        )

    @api.model
    def _portal_notify(self, partner, company, title, lines, message=None):
        """Post what the customer did on the portal on its chatter, as an internal note
        written by the customer (by the contact when logged in), and notify its
        collector (else its salesperson).

        :param partner: ``res.partner``, the customer (commercial partner)
        :param company: ``res.company`` whose statement the customer answered
        :param str title: what the customer did, in bold on the first line
        :param lines: the lines below it (``Markup`` or text, see
            ``_portal_invoices_line``)
        :param str message: what the customer wrote, quoted last when given
        :return: the posted ``mail.message``
        """
        # sudo: portal visitors cannot post on the customer; the caller checked the
        # visitor may act for it.
        partner = partner.sudo().commercial_partner_id.with_company(company)
        collector = (
            partner.collection_user_id
            or company.sudo().collection_default_user_id
            or partner.user_id.filtered(lambda u: not u.share)
        )
        user = self.env.user
        author = partner if user._is_public() else user.partner_id
        parts = [Markup("<b>%s</b>") % title, *lines]
        if message:
            parts.append(Markup("%s: <i>%s</i>") % (self.env._("Message"), message))
        return partner.message_post(
            body=Markup("<br/>").join(parts),
            author_id=author.id,
            message_type="comment",
            subtype_xmlid="mail.mt_note",
            partner_ids=collector.partner_id.ids,
        )

    @api.model
    def _portal_invoices_line(self, moves):
        """The line naming ``moves`` in a portal note (see ``_portal_notify``)."""
        return Markup("%s: %s") % (self.env._("Invoices"), ", ".join(moves.mapped("name")))
