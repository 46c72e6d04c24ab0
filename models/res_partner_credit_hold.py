"""Credit hold: a customer the collections put on hold, shown by Odoo's own credit
warnings on invoices and sales orders, released when nothing is overdue any more, each
change logged as an interaction (README, "Credit hold")."""

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.tools import SQL

# The suggested credit limit: CREDIT_LIMIT_MONTHS months of the customer's sales of the
# last 12 months, less its risk score in percent (a score of 100 suggests nothing).
CREDIT_LIMIT_MONTHS = 3
# Suggestions are rounded to this amount.
CREDIT_LIMIT_ROUNDING = 10


class ResPartner(models.Model):
    _inherit = "res.partner"

    collection_credit_hold = fields.Boolean(
        string="On Credit Hold",
        company_dependent=True,
        readonly=True,
        tracking=True,
        help="The collections put this customer on credit hold: Odoo's credit warnings on "
        "its invoices and sales orders say so. Released when nothing is overdue any more.",
        groups="base.group_user",
    )
    collection_suggested_credit_limit = fields.Monetary(
        string="Suggested Credit Limit",
        currency_field="collection_currency_id",
        compute="_compute_collection_suggested_credit_limit",
        help="Three months of the customer's sales of the last 12 months, less its risk "
        "score in percent.",
        groups="base.group_user",
    )

    @api.depends_context("company", "tz")
    def _compute_collection_suggested_credit_limit(self):
        partners = self.filtered("id")
        sales = {}
        if partners:
            company = self.env.company
            today = self._collection_today()
            Ledger = self.env["collection.ledger"]
            Ledger._flush()
            sales = dict(
                self.env.execute_query(
                    SQL(
                        """SELECT p.commercial_partner_id, SUM(aml.balance)
                             FROM account_move_line aml
                             JOIN res_partner p ON p.id = aml.partner_id
                            WHERE %s AND aml.balance > 0
                              AND aml.date > %s::date - 365 AND aml.date <= %s
                              AND p.commercial_partner_id IN %s
                            GROUP BY 1""",
                        Ledger._receivable_condition(company),
                        today,
                        today,
                        tuple(partners.commercial_partner_id.ids),
                    )
                )
            )
        scores = {p.id: p.collection_risk_score for p in partners.commercial_partner_id}
        for partner in self:
            commercial = partner.commercial_partner_id
            monthly = float(sales.get(commercial.id) or 0.0) / 12
            share = 1 - scores.get(commercial.id, 0) / 100
            suggestion = monthly * CREDIT_LIMIT_MONTHS * share
            partner.collection_suggested_credit_limit = (
                round(suggestion / CREDIT_LIMIT_ROUNDING) * CREDIT_LIMIT_ROUNDING
            )

    # ------------------------------------------------------------------
    # Hold and release
    # ------------------------------------------------------------------

    def _collection_set_credit_hold(self, hold, note, communications=None):
        """Put these customers on credit hold (``hold``) or release them, in the current
        company, logging ``note`` as an interaction of each customer whose hold changed.
        Callers check the rights: a reminder's level, a collection manager's button, the
        ledger releasing a customer with nothing overdue."""
        # sudo: the hold is the collections' decision, whoever triggered it; callers
        # checked who may take it.
        partners = self.commercial_partner_id.sudo().filtered(
            lambda p: bool(p.collection_credit_hold) != hold
        )
        if not partners:
            return partners
        partners.write({"collection_credit_hold": hold})
        company = self.env.company
        per_partner = {}
        for communication in communications or []:
            per_partner[communication.partner_id.id] = communication
        self.env["collection.interaction"].sudo().create(
            [
                {
                    "partner_id": partner.id,
                    "company_id": company.id,
                    "user_id": self.env.user.id if not self.env.su else False,
                    "automatic": self.env.su or partner.id in per_partner,
                    "channel": "note",
                    "date": fields.Datetime.now(),
                    "move_ids": [
                        fields.Command.set(
                            per_partner[partner.id].move_ids.ids
                            if partner.id in per_partner
                            else []
                        )
                    ],
                    "overdue_amount": partner.collection_overdue_amount,
                    "days_overdue": partner.collection_days_overdue,
                    "note": note,
                }
                for partner in partners
            ]
        )
        return partners

    def _collection_release_credit_hold_when_settled(self):
        """Release the customers on credit hold with nothing overdue any more (current
        company). Triggered by the ledger (a payment) and by the daily run."""
        # sudo: the ledger releases the hold, whoever reconciled the payment.
        settled = self.commercial_partner_id.sudo().filtered(
            lambda p: p.collection_credit_hold and not p.collection_overdue_amount
        )
        return settled._collection_set_credit_hold(
            False, self.env._("Released from credit hold: nothing is overdue any more.")
        )

    def _collection_reset_status_when_settled(self):
        settled = super()._collection_reset_status_when_settled()
        self._collection_release_credit_hold_when_settled()
        return settled

    def action_collection_credit_hold(self):
        """A collection manager puts the customer on credit hold."""
        self._collection_check_credit_hold_access()
        self._collection_set_credit_hold(
            True, self.env._("Put on credit hold by %(user)s.", user=self.env.user.name)
        )

    def action_collection_release_credit_hold(self):
        """A collection manager releases the customer's credit hold."""
        self._collection_check_credit_hold_access()
        self._collection_set_credit_hold(
            False, self.env._("Released from credit hold by %(user)s.", user=self.env.user.name)
        )

    def _collection_check_credit_hold_access(self):
        if not self.env.user.has_group("account_collection.group_collection_manager"):
            raise UserError(
                self.env._("Only collection managers can put a customer on credit hold.")
            )
        self.check_access("read")


