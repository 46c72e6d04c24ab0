import logging
from datetime import timedelta

import psycopg2.errors
import pytz
from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
from odoo.fields import Domain
from odoo.tools import SQL, format_amount, html2plaintext, mute_logger

from ..tools import whatsapp
from .collection_policy import MESSAGE_CHANNELS

_logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
# Minutes to wait before the next attempt: 5 min, 30 min, 2 h, 8 h.
BACKOFF_MINUTES = [5, 30, 120, 480]
# A delivery left "sending" longer than this was interrupted (a crash, a killed worker):
# whether the provider got it is unknown, so it is not sent again by itself.
SENDING_TIMEOUT = timedelta(minutes=15)
RUN_BATCH_SIZE = 200


class CollectionCommunication(models.Model):
    _name = "collection.communication"
    _description = "Collection Reminder"
    _inherit = ["mail.thread"]
    _order = "date desc, id desc"
    _check_company_auto = True

    name = fields.Char(compute="_compute_name", store=True)
    partner_id = fields.Many2one(
        "res.partner", string="Customer", required=True, index=True, readonly=True
    )
    company_id = fields.Many2one("res.company", required=True, index=True, readonly=True)
    currency_id = fields.Many2one(related="company_id.currency_id", string="Currency")
    policy_id = fields.Many2one("collection.policy", readonly=True, index=True)
    level_id = fields.Many2one("collection.level", required=True, readonly=True, index=True)
    date = fields.Date(
        required=True, readonly=True, index=True, help="Day of the run that created the reminder."
    )
    user_id = fields.Many2one("res.users", string="Collector", index=True)
    move_ids = fields.Many2many(
        "account.move",
        "collection_communication_account_move_rel",
        "communication_id",
        "move_id",
        string="Invoices",
        help="The invoices the reminder is about. A collector may take some out while the "
        "reminder waits for review.",
    )
    state = fields.Selection(
        [
            ("draft", "To Review"),
            ("queued", "Sending"),
            ("done", "Sent"),
            ("failed", "Failed"),
            ("cancelled", "Skipped"),
        ],
        default="draft",
        required=True,
        readonly=True,
        index=True,
        tracking=True,
    )
    delivery_ids = fields.One2many(
        "collection.communication.delivery", "communication_id", string="Deliveries"
    )
    overdue_amount = fields.Monetary(readonly=True, help="Overdue amount when created.")
    due_amount = fields.Monetary(readonly=True, help="Total due when created.")
    days_overdue = fields.Integer(readonly=True, help="Days overdue when created.")
    note = fields.Text(
        readonly=True, help="Why a channel was not used, and which one replaced it."
    )
    portal_url = fields.Char(compute="_compute_portal_url")
    letter_attachment_id = fields.Many2one("ir.attachment", string="Letter", readonly=True)

    _partner_level_date_unique = models.UniqueIndex(
        "(partner_id, level_id, date)",
        "A customer gets one reminder per level and day.",
    )

    @api.depends("partner_id", "level_id")
    def _compute_name(self):
        for communication in self:
            communication.name = self.env._(
                "%(level)s - %(partner)s",
                level=communication.level_id.name or "",
                partner=communication.partner_id.display_name or "",
            )

    @api.depends("partner_id", "company_id")
    def _compute_portal_url(self):
        """The customer's statement of account on the portal, with its access token:
        the customer sees and pays the invoices, promises to pay or disputes one
        without logging in."""
        for communication in self:
            if not communication.partner_id or not communication.company_id:
                communication.portal_url = False
                continue
            communication.portal_url = communication.get_base_url() + (
                communication.partner_id._collection_portal_url(communication.company_id)
            )

    @api.constrains("move_ids", "partner_id")
    def _check_move_ids(self):
        for communication in self:
            if not communication.move_ids:
                raise ValidationError(
                    self.env._(
                        "A reminder is about at least one invoice: skip it instead of removing "
                        "them all."
                    )
                )
            if communication.move_ids.commercial_partner_id != communication.partner_id:
                raise ValidationError(
                    self.env._(
                        "A reminder of %(partner)s can only be about that customer's invoices.",
                        partner=communication.partner_id.display_name,
                    )
                )

    def write(self, vals):
        if "move_ids" in vals and any(c.state != "draft" for c in self):
            raise UserError(
                self.env._("The invoices of a reminder can only change while it waits for review.")
            )
        return super().write(vals)

    def _invoice_attachments(self):
        """The PDF of each invoice of the reminder, attached to the reminder: the one
        Odoo already keeps for the invoice when it was sent, else a fresh one."""
        self.ensure_one()
        Attachment = self.env["ir.attachment"].sudo()
        attachments = Attachment
        for move in self.move_ids.sudo():
            if move.invoice_pdf_report_id:
                attachments |= move.invoice_pdf_report_id
                continue
            pdf, _report_type = self.env["ir.actions.report"].sudo()._render_qweb_pdf(
                "account.account_invoices", move.ids
            )
            attachments |= Attachment.create(
                {
                    "name": f"{(move.name or 'invoice').replace('/', '_')}.pdf",
                    "raw": pdf,
                    "res_model": self._name,
                    "res_id": self.id,
                    "mimetype": "application/pdf",
                }
            )
        return attachments

    # ------------------------------------------------------------------
    # Values for the templates
    # ------------------------------------------------------------------

    def _template_values(self):
        """Values a template or a WhatsApp message may show, formatted in the customer's
        language."""
        self.ensure_one()
        env = self.with_context(lang=self.partner_id.lang).env
        return {
            "partner_name": self.partner_id.name,
            "overdue_amount": format_amount(env, self.overdue_amount, self.currency_id),
            "due_amount": format_amount(env, self.due_amount, self.currency_id),
            "days_overdue": str(self.days_overdue),
            "invoice_names": ", ".join(self.move_ids.mapped("name")),
            "portal_url": self.portal_url,
            "company_name": self.company_id.name,
        }

    # ------------------------------------------------------------------
    # Review
    # ------------------------------------------------------------------

    def action_approve(self):
        if any(c.state != "draft" for c in self):
            raise UserError(self.env._("Only reminders waiting for review can be approved."))
        self._start()

    def action_skip(self):
        if any(c.state not in ("draft", "queued") for c in self):
            raise UserError(self.env._("Only reminders not sent yet can be skipped."))
        self.delivery_ids.filtered(lambda d: d.state in ("draft", "queued")).write(
            {"state": "cancelled"}
        )
        self.write({"state": "cancelled"})

    def action_retry(self):
        failed = self.delivery_ids.filtered(lambda d: d.state == "failed")
        if not failed:
            raise UserError(self.env._("Nothing failed to send here."))
        failed.action_retry()

    def _start(self):
        """Queue the deliveries and apply the level's stage and status changes."""
        self.delivery_ids.filtered(lambda d: d.state == "draft").write({"state": "queued"})
        self.write({"state": "queued"})
        self._apply_portfolio_changes()
        self._update_state()

    def _apply_portfolio_changes(self):
        """Move the reminders' customers to the stage and status of their level, all
        of them at once: one write per stage or status, and the changes logged on each
        customer's chatter in one batch, as tracking would."""
        changes = {}  # (company, field name, value) -> customer ids
        for communication in self:
            level = communication.level_id
            partner = communication.partner_id.with_company(communication.company_id)
            # Reminders move a customer forward through the stages, never back: the
            # first reminder of a new invoice leaves a delinquent customer delinquent.
            stage, current = level.stage_id, partner.collection_stage_id
            if stage and (not current or (stage.sequence, stage.id) > (current.sequence, current.id)):
                changes.setdefault(
                    (communication.company_id, "collection_stage_id", stage.id), set()
                ).add(partner.id)
            if level.status and partner.collection_status != level.status:
                changes.setdefault(
                    (communication.company_id, "collection_status", level.status), set()
                ).add(partner.id)
        companies = {company for company, _fname, _value in changes}
        for company in companies:
            # sudo: the reminders move customers through stages, whoever approved them.
            Partner = self.env["res.partner"].with_company(company).sudo()
            per_field = {
                (fname, value): Partner.browse(sorted(ids))
                for (co, fname, value), ids in changes.items()
                if co == company
            }
            Partner.browse(
                sorted({pid for partners in per_field.values() for pid in partners.ids})
            )._collection_write_logged(per_field)

    def _update_state(self):
        for communication in self.filtered(lambda c: c.state == "queued"):
            state = communication._state_from_deliveries()
            if state != "queued":
                communication.state = state

    def _state_from_deliveries(self):
        """The reminder's state from its deliveries' once it is under way: queued while
        one is to send, failed if one failed, skipped when none could go, else sent."""
        self.ensure_one()
        states = set(self.delivery_ids.mapped("state"))
        if states & {"queued", "sending", "draft"}:
            return "queued"
        failed = self.delivery_ids.filtered(lambda d: d.state == "failed")
        if self.level_id.whatsapp_fallback_sms and self.delivery_ids.filtered(
            lambda d: d.channel == "sms" and d.state == "sent"
        ):
            # The SMS sent in place of the WhatsApp message reached the customer.
            failed = failed.filtered(lambda d: d.channel != "whatsapp")
        if failed:
            return "failed"
        if states and states <= {"cancelled"}:
            # Every channel was taken off or could not reach the customer.
            return "cancelled"
        return "done"

    # ------------------------------------------------------------------
    # The run: deciding who gets which level
    # ------------------------------------------------------------------

    @api.model
    def _dunning_candidates_sql(self, company, today, partner_ids=None):
        """One query over the open invoices of ``company``: for each invoice that reached
        a level of its customer's policy higher than the one it is at, the invoice,
        customer and level. Customers excluded from reminders, in dispute, uncollectible,
        or in a stage that stops them, invoices covered by an open promise whose date
        has not passed, invoices covered by an active payment agreement, and invoices in
        an open dispute are left out."""
        Partner = self.env["res.partner"].with_company(company)
        Partner._collection_flush_ledger()
        self.env["account.move"].flush_model(
            ["company_id", "state", "move_type", "commercial_partner_id"]
        )
        self.env["collection.level"].flush_model(["policy_id", "delay"])
        self.env["collection.policy"].flush_model(["active"])
        self.env["collection.stage"].flush_model(["stop_dunning"])
        self.env["collection.promise"].flush_model(["state", "date"])
        self.env["collection.dispute"].flush_model(["state", "move_ids"])
        self.env["collection.agreement"].flush_model(["state", "move_ids", "charges_move_id"])
        Partner.flush_model(
            ["collection_policy_id", "collection_excluded", "collection_status",
             "collection_stage_id"]
        )
        fields_ = Partner._fields
        policy = fields_["collection_policy_id"].to_sql(Partner, "p")
        excluded = fields_["collection_excluded"].to_sql(Partner, "p")
        status = fields_["collection_status"].to_sql(Partner, "p")
        stage = fields_["collection_stage_id"].to_sql(Partner, "p")
        restrict = SQL()
        if partner_ids is not None:
            # Through the journal items' partner (indexed, as the partners' commercial
            # partner is): the invoices' commercial partner is not indexed.
            restrict = SQL(
                """AND aml.partner_id IN (
                       SELECT id FROM res_partner WHERE commercial_partner_id IN %(ids)s)
                   AND m.commercial_partner_id IN %(ids)s""",
                ids=tuple(partner_ids) or (0,),
            )
        return SQL(
            """
            WITH open_moves AS (
                SELECT m.id AS move_id,
                       m.commercial_partner_id AS partner_id,
                       MIN(COALESCE(aml.date_maturity, aml.date)) AS due_date
                  FROM account_move m
                  JOIN account_move_line aml ON aml.move_id = m.id
                 WHERE m.move_type = 'out_invoice'
                   AND %(open_receivable)s
                   AND aml.amount_residual > 0
                   AND aml.no_followup IS NOT TRUE
                   %(restrict)s
                 GROUP BY m.id, m.commercial_partner_id
            )
            SELECT DISTINCT ON (om.move_id) om.move_id, om.partner_id, lv.id, lv.delay
              FROM open_moves om
              JOIN res_partner p ON p.id = om.partner_id
              JOIN collection_level lv
                ON lv.policy_id = COALESCE(%(policy)s, %(default_policy)s)
               AND lv.delay <= %(today)s::date - om.due_date
              JOIN collection_policy pol ON pol.id = lv.policy_id AND pol.active
              JOIN account_move m ON m.id = om.move_id
              LEFT JOIN collection_invoice_dunning inv ON inv.move_id = om.move_id
              LEFT JOIN collection_level cur ON cur.id = inv.level_id
             WHERE (cur.id IS NULL OR cur.policy_id != lv.policy_id OR cur.delay < lv.delay)
               AND %(excluded)s IS NOT TRUE
               AND COALESCE(%(status)s, 'current') NOT IN ('dispute', 'uncollectible')
               AND (%(stage)s IS NULL OR %(stage)s NOT IN (
                        SELECT id FROM collection_stage WHERE stop_dunning))
               AND NOT EXISTS (
                    SELECT 1
                      FROM collection_promise_account_move_rel rel
                      JOIN collection_promise pr ON pr.id = rel.collection_promise_id
                     WHERE rel.account_move_id = om.move_id
                       AND pr.state = 'open'
                       AND pr.date >= %(today)s)
               AND NOT EXISTS (
                    SELECT 1
                      FROM collection_dispute_account_move_rel drel
                      JOIN collection_dispute di ON di.id = drel.collection_dispute_id
                     WHERE drel.account_move_id = om.move_id
                       AND di.state IN ('open', 'in_progress'))
               AND NOT EXISTS (
                    SELECT 1
                      FROM collection_agreement ag
                      LEFT JOIN collection_agreement_account_move_rel arel
                        ON arel.collection_agreement_id = ag.id
                       AND arel.account_move_id = om.move_id
                     WHERE ag.state = 'active'
                       AND (arel.account_move_id IS NOT NULL OR ag.charges_move_id = om.move_id))
             ORDER BY om.move_id, lv.delay DESC
            """,
            open_receivable=Partner._collection_open_receivable_condition(company),
            restrict=restrict,
            policy=policy,
            default_policy=company.collection_policy_id.id or None,
            today=today,
            excluded=excluded,
            status=status,
            stage=stage,
        )

    @api.model
    def _dunning_plan(self, company, today, partner_ids=None):
        """{partner id: {level: collection.level, moves: {move id: level}}}: what a run
        on ``today`` would do. A customer gets one reminder, at the highest level one of
        its invoices reached, grouping every invoice that moves up."""
        rows = self.env.execute_query(self._dunning_candidates_sql(company, today, partner_ids))
        Level = self.env["collection.level"]
        plan = {}
        for move_id, partner_id, level_id, delay in rows:
            entry = plan.setdefault(partner_id, {"level": Level, "delay": None, "moves": {}})
            entry["moves"][move_id] = level_id
            if entry["delay"] is None or delay > entry["delay"]:
                entry["delay"] = delay
                entry["level"] = Level.browse(level_id)
        # The level's minimum applies to what the customer owes: overdue amount, or the
        # total due for the levels before the due date.
        partners = self.env["res.partner"].with_company(company).browse(list(plan))
        for partner in partners:
            level = plan[partner.id]["level"]
            if level.min_amount:
                owed = (
                    partner.collection_overdue_amount
                    if level.delay > 0
                    else partner.collection_due_amount
                )
                if owed < level.min_amount:
                    del plan[partner.id]
        return plan

    @api.model
    def _run_dunning(self, company=None, today=None):
        """Create today's reminders of ``company``, in committed batches of customers.

        Exactly once: each batch locks its customers (rows other workers hold are
        skipped, they are that worker's), reads the plan again under the lock, and
        commits the reminders together with the invoices' new levels, so a rerun, a
        resumed run or a second worker finds nothing left to do for them. The unique
        index on (customer, level, day) is the last guard."""
        company = company or self.env.company
        today = today or fields.Date.context_today(self)
        self = self.with_company(company)
        plan = self._dunning_plan(company, today)
        partner_ids = sorted(plan)
        created = self.browse()
        Partner = self.env["res.partner"].with_company(company)
        Cron = self.env["ir.cron"]
        # Each batch is locked at the start of a transaction, so the lock and the plan
        # read again under it see what other workers committed since the plan above.
        Cron._commit_progress(0, remaining=len(partner_ids))
        for start in range(0, len(partner_ids), RUN_BATCH_SIZE):
            batch = Partner.browse(partner_ids[start:start + RUN_BATCH_SIZE])
            # The foreign keys of the rows a batch inserts are checked by plans PostgreSQL
            # caches for the session. Planned once while the reminders' tables were small
            # (a first run on a new database), they would scan those tables row by row as
            # they grow: plan them for each check instead.
            self.env.cr.execute("SET LOCAL plan_cache_mode = force_custom_plan")
            # The invoices' levels grow by thousands of rows per batch: fresh statistics
            # keep the next batch's plan from scanning them once per invoice (skipped
            # while another worker's batch analyses them).
            self.env.cr.execute("ANALYZE (SKIP_LOCKED) collection_invoice_dunning")
            locked = batch.try_lock_for_update(allow_referencing=True)
            if locked:
                batch_plan = self._dunning_plan(company, today, locked.ids)
                created |= self._create_from_plan(company, today, batch_plan)
            remaining = max(len(partner_ids) - start - len(batch), 0)
            Cron._commit_progress(len(batch), remaining=remaining)
        return created

    @api.model
    def _create_from_plan(self, company, today, plan):
        """Create the reminders of ``plan`` (see ``_dunning_plan``) for a batch of
        customers, set-based: the reminders, their invoices and their deliveries are
        inserted with one statement each, the invoices' levels updated with one, the
        customers' level, stage and status written with one write() per value. The
        number of queries does not grow with the number of customers in the batch.

        The rows are the ones the ORM would write (the plan only holds invoices of
        the reminder's customer, which ``_check_move_ids`` asks); the reminders are
        created without a chatter message or follower of their own: a reminder is the
        record of what the run decided, its customer's chatter tells when it is sent."""
        if not plan:
            return self.browse()
        partners = self.env["res.partner"].with_company(company).browse(sorted(plan))
        columns = {
            "partner_id": [], "level_id": [], "policy_id": [], "user_id": [], "state": [],
            "overdue_amount": [], "due_amount": [], "days_overdue": [],
        }
        for partner in partners:
            level = plan[partner.id]["level"]
            columns["partner_id"].append(partner.id)
            columns["level_id"].append(level.id)
            columns["policy_id"].append(level.policy_id.id)
            columns["user_id"].append(partner.collection_user_id.id or None)
            columns["state"].append("queued" if level.policy_id.mode == "automatic" else "draft")
            columns["overdue_amount"].append(partner.collection_overdue_amount)
            columns["due_amount"].append(partner.collection_due_amount)
            columns["days_overdue"].append(partner.collection_days_overdue)
        self.env.flush_all()
        rows = self.env.execute_query(
            SQL(
                """
                INSERT INTO collection_communication
                       (partner_id, company_id, level_id, policy_id, user_id, state, date,
                        overdue_amount, due_amount, days_overdue,
                        create_uid, create_date, write_uid, write_date)
                SELECT v.partner_id, %(company)s, v.level_id, v.policy_id, v.user_id,
                       v.state, %(today)s, v.overdue_amount, v.due_amount, v.days_overdue,
                       %(uid)s, %(now)s, %(uid)s, %(now)s
                  FROM unnest(%(partner_id)s::int[], %(level_id)s::int[],
                              %(policy_id)s::int[], %(user_id)s::int[],
                              %(state)s::varchar[], %(overdue_amount)s::numeric[],
                              %(due_amount)s::numeric[], %(days_overdue)s::int[])
                       AS v(partner_id, level_id, policy_id, user_id, state,
                            overdue_amount, due_amount, days_overdue)
             RETURNING id, partner_id
                """,
                company=company.id,
                today=today,
                uid=self.env.uid,
                now=self.env.cr.now(),
                **columns,
            )
        )
        communication_of = {partner_id: communication_id for communication_id, partner_id in rows}
        rel_communications, rel_moves = [], []
        for partner_id, entry in plan.items():
            for move_id in sorted(entry["moves"]):
                rel_communications.append(communication_of[partner_id])
                rel_moves.append(move_id)
        self.env.cr.execute(
            SQL(
                """
                INSERT INTO collection_communication_account_move_rel (communication_id, move_id)
                SELECT * FROM unnest(%s::int[], %s::int[])
                """,
                rel_communications,
                rel_moves,
            )
        )
        communications = self.sudo().browse(sorted(communication_of.values()))
        # The reminder's name is computed as it would be on create().
        self.env.add_to_compute(self._fields["name"], communications)
        self._write_invoice_levels(plan)

        # The deliveries: queued at once for an automatic policy, else waiting for review.
        automatic = communications.filtered(lambda c: c.state == "queued")
        delivery_values, notes = communications._deliveries_values(started=automatic)
        Delivery = self.env["collection.communication.delivery"]
        delivery_columns = {"communication_id": [], "channel": [], "state": [],
                            "recipient": [], "last_error": []}
        for values in delivery_values:
            for fname, column in delivery_columns.items():
                column.append(values.get(fname) or None)
        self.env.cr.execute(
            SQL(
                """
                INSERT INTO collection_communication_delivery
                       (communication_id, partner_id, company_id, channel, state, recipient,
                        last_error, attempts, create_uid, create_date, write_uid, write_date)
                SELECT v.communication_id, c.partner_id, c.company_id, v.channel, v.state,
                       v.recipient, v.last_error, 0, %(uid)s, %(now)s, %(uid)s, %(now)s
                  FROM unnest(%(communication_id)s::int[], %(channel)s::varchar[],
                              %(state)s::varchar[], %(recipient)s::varchar[],
                              %(last_error)s::text[])
                       WITH ORDINALITY AS v(communication_id, channel, state, recipient,
                                            last_error, n)
                  JOIN collection_communication c ON c.id = v.communication_id
                 ORDER BY v.n
                """,
                uid=self.env.uid,
                now=self.env.cr.now(),
                **delivery_columns,
            )
        )
        Delivery.invalidate_model()
        self.invalidate_model(["delivery_ids"])
        # A started reminder none of whose channels could go is skipped, one with
        # nothing to send (a level that only moves the stage) is done.
        states = {
            communication.id: communication._state_from_deliveries() for communication in automatic
        }
        changed = {cid: state for cid, state in states.items() if state != "queued"}
        if changed or notes:
            ids = sorted(changed.keys() | notes.keys())
            self.env.cr.execute(
                SQL(
                    """
                    UPDATE collection_communication c
                       SET state = COALESCE(v.state, c.state),
                           note = COALESCE(v.note, c.note)
                      FROM unnest(%s::int[], %s::varchar[], %s::text[]) AS v(id, state, note)
                     WHERE c.id = v.id
                    """,
                    ids,
                    [changed.get(cid) for cid in ids],
                    [notes.get(cid) for cid in ids],
                )
            )
            self.invalidate_model(["state", "note"])
        # The customers' level: one write per level.
        Partner = self.env["res.partner"].with_company(company).sudo()
        per_level = {}
        for partner_id, entry in plan.items():
            per_level.setdefault(entry["level"].id, []).append(partner_id)
        Partner.browse(sorted(plan))._collection_write_logged(
            {
                ("collection_level_id", level_id): Partner.browse(ids)
                for level_id, ids in per_level.items()
            }
        )
        automatic._apply_portfolio_changes()
        return communications

    @api.model
    def _write_invoice_levels(self, plan):
        """The invoices of ``plan`` move up to the level each one reached, with one
        statement (see ``collection.invoice.dunning``)."""
        move_ids, level_ids = [], []
        for entry in plan.values():
            for move_id, level_id in entry["moves"].items():
                move_ids.append(move_id)
                level_ids.append(level_id)
        self.env["collection.invoice.dunning"].sudo()._set("level_id", move_ids, level_ids)

    # ------------------------------------------------------------------
    # Channels
    # ------------------------------------------------------------------

    def _deliveries_values(self, started=None):
        """({values of the deliveries to create}, {reminder id: note}) for the
        reminders ``self``: the message channels of each reminder's level the customer
        can get (a channel it cannot get passes to the next one, and the reminder says
        why), and the activity. Deliveries of the reminders in ``started`` are queued,
        the others wait for review."""
        started = started if started is not None else self.browse()
        vals_list = []
        notes = {}
        for communication in self:
            level = communication.level_id
            state = "queued" if communication in started else "draft"
            reasons = []
            channels = level._message_channels()
            values = []
            base = {"communication_id": communication.id, "state": state}

            for channel in channels:
                recipient, problem = communication._recipient(channel)
                if problem:
                    reasons.append(problem)
                    values.append(dict(base, channel=channel, state="cancelled", last_error=problem))
                else:
                    values.append(dict(base, channel=channel, recipient=recipient))
            if channels and all(v["state"] == "cancelled" for v in values):
                # None of the level's channels reaches the customer: fall back on the
                # other channels in order.
                for channel in MESSAGE_CHANNELS:
                    if channel in channels or not communication._channel_configured(channel):
                        continue
                    recipient, problem = communication._recipient(channel)
                    if not problem:
                        values.append(dict(base, channel=channel, recipient=recipient))
                        reasons.append(
                            self.env._(
                                "Sent by %(channel)s instead.",
                                channel=communication._channel_label(channel),
                            )
                        )
                        break
                else:
                    reasons.append(self.env._("No channel can reach this customer."))
            if level.create_activity:
                values.append(dict(base, channel="activity"))
            vals_list += values
            if reasons:
                notes[communication.id] = "\n".join(reasons)
        return vals_list, notes

    def _channel_label(self, channel):
        return dict(
            self.env["collection.communication.delivery"]._fields["channel"]._description_selection(
                self.env
            )
        )[channel]

    def _channel_configured(self, channel):
        level = self.level_id
        if channel == "email":
            return bool(level.mail_template_id)
        if channel == "sms":
            return bool(level.sms_template_id)
        if channel == "whatsapp":
            return bool(level.whatsapp_template_name and self.company_id.collection_whatsapp_phone_number_id)
        return channel == "letter"

    def _recipient(self, channel):
        """(recipient, problem): where the message goes, or why it cannot go."""
        partner = self.partner_id
        label = self._channel_label(channel)
        if channel == "email":
            if not partner.email:
                return False, self.env._("%(channel)s: the customer has no email address.", channel=label)
            if partner.is_blacklisted:
                return False, self.env._(
                    "%(channel)s: the customer opted out of emails.", channel=label
                )
            return partner.email, False
        if channel in ("sms", "whatsapp"):
            if channel == "whatsapp" and not self.company_id.collection_whatsapp_phone_number_id:
                return False, self.env._("%(channel)s: WhatsApp is not set up.", channel=label)
            if not partner.phone:
                return False, self.env._("%(channel)s: the customer has no phone number.", channel=label)
            try:
                number = partner._phone_format(fname="phone", raise_exception=True)
            except UserError as e:
                return False, self.env._(
                    "%(channel)s: invalid phone number %(number)s (%(error)s).",
                    channel=label,
                    number=partner.phone,
                    error=str(e),
                )
            if partner.phone_blacklisted:
                return False, self.env._(
                    "%(channel)s: the customer opted out of text messages.", channel=label
                )
            return number, False
        return False, False

    # ------------------------------------------------------------------
    # Sending
    # ------------------------------------------------------------------

    @api.model
    def _cron_run_dunning(self):
        """Daily: create the reminders of every company, then send what is due. A
        company without a default policy still reminds the customers that have a policy
        of their own."""
        for company in self.env["res.company"].search([]):
            self.with_company(company)._run_dunning(company)
        self.env["collection.communication.delivery"]._process_queue()


