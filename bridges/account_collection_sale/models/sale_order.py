"""A sales order of a customer on credit hold (account_collection's
``collection_credit_hold``, per company) is not confirmed when the company says so;
sales managers and collection managers may still confirm it, logged as an interaction
of the customer (README, "Credit hold")."""

from markupsafe import Markup

from odoo import fields, models
from odoo.tools.misc import format_amount


class SaleOrder(models.Model):
    _inherit = "sale.order"

    def _collection_held_partner(self):
        """The order's customer, in the order's company, when it is on credit hold there
        and the company blocks the confirmation of such orders (else an empty record)."""
        self.ensure_one()
        # sudo: the hold and the overdue amount are the collections' figures, read for
        # whoever confirms the order.
        partner = self.partner_id.commercial_partner_id.with_company(self.company_id).sudo()
        if not self.company_id.collection_sale_credit_hold_block or not partner:
            return partner.browse()
        return partner if partner.collection_credit_hold else partner.browse()

    def _collection_may_confirm_on_hold(self):
        """Whether the current user confirms the orders of customers on credit hold:
        sales managers and collection managers do (logged on the customer); the
        superuser confirms what a customer paid or signed online."""
        user = self.env.user
        return (
            self.env.su
            or user.has_group("sales_team.group_sale_manager")
            or user.has_group("account_collection.group_collection_manager")
        )

    def _confirmation_error_message(self):
        message = super()._confirmation_error_message()
        if message or self._collection_may_confirm_on_hold():
            return message
        partner = self._collection_held_partner()
        if not partner:
            return message
        return self.env._(
            "%(partner)s is on credit hold with %(amount)s overdue: the sales order "
            "%(order)s cannot be confirmed until that is paid. A sales manager may still "
            "confirm it.",
            partner=partner.name,
            amount=format_amount(
                self.env, partner.collection_overdue_amount, self.company_id.currency_id
            ),
            order=self.name,
        )

    def action_confirm(self):
        # The orders a manager confirms past a credit hold, found before they change state.
        held = self.browse()
        if not self.env.su:
            held = self.filtered(
                lambda o: o.state in ("draft", "sent") and o._collection_held_partner()
            )
        result = super().action_confirm()
        held._collection_log_confirmed_on_hold()
        return result

    def _collection_log_confirmed_on_hold(self):
        """Log on each order's customer that the current user confirmed the order while
        the customer was on credit hold: an interaction, and a note on its chatter."""
        for order in self:
            partner = order._collection_held_partner()
            note = self.env._(
                "Sales order %(order)s confirmed by %(user)s while on credit hold, with "
                "%(amount)s overdue.",
                order=order.name,
                user=self.env.user.name,
                amount=format_amount(
                    self.env, partner.collection_overdue_amount, order.company_id.currency_id
                ),
            )
            # sudo: the log is the collections' record of the override, whoever made it;
            # a sales manager need not be a collector.
            self.env["collection.interaction"].sudo().create(
                {
                    "partner_id": partner.id,
                    "company_id": order.company_id.id,
                    "user_id": self.env.user.id,
                    "channel": "note",
                    "date": fields.Datetime.now(),
                    "overdue_amount": partner.collection_overdue_amount,
                    "days_overdue": partner.collection_days_overdue,
                    "note": note,
                }
            )
            partner.message_post(
                body=Markup("<p>%s</p>") % note,
                author_id=self.env.user.partner_id.id,
                message_type="comment",
                subtype_xmlid="mail.mt_note",
            )
