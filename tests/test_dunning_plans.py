from odoo.tests import tagged
from odoo.tools import SQL

from .common import TODAY, CollectionCommon, day, on_day


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestDunningPlans(CollectionCommon):
    """The batch queries of the dunning run read the journal items of the batch's
    customers only, through their partner, even on a book as freshly restored (no
    statistics): planned from the company's open items instead, each batch of a large
    run read every one of them (BENCHMARKS.md, "Dunning run on cold statistics")."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.customer = cls.env["res.partner"].create({"name": "Batch customer"})
        cls.env["res.partner"].create(
            {"name": "Its contact", "parent_id": cls.customer.id, "type": "invoice"}
        )
        cls.other = cls.env["res.partner"].create({"name": "Another customer"})
        for partner in (cls.customer, cls.other):
            cls.invoice(partner, 100.0, day(-20))

    def _reset_statistics(self):
        """The catalog as after a restore: no statistics of any table of the book."""
        [(superuser,)] = self.env.execute_query(
            SQL("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        )
        if not superuser:
            self.skipTest("only a superuser can reset the statistics")
        self.env.cr.execute(
            """UPDATE pg_class SET relpages = 0, reltuples = -1, relallvisible = 0
                WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p', 'm')"""
        )
        self.env.cr.execute(
            """DELETE FROM pg_statistic WHERE starelid IN (
                   SELECT oid FROM pg_class WHERE relnamespace = 'public'::regnamespace)"""
        )

    def _item_scans(self, query):
        """The plan nodes of ``query`` reading the journal items."""
        self.env.flush_all()
        [(plan,)] = self.env.execute_query(SQL("EXPLAIN (FORMAT JSON) %s", query))
        nodes, scans = [plan[0]["Plan"]], []
        while nodes:
            node = nodes.pop()
            nodes += node.get("Plans", [])
            if node.get("Relation Name") == "account_move_line" or (
                node.get("Index Name", "").startswith("account_move_line")
            ):
                scans.append(node)
        return scans

    def assertThroughPartner(self, query):
        scans = self._item_scans(query)
        self.assertTrue(scans)
        for node in scans:
            if "Index Name" not in node:
                continue  # the heap of an index scan below
            self.assertIn("partner_id", node.get("Index Cond", ""), node)

    def test_batch_queries_read_the_items_through_their_partner_without_statistics(self):
        company = self.company
        Dunning = self.env["collection.dunning"].with_company(company)
        queries = {
            "candidates": lambda: Dunning._dunning_candidates_sql(
                company, TODAY, self.customer.ids
            ),
            "claimed figures": lambda: SQL(
                "SELECT * FROM %s f",
                self.env["collection.ledger"]._figures_sql(
                    company, TODAY, self.customer.ids, restrict=SQL("TRUE")
                ),
            ),
        }
        self._reset_statistics()
        for name, query in queries.items():
            with self.subTest(query=name):
                self.assertThroughPartner(query())
        # What the batch reads is the same: its customer's figures, not the other's.
        figures = Dunning._claimable_figures(company, TODAY, self.customer.ids)
        self.assertEqual(list(figures), self.customer.ids)
        self.assertEqual(figures[self.customer.id]["overdue_amount"], 100.0)
        self.assertEqual(figures[self.customer.id]["days_overdue"], 20)
