"""The ledger's SQL, in one place: which journal items are a customer's open receivables,
the journal item fields that rule and the figures read, the flush before a query, the
aggregate the customers' figures are computed from, the priority formula, and the one way
to read a company-dependent field in SQL. The customers' and invoices' figures, the
dunning run, the KPIs, the reports and the dashboard all read the ledger through
``collection.ledger`` (README, "How figures are computed")."""

from odoo import api, fields, models
from odoo.fields import Domain
from odoo.tools import SQL

from ..tools.triggers import drop_statement_triggers, statement_triggers

# The sums the figures are made of, kept per customer (commercial partner) and company by
# PostgreSQL triggers on the journal items, in the same statement that changes them
# (README, "How figures are computed", "The sums behind the figures"):
# - BALANCE_TABLE, one row per customer and company: the open items' residual
#   (``due_amount``), the residual of the open debits that may be reminded (positive, not
#   'No follow-up': ``debit_amount``), the oldest due date of those debits
#   (``oldest_due_date``) and the number of open items (``open_count``);
# - DUE_TABLE, one row per customer, company and due date of open items: their residual
#   (``residual``), that of their open debits (``debit_amount``) and the number of these
#   debits (``debit_count``). The overdue amount on any day is ``debit_amount`` less the
#   debits due from that day on, read from the few rows not due yet;
# - PAID_TABLE, one row per customer, company and day on which invoices were paid in
#   full (the date of their last matching, ``paid_date``): how many (``paid_count``), how
#   many after their due date (``late_count``), their amount (``amount``) and their amount
#   times their days late (``late_amount``). The risk score reads the paid history of any
#   period from them (models/res_partner_risk.py).
# The day-dependent figures (overdue, days overdue, bucket, priority) are computed from
# them when read, so they never go stale.
BALANCE_TABLE = "collection_ledger_balance"
DUE_TABLE = "collection_ledger_due"
PAID_TABLE = "collection_ledger_paid"
# The day the balance rows count their open debits' due dates from (``debit_days``).
DEBIT_DAYS_EPOCH = "2000-01-01"

