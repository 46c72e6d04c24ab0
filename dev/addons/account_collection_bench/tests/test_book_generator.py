from contextlib import closing
from datetime import datetime, time

from odoo.tests import freeze_time, tagged
from odoo.tools import SQL

from odoo.addons.account_collection.tests.common import TODAY, CollectionCommon, on_day
from odoo.addons.account_collection_bench.tools import (
    backtest,
    benchmark,
    book_generator,
    targets,
)

# The tables the book is written in, with the columns that point to rows of the book.
BOOK_TABLES = {
    "account_move": "account.move",
    "account_move_line": "account.move.line",
    "account_payment": "account.payment",
    "account_partial_reconcile": "account.partial.reconcile",
    "account_full_reconcile": "account.full.reconcile",
}


def book_high_water(env):
    """The highest id of each table of the book: rows above it are new."""
    marks = {}
    for table in BOOK_TABLES:
        [(marks[table],)] = env.execute_query(
            SQL("SELECT COALESCE(MAX(id), 0) FROM %s", SQL.identifier(table))
        )
    return marks


def book_snapshot(env, marks):
    """Every column of every row written since ``marks``, keyed by what identifies the
    row whatever its id (a move by its name, a journal item by its move and position),
    with the references between those rows translated to the same keys."""
    env.flush_all()
    cr = env.cr
    rows = {}
    for table in BOOK_TABLES:
        cr.execute(
            SQL("SELECT * FROM %s WHERE id > %s ORDER BY id", SQL.identifier(table), marks[table])
        )
        columns = [d[0] for d in cr.description]
        rows[table] = [dict(zip(columns, row, strict=True)) for row in cr.fetchall()]
    cr.execute(
        "SELECT invoice_id, payment_id FROM account_move__account_payment WHERE payment_id > %s",
        [marks["account_payment"]],
    )
    relations = cr.fetchall()

    keys = {table: {} for table in BOOK_TABLES}
    for move in rows["account_move"]:
        keys["account_move"][move["id"]] = move["name"]
    position = {}
    for line in rows["account_move_line"]:
        group = (keys["account_move"][line["move_id"]], line["display_type"])
        position[group] = position.get(group, 0) + 1
        keys["account_move_line"][line["id"]] = (*group, position[group])
    for payment in rows["account_payment"]:
        keys["account_payment"][payment["id"]] = payment["name"]
    for partial in rows["account_partial_reconcile"]:
        keys["account_partial_reconcile"][partial["id"]] = (
            keys["account_move_line"][partial["debit_move_id"]],
            keys["account_move_line"][partial["credit_move_id"]],
        )
    for full in rows["account_full_reconcile"]:
        keys["account_full_reconcile"][full["id"]] = min(
            keys["account_move_line"][line["id"]]
            for line in rows["account_move_line"]
            if line["full_reconcile_id"] == full["id"]
        )

    references = {}
    for table, model in BOOK_TABLES.items():
        for name, field in env[model]._fields.items():
            comodel = getattr(field, "comodel_name", None)
            if field.type == "many2one" and field.store and comodel in BOOK_TABLES.values():
                references[table, name] = next(t for t, m in BOOK_TABLES.items() if m == comodel)

    def translate(table, column, value):
        if column == "matching_number" and value:
            if value.startswith("P"):
                return ("P", keys["account_partial_reconcile"][int(value[1:])])
            return keys["account_full_reconcile"][int(value)]
        target = references.get((table, column))
        if target and value:
            return keys[target].get(value, ("outside the book", value))
        return value

    snapshot = {}
    for table, table_rows in rows.items():
        snapshot[table] = {
            keys[table][row["id"]]: {
                column: translate(table, column, value)
                for column, value in row.items()
                if column != "id"
            }
            for row in table_rows
        }
    snapshot["account_move__account_payment"] = sorted(
        (keys["account_move"].get(invoice), keys["account_payment"][payment])
        for invoice, payment in relations
    )
    return snapshot


