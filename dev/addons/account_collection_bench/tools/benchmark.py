"""Measure the addon on a receivable book, side by side with the SQL floor and OCA's
``account_credit_control``, in one run on the same database.

``run_benchmark(env)`` measures, each several times (median and spread, queries, peak
memory growth):

1. ``floor``: one ``GROUP BY`` over the open posted receivable lines giving, per commercial
   partner, the overdue residual and the oldest due date; the least any figure can cost;
2. ``figures``: our figures of every customer, read through the ORM;
3. ``worklist`` and ``worklist_90``: the worklist's first page (80 rows, highest priority
   first) as the web client reads it, without and with the *Over 90 Days* filter;
4. ``dunning``: a full dunning run creating the reminders of every customer due (nothing
   is sent), rolled back after each repetition;
5. ``oca``: OCA's credit-line generation for the same day, with a policy of comparable
   levels, rolled back after each repetition (only when ``account_credit_control`` is
   installed in the database).
6. ``dunning_cold``: the dunning run twice in a row on cold statistics (as a freshly
   restored book at worst) and an empty plan cache, both times printed.

The results end with the targets judged on these numbers (``tools/targets.py``).
Timings on a shared machine are noisy: compare the ratios, measured in the same run.
Run it with ``dev/benchmark`` (see ``--help``).
"""

import gc
import statistics
import time
from contextlib import closing, contextmanager
from datetime import timedelta
from unittest.mock import patch

from lxml import etree
from psycopg2.errors import SerializationFailure

from odoo import Command, fields
from odoo.tools import SQL

from odoo.addons.account_collection.models.res_partner import FIGURE_FIELDS

from . import targets
from .book_generator import book_statistics

WORKLIST_PAGE = 80
# Seven stored fields of a customer: what the ORM costs to read them is the least a read
# of our seven figures can cost through the ORM.
BASELINE_FIELDS = ["name", "email", "phone", "ref", "customer_rank", "supplier_rank", "company_id"]
# The levels of the OCA policy, after the shipped dunning policy's (OCA has no level
# before the due date).
OCA_LEVELS = [
    (0, "Due date", "email"),
    (2, "First overdue message", "email"),
    (3, "Call", "phone"),
    (15, "Second reminder", "email"),
    (30, "Formal notice", "letter"),
    (60, "Extrajudicial", "letter"),
    (90, "Legal", "letter"),
]


# ----------------------------------------------------------------------
# Measuring
# ----------------------------------------------------------------------


