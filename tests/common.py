from datetime import date, datetime, time, timedelta

from unittest.mock import patch

from odoo import Command
from odoo.tests import common as odoo_test_common
from odoo.tests import freeze_time, new_test_user

from odoo.addons.account.tests.common import AccountTestInvoicingCommon

# Every test runs on this frozen day (freeze_time(TODAY)).
TODAY = date(2026, 3, 16)


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
        cls.collector = new_test_user(
            cls.env,
            login="collector",
            name="Carla Collector",
            groups="account_collection.group_collection_user",
            company_id=cls.company.id,
            company_ids=[Command.set(cls.company.ids)],
        )
        cls.collection_manager = new_test_user(
            cls.env,
            login="collection_manager",
            name="Manuel Manager",
            groups="account_collection.group_collection_manager",
            company_id=cls.company.id,
            company_ids=[Command.set(cls.company.ids)],
        )
        cls.customer = cls.env["res.partner"].create(
            {"name": "Acme Customer", "is_company": True, "email": "acme@example.com"}
        )

    @classmethod
    def invoice(cls, partner, amount, due, move_type="out_invoice", post=True, currency=None,
                company=None):
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
