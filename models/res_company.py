from datetime import datetime, time, timedelta

import pytz

from odoo import api, fields, models
from odoo.exceptions import ValidationError

from .collection_aging_bucket import default_buckets


class ResCompany(models.Model):
    _inherit = "res.company"

    collection_aging_bucket_ids = fields.One2many(
        "collection.aging.bucket", "company_id", string="Aging Buckets"
    )
    collection_default_user_id = fields.Many2one(
        "res.users",
        string="Default Collector",
        help="Collector given to customers that have none.",
    )
    collection_promise_grace_days = fields.Integer(
        string="Promise Grace Period (days)",
        default=2,
        help="Days after a promise's date during which a payment still keeps it.",
    )
    collection_promise_max_days = fields.Integer(
        string="Longest Promise (days)",
        default=90,
        help="A promise to pay is dated at most this many days after the day it is made, "
        "on the portal as in the back office.",
    )
    collection_portal_link_days = fields.Integer(
        string="Statement Links Valid For (days)",
        default=90,
        help="A statement link sent with a reminder opens the customer's statement for "
        "this many days after the reminder's day; then the customer needs a new one.",
    )
    collection_agreement_approval_amount = fields.Monetary(
        string="Agreement Approval Above",
        help="Payment agreements whose total is above this amount start only once a "
        "collection manager approved them. 0: no approval needed.",
    )
    collection_agreement_grace_days = fields.Integer(
        string="Agreement Grace Period (days)",
        default=5,
        help="Days after an instalment's date during which a payment still keeps a payment "
        "agreement; then the instalment is missed and the agreement broken.",
    )
    collection_portfolio_restricted = fields.Boolean(
        string="Collectors See Only Their Own Portfolio",
        help="Collectors who are not collection managers only see their own customers in "
        "the worklist, and only their customers' interactions and promises.",
    )

    # Dunning
    collection_policy_id = fields.Many2one(
        "collection.policy",
        string="Default Dunning Policy",
        domain="[('company_id', '=', id)]",
        help="Reminder policy of the customers that have none of their own. Empty: only "
        "the customers with a policy of their own get automatic reminders.",
    )
    collection_quiet_hour_start = fields.Float(
        string="Quiet Hours From",
        default=20.0,
        help="No automatic message from this hour (company time zone)...",
    )
    collection_quiet_hour_end = fields.Float(
        string="Quiet Hours To", default=8.0, help="...until this hour the next morning."
    )
    collection_rest_day = fields.Selection(
        [
            ("0", "Monday"),
            ("1", "Tuesday"),
            ("2", "Wednesday"),
            ("3", "Thursday"),
            ("4", "Friday"),
            ("5", "Saturday"),
            ("6", "Sunday"),
        ],
        string="Weekly Rest Day",
        default="6",
        help="No automatic message on this day of the week.",
    )
    collection_message_interval_days = fields.Integer(
        string="Days Between Messages",
        default=3,
        help="A customer gets at most one automatic message (email, SMS, WhatsApp) in this "
        "many days; later ones wait. 0: no limit.",
    )
    collection_email_from = fields.Char(
        string="Reminder Sender",
        help='Sender of the reminder emails, e.g. "Accounts Receivable" <ar@example.com>. '
        "Empty: the company's email.",
    )
    collection_whatsapp_phone_number_id = fields.Char(
        string="WhatsApp Phone Number ID",
        groups="base.group_system,account_collection.group_collection_manager",
        help="Phone number ID of your WhatsApp Business account (Meta Business Manager, "
        "WhatsApp > API Setup).",
    )
    collection_whatsapp_token = fields.Char(
        string="WhatsApp Access Token",
        groups="base.group_system",
        copy=False,
        help="Permanent access token of the WhatsApp Business Cloud API.",
    )

    def _collection_tz(self):
        """The company's time zone (its partner's, else UTC): the clock of its quiet
        hours and the calendar of its dunning days."""
        self.ensure_one()
        return pytz.timezone(self.partner_id.tz or "UTC")

    def _collection_today(self, timestamp=None):
        """The company's day now (or at ``timestamp``, a naive UTC datetime): the day its
        reminders are created on and dated by, whoever runs them (the scheduler's user
        may live in another time zone)."""
        return fields.Date.context_today(
            self.with_context(tz=self._collection_tz().zone), timestamp=timestamp
        )

    def _collection_next_allowed_time(self, local_now):
        """The first moment from ``local_now`` (naive, in the company's time zone) outside
        the quiet hours and the weekly rest day, naive in the same time zone."""
        self.ensure_one()
        start, end = self.collection_quiet_hour_start, self.collection_quiet_hour_end
        rest = int(self.collection_rest_day) if self.collection_rest_day else None

        def at(day, hours):
            minutes = round(hours * 60)
            return datetime.combine(day, time(minutes // 60 % 24, minutes % 60))

        moment = local_now
        for _step in range(10):
            if rest is not None and moment.weekday() == rest:
                moment = at(moment.date() + timedelta(days=1), 0)
                continue
            hour = moment.hour + moment.minute / 60
            if start > end and (hour >= start or hour < end):  # overnight, e.g. 20:00-08:00
                moment = at(moment.date() + timedelta(days=1 if hour >= start else 0), end)
                continue
            if start < end and start <= hour < end:
                moment = at(moment.date(), end)
                continue
            return moment
        return moment

    @api.constrains("collection_promise_max_days")
    def _check_collection_promise_max_days(self):
        if any(company.collection_promise_max_days < 1 for company in self):
            raise ValidationError(self.env._("The longest promise is at least one day."))

    @api.constrains("collection_portal_link_days")
    def _check_collection_portal_link_days(self):
        if any(company.collection_portal_link_days < 1 for company in self):
            raise ValidationError(self.env._("Statement links are valid for at least one day."))

    @api.model_create_multi
    def create(self, vals_list):
        companies = super().create(vals_list)
        companies._collection_ensure_aging_buckets()
        return companies

    def _collection_ensure_aging_buckets(self):
        """Create the default aging buckets for the companies of ``self`` that have none."""
        Bucket = self.env["collection.aging.bucket"].sudo().with_context(lang="en_US")
        with_buckets = set(Bucket.search([("company_id", "in", self.ids)]).company_id.ids)
        companies = self.filtered(lambda c: c.id not in with_buckets)
        if not companies:
            return
        Bucket.create(
            [
                {"name": name, "days_from": days_from, "company_id": company.id}
                for company in companies
                for name, days_from in default_buckets(Bucket.env)
            ]
        )
        languages = [code for code, _name in self.env["res.lang"].get_installed()]
        companies._collection_translate_default_buckets(languages)

    def _collection_translate_default_buckets(self, languages):
        """Give the default aging buckets of these companies their name in ``languages``,
        so that each user reads them in their own; buckets renamed by the company keep
        their name."""
        Bucket = self.env["collection.aging.bucket"].sudo().with_context(lang="en_US")
        english = {days: name for name, days in default_buckets(Bucket.env)}
        buckets = Bucket.search([("company_id", "in", self.ids)]).filtered(
            lambda b: english.get(b.days_from) == b.name
        )
        for lang in languages:
            if lang == "en_US" or not buckets:
                continue
            names = {
                days: name for name, days in default_buckets(Bucket.with_context(lang=lang).env)
            }
            for bucket in buckets:
                bucket.with_context(lang=lang).name = names[bucket.days_from]