# The tables, the refresh of a set of (customer, company) keys and the triggers that call
# it. Every refresh recomputes its keys from the journal items and writes every key's
# balance row (even unchanged, even with nothing open): two transactions changing the
# items of the same customer always write the same row, so the second waits for the first
# and, under Odoo's REPEATABLE READ, fails with a serialization error that Odoo retries
# (never a lost update).
LEDGER_SUMS_DDL = f"""
CREATE TABLE IF NOT EXISTS {BALANCE_TABLE} (
    partner_id integer NOT NULL REFERENCES res_partner (id) ON DELETE CASCADE,
    company_id integer NOT NULL REFERENCES res_company (id) ON DELETE CASCADE,
    due_amount numeric NOT NULL DEFAULT 0,
    debit_amount numeric NOT NULL DEFAULT 0,
    oldest_due_date date,
    open_count integer NOT NULL DEFAULT 0,
    PRIMARY KEY (company_id, partner_id)
);
CREATE INDEX IF NOT EXISTS {BALANCE_TABLE}_partner_idx ON {BALANCE_TABLE} (partner_id);
CREATE TABLE IF NOT EXISTS {DUE_TABLE} (
    partner_id integer NOT NULL REFERENCES res_partner (id) ON DELETE CASCADE,
    company_id integer NOT NULL REFERENCES res_company (id) ON DELETE CASCADE,
    due_date date NOT NULL,
    residual numeric NOT NULL DEFAULT 0,
    debit_amount numeric NOT NULL DEFAULT 0,
    PRIMARY KEY (company_id, due_date, partner_id) INCLUDE (debit_amount)
);
ALTER TABLE {DUE_TABLE} ADD COLUMN IF NOT EXISTS debit_count integer NOT NULL DEFAULT 0;
-- A few customers' debits due from a day on (the figures' and the risk score's of a list
-- page) are read from the index alone, not from every due date's row of theirs.
DROP INDEX IF EXISTS {DUE_TABLE}_partner_idx;
CREATE INDEX IF NOT EXISTS {DUE_TABLE}_partner_due_idx
    ON {DUE_TABLE} (partner_id, company_id, due_date) INCLUDE (debit_amount, debit_count);
-- The customer's open debits (all due dates): how many, and their amounts times their due
-- dates as days since DEBIT_DAYS_EPOCH. What is overdue on a day is these less the debits
-- due from that day on (few rows), as the overdue amount is debit_amount less them: the
-- risk score's open overdue items read without their rows.
ALTER TABLE {BALANCE_TABLE} ADD COLUMN IF NOT EXISTS debit_count integer NOT NULL DEFAULT 0;
ALTER TABLE {BALANCE_TABLE} ADD COLUMN IF NOT EXISTS debit_days numeric NOT NULL DEFAULT 0;
CREATE TABLE IF NOT EXISTS {PAID_TABLE} (
    partner_id integer NOT NULL REFERENCES res_partner (id) ON DELETE CASCADE,
    company_id integer NOT NULL REFERENCES res_company (id) ON DELETE CASCADE,
    paid_date date NOT NULL,
    paid_count integer NOT NULL DEFAULT 0,
    late_count integer NOT NULL DEFAULT 0,
    amount numeric NOT NULL DEFAULT 0,
    late_amount numeric NOT NULL DEFAULT 0,
    PRIMARY KEY (company_id, partner_id, paid_date)
);
CREATE INDEX IF NOT EXISTS {PAID_TABLE}_partner_idx ON {PAID_TABLE} (partner_id, company_id);

-- Planned on each call with the keys known (EXECUTE ... USING): a payment's refresh reads
-- one customer's items through their index, a whole book's one pass over the table.
CREATE OR REPLACE FUNCTION collection_ledger_refresh(partner_ids integer[], company_ids integer[])
RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
EXECUTE $query$
WITH keys AS MATERIALIZED (
    SELECT DISTINCT k.partner_id, k.company_id
      FROM unnest($1::integer[], $2::integer[]) AS k (partner_id, company_id)
      JOIN res_partner rp ON rp.id = k.partner_id
      JOIN res_company rc ON rc.id = k.company_id
), lines AS MATERIALIZED (
    SELECT k.partner_id, k.company_id, aml.amount_residual AS residual,
           (aml.amount_residual > 0 AND aml.no_followup IS NOT TRUE) AS debit,
           COALESCE(aml.date_maturity, aml.date) AS due_date
      FROM keys k
      JOIN res_partner p ON p.commercial_partner_id = k.partner_id
      JOIN account_move_line aml ON aml.partner_id = p.id AND aml.company_id = k.company_id
      JOIN account_account acc ON acc.id = aml.account_id
     WHERE acc.account_type = 'asset_receivable'
       AND aml.parent_state = 'posted'
       AND aml.reconciled IS NOT TRUE
       AND aml.amount_residual != 0
), per_due AS MATERIALIZED (
    SELECT partner_id, company_id, due_date, SUM(residual) AS residual,
           COALESCE(SUM(residual) FILTER (WHERE debit), 0) AS debit_amount,
           COUNT(*) FILTER (WHERE debit) AS debit_count,
           COUNT(*) AS open_count, BOOL_OR(debit) AS has_debit
      FROM lines
     GROUP BY partner_id, company_id, due_date
), balance AS (
    INSERT INTO {BALANCE_TABLE} AS b
           (partner_id, company_id, due_amount, debit_amount, oldest_due_date, open_count,
            debit_count, debit_days)
    SELECT k.partner_id, k.company_id, COALESCE(SUM(d.residual), 0),
           COALESCE(SUM(d.debit_amount), 0), MIN(d.due_date) FILTER (WHERE d.has_debit),
           COALESCE(SUM(d.open_count), 0), COALESCE(SUM(d.debit_count), 0),
           COALESCE(SUM(d.debit_amount * (d.due_date - DATE '{DEBIT_DAYS_EPOCH}')), 0)
      FROM keys k
      LEFT JOIN per_due d ON d.partner_id = k.partner_id AND d.company_id = k.company_id
     GROUP BY k.company_id, k.partner_id
     ORDER BY k.company_id, k.partner_id
    ON CONFLICT (company_id, partner_id) DO UPDATE
       SET due_amount = EXCLUDED.due_amount,
           debit_amount = EXCLUDED.debit_amount,
           oldest_due_date = EXCLUDED.oldest_due_date,
           open_count = EXCLUDED.open_count,
           debit_count = EXCLUDED.debit_count,
           debit_days = EXCLUDED.debit_days
    RETURNING 1
), removed AS (
    DELETE FROM {DUE_TABLE} d
     USING keys k
     WHERE d.partner_id = k.partner_id AND d.company_id = k.company_id
       AND NOT EXISTS (
           SELECT 1 FROM per_due n
            WHERE n.partner_id = d.partner_id AND n.company_id = d.company_id
              AND n.due_date = d.due_date)
    RETURNING 1
)
INSERT INTO {DUE_TABLE} AS d (partner_id, company_id, due_date, residual, debit_amount,
                               debit_count)
SELECT partner_id, company_id, due_date, residual, debit_amount, debit_count
  FROM per_due
 ORDER BY company_id, due_date, partner_id
ON CONFLICT (company_id, due_date, partner_id) DO UPDATE
   SET residual = EXCLUDED.residual, debit_amount = EXCLUDED.debit_amount,
       debit_count = EXCLUDED.debit_count
 WHERE (d.residual, d.debit_amount, d.debit_count)
       IS DISTINCT FROM (EXCLUDED.residual, EXCLUDED.debit_amount, EXCLUDED.debit_count)
$query$ USING partner_ids, company_ids;
-- The invoices paid in full (a positive receivable item fully matched), per day of
-- their last matching.
EXECUTE $query$
WITH keys AS MATERIALIZED (
    SELECT DISTINCT k.partner_id, k.company_id
      FROM unnest($1::integer[], $2::integer[]) AS k (partner_id, company_id)
      JOIN res_partner rp ON rp.id = k.partner_id
      JOIN res_company rc ON rc.id = k.company_id
), paid AS MATERIALIZED (
    SELECT k.partner_id, k.company_id, aml.balance AS amount,
           MAX(apr.max_date) AS paid_date,
           GREATEST(MAX(apr.max_date) - COALESCE(aml.date_maturity, aml.date), 0) AS late
      FROM keys k
      JOIN res_partner p ON p.commercial_partner_id = k.partner_id
      JOIN account_move_line aml ON aml.partner_id = p.id AND aml.company_id = k.company_id
      JOIN account_account acc ON acc.id = aml.account_id
      JOIN account_partial_reconcile apr ON apr.debit_move_id = aml.id
     WHERE acc.account_type = 'asset_receivable'
       AND aml.parent_state = 'posted'
       AND aml.reconciled
       AND aml.balance > 0
     GROUP BY k.partner_id, k.company_id, aml.id
), per_day AS MATERIALIZED (
    SELECT partner_id, company_id, paid_date, COUNT(*) AS paid_count,
           COUNT(*) FILTER (WHERE late > 0) AS late_count,
           SUM(amount) AS amount, SUM(amount * late) AS late_amount
      FROM paid
     GROUP BY partner_id, company_id, paid_date
), removed AS (
    DELETE FROM {PAID_TABLE} t
     USING keys k
     WHERE t.partner_id = k.partner_id AND t.company_id = k.company_id
       AND NOT EXISTS (
           SELECT 1 FROM per_day n
            WHERE n.partner_id = t.partner_id AND n.company_id = t.company_id
              AND n.paid_date = t.paid_date)
    RETURNING 1
)
INSERT INTO {PAID_TABLE} AS t (partner_id, company_id, paid_date, paid_count, late_count,
                               amount, late_amount)
SELECT partner_id, company_id, paid_date, paid_count, late_count, amount, late_amount
  FROM per_day
 ORDER BY company_id, partner_id, paid_date
ON CONFLICT (company_id, partner_id, paid_date) DO UPDATE
   SET paid_count = EXCLUDED.paid_count, late_count = EXCLUDED.late_count,
       amount = EXCLUDED.amount, late_amount = EXCLUDED.late_amount
 WHERE (t.paid_count, t.late_count, t.amount, t.late_amount)
       IS DISTINCT FROM (EXCLUDED.paid_count, EXCLUDED.late_count, EXCLUDED.amount,
                         EXCLUDED.late_amount)
$query$ USING partner_ids, company_ids;
-- Their stored priority, on its day (see PRIORITY_DDL).
PERFORM collection_ledger_priority_refresh(partner_ids, company_ids);
END
$fn$;

-- The keys of journal items as they are (or were) counted: open posted receivables, and
-- posted receivables fully matched (the paid history).
CREATE OR REPLACE FUNCTION collection_ledger_refresh_lines(lines_partner integer[],
                                                            lines_company integer[])
RETURNS void LANGUAGE sql AS $fn$
SELECT collection_ledger_refresh(array_agg(k.partner_id), array_agg(k.company_id))
  FROM (SELECT DISTINCT p.commercial_partner_id AS partner_id, l.company_id
          FROM unnest(lines_partner, lines_company) AS l (partner_id, company_id)
          JOIN res_partner p ON p.id = l.partner_id) k
HAVING COUNT(*) > 0
$fn$;

CREATE OR REPLACE FUNCTION collection_ledger_aml_inserted() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM collection_ledger_refresh_lines(array_agg(n.partner_id), array_agg(n.company_id))
       FROM collection_new_lines n
       JOIN account_account acc ON acc.id = n.account_id
      WHERE n.partner_id IS NOT NULL AND n.parent_state = 'posted'
        AND acc.account_type = 'asset_receivable'
        AND (n.reconciled OR n.amount_residual != 0)
     HAVING COUNT(*) > 0;
    RETURN NULL;
END
$fn$;

CREATE OR REPLACE FUNCTION collection_ledger_aml_deleted() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM collection_ledger_refresh_lines(array_agg(o.partner_id), array_agg(o.company_id))
       FROM collection_old_lines o
       JOIN account_account acc ON acc.id = o.account_id
      WHERE o.partner_id IS NOT NULL AND o.parent_state = 'posted'
        AND acc.account_type = 'asset_receivable'
        AND (o.reconciled OR o.amount_residual != 0)
     HAVING COUNT(*) > 0;
    RETURN NULL;
END
$fn$;

CREATE OR REPLACE FUNCTION collection_ledger_aml_updated() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM collection_ledger_refresh_lines(array_agg(v.partner_id), array_agg(v.company_id))
       FROM (SELECT o.partner_id, o.company_id, o.account_id, o.parent_state, o.reconciled,
                    o.amount_residual, n.partner_id AS new_partner_id,
                    n.company_id AS new_company_id
               FROM collection_old_lines o
               JOIN collection_new_lines n ON n.id = o.id
              WHERE (o.partner_id, o.company_id, o.account_id, o.parent_state, o.reconciled,
                     o.amount_residual, o.date_maturity, o.date, o.no_followup, o.balance)
                    IS DISTINCT FROM
                    (n.partner_id, n.company_id, n.account_id, n.parent_state, n.reconciled,
                     n.amount_residual, n.date_maturity, n.date, n.no_followup, n.balance)
                AND ((o.partner_id IS NOT NULL AND o.parent_state = 'posted'
                      AND (o.reconciled OR o.amount_residual != 0)
                      AND o.account_id IN (SELECT id FROM account_account
                                            WHERE account_type = 'asset_receivable'))
                  OR (n.partner_id IS NOT NULL AND n.parent_state = 'posted'
                      AND (n.reconciled OR n.amount_residual != 0)
                      AND n.account_id IN (SELECT id FROM account_account
                                            WHERE account_type = 'asset_receivable')))
            ) c
      CROSS JOIN LATERAL (VALUES (c.partner_id, c.company_id),
                                 (c.new_partner_id, c.new_company_id)) AS v (partner_id, company_id)
      WHERE v.partner_id IS NOT NULL
     HAVING COUNT(*) > 0;
    RETURN NULL;
END
$fn$;

-- A matching added to, or removed from, an invoice already fully matched (its journal
-- item then looks unchanged: the day it was paid may not be).
CREATE OR REPLACE FUNCTION collection_ledger_partial_inserted() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM collection_ledger_refresh_lines(array_agg(aml.partner_id), array_agg(aml.company_id))
       FROM collection_new_partials n
       JOIN account_move_line aml ON aml.id = n.debit_move_id
       JOIN account_account acc ON acc.id = aml.account_id
      WHERE aml.partner_id IS NOT NULL AND aml.parent_state = 'posted'
        AND acc.account_type = 'asset_receivable' AND aml.reconciled
     HAVING COUNT(*) > 0;
    RETURN NULL;
END
$fn$;

CREATE OR REPLACE FUNCTION collection_ledger_partial_deleted() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM collection_ledger_refresh_lines(array_agg(aml.partner_id), array_agg(aml.company_id))
       FROM collection_old_partials o
       JOIN account_move_line aml ON aml.id = o.debit_move_id
       JOIN account_account acc ON acc.id = aml.account_id
      WHERE aml.partner_id IS NOT NULL AND aml.parent_state = 'posted'
        AND acc.account_type = 'asset_receivable' AND aml.reconciled
     HAVING COUNT(*) > 0;
    RETURN NULL;
END
$fn$;

CREATE OR REPLACE FUNCTION collection_ledger_partial_updated() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM collection_ledger_refresh_lines(array_agg(aml.partner_id), array_agg(aml.company_id))
       FROM collection_old_partials o
       JOIN collection_new_partials n ON n.id = o.id
       JOIN account_move_line aml ON aml.id IN (o.debit_move_id, n.debit_move_id)
       JOIN account_account acc ON acc.id = aml.account_id
      WHERE (o.debit_move_id, o.max_date) IS DISTINCT FROM (n.debit_move_id, n.max_date)
        AND aml.partner_id IS NOT NULL AND aml.parent_state = 'posted'
        AND acc.account_type = 'asset_receivable' AND aml.reconciled
     HAVING COUNT(*) > 0;
    RETURN NULL;
END
$fn$;

-- A contact moved to another company: its items count for another customer.
CREATE OR REPLACE FUNCTION collection_ledger_partner_moved() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM collection_ledger_refresh(array_agg(k.partner_id), array_agg(k.company_id))
       FROM (SELECT DISTINCT cp.partner_id, aml.company_id
               FROM account_move_line aml
              CROSS JOIN (VALUES (OLD.commercial_partner_id), (NEW.commercial_partner_id))
                         AS cp (partner_id)
              WHERE aml.partner_id = NEW.id AND cp.partner_id IS NOT NULL) k
     HAVING COUNT(*) > 0;
    RETURN NULL;
END
$fn$;

-- An account that becomes, or stops being, a receivable account.
CREATE OR REPLACE FUNCTION collection_ledger_account_retyped() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM collection_ledger_refresh(array_agg(k.partner_id), array_agg(k.company_id))
       FROM (SELECT DISTINCT p.commercial_partner_id AS partner_id, aml.company_id
               FROM account_move_line aml
               JOIN res_partner p ON p.id = aml.partner_id
              WHERE aml.account_id = NEW.id) k
     HAVING COUNT(*) > 0;
    RETURN NULL;
END
$fn$;

{
    statement_triggers(
        "collection_ledger_aml", "account_move_line", "collection_old_lines", "collection_new_lines"
    )
}
{
    statement_triggers(
        "collection_ledger_partial",
        "account_partial_reconcile",
        "collection_old_partials",
        "collection_new_partials",
    )
}
DROP TRIGGER IF EXISTS collection_ledger_partner_moved ON res_partner;
CREATE TRIGGER collection_ledger_partner_moved AFTER UPDATE OF commercial_partner_id
    ON res_partner FOR EACH ROW
    WHEN (OLD.commercial_partner_id IS DISTINCT FROM NEW.commercial_partner_id)
    EXECUTE FUNCTION collection_ledger_partner_moved();
DROP TRIGGER IF EXISTS collection_ledger_account_retyped ON account_account;
CREATE TRIGGER collection_ledger_account_retyped AFTER UPDATE OF account_type
    ON account_account FOR EACH ROW
    WHEN (OLD.account_type IS DISTINCT FROM NEW.account_type)
    EXECUTE FUNCTION collection_ledger_account_retyped();
"""

