import threading
import time
import uuid
from collections import Counter
from datetime import datetime, timedelta
from unittest.mock import patch

import pytz

from odoo import SUPERUSER_ID, Command, api
from odoo.modules.registry import DummyRLock, Registry
from odoo.tests import TransactionCase, freeze_time, tagged

from ..models import collection_communication_delivery as delivery_module
from .common import TODAY
from .fake_providers import PHONE_NUMBER_ID, FakeProviders

CUSTOMERS = 8


@tagged("post_install", "-at_install")
class TestDunningConcurrency(TransactionCase):
    """Two workers (the crons of two Odoo servers) run the reminders at the same
    moment: each customer gets exactly one reminder per level, and each message is
    sent once.

    This needs what a test transaction cannot give: separate database connections
    that see each other's committed work and wait on each other's row locks. So the
    data is committed through cursors of its own in the main company, with names of
    its own, each worker runs in a thread with its own cursor, and everything
    committed is deleted afterwards. The test transaction itself writes nothing."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.server = FakeProviders(slow_seconds=2.0).start()
        cls.addClassCleanup(cls.server.stop)

    def setUp(self):
        super().setUp()
        self.tag = uuid.uuid4().hex[:8]
        self.server.requests.clear()
        self.server.script("whatsapp", [])
        self.fixture = {}
        self.addCleanup(self._delete_fixture)
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            company = env.ref("base.main_company")
            journal = env["account.journal"].search(
                [("type", "=", "sale"), *env["account.journal"]._check_company_domain(company)],
                limit=1,
            )
            if not journal:
                self.skipTest("the main company has no chart of accounts")
            tz = pytz.timezone(company.partner_id.tz or "UTC")
            # Noon in the company's time zone, on a working day: messages may go.
            self.now = (
                tz.localize(datetime.combine(TODAY, datetime.min.time()) + timedelta(hours=12))
                .astimezone(pytz.utc)
                .replace(tzinfo=None)
            )
            # Deliveries held until later (the demo's) are not sent by a queue run now.
            if env["collection.communication.delivery"].search_count(
                [
                    "|",
                    ("state", "=", "sending"),
                    "&",
                    ("state", "=", "queued"),
                    "|",
                    ("next_attempt", "=", False),
                    ("next_attempt", "<=", self.now),
                ]
            ):
                self.skipTest("the database has reminders waiting to be sent")
            self._create_fixture(env, company, journal)
            plan = env["collection.dunning"]._dunning_plan(company, TODAY)
            if set(plan) != set(self.fixture["partner_ids"]):
                self.skipTest("other customers of the main company would get reminders")

    def _create_fixture(self, env, company, journal):
        fixture = self.fixture
        fixture["company_id"] = company.id
        params = env["ir.config_parameter"]
        fixture["params"] = {
            key: params.get_param(key)
            for key in (
                "account_collection.whatsapp_api_url",
                "account_collection.whatsapp_timeout",
            )
        }
        params.set_param("account_collection.whatsapp_api_url", self.server.url)
        params.set_param("account_collection.whatsapp_timeout", "30")

        # The company's default policy has no level: only the customers of this test,
        # who have a policy of their own, get reminders.
        silent, policy = env["collection.policy"].create(
            [
                {"name": f"No reminders {self.tag}", "company_id": company.id},
                {
                    "name": f"Concurrent reminders {self.tag}",
                    "company_id": company.id,
                    "mode": "automatic",
                    "level_ids": [
                        Command.create(
                            {
                                "name": f"Due {self.tag}",
                                "delay": 0,
                                "send_whatsapp": True,
                                "whatsapp_template_name": "payment_due",
                            }
                        ),
                        Command.create(
                            {
                                "name": f"Overdue {self.tag}",
                                "delay": 5,
                                "send_whatsapp": True,
                                "whatsapp_template_name": "payment_overdue",
                            }
                        ),
                    ],
                },
            ]
        )
        fixture["policy_ids"] = (silent | policy).ids
        settings = {
            "collection_policy_id": silent.id,
            "collection_whatsapp_phone_number_id": PHONE_NUMBER_ID,
            "collection_whatsapp_token": "test-token",
            # Messages may go at noon on a Monday.
            "collection_quiet_hour_start": 20.0,
            "collection_quiet_hour_end": 8.0,
            "collection_rest_day": "6",
        }
        fixture["company"] = company._convert_to_write(company.read(list(settings))[0])
        del fixture["company"]["id"]
        company.write(settings)

        journal = journal.copy(
            {
                "name": f"Reminders {self.tag}",
                "code": self.tag[:5].upper(),
                "default_account_id": journal.default_account_id.id,
            }
        )
        fixture["journal_id"] = journal.id
        spain = env.ref("base.es")
        partners = env["res.partner"].create(
            [
                {
                    "name": f"Customer {self.tag} {index}",
                    "is_company": True,
                    "phone": f"612 00 00 {index:02d}",
                    "country_id": spain.id,
                }
                for index in range(CUSTOMERS)
            ]
        )
        fixture["partner_ids"] = partners.ids
        partners.with_company(company).collection_policy_id = policy
        # Even customers have an invoice due today, odd ones one due five days ago too.
        moves = env["account.move"]
        for index, partner in enumerate(partners):
            for overdue in (0, 5) if index % 2 else (0,):
                due = TODAY - timedelta(days=overdue)
                moves |= moves.with_company(company).create(
                    {
                        "move_type": "out_invoice",
                        "journal_id": journal.id,
                        "partner_id": partner.id,
                        "invoice_date": due - timedelta(days=30),
                        "invoice_date_due": due,
                        "invoice_line_ids": [
                            Command.create({"name": "Goods", "price_unit": 100.0, "tax_ids": []})
                        ],
                    }
                )
        fixture["move_ids"] = moves.ids
        moves.action_post()
        self.expected_level = {
            partner.id: policy.level_ids.sorted("delay")[index % 2].id
            for index, partner in enumerate(partners)
        }

    def _delete_fixture(self):
        fixture = self.fixture
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            partners = env["res.partner"].browse(fixture.get("partner_ids", []))
            if partners:
                # Interactions are evidence that no one may delete: only this test's own
                # data is removed, straight from the table.
                cr.execute(
                    "DELETE FROM collection_interaction WHERE partner_id IN %s",
                    [tuple(partners.ids)],
                )
                env["collection.communication"].search(
                    [("partner_id", "in", partners.ids)]
                ).unlink()
            moves = env["account.move"].browse(fixture.get("move_ids", [])).exists()
            moves.filtered(lambda m: m.state == "posted").button_draft()
            moves.with_context(force_delete=True).unlink()
            partners.unlink()
            env["account.journal"].browse(fixture.get("journal_id")).exists().unlink()
            if "company" in fixture:
                env["res.company"].browse(fixture["company_id"]).write(fixture["company"])
            env["collection.policy"].browse(fixture.get("policy_ids", [])).exists().unlink()
            for key, value in fixture.get("params", {}).items():
                env["ir.config_parameter"].set_param(key, value or False)

    # ------------------------------------------------------------------

    def in_workers(self, method):
        """Run ``method(env, name)`` in two workers named "first" and "second", each in a
        thread with its own database connection, committing as a cron does. Returns
        what each returned."""
        results = {}
        errors = []

        def work(name):
            try:
                with self.registry.cursor() as cr:
                    results[name] = method(api.Environment(cr, SUPERUSER_ID, {}), name)
            except Exception as e:
                errors.append(f"{name}: {e!r}")

        workers = [
            threading.Thread(target=work, args=(name,), name=name) for name in ("first", "second")
        ]
        # The test runner holds the lock of the registries while it runs the tests, as
        # the server does while it loads them: the workers use the loaded registry
        # without it, as the test framework does for its HTTP workers.
        with freeze_time(self.now), patch.object(Registry, "_lock", DummyRLock()):
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join(timeout=120)
        self.assertFalse([w for w in workers if w.is_alive()], "a worker is stuck")
        self.assertFalse(errors, "no worker failed")
        return results

    def read(self, query, *params):
        """Read committed data, as a third connection."""
        with self.registry.cursor() as cr:
            cr.execute(query, params)
            return cr.fetchall()

    def run_dunning(self, env, name=None):
        company = env["res.company"].browse(self.fixture["company_id"])
        return env["collection.dunning"]._run_dunning(company, TODAY).ids

    def assertOneReminderPerCustomer(self):
        rows = self.read(
            "SELECT partner_id, level_id, COUNT(*) FROM collection_communication "
            "WHERE partner_id IN %s GROUP BY partner_id, level_id",
            tuple(self.fixture["partner_ids"]),
        )
        self.assertEqual(
            sorted(rows),
            sorted((partner, level, 1) for partner, level in self.expected_level.items()),
        )
        rows = self.read(
            "SELECT d.channel, d.state, COUNT(*) FROM collection_communication_delivery d "
            "JOIN collection_communication c ON c.id = d.communication_id "
            "WHERE c.partner_id IN %s GROUP BY d.channel, d.state",
            tuple(self.fixture["partner_ids"]),
        )
        self.assertEqual(rows, [("whatsapp", "queued", CUSTOMERS)])

    # ------------------------------------------------------------------

    def test_worker_with_an_old_plan_creates_nothing_twice(self):
        """The second worker found every customer to do, but locks them only once the
        first has created and committed their reminders."""
        Dunning = type(self.env["collection.dunning"])
        customer_ids = Dunning._dunning_customer_ids
        planned = threading.Barrier(2, timeout=30)
        first_done = threading.Event()

        def listed(model, company):
            result = customer_ids(model, company)
            planned.wait()
            if threading.current_thread().name == "second":
                first_done.wait(30)
            return result

        def run(env, name):
            try:
                return self.run_dunning(env)
            finally:
                if name == "first":
                    first_done.set()

        with patch.object(Dunning, "_dunning_customer_ids", listed):
            created = self.in_workers(run)
        self.assertEqual(len(created["first"]), CUSTOMERS)
        self.assertEqual(created["second"], [])
        self.assertOneReminderPerCustomer()

        # Running again, both at once, creates nothing.
        created = self.in_workers(self.run_dunning)
        self.assertEqual(created, {"first": [], "second": []})
        self.assertOneReminderPerCustomer()

    def test_customers_locked_by_a_worker_are_left_to_it(self):
        """The second worker runs while the first holds its customers, before it
        commits their reminders."""
        Dunning = type(self.env["collection.dunning"])
        customer_ids = Dunning._dunning_customer_ids
        create_from_plan = Dunning._create_from_plan
        first_locked = threading.Event()
        second_done = threading.Event()

        def listed(model, company):
            if threading.current_thread().name == "second":
                first_locked.wait(30)
            return customer_ids(model, company)

        def create(model, company, today, plan):
            if plan and threading.current_thread().name == "first":
                first_locked.set()
                second_done.wait(30)
            return create_from_plan(model, company, today, plan)

        def run(env, name):
            try:
                return self.run_dunning(env)
            finally:
                if name == "second":
                    second_done.set()

        with (
            patch.object(Dunning, "_dunning_customer_ids", listed),
            patch.object(Dunning, "_create_from_plan", create),
        ):
            created = self.in_workers(run)
        self.assertTrue(first_locked.is_set())
        self.assertEqual(len(created["first"]), CUSTOMERS)
        self.assertEqual(created["second"], [])
        self.assertOneReminderPerCustomer()

    def test_two_workers_send_each_message_once(self):
        """The second worker sends the queue while the first waits for the provider's
        answer to the first message of its batch: with more deliveries than a batch,
        each worker claims batches the other does not hold."""
        with self.registry.cursor() as cr, freeze_time(self.now):
            self.run_dunning(api.Environment(cr, SUPERUSER_ID, {}))
        self.assertOneReminderPerCustomer()
        self.server.script("whatsapp", ["slow"])

        def send(env, name):
            if name == "second":
                for _wait in range(3000):
                    if self.server.sent("whatsapp"):
                        break
                    time.sleep(0.01)
            return env["collection.communication.delivery"]._process_queue()

        with patch.object(delivery_module, "QUEUE_BATCH_SIZE", 3):
            sent = self.in_workers(send)
        self.assertTrue(sent["first"] and sent["second"], f"both workers sent: {sent}")
        self.assertEqual(sent["first"] + sent["second"], CUSTOMERS)
        phones = Counter(r["json"]["to"] for r in self.server.sent("whatsapp"))
        self.assertEqual(
            phones, Counter({f"+346120000{index:02d}": 1 for index in range(CUSTOMERS)})
        )
        rows = self.read(
            "SELECT d.state, COUNT(*), COUNT(DISTINCT d.provider_ref) "
            "FROM collection_communication_delivery d "
            "JOIN collection_communication c ON c.id = d.communication_id "
            "WHERE c.partner_id IN %s GROUP BY d.state",
            tuple(self.fixture["partner_ids"]),
        )
        self.assertEqual(rows, [("sent", CUSTOMERS, CUSTOMERS)])
        rows = self.read(
            "SELECT COUNT(*) FROM collection_interaction WHERE partner_id IN %s AND automatic",
            tuple(self.fixture["partner_ids"]),
        )
        self.assertEqual(rows, [(CUSTOMERS,)])
