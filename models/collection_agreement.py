from dateutil.relativedelta import relativedelta
from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.fields import Command
from odoo.tools import SQL, float_compare, float_is_zero, format_amount, format_date

from .collection_case_mixin import OPEN_PAYMENT_STATES, days_after, is_open_invoice

# Writes of the fields that follow the ledger and the workflow (state, amounts paid,
# approval, acceptance) carry this object in their context. It cannot travel through
# an RPC call, so a client cannot set them by hand.
_WORKFLOW = object()

# Fields set by the workflow and the ledger only.
WORKFLOW_FIELDS = {
    "state",
    "amount_paid",
    "date_closed",
    "approved_user_id",
    "approved_date",
    "signed_by",
    "signed_on",
    "signature",
    "charges_move_id",
}
# Fields of the plan: they change while the agreement is a draft only.
PLAN_FIELDS = {
    "partner_id",
    "company_id",
    "move_ids",
    "amount",
    "interest_rate",
    "fee_amount",
    "instalment_ids",
    "date_start",
}
# States in which an invoice belongs to the agreement (it can be in one only).
LIVE_STATES = ("proposed", "active")
# Most instalments a customer may ask for on the portal.
PORTAL_MAX_INSTALMENTS = 24


class CollectionAgreement(models.Model):
    _name = "collection.agreement"
    _description = "Payment Agreement"
    _inherit = ["collection.case.mixin", "portal.mixin", "mail.thread", "mail.activity.mixin"]
    _order = "date_start desc, id desc"
    _check_company_auto = True

    name = fields.Char(
        string="Reference", required=True, readonly=True, copy=False, default="/", index="trigram"
    )
    user_id = fields.Many2one(
        domain="[('share', '=', False)]",
        help="Collector in charge of the agreement: alerted when the customer accepts it or "
        "misses an instalment.",
    )
    origin = fields.Selection(
        [("office", "Back Office"), ("portal", "Customer Portal")],
        default="office",
        required=True,
        readonly=True,
        help="Where the agreement was asked for.",
    )
    request_message = fields.Text(
        string="Customer's Request", readonly=True, help="What the customer wrote on the portal."
    )
    move_ids = fields.Many2many(
        "account.move",
        "collection_agreement_account_move_rel",
        "collection_agreement_id",
        "account_move_id",
        help="Open invoices the agreement settles. While it is active they get no reminder; "
        "the payments reconciled with them count toward the instalments.",
    )
    date_start = fields.Date(
        string="Start Date",
        required=True,
        default=fields.Date.context_today,
        tracking=True,
        help="Payments dated from this day on count toward the instalments.",
    )
    amount = fields.Monetary(
        string="Covered Amount",
        compute="_compute_amount",
        store=True,
        precompute=True,
        readonly=True,
        help="What was left to pay on the invoices when they were added to the agreement, in "
        "company currency.",
    )
    interest_rate = fields.Float(
        string="Interest (%)",
        digits=(16, 2),
        tracking=True,
        help="Percentage of the covered amount added once to the total, for the time given to pay.",
    )
    fee_amount = fields.Monetary(string="Fee", tracking=True, help="Fixed fee added to the total.")
    interest_amount = fields.Monetary(compute="_compute_totals", store=True, string="Interest")
    charges_amount = fields.Monetary(
        compute="_compute_totals",
        store=True,
        string="Interest and Fee",
        help="Invoiced to the customer when the agreement is activated.",
    )
    amount_total = fields.Monetary(
        compute="_compute_totals",
        store=True,
        string="Total",
        tracking=True,
        help="Covered amount plus interest and fee: what the instalments add up to.",
    )
    charges_move_id = fields.Many2one(
        "account.move",
        string="Charges Invoice",
        readonly=True,
        copy=False,
        check_company=True,
        index="btree_not_null",
        help="Invoice of the interest and fee, created when the agreement is activated. It "
        "is covered by the agreement like the other invoices.",
    )

    # Plan generation
    instalment_count = fields.Integer(
        string="Number of Instalments", default=3, help="Used to compute even instalments."
    )
    date_first = fields.Date(
        string="First Instalment",
        copy=False,
        default=lambda self: fields.Date.context_today(self) + relativedelta(months=1),
    )
    interval_number = fields.Integer(string="Every", default=1)
    interval_type = fields.Selection(
        [("months", "Months"), ("weeks", "Weeks")], string="Interval", default="months"
    )
    instalment_ids = fields.One2many(
        "collection.agreement.instalment", "agreement_id", string="Instalments", copy=False
    )
    instalment_total = fields.Monetary(
        compute="_compute_instalment_total", string="Instalments Total"
    )

    # Following the ledger
    amount_paid = fields.Monetary(
        readonly=True,
        copy=False,
        help="Payments reconciled with the covered invoices and dated from the start date "
        "on, in company currency.",
    )
    amount_remaining = fields.Monetary(compute="_compute_amount_remaining", string="Remaining")
    state = fields.Selection(
        [
            ("draft", "Draft"),
            ("proposed", "Proposed"),
            ("active", "Active"),
            ("completed", "Completed"),
            ("broken", "Broken"),
            ("cancelled", "Cancelled"),
        ],
        default="draft",
        required=True,
        readonly=True,
        copy=False,
        tracking=True,
        index=True,
    )
    date_closed = fields.Date(string="Closed On", readonly=True, copy=False)

    # Approval and acceptance
    approval_required = fields.Boolean(
        compute="_compute_approval_required",
        help="The total is above the company's approval amount: a collection manager must "
        "approve the agreement before it is activated.",
    )
    approved_user_id = fields.Many2one(
        "res.users", string="Approved By", readonly=True, copy=False, tracking=True
    )
    approved_date = fields.Datetime(string="Approved On", readonly=True, copy=False)
    signed_by = fields.Char(
        string="Accepted By",
        readonly=True,
        copy=False,
        tracking=True,
        help="Name of the person who accepted the agreement for the customer.",
    )
    signed_on = fields.Datetime(string="Accepted On", readonly=True, copy=False)
    signature = fields.Image(
        readonly=True, copy=False, attachment=True, max_width=1024, max_height=1024
    )
    note = fields.Text(string="Terms", help="Printed on the agreement above the signatures.")

    _interest_rate_positive = models.Constraint(
        "CHECK (interest_rate >= 0)", "The interest rate cannot be negative."
    )
    _fee_amount_positive = models.Constraint(
        "CHECK (fee_amount IS NULL OR fee_amount >= 0)", "The fee cannot be negative."
    )

    # ------------------------------------------------------------------
    # Computes
    # ------------------------------------------------------------------

    @api.depends("move_ids")
    def _compute_amount(self):
        # Only when the invoices are chosen (a draft): later payments do not change what
        # the agreement covered.
        for agreement in self:
            agreement.amount = agreement._collection_open_residual_of_moves(agreement.move_ids)

    def _collection_open_residual_of_moves(self, moves):
        return sum(
            move.amount_residual_signed
            for move in moves
            if move.state == "posted" and move.move_type == "out_invoice"
        )

    @api.depends("amount", "interest_rate", "fee_amount", "currency_id")
    def _compute_totals(self):
        for agreement in self:
            currency = agreement.currency_id or agreement.env.company.currency_id
            interest = currency.round(agreement.amount * (agreement.interest_rate or 0.0) / 100.0)
            agreement.interest_amount = interest
            agreement.charges_amount = interest + currency.round(agreement.fee_amount or 0.0)
            agreement.amount_total = agreement.amount + agreement.charges_amount

    @api.depends("instalment_ids.amount")
    def _compute_instalment_total(self):
        for agreement in self:
            agreement.instalment_total = sum(agreement.instalment_ids.mapped("amount"))

    @api.depends("amount_total", "amount_paid")
    def _compute_amount_remaining(self):
        for agreement in self:
            agreement.amount_remaining = max(agreement.amount_total - agreement.amount_paid, 0.0)

    @api.depends("amount_total", "company_id.collection_agreement_approval_amount")
    def _compute_approval_required(self):
        for agreement in self:
            threshold = agreement.company_id.collection_agreement_approval_amount
            agreement.approval_required = bool(threshold) and (
                float_compare(
                    agreement.amount_total,
                    threshold,
                    precision_rounding=agreement.currency_id.rounding or 0.01,
                )
                > 0
            )

    def _compute_access_url(self):
        # The portal page of an agreement (its access token opens it without a login)
        # leads to the customer's statement, where it is read and accepted.
        super()._compute_access_url()
        for agreement in self:
            agreement.access_url = f"/my/agreements/{agreement.id}"

    # ------------------------------------------------------------------
    # Constraints
    # ------------------------------------------------------------------

    @api.constrains("partner_id", "move_ids", "state")
    def _check_moves(self):
        self.filtered(lambda a: a.state in ("draft", *LIVE_STATES))._collection_check_moves()
        self._collection_check_moves_exclusive(
            LIVE_STATES,
            lambda shared, other: self.env._(
                "%(invoices)s already belong to the payment agreement %(other)s. "
                "Cancel it first, or leave these invoices out.",
                invoices=", ".join(shared.mapped("display_name")),
                other=other.name,
            ),
        )

    def _collection_move_is_open(self, move):
        # An active agreement keeps the invoices it covered, paid since or not.
        return self.state == "active" or is_open_invoice(move)

    def _collection_contact_error(self):
        return self.env._(
            "A payment agreement is made with the customer itself (%(company)s), not with one "
            "of its contacts.",
            company=self.partner_id.commercial_partner_id.display_name,
        )

    def _collection_not_open_error(self, moves):
        return self.env._(
            "A payment agreement can only cover posted customer invoices that are still open: "
            "%(invoices)s",
            invoices=", ".join(moves.mapped("display_name")),
        )

    # ------------------------------------------------------------------
    # CRUD
    # ------------------------------------------------------------------

    @api.model_create_multi
    def create(self, vals_list):
        if not self._collection_is_workflow():
            for vals in vals_list:
                for fname in WORKFLOW_FIELDS:
                    vals.pop(fname, None)
        for vals in vals_list:
            self._collection_check_dates(vals)
        self._collection_check_portfolio(vals_list)
        agreements = super().create(vals_list)
        for agreement in agreements:
            if agreement.name == "/":
                sequence = self.env["ir.sequence"].with_company(agreement.company_id).sudo()
                agreement.name = sequence.next_by_code(
                    "collection.agreement", sequence_date=agreement.date_start
                ) or self.env._("Agreement %(id)s", id=agreement.id)
        # A plan asked for by its number of instalments is computed at once.
        agreements.filtered(
            lambda a: (
                not a.instalment_ids
                and a.instalment_count
                and a.date_first
                and float_compare(a.amount_total, 0.0, precision_rounding=a.currency_id.rounding)
                > 0
            )
        )._collection_generate_instalments()
        return agreements

    def write(self, vals):
        workflow = self._collection_is_workflow()
        self._collection_check_portfolio_write(vals)
        if WORKFLOW_FIELDS & set(vals) and not workflow:
            raise UserError(
                self.env._(
                    "The state, the payments, the approval and the acceptance of a payment "
                    "agreement follow its workflow and the ledger: use the buttons of the "
                    "agreement."
                )
            )
        if PLAN_FIELDS & set(vals) and not workflow and any(a.state != "draft" for a in self):
            raise UserError(
                self.env._(
                    "Only draft payment agreements can be changed. Set this one back to draft "
                    "first (a proposed agreement), or make a new one."
                )
            )
        self._collection_check_dates(vals)
        result = super().write(vals)
        if PLAN_FIELDS & set(vals) and not workflow:
            self._collection_plan_changed()
        return result

    def _collection_plan_changed(self):
        """The plan changed after the approval: it must be approved again."""
        approved = self.filtered("approved_user_id")
        if approved:
            approved._collection_workflow_write({"approved_user_id": False, "approved_date": False})

    @api.ondelete(at_uninstall=False)
    def _unlink_except_not_draft(self):
        if any(a.state != "draft" for a in self):
            raise UserError(
                self.env._(
                    "Only draft payment agreements can be deleted; the others are kept as "
                    "evidence: cancel them instead."
                )
            )

    def _collection_check_dates(self, vals):
        today = fields.Date.context_today(self)
        date_first = vals.get("date_first")
        if date_first and fields.Date.to_date(date_first) < today:
            raise ValidationError(
                self.env._(
                    "The first instalment's date %(date)s is in the past: instalments fall "
                    "today or later.",
                    date=format_date(self.env, fields.Date.to_date(date_first)),
                )
            )

    def _collection_is_workflow(self):
        return self.env.context.get("collection_agreement_workflow") is _WORKFLOW

    def _collection_workflow_write(self, vals):
        """Write workflow or ledger fields (see WORKFLOW_FIELDS)."""
        return self.with_context(collection_agreement_workflow=_WORKFLOW).write(vals)

    # ------------------------------------------------------------------
    # Actions
    # ------------------------------------------------------------------

    def action_generate_instalments(self):
        """Compute even instalments from the number, the first date and the interval,
        replacing the current ones (drafts only)."""
        if any(a.state != "draft" for a in self):
            raise UserError(self.env._("Instalments can only be computed on a draft agreement."))
        if any(not agreement.move_ids for agreement in self):
            raise UserError(
                self.env._(
                    "Choose the invoices the agreement settles (the Invoices tab) first: "
                    "the instalments split what is left to pay on them."
                )
            )
        for agreement in self:
            # What is left to pay on the invoices now.
            agreement.amount = agreement._collection_open_residual_of_moves(agreement.move_ids)
        self._collection_generate_instalments()

    def _collection_generate_instalments(self):
        for agreement in self:
            count = agreement.instalment_count
            if count < 1:
                raise ValidationError(self.env._("An agreement has at least one instalment."))
            if not agreement.date_first:
                raise ValidationError(self.env._("Give the date of the first instalment."))
            if agreement.date_first < fields.Date.context_today(self):
                raise ValidationError(
                    self.env._(
                        "The first instalment's date %(date)s is in the past: instalments fall "
                        "today or later.",
                        date=format_date(self.env, agreement.date_first),
                    )
                )
            if agreement.interval_number < 1:
                raise ValidationError(self.env._("The interval between instalments is at least 1."))
            if (
                float_compare(
                    agreement.amount_total, 0.0, precision_rounding=agreement.currency_id.rounding
                )
                <= 0
            ):
                raise ValidationError(
                    self.env._(
                        "Nothing is left to pay on the chosen invoices: there is nothing to "
                        "split into instalments."
                    )
                )
            currency = agreement.currency_id
            share = currency.round(agreement.amount_total / count)
            step = (
                relativedelta(months=agreement.interval_number)
                if agreement.interval_type == "months"
                else relativedelta(weeks=agreement.interval_number)
            )
            commands = [Command.clear()]
            allotted = 0.0
            for index in range(count):
                amount = (
                    share
                    if index < count - 1
                    else currency.round(agreement.amount_total - allotted)
                )
                allotted += amount
                commands.append(
                    Command.create(
                        {
                            "sequence": index + 1,
                            "date": agreement.date_first + step * index,
                            "amount": amount,
                        }
                    )
                )
            if (
                float_compare(commands[-1][2]["amount"], 0.0, precision_rounding=currency.rounding)
                <= 0
            ):
                raise ValidationError(
                    self.env._(
                        "%(total)s cannot be split into %(count)s instalments.",
                        total=format_amount(self.env, agreement.amount_total, currency),
                        count=count,
                    )
                )
            agreement.instalment_ids = commands

    def action_propose(self):
        """The plan is ready: it goes to the customer to accept (portal or signed PDF)."""
        for agreement in self:
            if agreement.state != "draft":
                raise UserError(self.env._("Only a draft agreement can be proposed."))
            agreement._collection_check_plan(fields.Date.context_today(self))
        self._collection_workflow_write({"state": "proposed"})
        for agreement in self:
            agreement._portal_ensure_token()
            agreement.message_post(
                body=self.env._(
                    "Payment agreement proposed to the customer: %(total)s in %(count)s "
                    "instalments.",
                    total=format_amount(self.env, agreement.amount_total, agreement.currency_id),
                    count=len(agreement.instalment_ids),
                )
            )
        return True

    def action_approve(self):
        """A collection manager approves the agreement; if the customer has already
        accepted it on the portal, it starts at once."""
        self._collection_check_manager()
        for agreement in self:
            if agreement.state not in ("draft", "proposed"):
                raise UserError(self.env._("Only draft or proposed agreements can be approved."))
        self._collection_approve()
        accepted = self.filtered(lambda a: a.state == "proposed" and a.signed_by)
        if accepted:
            accepted.action_activate()
        return True

    def _collection_approve(self):
        for agreement in self.filtered(lambda a: not a.approved_user_id):
            agreement._collection_workflow_write(
                {"approved_user_id": self.env.uid, "approved_date": fields.Datetime.now()}
            )
            agreement.message_post(body=self.env._("Approved by a collection manager."))

    def action_activate(self):
        """The customer accepted the agreement (signed copy received): it starts. Above
        the company's approval amount, a collection manager approves it first."""
        self.check_access("write")
        today = fields.Date.context_today(self)
        for agreement in self:
            if agreement.state not in ("draft", "proposed"):
                raise UserError(self.env._("Only a draft or proposed agreement can be activated."))
            agreement._collection_check_plan(today, past_dates=agreement.state == "draft")
            if agreement.approval_required and not agreement.approved_user_id:
                if not self.env.user.has_group("account_collection.group_collection_manager"):
                    raise UserError(
                        self.env._(
                            "The total of %(agreement)s (%(total)s) is above %(threshold)s: a "
                            "collection manager must approve it before it starts.",
                            agreement=agreement.name,
                            total=format_amount(
                                self.env, agreement.amount_total, agreement.currency_id
                            ),
                            threshold=format_amount(
                                self.env,
                                agreement.company_id.collection_agreement_approval_amount,
                                agreement.currency_id,
                            ),
                        )
                    )
                agreement._collection_approve()
        for agreement in self:
            # sudo: the charges invoice, the customer's status and the log follow from the
            # activation, which the current user may do (checked above).
            agreement.sudo()._collection_activate(channel="note")
        return True

    def action_draft(self):
        for agreement in self:
            if agreement.state not in ("proposed", "cancelled"):
                raise UserError(
                    self.env._("Only proposed or cancelled agreements can be set back to draft.")
                )
            if agreement.state == "cancelled" and agreement.charges_move_id:
                raise UserError(
                    self.env._("This agreement was active once: make a new one instead.")
                )
        self._collection_workflow_write(
            {
                "state": "draft",
                "signed_by": False,
                "signed_on": False,
                "signature": False,
                "date_closed": False,
            }
        )
        return True

    def action_cancel(self):
        for agreement in self:
            if agreement.state not in ("draft", "proposed", "active"):
                raise UserError(self.env._("This agreement is already closed."))
            if agreement.state == "active":
                self._collection_check_manager(
                    self.env._("Only a collection manager can cancel an active agreement.")
                )
        self.check_access("write")
        today = fields.Date.context_today(self)
        for agreement in self:
            was_active = agreement.state == "active"
            agreement._collection_workflow_write({"state": "cancelled", "date_closed": today})
            agreement.message_post(body=self.env._("Payment agreement cancelled."))
            if was_active:
                # sudo: the customer's status and the log follow the cancellation, which
                # a collection manager may do (checked above).
                agreement.sudo()._collection_after_end(
                    agreement._collection_customer_status_after("broken"),
                    self.env._(
                        "Payment agreement %(agreement)s cancelled: reminders resume on its "
                        "invoices.",
                        agreement=agreement.name,
                    ),
                    automatic=False,
                )
        return True

    def action_evaluate(self):
        self.check_access("write")
        # sudo: the instalments follow the ledger; access was checked above.
        self.sudo()._collection_evaluate()
        return True

    def action_send(self):
        """Open the email composer with the agreement's PDF."""
        self.ensure_one()
        if self.state not in ("proposed", "active"):
            raise UserError(self.env._("Propose the agreement before sending it."))
        template = self.env.ref(
            "account_collection.mail_template_collection_agreement", raise_if_not_found=False
        )
        return {
            "type": "ir.actions.act_window",
            "res_model": "mail.compose.message",
            "view_mode": "form",
            "views": [(False, "form")],
            "target": "new",
            "context": {
                "default_model": self._name,
                "default_res_ids": self.ids,
                "default_template_id": template.id if template else False,
                "default_composition_mode": "comment",
                "default_email_layout_xmlid": "mail.mail_notification_light",
                "force_email": True,
            },
        }

    def _get_report_base_filename(self):
        self.ensure_one()
        return self.env._("Payment Agreement %(name)s", name=self.name)

    def _collection_check_manager(self, message=None):
        if not self.env.su and not self.env.user.has_group(
            "account_collection.group_collection_manager"
        ):
            raise UserError(
                message or self.env._("Only a collection manager can approve a payment agreement.")
            )

    def _collection_check_plan(self, today, past_dates=True):
        """Raise unless the agreement is ready to go to the customer: invoices, at least
        one instalment, amounts that add up to the total, no instalment in the past."""
        self.ensure_one()
        currency = self.currency_id
        if not self.move_ids:
            raise ValidationError(
                self.env._("Choose the invoices the agreement %(name)s settles.", name=self.name)
            )
        if not self.instalment_ids:
            raise ValidationError(
                self.env._(
                    "The agreement %(name)s has no instalment: compute them or add them.",
                    name=self.name,
                )
            )
        if any(
            float_compare(i.amount, 0.0, precision_rounding=currency.rounding) <= 0
            for i in self.instalment_ids
        ):
            raise ValidationError(self.env._("Every instalment must be greater than zero."))
        if float_compare(
            self.instalment_total, self.amount_total, precision_rounding=currency.rounding
        ):
            raise ValidationError(
                self.env._(
                    "The instalments add up to %(instalments)s but the agreement's total is "
                    "%(total)s: correct the amounts or compute the instalments again.",
                    instalments=format_amount(self.env, self.instalment_total, currency),
                    total=format_amount(self.env, self.amount_total, currency),
                )
            )
        if past_dates:
            past = self.instalment_ids.filtered(lambda i: i.date < today)
            if past:
                raise ValidationError(
                    self.env._(
                        "Instalments cannot fall in the past: %(dates)s.",
                        dates=", ".join(format_date(self.env, d) for d in past.mapped("date")),
                    )
                )
        if any(i.date < self.date_start for i in self.instalment_ids):
            raise ValidationError(self.env._("No instalment can fall before the start date."))
        grace = self.company_id.collection_agreement_grace_days
        if any(days_after(i.date, grace) < today for i in self.instalment_ids):
            raise ValidationError(
                self.env._(
                    "The plan of %(name)s is out of date: an instalment's date and its grace "
                    "period have already passed. Set it back to draft and update the dates.",
                    name=self.name,
                )
            )
        not_open = self.move_ids.filtered(lambda m: not is_open_invoice(m))
        if not_open:
            raise ValidationError(
                self.env._(
                    "A payment agreement can only cover posted customer invoices that are "
                    "still open: %(invoices)s",
                    invoices=", ".join(not_open.mapped("display_name")),
                )
            )

    # ------------------------------------------------------------------
    # Portal
    # ------------------------------------------------------------------

    @api.model
    def _request_from_portal(self, partner, moves, instalment_count, message=None):
        """Create the payment agreement a customer asks for on the portal.

        The caller (the portal controller) has already checked that the visitor may act
        for ``partner`` (a portal user of this commercial partner, or a valid access
        token); this method checks the request itself and works as superuser.

        :param partner: the customer (its commercial partner is used)
        :param moves: ``account.move`` recordset: the open invoices to settle, all of
            this customer and of one company
        :param int instalment_count: how many monthly instalments the customer asks for,
            from 1 to ``PORTAL_MAX_INSTALMENTS``
        :param str message: what the customer wrote, kept on the agreement and its chatter
        :return: the new draft ``collection.agreement``, with even monthly instalments from
            a month after today; an interaction (channel *portal*) is logged, the request
            is noted on the customer's chatter (``collection.interaction._portal_notify``)
            and the collector gets an activity to review it
        :raise UserError: no invoice, invoices of another customer or not open, a wrong
            number of instalments, or invoices already in a live agreement
        """
        self.env["collection.interaction"]._portal_check_rate(
            partner, moves.company_id, "agreement"
        )
        # sudo: the portal controller checked the visitor's right to act for this customer.
        Agreement = self.sudo()
        partner = partner.sudo().commercial_partner_id
        moves = moves.sudo()
        if not partner:
            raise UserError(self.env._("Tell us who you are before asking for an agreement."))
        if not moves:
            raise UserError(self.env._("Choose the invoices you want to pay in instalments."))
        try:
            count = int(instalment_count)
        except (TypeError, ValueError):
            count = 0
        if not 1 <= count <= PORTAL_MAX_INSTALMENTS:
            raise UserError(
                self.env._("Ask for between 1 and %(max)s instalments.", max=PORTAL_MAX_INSTALMENTS)
            )
        self._collection_portal_check_moves(
            partner,
            moves,
            lambda invoices: self.env._(
                "These invoices are not open any more: %(invoices)s", invoices=invoices
            ),
        )
        if len(moves.company_id) > 1:
            raise UserError(self.env._("Ask for one agreement per company that invoiced you."))
        company = moves.company_id
        taken = Agreement.search(
            [("state", "in", ("draft", *LIVE_STATES)), ("move_ids", "in", moves.ids)], limit=1
        )
        if taken:
            raise UserError(
                self.env._(
                    "Some of these invoices are already in a payment agreement or a request "
                    "being reviewed (%(agreement)s).",
                    agreement=taken.name,
                )
            )
        message = (message or "").strip()
        partner_company = partner.with_company(company)
        collector = (
            partner_company.collection_user_id
            or company.collection_default_user_id
            or partner.user_id
        )
        today = fields.Date.context_today(Agreement)
        agreement = Agreement.with_company(company).create(
            {
                "partner_id": partner.id,
                "company_id": company.id,
                "user_id": collector.id,
                "origin": "portal",
                "request_message": message,
                "move_ids": [Command.set(moves.ids)],
                "instalment_count": count,
                "interval_number": 1,
                "interval_type": "months",
                "date_first": today + relativedelta(months=1),
            }
        )
        summary = self.env._(
            "Payment agreement requested on the portal: %(count)s instalments for %(invoices)s.",
            count=count,
            invoices=", ".join(moves.mapped("name")),
        )
        agreement.message_post(
            body=Markup("%s<br/>%s") % (summary, message) if message else summary,
            author_id=partner.id,
            message_type="comment",
            subtype_xmlid="mail.mt_note",
        )
        agreement._collection_log_interaction(
            "portal", summary + (f"\n{message}" if message else ""), automatic=False
        )
        if collector:
            agreement.message_subscribe(partner_ids=collector.partner_id.ids)
            agreement.activity_schedule(
                "mail.mail_activity_data_todo",
                date_deadline=today,
                summary=self.env._("Review the payment agreement requested by the customer"),
                user_id=collector.id,
            )
        Interaction = self.env["collection.interaction"]
        Interaction._portal_notify(
            partner,
            company,
            self.env._("Payment agreement asked for on the customer portal"),
            [
                Interaction._portal_invoices_line(moves),
                Markup("%s: %s") % (self.env._("Instalments"), agreement.instalment_count),
            ],
            message,
        )
        return agreement

    def _accept_from_portal(self, signed_by, signature=None):
        """The customer accepts the proposed agreement on the portal.

        The caller has checked the visitor's right on this agreement (its access token
        or the customer's portal user). The agreement starts at once, unless it awaits
        a collection manager's approval: then the collector is told to get it.

        :param str signed_by: name of the person accepting for the customer (required)
        :param signature: optional signature image, base64
        :return: True
        :raise UserError: the agreement is not proposed any more, or no name was given
        """
        self.ensure_one()
        # sudo: the portal controller checked the visitor's right on this agreement.
        agreement = self.sudo()
        signed_by = (signed_by or "").strip()
        if not signed_by:
            raise UserError(self.env._("Type your name to accept the agreement."))
        if agreement.state != "proposed":
            raise UserError(
                self.env._("This agreement is not waiting for your acceptance any more.")
            )
        if agreement.signed_on:
            # Accepted already, waiting for a collection manager's approval: once.
            raise UserError(
                self.env._("You already accepted this agreement: it starts once we approve it.")
            )
        today = fields.Date.context_today(agreement)
        agreement._collection_check_plan(today, past_dates=False)
        agreement._collection_workflow_write(
            {
                "signed_by": signed_by,
                "signed_on": fields.Datetime.now(),
                "signature": signature or False,
            }
        )
        agreement.message_post(
            body=self.env._("Accepted on the portal by %(name)s.", name=signed_by),
            author_id=agreement.partner_id.id,
            message_type="comment",
            subtype_xmlid="mail.mt_note",
        )
        if agreement.approval_required and not agreement.approved_user_id:
            agreement._collection_log_interaction(
                "portal",
                self.env._(
                    "Payment agreement %(agreement)s accepted on the portal by %(name)s; it "
                    "awaits a collection manager's approval.",
                    agreement=agreement.name,
                    name=signed_by,
                ),
                automatic=False,
            )
            if agreement.user_id:
                agreement.activity_schedule(
                    "mail.mail_activity_data_todo",
                    date_deadline=today,
                    summary=self.env._(
                        "Accepted by the customer: get a collection manager's approval to start it"
                    ),
                    user_id=agreement.user_id.id,
                )
            return True
        agreement._collection_activate(channel="portal")
        return True

    # ------------------------------------------------------------------
    # Workflow and ledger (run as superuser by the callers, after their checks)
    # ------------------------------------------------------------------

    def _collection_activate(self, channel):
        self.ensure_one()
        today = fields.Date.context_today(self)
        vals = {"state": "active", "date_closed": False}
        if not self.signed_on:
            vals["signed_on"] = fields.Datetime.now()
        self._collection_workflow_write(vals)
        self._collection_create_charges_move(today)
        summary = self.env._(
            "Payment agreement %(agreement)s started: %(total)s in %(count)s instalments, the "
            "first on %(date)s.",
            agreement=self.name,
            total=format_amount(self.env, self.amount_total, self.currency_id),
            count=len(self.instalment_ids),
            date=format_date(
                self.env, self.instalment_ids.sorted(lambda i: (i.date, i.sequence))[:1].date
            ),
        )
        self.message_post(body=summary)
        status = self._collection_customer_status_after("committed")
        self._collection_log_interaction(channel, summary, status_after=status)
        self._collection_note_on_customer(self.env._("Payment agreement started:"), status=status)
        # Payments made since the start date may already count.
        self._collection_evaluate(today)

    def _collection_create_charges_move(self, today):
        """Invoice the interest and fee, so that the instalments can be paid in full
        against invoices."""
        self.ensure_one()
        if self.charges_move_id or float_is_zero(
            self.charges_amount, precision_rounding=self.currency_id.rounding
        ):
            return
        journal = self.env["account.journal"].search(
            [
                *self.env["account.journal"]._check_company_domain(self.company_id),
                ("type", "=", "sale"),
            ],
            limit=1,
        )
        if not journal or not journal.default_account_id:
            raise UserError(
                self.env._(
                    "The interest and fee of %(agreement)s cannot be invoiced: %(company)s has no "
                    "sales journal with an income account.",
                    agreement=self.name,
                    company=self.company_id.name,
                )
            )
        last_date = max(self.instalment_ids.mapped("date"))
        move = (
            self.env["account.move"]
            .with_company(self.company_id)
            .create(
                {
                    "move_type": "out_invoice",
                    "partner_id": self.partner_id.id,
                    "journal_id": journal.id,
                    "currency_id": self.currency_id.id,
                    "invoice_date": today,
                    "invoice_date_due": last_date,
                    "invoice_origin": self.name,
                    "invoice_line_ids": [
                        Command.create(
                            {
                                "name": self.env._(
                                    "Payment agreement %(agreement)s: interest and fee",
                                    agreement=self.name,
                                ),
                                "quantity": 1,
                                "price_unit": self.charges_amount,
                                "account_id": journal.default_account_id.id,
                                "tax_ids": [Command.clear()],
                            }
                        )
                    ],
                }
            )
        )
        move.action_post()
        self._collection_workflow_write({"charges_move_id": move.id})

    def _collection_covered_moves(self):
        self.ensure_one()
        return self.move_ids | self.charges_move_id

    def _collection_payments(self):
        """{agreement id: paid}: payments (not credit notes) reconciled with the covered
        invoices (the charges invoice included) and dated from the start date on, in
        company currency."""
        if not self:
            return {}
        self.env["account.partial.reconcile"].flush_model()
        self.env["account.move.line"].flush_model(["move_id", "date", "account_id"])
        self.env["account.move"].flush_model(["move_type"])
        self.flush_model(["date_start", "charges_move_id", "move_ids"])
        rows = self.env.execute_query(
            SQL(
                """
                WITH covered AS (
                    SELECT collection_agreement_id AS agreement_id, account_move_id AS move_id
                      FROM collection_agreement_account_move_rel
                     WHERE collection_agreement_id IN %(ids)s
                     UNION
                    SELECT id, charges_move_id
                      FROM collection_agreement
                     WHERE id IN %(ids)s AND charges_move_id IS NOT NULL
                )
                SELECT covered.agreement_id, SUM(apr.amount)
                  FROM covered
                  JOIN collection_agreement agreement ON agreement.id = covered.agreement_id
                  JOIN account_move_line inv_line ON inv_line.move_id = covered.move_id
                  JOIN account_account inv_account ON inv_account.id = inv_line.account_id
                                                  AND inv_account.account_type = 'asset_receivable'
                  JOIN account_partial_reconcile apr ON apr.debit_move_id = inv_line.id
                  JOIN account_move_line pay_line ON pay_line.id = apr.credit_move_id
                  JOIN account_move pay_move ON pay_move.id = pay_line.move_id
                 WHERE pay_move.move_type = 'entry'
                   AND pay_line.date >= agreement.date_start
                 GROUP BY covered.agreement_id
                """,
                ids=tuple(self.ids),
            )
        )
        return dict(rows)

    def _collection_evaluate(self, today=None):
        """Bring active agreements in line with the ledger. The payments count toward
        the instalments in date order (each one is paid before the next gets anything).
        An instalment not paid in full once its date plus the grace period has passed is
        missed, and breaks the agreement; when everything is paid (or nothing is left
        open on its invoices) the agreement is completed."""
        today = today or fields.Date.context_today(self)
        agreements = self.filtered(lambda a: a.state == "active")
        paid = agreements._collection_payments()
        for agreement in agreements:
            currency = agreement.currency_id
            rounding = currency.rounding
            total_paid = paid.get(agreement.id, 0.0)
            if float_compare(total_paid, agreement.amount_paid, precision_rounding=rounding):
                agreement._collection_workflow_write({"amount_paid": total_paid})
            grace = agreement.company_id.collection_agreement_grace_days
            left = total_paid
            missed = agreement.instalment_ids.browse()
            for instalment in agreement.instalment_ids.sorted(lambda i: (i.date, i.sequence, i.id)):
                allotted = currency.round(min(instalment.amount, max(left, 0.0)))
                left -= allotted
                if float_compare(allotted, instalment.amount, precision_rounding=rounding) >= 0:
                    state = "paid"
                elif today > days_after(instalment.date, grace):
                    state = "missed"
                    missed |= instalment
                elif not float_is_zero(allotted, precision_rounding=rounding):
                    state = "partial"
                else:
                    state = "pending"
                if instalment.state != state or float_compare(
                    instalment.amount_paid, allotted, precision_rounding=rounding
                ):
                    instalment._collection_workflow_write({"state": state, "amount_paid": allotted})
            all_paid = all(i.state == "paid" for i in agreement.instalment_ids)
            settled = all(
                move.payment_state not in OPEN_PAYMENT_STATES
                for move in agreement._collection_covered_moves()
            )
            if all_paid or settled:
                agreement._collection_complete(today)
            elif missed:
                agreement._collection_break(today, missed[0])

    def _collection_complete(self, today):
        self.ensure_one()
        self._collection_workflow_write({"state": "completed", "date_closed": today})
        summary = self.env._(
            "Payment agreement %(agreement)s completed: %(total)s paid.",
            agreement=self.name,
            total=format_amount(self.env, self.amount_paid, self.currency_id),
        )
        self.message_post(body=summary)
        self._collection_after_end(
            self._collection_customer_status_after("kept"), summary, automatic=True
        )

    def _collection_break(self, today, instalment):
        self.ensure_one()
        self._collection_workflow_write({"state": "broken", "date_closed": today})
        summary = self.env._(
            "Payment agreement %(agreement)s broken: the instalment of %(date)s was not paid "
            "(%(paid)s of %(amount)s). Reminders resume on its invoices.",
            agreement=self.name,
            date=format_date(self.env, instalment.date),
            paid=format_amount(self.env, instalment.amount_paid, self.currency_id),
            amount=format_amount(self.env, instalment.amount, self.currency_id),
        )
        self.message_post(body=summary)
        self._collection_after_end(
            self._collection_customer_status_after("broken"), summary, automatic=True
        )
        collector = self.user_id or self.partner_id.with_company(self.company_id).collection_user_id
        self.activity_schedule(
            "account_collection.mail_activity_type_broken_agreement",
            date_deadline=today,
            summary=summary,
            user_id=collector.id or self.env.uid,
        )

    def _collection_after_end(self, status, summary, automatic):
        """The agreement stopped (completed, broken or cancelled): log it, note it on the
        customer and set the customer's status."""
        self.ensure_one()
        self._collection_log_interaction("note", summary, status_after=status, automatic=automatic)
        self._collection_note_on_customer(summary, status=status)

    def _collection_interaction_moves(self):
        return self._collection_covered_moves()

    @api.model
    def _cron_evaluate_agreements(self, batch_size=100):
        """Daily: follow the active agreements (missed instalments, completion), in
        committed batches, so an interrupted run resumes where it stopped. A batch that
        fails is run again one agreement at a time; a failing agreement gets the error on
        its chatter."""
        today = fields.Date.context_today(self)
        # sudo: the daily check follows the ledger for every portfolio.
        self.sudo()._collection_cron_process(
            [("state", "=", "active")],
            lambda agreements: agreements._collection_evaluate(today),
            lambda error: self.env._(
                "The daily check of this agreement failed: %(error)s", error=str(error)
            ),
            batch_size=batch_size,
        )

    # === DUNNING RULE === #

    @api.model
    def _dunning_exclusion_sql(self, move_sql, today):
        """Dunning rule: TRUE when the invoice ``move_sql`` (an SQL expression of its
        id) is covered by an active payment agreement, as one of its invoices or as its
        charges: the agreement's instalments replace the reminders. ``today`` is unused
        (the same signature as the other exclusions)."""
        self.flush_model(["state", "move_ids", "charges_move_id"])
        return SQL(
            """EXISTS (
                SELECT 1
                  FROM collection_agreement ag
                  LEFT JOIN collection_agreement_account_move_rel arel
                    ON arel.collection_agreement_id = ag.id
                   AND arel.account_move_id = %(move)s
                 WHERE ag.state = 'active'
                   AND (arel.account_move_id IS NOT NULL OR ag.charges_move_id = %(move)s))""",
            move=move_sql,
        )

    # === DATA ENTRY === #

    @api.onchange("partner_id")
    def _onchange_partner_id_propose(self):
        """A new agreement proposes what it settles: the customer's open invoices that
        no other live agreement holds, oldest due first, and the customer's collector."""
        if self.state != "draft" or not self.partner_id:
            return
        partner = self.partner_id.commercial_partner_id
        company = self.company_id or self.env.company
        held = (
            self.env["collection.agreement"]
            .sudo()  # sudo: an agreement the user cannot see still holds its invoices.
            .search(
                [
                    ("partner_id", "=", partner.id),
                    ("state", "in", LIVE_STATES),
                    ("id", "not in", self._origin.ids),
                ]
            )
            .move_ids
        )
        invoices = self.env["account.move"].search(
            [
                ("commercial_partner_id", "=", partner.id),
                ("company_id", "=", company.id),
                ("move_type", "=", "out_invoice"),
                ("state", "=", "posted"),
                ("payment_state", "in", OPEN_PAYMENT_STATES),
                ("id", "not in", held.ids),
            ],
            order="invoice_date_due, id",
        )
        if self.move_ids.commercial_partner_id != partner or not self.move_ids:
            self.move_ids = invoices
        collector = partner.with_company(company).collection_user_id
        if collector:
            self.user_id = collector
