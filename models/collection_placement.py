import csv
import io
from datetime import timedelta

from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tools import SQL, format_amount, format_date

from .collection_case_mixin import is_open_invoice

# A placement in this state holds its invoices: the agency works them, the automatic
# reminders leave them alone.
ACTIVE_STATE = "placed"

# Fields written by placing, recalling, closing and by the ledger only, never by a user.
ENGINE_FIELDS = {
    "state",
    "date_placed",
    "date_recalled",
    "date_closed",
    "amount_placed",
    "amount_collected",
    "stage_before_id",
    "partner_id",
    "company_id",
    "move_ids",
}

# Columns of the CSV of open items sent to the agency.
CSV_HEADER = (
    "invoice",
    "invoice_date",
    "due_date",
    "days_overdue",
    "amount_total",
    "amount_due",
    "currency",
    "customer",
    "customer_vat",
)


class CollectionPlacement(models.Model):
    """Invoices of a customer handed over to a collection agency or a lawyer.

    Placing (``_collection_place``, from the *Place with Agency* dialog) sends the
    agency its pack by email (the collection dossier, the statement of account and a
    CSV of the open items), stops the automatic reminders of the invoices
    (``_dunning_exclusion_sql``, read by the dunning run and by the reminders at
    sending) and moves the customer to the company's placement stage. The ledger
    follows it (``_collection_follow_ledger``): the payments received on its invoices
    while placed are what the agency collected, its commission is owed on them, and
    once every invoice is paid the placement is *Collected*. Recalling it gives the
    invoices back to the reminders. Each step is logged on the customer's interaction
    log."""

    _name = "collection.placement"
    _description = "Agency Placement"
    _inherit = ["collection.case.mixin", "mail.thread", "mail.activity.mixin"]
    _order = "date_placed desc, id desc"
    _check_company_auto = True

    name = fields.Char(compute="_compute_name", store=True)
    move_ids = fields.Many2many(
        "account.move",
        "collection_placement_account_move_rel",
        "collection_placement_id",
        "account_move_id",
        required=True,
        readonly=True,
        help="The customer's invoices the agency collects: they get no automatic reminder "
        "while placed.",
    )
    invoice_names = fields.Char(
        string="Invoice Numbers", compute="_compute_invoice_names", store=True
    )
    agency_id = fields.Many2one(
        "res.partner",
        string="Agency",
        required=True,
        tracking=True,
        index=True,
        ondelete="restrict",
        domain="[('collection_is_agency', '=', True)]",
        help="The collection agency or lawyer the invoices are placed with.",
    )
    commission_percent = fields.Float(
        string="Commission (%)",
        compute="_compute_commission_percent",
        store=True,
        readonly=False,
        precompute=True,
        tracking=True,
        digits=(5, 2),
        help="Share of what the agency collects that it is owed; from the agency by default.",
    )
    user_id = fields.Many2one(string="Placed By", default=lambda self: self.env.user)
    state = fields.Selection(
        [
            ("placed", "Placed"),
            ("recalled", "Recalled"),
            ("collected", "Collected"),
            ("closed", "Closed"),
        ],
        default="placed",
        required=True,
        readonly=True,
        copy=False,
        tracking=True,
        index=True,
    )
    date_placed = fields.Date(
        string="Placed On", required=True, readonly=True, copy=False, default=fields.Date.today
    )
    date_recalled = fields.Date(string="Recalled On", readonly=True, copy=False)
    date_closed = fields.Date(string="Closed On", readonly=True, copy=False)
    amount_placed = fields.Monetary(
        string="Amount Placed",
        readonly=True,
        copy=False,
        help="What the customer owed on the placed invoices when they were placed.",
    )
    amount_collected = fields.Monetary(
        string="Collected",
        readonly=True,
        copy=False,
        help="Payments received on the placed invoices after the day they were placed, until "
        "the day they were recalled: what the agency collected.",
    )
    commission_amount = fields.Monetary(
        string="Commission Owed",
        compute="_compute_commission_amount",
        store=True,
        help="The agency's commission on what it collected.",
    )
    amount_open = fields.Monetary(
        string="Still Due",
        compute="_compute_amount_open",
        help="What the customer still owes on the placed invoices.",
    )
    stage_before_id = fields.Many2one(
        "collection.stage",
        string="Stage Before",
        readonly=True,
        copy=False,
        ondelete="set null",
        help="The customer's stage before placing: recalling moves it back there.",
    )
    note = fields.Text(
        string="Instructions", help="What the agency is asked to do, sent with the pack."
    )
    payment_line_ids = fields.Many2many(
        "account.move.line",
        string="Payments Received",
        compute="_compute_payment_line_ids",
        help="The payments received on the placed invoices while placed.",
    )

    # === COMPUTE METHODS === #

    @api.depends("partner_id", "agency_id")
    def _compute_name(self):
        for placement in self:
            placement.name = " → ".join(
                filter(None, [placement.partner_id.name, placement.agency_id.name])
            )

    @api.depends("move_ids")
    def _compute_invoice_names(self):
        for placement in self:
            placement.invoice_names = ", ".join(placement.move_ids.sorted("name").mapped("name"))

    @api.depends("agency_id")
    def _compute_commission_percent(self):
        for placement in self:
            placement.commission_percent = placement.agency_id.collection_agency_commission

    @api.depends("amount_collected", "commission_percent", "currency_id")
    def _compute_commission_amount(self):
        for placement in self:
            amount = placement.amount_collected * placement.commission_percent / 100.0
            currency = placement.currency_id
            placement.commission_amount = currency.round(amount) if currency else amount

    def _compute_amount_open(self):
        for placement in self:
            placement.amount_open = sum(
                placement.move_ids.filtered(lambda m: m.state == "posted").mapped(
                    "amount_residual_signed"
                )
            )

    def _compute_payment_line_ids(self):
        lines = {}
        for placement_id, line_id, _amount in self._collection_collected_rows():
            lines.setdefault(placement_id, []).append(line_id)
        for placement in self:
            placement.payment_line_ids = [fields.Command.set(lines.get(placement.id, []))]

    # === CONSTRAINTS === #

    @api.constrains("move_ids", "partner_id")
    def _check_move_ids(self):
        self._collection_check_moves()
        self._collection_check_moves_exclusive(
            (ACTIVE_STATE,),
            lambda shared, other: self.env._(
                "These invoices are already placed with %(agency)s: %(invoices)s",
                agency=other.agency_id.display_name,
                invoices=", ".join(shared.mapped("name")),
            ),
        )

    @api.constrains("commission_percent")
    def _check_commission_percent(self):
        for placement in self:
            if not 0.0 <= placement.commission_percent <= 100.0:
                raise ValidationError(
                    self.env._("An agency's commission is between 0 and 100 percent.")
                )

    def _collection_not_open_error(self, moves):
        return self.env._(
            "Only invoices still to be paid can be placed with an agency: %(invoices)s",
            invoices=", ".join(moves.mapped("display_name")),
        )

    # === CRUD === #

    @api.model_create_multi
    def create(self, vals_list):
        if not self.env.su:
            self.check_access("create")
            raise UserError(
                self.env._(
                    "Invoices are placed with an agency with the Place with Agency button of "
                    "the customer or of the invoices."
                )
            )
        return super().create(vals_list)

    def write(self, vals):
        if not self.env.su:
            self.check_access("write")
            if ENGINE_FIELDS & set(vals):
                raise UserError(
                    self.env._(
                        "The invoices, dates, state and amounts of a placement are set by "
                        "placing, recalling and closing it, and by the payments received."
                    )
                )
            self._collection_check_manager()
            if self.filtered(lambda p: p.state != ACTIVE_STATE):
                raise UserError(self.env._("Only a placement still placed can be changed."))
        return super().write(vals)

    @api.ondelete(at_uninstall=False)
    def _unlink_except_evidence(self):
        raise UserError(
            self.env._(
                "A placement is evidence of what was handed over to an agency and cannot be "
                "deleted: recall or close it."
            )
        )

    # === ACTIONS === #

    def action_recall(self):
        """Take the invoices back from the agency: their reminders resume."""
        self._collection_check_manager()
        for placement in self:
            placement._collection_recall()

    def action_close(self):
        """The agency's work on these invoices is over (its commission settled, or it
        gave up): a placement still placed gives the invoices back to the reminders."""
        self._collection_check_manager()
        for placement in self:
            placement._collection_close()

    def action_resend_pack(self):
        """Send the agency its pack again, with today's documents."""
        self._collection_check_manager()
        for placement in self:
            if placement.state != ACTIVE_STATE:
                raise UserError(self.env._("Only a placement still placed is sent again."))
            placement._collection_send_pack()

    def action_open_invoices(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_window",
            "name": self.env._("Placed Invoices"),
            "res_model": "account.move",
            "view_mode": "list,form",
            "domain": [("id", "in", self.move_ids.ids)],
            "context": {"create": False},
        }

    # === RIGHTS === #

    def _collection_check_manager(self):
        """Raise unless the current user is a collection manager: placing with an
        agency, recalling and closing are theirs."""
        if self.env.su or self.env.user.has_group("account_collection.group_collection_manager"):
            return
        raise AccessError(
            self.env._("Only collection managers can place invoices with an agency or recall them.")
        )

    # === PLACING === #

    @api.model
    def _collection_place(self, moves, agency, commission_percent=None, note=False):
        """Place the invoices ``moves`` (one customer's, in one company) with ``agency``:
        the placement is created, the agency gets its pack by email, the customer moves
        to the company's placement stage and the placing is logged. The rights and the
        input are checked first; nothing is written when one check fails.

        :return: the new ``collection.placement``
        """
        self._collection_check_manager()
        if not moves:
            raise UserError(self.env._("Select the invoices to place with the agency."))
        moves.check_access("read")
        partner = moves.commercial_partner_id
        if len(partner) != 1 or len(moves.company_id) != 1:
            raise UserError(
                self.env._("The invoices placed together are those of one customer and company.")
            )
        company = moves.company_id
        if company not in self.env.user.company_ids:
            raise AccessError(self.env._("You do not work for the company of these invoices."))
        not_open = moves.filtered(lambda m: not is_open_invoice(m))
        if not_open:
            raise UserError(self._collection_not_open_error(not_open))
        if not agency:
            raise UserError(self.env._("Choose the agency the invoices are placed with."))
        agency.check_access("read")
        if not agency.collection_is_agency:
            raise UserError(
                self.env._(
                    "%(partner)s is not a collection agency: tick Collection Agency on its "
                    "contact first.",
                    partner=agency.display_name,
                )
            )
        if agency.commercial_partner_id == partner:
            raise UserError(self.env._("A customer cannot be its own collection agency."))
        if not agency.email:
            raise UserError(
                self.env._(
                    "%(agency)s has no email address: add one to send it the pack.",
                    agency=agency.display_name,
                )
            )
        customer = partner.with_company(company)
        customer._collection_check_access()
        if commission_percent is None:
            commission_percent = agency.collection_agency_commission
        # sudo: placements are created by placing only; the manager's rights on the
        # invoices, the customer and the agency were checked above.
        placement = (
            self.sudo()
            .with_company(company)
            .create(
                {
                    "partner_id": partner.id,
                    "company_id": company.id,
                    "agency_id": agency.id,
                    "commission_percent": commission_percent,
                    "move_ids": [fields.Command.set(moves.ids)],
                    "date_placed": company._collection_today(),
                    "amount_placed": sum(moves.mapped("amount_residual_signed")),
                    "stage_before_id": customer.collection_stage_id.id,
                    "user_id": self.env.uid,
                    "note": note or False,
                }
            )
            .sudo(False)
        )
        stage = company.collection_placement_stage_id
        if stage and customer.collection_stage_id != stage:
            customer._collection_write_portfolio({("collection_stage_id", stage.id): customer})
        placement._collection_send_pack()
        text = self.env._(
            "Placed with %(agency)s (commission %(commission)s%%), reminders stopped: %(invoices)s",
            agency=agency.display_name,
            commission=f"{placement.commission_percent:g}",
            invoices=placement.invoice_names,
        )
        placement._collection_log_interaction("email", text, outcome="sent")
        placement._collection_note_on_customer(text)
        return placement

    def _collection_recall(self):
        self.ensure_one()
        if self.state != ACTIVE_STATE:
            raise UserError(self.env._("Only a placement still placed can be recalled."))
        company = self.company_id
        self.sudo().write({"state": "recalled", "date_recalled": company._collection_today()})
        self._collection_restore_stage()
        text = self.env._(
            "Recalled from %(agency)s, reminders resume: %(invoices)s",
            agency=self.agency_id.display_name,
            invoices=self.invoice_names,
        )
        self.message_post(body=text, subtype_xmlid="mail.mt_note")
        self._collection_log_interaction("note", text)
        self._collection_note_on_customer(text)

    def _collection_close(self):
        self.ensure_one()
        if self.state == "closed":
            raise UserError(self.env._("This placement is already closed."))
        was_placed = self.state == ACTIVE_STATE
        self.sudo().write({"state": "closed", "date_closed": self.company_id._collection_today()})
        if was_placed:
            self._collection_restore_stage()
            text = self.env._(
                "Placement with %(agency)s closed, reminders resume: %(invoices)s",
                agency=self.agency_id.display_name,
                invoices=self.invoice_names,
            )
            self._collection_log_interaction("note", text)
            self._collection_note_on_customer(text)
        else:
            text = self.env._("Placement closed.")
        self.message_post(body=text, subtype_xmlid="mail.mt_note")

    def _collection_restore_stage(self):
        """Move the customer back to its stage before placing, when it is still in the
        placement stage and no other placement holds it there."""
        customer = self._collection_customer()
        stage = self.company_id.collection_placement_stage_id
        if not stage or customer.collection_stage_id != stage or not self.stage_before_id:
            return
        # sudo: another manager's placement of the customer still holds the stage.
        others = self.sudo().search_count(
            [
                ("id", "!=", self.id),
                ("partner_id", "=", customer.id),
                ("company_id", "=", self.company_id.id),
                ("state", "=", ACTIVE_STATE),
            ]
        )
        if others:
            return
        customer._collection_write_portfolio(
            {("collection_stage_id", self.stage_before_id.id): customer}
        )

    # === THE PACK === #

    def _collection_pack_attachments(self):
        """The pack's documents, in the customer's language: ``[(file name, bytes,
        mimetype)]`` (the collection dossier, the statement of account, the open items
        as CSV)."""
        self.ensure_one()
        customer = self._collection_customer()
        lang = self.agency_id.lang or customer.lang or self.env.user.lang
        Report = self.env["ir.actions.report"].with_company(self.company_id).with_context(lang=lang)
        dossier, _type = Report._render_qweb_pdf(
            "account_collection.action_report_collection_dossier", customer.ids
        )
        statement = customer.with_context(lang=lang)._collection_statement_pdf()
        reference = (customer.ref or customer.name or str(customer.id)).replace("/", "-")
        return [
            (
                self.env._("Collection dossier - %(customer)s.pdf", customer=reference),
                dossier,
                "application/pdf",
            ),
            (
                self.env._("Statement of account - %(customer)s.pdf", customer=reference),
                statement,
                "application/pdf",
            ),
            (
                self.env._("Open items - %(customer)s.csv", customer=reference),
                self._collection_open_items_csv(),
                "text/csv",
            ),
        ]

    def _collection_open_items_csv(self):
        """The placed invoices still open, one row each, as UTF-8 CSV bytes."""
        self.ensure_one()
        today = self.company_id._collection_today()
        customer = self.partner_id
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_HEADER)
        for move in self.move_ids.sorted(lambda m: (m.invoice_date_due or m.date, m.id)):
            if not is_open_invoice(move):
                continue
            due = move.invoice_date_due or move.date
            writer.writerow(
                (
                    move.name,
                    fields.Date.to_string(move.invoice_date or move.date),
                    fields.Date.to_string(due),
                    max((today - due).days, 0),
                    f"{move.amount_total:.{move.currency_id.decimal_places}f}",
                    f"{move.amount_residual:.{move.currency_id.decimal_places}f}",
                    move.currency_id.name,
                    customer.name,
                    customer.vat or "",
                )
            )
        return buffer.getvalue().encode("utf-8")

    def _collection_send_pack(self):
        """Email the agency its pack through Odoo's mail queue, from the placement's
        chatter: the message of the placement template with the documents attached."""
        self.ensure_one()
        template = self.env.ref(
            "account_collection.mail_template_collection_placement", raise_if_not_found=False
        )
        attachments = self.env["ir.attachment"]
        for name, content, mimetype in self._collection_pack_attachments():
            # sudo: the pack is the placement's, which the manager placed.
            attachments |= (
                self.env["ir.attachment"]
                .sudo()
                .create(
                    {
                        "name": name,
                        "raw": content,
                        "mimetype": mimetype,
                        "res_model": self._name,
                        "res_id": self.id,
                    }
                )
            )
        if template:
            lang = template._render_lang(self.ids)[self.id]
            rendered = template.with_context(lang=lang)
            subject = rendered._render_field("subject", self.ids)[self.id]
            body = rendered._render_field("body_html", self.ids)[self.id]
        else:
            subject = self.env._("Placement: %(customer)s", customer=self.partner_id.name)
            body = Markup("<p>%s</p>") % self.invoice_names
        self.message_post(
            body=body,
            subject=subject,
            partner_ids=self.agency_id.ids,
            attachment_ids=attachments.ids,
            message_type="comment",
            subtype_xmlid="mail.mt_comment",
            email_layout_xmlid="mail.mail_notification_light",
        )

    # === FOLLOWING THE LEDGER === #

    def _collection_collected_rows(self):
        """[(placement id, payment journal item id, amount)]: the payments (not credit
        notes nor other entries) reconciled with the placed invoices, dated after the
        day of placing until the day of recall, in company currency."""
        ids = [placement_id for placement_id in self.ids if placement_id]
        if not ids:
            return []
        self.env["account.partial.reconcile"].flush_model()
        self.env["account.move.line"].flush_model(["move_id", "date", "account_id"])
        self.env["account.move"].flush_model(
            ["move_type", "origin_payment_id", "statement_line_id"]
        )
        self.flush_model(["date_placed", "date_recalled", "move_ids"])
        return self.env.execute_query(
            SQL(
                """
                SELECT rel.collection_placement_id, pay_line.id, SUM(apr.amount)
                  FROM collection_placement_account_move_rel rel
                  JOIN collection_placement pl ON pl.id = rel.collection_placement_id
                  JOIN account_move_line inv_line ON inv_line.move_id = rel.account_move_id
                  JOIN account_account inv_account ON inv_account.id = inv_line.account_id
                                                  AND inv_account.account_type = 'asset_receivable'
                  JOIN account_partial_reconcile apr ON apr.debit_move_id = inv_line.id
                  JOIN account_move_line pay_line ON pay_line.id = apr.credit_move_id
                  JOIN account_move pay_move ON pay_move.id = pay_line.move_id
                 WHERE rel.collection_placement_id IN %(ids)s
                   AND pay_move.move_type = 'entry'
                   AND (pay_move.origin_payment_id IS NOT NULL
                        OR pay_move.statement_line_id IS NOT NULL)
                   AND pay_line.date > pl.date_placed
                   AND (pl.date_recalled IS NULL OR pay_line.date <= pl.date_recalled)
                 GROUP BY rel.collection_placement_id, pay_line.id
                 ORDER BY rel.collection_placement_id, pay_line.id
                """,
                ids=tuple(ids),
            )
        )

    @api.model
    def _collection_follow_ledger(self, moves):
        """The journal entries ``moves`` were reconciled or unreconciled: the
        placements on the invoices among them take what was collected from the ledger.
        As superuser: the ledger drives the placements, whoever reconciled."""
        invoices = moves.filtered(lambda m: m.move_type == "out_invoice")
        if not invoices:
            return
        # sudo: the ledger drives the placements, whoever reconciled the payment.
        placements = self.sudo().search(
            [("move_ids", "in", invoices.ids), ("state", "in", ("placed", "collected", "recalled"))]
        )
        placements._collection_evaluate()

    def _collection_evaluate(self):
        """Bring these placements in line with the ledger: what they collected (a
        payment received while placed is noted with the commission it owes), *Collected*
        once every invoice is paid (*Closed* when none of it was paid while placed: a
        credit note, a write-off), *Placed* again when a payment is unmatched."""
        collected = {}
        for placement_id, _line_id, amount in self._collection_collected_rows():
            collected[placement_id] = collected.get(placement_id, 0.0) + float(amount)
        for placement in self:
            currency = placement.currency_id
            amount = currency.round(collected.get(placement.id, 0.0))
            received = amount - placement.amount_collected
            if not currency.is_zero(received):
                placement.write({"amount_collected": amount})
                if received > 0:
                    placement.message_post(
                        body=self.env._(
                            "Payment of %(amount)s received while placed: commission owed "
                            "%(commission)s (%(percent)s%%), %(total)s in all.",
                            amount=format_amount(self.env, received, currency),
                            commission=format_amount(
                                self.env,
                                received * placement.commission_percent / 100.0,
                                currency,
                            ),
                            percent=f"{placement.commission_percent:g}",
                            total=format_amount(self.env, placement.commission_amount, currency),
                        ),
                        subtype_xmlid="mail.mt_note",
                    )
            paid = not placement.move_ids.filtered(is_open_invoice)
            if placement.state == ACTIVE_STATE and paid:
                if currency.is_zero(placement.amount_collected):
                    placement._collection_set_settled()
                else:
                    placement._collection_set_collected()
            elif placement.state == "collected" and not paid:
                placement.write({"state": ACTIVE_STATE, "date_closed": False})
                placement.message_post(
                    body=self.env._("A payment was unmatched: the invoices are placed again."),
                    subtype_xmlid="mail.mt_note",
                )

    def _collection_set_collected(self):
        """Every placed invoice is paid: the placement is *Collected* (as superuser, by
        the ledger)."""
        self.ensure_one()
        today = self.company_id._collection_today()
        self.write({"state": "collected", "date_closed": today})
        text = self.env._(
            "Collected by %(agency)s on %(day)s: %(amount)s, commission owed %(commission)s.",
            agency=self.agency_id.display_name,
            day=format_date(self.env, today),
            amount=format_amount(self.env, self.amount_collected, self.currency_id),
            commission=format_amount(self.env, self.commission_amount, self.currency_id),
        )
        self.message_post(body=text, subtype_xmlid="mail.mt_note")
        self._collection_log_interaction("note", text, automatic=True)

    @api.model
    def _collection_placed_move_ids(self):
        """The ids of the invoices placed with an agency now (any company)."""
        # sudo: another portfolio's placement still holds its invoices.
        return self.sudo().search([("state", "=", ACTIVE_STATE)]).move_ids.ids

    def _collection_set_settled(self):
        """Every placed invoice is settled, none by a payment while placed (a credit
        note, a write-off): the placement is *Closed*, no commission is owed (as
        superuser, by the ledger)."""
        self.ensure_one()
        self.write({"state": "closed", "date_closed": self.company_id._collection_today()})
        text = self.env._(
            "The invoices placed with %(agency)s were settled without a payment (a credit "
            "note or a write-off): placement closed, no commission owed.",
            agency=self.agency_id.display_name,
        )
        self.message_post(body=text, subtype_xmlid="mail.mt_note")
        self._collection_log_interaction("note", text, automatic=True)

    # === DEMO DATA === #

    @api.model
    def _demo_place(self, move_ids, agency_id, days_ago, state=ACTIVE_STATE, note=False):
        """The demo's placements, placed as a manager places them (``_collection_place``)
        and dated ``days_ago`` days before today, then recalled or closed when ``state``
        says so."""
        moves = self.env["account.move"].browse(move_ids)
        placement = self._collection_place(
            moves, self.env["res.partner"].browse(agency_id), note=note
        )
        today = placement.company_id._collection_today()
        placement.sudo().write({"date_placed": today - timedelta(days=days_ago)})
        if state == "recalled":
            placement.action_recall()
        elif state == "closed":
            placement.action_close()
        return placement

    # === DUNNING RULE === #

    @api.model
    def _dunning_exclusion_sql(self, move_sql, today):
        """Dunning rule: TRUE when the invoice ``move_sql`` (an SQL expression of its
        id) is placed with an agency: the agency works it, no reminder goes.
        ``today`` is unused (the same signature as the other exclusions)."""
        self.flush_model(["state", "move_ids"])
        return SQL(
            """EXISTS (
                SELECT 1
                  FROM collection_placement_account_move_rel prel
                  JOIN collection_placement pl ON pl.id = prel.collection_placement_id
                 WHERE prel.account_move_id = %(move)s
                   AND pl.state = %(state)s)""",
            move=move_sql,
            state=ACTIVE_STATE,
        )
