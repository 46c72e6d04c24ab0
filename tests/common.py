import importlib.util
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from unittest.mock import patch

from odoo import Command
from odoo.exceptions import UserError
from odoo.tests import common as odoo_test_common
from odoo.tests import freeze_time, new_test_user
from odoo.tools import file_path

from odoo.addons.account.tests.common import AccountTestInvoicingCommon
from odoo.addons.base.tests.common import MockSmtplibCase
from odoo.addons.sms.tools.sms_api import SmsApi

# Every test runs on this frozen day (freeze_time(TODAY)).
TODAY = date(2026, 3, 16)

# Where tests that print PDFs outside an HttpCase send wkhtmltopdf for the reports'
# styles: nothing listens there (the test server would not answer while the test holds
# it), so the PDF is printed without them, at once.
UNSTYLED_REPORT_URL = "http://127.0.0.1:9"


def migration(version, name):
    """The migration script ``name`` of ``version`` (migrations/<version>/<name>.py),
    loaded as a module, to call its functions on a test's data."""
    path = file_path(f"account_collection/migrations/{version}/{name}.py")
    spec = importlib.util.spec_from_file_location(f"{name}_{version}".replace("-", "_"), path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


def day(offset):
    """The day ``offset`` days from the frozen today (negative: in the past)."""
    return TODAY + timedelta(days=offset)


def at(offset, hour, minute=0):
    """A moment (UTC) of the day ``offset`` days from today."""
    return datetime.combine(day(offset), time(hour, minute))


def on_day(day):
    """Freeze the clock at noon of ``day``: every user's time zone then reads that date
    (usable as a class or method decorator, or as a context manager)."""
    return freeze_time(datetime.combine(day, time(12, 0)))


class CollectionCommon(AccountTestInvoicingCommon):
    """Base for the collections tests: a company with a chart of accounts, a
    collector and a collection manager, and helpers that build a receivable book
    through the real accounting flows (post, pay, reverse)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.today = TODAY
        cls.company = cls.company_data["company"]
        cls.env.company.collection_promise_grace_days = 2
        cls.collector = cls.make_user(
            "collector", "account_collection.group_collection_user", name="Carla Collector"
        )
        cls.collection_manager = cls.make_user(
            "collection_manager",
            "account_collection.group_collection_manager",
            name="Manuel Manager",
        )
        cls.customer = cls.env["res.partner"].create(
            {"name": "Acme Customer", "is_company": True, "email": "acme@example.com"}
        )

    @classmethod
    def make_user(cls, login, groups, company=None, **values):
        """A user ``login`` in ``groups`` (comma-separated xml ids), working in ``company``
        alone (default: the test company)."""
        company = company or cls.company
        return new_test_user(
            cls.env,
            login=login,
            groups=groups,
            company_id=company.id,
            company_ids=[Command.set(company.ids)],
            **values,
        )

    @classmethod
    def make_policy(cls, name, levels, mode="review"):
        """The company's default policy ``name``, with a level for each values of
        ``levels``; its levels, by days from the due date."""
        policy = cls.env["collection.policy"].create(
            {
                "name": name,
                "mode": mode,
                "company_id": cls.company.id,
                "level_ids": [Command.create(values) for values in levels],
            }
        )
        cls.company.collection_policy_id = policy
        return policy.level_ids.sorted("delay")

    def make_reminder(self, moves, date, delay=None):
        """A reminder of ``moves``' customer dated ``date``, at the level ``delay`` days
        from the due date (default: the first) of a copy of the shipped policy, created
        as the reminders run creates it (users cannot)."""
        policy = (
            self.env.ref("account_collection.collection_policy_default")
            .sudo()
            .copy({"name": "Test reminder policy", "company_id": self.company.id})
        )
        levels = policy.level_ids.sorted("delay")
        level = levels.filtered(lambda lv: lv.delay == delay) if delay is not None else levels[0]
        # sudo: reminders are created by the reminders run only.
        return (
            self.env["collection.communication"]
            .sudo()
            .create(
                {
                    "partner_id": moves.commercial_partner_id.id,
                    "company_id": self.company.id,
                    "level_id": level.id,
                    "date": date,
                    "move_ids": [Command.set(moves.ids)],
                }
            )
        )

    @contextmanager
    def failing_check(self, records, message):
        """The daily check (``_collection_evaluate``) of ``records``' model raises
        ``message`` for any batch that holds ``records``; other batches are checked as
        usual."""
        Model = type(records)
        evaluate = Model._collection_evaluate

        def evaluate_but_fail(batch, today=None):
            if records.id in batch.ids:
                raise UserError(message)
            return evaluate(batch, today)

        with patch.object(Model, "_collection_evaluate", evaluate_but_fail):
            yield

    @classmethod
    def invoice(
        cls, partner, amount, due, move_type="out_invoice", post=True, currency=None, company=None
    ):
        """A customer invoice (or credit note) of ``amount`` untaxed, due on ``due``."""
        company = company or cls.company
        move = (
            cls.env["account.move"]
            .with_company(company)
            .create(
                {
                    "move_type": move_type,
                    "partner_id": partner.id,
                    "invoice_date": due - timedelta(days=30),
                    "invoice_date_due": due,
                    "currency_id": (currency or company.currency_id).id,
                    "invoice_line_ids": [
                        Command.create({"name": "Goods", "price_unit": amount, "tax_ids": []})
                    ],
                }
            )
        )
        if post:
            move.action_post()
        return move

    @classmethod
    def pay(cls, moves, amount=None, pay_date=None):
        """Register a payment of ``amount`` (default: the full residual) on ``moves``."""
        wizard = (
            cls.env["account.payment.register"]
            .with_context(active_model="account.move", active_ids=moves.ids)
            .create(
                {
                    "payment_date": pay_date or TODAY,
                    **({"amount": amount} if amount is not None else {}),
                }
            )
        )
        return wizard._create_payments()

    def pay_on(self, offset, moves, amount=None):
        """On the day ``offset`` days from today (the clock then), pay ``amount``
        (default: the full residual) on ``moves``."""
        with on_day(day(offset)):
            return self.pay(moves, amount, day(offset))

    @classmethod
    def paid_history(cls, customer, lateness, amount=1000.0):
        """Invoices of ``amount`` to ``customer`` due on the days of ``lateness`` (offsets
        from today), each paid, on its day, the given number of days after its due date."""
        for due, late in lateness.items():
            invoice = cls.invoice(customer, amount, day(due))
            with on_day(day(due + late)):
                cls.pay(invoice, pay_date=day(due + late))

    def log_promise(self, invoices, amount, date, partner=None):
        """The collector logs a call in which the customer (``partner``, default: the
        invoices' customer, else Acme) promises ``amount`` by ``date`` for ``invoices``
        (none: for what is overdue); returns the promise."""
        partner = partner or invoices.commercial_partner_id or self.customer
        wizard = (
            self.env["collection.interaction.log"]
            .with_user(self.collector)
            .create(
                {
                    "partner_id": partner.id,
                    "channel": "call",
                    "outcome": "promise",
                    "promise": True,
                    "promise_amount": amount,
                    "promise_date": date,
                    "move_ids": [Command.set(invoices.ids)],
                    "note": "Will pay by transfer.",
                }
            )
        )
        wizard.action_confirm()
        return self.env["collection.promise"].search(
            [("partner_id", "=", partner.id)], order="id desc", limit=1
        )

    @classmethod
    def customer_payment(cls, partner, amount, pay_date=None):
        """A posted customer payment of ``amount`` that is not matched with any invoice
        yet (money received on account)."""
        payment = cls.env["account.payment"].create(
            {
                "payment_type": "inbound",
                "partner_type": "customer",
                "partner_id": partner.id,
                "amount": amount,
                "date": pay_date or TODAY,
                "journal_id": cls.company_data["default_journal_bank"].id,
            }
        )
        payment.action_post()
        return payment


class CollectionTourMixin:
    """Browser tours on a loaded two-core machine: give Chromium up to a minute to
    start instead of Odoo's ten seconds, so that a slow start is not taken for a
    missing browser (the tour would be skipped)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.startClassPatcher(patch.object(odoo_test_common, "CHECK_BROWSER_ITERATIONS", 600))


class DunningCommon(CollectionCommon):
    """Base for the tests of the dunning run and of the sending of its reminders: the
    two jobs run as the scheduler runs them (in their own transactions, at a given
    moment), a policy built from its levels, and the company's reminders."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.spain = cls.env.ref("base.es")
        cls.dunning_cron = cls.env.ref("account_collection.ir_cron_collection_dunning")
        cls.queue_cron = cls.env.ref("account_collection.ir_cron_collection_send_queue")

    def trigger(self, cron, moment):
        """The scheduler runs ``cron`` at ``moment`` (UTC), in its own transactions."""
        with freeze_time(moment), self.enter_registry_test_mode():
            return cron.method_direct_trigger()

    def run_cron(self, cron, when, message=None):
        result = self.trigger(cron, when)
        self.assertIs(result, True, message or f"{cron.name} failed: {result}")

    def run_dunning(self, when=TODAY):
        """The daily reminders job runs at ``when``: a moment, or noon of a day."""
        if not isinstance(when, datetime):
            when = datetime.combine(when, time(12))
        self.run_cron(self.dunning_cron, when, "The reminders job failed.")

    def run_queue(self, when):
        """The sending job runs at ``when`` (UTC)."""
        self.run_cron(self.queue_cron, when, "The sending job failed.")

    def reminders(self, partners=None):
        """The company's reminders (of ``partners`` when given), oldest first."""
        domain = [("company_id", "=", self.company.id)]
        if partners is not None:
            domain.append(("partner_id", "in", partners.ids))
        return self.env["collection.communication"].search(domain, order="id")


class DunningCadenceCommon(DunningCommon, MockSmtplibCase):
    """A review policy of five levels, from two days before the due date to a call,
    moving the customer through the stages; no quiet hours, rest days, public holidays
    or message cap unless a test is about them. Emails go to a fake SMTP server
    (``smtp_messages``), SMS to a fake gateway (``sms_gateway``)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        # No quiet hours, no rest days, no public holidays, no message cap, unless a
        # test is about them.
        cls.company.write(
            {
                "collection_quiet_hour_start": 0.0,
                "collection_quiet_hour_end": 0.0,
                "collection_rest_day": False,
                "collection_calendar_id": False,
                "collection_public_holidays": False,
                "collection_message_interval_days": 0,
            }
        )
        cls.template_before = cls.env.ref("account_collection.mail_template_reminder_before_due")
        cls.template_due = cls.env.ref("account_collection.mail_template_reminder_due_today")
        cls.template_overdue = cls.env.ref("account_collection.mail_template_reminder_overdue")
        cls.sms_template = cls.env.ref("account_collection.sms_template_reminder_overdue")
        cls.stage_administrative = cls.env.ref("account_collection.collection_stage_administrative")
        cls.stage_delinquent = cls.env.ref("account_collection.collection_stage_delinquent")
        cls.stage_legal = cls.env.ref("account_collection.collection_stage_legal")
        cls.followup_type = cls.env.ref(
            "account_collection.mail_activity_type_collection_follow_up"
        )
        levels = cls.make_policy(
            "Test reminders",
            [
                {
                    "name": "Soon",
                    "delay": -2,
                    "send_email": True,
                    "mail_template_id": cls.template_before.id,
                },
                # Email; SMS only when the email cannot go.
                {
                    "name": "Due",
                    "delay": 0,
                    "send_email": True,
                    "mail_template_id": cls.template_due.id,
                    "sms_template_id": cls.sms_template.id,
                },
                # SMS; email only when the SMS cannot go.
                {
                    "name": "Text",
                    "delay": 5,
                    "send_sms": True,
                    "sms_template_id": cls.sms_template.id,
                    "mail_template_id": cls.template_overdue.id,
                },
                {
                    "name": "Late",
                    "delay": 10,
                    "send_email": True,
                    "mail_template_id": cls.template_overdue.id,
                    "send_sms": True,
                    "sms_template_id": cls.sms_template.id,
                    "stage_id": cls.stage_administrative.id,
                },
                {
                    "name": "Call",
                    "delay": 20,
                    "create_activity": True,
                    "activity_summary": "Call about the overdue invoices",
                    "activity_responsible": "collector",
                    "stage_id": cls.stage_delinquent.id,
                },
            ],
        )
        cls.policy = levels.policy_id
        cls.level_soon, cls.level_due, cls.level_text, cls.level_late, cls.level_call = levels
        # An invoice already more than ten days late when it first gets a reminder
        # starts at Late, the first email about overdue invoices.
        cls.policy.entry_level_id = cls.level_late

        cls.customer = cls.make_customer("Acme Customer")

    @classmethod
    def make_customer(cls, name, email=True, phone="+34 612 345 678", **values):
        """A Spanish company customer followed by the collector."""
        slug = name.lower().replace(" ", ".")
        partner = cls.env["res.partner"].create(
            {
                "name": name,
                "is_company": True,
                "email": f"{slug}@example.com" if email else False,
                "phone": phone,
                "country_id": cls.spain.id,
                **values,
            }
        )
        partner.with_company(cls.company).collection_user_id = cls.collector
        return partner

    def setUp(self):
        super().setUp()
        # What reached the (fake) SMTP server.
        self.smtp_messages = []

    def trigger(self, cron, moment):
        with self.mock_smtplib_connection():
            result = super().trigger(cron, moment)
        self.smtp_messages += self.emails
        return result

    def delivery(self, reminder, channel):
        return reminder.delivery_ids.filtered(lambda d: d.channel == channel)

    def level_of(self, partner):
        return partner.with_company(self.company).collection_level_id

    def mails(self, partner):
        return self.env["mail.mail"].search(
            [
                ("model", "=", "collection.communication"),
                ("res_id", "in", self.reminders(partner).ids),
            ]
        )

    @contextmanager
    def sms_gateway(self):
        """The SMS provider accepts every message."""
        sent = []

        def _send_sms_batch(api, messages, delivery_reports_url=False):
            results = []
            for message in messages:
                for number in message["numbers"]:
                    sent.append({"number": number["number"], "body": message["content"]})
                    results.append({"uuid": number["uuid"], "state": "success"})
            return results

        with patch.object(SmsApi, "_send_sms_batch", _send_sms_batch):
            yield sent
