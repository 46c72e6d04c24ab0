import logging
from datetime import date, timedelta

from markupsafe import Markup, escape

from odoo import api, fields, models
from odoo.exceptions import AccessError, UserError, ValidationError

_logger = logging.getLogger(__name__)

# Payment states of an invoice still to be paid.
OPEN_PAYMENT_STATES = ("not_paid", "partial")

# The customer of a case: a company, or a person who is not a contact of one.
COMMERCIAL_PARTNER_DOMAIN = "['|', ('is_company', '=', True), ('parent_id', '=', False)]"

# The invoices a case may cover: the customer's posted invoices still to be paid.
OPEN_INVOICES_DOMAIN = (
    "[('commercial_partner_id', '=', partner_id), ('move_type', '=', 'out_invoice'),"
    " ('state', '=', 'posted'), ('payment_state', 'in', ('not_paid', 'partial'))]"
)


# A dispute in one of these states pauses the reminders of its invoices.
DISPUTE_OPEN_STATES = ("open", "in_progress")

# Who may read invoices: collectors and billing users. A responsible outside them (a
# salesperson, a warehouse manager) reads the invoice numbers of their disputes only.
ACCOUNTING_READERS = "account_collection.group_collection_user,account.group_account_invoice"


def days_after(day, days):
    """``day`` plus ``days`` days, kept within the calendar: the calendar's last (or
    first) day when the sum falls beyond it. A date stored near the end of the calendar
    (a promise of year 9999) must not stop the ledger's checks."""
    try:
        return day + timedelta(days=days)
    except OverflowError:
        return date.max if days > 0 else date.min


def text_to_html(text):
    """What someone typed (a customer on the portal, a collector in a text field), as
    HTML that shows it as typed: escaped, its line breaks kept, and no link made of
    its addresses (unlike ``plaintext2html``): customer text is text everywhere."""
    return Markup("<br/>").join(escape(line) for line in (text or "").splitlines())


def is_open_invoice(move):
    """Whether ``move`` is a posted customer invoice still to be paid."""
    return (
        move.state == "posted"
        and move.move_type == "out_invoice"
        and move.payment_state in OPEN_PAYMENT_STATES
    )