def _rss_kib(field):
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_peak_rss():
    """Reset the process's peak resident memory (Linux), so that the peak of the next
    operation can be read; False when the system does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def _backend_cpu_s(env):
    """CPU time (s) the database server process of ``env``'s cursor has used, when it
    runs on this machine and Linux tells it (``/proc/<pid>/schedstat``); else None."""
    try:
        [(pid,)] = env.execute_query(SQL("SELECT pg_backend_pid()"))
        with open(f"/proc/{pid}/schedstat", encoding="ascii") as schedstat:
            return int(schedstat.read().split()[0]) / 1e9
    except (OSError, ValueError, IndexError):
        return None


@contextmanager
def _rolled_back(env):
    """Run the block in a savepoint rolled back at the end, whatever happens."""
    env.flush_all()
    with closing(env.cr.savepoint()):
        yield
    env.invalidate_all()


def _measure(env, function, repeat):
    """Run ``function`` ``repeat`` times: median and spread of the times (ms), the
    queries of one run, the peak memory growth (MiB) and what the function returned."""
    times, queries, memory, cpu, result = [], [], [], [], None
    for _run in range(repeat):
        env.invalidate_all()
        gc.collect()
        can_peak = _reset_peak_rss()
        before = _rss_kib("VmRSS")
        backend_before = _backend_cpu_s(env)
        count = env.cr.sql_log_count
        process_before = time.process_time()
        start = time.perf_counter()
        result = function()
        times.append((time.perf_counter() - start) * 1000)
        process_cpu = time.process_time() - process_before
        queries.append(env.cr.sql_log_count - count)
        backend_after = _backend_cpu_s(env)
        if backend_before is not None and backend_after is not None:
            # The work itself, the Odoo process's and the database server's: what a
            # loaded machine does not inflate (the wall time waits for a core).
            cpu.append((process_cpu + backend_after - backend_before) * 1000)
        peak = _rss_kib("VmHWM")
        if can_peak and before is not None and peak is not None:
            memory.append(max(peak - before, 0) / 1024)
    return {
        "median_ms": statistics.median(times),
        "min_ms": min(times),
        "max_ms": max(times),
        "runs": len(times),
        "queries": max(queries),
        "memory_mib": max(memory) if memory else None,
        "cpu_ms": statistics.median(cpu) if cpu else None,
        "result": result,
    }


# ----------------------------------------------------------------------
# What is measured
# ----------------------------------------------------------------------


def _floor(env, company, today):
    condition = env["collection.ledger"]._open_receivable_condition(company)
    query = SQL(
        """
        SELECT p.commercial_partner_id,
               SUM(aml.amount_residual) FILTER (WHERE %(overdue)s),
               MIN(COALESCE(aml.date_maturity, aml.date)) FILTER (WHERE %(overdue)s)
          FROM account_move_line aml
          JOIN res_partner p ON p.id = aml.partner_id
         WHERE %(open_receivable)s
         GROUP BY p.commercial_partner_id
        """,
        overdue=SQL("COALESCE(aml.date_maturity, aml.date) < %s", today),
        open_receivable=condition,
    )

    def run():
        return len(env.execute_query(query))

    return run


def _customers(env, company):
    """Every customer (commercial partner with a posted customer document)."""
    return (
        env["res.partner"]
        .with_company(company)
        .with_context(active_test=False)
        .search([("parent_id", "=", False), ("customer_rank", ">", 0)], order="id")
    )


def _figures_sql(user_env, customers):
    """The one SQL aggregate our figures are read with, for every customer, without the
    ORM around it."""
    partners = customers.with_env(user_env)

    def run():
        query = partners.with_context(active_test=False)._search(
            [("id", "in", partners.ids)], bypass_access=True
        )
        columns = [
            partners._collection_field_sql(partners._table, fname, query, partner_ids=partners.ids)
            for fname in FIGURE_FIELDS
        ]
        return len(
            user_env.execute_query(query.select(SQL.identifier(partners._table, "id"), *columns))
        )

    return run


def _read(user_env, customers, fnames):
    """The fields ``fnames`` of every customer, read through the ORM."""
    partners = customers.with_env(user_env)

    def run():
        return len(partners.read(fnames))

    return run


def _worklist(user_env, extra_domain):
    """The worklist's first page as the web client asks for it: the list view's fields,
    sorted by the view's order, with the count of rows."""
    Partner = user_env["res.partner"]
    action = Partner.action_collection_worklist()
    view = user_env.ref("account_collection.res_partner_view_list_collection")
    arch = etree.fromstring(Partner.get_views([(view.id, "list")])["views"]["list"]["arch"])
    fields_ = Partner.fields_get(attributes=["type"])
    specification = {}
    for fname in (node.get("name") for node in arch.iterchildren("field")):
        if fields_[fname]["type"] == "many2one":
            specification[fname] = {"fields": {"display_name": {}}}
        else:
            specification[fname] = {}
    domain = list(action["domain"]) + list(extra_domain)

    def run():
        result = Partner.web_search_read(
            domain,
            specification,
            offset=0,
            limit=WORKLIST_PAGE,
            order="collection_priority DESC, id",
            count_limit=10001,
        )
        return result["length"]

    return run


def _read_page_baseline(user_env):
    """80 stored rows read as the web client reads a list page: ``web_search_read`` of
    the customers sorted by a stored field, with the count of rows, reading the stored
    fields of the worklist's list view (its figures left out). What the worklist's page
    cannot cost less than."""
    Partner = user_env["res.partner"]
    view = user_env.ref("account_collection.res_partner_view_list_collection")
    arch = etree.fromstring(Partner.get_views([(view.id, "list")])["views"]["list"]["arch"])
    specification = {}
    for fname in (node.get("name") for node in arch.iterchildren("field")):
        field = Partner._fields[fname]
        if not field.store:
            continue
        specification[fname] = {"fields": {"display_name": {}}} if field.type == "many2one" else {}
    domain = [("parent_id", "=", False), ("customer_rank", ">", 0)]

    def run():
        result = Partner.web_search_read(
            domain,
            specification,
            offset=0,
            limit=WORKLIST_PAGE,
            order="name, id",
            count_limit=10001,
        )
        return result["length"]

    return run


