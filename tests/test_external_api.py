from datetime import timedelta
from xmlrpc.client import Fault

from odoo.tests import HttpCase, get_db_name, tagged
from odoo.tools import mute_logger

from .common import TODAY, CollectionCommon, on_day


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionExternalApi(CollectionCommon, HttpCase):
    """An integrator drives collections through Odoo's external API (XML-RPC), logged
    in as a collector: figures, worklist, promises and the evidence rules hold there
    exactly as in the application."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        Partner = cls.env["res.partner"]
        cls.big_debtor = Partner.create({"name": "Big Debtor", "is_company": True})
        cls.small_debtor = Partner.create({"name": "Small Debtor", "is_company": True})
        cls.invoice(cls.big_debtor, 5000.0, TODAY - timedelta(days=60))
        cls.acme_invoice = cls.invoice(cls.customer, 1000.0, TODAY - timedelta(days=20))
        cls.invoice(cls.customer, 250.0, TODAY + timedelta(days=15))
        cls.invoice(cls.small_debtor, 300.0, TODAY - timedelta(days=5))
        # Logged by the engine: facts only, nothing done to the customer.
        cls.interaction = (
            cls.env["collection.interaction"]
            .sudo()
            .create({"partner_id": cls.customer.id, "channel": "call", "outcome": "no_answer"})
        )

    def setUp(self):
        super().setUp()
        self.enterContext(mute_logger("odoo.addons.rpc.controllers.xmlrpc"))
        self.db = get_db_name()
        self.password = "collector"
        self.uid = self.xmlrpc_common.login(self.db, "collector", self.password)
        self.assertEqual(self.uid, self.collector.id)

    def rpc(self, model, method, *args, **kwargs):
        return self.xmlrpc_object.execute_kw(
            self.db, self.uid, self.password, model, method, list(args), kwargs
        )

    def create_promise(self, days, **values):
        """Over RPC, Acme promises 600 in ``days`` days (negative: in the past)."""
        return self.rpc(
            "collection.promise",
            "create",
            {
                "partner_id": self.customer.id,
                "amount": 600.0,
                "date": (TODAY + timedelta(days=days)).isoformat(),
                **values,
            },
        )

    def customer_status(self):
        """Acme's collection status, read over RPC."""
        [partner] = self.rpc(
            "res.partner", "read", [self.customer.id], fields=["collection_status"]
        )
        return partner["collection_status"]

    def test_read_collection_figures(self):
        [values] = self.rpc(
            "res.partner",
            "read",
            [self.customer.id],
            fields=[
                "collection_overdue_amount",
                "collection_due_amount",
                "collection_days_overdue",
                "collection_bucket_id",
                "collection_status",
                "collection_priority",
            ],
        )
        self.assertEqual(values["collection_overdue_amount"], 1000.0)
        self.assertEqual(values["collection_due_amount"], 1250.0)
        self.assertEqual(values["collection_days_overdue"], 20)
        bucket_1_30 = self.env["collection.aging.bucket"].search(
            [("company_id", "=", self.company.id), ("days_from", "=", 1)]
        )
        self.assertEqual(values["collection_bucket_id"][0], bucket_1_30.id)
        self.assertEqual(values["collection_status"], "current")
        self.assertGreater(values["collection_priority"], 0)

    def test_search_worklist_by_priority(self):
        action = self.rpc("res.partner", "action_collection_worklist")
        ours = [self.big_debtor.id, self.customer.id, self.small_debtor.id]
        rows = self.rpc(
            "res.partner",
            "search_read",
            action["domain"] + [["id", "in", ours]],
            fields=["name", "collection_priority"],
            order="collection_priority desc",
        )
        self.assertEqual([r["name"] for r in rows], ["Big Debtor", "Acme Customer", "Small Debtor"])
        priorities = [r["collection_priority"] for r in rows]
        self.assertEqual(priorities, sorted(priorities, reverse=True))
        overdue = self.rpc(
            "res.partner",
            "search",
            [["collection_days_overdue", ">", 30], ["id", "in", ours]],
        )
        self.assertEqual(overdue, [self.big_debtor.id])

    def test_create_promise_changes_status(self):
        promise_id = self.create_promise(7, move_ids=[[6, 0, [self.acme_invoice.id]]])
        [promise] = self.rpc(
            "collection.promise", "read", [promise_id], fields=["state", "user_id"]
        )
        self.assertEqual(promise["state"], "open")
        self.assertEqual(promise["user_id"][0], self.collector.id)
        self.assertEqual(self.customer_status(), "paying")

    def test_promise_in_the_past_is_a_clear_fault(self):
        with self.assertRaises(Fault) as caught, mute_logger("odoo.http"):
            self.create_promise(-1)
        self.assertIn("in the past", caught.exception.faultString)
        self.assertNotIn("Traceback", caught.exception.faultString)
        self.assertFalse(
            self.rpc("collection.promise", "search", [["partner_id", "=", self.customer.id]])
        )
        self.assertEqual(self.customer_status(), "current")

    def test_promise_outcome_cannot_be_forged(self):
        promise_id = self.create_promise(7, move_ids=[[6, 0, [self.acme_invoice.id]]])
        with self.assertRaises(Fault) as caught, mute_logger("odoo.http"):
            self.rpc(
                "collection.promise", "write", [promise_id], {"state": "kept", "amount_paid": 600.0}
            )
        self.assertIn("follow the ledger", caught.exception.faultString)
        [promise] = self.rpc(
            "collection.promise", "read", [promise_id], fields=["state", "amount_paid"]
        )
        self.assertEqual((promise["state"], promise["amount_paid"]), ("open", 0.0))

    def test_interaction_cannot_be_written(self):
        with self.assertRaises(Fault) as caught, mute_logger("odoo.http"):
            self.rpc("collection.interaction", "write", [self.interaction.id], {"note": "Changed"})
        self.assertIn("evidence", caught.exception.faultString)
        with self.assertRaises(Fault), mute_logger("odoo.http"):
            self.rpc("collection.interaction", "unlink", [self.interaction.id])
        [values] = self.rpc(
            "collection.interaction", "read", [self.interaction.id], fields=["note"]
        )
        self.assertFalse(values["note"])

    def test_log_interaction_through_wizard(self):
        wizard_id = self.rpc(
            "collection.interaction.log",
            "create",
            {
                "partner_id": self.customer.id,
                "channel": "call",
                "outcome": "dispute",
                "move_ids": [[6, 0, [self.acme_invoice.id]]],
                "dispute_reason_id": self.env.ref(
                    "account_collection.collection_dispute_reason_wrong_price"
                ).id,
                "note": "Disputes the March invoice.",
            },
        )
        self.rpc("collection.interaction.log", "action_confirm", [wizard_id])
        self.assertEqual(self.customer_status(), "dispute")
        [dispute] = self.rpc(
            "collection.dispute",
            "search_read",
            [["partner_id", "=", self.customer.id]],
            fields=["state", "move_ids", "description"],
        )
        self.assertEqual(
            (dispute["state"], dispute["move_ids"], dispute["description"]),
            ("open", [self.acme_invoice.id], "Disputes the March invoice."),
        )
        logged = self.rpc(
            "collection.interaction",
            "search_read",
            [["partner_id", "=", self.customer.id], ["outcome", "=", "dispute"]],
            fields=["user_id", "overdue_amount", "status_before", "status_after"],
        )
        self.assertEqual(len(logged), 1)
        self.assertEqual(logged[0]["user_id"][0], self.collector.id)
        self.assertEqual(logged[0]["overdue_amount"], 1000.0)
        self.assertEqual(
            (logged[0]["status_before"], logged[0]["status_after"]), ("current", "dispute")
        )

    def json2(self, model, method, **params):
        """POST /json/2/<model>/<method> with the collector's API key."""
        # sudo: a key without expiry (the database clock is not the frozen one).
        key = (
            self.env["res.users.apikeys"]
            .with_user(self.collector)
            .sudo()
            ._generate(scope="rpc", name="integration", expiration_date=None)
        )
        return self.url_open(
            f"/json/2/{model}/{method}",
            json=params,
            headers={"Authorization": f"Bearer {key}", "X-Odoo-Database": self.db},
        )

    def test_interaction_over_json2_works_like_the_dialog(self):
        """An integrator logs a call with its outcome: the customer's status, its next
        action and follow-up activity and the chatter note follow, as from the dialog."""
        follow_up = self.env.ref("account_collection.mail_activity_type_collection_follow_up")
        response = self.json2(
            "collection.interaction",
            "create",
            vals_list=[
                {
                    "partner_id": self.customer.id,
                    "channel": "call",
                    "outcome": "refusal",
                    "status_after": "refusal",
                    "next_action_date": (TODAY + timedelta(days=3)).isoformat(),
                    "note": "Refuses until the goods are replaced.",
                }
            ],
        )
        self.assertEqual(response.status_code, 200, response.text)
        [interaction_id] = response.json()
        interaction = self.env["collection.interaction"].browse(interaction_id)
        self.assertRecordValues(
            interaction,
            [{"user_id": self.collector.id, "status_before": "current", "status_after": "refusal"}],
        )
        customer = self.customer.with_company(self.company)
        self.assertEqual(customer.collection_status, "refusal")
        self.assertEqual(customer.collection_next_action_date, TODAY + timedelta(days=3))
        self.assertEqual(customer.collection_user_id, self.collector)
        activity = customer.activity_ids.filtered(lambda a: a.activity_type_id == follow_up)
        self.assertRecordValues(
            activity,
            [
                {
                    "user_id": customer.collection_user_id.id,
                    "date_deadline": TODAY + timedelta(days=3),
                }
            ],
        )
        self.assertTrue(
            customer.message_ids.filtered(
                lambda m: "Refuses until the goods are replaced." in str(m.body)
            )
        )

    def test_interaction_over_json2_has_the_dialog_checks(self):
        with mute_logger("odoo.http"):
            response = self.json2(
                "collection.interaction",
                "create",
                vals_list=[
                    {
                        "partner_id": self.customer.id,
                        "channel": "call",
                        "outcome": "callback",
                        "next_action_date": (TODAY - timedelta(days=1)).isoformat(),
                    }
                ],
            )
        self.assertNotEqual(response.status_code, 200)
        self.assertIn("cannot be planned in the past", response.text)
        self.assertEqual(
            self.env["collection.interaction"].search_count(
                [("partner_id", "=", self.customer.id)]
            ),
            1,
        )
        self.assertFalse(self.customer.with_company(self.company).collection_next_action_date)