def book_differences(expected, actual):
    """What differs between two snapshots, one line per difference."""
    lines = []
    for table, expected_rows in expected.items():
        actual_rows = actual[table]
        if isinstance(expected_rows, list):
            if expected_rows != actual_rows:
                lines.append(f"{table}: {expected_rows} != {actual_rows}")
            continue
        for key in expected_rows.keys() - actual_rows.keys():
            lines.append(f"{table} {key}: missing")
        for key in actual_rows.keys() - expected_rows.keys():
            lines.append(f"{table} {key}: not expected")
        for key in expected_rows.keys() & actual_rows.keys():
            for column, value in expected_rows[key].items():
                other = actual_rows[key].get(column)
                if value != other:
                    lines.append(f"{table} {key} {column}: ORM {value!r}, SQL {other!r}")
    return lines


FIGURES = [
    "collection_overdue_amount",
    "collection_due_amount",
    "collection_days_overdue",
    "collection_oldest_due_date",
    "collection_bucket_id",
    "collection_priority",
]


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestBookGenerator(CollectionCommon):
    def _customers_figures(self, partners):
        """The figures a collector sees for these customers."""
        partners = partners.with_user(self.collector)
        partners.invalidate_recordset()
        return {
            p.id: [p[f] if f != "collection_bucket_id" else p[f].id for f in FIGURES]
            for p in partners
        }

    def test_sql_writes_what_the_orm_writes(self):
        """The set-based writer writes, column by column, the journal entries, journal
        items, payments and reconciliations the accountant's own flows write for the
        same book, and the collection figures are the same."""
        plan = book_generator.plan_book(12, 60, seed=2, today=TODAY)
        # The sample holds every kind of document.
        self.assertTrue(any(inv.foreign for inv in plan.invoices))
        self.assertTrue(any(inv.no_followup for inv in plan.invoices))
        self.assertTrue(any(inv.to_contact for inv in plan.invoices))
        self.assertTrue(any(r.reconcile for r in plan.refunds))
        self.assertTrue(any(not r.reconcile for r in plan.refunds))
        self.assertTrue(any(p.invoice is None for p in plan.payments))
        self.assertTrue(any(p.foreign for p in plan.payments))
        self.assertTrue(any(inv.invoice_date.year != TODAY.year for inv in plan.invoices))
        paid_twice = {p.invoice.key for p in plan.payments if p.invoice}
        self.assertLess(len(paid_twice), len([p for p in plan.payments if p.invoice]))

        ctx = book_generator._Context(self.env, plan)
        ctx.create_customers()
        customers = self.env["res.partner"].browse([p.id for p in ctx.customers.values()])
        marks = book_high_water(self.env)
        with closing(self.env.cr.savepoint()):
            book_generator._write_orm(ctx)
            by_orm = book_snapshot(self.env, marks)
            figures_by_orm = self._customers_figures(customers)
        self.env.invalidate_all()
        book_generator._SqlWriter(ctx).write()
        by_sql = book_snapshot(self.env, marks)
        self.assertEqual(book_differences(by_orm, by_sql), [])
        self.assertEqual(self._customers_figures(customers), figures_by_orm)
        # and the book is not empty: some customers owe something overdue
        self.assertTrue(any(values[0] > 0 for values in figures_by_orm.values()))

    def test_tiny_book_and_benchmark(self):
        """CI's tiny form: the generator writes a book of 50 customers and 500 invoices and
        the benchmark measures it once; only numbers are checked, never times."""
        result = book_generator.generate_book(self.env, 50, 500, today=TODAY, log=lambda _m: None)
        self.assertEqual((result["customers"], result["invoices"]), (50, 500))
        stats = book_generator.book_statistics(self.env, self.company, TODAY)
        self.assertEqual(stats["invoices"], 500)
        self.assertGreater(stats["open_lines"], 300)

        # the clock runs (from noon of the same day) so that the times are measured
        with freeze_time(datetime.combine(TODAY, time(12, 0)), tick=True):
            results = benchmark.run_benchmark(
                self.env,
                repeat=1,
                slow_repeat=1,
                today=TODAY,
                oca=False,
                user=self.collector,
                log=lambda _m: None,
            )
        measures = results["measures"]
        # every measure but OCA's (left out)
        self.assertEqual(set(measures), set(benchmark.MEASURES) - {"oca"})
        for measure in measures.values():
            self.assertGreater(measure["median_ms"], 0)
            self.assertGreater(measure["queries"], 0)
        # the floor and the figures cover every customer with open receivables
        self.assertEqual(measures["floor"]["result"], stats["partners_with_open_lines"])
        customers = self.env["res.partner"].search_count(
            [("parent_id", "=", False), ("customer_rank", ">", 0)]
        )
        self.assertEqual(measures["figures"]["result"], customers)
        # fewer customers over 90 days than in the whole worklist
        self.assertGreater(measures["worklist"]["result"], 0)
        self.assertLess(measures["worklist_90"]["result"], measures["worklist"]["result"])
        self.assertGreater(measures["dunning"]["result"]["reminders"], 0)
        self.assertIn("disabled", results["oca"])
        self.assertGreater(results["ratios"]["figures / floor"], 0)
        # the dunning run was rolled back
        self.assertFalse(self.env["collection.communication"].search_count([]))
        text = benchmark.format_results(results)
        self.assertIn("ratio figures / floor", text)
        # It ends with the targets: one line per target, judged on what was measured;
        # sending is measured by another program (tools/sending.py), not here.
        block = text[text.index("\nTargets (") :].splitlines()[3:]
        self.assertEqual([line[2:36].strip() for line in block], [*targets.TARGETS])
        judged = {target["name"]: target["status"] for target in results["targets"]}
        for name in ("sending", "two_servers", "queue memory", "dunning / oca"):
            self.assertEqual(judged.pop(name), targets.NOT_MEASURED, name)
        # the run's memory is printed, not judged (nor measured where the peak cannot
        # be reset)
        self.assertIn(judged.pop("dunning memory"), (targets.NOT_JUDGED, targets.NOT_MEASURED))
        self.assertLessEqual(set(judged.values()), {targets.MET, targets.MISSED})
        for line, target in zip(block, results["targets"], strict=True):
            self.assertTrue(line.endswith(target["status"]), line)
        self.assertIn(f"judged here on {stats['customers']:,} customers", text)

    def test_targets_judged_on_the_numbers(self):
        """Each target is judged on the numbers of the run: a time or a ratio of two
        medians against its threshold, MET within it and MISSED beyond, NOT MEASURED
        without its numbers."""

        def run(**medians):
            return {name: {"median_ms": ms, "memory_mib": 3.0} for name, ms in medians.items()}

        def sending(per_second, problems):
            one = {"per_second": per_second, "sent": 900, "queue_s": 900 / per_second}
            one.update(queue_peak_mib=8.0, rss_growth_mib=0.5)
            return {"one": one, "two": {"per_second": 40.0, "problems": problems}}

        def cold(first_ms, second_ms):
            return {
                "median_ms": first_ms + second_ms,
                "result": {"first_ms": first_ms, "second_ms": second_ms},
            }

        screens = ["dashboard", "kpis", "aged_receivables", "aged_receivables_pdf"]
        met = {
            "book": {"customers": 1000},
            "measures": {
                **run(worklist=199, worklist_90=150, read_page_baseline=70, floor=100),
                **run(dunning=500, oca=10000, figures=300, figures_export=299),
                **run(figures_pivot=90, risk_read=250, risk_pivot=120),
                **run(**dict.fromkeys(screens, 999), cash_forecast=10),
                "dunning_cold": cold(750, 600),
            },
            "sending": sending(20.0, []),
        }
        missed = {
            "book": {"customers": 1000},
            "measures": {
                **run(worklist=280, worklist_90=210, read_page_baseline=70, floor=100),
                **run(dunning=501, oca=10000, figures=301, figures_export=900),
                **run(figures_pivot=301, risk_read=3000, risk_pivot=310),
                **run(**dict.fromkeys(screens, 1000), cash_forecast=25000),
                "dunning_cold": cold(800, 600),
            },
            "sending": sending(19.9, ["2 reminders twice"]),
        }
        for results, status in ((met, targets.MET), (missed, targets.MISSED)):
            judged = {target["name"]: target for target in targets.judge(results)}
            self.assertEqual(list(judged), [*targets.TARGETS])
            self.assertEqual(judged.pop("dunning memory")["status"], targets.NOT_JUDGED)
            self.assertEqual(judged.pop("queue memory")["status"], targets.NOT_JUDGED)
            self.assertEqual(
                {name: target["status"] for name, target in judged.items()},
                dict.fromkeys(judged, status),
            )
        judged = {target["name"]: target for target in targets.judge(missed)}
        # worklist_90 takes 3x the baseline: missed, the target is under 3x
        self.assertEqual(judged["worklist_90 / read_page_baseline"]["value"], 3.0)
        self.assertEqual(
            judged["dunning / oca"]["measured"], "0.0501 (501 ms / 10,000 ms: 20.0x faster)"
        )
        self.assertEqual(judged["dunning_cold"]["value"], 800 / 501)
        self.assertIn("problems found: 1", judged["two_servers"]["measured"])
        self.assertIn("two / one 2.01x", judged["two_servers"]["measured"])
        self.assertEqual(judged["dunning memory"]["measured"], "peak +3.0 MiB for 1,000 customers")
        # the growth at half the run's batches is printed next to the peak at the end
        missed["measures"]["dunning"]["result"] = {"peak_mib_half": 2.9, "peak_mib_end": 3.0}
        judged = {target["name"]: target for target in targets.judge(missed)}
        self.assertEqual(
            judged["dunning memory"]["measured"],
            "peak +3.0 MiB for 1,000 customers, half-way +2.9",
        )
        # without OCA, sending or the warm run, those are not measured
        for measure in ("oca", "dunning"):
            del missed["measures"][measure]
        del missed["sending"]
        judged = {target["name"]: target["status"] for target in targets.judge(missed)}
        for name in ("dunning / oca", "sending", "two_servers", "dunning_cold"):
            self.assertEqual(judged[name], targets.NOT_MEASURED, name)
        text = targets.format_targets(targets.judge(missed), 1000)
        self.assertIn("judged here on 1,000 customers", text)
        self.assertRegex(text, r"\n  worklist +280 ms +< 200 ms \(large\) +MISSED\n")

    def test_backtest_on_a_book_with_payment_habits(self):
        """On a book whose customers keep their payment habits, the survival model fitted
        on the ledger of 120 days ago predicts the invoices open then at least a quarter
        closer to their real payment day than the due date plus the customer's average
        delay (README, "Predicted payment dates")."""
        plan = book_generator.plan_book(40, 200, seed=3, today=TODAY, habits=True)
        self.assertEqual({c.habit[0] for c in plan.customers}, set(book_generator.HABITS))
        book_generator.generate_book(
            self.env, 150, 4000, today=TODAY, habits=True, log=lambda _m: None
        )
        results = backtest.run_backtest(self.env, today=TODAY)
        self.assertGreater(results["compared"], 200)
        self.assertLess(results["model"]["mae"], 0.75 * results["baseline"]["mae"])
        # and closer than the baseline kept from predicting days already past
        self.assertLess(results["model"]["mae"], results["baseline_clamped"]["mae"])
        self.assertGreater(results["model"]["close_share"], results["baseline"]["close_share"])
        text = backtest.format_results(results)
        self.assertIn("model's error", text)
        self.assertIn("Calibration", text)