def _pivot(user_env, model, grouping_sets, aggregates, domain=()):
    """A pivot view's request: its groupings (rows by columns, rows, columns, total)
    with their measures, in one ``formatted_read_grouping_sets``."""
    Model = user_env[model]

    def run():
        groups = Model.formatted_read_grouping_sets(list(domain), grouping_sets, aggregates)
        return sum(len(rows) for rows in groups)

    return run


def _export(user_env, customers, fnames):
    """The export of every customer with ``fnames`` (the list view's *Export*): what
    ``export_data`` runs once it checked the user may export (a collector may not)."""
    partners = customers.with_env(user_env)

    def run():
        return len(partners._export_rows([[fname] for fname in fnames]))

    return run


def _dashboard(user_env):
    def run():
        data = user_env["collection.dashboard"].get_dashboard_data("last_30_days")
        return f"{len(data['top_overdue'])} top overdue"

    return run


def _kpis(user_env, today):
    def run():
        kpis = user_env["collection.kpi"].get_kpis(today - timedelta(days=29), today)
        return f"DSO {kpis['dso']:.1f}" if kpis.get("dso") is not None else "DSO n/a"

    return run


def _aged_receivables_pdf(user_env):
    """The data of the aged receivables' PDF and spreadsheet, for every customer."""

    def run():
        data = user_env["collection.aged.receivable.report"]._aged_receivable_data([])
        return f"{len(data['rows'])} customers"

    return run


def _cash_forecast_fit(env, company):
    """The night's fit of the payment predictions of every open invoice, kept for the
    cash-in forecast (the scheduled action's work for one company)."""

    def run():
        Prediction = env["collection.prediction"].with_company(company)
        count = Prediction._refresh_predictions(company, company._collection_today())
        return f"{count} predictions"

    return run


def _screens_measures(measure, env, user_env, company, today, customers, repeat):
    """The measures of the screens that read every customer or the whole book (pivot,
    graph, export, risk score, dashboard, KPIs, aged receivables, cash-in forecast) and
    of the baseline of a list page."""
    measure("read_page_baseline", _read_page_baseline(user_env), repeat)
    worklist = list(user_env["res.partner"].action_collection_worklist()["domain"])
    measure(
        "figures_pivot",
        _pivot(
            user_env,
            "res.partner",
            [["collection_stage_id", "collection_bucket_id"], ["collection_stage_id"], []],
            [
                "collection_overdue_amount:sum",
                "collection_due_amount:sum",
                "collection_priority:sum",
                "__count",
            ],
            worklist,
        ),
        repeat,
    )
    measure(
        "figures_export",
        _export(user_env, customers, ["name", *FIGURE_FIELDS]),
        repeat,
    )
    measure(
        "risk_read",
        _read(user_env, customers, ["collection_risk_score", "collection_risk_band"]),
        repeat,
    )
    measure(
        "risk_pivot",
        _pivot(
            user_env,
            "res.partner",
            [["collection_risk_band"], []],
            ["collection_risk_score:avg", "collection_overdue_amount:sum", "__count"],
            worklist,
        ),
        repeat,
    )
    measure("dashboard", _dashboard(user_env), repeat)
    measure("kpis", _kpis(user_env, today), repeat)
    measure(
        "aged_receivables",
        _pivot(
            user_env,
            "collection.aged.receivable.report",
            [["partner_id", "bucket_id"], ["partner_id"], ["bucket_id"], []],
            ["amount_residual:sum"],
        ),
        repeat,
    )
    measure("aged_receivables_pdf", _aged_receivables_pdf(user_env), repeat)
    # The forecast reads the predictions kept by the night's fit: fitted first, once.
    measure("cash_forecast_fit", _cash_forecast_fit(env, company), 1)
    measure(
        "cash_forecast",
        _pivot(
            user_env,
            "collection.cash.forecast",
            [["partner_id", "week_start:week"], ["partner_id"], ["week_start:week"], []],
            ["amount_residual:sum"],
        ),
        repeat,
    )


SCREENS_RATIOS = {
    "worklist / read_page_baseline": ("worklist", "read_page_baseline"),
    "worklist_90 / read_page_baseline": ("worklist_90", "read_page_baseline"),
    "figures_pivot / floor": ("figures_pivot", "floor"),
    "figures_export / floor": ("figures_export", "floor"),
    "risk_read / floor": ("risk_read", "floor"),
    "risk_pivot / floor": ("risk_pivot", "floor"),
}


