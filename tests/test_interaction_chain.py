from odoo import Command
from odoo.exceptions import AccessError, UserError
from odoo.tests import HttpCase, tagged

from .common import TODAY, CollectionCommon, day, on_day


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionInteractionChain(CollectionCommon):
    """The interaction log is sealed: each entry carries the SHA-256 of its facts and of
    the entry before it in the company, and the verification finds a row changed in the
    database afterwards."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.move = cls.invoice(cls.customer, 1000.0, day(-20))

    def log(self, user=None, **values):
        Interaction = self.env["collection.interaction"].with_user(user or self.collector)
        return Interaction.create(
            {"partner_id": self.customer.id, "channel": "call", "outcome": "no_answer", **values}
        )

    def verify(self, user=None):
        Interaction = self.env["collection.interaction"].with_user(user or self.collection_manager)
        return Interaction.verify_chain(self.company.id)

    def test_entries_are_chained_in_creation_order(self):
        first = self.log(note="Nobody answered.")
        second = self.log(outcome="contacted", move_ids=[Command.set(self.move.ids)])
        third = self.log(user=self.collection_manager, channel="visit", outcome="contacted")
        for entry in first | second | third:
            self.assertRegex(entry.chain_hash, r"^[0-9a-f]{64}$")
        self.assertEqual(second.chain_previous_hash, first.chain_hash)
        self.assertEqual(third.chain_previous_hash, second.chain_hash)
        self.assertEqual(self.verify(), {"valid": True, "first_broken_id": False})
        # Archiving is the one change allowed: the seal still holds.
        second.with_user(self.collection_manager).action_archive()
        self.assertEqual(self.verify(), {"valid": True, "first_broken_id": False})

    def test_a_row_changed_by_sql_is_found(self):
        first = self.log(note="Will pay on Friday.")
        second = self.log(note="Promised again.", move_ids=[Command.set(self.move.ids)])
        self.log()  # an entry after it
        self.env.cr.execute(
            "UPDATE collection_interaction SET note = 'Never called' WHERE id = %s", [second.id]
        )
        self.assertEqual(self.verify(), {"valid": False, "first_broken_id": second.id})
        self.env.cr.execute(
            "UPDATE collection_interaction SET note = 'Promised again.' WHERE id = %s",
            [second.id],
        )
        self.assertEqual(self.verify(), {"valid": True, "first_broken_id": False})
        # The invoices it was about, changed in the relation table.
        self.env.cr.execute(
            "DELETE FROM collection_interaction_account_move_rel "
            "WHERE collection_interaction_id = %s",
            [second.id],
        )
        self.assertEqual(self.verify(), {"valid": False, "first_broken_id": second.id})
        self.env.cr.execute(
            "INSERT INTO collection_interaction_account_move_rel "
            "(collection_interaction_id, account_move_id) VALUES (%s, %s)",
            [second.id, self.move.id],
        )
        self.assertEqual(self.verify(), {"valid": True, "first_broken_id": False})
        # The first entry's seal removed, as if the chain started later: the next entry
        # no longer follows.
        self.env.cr.execute(
            "UPDATE collection_interaction SET chain_hash = NULL WHERE id = %s", [first.id]
        )
        self.assertEqual(self.verify(), {"valid": False, "first_broken_id": second.id})

    def test_seal_is_not_written_by_users(self):
        entry = self.log(chain_hash="0" * 64, chain_previous_hash="1" * 64)
        self.assertNotEqual(entry.chain_hash, "0" * 64)
        manager_entry = self.log(user=self.collection_manager, chain_hash="0" * 64)
        self.assertEqual(manager_entry.chain_previous_hash, entry.chain_hash)
        for user in (self.collector, self.collection_manager):
            with self.assertRaises(UserError):
                entry.with_user(user).write({"chain_hash": "0" * 64})
        self.assertEqual(self.verify(), {"valid": True, "first_broken_id": False})

    def test_verify_action_for_managers(self):
        entry = self.log()
        Interaction = self.env["collection.interaction"]
        action = Interaction.with_user(self.collection_manager).action_collection_verify_chain()
        self.assertEqual(action["params"]["type"], "success")
        self.env.cr.execute(
            "UPDATE collection_interaction SET overdue_amount = 1 WHERE id = %s", [entry.id]
        )
        action = Interaction.with_user(self.collection_manager).action_collection_verify_chain()
        self.assertEqual(action["params"]["type"], "danger")
        self.assertEqual(action["params"]["next"]["res_id"], entry.id)
        with self.assertRaises(AccessError):
            Interaction.with_user(self.collector).action_collection_verify_chain()

    def test_other_company_log(self):
        """Each company has its own chain; nobody verifies a company not theirs."""
        other = self.setup_other_company()["company"]
        with self.assertRaises(AccessError):
            self.env["collection.interaction"].with_user(self.collector).verify_chain(other.id)
        with self.assertRaises(UserError):
            self.env["collection.interaction"].with_user(self.collector).verify_chain("nope")
        entry = self.log()
        self.assertEqual(
            self.env["collection.interaction"].verify_chain(other.id),
            {"valid": True, "first_broken_id": False},
        )
        self.assertTrue(entry.chain_hash)


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionInteractionChainApi(CollectionCommon, HttpCase):
    """An auditor's tool verifies the log over JSON-2 with a collector's API key."""

    def json2(self, user, model, method, **params):
        # sudo: a key without expiry (the database clock is not the frozen one).
        key = (
            self.env["res.users.apikeys"]
            .with_user(user)
            .sudo()
            ._generate(scope="rpc", name="audit", expiration_date=None)
        )
        return self.url_open(
            f"/json/2/{model}/{method}", json=params, headers={"Authorization": f"Bearer {key}"}
        )

    def test_verify_chain_over_json2(self):
        entry = (
            self.env["collection.interaction"]
            .with_user(self.collector)
            .create({"partner_id": self.customer.id, "channel": "call", "outcome": "contacted"})
        )
        response = self.json2(
            self.collector, "collection.interaction", "verify_chain", company_id=self.company.id
        )
        self.assertEqual(response.status_code, 200, response.text)
        self.assertEqual(response.json(), {"valid": True, "first_broken_id": False})
        self.env.cr.execute(
            "UPDATE collection_interaction SET channel = 'visit' WHERE id = %s", [entry.id]
        )
        response = self.json2(
            self.collector, "collection.interaction", "verify_chain", company_id=self.company.id
        )
        self.assertEqual(response.json(), {"valid": False, "first_broken_id": entry.id})
