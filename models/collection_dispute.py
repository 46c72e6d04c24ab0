from datetime import timedelta

from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.fields import Domain
from odoo.tools import SQL

from .collection_case_mixin import ACCOUNTING_READERS, OPEN_PAYMENT_STATES, text_to_html
from .collection_case_mixin import DISPUTE_OPEN_STATES as OPEN_STATES
from .res_partner import COLLECTION_STATUS

# Fields that only the dispute's own buttons (and the portal) set.
WORKFLOW_FIELDS = {"state", "date_resolved", "status_before", "source", "date_open"}


class CollectionDispute(models.Model):
    _name = "collection.dispute"
    _description = "Invoice Dispute"
    _inherit = ["collection.case.mixin", "mail.thread", "mail.activity.mixin"]
    _order = "date_open desc, id desc"
    _check_company_auto = True

    name = fields.Char(compute="_compute_name", store=True)
    move_ids = fields.Many2many(
        "account.move",
        "collection_dispute_account_move_rel",
        "collection_dispute_id",
        "account_move_id",
        required=True,
        groups=ACCOUNTING_READERS,
        help="The customer's invoices in dispute: they get no reminder while the dispute is "
        "open or in progress.",
    )
    invoice_names = fields.Char(
        string="Invoice Numbers",
        compute="_compute_invoice_names",
        store=True,
        help="Numbers of the disputed invoices, readable by the responsible even without "
        "access to accounting.",
    )
    reason_id = fields.Many2one(
        "collection.dispute.reason",
        string="Reason",
        required=True,
        tracking=True,
        check_company=True,
        ondelete="restrict",
    )
    description = fields.Text(help="What the customer says is wrong.")
    attachment_ids = fields.One2many(
        "ir.attachment",
        "res_id",
        string="Attachments",
        domain=[("res_model", "=", "collection.dispute")],
        readonly=True,
    )
    state = fields.Selection(
        [("open", "Open"), ("in_progress", "In Progress"), ("resolved", "Resolved")],
        default="open",
        required=True,
        readonly=True,
        copy=False,
        tracking=True,
        index=True,
    )
    resolution = fields.Selection(
        [
            ("justified", "Justified"),
            ("credit_note", "Credit Note"),
            ("rejected", "Rejected"),
        ],
        copy=False,
        tracking=True,
        help="Justified: the customer was right and the problem was solved without a credit "
        "note. Credit Note: a credit note corrects the invoice. Rejected: the invoice stands "
        "as it is. Required to resolve the dispute.",
    )
    resolution_note = fields.Text(copy=False)
    user_id = fields.Many2one(
        string="Responsible",
        default=None,
        index=True,
        domain="[('share', '=', False)]",
        help="Who must solve the dispute; chosen by its reason when it is opened.",
    )
    date_open = fields.Date(
        string="Opened On",
        required=True,
        readonly=True,
        copy=False,
        default=fields.Date.context_today,
    )
    date_resolved = fields.Date(string="Resolved On", readonly=True, copy=False)
    sla_deadline = fields.Date(
        string="SLA Deadline",
        compute="_compute_sla_deadline",
        store=True,
        help="Opening day plus the SLA days of the reason.",
    )
    age_days = fields.Integer(
        string="Age (days)",
        compute="_compute_age",
        search="_search_age_days",
        help="Days since the dispute was opened (until it was resolved, once resolved).",
    )
    over_sla = fields.Boolean(
        string="Over SLA",
        compute="_compute_age",
        search="_search_over_sla",
        help="Still unresolved after the SLA of its reason.",
    )
    source = fields.Selection(
        [("back_office", "Back Office"), ("portal", "Customer Portal")],
        default="back_office",
        required=True,
        readonly=True,
        copy=False,
    )
    status_before = fields.Selection(
        COLLECTION_STATUS,
        string="Status Before",
        readonly=True,
        copy=False,
        help="The customer's collection status when the dispute was opened; it comes back "
        "when the dispute is resolved, if it still applies.",
    )
    interaction_ids = fields.One2many(
        "collection.interaction", "dispute_id", string="Interactions", readonly=True
    )
    credit_note_ids = fields.Many2many(
        "account.move",
        string="Credit Notes",
        compute="_compute_credit_note_ids",
        groups=ACCOUNTING_READERS,
        help="Posted credit notes reversing or reconciled with the disputed invoices.",
    )

    # ------------------------------------------------------------------
    # Computes
    # ------------------------------------------------------------------

    @api.depends("move_ids.name")
    def _compute_invoice_names(self):
        for dispute in self:
            dispute.invoice_names = ", ".join(dispute.move_ids.sorted("id").mapped("name"))

    @api.depends("reason_id", "invoice_names", "partner_id")
    def _compute_name(self):
        for dispute in self:
            dispute.name = dispute._collection_name()

    @api.depends("reason_id", "invoice_names", "partner_id")
    @api.depends_context("lang")
    def _compute_display_name(self):
        """The reason in the reader's language (the stored name is the opener's)."""
        for dispute in self:
            dispute.display_name = dispute._collection_name()

    def _collection_name(self):
        self.ensure_one()
        parts = [self.reason_id.name, self.invoice_names]
        return " - ".join(p for p in parts if p) or self.env._("New dispute")

    @api.depends("date_open", "reason_id.sla_days")
    def _compute_sla_deadline(self):
        for dispute in self:
            dispute.sla_deadline = dispute.date_open and dispute.date_open + timedelta(
                days=dispute.reason_id.sla_days
            )

    @api.depends("date_open", "date_resolved", "sla_deadline", "state")
    @api.depends_context("tz")
    def _compute_age(self):
        today = fields.Date.context_today(self)
        for dispute in self:
            end = dispute.date_resolved if dispute.state == "resolved" else today
            dispute.age_days = (end - dispute.date_open).days if dispute.date_open and end else 0
            dispute.over_sla = bool(
                dispute.state in OPEN_STATES
                and dispute.sla_deadline
                and dispute.sla_deadline < today
            )

    def _search_age_days(self, operator, value):
        """Age of an unresolved dispute: today minus its opening day; of a resolved one:
        its resolution day minus its opening day."""
        if operator not in ("=", "!=", "<", "<=", ">", ">=") or not isinstance(value, int):
            return NotImplemented
        today = fields.Date.context_today(self)
        self.flush_model(["date_open", "date_resolved", "state"])
        query = self._search([])
        table = query.table
        query.add_where(
            SQL(
                "(CASE WHEN %s = 'resolved' THEN %s ELSE %s::date END) - %s %s %s",
                SQL.identifier(table, "state"),
                SQL.identifier(table, "date_resolved"),
                today,
                SQL.identifier(table, "date_open"),
                SQL(operator),
                value,
            )
        )
        return Domain("id", "in", query)

    def _search_over_sla(self, operator, value):
        if operator not in ("=", "!=") or not isinstance(value, bool):
            return NotImplemented
        today = fields.Date.context_today(self)
        domain = Domain("state", "in", OPEN_STATES) & Domain("sla_deadline", "<", today)
        return domain if (operator == "=") == value else ~domain

    @api.depends(
        "move_ids.reversal_move_ids.state",
        "move_ids.line_ids.matched_credit_ids",
        "move_ids.line_ids.matched_debit_ids",
    )
    def _compute_credit_note_ids(self):
        for dispute in self:
            dispute.credit_note_ids = dispute.move_ids._collection_credit_notes()

    # ------------------------------------------------------------------
    # Constraints
    # ------------------------------------------------------------------

    @api.constrains("move_ids", "partner_id")
    def _check_moves(self):
        if self.filtered(lambda d: not d.move_ids):
            raise ValidationError(self.env._("Choose the invoices the customer disputes."))
        self._collection_check_moves()
        self._collection_check_moves_exclusive(
            OPEN_STATES,
            lambda shared, other: self.env._(
                "%(invoices)s already has an open dispute (%(dispute)s): add to that one instead.",
                invoices=", ".join(shared.mapped("display_name")),
                dispute=other.name,
            ),
        )

    def _collection_move_is_open(self, move):
        # Whether the invoices are still to be paid is checked when they are added
        # (create, write): a disputed invoice may be paid meanwhile.
        return move.state == "posted" and move.move_type == "out_invoice"

    def _collection_not_open_error(self, moves):
        return self.env._(
            "Only posted customer invoices can be disputed: %(invoices)s",
            invoices=", ".join(moves.mapped("display_name")),
        )

    def _collection_interaction_field(self):
        return "dispute_id"

    @api.constrains("state", "resolution")
    def _check_resolution(self):
        if self.filtered(lambda d: d.state == "resolved" and not d.resolution):
            raise ValidationError(self.env._("A resolved dispute needs its resolution."))

    # ------------------------------------------------------------------
    # CRUD
    # ------------------------------------------------------------------

    @api.model_create_multi
    def create(self, vals_list):
        Partner = self.env["res.partner"]
        for vals in vals_list:
            partner = Partner.browse(vals.get("partner_id")).commercial_partner_id
            if partner:
                vals["partner_id"] = partner.id
            if not self.env.su:
                # A dispute starts open, from the back office; its state follows its
                # buttons.
                for fname in WORKFLOW_FIELDS | {"resolution"}:
                    vals.pop(fname, None)
        self._collection_check_portfolio(vals_list)
        disputes = super().create(vals_list)
        if disputes.filtered(lambda d: not d.move_ids):
            raise ValidationError(self.env._("Choose the invoices the customer disputes."))
        not_open = disputes.move_ids.filtered(lambda m: m.payment_state not in OPEN_PAYMENT_STATES)
        if not_open:
            raise ValidationError(
                self.env._(
                    "Only invoices still to be paid can be disputed: %(invoices)s",
                    invoices=", ".join(not_open.mapped("display_name")),
                )
            )
        disputes._collection_open()
        return disputes

    def write(self, vals):
        if WORKFLOW_FIELDS & set(vals) and not self.env.su:
            raise UserError(
                self.env._(
                    "The state of a dispute follows its buttons: start it, or resolve it with "
                    "its resolution."
                )
            )
        for fname in ("partner_id", "company_id"):
            if fname in vals and any(d[fname].id != vals[fname] for d in self):
                raise UserError(
                    self.env._(
                        "The customer and the company of a dispute cannot be changed: resolve "
                        "it as rejected and open a new one."
                    )
                )
        protected = {"move_ids", "reason_id", "resolution", "user_id"}
        if protected & set(vals) and any(d.state == "resolved" for d in self):
            raise UserError(self.env._("This dispute is resolved and can no longer be changed."))
        before = (
            {dispute: dispute.sudo().move_ids for dispute in self} if "move_ids" in vals else {}
        )
        # Reassigned by hand (the routing itself runs as superuser and notifies).
        reassigned = self.browse()
        if "user_id" in vals and not self.env.su:
            reassigned = self.filtered(lambda d: d.user_id.id != vals["user_id"])
        result = super().write(vals)
        if before and not self.env.su:
            added = self.sudo().move_ids - sum(before.values(), self.env["account.move"])
            not_open = added.filtered(lambda m: m.payment_state not in OPEN_PAYMENT_STATES)
            if not_open:
                raise ValidationError(
                    self.env._(
                        "Only invoices still to be paid can be disputed: %(invoices)s",
                        invoices=", ".join(not_open.mapped("display_name")),
                    )
                )
        if reassigned:
            reassigned._collection_reassign()
        return result

    @api.ondelete(at_uninstall=False)
    def _unlink_except_evidence(self):
        if self.interaction_ids or not self.env.user.has_group(
            "account_collection.group_collection_manager"
        ):
            raise UserError(
                self.env._(
                    "Disputes are kept as evidence: resolve the dispute instead of deleting it."
                )
            )

    # ------------------------------------------------------------------
    # Actions
    # ------------------------------------------------------------------

    def action_start(self):
        """The responsible starts working on the dispute."""
        if any(d.state != "open" for d in self):
            raise UserError(self.env._("Only open disputes can be started."))
        self.check_access("write")
        # sudo: the state follows the buttons only; write access was checked above.
        self.sudo().state = "in_progress"
        for dispute in self:
            dispute.message_post(
                body=self.env._(
                    "%(user)s started working on the dispute.", user=self.env.user.name
                ),
                subtype_xmlid="mail.mt_note",
            )

    def action_resolve(self):
        """Resolve the disputes with the resolution chosen on each: the reminders of their
        invoices resume (an invoice cleared by a credit note gets none any more), the
        customer's status comes back and the resolution is logged as an interaction."""
        self.check_access("write")
        for dispute in self:
            if dispute.state not in OPEN_STATES:
                raise UserError(
                    self.env._("The dispute %(dispute)s is already resolved.", dispute=dispute.name)
                )
            if not dispute.resolution:
                raise UserError(
                    self.env._(
                        "Choose how the dispute %(dispute)s was resolved (justified, credit note "
                        "or rejected) before resolving it.",
                        dispute=dispute.name,
                    )
                )
            # sudo: the responsible may work outside accounting; only the existence of
            # the credit note is read.
            if dispute.resolution == "credit_note" and not (
                dispute.sudo().move_ids._collection_credit_notes()
            ):
                raise UserError(
                    self.env._(
                        "No posted credit note corrects %(invoices)s yet: issue it with the "
                        "Credit Note button first.",
                        invoices=dispute.invoice_names,
                    )
                )
        today = fields.Date.context_today(self)
        for dispute in self:
            # sudo: resolving restores the customer's status and logs the interaction for
            # the responsible, who may work outside collections; write access to the
            # dispute was checked above.
            dispute_sudo = dispute.sudo()
            dispute_sudo.write({"state": "resolved", "date_resolved": today})
            dispute_sudo._collection_close()

    def action_credit_note(self):
        """Open Odoo's credit note wizard on the disputed invoices still open."""
        self.ensure_one()
        moves = self.move_ids.filtered(
            lambda m: (
                m.state == "posted" and m.payment_state not in ("paid", "reversed", "in_payment")
            )
        )
        if not moves:
            raise UserError(self.env._("The disputed invoices are already paid or reversed."))
        action = moves.action_reverse()
        action["context"] = {"active_model": "account.move", "active_ids": moves.ids}
        return action

    def action_open_credit_notes(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Credit Notes"),
            "res_model": "account.move",
            "view_mode": "list,form",
            "domain": [("id", "in", self.credit_note_ids.ids)],
            "context": {"create": False},
        }

    # ------------------------------------------------------------------
    # Portal
    # ------------------------------------------------------------------

    @api.model
    def _create_from_portal(self, partner, moves, reason, message, attachments=None):
        """Open a dispute raised by a customer on the portal and return it.

        The caller (the portal controller) has already established that the visitor acts
        for ``partner`` (a portal user of that customer, or the holder of a valid access
        token of it); this method checks everything else and raises a translated
        ``UserError`` when the input is not acceptable, creating nothing:

        :param partner: ``res.partner``, the customer (its commercial partner is used)
        :param moves: ``account.move`` recordset, the disputed invoices: posted customer
            invoices of that customer, all of one company, still to be paid, not already
            in an open dispute
        :param reason: ``collection.dispute.reason`` (or its id), an active reason of the
            invoices' company
        :param message: the customer's explanation (text, required)
        :param attachments: optional list of ``(file name, content as bytes)`` pairs, posted
            with the customer's message on the dispute's chatter
        :return: the new ``collection.dispute`` (as superuser: hand it back to the portal
            only through what the customer may see)

        The dispute is routed to its responsible (activity and email), pauses the
        reminders of its invoices, sets the customer's status to *In dispute*, is
        logged as an interaction with channel *Portal* and noted on the customer's
        chatter for its collector (``collection.interaction._portal_notify``).
        """
        self.env["collection.interaction"]._portal_check_rate(partner, moves.company_id, "dispute")
        # sudo: the caller vouched for the visitor's right to act for ``partner``; each
        # record below is checked against that customer before anything is written.
        author = partner.sudo()
        partner = author.commercial_partner_id
        moves = moves.sudo()
        if isinstance(reason, int):
            reason = self.env["collection.dispute.reason"].browse(reason)
        reason = reason.sudo().exists()
        message = (message or "").strip()
        if not partner:
            raise UserError(self.env._("The customer is missing."))
        if not moves:
            raise UserError(self.env._("Choose the invoices you dispute."))
        self._collection_portal_check_moves(
            partner,
            moves,
            lambda invoices: self.env._(
                "These invoices cannot be disputed any more: %(invoices)s", invoices=invoices
            ),
        )
        if len(moves.company_id) != 1:
            raise UserError(self.env._("Dispute the invoices of each company separately."))
        company = moves.company_id
        if not reason or not reason.active or (reason.company_id and reason.company_id != company):
            raise UserError(self.env._("Choose one of the reasons offered."))
        if not message:
            raise UserError(self.env._("Tell us what is wrong with the invoice."))
        in_dispute = self.sudo().search(
            [("state", "in", OPEN_STATES), ("move_ids", "in", moves.ids)], limit=1
        )
        if in_dispute:
            raise UserError(
                self.env._(
                    "%(invoices)s is already in dispute: we are looking into it.",
                    invoices=", ".join((in_dispute.move_ids & moves).mapped("name")),
                )
            )
        dispute = (
            self.sudo()
            .with_company(company)
            .create(
                {
                    "partner_id": partner.id,
                    "company_id": company.id,
                    "move_ids": [fields.Command.set(moves.ids)],
                    "reason_id": reason.id,
                    "description": message,
                    "source": "portal",
                }
            )
        )
        dispute.message_post(
            body=text_to_html(message),
            author_id=author.id,
            message_type="comment",
            subtype_xmlid="mail.mt_note",
            attachments=list(attachments or []),
        )
        Interaction = self.env["collection.interaction"]
        Interaction._portal_notify(
            partner,
            company,
            self.env._("Invoice disputed on the customer portal"),
            [
                Interaction._portal_invoices_line(moves),
                Markup("%s: %s") % (self.env._("Reason"), dispute.reason_id.name),
            ],
            message,
        )
        return dispute

    # ------------------------------------------------------------------
    # Business
    # ------------------------------------------------------------------

    def _collection_route(self):
        """(responsible user, how it was chosen) for this dispute: the reason's route,
        else the customer's collector, else the company's default collector, else the
        user who opens it in the back office."""
        self.ensure_one()
        reason = self.reason_id
        user = self.env["res.users"]
        how = ""
        if reason.responsible_type == "salesperson":
            user = self.move_ids.sorted("id").invoice_user_id.filtered(
                lambda u: u.active and not u.share
            )[:1]
            how = self.env._("salesperson of the invoice")
        elif reason.responsible_type == "user":
            user = reason.user_id
            how = self.env._("responsible for the reason “%(reason)s”", reason=reason.name)
        elif reason.responsible_type == "team":
            user = reason.team_id.user_id
            how = self.env._("leader of the sales team %(team)s", team=reason.team_id.name)
        user = user.filtered(lambda u: u.active and not u.share)
        if user:
            return user, how
        partner = self.partner_id.with_company(self.company_id)
        if partner.collection_user_id:
            return partner.collection_user_id, self.env._("the customer's collector")
        if self.company_id.collection_default_user_id:
            return self.company_id.collection_default_user_id, self.env._("the default collector")
        if not self.env.user.share and self.env.user._is_internal():
            return self.env.user, self.env._("who opened the dispute")
        return user, ""

    def _collection_open(self):
        """Route new disputes to their responsible and bring the customers' collections
        in line: status 'In dispute', an interaction, a note on the customer."""
        today = fields.Date.context_today(self)
        for dispute in self:
            # sudo: the dispute was just created by this user (or by the portal for the
            # customer); routing reads invoices, teams and the customer's collection
            # fields, and the customer's status and chatter are written for them.
            dispute_sudo = dispute.sudo()
            partner_sudo = dispute_sudo.partner_id.with_company(dispute.company_id)
            if dispute_sudo.user_id:
                how = self.env._("chosen by %(user)s", user=self.env.user.name)
            else:
                responsible, how = dispute_sudo._collection_route()
                dispute_sudo.user_id = responsible
            # The status the customer had before its first open dispute.
            earlier = dispute_sudo.search(
                [
                    ("partner_id", "=", partner_sudo.id),
                    ("company_id", "=", dispute.company_id.id),
                    ("state", "in", OPEN_STATES),
                    ("id", "!=", dispute.id),
                ],
                order="id",
                limit=1,
            )
            status = partner_sudo.collection_status or "current"
            if earlier and status == "dispute":
                status = earlier.status_before or status
            dispute_sudo.status_before = status
            status_then = partner_sudo.collection_status or "current"
            new_status = dispute_sudo._collection_customer_status_after("disputed")
            partner_sudo._collection_set_status(new_status)
            portal = dispute.source == "portal"
            if not self.env.context.get("collection_interaction_logged"):
                # Else the caller logs the interaction that opened the dispute (a call
                # logged with the Log dialog).
                dispute_sudo._collection_log_interaction(
                    "portal" if portal else "note",
                    self.env._(
                        "Dispute opened (%(reason)s): %(description)s",
                        reason=dispute.reason_id.name,
                        description=dispute.description or "",
                    ),
                    outcome="dispute",
                    status_before=status_then,
                    status_after=new_status,
                )
            dispute_sudo._collection_note_on_customer(self.env._("Dispute opened:"))
            if dispute.description and not portal:
                # The portal posts the customer's own message, with its attachments.
                dispute_sudo.message_post(
                    body=text_to_html(dispute.description),
                    author_id=self.env.user.partner_id.id,
                    message_type="comment",
                    subtype_xmlid="mail.mt_note",
                )
            if not dispute_sudo.user_id:
                dispute_sudo.message_post(
                    body=self.env._(
                        "Nobody could be found to handle this dispute: choose its responsible."
                    ),
                    subtype_xmlid="mail.mt_note",
                )
                continue
            dispute_sudo._collection_notify_responsible(how, today)

    def _collection_notify_responsible(self, how, today):
        """The responsible gets an activity due at the end of the SLA and an email. Runs
        as superuser from ``_collection_open``."""
        self.ensure_one()
        template = self.env.ref(
            "account_collection.mail_template_collection_dispute_assigned", raise_if_not_found=False
        )
        responsible = self.user_id
        self.with_context(mail_activity_quick_update=True).activity_schedule(
            "account_collection.mail_activity_type_collection_dispute",
            date_deadline=max(self.sla_deadline or today, today),
            summary=self.env._("Solve the dispute: %(reason)s", reason=self.reason_id.name),
            # The customer's text, as text: no markup of it reaches the responsible.
            note=text_to_html(self.description),
            user_id=responsible.id,
        )
        if template and responsible.partner_id.email:
            template.send_mail(self.id, email_layout_xmlid="mail.mail_notification_light")
        self.message_post(
            body=self.env._("Routed to %(user)s (%(how)s).", user=responsible.name, how=how),
            subtype_xmlid="mail.mt_note",
        )

    def _collection_reassign(self):
        """A new responsible takes the activity over and gets the email; nobody left:
        the activity goes."""
        today = fields.Date.context_today(self)
        dispute_type = self.env.ref("account_collection.mail_activity_type_collection_dispute")
        # sudo: write access to the disputes was checked by write(); the activity and
        # the email follow the responsible.
        for dispute in self.sudo():
            activities = dispute.activity_ids.filtered(lambda a: a.activity_type_id == dispute_type)
            activities.unlink()
            if dispute.state not in OPEN_STATES or not dispute.user_id:
                continue
            dispute._collection_notify_responsible(
                self.env._("chosen by %(user)s", user=self.env.user.name), today
            )

    def _collection_close(self):
        """After resolution: the customer's status, the interaction, the notes and the
        responsible's activity. Runs as superuser from ``action_resolve``."""
        self.ensure_one()
        partner = self._collection_customer()
        status_then = partner.collection_status or "current"
        # The status changed by hand (or by a promise) since the dispute is left alone.
        status_after = self._collection_customer_status_after("dispute_resolved")
        partner._collection_set_status(status_after)
        resolution = dict(self._fields["resolution"]._description_selection(self.env))[
            self.resolution
        ]
        summary = self.env._(
            "Dispute resolved (%(resolution)s): %(dispute)s",
            resolution=resolution,
            dispute=self.name,
        )
        note = summary + (f"\n{self.resolution_note}" if self.resolution_note else "")
        self._collection_log_interaction(
            "note",
            note,
            outcome="dispute",
            status_before=status_then,
            status_after=status_after,
            user_id=self.env.uid,
        )
        dispute_type = self.env.ref("account_collection.mail_activity_type_collection_dispute")
        self.activity_ids.filtered(lambda a: a.activity_type_id == dispute_type).action_feedback(
            feedback=summary
        )
        body = Markup("%s") % summary
        if self.resolution_note:
            body += Markup("<br/>%s") % self.resolution_note
        self.message_post(body=body, subtype_xmlid="mail.mt_note")
        self._collection_note_on_customer(
            self.env._("Dispute resolved (%(resolution)s):", resolution=resolution)
        )

    # === DUNNING RULE === #

    @api.model
    def _dunning_exclusion_sql(self, move_sql, today):
        """Dunning rule: TRUE when the invoice ``move_sql`` (an SQL expression of its
        id) is in an open or in-progress dispute: it is not reminded while disputed.
        ``today`` is unused (the same signature as the other exclusions)."""
        self.flush_model(["state", "move_ids"])
        return SQL(
            """EXISTS (
                SELECT 1
                  FROM collection_dispute_account_move_rel drel
                  JOIN collection_dispute di ON di.id = drel.collection_dispute_id
                 WHERE drel.account_move_id = %(move)s
                   AND di.state IN ('open', 'in_progress'))""",
            move=move_sql,
        )
