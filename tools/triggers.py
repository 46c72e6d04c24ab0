"""The DDL of the statement-level triggers that keep the ledger's and the KPIs' sums
(models/collection_ledger.py, models/collection_kpi.py): one trigger per event on a table,
each seeing the rows its statement changed as transition tables."""

# (trigger name suffix, event, transition tables it references)
EVENTS = (
    ("inserted", "INSERT", ("new",)),
    ("deleted", "DELETE", ("old",)),
    ("updated", "UPDATE", ("old", "new")),
)


def statement_triggers(name, table, old_rows, new_rows, function=None):
    """The triggers ``<name>_inserted``, ``<name>_deleted`` and ``<name>_updated``, run
    once per statement AFTER INSERT, DELETE and UPDATE on ``table``. Each sees the rows
    before the statement (deleted, updated) as the table ``old_rows`` and those after it
    (inserted, updated) as ``new_rows``, and executes ``function`` if given (it tells the
    events apart by TG_OP), else the function named as the trigger. Each is dropped first,
    so that the DDL can run again on every update of the module."""
    tables = {"old": f"OLD TABLE AS {old_rows}", "new": f"NEW TABLE AS {new_rows}"}
    return "".join(
        f"DROP TRIGGER IF EXISTS {name}_{suffix} ON {table};\n"
        f"CREATE TRIGGER {name}_{suffix} AFTER {event} ON {table}\n"
        f"    REFERENCING {' '.join(tables[kind] for kind in kinds)}\n"
        f"    FOR EACH STATEMENT EXECUTE FUNCTION {function or f'{name}_{suffix}'}();\n"
        for suffix, event, kinds in EVENTS
    )


def drop_statement_triggers(name, table):
    """What removes the triggers of ``statement_triggers(name, table, ...)``."""
    return "".join(
        f"DROP TRIGGER IF EXISTS {name}_{suffix} ON {table};\n" for suffix, _event, _kinds in EVENTS
    )