# What uninstalling the module removes (hooks.uninstall_hook).
LEDGER_SUMS_DROP = f"""
DROP TRIGGER IF EXISTS collection_ledger_partner_status ON res_partner;
DROP FUNCTION IF EXISTS collection_ledger_partner_status();
DROP FUNCTION IF EXISTS collection_ledger_promise_changed() CASCADE;
DROP FUNCTION IF EXISTS collection_ledger_priority_refresh(integer[], integer[], date);
{drop_statement_triggers("collection_ledger_aml", "account_move_line")}
DROP TRIGGER IF EXISTS collection_ledger_partner_moved ON res_partner;
DROP TRIGGER IF EXISTS collection_ledger_account_retyped ON account_account;
{drop_statement_triggers("collection_ledger_partial", "account_partial_reconcile")}
DROP FUNCTION IF EXISTS collection_ledger_partial_inserted();
DROP FUNCTION IF EXISTS collection_ledger_partial_deleted();
DROP FUNCTION IF EXISTS collection_ledger_partial_updated();
DROP FUNCTION IF EXISTS collection_ledger_aml_inserted();
DROP FUNCTION IF EXISTS collection_ledger_aml_deleted();
DROP FUNCTION IF EXISTS collection_ledger_aml_updated();
DROP FUNCTION IF EXISTS collection_ledger_partner_moved();
DROP FUNCTION IF EXISTS collection_ledger_account_retyped();
DROP FUNCTION IF EXISTS collection_ledger_refresh_lines(integer[], integer[]);
DROP FUNCTION IF EXISTS collection_ledger_refresh(integer[], integer[]);
DROP TABLE IF EXISTS {PAID_TABLE};
DROP TABLE IF EXISTS {DUE_TABLE};
DROP TABLE IF EXISTS {BALANCE_TABLE};
"""