class CollectionCaseMixin(models.AbstractModel):
    """A collection case: something about a customer's invoices in one company (a
    promise to pay, a dispute, a payment agreement, an interaction).

    Gives the customer ``partner_id`` (a commercial partner), ``company_id``, its
    ``currency_id``, the collector ``user_id`` and the invoices ``move_ids``, offered
    among the customer's open invoices; ``_collection_check_moves`` (the invoices are the
    customer's and open), ``_collection_note_on_customer`` (a note on the customer's
    chatter with a link to the case) and ``_collection_log_interaction`` (a
    ``collection.interaction`` about the case and its invoices).

    The model that uses the mixin must redefine ``move_ids`` with its own relation
    table and columns (``fields.Many2many("account.move", relation, column1,
    column2)``): the mixin's definition gives the string, the domain and the company
    check. It calls ``_collection_check_moves`` (and, when a case holds its invoices
    alone, ``_collection_check_moves_exclusive``) from its own constraint, and may
    override the hooks ``_collection_move_is_open`` (which invoices it may cover),
    ``_collection_contact_error`` and ``_collection_not_open_error`` (its messages).
    A case created from the portal checks the customer's choice of invoices with
    ``_collection_portal_check_moves``. A case with a chatter runs its daily check
    through ``_collection_cron_process``.
    """

    _name = "collection.case.mixin"
    _description = "Collection Case"

    partner_id = fields.Many2one(
        "res.partner",
        string="Customer",
        required=True,
        index=True,
        tracking=True,
        domain=COMMERCIAL_PARTNER_DOMAIN,
    )
    company_id = fields.Many2one(
        "res.company", required=True, index=True, default=lambda self: self.env.company
    )
    currency_id = fields.Many2one(
        "res.currency", related="company_id.currency_id", store=True, string="Currency"
    )
    user_id = fields.Many2one(
        "res.users", string="Collector", default=lambda self: self.env.user, tracking=True
    )
    move_ids = fields.Many2many(
        "account.move", string="Invoices", check_company=True, domain=OPEN_INVOICES_DOMAIN
    )

    # ------------------------------------------------------------------
    # The invoices: the customer's, and open
    # ------------------------------------------------------------------

    def _collection_move_is_open(self, move):
        """Whether this case may cover ``move``. Default: a posted customer invoice still
        to be paid."""
        return is_open_invoice(move)

    def _collection_contact_error(self):
        """The message when the case's customer is a contact of a company, or None when
        the model does not check it (it replaces the contact by its company itself)."""
        return None

    def _collection_not_open_error(self, moves):
        """The message when the case covers ``moves``, which it may not (each model
        words it for its own case)."""
        raise NotImplementedError

    def _collection_check_moves(self):
        """Raise unless the customer of each case is a commercial partner (when the
        model checks it) and its invoices are the customer's and open."""
        for case in self:
            partner = case.partner_id
            if partner != partner.commercial_partner_id:
                message = case._collection_contact_error()
                if message:
                    raise ValidationError(message)
            foreign = case.move_ids.filtered(
                lambda m, partner=partner: m.commercial_partner_id != partner
            )
            if foreign:
                raise ValidationError(
                    self.env._(
                        "These invoices do not belong to %(partner)s: %(invoices)s",
                        partner=partner.display_name,
                        invoices=", ".join(foreign.mapped("display_name")),
                    )
                )
            not_open = case.move_ids.filtered(
                lambda m, case=case: not case._collection_move_is_open(m)
            )
            if not_open:
                raise ValidationError(case._collection_not_open_error(not_open))

    def _collection_check_moves_exclusive(self, states, error):
        """Raise ``error(shared, other)`` (a message) when a case in ``states`` covers
        invoices ``shared`` that another case ``other`` in ``states`` covers too."""
        cases = self.filtered(lambda c: c.state in states)
        if not cases:
            return
        # sudo: a case the current user cannot see still holds its invoices.
        others = self.sudo().search(
            [
                ("id", "not in", cases.ids),
                ("state", "in", states),
                ("move_ids", "in", cases.move_ids.ids),
            ]
        )
        for case in cases:
            for other in others:
                shared = case.move_ids & other.move_ids
                if shared:
                    raise ValidationError(error(shared, other))

    @api.model
    def _collection_portal_check_moves(self, partner, moves, not_open_error):
        """Raise a ``UserError`` unless the invoices ``moves`` a customer chose on the
        portal are those of ``partner`` (a commercial partner) and open;
        ``not_open_error(invoices)`` words the message about the ones not open, given
        their numbers."""
        foreign = moves.filtered(lambda m: m.commercial_partner_id != partner)
        if foreign:
            raise UserError(self.env._("Some of these invoices are not yours."))
        not_open = moves.filtered(lambda m: not is_open_invoice(m))
        if not_open:
            raise UserError(not_open_error(", ".join(not_open.mapped("name"))))

    # ------------------------------------------------------------------
    # The portfolio
    # ------------------------------------------------------------------

    @api.model
    def _collection_check_portfolio(self, vals_list):
        """Raise an ``AccessError`` unless the current user may work the customer of
        each of ``vals_list`` (the values of cases created or written, with
        ``partner_id`` and optionally ``company_id``) in its company: a collector whom
        the company restricts to their portfolio works their own customers only."""
        if self.env.su:
            return
        Partner = self.env["res.partner"]
        Company = self.env["res.company"]
        for vals in vals_list:
            if not vals.get("partner_id"):
                continue
            company = Company.browse(vals.get("company_id")) or self.env.company
            partner = Partner.browse(vals["partner_id"]).with_company(company)
            if not partner._collection_in_user_portfolio():
                raise AccessError(
                    self.env._(
                        "%(partner)s is in another collector's portfolio.",
                        partner=partner.sudo().commercial_partner_id.display_name,
                    )
                )

    def _collection_check_portfolio_write(self, vals):
        """``_collection_check_portfolio`` for ``vals`` written on these cases."""
        if "partner_id" in vals or "company_id" in vals:
            self._collection_check_portfolio(
                [
                    {
                        "partner_id": vals.get("partner_id", case.partner_id.id),
                        "company_id": vals.get("company_id", case.company_id.id),
                    }
                    for case in self
                ]
            )

    # ------------------------------------------------------------------
    # The customer's chatter and interactions
    # ------------------------------------------------------------------

    def _collection_customer(self):
        """The case's customer, in the case's company (its collection fields are per
        company)."""
        self.ensure_one()
        return self.partner_id.with_company(self.company_id)

    def _collection_note_on_customer(self, text, status=None):
        """Note ``text`` with a link to this case on the customer's chatter; with
        ``status``, set the customer's collection status at the same time (see
        ``res.partner._collection_set_status``, which checks the rights)."""
        self.ensure_one()
        body = Markup("%s %s") % (text, self._get_html_link(title=self.name))
        partner = self._collection_customer()
        if status:
            partner._collection_set_status(status, body)
        else:
            partner._collection_post_note(body)

    def _collection_customer_status_after(self, event):
        """The customer's collection status once ``event`` happened to this case (see
        ``res.partner._collection_status_after``)."""
        partner = self._collection_customer()
        return partner._collection_status_after(event, case=self)[partner]

    def _collection_log_interaction(self, channel, note, automatic=False, **values):
        """Log a ``collection.interaction`` about this case for its customer, on its
        invoices (``_collection_interaction_moves``), linked to the case when the
        interaction has a field for it (``_collection_interaction_field``). As
        superuser (the ledger, the daily check, the portal, a workflow run for its
        user), the interaction is ``automatic`` or not and has the current user as
        collector, unless it is automatic or comes from the portal. ``values``
        completes the interaction (``outcome``, ``status_before``, ...); its status
        after is the customer's current status unless given."""
        self.ensure_one()
        partner = self._collection_customer()
        vals = {
            "partner_id": partner.id,
            "company_id": self.company_id.id,
            "channel": channel,
            "move_ids": [fields.Command.set(self._collection_interaction_moves().ids)],
            "note": note,
            "status_after": partner.collection_status or "current",
        }
        link = self._collection_interaction_field()
        if link:
            vals[link] = self.id
        if self.env.su:
            # Logged by the ledger or the daily check (automatic), or by the customer on the
            # portal: nobody of the staff; else by the current user.
            staff = not automatic and channel != "portal"
            vals.update({"automatic": automatic, "user_id": self.env.uid if staff else False})
        vals.update(values)
        # The case does what its event does to the customer itself.
        return (
            self.env["collection.interaction"]
            .with_context(collection_interaction_effects=False)
            .create(vals)
        )

    def _collection_interaction_moves(self):
        """The invoices an interaction about this case is about. Default: the case's."""
        return self.move_ids

    def _collection_interaction_field(self):
        """The field of ``collection.interaction`` that links it to this case, if any."""
        return None

    # ------------------------------------------------------------------
    # Daily crons
    # ------------------------------------------------------------------

    @api.model
    def _collection_cron_process(self, domain, process, error_message, batch_size=100):
        """Run ``process(records)`` on the records of ``domain``, in committed batches,
        in the manner of ``account.move._autopost_draft_entries``: a batch that fails is
        rolled back and run again one record at a time; a failing record gets
        ``error_message`` (a callable taking the error) on its chatter, and the others go
        on. Each batch runs in a savepoint, which is rolled back when it fails."""
        Cron = self.env["ir.cron"]
        remaining = self.search_count(domain)
        Cron._commit_progress(remaining=remaining)
        last_id = 0
        while True:
            # Processed records may still match the domain (a promise within its grace
            # period stays open): go on from the last one.
            batch = self.search([*domain, ("id", ">", last_id)], limit=batch_size, order="id")
            if not batch:
                break
            last_id = batch[-1].id
            remaining = max(remaining - len(batch), 0)
            try:
                with self.env.cr.savepoint():
                    process(batch)
            except Exception:  # one bad record must not stop the others
                for candidate in batch:
                    record = candidate.try_lock_for_update().filtered_domain(domain)
                    if not record:
                        continue
                    try:
                        with self.env.cr.savepoint():
                            process(record)
                    except Exception as error:
                        _logger.warning("Daily check of %s failed", record, exc_info=True)
                        record.message_post(body=error_message(error))
            if Cron._commit_progress(len(batch), remaining=remaining) <= 0:
                break
