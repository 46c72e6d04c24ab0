"""What waiting costs: on the customer's Collections tab, the company's recovery curve
(report/collection_analytics_report.py) read at the age of the customer's oldest overdue
invoices and at the next age bucket (README, "Analytics")."""

from odoo import api, fields, models, tools
from odoo.tools import SQL
from odoo.tools.misc import format_amount

from ..report.collection_analytics_report import RECOVERY_BUCKETS


class ResPartner(models.Model):
    _inherit = "res.partner"

    collection_recovery_note = fields.Char(
        string="What Waiting Costs",
        compute="_compute_collection_recovery_note",
        help="The company's recovery curve at the age of the customer's oldest overdue "
        "invoices and at the next age: the share of such debt the company ends up "
        "collecting, and what that difference makes of what those invoices still owe.",
        groups="base.group_user",
    )

    @api.depends_context("company", "tz")
    def _compute_collection_recovery_note(self):
        self.collection_recovery_note = False
        overdue = self.filtered(lambda p: p.id and p.collection_days_overdue > 0)
        if not overdue:
            return
        company = self.env.company
        curve = dict(self._collection_company_recovery_curve(company.id, self._collection_today()))
        owed = overdue._collection_oldest_overdue_residual(company)
        for partner in overdue:
            partner.collection_recovery_note = partner._collection_recovery_sentence(
                curve, partner.collection_days_overdue, owed.get(partner.id, 0.0), company
            )

    @tools.ormcache("company_id", "today")
    def _collection_company_recovery_curve(self, company_id, today):
        """The company's recovery curve ((bucket code, rate or None), ...): the one the
        nightly scheduled action kept on the company, else computed here once a day per
        server process. It reads the company's whole history (seconds on a large book),
        too much for every customer form opened, and one day more of history hardly
        moves it."""
        # sudo: the company's curve, rates only (no customer, no amount), read by every
        # collector whatever their portfolio.
        company = self.env["res.company"].sudo().browse(company_id)
        if company.collection_recovery_curve_date and company.collection_recovery_curve:
            kept = company.collection_recovery_curve
            return tuple((code, kept.get(code)) for code, __, __, __ in RECOVERY_BUCKETS)
        return tuple(company._collection_recovery_curve_now().items())

    def _collection_oldest_overdue_residual(self, company):
        """{customer id: what its overdue items of its oldest due date still owe}, in
        company currency."""
        Ledger = self.env["collection.ledger"]
        Ledger._flush()
        pairs = tuple(
            (partner.commercial_partner_id.id, partner.collection_oldest_due_date)
            for partner in self
            if partner.collection_oldest_due_date
        )
        if not pairs:
            return {}
        rows = self.env.execute_query(
            SQL(
                """SELECT p.commercial_partner_id, SUM(aml.amount_residual)
                     FROM account_move_line aml
                     JOIN res_partner p ON p.id = aml.partner_id
                    WHERE %s AND aml.amount_residual > 0
                      AND (p.commercial_partner_id, COALESCE(aml.date_maturity, aml.date))
                          IN %s
                    GROUP BY 1""",
                Ledger._receivable_condition(company),
                pairs,
            )
        )
        residual = dict(rows)
        return {p.id: float(residual.get(p.commercial_partner_id.id) or 0.0) for p in self}

    def _collection_recovery_sentence(self, curve, days, amount, company):
        """The sentence for a customer ``days`` overdue owing ``amount`` on its oldest
        items, from ``curve`` ({bucket code: recovery rate in % or None})."""
        index = next(
            i
            for i, (__, __, first, last) in enumerate(RECOVERY_BUCKETS)
            if days >= first and (last is None or days <= last)
        )
        rate = curve.get(RECOVERY_BUCKETS[index][0])
        if rate is None:
            return False
        now = self.env._(
            "At %(days)s days overdue, the company recovers %(rate)s%% of such debt.",
            days=days,
            rate=f"{rate:.0f}",
        )
        following = RECOVERY_BUCKETS[index + 1] if index + 1 < len(RECOVERY_BUCKETS) else None
        next_rate = curve.get(following[0]) if following else None
        if next_rate is None or next_rate >= rate:
            # Nothing known of the next age, or nothing lost by waiting for it.
            return now
        next_day = following[2]
        loss = amount * (rate - next_rate) / 100
        return self.env._(
            "At %(days)s days overdue, the company recovers %(rate)s%% of such debt; from "
            "%(next_day)s days overdue (in %(wait)s days), %(next_rate)s%%: waiting costs "
            "about %(loss)s of the %(amount)s of the oldest overdue invoices.",
            days=days,
            rate=f"{rate:.0f}",
            next_day=next_day,
            wait=next_day - days,
            next_rate=f"{next_rate:.0f}",
            loss=format_amount(self.env, loss, company.currency_id),
            amount=format_amount(self.env, amount, company.currency_id),
        )


class ResCompany(models.Model):
    _inherit = "res.company"

    collection_recovery_curve = fields.Json(
        string="Recovery Curve",
        readonly=True,
        copy=False,
        help="The company's recovery rate per age of debt, kept each night by the scheduled "
        "action *Collections: refresh the recovery curve*, for the customers' *What Waiting "
        "Costs*.",
    )
    collection_recovery_curve_date = fields.Date(
        string="Recovery Curve Of", readonly=True, copy=False
    )

    def _collection_recovery_curve_now(self):
        """{bucket code: recovery rate in % or None} of the company's whole history."""
        self.ensure_one()
        return (
            self.env["collection.recovery.report"]
            .sudo()
            .with_company(self)
            ._recovery_curve([("company_id", "=", self.id)])
        )

    @api.model
    def _cron_collection_refresh_recovery_curve(self):
        """Keep each company's recovery curve of the day, so that no customer form has to
        read the company's whole history."""
        for company in self.sudo().search([]):
            company.write(
                {
                    "collection_recovery_curve": company._collection_recovery_curve_now(),
                    "collection_recovery_curve_date": company._collection_today(),
                }
            )
        self.env.registry.clear_cache()