# Journal item fields the open-receivable rule and the figures read: flushed before every
# ledger query, and the dependencies of the figures (a posting, a payment, a
# reconciliation, a credit note changes one of them).
LEDGER_FIELDS = (
    "partner_id",
    "move_id",
    "company_id",
    "account_id",
    "parent_state",
    "reconciled",
    "amount_residual",
    "date_maturity",
    "date",
    "no_followup",
)

# The priority (README, "How figures are computed", Priority):
#   overdue * (1 + min(days overdue, PRIORITY_DAYS_CAP) / PRIORITY_DAYS_STEP)
#           * (1 + broken promises of the last BROKEN_PROMISE_WINDOW days) * status weight
# Every PRIORITY_DAYS_STEP days overdue count the overdue amount once more, up to
# PRIORITY_DAYS_CAP days (a year's arrears weigh 13 times their amount, older ones no more).
PRIORITY_DAYS_CAP = 360
PRIORITY_DAYS_STEP = 30.0
# Broken or partly kept promises of the last BROKEN_PROMISE_WINDOW days raise the priority.
BROKEN_PROMISE_WINDOW = 365
# Weight of each status: a customer who refuses to pay or is negotiating comes first, one
# in dispute or in an agreement later, and one written off last. Any other status: 1.0.
STATUS_PRIORITY_WEIGHT = {
    "current": 1.0,
    "overdue": 1.0,
    "paying": 0.5,
    "negotiating": 1.2,
    "agreement": 0.5,
    "dispute": 0.3,
    "refusal": 1.5,
    "uncollectible": 0.1,
}

# The priority of a day, kept on each customer's balance row (``priority``, for the day
# ``priority_date``) so that the worklist reads its customers in priority order instead of
# computing every customer's priority to sort them (README, "The stored priority"). Each
# row always holds the priority of its own day, computed by the formula of _priority_sql
# (written into the function when the module is loaded, collection.ledger._priority_ddl):
# - the ledger's refresh recomputes it with the sums, in the same statement as the journal
#   items change; a new row takes the day of the company's other rows;
# - a change of a customer's status (res_partner), or of its promises (collection_promise,
#   see PROMISE_PRIORITY_DDL), recomputes it in the same statement;
# - the scheduled action moves the rows to the new day (collection.ledger._priority_refresh).
# A reader whose day is not the rows' day (the day changed, before the scheduled action; a
# user in another time zone) computes the priority when read instead (_priority_stored).
# Every write of the priority writes the balance row, so that two transactions changing
# what the priority of one customer is made of write the same row: the second fails to
# serialize and is retried, as for the sums.
PRIORITY_DDL = f"""
ALTER TABLE {BALANCE_TABLE} ADD COLUMN IF NOT EXISTS priority numeric;
ALTER TABLE {BALANCE_TABLE} ADD COLUMN IF NOT EXISTS priority_date date;
DROP INDEX IF EXISTS {BALANCE_TABLE}_priority_idx;
CREATE INDEX IF NOT EXISTS {BALANCE_TABLE}_priority_order_idx
    ON {BALANCE_TABLE} (company_id, COALESCE(priority, 0) DESC, partner_id);
CREATE INDEX IF NOT EXISTS {BALANCE_TABLE}_priority_date_idx
    ON {BALANCE_TABLE} (company_id, priority_date);

-- The priority of the keys' rows on ``on_day``, else on each row's own day (a new row: the
-- latest day of its company's rows; none yet: no priority, read as stale).
CREATE OR REPLACE FUNCTION collection_ledger_priority_refresh(partner_ids integer[],
                                                               company_ids integer[],
                                                               on_day date DEFAULT NULL)
RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
-- Installing: the promises' table comes later (its model's init fills the priorities).
IF to_regclass('collection_promise') IS NULL THEN
    RETURN;
END IF;
EXECUTE $query$
WITH keys AS MATERIALIZED (
    SELECT DISTINCT k.partner_id, k.company_id
      FROM unnest($1::integer[], $2::integer[]) AS k (partner_id, company_id)
), rows AS MATERIALIZED (
    SELECT b.partner_id, b.company_id, b.debit_amount, b.oldest_due_date,
           COALESCE($3::date, b.priority_date,
                    (SELECT MAX(o.priority_date) FROM {BALANCE_TABLE} o
                      WHERE o.company_id = b.company_id)) AS day
      FROM keys k
      JOIN {BALANCE_TABLE} b ON b.partner_id = k.partner_id AND b.company_id = k.company_id
), terms AS (
    SELECT r.partner_id, r.company_id, r.day,
           r.debit_amount - COALESCE(
               (SELECT SUM(d.debit_amount) FROM {DUE_TABLE} d
                 WHERE d.company_id = r.company_id AND d.partner_id = r.partner_id
                   AND d.due_date >= r.day AND d.debit_amount != 0), 0) AS overdue_amount,
           COALESCE(r.day - CASE WHEN r.oldest_due_date < r.day THEN r.oldest_due_date END, 0)
               AS days_overdue,
           (SELECT COUNT(*) FROM collection_promise cp
             WHERE cp.company_id = r.company_id AND cp.partner_id = r.partner_id
               AND cp.state IN ('broken', 'partial')
               AND cp.date >= r.day - {BROKEN_PROMISE_WINDOW}) AS broken_count,
           (rp.collection_status ->> r.company_id::text) AS status
      FROM rows r
      JOIN res_partner rp ON rp.id = r.partner_id
)
UPDATE {BALANCE_TABLE} b
   SET priority = CASE WHEN t.day IS NOT NULL THEN {{formula}} END,
       priority_date = t.day
  FROM terms t
 WHERE b.partner_id = t.partner_id AND b.company_id = t.company_id
$query$ USING partner_ids, company_ids, on_day;
END
$fn$;

-- A customer's status changed (in any company): its priorities.
CREATE OR REPLACE FUNCTION collection_ledger_partner_status() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM collection_ledger_priority_refresh(array_agg(b.partner_id), array_agg(b.company_id))
       FROM collection_old_partners o
       JOIN collection_new_partners n ON n.id = o.id
       JOIN {BALANCE_TABLE} b ON b.partner_id = n.id
      WHERE o.collection_status IS DISTINCT FROM n.collection_status
        AND (o.collection_status ->> b.company_id::text)
            IS DISTINCT FROM (n.collection_status ->> b.company_id::text)
     HAVING COUNT(*) > 0;
    RETURN NULL;
END
$fn$;
"""