class CollectionCommunicationDelivery(models.Model):
    _name = "collection.communication.delivery"
    _description = "Collection Reminder Delivery"
    _order = "id"

    communication_id = fields.Many2one(
        "collection.communication", required=True, index=True, ondelete="cascade"
    )
    partner_id = fields.Many2one(related="communication_id.partner_id", store=True)
    company_id = fields.Many2one(related="communication_id.company_id", store=True, index=True)
    level_id = fields.Many2one(related="communication_id.level_id")
    channel = fields.Selection(
        [
            ("email", "Email"),
            ("whatsapp", "WhatsApp"),
            ("sms", "SMS"),
            ("letter", "Letter"),
            ("activity", "Activity"),
        ],
        required=True,
    )
    state = fields.Selection(
        [
            ("draft", "To Review"),
            ("queued", "Queued"),
            ("sending", "Sending"),
            ("sent", "Sent"),
            ("failed", "Failed"),
            ("cancelled", "Not Sent"),
        ],
        default="draft",
        required=True,
        index=True,
    )
    recipient = fields.Char()
    attempts = fields.Integer(readonly=True)
    next_attempt = fields.Datetime(
        string="Next Attempt", readonly=True, index=True, help="Not before this time."
    )
    date_sent = fields.Datetime(readonly=True)
    last_error = fields.Text(readonly=True)
    provider_ref = fields.Char(
        string="Provider Reference", readonly=True, help="Message id given by the provider."
    )
    mail_id = fields.Many2one("mail.mail", readonly=True, ondelete="set null")
    sms_id = fields.Many2one("sms.sms", readonly=True, ondelete="set null")

    def action_retry(self):
        failed = self.filtered(lambda d: d.state == "failed")
        failed.write({"state": "queued", "next_attempt": False, "attempts": 0})
        failed.communication_id.filtered(lambda c: c.state == "failed").write({"state": "queued"})

    def action_cancel(self):
        self.filtered(lambda d: d.state in ("draft", "queued", "failed")).write(
            {"state": "cancelled"}
        )
        self.communication_id._update_state()

    # ------------------------------------------------------------------
    # Queue
    # ------------------------------------------------------------------

    @api.model
    def _process_queue(self, limit=None):
        """Send the queued deliveries that are due, in committed batches. Each delivery is
        locked and checked again right before it is sent, so two workers never send the
        same one."""
        now = fields.Datetime.now()
        self._recover_interrupted(now)
        domain = Domain("state", "=", "queued") & (
            Domain("next_attempt", "=", False) | Domain("next_attempt", "<=", now)
        )
        done = 0
        seen = set()
        while limit is None or done < limit:
            candidates = self.search(domain & Domain("id", "not in", list(seen)), limit=50, order="id")
            if not candidates:
                break
            seen.update(candidates.ids)
            processed = 0
            for delivery in candidates:
                # Sending an SMS or a WhatsApp message commits, which releases the
                # locks: each delivery is locked on its own when its turn comes.
                if delivery._lock_if_due(domain):
                    delivery._send_one(now)
                    processed += 1
            done += processed
            self.env["ir.cron"]._commit_progress(processed, remaining=self.search_count(domain))
        return done

    def _lock_if_due(self, domain):
        """Lock the delivery for this worker if it still matches ``domain``. Another
        worker may be sending it (locked), or have sent or postponed it since this
        transaction began (PostgreSQL then refuses the lock): it is left to that
        worker."""
        self.ensure_one()
        try:
            with mute_logger("odoo.sql_db"), self.env.cr.savepoint():
                if not self.try_lock_for_update():
                    return False
        except psycopg2.errors.SerializationFailure:
            return False
        self.invalidate_recordset()
        return bool(self.filtered_domain(domain))

    def _recover_interrupted(self, now):
        stuck = self.search(
            [("state", "=", "sending"), ("write_date", "<", now - SENDING_TIMEOUT)]
        ).try_lock_for_update()
        for delivery in stuck:
            delivery.write(
                {
                    "state": "failed",
                    "last_error": self.env._(
                        "Interrupted while sending: the provider may or may not have received "
                        "it. Check before sending it again."
                    ),
                }
            )
        stuck.communication_id._update_state()

    def _send_one(self, now):
        self.ensure_one()
        communication = self.communication_id
        postponed = self._postponed_until(now)
        if postponed:
            self.next_attempt = postponed
            return
        self.write({"state": "sending", "attempts": self.attempts + 1})
        if self.channel in ("email", "sms", "whatsapp"):
            # The provider is called outside this transaction's fate: commit "sending"
            # first, so a crash after the provider accepted never sends it twice.
            self.env["ir.cron"]._commit_progress(0)
        try:
            getattr(self, f"_send_{self.channel}")()
        except _DeliveryError as e:
            self._failed(str(e), now, retry=e.retryable, fallback=e.fallback)
        except Exception as e:  # noqa: BLE001 - any failure stays visible on the delivery
            _logger.exception("Collection reminder %s failed", self.id)
            self._failed(str(e), now, retry=True)
        else:
            if self.state == "sending":
                self._sent(now)
        communication._update_state()

    def _postponed_until(self, now):
        """When quiet hours, the rest day or the message cap hold this message back, the
        time it may go; False when it may go now. Activities are never held back."""
        if self.channel == "activity":
            return False
        company = self.communication_id.company_id
        tz = pytz.timezone(company.partner_id.tz or "UTC")
        local = pytz.utc.localize(now).astimezone(tz).replace(tzinfo=None)
        allowed = company._collection_next_allowed_time(local)
        if allowed != local:
            return tz.localize(allowed).astimezone(pytz.utc).replace(tzinfo=None)
        interval = company.collection_message_interval_days
        if interval > 0 and self.channel != "letter":
            last = self.search(
                [
                    ("partner_id", "=", self.partner_id.id),
                    ("company_id", "=", company.id),
                    ("state", "=", "sent"),
                    ("channel", "in", ("email", "sms", "whatsapp")),
                    ("communication_id", "!=", self.communication_id.id),
                    ("date_sent", ">", now - timedelta(days=interval)),
                ],
                order="date_sent desc",
                limit=1,
            )
            if last:
                return last.date_sent + timedelta(days=interval)
        return False

    def _failed(self, error, now, retry=True, fallback=False):
        values = {"last_error": error}
        if retry and self.attempts < MAX_ATTEMPTS:
            wait = BACKOFF_MINUTES[min(self.attempts, len(BACKOFF_MINUTES)) - 1]
            values.update(state="queued", next_attempt=now + timedelta(minutes=wait))
        else:
            values.update(state="failed", next_attempt=False)
        self.write(values)
        if self.state == "failed" and (fallback or self.channel == "whatsapp"):
            self._fallback(error)

    def _fallback(self, error):
        """WhatsApp could not reach the customer: send the SMS instead when the level
        says so."""
        communication = self.communication_id
        level = communication.level_id
        if self.channel != "whatsapp" or not level.whatsapp_fallback_sms:
            return
        if communication.delivery_ids.filtered(lambda d: d.channel == "sms"):
            return
        recipient, problem = communication._recipient("sms")
        if problem:
            return
        self.create(
            {
                "communication_id": communication.id,
                "channel": "sms",
                "recipient": recipient,
                "state": "queued",
            }
        )
        communication.note = "\n".join(
            filter(None, [communication.note, self.env._("WhatsApp failed (%(error)s): sent by SMS instead.", error=error)])
        )

    def _sent(self, now):
        self.write({"state": "sent", "date_sent": now, "next_attempt": False, "last_error": False})
        if self.channel == "activity":
            return
        communication = self.communication_id
        # sudo: the reminders are logged as evidence, whoever runs the queue.
        self.env["collection.invoice.dunning"].sudo()._set(
            "last_reminder_date", communication.move_ids.ids, [now.date()] * len(communication.move_ids)
        )
        self.env["collection.interaction"].sudo().create(
            {
                "partner_id": communication.partner_id.id,
                "company_id": communication.company_id.id,
                "user_id": False,
                "automatic": True,
                "channel": self.channel,
                "outcome": "sent",
                "date": now,
                "move_ids": [fields.Command.set(communication.move_ids.ids)],
                "overdue_amount": communication.overdue_amount,
                "days_overdue": communication.days_overdue,
                "note": self.env._(
                    "%(level)s, sent to %(recipient)s",
                    level=communication.level_id.display_name,
                    recipient=self.recipient or communication.partner_id.display_name,
                ),
            }
        )
        communication.partner_id.sudo().message_post(
            body=Markup("%s <a href='#' data-oe-model='collection.communication' data-oe-id='%s'>%s</a>")
            % (
                self.env._("Reminder sent by %(channel)s:", channel=communication._channel_label(self.channel)),
                communication.id,
                communication.name,
            ),
            message_type="comment",
            subtype_xmlid="mail.mt_note",
        )

    # ------------------------------------------------------------------
    # Providers
    # ------------------------------------------------------------------

    def _send_email(self):
        communication = self.communication_id
        level = communication.level_id
        if not self.mail_id:
            template = level.mail_template_id
            email_values = {"email_to": self.recipient, "recipient_ids": [], "auto_delete": False}
            if level.attach_invoices:
                attachments = communication._invoice_attachments()
                email_values["attachment_ids"] = [fields.Command.set(attachments.ids)]
            mail_id = template.sudo().send_mail(
                communication.id, force_send=False, email_values=email_values
            )
            self.mail_id = mail_id
        mail = self.mail_id.sudo()
        if mail.state in ("exception", "cancel"):
            mail.mark_outgoing()
        mail.send(raise_exception=False)
        if mail.state != "sent":
            raise _DeliveryError(mail.failure_reason or self.env._("The mail server did not accept it."), retryable=True)
        self.provider_ref = mail.message_id

    def _send_sms(self):
        communication = self.communication_id
        level = communication.level_id
        # The SMS leaves through the provider of the reminder's company (Odoo's SMS
        # service or its own Twilio account), whoever runs the queue.
        sms = self.sms_id.with_company(communication.company_id).sudo()
        if not sms:
            template = level.sms_template_id
            body = template._render_field("body", communication.ids, compute_lang=True)[communication.id]
            sms = sms.create(
                {
                    "number": self.recipient,
                    "body": html2plaintext(body) if "<" in (body or "") else body,
                    "partner_id": communication.partner_id.id,
                    "state": "outgoing",
                }
            )
            self.sms_id = sms
        elif sms.state == "error":
            sms.write({"state": "outgoing", "failure_type": False})
        sms._send(unlink_failed=False, unlink_sent=False, raise_exception=False)
        if sms.state not in ("sent", "pending"):
            failure = dict(sms._fields["failure_type"]._description_selection(self.env))
            raise _DeliveryError(
                self.env._(
                    "SMS not accepted: %(error)s",
                    error=failure.get(sms.failure_type) or sms.failure_type or sms.state,
                ),
                retryable=True,
            )
        self.provider_ref = sms.uuid

    def _send_whatsapp(self):
        communication = self.communication_id
        level = communication.level_id
        company = communication.company_id.sudo()
        values = communication._template_values()
        names = [name.strip() for name in (level.whatsapp_parameters or "").split(",") if name.strip()]
        language = level.whatsapp_language or (communication.partner_id.lang or "en_US")
        params = self.env["ir.config_parameter"].sudo()
        try:
            message_id = whatsapp.send_template(
                params.get_param("account_collection.whatsapp_api_url", whatsapp.DEFAULT_API_URL),
                company.collection_whatsapp_phone_number_id,
                company.collection_whatsapp_token,
                self.recipient,
                level.whatsapp_template_name,
                language,
                [values.get(name, "") for name in names],
                timeout=float(params.get_param("account_collection.whatsapp_timeout", whatsapp.TIMEOUT)),
            )
        except whatsapp.WhatsAppError as e:
            raise _DeliveryError(
                str(e), retryable=not e.recipient_error, fallback=e.recipient_error or not e.retryable
            ) from e
        self.provider_ref = message_id

    def _send_letter(self):
        communication = self.communication_id
        report = self.env.ref("account_collection.action_report_collection_letter")
        pdf, _ = self.env["ir.actions.report"].sudo()._render_qweb_pdf(report, communication.ids)
        attachment = self.env["ir.attachment"].sudo().create(
            {
                "name": self.env._("Dunning letter - %(name)s.pdf", name=communication.name),
                "raw": pdf,
                "res_model": communication._name,
                "res_id": communication.id,
                "mimetype": "application/pdf",
            }
        )
        communication.sudo().letter_attachment_id = attachment
        self.recipient = communication.partner_id.display_name

    def _send_activity(self):
        communication = self.communication_id
        level = communication.level_id
        partner = communication.partner_id.with_company(communication.company_id).sudo()
        if level.activity_responsible == "user":
            user = level.activity_user_id
        elif level.activity_responsible == "salesperson":
            user = communication.move_ids[:1].invoice_user_id or partner.user_id
        else:
            user = partner.collection_user_id
        user = user or communication.company_id.collection_default_user_id or self.env.ref("base.user_admin", raise_if_not_found=False)
        partner.activity_schedule(
            activity_type_id=(level.activity_type_id or self.env.ref("account_collection.mail_activity_type_collection_follow_up")).id,
            summary=level.activity_summary or level.name,
            note=communication.name,
            user_id=user.id,
            date_deadline=communication.date,
        )
        self.recipient = user.name


class _DeliveryError(Exception):
    def __init__(self, message, retryable=True, fallback=False):
        super().__init__(message)
        self.retryable = retryable
        self.fallback = fallback
