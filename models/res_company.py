import functools
from datetime import datetime, time, timedelta

import holidays
import pytz

from odoo import api, fields, models
from odoo.exceptions import ValidationError

from .collection_aging_bucket import default_buckets

# Days ahead the queue looks for a moment outside the quiet hours and the rest days.
MAX_DAYS_HELD = 60


@functools.lru_cache(maxsize=64)
def public_holidays(country, subdivision, year):
    """The public holidays of ``country`` (ISO code) and its ``subdivision`` (or the
    whole country when None) in ``year``, from the ``holidays`` package: a frozenset of
    dates; None when the package does not know that country or subdivision."""
    try:
        return frozenset(holidays.country_holidays(country, subdiv=subdivision, years=year))
    except NotImplementedError:
        return None


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
    collection_calendar_id = fields.Many2one(
        "resource.calendar",
        string="Working Days",
        compute="_compute_collection_calendar_id",
        store=True,
        readonly=False,
        help="No automatic message on the days this calendar does not work, nor on its "
        "global time off. Defaults to the company's working hours; empty: every day.",
    )
    collection_public_holidays = fields.Boolean(
        string="No Messages on Public Holidays",
        default=True,
        help="No automatic message on the public holidays of the company's country (and "
        "state or region when known).",
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
    collection_whatsapp_verify_token = fields.Char(
        string="WhatsApp Webhook Verify Token",
        groups="base.group_system",
        copy=False,
        help="The verify token typed in the webhook settings of your Meta app: WhatsApp "
        "checks the webhook address with it.",
    )
    collection_whatsapp_app_secret = fields.Char(
        string="WhatsApp App Secret",
        groups="base.group_system",
        copy=False,
        help="The app secret of your Meta app: every webhook call WhatsApp makes is signed "
        "with it, and an unsigned or wrongly signed call is refused.",
    )

    @api.depends("resource_calendar_id")
    def _compute_collection_calendar_id(self):
        for company in self:
            if not company.collection_calendar_id:
                company.collection_calendar_id = company.resource_calendar_id

    def _collection_lang(self):
        """The company's language (its partner's, when installed), in which the engine
        writes what it records on its own (notes on the chatter, the changes of status
        it tracks), whoever runs it; False when it has none."""
        self.ensure_one()
        return self.env["res.lang"]._get_code(self.partner_id.lang) or False

    def _collection_tz(self):
        """The company's time zone (its partner's, else UTC): the clock of its quiet
        hours and the calendar of its dunning days."""
        self.ensure_one()
        # These columns only: reading the partner's time zone would fetch every column
        # of the company and of its partner (each company-dependent one with its
        # fallback), asked again after each of a run's batches drops the cache.
        self.fetch(["partner_id"])
        self.partner_id.fetch(["tz"])
        return pytz.timezone(self.partner_id.tz or "UTC")

    def _collection_today(self, timestamp=None):
        """The company's day now (or at ``timestamp``, a naive UTC datetime): the day its
        reminders are created on and dated by, whoever runs them (the scheduler's user
        may live in another time zone)."""
        return fields.Date.context_today(
            self.with_context(tz=self._collection_tz().zone), timestamp=timestamp
        )

    def _collection_next_allowed_time(self, local_now):
        """The first moment from ``local_now`` (naive, in the time zone of the customer
        it is for) outside the quiet hours and the rest days (``_collection_is_rest_day``),
        naive in the same time zone."""
        self.ensure_one()
        start, end = self.collection_quiet_hour_start, self.collection_quiet_hour_end

        def at(day, hours):
            minutes = round(hours * 60)
            return datetime.combine(day, time(minutes // 60 % 24, minutes % 60))

        moment = local_now
        rest_days = {}
        for _step in range(2 * MAX_DAYS_HELD):
            day = moment.date()
            if day not in rest_days:
                rest_days[day] = self._collection_is_rest_day(day)
            if rest_days[day]:
                moment = at(day + timedelta(days=1), 0)
                continue
            hour = moment.hour + moment.minute / 60
            if start > end and (hour >= start or hour < end):  # overnight, e.g. 20:00-08:00
                moment = at(day + timedelta(days=1 if hour >= start else 0), end)
                continue
            if start < end and start <= hour < end:
                moment = at(day, end)
                continue
            return moment
        return moment

    @api.constrains("collection_promise_max_days")
    def _check_collection_promise_max_days(self):
        if any(company.collection_promise_max_days < 1 for company in self):
            raise ValidationError(self.env._("The longest promise is at least one day."))

    def _collection_is_rest_day(self, day):
        """Whether no automatic message goes on ``day``: the weekly rest day, a day the
        working calendar does not work or one of its global time off, a public holiday
        of the company's country when the company honours them."""
        self.ensure_one()
        if self.collection_rest_day and day.weekday() == int(self.collection_rest_day):
            return True
        calendar = self.collection_calendar_id
        if calendar:
            if not calendar.flexible_hours and not calendar._works_on_date(day):
                return True
            day_start = datetime.combine(day, time.min)
            if calendar.global_leave_ids.filtered(
                lambda leave: (
                    leave.date_from < day_start + timedelta(days=1) and leave.date_to > day_start
                )
            ):
                return True
        if self.collection_public_holidays:
            return day in self._collection_public_holidays(day.year)
        return False

    def _collection_public_holidays(self, year):
        """The public holidays of the company's country in ``year`` (of its state or
        region too when the ``holidays`` package knows it), from that package: a set of
        dates, empty when the country is unknown to it."""
        self.ensure_one()
        country = self.country_id.code
        if not country:
            return frozenset()
        # The company's state when the package knows it by that code, else the country.
        days = None
        if self.state_id.code:
            days = public_holidays(country, self.state_id.code, year)
        if days is None:
            days = public_holidays(country, None, year)
        return days or frozenset()

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

    # --- Customers' replies
    collection_reply_auto_promise = fields.Boolean(
        string="Promises Apply Themselves",
        help="A customer's reply that promises to pay on a stated day makes the promise "
        "without waiting for a collector (with the same checks). Off: a collector applies "
        "each suggestion in one click.",
    )

    # Risk
    collection_priority_risk = fields.Boolean(
        string="Risk Raises the Priority",
        help="The worklist's priority counts the customer's risk score too: a score of 100 "
        "doubles it.",
    )
