import threading
import uuid
from datetime import date, timedelta
from unittest.mock import patch

from odoo import SUPERUSER_ID, api
from odoo.exceptions import UserError
from odoo.modules.registry import DummyRLock, Registry
from odoo.service.model import retrying
from odoo.tests import TransactionCase, tagged
from odoo.tools import mute_logger

from ..models.collection_interaction import PORTAL_DAILY_LIMIT


@tagged("post_install", "-at_install")
class TestPortalLimitConcurrency(TransactionCase):
    """Two promises posted from a customer's statement link at the same moment, when
    the customer has one left for the day: one is recorded, the other refused with the
    limit's message, as the server runs them (each request in its own transaction,
    retried on a serialization failure).

    As in test_dunning_concurrency, this needs connections that see each other's
    committed work: the customer is committed in the main company through a cursor of
    its own, each request runs in a thread with its own cursor, and everything
    committed is deleted afterwards."""

    def setUp(self):
        super().setUp()
        self.tag = uuid.uuid4().hex[:8]
        self.public_uid = self.env.ref("base.public_user").id
        self.partner_id = None
        self.addCleanup(self._delete_fixture)
        with self.registry.cursor() as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            self.company_id = env.ref("base.main_company").id
            self.partner_id = (
                env["res.partner"]
                .create({"name": f"Portal customer {self.tag}", "is_company": True})
                .id
            )
        # The customer already promised all but once today, from the portal.
        for _index in range(PORTAL_DAILY_LIMIT - 1):
            with self.registry.cursor() as cr:
                self._post(api.Environment(cr, self.public_uid, {}))

    def _delete_fixture(self):
        if not self.partner_id:
            return
        with self.registry.cursor() as cr:
            # Interactions and promises are evidence that no one may delete: only this
            # test's own are removed, straight from the tables.
            cr.execute(
                "DELETE FROM collection_interaction WHERE partner_id = %s", [self.partner_id]
            )
            cr.execute("DELETE FROM collection_promise WHERE partner_id = %s", [self.partner_id])
            env = api.Environment(cr, SUPERUSER_ID, {})
            env["res.partner"].browse(self.partner_id).unlink()

    def _post(self, env):
        """What the portal controller does with the promise form of the customer's
        statement link (the token checked): a promise of 100 in five days."""
        partner = env["res.partner"].sudo().browse(self.partner_id)
        company = env["res.company"].sudo().browse(self.company_id)
        return (
            env["collection.promise"]
            ._create_from_portal(
                partner,
                env["account.move"],
                "100",
                (date.today() + timedelta(days=5)).isoformat(),
                f"Promise {self.tag}",
                company=company,
            )
            .id
        )

    def _promises(self):
        with self.registry.cursor() as cr:
            cr.execute(
                "SELECT COUNT(*) FROM collection_promise WHERE partner_id = %s", [self.partner_id]
            )
            return cr.fetchone()[0]

    def test_concurrent_posts_keep_the_daily_limit(self):
        Interaction = type(self.env["collection.interaction"])
        check_rate = Interaction._portal_check_rate
        first_checked = threading.Event()
        second_checked = threading.Event()

        def checking(model, partner, company, kind):
            # The second request is checked while the first, checked, is not
            # committed yet: it waits for it, then counts it.
            name = threading.current_thread().name
            if name == "second":
                first_checked.wait(30)
            result = check_rate(model, partner, company, kind)
            if name == "first":
                first_checked.set()
                second_checked.wait(5)
            else:
                second_checked.set()
            return result

        results = {}
        errors = []

        def request(name):
            try:
                with self.registry.cursor() as cr:
                    env = api.Environment(cr, self.public_uid, {})
                    results[name] = retrying(lambda: self._post(env), env)
            except UserError as e:
                results[name] = str(e)
            except Exception as e:
                errors.append(f"{name}: {e!r}")

        workers = [threading.Thread(target=request, args=(n,), name=n) for n in ("first", "second")]
        # The test runner holds the lock of the registries while it runs the tests: the
        # requests use the loaded registry without it, as the HTTP workers of tests do.
        with (
            patch.object(Interaction, "_portal_check_rate", checking),
            patch.object(Registry, "_lock", DummyRLock()),
            # The second request's lock fails to serialize, and is run again.
            mute_logger("odoo.sql_db"),
        ):
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join(timeout=120)
        self.assertFalse([w for w in workers if w.is_alive()], "a request is stuck")
        self.assertFalse(errors, "no request failed otherwise")
        self.assertIsInstance(results["first"], int, "the first promise is recorded")
        self.assertIsInstance(results["second"], str, "the second promise is refused")
        self.assertIn("You have already made 3 promises to pay today", results["second"])
        self.assertEqual(self._promises(), PORTAL_DAILY_LIMIT)