# The status's trigger, created with the customers' collection fields (res.partner.init).
PARTNER_PRIORITY_DDL = """
DROP TRIGGER IF EXISTS collection_ledger_partner_status ON res_partner;
CREATE TRIGGER collection_ledger_partner_status AFTER UPDATE ON res_partner
    REFERENCING OLD TABLE AS collection_old_partners NEW TABLE AS collection_new_partners
    FOR EACH STATEMENT EXECUTE FUNCTION collection_ledger_partner_status();
"""

# The promises' triggers: a promise made, broken, kept, moved or deleted changes the broken
# promises its customer's priority counts (created with the promises' table).
PROMISE_PRIORITY_DDL = f"""
CREATE OR REPLACE FUNCTION collection_ledger_promise_changed() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM collection_ledger_priority_refresh(array_agg(o.partner_id),
                                                   array_agg(o.company_id))
           FROM collection_old_promises o
          WHERE o.partner_id IS NOT NULL AND o.company_id IS NOT NULL
         HAVING COUNT(*) > 0;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        PERFORM collection_ledger_priority_refresh(array_agg(n.partner_id),
                                                   array_agg(n.company_id))
           FROM collection_new_promises n
          WHERE n.partner_id IS NOT NULL AND n.company_id IS NOT NULL
         HAVING COUNT(*) > 0;
    END IF;
    RETURN NULL;
END
$fn$;

{
    statement_triggers(
        "collection_ledger_promise",
        "collection_promise",
        "collection_old_promises",
        "collection_new_promises",
        function="collection_ledger_promise_changed",
    )
}
"""


def sql_figure_search(model, fname, operator, value):
    """Domain selecting the records of ``model`` whose figure ``fname`` (a field that
    ``model._field_to_sql`` turns into an SQL expression) satisfies ``operator value``,
    evaluated in the database for any number of records. The condition is written on
    the query that searches, so a filter and a sort on figures of the same query share
    one join of the ledger aggregate (the worklist's page runs it once)."""
    if operator not in {"=", "!=", "<", "<=", ">", ">=", "in", "not in"}:
        return NotImplemented

    def to_sql(model, alias, query):
        expr = model._field_to_sql(alias, fname, query)
        if operator in ("in", "not in"):
            values = [v for v in value if v is not False and v is not None]
            parts = []
            if values:
                parts.append(SQL("%s IN %s", expr, tuple(values)))
            if len(values) != len(value):
                parts.append(SQL("%s IS NULL", expr))
            condition = SQL("(%s)", SQL(" OR ").join(parts)) if parts else SQL("FALSE")
            if operator == "not in":
                condition = SQL("NOT COALESCE(%s, FALSE)", condition)
            return condition
        if value is False or value is None:
            return SQL("%s IS NULL" if operator == "=" else "%s IS NOT NULL", expr)
        condition = SQL("%s %s %s", expr, SQL(operator), value)
        # A condition that no record without figures meets (more than 0 due, over 90 days
        # overdue) says so in a way PostgreSQL sees: it then joins only the records with
        # figures, and may read them in the order of an index on them (the worklist's
        # page, by stored priority).
        present = getattr(model, "_collection_figures_present_sql", None)
        if present is not None and operator in FIGURE_ZERO_MEETS and type(value) in (int, float):
            if not FIGURE_ZERO_MEETS[operator](value):
                extra = present(alias, fname, query)
                if extra is not None:
                    condition = SQL("(%s AND %s)", condition, extra)
        return condition

    return Domain.custom(to_sql=to_sql)


# Whether 0 satisfies ``0 <operator> value``, for the operators a figure filter uses.
FIGURE_ZERO_MEETS = {
    ">": lambda value: 0 > value,
    ">=": lambda value: 0 >= value,
    "=": lambda value: value == 0,
}


def figure_search(fname):
    """The search method of the figure ``fname`` (``search=`` of its field declaration):
    the filter is evaluated in SQL, by sql_figure_search."""

    def search(records, operator, value):
        return sql_figure_search(records, fname, operator, value)

    return search


