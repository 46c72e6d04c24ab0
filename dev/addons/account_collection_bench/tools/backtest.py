"""Backtest of the payment date predictions (``collection.prediction``) on a book whose
customers keep their payment habits (``dev/generate-book --habits``).

``run_backtest(env, cutoff)`` fits the delay distributions on the ledger as it was on
``cutoff`` (what was paid by then; what was still open counts as "not paid after so many
days"), predicts the payment day of every invoice open on ``cutoff``, and compares with
the day it was really paid (the invoices still unpaid today are left out of the errors,
and counted). The same for the naive baseline: the due date plus the customer's average
delay, as such and never before the cut-off (a prediction in the past is no forecast).
Prints the mean absolute error in days, the share of predictions within 7 days,
and a calibration table: per week after the cut-off, the amount each predicted to come in
and the amount that did.

Run it with ``dev/backtest`` (see ``--help``).
"""

import statistics
from datetime import timedelta

from odoo import fields

# Predictions within this many days of the real payment day count as close.
CLOSE_DAYS = 7
WEEKS = 13


def run_backtest(env, cutoff=None, today=None):
    """The backtest on the book of the current company: a dict with, for ``model``,
    ``baseline`` and ``baseline_clamped`` (never before the cut-off), the mean absolute
    error (``mae``, days), the median error, the share within CLOSE_DAYS days
    (``close_share``) and, for the baselines, how much lower the model's error is
    (``error_reduction``); the number of invoices compared, the number still unpaid, and
    the calibration ``weeks`` (week 1 to 13 after the cut-off, then ``later``: amounts
    predicted by the model and the clamped baseline, and paid)."""
    company = env.company
    today = today or fields.Date.context_today(env.user)
    cutoff = cutoff or today - timedelta(days=120)
    Prediction = env["collection.prediction"]
    model = Prediction._model(company, cutoff)
    errors = {"model": [], "baseline": [], "baseline_clamped": []}
    weeks = {}
    unpaid = 0

    def week_of(day):
        index = (day - cutoff).days // 7 + 1
        return index if index <= WEEKS else "later"

    def add(week, column, amount):
        weeks.setdefault(week, {"model": 0.0, "baseline_clamped": 0.0, "paid": 0.0})[column] += (
            amount
        )

    for _line, _move, partner_id, due, _residual, balance, paid_date in Prediction._open_items(
        company, cutoff
    ):
        baseline = model.baseline(partner_id, due)
        predictions = {
            "model": model.predict(partner_id, due),
            "baseline": baseline,
            "baseline_clamped": max(baseline, cutoff),
        }
        for name in ("model", "baseline_clamped"):
            add(week_of(predictions[name]), name, balance)
        if paid_date is None or paid_date > today:
            unpaid += 1
            add("later", "paid", balance)
            continue
        add(week_of(paid_date), "paid", balance)
        for name, day in predictions.items():
            errors[name].append(abs((day - paid_date).days))
    results = {
        "cutoff": str(cutoff),
        "today": str(today),
        "customers_with_own_curve": len(model.curves),
        "compared": len(errors["model"]),
        "unpaid": unpaid,
        "weeks": [(week, weeks[week]) for week in [*range(1, WEEKS + 1), "later"] if week in weeks],
    }
    for name, values in errors.items():
        results[name] = {
            "mae": statistics.fmean(values) if values else None,
            "median_error": statistics.median(values) if values else None,
            "close_share": sum(v <= CLOSE_DAYS for v in values) / len(values) if values else None,
        }
    model_mae = results["model"]["mae"]
    for name in ("baseline", "baseline_clamped"):
        other = results[name]["mae"]
        results[name]["error_reduction"] = 1 - model_mae / other if model_mae and other else None
    return results


def format_results(results):
    """The results as text: the errors of both, then the calibration table."""
    lines = [
        f"Backtest: fitted on the ledger of {results['cutoff']}, compared with the payments "
        f"up to {results['today']}: {results['compared']:,} invoices open on the cut-off and "
        f"paid since ({results['unpaid']:,} still unpaid, left out); "
        f"{results['customers_with_own_curve']:,} customers with a curve of their own",
        "",
        f"{'predictor':<34}{'MAE days':>10}{'median':>8}{'within 7 days':>15}",
    ]
    names = {
        "model": "survival model (Kaplan-Meier)",
        "baseline": "due date + customer's average",
        "baseline_clamped": "  the same, not before the cut-off",
    }
    for key, label in names.items():
        r = results[key]
        if r["mae"] is None:
            lines.append(f"{label:<34}{'n/a':>10}")
            continue
        reduction = r.get("error_reduction")
        lines.append(
            f"{label:<34}{r['mae']:>10.1f}{r['median_error']:>8.0f}{r['close_share']:>14.0%}"
            + (f"   model's error {reduction:.0%} lower" if reduction is not None else "")
        )
    lines.append("target: an error at least 25% lower than the baseline's")
    lines += [
        "",
        "Calibration: amounts of the invoices open on the cut-off, per week after it",
        f"{'week':>6}{'model':>14}{'baseline':>14}{'paid':>14}",
        "(baseline: not before the cut-off; paid in week 'later' includes what is still unpaid)",
    ]
    for week, amounts in results["weeks"]:
        lines.append(
            f"{week!s:>6}{amounts['model']:>14,.0f}{amounts['baseline_clamped']:>14,.0f}"
            f"{amounts['paid']:>14,.0f}"
        )
    return "\n".join(lines)


def main(env, argv):
    """``dev/backtest``: parse ``argv``, backtest, print the results."""
    import argparse
    from datetime import date

    parser = argparse.ArgumentParser(prog="dev/backtest")
    parser.add_argument(
        "--cutoff",
        type=date.fromisoformat,
        help="day the model is fitted on (default: 120 days ago)",
    )
    parser.add_argument(
        "--date", type=date.fromisoformat, help="today of the book (default: today)"
    )
    args = parser.parse_args(argv)
    results = run_backtest(env, cutoff=args.cutoff, today=args.date)
    print(format_results(results))
    env.cr.rollback()
    return results
