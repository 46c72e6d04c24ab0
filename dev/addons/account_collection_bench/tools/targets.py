"""The targets of the scale work (BENCHMARKS.md, "Targets"), judged on the numbers of one
``dev/benchmark`` run: one line per target with the value measured, the ratio or time it
is judged on, the threshold and MET, MISSED or NOT MEASURED.

``judge(results)`` takes the results of ``benchmark.run_benchmark`` (``measures``,
``book``) with, when sending was measured, ``results["sending"]`` of ``sending.py``
(``one``, ``two``); ``format_targets`` prints them. Plain Python: ``sending.py``, which
does not load Odoo, imports it too, to print the block last once sending is measured.

The times of 200 ms and 1 s are set for the ``large`` book (20,000 customers): the
judgement is printed at every size all the same, the book's size in the heading.
"""

MET = "MET"
MISSED = "MISSED"
NOT_MEASURED = "NOT MEASURED"
# Memory is to stay flat in the number of customers: one run shows one size, so the
# line prints the numbers to compare with the other size's, without a judgement.
NOT_JUDGED = "NOT JUDGED"

LARGE_CUSTOMERS = 20_000
WORKLIST_MS = 200
WORKLIST_PAGE_RATIO = 3
DUNNING_OCA_RATIO = 1 / 20
FLOOR_RATIO = 3
SCREEN_MS = 1000
SENDING_PER_SECOND = 20  # 18,000 deliveries in 15 minutes
LARGE_DAILY = 18_000
COLD_RATIO = 1.5

FLOOR_MEASURES = ("figures", "figures_export", "figures_pivot", "risk_read", "risk_pivot")
SCREEN_MEASURES = ("dashboard", "kpis", "aged_receivables", "aged_receivables_pdf", "cash_forecast")
# The name of each target, in the order printed.
TARGETS = (
    "worklist",
    "worklist / read_page_baseline",
    "worklist_90",
    "worklist_90 / read_page_baseline",
    "dunning / oca",
    *(f"{name} / floor" for name in FLOOR_MEASURES),
    *SCREEN_MEASURES,
    "sending",
    "two_servers",
    "dunning_cold",
    "dunning memory",
    "queue memory",
)


def _ms(value):
    return f"{value:,.0f} ms" if value >= 100 else f"{value:.1f} ms"


COMPARE = {
    "<": lambda value, limit: value < limit,
    "<=": lambda value, limit: value <= limit,
    ">=": lambda value, limit: value >= limit,
}


def _target(name, value, compare, limit, threshold, measured):
    """A target: ``value`` judged against ``limit`` with ``compare`` (a key of
    ``COMPARE``, or None for a number printed without a judgement). ``measured`` is
    what is printed of it, ``threshold`` the target as printed."""
    if value is None:
        status, measured = NOT_MEASURED, ""
    elif compare is None:
        status = NOT_JUDGED
    else:
        status = MET if COMPARE[compare](value, limit) else MISSED
    return {
        "name": name,
        "value": value,
        "compare": compare,
        "limit": limit,
        "measured": measured,
        "threshold": threshold,
        "status": status,
    }


