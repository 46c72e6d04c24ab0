# Switch on the shipped policy for the main company and run the reminders of today over
# its book, as a new company would: print the preview, the run and the checks of README
# "Switching on reminders" (no stage-changing level without the levels before it, no
# reminder for a settled invoice, no message dated wrongly). The run is committed; the
# queue is not run (nothing leaves): the reminders are read against the ledger as the
# queue would just before sending.
#
# Usage (Odoo shell, on a database with account_collection):
#   python3 -m odoo shell -c .dev/odoo.conf --addons-path=... -d DB --no-http \
#       < dev/first_run_check.py
# ruff: noqa: F821  (env is the shell's)
from collections import Counter

company = env.ref("base.main_company")
env = env(context=dict(env.context, allowed_company_ids=company.ids, lang="en_US"))
policy = env.ref("account_collection.collection_policy_default")
policy.company_id = company
company.collection_policy_id = policy
env.cr.commit()

wizard = env["collection.dunning.run"].create({})
print("PREVIEW", len(wizard.line_ids), "customers")
for level, count in Counter(line.level_id.display_name for line in wizard.line_ids).items():
    print("  ", level, count)
print("  first reminders:", len(wizard.line_ids.filtered("first_reminder")))

Dunning = env["collection.dunning"]
before = env["collection.communication"].search([]).ids
created = Dunning._run_dunning(company)
today = env["collection.communication"].search(
    [("company_id", "=", company.id), ("date", "=", company._collection_today())]
)
print("RUN created", len(created), "reminders; today's:", len(today))
print(" by level:", dict(Counter(r.level_id.display_name for r in today)))
print(" by state:", dict(Counter(r.state for r in today)))
channels = today.delivery_ids
print(" deliveries:", dict(Counter((d.channel, d.state) for d in channels)))

# The checks, on every reminder of the company (the demo's history included).
reminders = env["collection.communication"].search([("company_id", "=", company.id)], order="id")
ladder = policy.level_ids.sorted("delay")
entry = policy.entry_level_id
problems = []
for reminder in reminders.filtered(lambda r: r.state != "cancelled"):
    level = reminder.level_id
    for move in reminder.move_ids:
        if level.policy_id == policy and level.stage_id and level.delay > entry.delay:
            earlier = reminders.filtered(
                lambda r, m=move, lv=level, d=reminder.date: (
                    m in r.move_ids
                    and r.level_id.policy_id == policy
                    and r.level_id.delay < lv.delay
                    and r.date < d
                    and r.state == "done"
                )
            )
            if not earlier:
                problems.append(f"{reminder.name}: {level.name} with no level before it")
        due = move.invoice_date_due
        if level.delay < 0 and due <= reminder.date:
            problems.append(f"{reminder.name}: due soon, but {move.name} was due {due}")
        if level.delay == 0 and move in reminder.due_move_ids and due != reminder.date:
            problems.append(f"{reminder.name}: due today, but {move.name} was due {due}")
        if level.delay > 0 and move in reminder.due_move_ids and (reminder.date - due).days < 0:
            problems.append(f"{reminder.name}: overdue, but {move.name} is due {due}")
# Nothing settled is claimed: the reminders still to send, read again as the queue would.
pending = reminders.filtered(lambda r: r.state in ("draft", "queued"))
claims = pending._collection_claims(company, company._collection_today())
settled = Counter(why for moves in claims.values() for why, _due in moves.values() if why)
print("CHECK reminders", len(reminders), "to send", len(pending))
print(" settled invoices on reminders to send:", dict(settled) or 0)
print(" rule violations:", len(problems))
for problem in problems[:20]:
    print("   ", problem)
new = env["collection.communication"].browse(sorted(set(created.ids) - set(before)))
stage_levels = new.filtered(lambda r: r.level_id.stage_id and r.level_id.delay > entry.delay)
print(" first-run reminders at a stage-changing level past the entry:", len(stage_levels))
env.cr.commit()