class CollectionLedger(models.AbstractModel):
    """The ledger as the collections read it, a service in the manner of
    ``account.move.send``: SQL fragments and queries over the journal items, no data."""

    _name = "collection.ledger"
    _description = "Collection Ledger"

    # ------------------------------------------------------------------
    # Which items
    # ------------------------------------------------------------------

    @api.model
    def _flush(self):
        """Write the pending changes the ledger queries read to the database."""
        self.env["account.move.line"].flush_model(LEDGER_FIELDS)
        self.env["res.partner"].flush_model(["commercial_partner_id"])

    @api.model
    def _receivable_condition(self, company=None, alias="aml", company_index=True):
        """SQL condition on the journal item ``alias``: a posted item on a receivable
        account, of ``company`` if given (then filtered on the company's receivable
        accounts' ids, which lets PostgreSQL use the ledger's index of unreconciled lines
        per account and partner), else of any company.

        Without ``company_index``, the company is tested on each item found
        (``company_id + 0``), never through the index of the items' company: for the
        queries that reach the items partner by partner. Without statistics (a
        freshly restored book), PostgreSQL takes the company's items for a few and
        combines that index with the partner's, reading every item of the company for
        each partner (BENCHMARKS.md, "Dunning run on cold statistics")."""
        if company is None:
            return SQL(
                "%s IN (SELECT id FROM account_account WHERE account_type = 'asset_receivable') "
                "AND %s = 'posted'",
                SQL.identifier(alias, "account_id"),
                SQL.identifier(alias, "parent_state"),
            )
        account_ids = self.env["account.account"]._collection_receivable_account_ids(company.id)
        item_company = SQL.identifier(alias, "company_id")
        if not company_index:
            item_company = SQL("(%s + 0)", item_company)
        return SQL(
            "%s IN %s AND %s = %s AND %s = 'posted'",
            SQL.identifier(alias, "account_id"),
            account_ids or (0,),
            item_company,
            company.id,
            SQL.identifier(alias, "parent_state"),
        )

    @api.model
    def _contacts_sql(self, partner_ids):
        """Query: the ids of the contacts of the commercial partners ``partner_ids``
        (the customers themselves included), read customer by customer through the
        index of the contacts' commercial partner, whatever the statistics (a LATERAL
        subquery its OFFSET keeps from being flattened): for the queries that then
        reach the items partner by partner (see _receivable_condition)."""
        return SQL(
            """SELECT c.id
                 FROM unnest(%s::int[]) AS b(id)
                CROSS JOIN LATERAL (
                      SELECT id FROM res_partner WHERE commercial_partner_id = b.id OFFSET 0
                      ) c""",
            list(partner_ids),
        )

    @api.model
    def _open_receivable_condition(self, company=None, alias="aml", company_index=True):
        """SQL condition on the journal item ``alias``: an open (not fully reconciled)
        posted receivable item, of ``company`` if given (see _receivable_condition).
        Credits (unmatched payments, credit notes) are open items too."""
        return SQL(
            "%s AND %s IS NOT TRUE AND %s != 0",
            self._receivable_condition(company, alias, company_index),
            SQL.identifier(alias, "reconciled"),
            SQL.identifier(alias, "amount_residual"),
        )

    @api.model
    def _open_debit_condition(self, alias="aml"):
        """SQL condition on an open receivable item ``alias``: something the customer owes
        (a positive residual) and may be reminded of (not marked 'No follow-up')."""
        return SQL(
            "%s > 0 AND %s IS NOT TRUE",
            SQL.identifier(alias, "amount_residual"),
            SQL.identifier(alias, "no_followup"),
        )

    @api.model
    def _due_date_sql(self, alias="aml"):
        """SQL expression: the due date of the journal item ``alias`` (its entry date when
        it has none)."""
        return SQL(
            "COALESCE(%s, %s)",
            SQL.identifier(alias, "date_maturity"),
            SQL.identifier(alias, "date"),
        )

    @api.model
    def _open_debit_lines(self, lines):
        """The journal items of ``lines`` that _open_receivable_condition and
        _open_debit_condition select, read from the records (in memory)."""
        return lines.filtered(
            lambda line: (
                line.parent_state == "posted"
                and line.account_type == "asset_receivable"
                and not line.reconciled
                and line.amount_residual > 0
                and not line.no_followup
            )
        )

    # ------------------------------------------------------------------
    # Figures
    # ------------------------------------------------------------------

    def init(self):
        super().init()
        cr = self.env.cr
        cr.execute(SQL("SELECT to_regclass(%s)", BALANCE_TABLE))
        created = cr.fetchone()[0] is None
        cr.execute(
            SQL(
                "SELECT 1 FROM information_schema.columns"
                " WHERE table_name = %s AND column_name = 'debit_days'",
                BALANCE_TABLE,
            )
        )
        debit_days_added = not created and not cr.fetchone()
        # (A database of 19.0.1.3.0 gets its paid history from the 19.0.1.4.0 migration.)
        cr.execute(LEDGER_SUMS_DDL)
        if debit_days_added:
            # The balance rows' open debits, new columns: from the debits per due date.
            self._open_debits_fill()
        cr.execute(self._priority_ddl())
        if self._priority_ready():
            # (Installing: the customers' and promises' models create them, in their init.)
            cr.execute(PARTNER_PRIORITY_DDL)
            cr.execute(PROMISE_PRIORITY_DDL)
        if created:
            # Installed, or upgraded from a version without the sums: fill them from the
            # journal items already there.
            self._sums_rebuild()

    @api.model
    def _open_debits_fill(self):
        """Fill the open debits of the balance rows (``debit_count``, ``debit_days``)
        from the open debits per due date (DUE_TABLE), as the triggers keep them (the
        module's update that adds them, the 19.0.1.4.0 migration). Returns the number of
        rows written."""
        self.env.cr.execute(
            SQL(
                """
                UPDATE %(balance)s b
                   SET debit_count = s.debit_count, debit_days = s.debit_days
                  FROM (
                      SELECT company_id, partner_id,
                             COALESCE(SUM(d.debit_count), 0) AS debit_count,
                             COALESCE(SUM(d.debit_amount * (d.due_date - %(epoch)s::date)), 0)
                                 AS debit_days
                        FROM %(due)s d
                       GROUP BY company_id, partner_id
                  ) s
                 WHERE b.company_id = s.company_id AND b.partner_id = s.partner_id
                   AND (b.debit_count, b.debit_days) IS DISTINCT FROM (s.debit_count, s.debit_days)
                """,
                balance=SQL.identifier(BALANCE_TABLE),
                due=SQL.identifier(DUE_TABLE),
                epoch=DEBIT_DAYS_EPOCH,
            )
        )
        return self.env.cr.rowcount

    @api.model
    def _priority_ddl(self):
        """PRIORITY_DDL with the formula of _priority_sql in its function."""
        formula = self._priority_sql(
            SQL("t.overdue_amount"), SQL("t.days_overdue"), SQL("t.broken_count"), SQL("t.status")
        )
        return PRIORITY_DDL.replace("{formula}", self.env.cr.mogrify(formula).decode())

    @api.model
    def _sums_rebuild(self):
        """Recompute the sums behind the figures (BALANCE_TABLE, DUE_TABLE) and the paid
        history (PAID_TABLE) of every customer and company from the journal items: what
        the triggers keep up to date, from scratch. Returns the number of customer and
        company rows written."""
        self._flush()
        self.env["account.move.line"].flush_model(["balance"])
        self.env["account.partial.reconcile"].flush_model(["max_date", "debit_move_id"])
        cr = self.env.cr
        cr.execute(SQL("DELETE FROM %s", SQL.identifier(PAID_TABLE)))
        cr.execute(SQL("DELETE FROM %s", SQL.identifier(DUE_TABLE)))
        cr.execute(SQL("DELETE FROM %s", SQL.identifier(BALANCE_TABLE)))
        cr.execute(
            SQL(
                """
                SELECT collection_ledger_refresh(array_agg(partner_id), array_agg(company_id))
                  FROM (SELECT DISTINCT p.commercial_partner_id AS partner_id, aml.company_id
                          FROM account_move_line aml
                          JOIN res_partner p ON p.id = aml.partner_id
                         WHERE %s AND (aml.reconciled OR aml.amount_residual != 0)) k
                """,
                self._receivable_condition(),
            )
        )
        if self._priority_ready():
            self._priority_refresh()
        # Statistics for the planner at once (the worklist's join depends on them).
        cr.execute(
            SQL(
                "ANALYZE %s, %s, %s",
                SQL.identifier(BALANCE_TABLE),
                SQL.identifier(DUE_TABLE),
                SQL.identifier(PAID_TABLE),
            )
        )
        cr.execute(SQL("SELECT COUNT(*) FROM %s", SQL.identifier(BALANCE_TABLE)))
        return cr.fetchone()[0]

    @api.model
    def _priority_ready(self):
        """Whether the tables the stored priority is computed from exist (not while the
        module is being installed, before the promises' model is)."""
        self.env.cr.execute(SQL("SELECT to_regclass('collection_promise')"))
        return self.env.cr.fetchone()[0] is not None

    @api.model
    def _priority_refresh(self, today=None):
        """Move the stored priorities (PRIORITY_DDL) of every company to ``today``
        (default: today in the user's time zone): the rows of another day, or of none, are
        recomputed for it. Returns the number of rows recomputed."""
        today = today or fields.Date.context_today(self)
        self._flush()
        self.env["res.partner"].flush_model(["collection_status"])
        self.env["collection.promise"].flush_model(["partner_id", "company_id", "state", "date"])
        rows = self.env.execute_query(
            SQL(
                """
                SELECT collection_ledger_priority_refresh(
                           array_agg(partner_id), array_agg(company_id), %(today)s),
                       COUNT(*)
                  FROM %(balance)s
                 WHERE priority_date IS NULL OR priority_date != %(today)s
                """,
                today=today,
                balance=SQL.identifier(BALANCE_TABLE),
            )
        )
        return rows[0][1]

    @api.model
    def _priority_fill(self):
        """Fill the stored priorities of today where missing (the module's update, the
        19.0.1.4.0 migration), with statistics for the planner at once: the worklist's
        check of today's rows reads an index on their day."""
        if self._priority_refresh(fields.Date.today()):
            self.env.cr.execute(SQL("ANALYZE %s", SQL.identifier(BALANCE_TABLE)))

    @api.model
    def _cron_refresh_priorities(self):
        """The scheduled action: the stored priorities of the new day."""
        self._priority_refresh()

    @api.model
    def _priority_stored(self, company, today):
        """Whether the worklist may read the priorities of ``company`` on ``today`` from
        the balance rows (PRIORITY_DDL): the priority does not include the risk score, and
        every customer with something it may be reminded of has its priority of
        ``today`` stored (else the day changed, or the user's time zone reads another
        day, and the priority is computed when read). Flushes what the priority is
        computed from, so that the triggers have written it."""
        if company.collection_priority_risk:
            return False
        Partner = self.env["res.partner"].with_company(company)
        # The status a customer has in no company (ir.default) weighs 1.0 in the stored
        # priority.
        fallback = Partner._fields["collection_status"].get_company_dependent_fallback(Partner)
        if STATUS_PRIORITY_WEIGHT.get(fallback or None, 1.0) != 1.0:
            return False
        self._flush()
        Partner.flush_model(["collection_status"])
        self.env["collection.promise"].flush_model(["partner_id", "company_id", "state", "date"])
        rows = self.env.execute_query(
            SQL(
                """
                SELECT EXISTS (
                    SELECT 1 FROM %(balance)s
                     WHERE company_id = %(company)s AND debit_amount != 0
                       AND (priority_date IS NULL OR priority_date < %(today)s
                            OR priority_date > %(today)s))
                """,
                balance=SQL.identifier(BALANCE_TABLE),
                company=company.id,
                today=today,
            )
        )
        return not rows[0][0]

    @api.model
    def _figures_sql(self, company, today, partner_ids=None, restrict=None):
        """The figures of the customers of ``company`` on ``today``, per commercial
        partner (``partner_id``): total due net of credits (``due_amount``), overdue amount
        (``overdue_amount``) and oldest overdue due date (``oldest_due_date``), one row
        per customer with open items. ``partner_ids`` restricts it to these commercial
        partners. Read from the sums the triggers keep (BALANCE_TABLE, DUE_TABLE): the
        debits due from ``today`` on are the only rows aggregated. ``restrict`` (an SQL
        condition on the item ``aml`` and its partner ``p``) leaves some items out: the
        figures are then aggregated from the journal items (``_figures_live_sql``)."""
        if restrict is not None:
            return self._figures_live_sql(company, today, partner_ids, restrict)
        self._flush()
        balance_restrict = future_restrict = SQL()
        if partner_ids is not None:
            ids = tuple(partner_ids) or (0,)
            balance_restrict = SQL("AND b.partner_id IN %s", ids)
            future_restrict = SQL("AND d.partner_id IN %s", ids)
        return SQL(
            """(
            SELECT b.partner_id,
                   b.due_amount,
                   b.debit_amount - COALESCE(f.future_amount, 0) AS overdue_amount,
                   CASE WHEN b.oldest_due_date < %(today)s THEN b.oldest_due_date END
                       AS oldest_due_date,
                   b.priority, b.priority_date
              FROM %(balance)s b
              LEFT JOIN (
                  SELECT d.partner_id, SUM(d.debit_amount) AS future_amount
                    FROM %(due)s d
                   WHERE d.company_id = %(company)s AND d.due_date >= %(today)s
                     AND d.debit_amount != 0 %(future_restrict)s
                   GROUP BY d.partner_id
              ) f ON f.partner_id = b.partner_id
             WHERE b.company_id = %(company)s AND b.open_count > 0 %(balance_restrict)s
            )""",
            today=today,
            company=company.id,
            balance=SQL.identifier(BALANCE_TABLE),
            due=SQL.identifier(DUE_TABLE),
            balance_restrict=balance_restrict,
            future_restrict=future_restrict,
        )

    @api.model
    def _figures_live_sql(self, company, today, partner_ids=None, restrict=None):
        """The figures of ``_figures_sql`` aggregated from the open receivable items of
        ``company`` themselves, per commercial partner; ``restrict`` (an SQL condition on
        the item ``aml`` and its partner ``p``) restricts it to some items. What the sums
        must always equal."""
        self._flush()
        due_date = self._due_date_sql()
        overdue = SQL("%s AND %s < %s", self._open_debit_condition(), due_date, today)
        restrict = SQL("AND %s", restrict) if restrict is not None else SQL()
        if partner_ids is not None:
            # Contact by contact (the contacts read first, by their customer), each
            # one's items summed in a LATERAL aggregate PostgreSQL cannot flatten into
            # a join: the items are only reached through their partner's index,
            # whatever the statistics. Joined, they were read from the company's open
            # items whenever the statistics were missing (a freshly restored book):
            # every open item of the company for each batch of the dunning run, 1.3 s
            # instead of 30 ms at large (BENCHMARKS.md, "Dunning run on cold
            # statistics").
            return SQL(
                """(
                SELECT p.commercial_partner_id AS partner_id,
                       SUM(i.due_amount) AS due_amount,
                       COALESCE(SUM(i.overdue_amount), 0) AS overdue_amount,
                       MIN(i.oldest_due_date) AS oldest_due_date
                  FROM res_partner p
                 CROSS JOIN LATERAL (
                       SELECT COUNT(*) AS open_count,
                              SUM(aml.amount_residual) AS due_amount,
                              SUM(aml.amount_residual) FILTER (WHERE %(overdue)s)
                                  AS overdue_amount,
                              MIN(%(due_date)s) FILTER (WHERE %(overdue)s) AS oldest_due_date
                         FROM account_move_line aml
                        WHERE aml.partner_id = p.id
                          AND %(open_receivable)s
                          %(restrict)s
                       ) i
                 WHERE p.id = ANY(ARRAY(%(contacts)s))
                   AND i.open_count > 0
                 GROUP BY p.commercial_partner_id
                )""",
                overdue=overdue,
                due_date=due_date,
                open_receivable=self._open_receivable_condition(company, company_index=False),
                restrict=restrict,
                contacts=self._contacts_sql(partner_ids),
            )
        return SQL(
            """(
            SELECT p.commercial_partner_id AS partner_id,
                   SUM(aml.amount_residual) AS due_amount,
                   COALESCE(SUM(aml.amount_residual) FILTER (WHERE %(overdue)s), 0)
                       AS overdue_amount,
                   MIN(%(due_date)s) FILTER (WHERE %(overdue)s) AS oldest_due_date
              FROM account_move_line aml
              JOIN res_partner p ON p.id = aml.partner_id
             WHERE %(open_receivable)s
               %(restrict)s
             GROUP BY p.commercial_partner_id
            )""",
            overdue=overdue,
            due_date=due_date,
            open_receivable=self._open_receivable_condition(company),
            restrict=restrict,
        )

    @api.model
    def _aging_sql(self, company, today, restrict=None, per_partner=False, partners=None):
        """Query: the open receivable items of ``company`` summed per aging bucket of their
        own due date, credits included, so that the buckets add up to the total due. Rows
        (bucket id, amount), or (commercial partner id, bucket id, amount) when
        ``per_partner``. ``partners`` (a tuple of commercial partner ids, or an SQL query
        selecting them) restricts it to these customers; the amounts are then read from
        the residuals kept per customer and due date (DUE_TABLE). ``restrict`` (an SQL
        condition on the item ``aml`` and its partner ``p``) leaves some items out: the
        journal items themselves are then aggregated."""
        if restrict is None:
            return self._aging_sums_sql(company, today, per_partner, partners)
        self._flush()
        days = SQL("(%s::date - %s)", today, self._due_date_sql())
        columns = [
            self.env["collection.aging.bucket"]._bucket_case_sql(company, days),
            SQL("SUM(aml.amount_residual)"),
        ]
        group_by = SQL("1")
        if per_partner:
            columns.insert(0, SQL("p.commercial_partner_id"))
            group_by = SQL("1, 2")
        if partners is not None:
            restrict = SQL("%s AND p.commercial_partner_id IN %s", restrict, partners or (0,))
        return SQL(
            """
            SELECT %(columns)s
              FROM account_move_line aml
              JOIN res_partner p ON p.id = aml.partner_id
             WHERE %(open_receivable)s
               %(restrict)s
             GROUP BY %(group_by)s
            """,
            columns=SQL(", ").join(columns),
            open_receivable=self._open_receivable_condition(company),
            restrict=SQL("AND %s", restrict),
            group_by=group_by,
        )

    @api.model
    def _aging_sums_sql(self, company, today, per_partner=False, partners=None):
        """``_aging_sql`` read from the residuals kept per customer and due date."""
        self._flush()
        days = SQL("(%s::date - d.due_date)", today)
        columns = [
            self.env["collection.aging.bucket"]._bucket_case_sql(company, days),
            SQL("SUM(d.residual)"),
        ]
        group_by = SQL("1")
        if per_partner:
            columns.insert(0, SQL("d.partner_id"))
            group_by = SQL("1, 2")
        restrict = SQL()
        if partners is not None:
            restrict = SQL("AND d.partner_id IN %s", partners or (0,))
        return SQL(
            """
            SELECT %(columns)s
              FROM %(due)s d
             WHERE d.company_id = %(company)s AND d.residual != 0
               %(restrict)s
             GROUP BY %(group_by)s
            """,
            columns=SQL(", ").join(columns),
            due=SQL.identifier(DUE_TABLE),
            company=company.id,
            restrict=restrict,
            group_by=group_by,
        )

    @api.model
    def _priority_sql(self, overdue_amount, days_overdue, broken_count, status):
        """SQL expression of the priority from the SQL expressions of its terms (see
        PRIORITY_DAYS_CAP and the constants beside it)."""
        weight = SQL(
            "(CASE %s %s ELSE 1.0 END)",
            status,
            SQL(" ").join(
                SQL("WHEN %s THEN %s", key, value) for key, value in STATUS_PRIORITY_WEIGHT.items()
            ),
        )
        return SQL(
            "ROUND((COALESCE(%s, 0) * (1 + LEAST(%s, %s) / %s) * (1 + %s) * %s)::numeric, 0)",
            overdue_amount,
            days_overdue,
            PRIORITY_DAYS_CAP,
            PRIORITY_DAYS_STEP,
            broken_count,
            weight,
        )

    # ------------------------------------------------------------------
    # Company-dependent fields
    # ------------------------------------------------------------------

    @api.model
    def _company_dependent_sql(self, model, alias, fname, company_sql=None):
        """SQL value of the company-dependent field ``fname`` of ``model`` on its row
        ``alias``: in the current company of ``model``, as the ORM reads it (with the
        field's fallback default), or, with ``company_sql`` (an SQL expression giving a
        company id per row, the analyses' case), the value stored for that company
        (NULL when none), cast to the field's column type."""
        field = model._fields[fname]
        if company_sql is None:
            return field.to_sql(model, alias)
        stored = SQL(
            "(%s ->> (%s)::text)::%s",
            SQL.identifier(alias, fname),
            company_sql,
            SQL(field._column_type[1]),
        )
        # The field's default (ir.default, e.g. the first stage) for what is not stored.
        fallback = field.get_company_dependent_fallback(model)
        fallback = field.convert_to_column(field.convert_to_write(fallback, model), model)
        if fallback in (None, False):
            return stored
        return SQL("COALESCE(%s, %s::%s)", stored, fallback, SQL(field._column_type[1]))
