from psycopg2.errors import SerializationFailure

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

    def _cold_plans(self, queries):
        """{name: plan} of ``queries`` planned as on a book freshly restored: no
        statistics of any table. On a cursor of its own, rolled back: an autovacuum's
        ANALYZE committed since the test's snapshot would make deleting the statistics
        fail to serialize in the test's transaction; in a new one it is tried again.
        The queries are only planned: the test's uncommitted rows are not needed."""
        self.env.flush_all()
        for attempt in range(3):
            cr = self.registry.cursor()
            try:
                # a lock held by the test's transaction fails the test, never hangs it
                cr.execute("SET LOCAL lock_timeout = '10s'")
                cr.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
                if not cr.fetchone()[0]:
                    self.skipTest("only a superuser can reset the statistics")
                cr.execute(
                    """UPDATE pg_class SET relpages = 0, reltuples = -1, relallvisible = 0
                        WHERE relnamespace = 'public'::regnamespace
                          AND relkind IN ('r', 'p', 'm')"""
                )
                cr.execute(
                    """DELETE FROM pg_statistic WHERE starelid IN (
                           SELECT oid FROM pg_class
                            WHERE relnamespace = 'public'::regnamespace)"""
                )
                plans = {}
                for name, query in queries.items():
                    cr.execute(SQL("EXPLAIN (FORMAT JSON) %s", query))
                    plans[name] = cr.fetchone()[0]
                return plans
            except SerializationFailure:
                if attempt == 2:
                    raise
            finally:
                cr.rollback()
                cr.close()
        return None

    def _item_scans(self, plan):
        """The plan nodes of ``plan`` reading the journal items."""
        nodes, scans = [plan[0]["Plan"]], []
        while nodes:
            node = nodes.pop()
            members = node.get("Plans", [])
            if node["Node Type"] == "BitmapAnd" and any(
                "partner_id" in member.get("Index Cond", "") for member in members
            ):
                continue  # the partner's index narrows what the other members read
            nodes += members
            if node.get("Relation Name") == "account_move_line" or (
                node.get("Index Name", "").startswith("account_move_line")
            ):
                scans.append(node)
        return scans

    def assertThroughPartner(self, plan):
        scans = self._item_scans(plan)
        self.assertTrue(scans)
        for node in scans:
            if "Index Name" not in node:
                continue  # the heap of an index scan below
            self.assertIn("partner_id", node.get("Index Cond", ""), node)

    def test_batch_queries_read_the_items_through_their_partner_without_statistics(self):
        company = self.company
        Dunning = self.env["collection.dunning"].with_company(company)
        queries = {
            "claimed figures": lambda: SQL(
                "SELECT * FROM %s f",
                self.env["collection.ledger"]._figures_sql(
                    company, TODAY, self.customer.ids, restrict=SQL("TRUE")
                ),
            ),
        }
        plans = self._cold_plans({name: query() for name, query in queries.items()})
        for name, plan in plans.items():
            with self.subTest(query=name):
                self.assertThroughPartner(plan)
        # What the batch reads is the same: its customer's figures, not the other's.
        figures = Dunning._claimable_figures(company, TODAY, self.customer.ids)
        self.assertEqual(list(figures), self.customer.ids)
        self.assertEqual(figures[self.customer.id]["overdue_amount"], 100.0)
        self.assertEqual(figures[self.customer.id]["days_overdue"], 20)