def judge(results):
    """The targets judged on ``results``: a list of dicts (name, value judged, how it
    is compared with which limit, what was measured and the threshold as printed,
    status), in the order of ``TARGETS``."""
    measures = results.get("measures") or {}
    sending = results.get("sending") or {}
    customers = (results.get("book") or {}).get("customers") or 0

    def median(name):
        return measures[name]["median_ms"] if name in measures else None

    def ratio(numerator, denominator):
        top, bottom = median(numerator), median(denominator)
        if top is None or not bottom:
            return None, ""
        return top / bottom, f"{top / bottom:.2f}x ({_ms(top)} / {_ms(bottom)})"

    def timed(name, limit_ms, threshold):
        value = median(name)
        return _target(name, value, "<", limit_ms, threshold, value and _ms(value))

    targets = []
    for name in ("worklist", "worklist_90"):
        targets.append(timed(name, WORKLIST_MS, f"< {WORKLIST_MS} ms (large)"))
        value, measured = ratio(name, "read_page_baseline")
        targets.append(
            _target(
                f"{name} / read_page_baseline",
                value,
                "<",
                WORKLIST_PAGE_RATIO,
                f"< {WORKLIST_PAGE_RATIO}x",
                measured,
            )
        )
    value, measured = ratio("dunning", "oca")
    if value:
        measured = (
            f"{value:.3g} ({_ms(median('dunning'))} / {_ms(median('oca'))}: "
            f"{1 / value:.1f}x faster)"
        )
    targets.append(
        _target(
            "dunning / oca",
            value,
            "<=",
            DUNNING_OCA_RATIO,
            f"<= {DUNNING_OCA_RATIO:.2f} (20x faster)",
            measured,
        )
    )
    for name in FLOOR_MEASURES:
        value, measured = ratio(name, "floor")
        targets.append(
            _target(f"{name} / floor", value, "<=", FLOOR_RATIO, f"<= {FLOOR_RATIO}x", measured)
        )
    for name in SCREEN_MEASURES:
        targets.append(timed(name, SCREEN_MS, f"< {SCREEN_MS // 1000} s (large)"))

    one, two = sending.get("one"), sending.get("two")
    rate = (one or {}).get("per_second")
    targets.append(
        _target(
            "sending",
            rate,
            ">=",
            SENDING_PER_SECOND,
            f">= {SENDING_PER_SECOND}/s ({LARGE_DAILY:,} in 15 min)",
            rate
            and (
                f"{rate:.1f}/s ({one['sent']:,} in {one['queue_s']:.1f} s; "
                f"{LARGE_DAILY:,} in {LARGE_DAILY / rate / 60:.1f} min)"
            ),
        )
    )
    # Two servers: the throughput of two against one printed; judged on what must hold
    # whatever the speed: exactly one reminder per customer and level and one message
    # per delivery (no problem found by sending.py's checks).
    problems = measured = None
    if two is not None:
        problems = len(two["problems"])
        measured = f"problems found: {problems}"
        if rate and two.get("per_second"):
            measured = (
                f"two / one {two['per_second'] / rate:.2f}x ({two['per_second']:.1f}/s "
                f"against {rate:.1f}/s), {measured}"
            )
    targets.append(_target("two_servers", problems, "<=", 0, "exactly once (0 problems)", measured))
    # Cold statistics: the worse of the two cold runs against the warm run's median.
    cold, warm = measures.get("dunning_cold"), median("dunning")
    value = measured = None
    if cold and warm:
        first, second = cold["result"]["first_ms"], cold["result"]["second_ms"]
        value = max(first, second) / warm
        measured = f"{value:.2f}x (cold {_ms(first)}, then {_ms(second)}; warm {_ms(warm)})"
        if not cold["result"].get("statistics_reset", True):
            measured += ", statistics not reset"
    targets.append(
        _target("dunning_cold", value, "<=", COLD_RATIO, f"<= {COLD_RATIO}x the warm run", measured)
    )
    memory = (measures.get("dunning") or {}).get("memory_mib")
    targets.append(
        _target(
            "dunning memory",
            memory,
            None,
            None,
            "flat in customers",
            memory is not None
            and f"peak +{memory:.1f} MiB for {customers:,} customers"
            + _halfway(measures.get("dunning")),
        )
    )
    memory = (one or {}).get("queue_peak_mib")
    targets.append(
        _target(
            "queue memory",
            memory,
            None,
            None,
            "flat in customers",
            memory is not None
            and (
                f"peak +{memory:.1f} MiB, growth {one['rss_growth_mib']:.1f} MiB over "
                f"{one['sent']:,} deliveries"
            ),
        )
    )
    return targets


def _halfway(measure):
    """The dunning run's peak memory growth at half its batches (see benchmark._dunning),
    printed after its peak at the end: flat in customers when they are close."""
    result = (measure or {}).get("result") or {}
    if "peak_mib_half" not in result:
        return ""
    return f", half-way +{result['peak_mib_half']:.1f}"


def format_targets(targets, customers=None):
    """The block ``dev/benchmark`` ends with: one line per target."""
    size = f"{customers:,} customers" if customers is not None else "this book"
    lines = [
        "",
        f"Targets (the times are set for the large book, {LARGE_CUSTOMERS:,} customers; "
        f"judged here on {size}):",
        f"  {'target':<34}{'measured':<56}{'threshold':<28}judgement",
    ]
    for target in targets:
        lines.append(
            f"  {target['name']:<34}{target['measured'] or '-':<56}{target['threshold']:<28}"
            f"{target['status']}"
        )
    return "\n".join(lines)