def _dunning(env, company, today):
    """The run of the company's default policy; a company without one gets the shipped
    policy (a copy of it for a company other than the first), inside the rolled back
    savepoint."""
    Dunning = env["collection.dunning"].with_company(company)
    shipped = env.ref("account_collection.collection_policy_default", raise_if_not_found=False)
    Cron = env.registry["ir.cron"]

    def run():
        # The peak memory growth after each batch: at half the batches and at the end,
        # to show whether it grows with the number of customers.
        base, peaks = _rss_kib("VmRSS"), []

        def commit_progress(self, processed=0, *, remaining=None, deactivate=False):
            peak = _rss_kib("VmHWM")
            if base is not None and peak is not None:
                peaks.append(max(peak - base, 0) / 1024)
            return _commit_progress_without_commit(self, processed, remaining=remaining)

        with _rolled_back(env):
            if not company.collection_policy_id:
                policy = shipped
                if shipped.company_id != company:
                    policy = shipped.copy({"company_id": company.id, "name": shipped.name})
                company.collection_policy_id = policy
            # The run commits after each batch of customers: here it does not, so that
            # the same book serves every repetition; it drops the ORM cache as a commit
            # does, so that memory behaves as in a real run.
            with patch.object(Cron, "_commit_progress", commit_progress):
                communications = Dunning._run_dunning(company, today)
                result = {
                    "reminders": len(communications),
                    "invoices": len(communications.move_ids),
                }
                if len(peaks) > 2:
                    result["peak_mib_half"] = round(peaks[len(peaks) // 2], 1)
                    result["peak_mib_end"] = round(peaks[-1], 1)
                return result

    return run


def _reset_statistics(env):
    """What PostgreSQL knows of the book at worst after a restore: no statistics of any
    table (``pg_restore`` writes none: relpages 0, reltuples -1, no ``pg_statistic``
    rows), and the tables the run writes seen with pages but no row (relpages 1,
    reltuples 0: an autovacuum while their rows were not committed yet, or deleted,
    leaves them so), which the planner takes for empty whatever their size; and the
    empty plan cache of a new session. Inside the caller's transaction: rolled back
    with it. False when the statistics could not be reset (only a superuser can)."""
    [(superuser,)] = env.execute_query(
        SQL("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    )
    env.cr.execute("DISCARD PLANS")
    if not superuser:
        return False  # the catalog is the superuser's
    written = [
        "collection_communication",
        "collection_communication_account_move_rel",
        "collection_communication_delivery",
        "collection_delivery_recipient_partner_rel",
        "collection_delivery_cc_partner_rel",
        "collection_invoice_dunning",
    ]
    env.cr.execute(
        """UPDATE pg_class
              SET relpages = CASE WHEN relname = ANY(%(written)s) THEN 1 ELSE 0 END,
                  reltuples = CASE WHEN relname = ANY(%(written)s) THEN 0 ELSE -1 END,
                  relallvisible = 0
            WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'p', 'm')""",
        {"written": written},
    )
    env.cr.execute(
        """DELETE FROM pg_statistic WHERE starelid IN (
               SELECT oid FROM pg_class WHERE relnamespace = 'public'::regnamespace)"""
    )
    return True


def _dunning_cold(env, company, today):
    """The dunning run twice in a row on the book as freshly restored (see
    ``_reset_statistics``), each rolled back as in ``_dunning``: the times of both, to
    show that the first run on cold statistics does not jump, nor the second, which
    reuses the plans PostgreSQL cached in the session while the first run's tables
    were still empty."""
    dunning = _dunning(env, company, today)

    def run():
        for attempt in range(3):
            try:
                with _rolled_back(env):
                    reset = _reset_statistics(env)
                    times, result = [], None
                    for _run in range(2):
                        env.invalidate_all()
                        start = time.perf_counter()
                        result = dunning()
                        times.append(round((time.perf_counter() - start) * 1000))
            except SerializationFailure:
                # The statistics an autovacuum's ANALYZE committed since the benchmark's
                # snapshot (after the rolled-back writes of the measures before) cannot
                # be deleted from it: again in a new transaction. Nothing of the
                # benchmark's transaction is needed any more (every measure rolls back).
                if attempt == 2:
                    raise
                env.cr.rollback()
                env.invalidate_all()
                continue
            return {
                "first_ms": times[0],
                "second_ms": times[1],
                "statistics_reset": reset,
                **result,
            }

    return run


def _commit_progress_without_commit(self, processed=0, *, remaining=None, deactivate=False):
    """``ir.cron._commit_progress`` outside a cron, without the commit: flush, and clear
    the cache as a commit does."""
    self.env.invalidate_all()
    return float("inf")


def oca_installed(env):
    module = env["ir.module.module"].search([("name", "=", "account_credit_control")])
    return module.state == "installed"


def _oca(env, company, today):
    Policy = env["credit.control.policy"]
    template = env.ref("account_credit_control.email_template_credit_control_base")
    receivables = env["account.account"].search(
        [("account_type", "=", "asset_receivable"), ("company_ids", "in", company.id)]
    )

    def run():
        with _rolled_back(env):
            policy = Policy.create(
                {
                    "name": "Standard reminders",
                    "company_id": company.id,
                    "account_ids": [Command.set(receivables.ids)],
                    "level_ids": [
                        Command.create(
                            {
                                "name": name,
                                "level": number,
                                "computation_mode": "net_days",
                                "delay_days": delay,
                                "email_template_id": template.id,
                                "channel": channel,
                                "custom_text": name,
                                "custom_mail_text": name,
                            }
                        )
                        for number, (delay, name, channel) in enumerate(OCA_LEVELS, 1)
                    ],
                }
            )
            company.credit_policy_id = policy
            run = env["credit.control.run"].create(
                {"date": today, "company_id": company.id, "policy_ids": [Command.set(policy.ids)]}
            )
            run.generate_credit_lines()
            return {"lines": len(run.line_ids), "partners": len(run.line_ids.partner_id)}

    return run


# ----------------------------------------------------------------------
# The run
# ----------------------------------------------------------------------


MEASURES = (
    "floor",
    "figures_sql",
    "figures",
    "read_baseline",
    "worklist",
    "worklist_90",
    "dunning",
    "oca",
    "read_page_baseline",
    "figures_pivot",
    "figures_export",
    "risk_read",
    "risk_pivot",
    "dashboard",
    "kpis",
    "aged_receivables",
    "aged_receivables_pdf",
    "cash_forecast_fit",
    "cash_forecast",
    "dunning_cold",
)


def run_benchmark(
    env, *, repeat=5, slow_repeat=3, today=None, oca=True, user=None, only=None, log=print
):
    """Measure everything on the book of the current company; returns a dict of
    results (see ``format_results``). ``slow_repeat`` is the number of repetitions of the
    dunning run and of OCA's generation; ``user`` the user reading the figures and the
    worklist (default: the administrator); ``only`` the names of the measures to take
    (default: all, see ``MEASURES``)."""
    only = set(only or MEASURES)
    if "cash_forecast" in only:
        only.add("cash_forecast_fit")
    # the dunning run and OCA's generation run as scheduled jobs do, as superuser
    env = env(su=True)
    company = env.company
    today = today or fields.Date.context_today(env.user)
    user = user or env.ref("base.user_admin")
    user_env = env(user=user.id, su=False)
    user_env = user_env(context=dict(user_env.context, allowed_company_ids=[company.id]))
    customers = _customers(env, company)
    results = {
        "date": str(today),
        "company": company.name,
        "book": book_statistics(env, company, today),
        "measures": {},
    }
    measures = results["measures"]

    def measure(name, function, times):
        if name not in only:
            return
        log(f"measuring {name} ({times}x)...")
        measures[name] = _measure(env, function, times)

    measure("floor", _floor(env, company, today), repeat)
    measure("figures_sql", _figures_sql(user_env, customers), repeat)
    measure("figures", _read(user_env, customers, list(FIGURE_FIELDS)), repeat)
    measure("read_baseline", _read(user_env, customers, BASELINE_FIELDS), repeat)
    measure("worklist", _worklist(user_env, []), repeat)
    measure("worklist_90", _worklist(user_env, [("collection_days_overdue", ">", 90)]), repeat)
    _screens_measures(measure, env, user_env, company, today, customers, repeat)
    measure("dunning", _dunning(env, company, today), slow_repeat)
    if oca is False or "oca" not in only:
        results["oca"] = "not run (disabled)"
    elif not oca_installed(env):
        results["oca"] = (
            "not run: OCA's account_credit_control is not installed in this database "
            "(dev/benchmark --oca installs it)"
        )
    else:
        results["oca"] = "run"
        measure("oca", _oca(env, company, today), slow_repeat)
    measure("dunning_cold", _dunning_cold(env, company, today), 1)

    def ratio(numerator, denominator, key="median_ms"):
        if numerator in measures and denominator in measures:
            numerator_ms = measures[numerator].get(key)
            denominator_ms = measures[denominator].get(key)
            if numerator_ms is None or not denominator_ms:
                return None
            return numerator_ms / denominator_ms
        return None

    results["ratios"] = {
        "figures_sql / floor": ratio("figures_sql", "floor"),
        "figures / floor": ratio("figures", "floor"),
        "figures / read_baseline": ratio("figures", "read_baseline"),
        "dunning / oca": ratio("dunning", "oca"),
        "dunning / oca (CPU)": ratio("dunning", "oca", "cpu_ms"),
    }
    results["ratios"].update({name: ratio(*pair) for name, pair in SCREENS_RATIOS.items()})
    results["targets"] = targets.judge(results)
    return results


def format_results(results, with_targets=True):
    """The results as a text table, ending with the targets (``with_targets``; when
    sending is measured after, ``tools/sending.py`` prints them last instead)."""
    book = results["book"]
    lines = [
        f"Book of {results['company']} on {results['date']}: {book['customers']:,} customers, "
        f"{book['invoices']:,} posted customer invoices, {book['open_lines']:,} open receivable "
        f"lines ({book['overdue_lines']:,} overdue), {book['journal_items']:,} journal items",
        "",
        f"{'measure':<22}{'median ms':>11}{'min ms':>10}{'max ms':>10}{'runs':>6}"
        f"{'queries':>9}{'peak MiB':>10}{'CPU ms':>10}  result",
    ]
    for name, m in results["measures"].items():
        memory = f"{m['memory_mib']:.1f}" if m["memory_mib"] is not None else "n/a"
        cpu = f"{m['cpu_ms']:.0f}" if m.get("cpu_ms") is not None else "n/a"
        lines.append(
            f"{name:<22}{m['median_ms']:>11.1f}{m['min_ms']:>10.1f}{m['max_ms']:>10.1f}"
            f"{m['runs']:>6}{m['queries']:>9}{memory:>10}{cpu:>10}  {m['result']}"
        )
    lines.append("")
    lines.append(f"OCA account_credit_control: {results['oca']}")
    for name, ratio in results["ratios"].items():
        if ratio is None:
            continue
        text = f"{ratio:.2f}"
        if name == "dunning / oca (CPU)" and ratio:
            text += f" (the dunning run does {1 / ratio:.1f}x less work than OCA's)"
        elif name == "dunning / oca" and ratio:
            if ratio <= 1:
                text += f" (the dunning run is {1 / ratio:.1f}x faster than OCA's)"
            else:
                text += f" (the dunning run is {ratio:.1f}x slower than OCA's)"
        lines.append(f"ratio {name}: {text}")
    if with_targets:
        lines.append(targets.format_targets(results["targets"], book["customers"]))
    return "\n".join(lines)


def main(env, argv):
    """``dev/benchmark``: parse ``argv``, measure, print the results (and write them as
    JSON when asked)."""
    import argparse
    import json
    from datetime import date

    parser = argparse.ArgumentParser(prog="dev/benchmark")
    parser.add_argument("--repeat", type=int, default=5, help="runs of the quick measures")
    parser.add_argument(
        "--slow-repeat", type=int, default=3, help="runs of the dunning and OCA runs"
    )
    parser.add_argument("--date", type=date.fromisoformat, help="day of the runs (default: today)")
    parser.add_argument("--no-oca", action="store_true", help="leave OCA out")
    parser.add_argument("--json", help="also write the results in this file")
    parser.add_argument(
        "--only",
        help=f"comma-separated measures to take, among {', '.join(MEASURES)}, sending, two_servers",
    )
    # Sending and two servers are measured by tools/sending.py, after these.
    parser.add_argument("--sending-customers", type=int, help=argparse.SUPPRESS)
    # Then they print the targets, after their own measures.
    parser.add_argument("--targets-after-sending", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    results = run_benchmark(
        env,
        repeat=max(args.repeat, 1),
        slow_repeat=max(args.slow_repeat, 1),
        today=args.date,
        oca=not args.no_oca,
        only=args.only.split(",") if args.only else None,
    )
    print(format_results(results, with_targets=not args.targets_after_sending))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(results, out, indent=2, default=str)
    env.cr.rollback()
    return results