class CollectionLevel(models.Model):
    _inherit = "collection.level"

    credit_hold = fields.Boolean(
        string="Put on Credit Hold",
        help="The customer goes on credit hold when a reminder of this level is sent: "
        "Odoo's credit warnings on its invoices and sales orders say so, until nothing is "
        "overdue any more.",
    )


class CollectionDunning(models.AbstractModel):
    _inherit = "collection.dunning"

    @api.model
    def _apply_portfolio_changes(self, communications, also=None):
        super()._apply_portfolio_changes(communications, also=also)
        held = communications.filtered(lambda c: c.level_id.credit_hold)
        for company in held.company_id:
            company_held = held.filtered(lambda c, co=company: c.company_id == co)
            # sudo: a reminder's level puts the customer on hold, whoever approved it.
            company_held.partner_id.with_company(company).sudo()._collection_set_credit_hold(
                True,
                self.env._("Put on credit hold by the reminder's level."),
                communications=company_held,
            )

    @api.model
    def _release_settled_stages(self, company):
        super()._release_settled_stages(company)
        Partner = self.env["res.partner"].with_company(company).sudo()
        held = Partner.search([("collection_credit_hold", "=", True)])
        self._with_unlocked(held, lambda free: free._collection_release_credit_hold_when_settled())


class AccountMove(models.Model):
    _inherit = "account.move"

    def _build_credit_warning_message(
        self, record, current_amount=0.0, exclude_current=False, exclude_amount=0.0
    ):
        message = super()._build_credit_warning_message(
            record,
            current_amount=current_amount,
            exclude_current=exclude_current,
            exclude_amount=exclude_amount,
        )
        # sudo: the warning is Odoo's, shown to whoever edits the document.
        partner = record.partner_id.commercial_partner_id.with_company(record.company_id).sudo()
        if not partner.collection_credit_hold:
            return message
        hold = self.env._(
            "%(partner_name)s is on credit hold: its overdue invoices must be paid first.",
            partner_name=partner.name,
        )
        return f"{hold}\n{message}" if message else hold
