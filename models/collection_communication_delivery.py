import logging
import traceback
from datetime import timedelta
from urllib.parse import urlsplit

import psycopg2.errors
import pytz

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.fields import Domain
from odoo.tools import SQL, html2plaintext, mute_logger
from odoo.tools.pdf import merge_pdf

from ..tools import whatsapp
from .collection_communication import ENGINE, is_engine
from .collection_delivery_call import ProviderJournal
from .collection_level import MESSAGE_CHANNELS

_logger = logging.getLogger(__name__)

# Attempts of a delivery before it fails for good.
MAX_ATTEMPTS = 5
# Minutes to wait before the next attempt: 5 min, 30 min, 2 h, 8 h.
BACKOFF_MINUTES = [5, 30, 120, 480]
# Hosts a WhatsApp API address may reach over plain http (a local test server).
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
# Deliveries the queue sends in one transaction.
QUEUE_BATCH_SIZE = 50
# What ``mail.mail`` says of an address it finds invalid or missing: not tried again.
INVALID_ADDRESS_FAILURES = ("mail_email_invalid", "mail_email_missing")
# First key of the advisory locks by which a worker holds a customer while it sends
# one of its messages (the second is the customer's id).
CUSTOMER_LOCK_NAMESPACE = 0x0C011EC7


class _DeliveryError(Exception):
    """A provider did not take the message: ``retryable`` when a later attempt may
    succeed, ``fallback`` when another channel should be tried instead."""

    def __init__(self, message, retryable=True, fallback=False):
        super().__init__(message)
        self.retryable = retryable
        self.fallback = fallback


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
            ("to_print", "To Print"),
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
        string="Provider Reference",
        readonly=True,
        index="btree_not_null",
        help="Message id given by the provider.",
    )
    # The email or SMS rendered for the delivery: only those who read emails and SMS
    # (administrators) read which one it is; its name would come back with it.
    mail_id = fields.Many2one(
        "mail.mail", readonly=True, ondelete="set null", groups="base.group_system"
    )
    sms_id = fields.Many2one(
        "sms.sms", readonly=True, ondelete="set null", groups="base.group_system"
    )
    date_delivered = fields.Datetime(
        string="Delivered On", readonly=True, help="When the provider reported it delivered."
    )
    date_read = fields.Datetime(
        string="Read On", readonly=True, help="When the provider reported it read."
    )
    fallback_of_id = fields.Many2one(
        "collection.communication.delivery",
        string="Instead Of",
        readonly=True,
        ondelete="set null",
        help="The channel that could not deliver the reminder, which this one replaces.",
    )
    recipient_partner_ids = fields.Many2many(
        "res.partner",
        "collection_delivery_recipient_partner_rel",
        "delivery_id",
        "partner_id",
        string="Recipients",
        readonly=True,
        help="The contacts the message is addressed to: the customer's collection contact, "
        "else its invoice addresses, else the customer.",
    )
    cc_partner_ids = fields.Many2many(
        "res.partner",
        "collection_delivery_cc_partner_rel",
        "delivery_id",
        "partner_id",
        string="In Copy",
        readonly=True,
        help="The contacts in copy of an email: the customer and its other invoice addresses.",
    )
    email_cc = fields.Char(string="Copy To", readonly=True, help="The addresses in copy.")
    date_printed = fields.Datetime(
        string="Printed On", readonly=True, help="When the letter was last printed."
    )
    snailmail_available = fields.Boolean(
        compute="_compute_snailmail_available",
        help="Whether Odoo's Postal (snailmail) module is installed to post letters.",
    )

    # === CRUD === #

    @api.model_create_multi
    def create(self, vals_list):
        if not is_engine(self.env):
            raise UserError(self._collection_engine_only_message())
        return super().create(vals_list)

    def write(self, vals):
        if vals and not is_engine(self.env):
            raise UserError(self._collection_engine_only_message())
        return super().write(vals)

    def _collection_engine_only_message(self):
        return self.env._(
            "Deliveries are written by the reminders engine only: where a reminder goes, "
            "and whether it went, are not set by hand. Use the reminder's buttons (approve, "
            "skip, retry, cancel)."
        )

    def _engine_write(self, vals):
        """Write ``vals`` as the reminders' engine (see ENGINE), with the current user's
        access rights."""
        return self.with_context(collection_engine=ENGINE).write(vals)

    # === ACTIONS === #

    def action_retry(self):
        failed = self.filtered(lambda d: d.state == "failed")
        failed._set_queued(reset_attempts=True)
        failed.communication_id.filtered(lambda c: c.state == "failed")._engine_write(
            {"state": "queued"}
        )

    def action_cancel(self):
        self.filtered(
            lambda d: d.state in ("draft", "queued", "failed", "to_print")
        )._set_cancelled()
        self.communication_id._update_state()

    # === STATE TRANSITIONS === #
    # draft -> queued (approved) -> sending -> sent
    #                 queued <- sending (refused, retried later, up to MAX_ATTEMPTS)
    #                 failed <- sending (refused for good, or interrupted) -> queued (retry)
    # draft / queued / failed -> cancelled (skipped, taken off)
    # letters: sending -> to_print (rendered) -> sent (marked posted, or posted by snailmail)
    #                     to_print -> cancelled (skipped, settled before it was printed)

    def _set_queued(self, next_attempt=False, error=None, reset_attempts=False):
        """To send at ``next_attempt`` (False: as soon as the queue runs), keeping the
        provider's ``error`` of the last attempt when given; ``reset_attempts`` when a
        person asks to try again."""
        values = {"state": "queued", "next_attempt": next_attempt}
        if error is not None:
            values["last_error"] = error
        if reset_attempts:
            values["attempts"] = 0
        self._engine_write(values)

    def _set_postponed(self, until):
        """Still queued, held back until ``until`` (quiet hours, rest day, message
        cap): not an attempt."""
        self._engine_write({"next_attempt": until})

    def _set_sending(self):
        """The providers are about to be called: one more attempt each."""
        for attempts, deliveries in self.grouped("attempts").items():
            deliveries._engine_write({"state": "sending", "attempts": attempts + 1})

    def _set_sent(self, now):
        """The provider accepted the message at ``now``."""
        self._engine_write(
            {"state": "sent", "date_sent": now, "next_attempt": False, "last_error": False}
        )

    def _set_to_print(self):
        """A letter rendered: it waits to be printed and posted by a person."""
        self._engine_write({"state": "to_print", "next_attempt": False, "last_error": False})

    def _set_failed(self, error):
        """Given up, with the reason: a person checks it and retries or cancels it."""
        self._engine_write({"state": "failed", "next_attempt": False, "last_error": error})

    def _set_cancelled(self):
        """Not sent, and never will be."""
        self._engine_write({"state": "cancelled"})

    # === QUEUE === #

    @api.model
    def _process_queue(self, limit=None, company=None):
        """Send the queued deliveries that are due (of ``company`` when given), in
        batches of QUEUE_BATCH_SIZE, one transaction each (``_send_batch``). A batch is
        claimed with ``FOR NO KEY UPDATE SKIP LOCKED`` and its customers are held by
        this worker (``_lock_customers``), so two workers never send the same delivery
        nor write the same customer at once.

        The provider calls of a batch are journaled on a connection of their own
        (``collection.delivery.call``): what left before a batch's transaction was lost
        is recorded by ``_recover_journal``, at the start of the next run (or right
        away, when the batch failed with an error). A batch that fails is rolled back
        and its deliveries go one by one: the error is written on the one that raised
        it, which the next run tries again."""
        now = fields.Datetime.now()
        self._recover_journal(now)
        # sudo: the engine rereads the ledger for the reminders waiting for review.
        self.env["collection.communication"].sudo()._collection_refresh_drafts(now)
        domain = self._queue_domain(now, company)
        done = 0
        seen = []
        held = []
        while limit is None or done < limit:
            size = QUEUE_BATCH_SIZE if limit is None else min(QUEUE_BATCH_SIZE, limit - done)
            batch, busy = self._claim(domain, size, seen)
            if not batch and not busy:
                break
            seen += batch.ids + busy.ids
            held += busy.ids
            done += batch._send_claimed(now, domain)
        # Messages of customers another worker was busy with: tried once more, now
        # that it most likely moved on (else the next run sends them).
        if held and (limit is None or done < limit):
            domain &= Domain("id", "in", held)
            batch, _busy = self._claim(domain, len(held) if limit is None else limit - done, [])
            done += batch._send_claimed(now, domain)
        # sudo: the engine applies the WhatsApp statuses that came before their message.
        self.env["collection.whatsapp.status"].sudo()._collection_apply()
        return done

    @api.model
    def _queue_domain(self, now, company=None):
        domain = Domain("state", "=", "queued") & (
            Domain("next_attempt", "=", False) | Domain("next_attempt", "<=", now)
        )
        if company:
            domain &= Domain("company_id", "=", company.id)
        return domain

    @api.model
    def _claim(self, domain, size, seen):
        """Lock for this worker up to ``size`` deliveries matching ``domain`` (not in
        ``seen``) that no other worker holds, with their customers. Returns (the
        deliveries claimed, those left because another worker holds their customer)."""
        self.flush_model()
        query = self._search(domain & Domain("id", "not in", seen), order="id", limit=size)
        for _attempt in range(3):
            try:
                with mute_logger("odoo.sql_db"), self.env.cr.savepoint():
                    rows = self.env.execute_query(
                        SQL(
                            "%s FOR NO KEY UPDATE SKIP LOCKED",
                            query.select(
                                SQL.identifier(self._table, "id"),
                                SQL.identifier(self._table, "partner_id"),
                            ),
                        )
                    )
                break
            except psycopg2.errors.SerializationFailure:
                # Sent or postponed by another worker since this transaction began:
                # read again in a new one.
                self.env["ir.cron"]._commit_progress(0)
        else:
            return self.browse(), self.browse()
        held = self._lock_customers({partner_id for _id, partner_id in rows})
        batch = self.browse(i for i, partner_id in rows if partner_id in held)
        busy = self.browse(i for i, partner_id in rows if partner_id not in held)
        return batch, busy

    def _send_claimed(self, now, domain):
        """Send these deliveries, claimed by ``_claim``, in one transaction, and commit
        it before their customers are released. Returns how many were processed."""
        if not self:
            return 0
        Cron = self.env["ir.cron"]
        try:
            with ProviderJournal(self.env.cr.dbname) as journal:
                try:
                    self._send_batch(now, journal)
                    Cron._commit_progress(len(self))
                    journal.forget(self.ids)
                except Exception:  # the other deliveries still go
                    self.env.cr.rollback()
                    self.env.invalidate_all()
                    _logger.exception("Collection reminder deliveries %s failed", self.ids)
                    self._recover_journal(now, journal=journal, ids=self.ids, locked=True)
                    if len(self) > 1:
                        for delivery in self.with_context(collection_queue_one=True):
                            # Rolled back: the row is locked again, and still due.
                            if delivery.try_lock_for_update(allow_referencing=True).filtered_domain(
                                domain
                            ):
                                delivery._send_claimed(now, domain)
                    else:
                        self._write_unexpected_error(traceback.format_exc(limit=0).strip(), now)
                        Cron._commit_progress(0)
        finally:
            if not self.env.context.get("collection_queue_one"):
                self._release_customers(set(self.partner_id.ids))
        self.env.invalidate_all()
        return len(self)

    def _write_unexpected_error(self, error, now):
        """Keep ``error`` on the delivery after its work was rolled back. One still
        queued (never handed to its provider) counts the attempt: it is tried again
        after the backoff, and fails for a person to check after MAX_ATTEMPTS."""
        self.invalidate_recordset()
        if self.state != "queued":
            self._engine_write({"last_error": error})
            return
        self._engine_write({"attempts": self.attempts + 1})
        self._failed(error, now, retry=True)
        self.communication_id._update_state()

    @api.model
    def _lock_customers(self, partner_ids):
        """Hold these customers for this worker until ``_release_customers``, through
        the commits in between (session-level advisory locks, released by PostgreSQL
        if the worker dies): what sending a message writes besides the delivery (the
        reminder, its invoices' last reminder date, the interaction, the chatter) is
        the customer's, and two workers writing it at once would make one of them fail
        after its provider took the message. Returns the customers held; the others
        are held by another worker."""
        if not partner_ids:
            return set()
        rows = self.env.execute_query(
            SQL(
                "SELECT pid FROM unnest(%s::int[]) pid WHERE pg_try_advisory_lock(%s, pid)",
                sorted(partner_ids),
                CUSTOMER_LOCK_NAMESPACE,
            )
        )
        return {pid for (pid,) in rows}

    @api.model
    def _release_customers(self, partner_ids):
        if partner_ids:
            self.env.execute_query(
                SQL(
                    "SELECT pg_advisory_unlock(%s, pid) FROM unnest(%s::int[]) pid",
                    CUSTOMER_LOCK_NAMESPACE,
                    sorted(partner_ids),
                )
            )

    @api.model
    def _recover_journal(self, now, journal=None, ids=None, locked=False):
        """Record what became of the deliveries of a batch whose transaction was lost
        (a crash, a killed worker, an error), from the journal of provider calls
        (``collection.delivery.call``): a message the provider took is sent, with its
        trail; one whose answer never came is failed for a person to check; one never
        handed to its provider (no call, still queued or left "sending") goes with the
        next batch. A delivery whose worker still holds the customer is in progress,
        left to it (``locked``: this worker holds them; ``ids``: the deliveries to look
        at, default all)."""
        if journal is None:
            with ProviderJournal(self.env.cr.dbname) as own:
                return self._recover_journal(now, journal=own, ids=ids, locked=locked)
        calls = journal.rows()
        domain = Domain("state", "=", "sending")
        if ids is not None:
            calls = {i: call for i, call in calls.items() if i in ids}
            domain &= Domain("id", "in", ids)
        deliveries = self.browse(calls).exists() | self.search(domain)
        gone = set(calls) - set(deliveries.ids)
        partner_ids = set(deliveries.partner_id.ids)
        held = partner_ids if locked else self._lock_customers(partner_ids)
        try:
            deliveries = deliveries.filtered(lambda d: d.partner_id.id in held)
            try:
                with mute_logger("odoo.sql_db"), self.env.cr.savepoint():
                    deliveries = deliveries.try_lock_for_update(allow_referencing=True)
            except psycopg2.errors.SerializationFailure:
                return None  # written by another worker since: read again by the next run
            deliveries.invalidate_recordset()
            for delivery in deliveries:
                if delivery.state not in ("queued", "sending"):
                    continue  # what became of it was committed
                if delivery.id not in calls:
                    # Never handed to its provider: not an attempt.
                    delivery._set_queued(reset_attempts=False)
                    delivery._engine_write({"attempts": max(delivery.attempts - 1, 0)})
                    continue
                if delivery.state == "queued":
                    # The attempt was rolled back with its batch.
                    delivery._engine_write({"attempts": delivery.attempts + 1})
                state, ref = calls[delivery.id]
                if state == "accepted":
                    delivery._engine_write({"provider_ref": ref})
                    delivery._sent(now)
                else:
                    delivery._set_failed(self._interrupted_message())
            deliveries.communication_id._update_state()
            if deliveries or gone:
                self.env["ir.cron"]._commit_progress(0)
                journal.forget([i for i in calls if i in set(deliveries.ids) | gone])
        finally:
            if not locked:
                self._release_customers(held)
        return None

    def _interrupted_message(self):
        return self.env._(
            "Interrupted while sending: the provider may or may not have received "
            "it. Check before sending it again."
        )

    def _send_batch(self, now, journal):
        """Send these deliveries at ``now``, in this transaction, saying the truth: the
        ledger is read again for all of them at once
        (``collection.communication._collection_refresh``), so the invoices settled
        since are not claimed, the amounts are those of now, and nothing goes when
        nothing is left to claim. A message held back (quiet hours, rest days, the
        contact limit) past the last day it is true is dropped, not postponed. Each
        provider call is journaled first (``journal``); the emails of the batch are
        rendered together and leave over one connection to the mail server."""
        for lang, deliveries in self.grouped(lambda d: d.company_id._collection_lang()).items():
            (deliveries.with_context(lang=lang) if lang else deliveries)._send_batch_in_lang(
                now, journal
            )

    def _send_batch_in_lang(self, now, journal):
        communications = self.communication_id
        # sudo: the engine rereads the ledger and writes its facts, whoever runs the queue.
        last_days, changed = communications.sudo()._collection_refresh(now)
        # Rendered before the invoices or amounts changed: rendered again.
        changed.delivery_ids._discard_rendered()
        phones = self.filtered(lambda d: d.channel in ("sms", "whatsapp"))
        phone_blacklist = (
            self.env["collection.dunning"]._phone_blacklist(phones.communication_id)
            if phones
            else None
        )
        ready = self.browse()
        for delivery in self:
            if delivery.state == "queued" and delivery._ready_to_send(
                now, last_days, phone_blacklist
            ):
                ready |= delivery
        ready._set_sending()
        outcome = {}
        emails = ready.filtered(lambda d: d.channel == "email")
        if emails:
            outcome.update(emails._send_emails(journal))
        ready.filtered(lambda d: d.channel == "sms")._render_sms()
        for delivery in ready - emails:
            outcome[delivery] = delivery._send_journaled(journal)
        sent = self.browse()
        for delivery in ready:
            error = outcome.get(delivery)
            if error is not None:
                delivery._failed(str(error), now, retry=error.retryable, fallback=error.fallback)
            elif delivery.state == "sending":
                sent |= delivery
        sent._sent(now)
        whatsapp_sent = sent.filtered(lambda d: d.channel == "whatsapp")
        if whatsapp_sent:
            # A status WhatsApp reported before these ids were known applies now.
            self.env["collection.whatsapp.status"].sudo()._collection_apply(whatsapp_sent)
        communications._update_state()

    def _ready_to_send(self, now, last_days, phone_blacklist=None):
        """Whether this delivery goes now, its reminder's truth read at ``now``
        (``last_days`` of ``_collection_refresh``). A message held back is
        postponed; one no longer true, or that nobody of the customer may get any
        more, is cancelled with the reason."""
        self.ensure_one()
        communication = self.communication_id
        if communication.id not in last_days:
            return False  # nothing left to claim: cancelled with the reason
        postponed = self._postponed_until(now)
        last_day = last_days[communication.id]
        if last_day and self.channel != "activity":
            tz = self._collection_tz()
            if self._collection_local(postponed or now, tz).date() > last_day:
                self._drop_untrue(last_day)
                return False
        if postponed:
            self._set_postponed(postponed)
            return False
        problem = self._collection_update_recipients(phone_blacklist)
        if problem:
            # Nobody of the customer may get it any more (unsubscribed since): not sent.
            self._set_cancelled()
            self._engine_write({"last_error": problem})
            communication._update_state()
            return False
        return True

    def _send_journaled(self, journal):
        """Call this delivery's provider, the call journaled: None when it took the
        message, else the ``_DeliveryError``."""
        provider = self.channel in ("sms", "whatsapp")
        if provider:
            journal.calling(self.id)
        try:
            getattr(self, f"_send_{self.channel}")()
        except _DeliveryError as e:
            error = e
        except Exception as e:  # any failure stays visible on the delivery
            _logger.exception("Collection reminder %s failed", self.id)
            error = _DeliveryError(str(e), retryable=True)
        else:
            if provider:
                journal.accepted(self.id, self.provider_ref)
            return None
        if provider:
            journal.forget([self.id])
        return error

    def _send_one(self, now):
        """Send this delivery at ``now`` as the queue sends a batch (``_send_batch``),
        in the current transaction."""
        self.ensure_one()
        with ProviderJournal(self.env.cr.dbname) as journal:
            self._send_batch(now, journal)

    def _drop_untrue(self, last_day):
        """This message cannot go by ``last_day``, the last day it is true: not sent,
        with the reason; the reminder is cancelled with it when nothing else of it went
        or is to go."""
        communication = self.communication_id
        reason = communication._collection_untrue_reason(last_day)
        self._set_cancelled()
        self.last_error = reason
        others = communication.delivery_ids - self
        if others.filtered(lambda d: d.state in ("draft", "queued", "sending", "sent", "failed")):
            communication._update_state()
        else:
            communication.sudo()._collection_cancel(reason)

    def _discard_rendered(self):
        """Forget the email or SMS rendered for a delivery not sent yet, so that the
        next attempt renders the reminder as it is now."""
        for delivery in self.filtered(lambda d: d.state in ("queued", "failed")):
            mail = delivery.mail_id.sudo()
            if mail and mail.state not in ("sent", "received"):
                delivery.mail_id = False
                mail.unlink()
            sms = delivery.sms_id.sudo()
            if sms and sms.state not in ("sent", "pending"):
                delivery.sms_id = False
                sms.unlink()

    @api.model
    def _collection_tz_of(self, partner, company):
        """The customer's time zone, else the company's: the clock of the quiet hours
        and of the days a message speaks of."""
        if partner.tz and partner.tz in pytz.all_timezones_set:
            return pytz.timezone(partner.tz)
        return company._collection_tz()

    def _collection_tz(self):
        self.ensure_one()
        return self._collection_tz_of(self.communication_id.partner_id, self.company_id)

    @api.model
    def _collection_local(self, moment, tz):
        """``moment`` (naive UTC) on the clock of ``tz``, naive."""
        return pytz.utc.localize(moment).astimezone(tz).replace(tzinfo=None)

    def _postponed_until(self, now):
        """When quiet hours, a rest day or the message cap hold this message back, the
        time it may go; False when it may go now. Activities are never held back. The
        quiet hours are the customer's (its time zone, else the company's)."""
        if self.channel == "activity":
            return False
        company = self.communication_id.company_id
        tz = self._collection_tz()
        local = self._collection_local(now, tz)
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
        """The provider refused: queued again after the backoff while attempts remain
        and it may succeed, else failed (and WhatsApp falls back on SMS)."""
        if retry and self.attempts < MAX_ATTEMPTS:
            wait = BACKOFF_MINUTES[min(self.attempts, len(BACKOFF_MINUTES)) - 1]
            self._set_queued(now + timedelta(minutes=wait), error=error)
        else:
            self._set_failed(error)
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
        Dunning = self.env["collection.dunning"]
        recipients = Dunning._recipients(communication, "sms")
        if recipients["problem"]:
            return
        self.with_context(collection_engine=ENGINE).create(
            {
                "communication_id": communication.id,
                "channel": "sms",
                "state": "queued",
                **Dunning._recipient_values(recipients),
            }
        )
        note = self.env._("WhatsApp failed (%(error)s): sent by SMS instead.", error=error)
        communication._engine_write({"note": "\n".join(filter(None, [communication.note, note]))})

    def _sent(self, now):
        """Sent: recorded on the invoices, as an interaction and on the customer's
        chatter (activities are their own record), for all these deliveries at once."""
        self._set_sent(now)
        deliveries = self.filtered(lambda d: d.channel != "activity")
        if not deliveries:
            return
        # sudo: the reminders are logged as evidence, whoever runs the queue.
        States = self.env["collection.invoice.dunning"].sudo()
        Dunning = self.env["collection.dunning"]
        last_reminder = {}
        level_date = {}
        interactions = []
        notes = []
        for delivery in deliveries:
            communication = delivery.communication_id
            today = communication.company_id._collection_today(now)
            for move_id in communication.move_ids.ids:
                last_reminder[move_id] = today
            # The gap to the invoices' next level counts from the day the level's first
            # message left, not from the day the run created it.
            if not (communication.delivery_ids - deliveries).filtered(
                lambda d: d.channel != "activity" and d.state == "sent"
            ):
                for move in communication.sudo().move_ids:
                    if move.collection_level_id == communication.level_id:
                        level_date[move.id] = today
            label = delivery._recipient_label()
            interactions.append(
                {
                    "partner_id": communication.partner_id.id,
                    "company_id": communication.company_id.id,
                    "user_id": False,
                    "automatic": True,
                    "channel": delivery.channel,
                    "outcome": "sent",
                    "date": now,
                    "move_ids": [fields.Command.set(communication.move_ids.ids)],
                    "overdue_amount": communication.overdue_amount,
                    "days_overdue": communication.days_overdue,
                    "note": self.env._(
                        "%(level)s, sent to %(recipient)s",
                        level=communication.level_id.display_name,
                        recipient=label or communication.partner_id.display_name,
                    ),
                }
            )
            if delivery.channel == "letter":
                text = self.env._("Letter posted to %(recipient)s:", recipient=label)
            else:
                text = self.env._(
                    "Reminder sent by %(channel)s:",
                    channel=Dunning._channel_label(delivery.channel),
                )
            notes.append((communication, text))
        if last_reminder:
            States._set("last_reminder_date", list(last_reminder), list(last_reminder.values()))
        if level_date:
            States._set("level_date", list(level_date), list(level_date.values()))
        self.env["collection.interaction"].sudo().create(interactions)
        self.env["collection.communication"]._collection_notes_on_customers(notes)

    # === CHANNELS: SENDING === #

    def _send_emails(self, journal):
        """Render the emails of these deliveries not rendered yet (``_render_emails``)
        and send them in one ``mail.mail.send()``: one connection to the mail server,
        each email journaled as it is handed to it (see ``mail.mail``). Returns
        {delivery: None when the server took it, else the ``_DeliveryError``}; an
        address Odoo finds invalid is not tried again."""
        self._render_emails()
        mails = self.sudo().mail_id
        mails.filtered(lambda m: m.state in ("exception", "cancel")).mark_outgoing()
        pairs = tuple((d.sudo().mail_id.id, d.id) for d in self)
        mails.with_context(collection_journal=(journal, pairs)).send(raise_exception=False)
        outcome = {}
        for delivery in self:
            mail = delivery.sudo().mail_id
            if mail.state == "sent":
                delivery._engine_write({"provider_ref": mail.message_id})
                outcome[delivery] = None
                continue
            outcome[delivery] = _DeliveryError(
                mail.failure_reason or self.env._("The mail server did not accept it."),
                retryable=mail.failure_type not in INVALID_ADDRESS_FAILURES,
            )
        return outcome

    def _render_emails(self):
        """The ``mail.mail`` of each of these email deliveries that has none, rendered
        from its level's template, as many reminders at a time as share a template (an
        email edited by a collector, or with the invoices attached, on its own)."""
        todo = self.filtered(lambda d: not d.sudo().mail_id)
        alone = todo.filtered(
            lambda d: d.communication_id.edited_body or d.communication_id.level_id.attach_invoices
        )
        for delivery in alone:
            delivery._render_email()
        for template, deliveries in (
            (todo - alone).grouped(lambda d: d.communication_id.level_id.mail_template_id).items()
        ):
            # The template's body compiled once, not once per reminder (see ir.qweb).
            mails = (
                template.sudo()
                .with_context(collection_compile_once=True)
                .send_mail_batch(
                    deliveries.communication_id.ids,
                    email_values={"recipient_ids": [], "auto_delete": False},
                )
            )
            mail_of = {mail.res_id: mail for mail in mails}
            for delivery in deliveries:
                mail = mail_of[delivery.communication_id.id]
                mail.write({"email_to": delivery.recipient, "email_cc": delivery.email_cc or False})
                delivery._engine_write({"mail_id": mail.id})

    def _render_email(self):
        communication = self.communication_id
        level = communication.level_id
        template = level.mail_template_id
        email_values = {
            "email_to": self.recipient,
            "email_cc": self.email_cc or False,
            "recipient_ids": [],
            "auto_delete": False,
        }
        if communication.edited_body:
            # Edited by a collector before sending: that text goes.
            email_values["body_html"] = communication.edited_body
            if communication.edited_subject:
                email_values["subject"] = communication.edited_subject
        if level.attach_invoices:
            attachments = communication._invoice_attachments()
            email_values["attachment_ids"] = [fields.Command.set(attachments.ids)]
        mail_id = (
            template.sudo()
            .with_context(collection_compile_once=True)
            .send_mail(communication.id, force_send=False, email_values=email_values)
        )
        self._engine_write({"mail_id": mail_id})

    def _send_email(self):
        """One email alone, as ``_send_emails`` sends many (used outside the queue's
        batches)."""
        with ProviderJournal(self.env.cr.dbname) as journal:
            error = self._send_emails(journal)[self]
            journal.forget(self.ids)
        if error is not None:
            raise error

    def _render_sms(self):
        """The ``sms.sms`` of each of these SMS deliveries that has none, rendered from
        its level's template for as many reminders at a time as share a template, and
        created together with their trackers (one wake-up of Odoo's SMS queue)."""
        todo = self.filtered(lambda d: not d.sudo().sms_id)
        groups = todo.grouped(lambda d: (d.company_id, d.communication_id.level_id.sms_template_id))
        for (company, template), deliveries in groups.items():
            bodies = template._render_field(
                "body", deliveries.communication_id.ids, compute_lang=True
            )
            values = []
            for delivery in deliveries:
                body = bodies[delivery.communication_id.id]
                values.append(
                    {
                        "number": delivery.recipient,
                        "body": html2plaintext(body) if "<" in (body or "") else body,
                        "partner_id": delivery.communication_id.partner_id.id,
                        "state": "outgoing",
                    }
                )
            # sudo: the engine writes the SMS of the reminders, whoever runs the queue.
            messages = self.env["sms.sms"].with_company(company).sudo().create(values)
            for delivery, sms in zip(deliveries, messages, strict=True):
                delivery._engine_write({"sms_id": sms.id})
            # The provider's delivery reports reach the SMS's tracker, which tells the
            # delivery (see sms.tracker).
            self.env["sms.tracker"].sudo().create([{"sms_uuid": sms.uuid} for sms in messages])

    def _send_sms(self):
        communication = self.communication_id
        level = communication.level_id
        # The SMS leaves through the provider of the reminder's company (Odoo's SMS
        # service or its own Twilio account), whoever runs the queue.
        sms = self.sms_id.with_company(communication.company_id).sudo()
        if not sms:
            template = level.sms_template_id
            body = template._render_field("body", communication.ids, compute_lang=True)[
                communication.id
            ]
            sms = sms.create(
                {
                    "number": self.recipient,
                    "body": html2plaintext(body) if "<" in (body or "") else body,
                    "partner_id": communication.partner_id.id,
                    "state": "outgoing",
                }
            )
            self._engine_write({"sms_id": sms.id})
            # The provider's delivery reports reach the SMS's tracker, which tells the
            # delivery (see sms.tracker).
            self.env["sms.tracker"].sudo().create({"sms_uuid": sms.uuid})
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
        self._engine_write({"provider_ref": sms.uuid})

    def _send_whatsapp(self):
        communication = self.communication_id
        level = communication.level_id
        company = communication.company_id.sudo()
        values = communication._template_values()
        names = [
            name.strip() for name in (level.whatsapp_parameters or "").split(",") if name.strip()
        ]
        language = level.whatsapp_language or (communication.partner_id.lang or "en_US")
        params = self.env["ir.config_parameter"].sudo()
        api_url = params.get_param("account_collection.whatsapp_api_url", whatsapp.DEFAULT_API_URL)
        url = urlsplit(api_url or whatsapp.DEFAULT_API_URL)
        if url.scheme != "https" and url.hostname not in LOCAL_HOSTS:
            # The access token goes in the request's headers: never in clear.
            raise _DeliveryError(
                self.env._(
                    "The WhatsApp API address must start with https:// (System Parameter "
                    "account_collection.whatsapp_api_url): %(url)s",
                    url=api_url,
                ),
                retryable=False,
                fallback=True,
            )
        try:
            message_id = whatsapp.send_template(
                api_url,
                company.collection_whatsapp_phone_number_id,
                company.collection_whatsapp_token,
                self.recipient,
                level.whatsapp_template_name,
                language,
                [values.get(name, "") for name in names],
                timeout=float(
                    params.get_param("account_collection.whatsapp_timeout", whatsapp.TIMEOUT)
                ),
            )
        except whatsapp.WhatsAppError as e:
            raise _DeliveryError(
                str(e),
                retryable=not e.recipient_error,
                fallback=e.recipient_error or not e.retryable,
            ) from e
        self._engine_write({"provider_ref": message_id})

    def _send_letter(self):
        """Render the letter: it waits to be printed and posted (``to_print``), it is
        sent once a person marks it posted."""
        self.communication_id._collection_render_letter()
        if not self.recipient:
            self._engine_write({"recipient": self.communication_id.partner_id.display_name})
        self._set_to_print()

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
        user = (
            user
            or communication.company_id.collection_default_user_id
            or self.env.ref("base.user_admin", raise_if_not_found=False)
        )
        partner.activity_schedule(
            activity_type_id=(
                level.activity_type_id
                or self.env.ref("account_collection.mail_activity_type_collection_follow_up")
            ).id,
            summary=level.activity_summary or level.name,
            note=communication.name,
            user_id=user.id,
            date_deadline=communication.date,
        )
        self._engine_write({"recipient": user.name})

    # === RECEIPTS === #
    # What a provider reports after it took a message, in any order and any number of
    # times: sent -> delivered -> read, or sent -> failed. A receipt never moves a
    # delivery backwards: read implies delivered, and a failure reported after the
    # message was delivered, or a second time, changes nothing.

    def _set_delivered(self, moment):
        """The provider reported the message delivered at ``moment``."""
        self._engine_write({"date_delivered": moment})

    def _set_read(self, moment):
        """The customer read the message at ``moment`` (delivered by then at the latest)."""
        values = {"date_read": moment}
        if not self.date_delivered or self.date_delivered > moment:
            values["date_delivered"] = moment
        self._engine_write(values)

    def _collection_receipt(self, status, moment, error=None):
        """Apply a provider's report on these deliveries: ``status`` is ``sent``,
        ``delivered``, ``read`` or ``failed`` (with ``error``), reported at ``moment``
        (naive UTC). Only a sent delivery takes a receipt; earlier moments win, so a
        repeated or late report changes nothing."""
        for delivery in self.filtered(lambda d: d.state == "sent"):
            if status == "delivered":
                if not delivery.date_delivered or delivery.date_delivered > moment:
                    delivery._set_delivered(moment)
            elif status == "read":
                if not delivery.date_read or delivery.date_read > moment:
                    delivery._set_read(moment)
            elif status == "failed":
                if delivery.date_delivered or delivery.date_read:
                    _logger.info(
                        "Collection delivery %s: failure reported after delivery ignored (%s)",
                        delivery.id,
                        error,
                    )
                    continue
                delivery._collection_undelivered(error)

    def _collection_undelivered(self, error):
        """The provider took the message, then could not deliver it: the delivery
        fails with the reason, the customer's chatter says so, and the reminder falls
        back on another channel (WhatsApp on the SMS when the level says so; an email
        or an SMS on the next channel that reaches the customer, when nothing else of
        the reminder reached it)."""
        self.ensure_one()
        self._set_failed(error)
        communication = self.communication_id
        channel = self.env["collection.dunning"]._channel_label(self.channel)
        communication._collection_note_on_customer(
            self.env._(
                "Reminder by %(channel)s not delivered (%(error)s):", channel=channel, error=error
            )
        )
        if self.channel == "whatsapp":
            self._fallback(error)
        else:
            self._fallback_next_channel(error)
        state = communication._state_from_deliveries()
        if state != communication.state:
            communication._engine_write({"state": state})

    def _fallback_next_channel(self, error):
        """An email or SMS could not be delivered: when no other channel of the reminder
        reached the customer or is to go, the next channel (in the order of the run's
        own fallback) that is set up on the level and reaches the customer goes instead."""
        communication = self.communication_id
        others = communication.delivery_ids - self
        if others.filtered(
            lambda d: (
                d.channel != "activity"
                and d.state in ("draft", "queued", "sending", "to_print", "sent")
            )
        ):
            return
        Dunning = self.env["collection.dunning"]
        tried = set(communication.delivery_ids.mapped("channel"))
        for channel in MESSAGE_CHANNELS:
            if channel in tried or not Dunning._channel_configured(communication, channel):
                continue
            recipients = Dunning._recipients(communication, channel)
            if recipients["problem"]:
                continue
            self.with_context(collection_engine=ENGINE).create(
                {
                    "communication_id": communication.id,
                    "channel": channel,
                    "state": "queued",
                    "fallback_of_id": self.id,
                    **Dunning._recipient_values(recipients),
                }
            )
            note = self.env._(
                "%(failed)s not delivered (%(error)s): sent by %(channel)s instead.",
                failed=Dunning._channel_label(self.channel),
                error=error,
                channel=Dunning._channel_label(channel),
            )
            communication._engine_write(
                {"note": "\n".join(filter(None, [communication.note, note]))}
            )
            return

    @api.model
    def _collection_whatsapp_statuses(self, company, statuses):
        """Apply the ``statuses`` of a Cloud API webhook call for ``company``
        (``{"id": wamid, "status": "sent" | "delivered" | "read" | "failed",
        "timestamp": ..., "errors": [{"code", "title", "error_data": {"details"}}]}``)
        to the WhatsApp deliveries they name. A status naming no delivery is kept
        (``collection.whatsapp.status``): its message may not be committed yet."""
        statuses = [s for s in statuses if isinstance(s, dict) and s.get("id")]
        lang = company._collection_lang()
        if lang and self.env.lang != lang:
            # The notes of what became of a reminder are in the company's language.
            return self.with_context(lang=lang)._collection_whatsapp_statuses(company, statuses)
        deliveries = self.search(
            [
                ("channel", "=", "whatsapp"),
                ("company_id", "=", company.id),
                ("provider_ref", "in", [s["id"] for s in statuses]),
            ]
        ).grouped("provider_ref")
        unknown = [
            s
            for s in statuses
            if s["id"] not in deliveries
            and s.get("status") in ("sent", "delivered", "read", "failed")
        ]
        if unknown:
            # sudo: the webhook keeps what it cannot apply yet, whoever calls it.
            self.env["collection.whatsapp.status"].sudo()._collection_keep(company, unknown)
        for status in statuses:
            delivery = deliveries.get(status["id"])
            kind = status.get("status")
            if not delivery or kind not in ("sent", "delivered", "read", "failed"):
                continue
            error = self._whatsapp_error_text(status.get("errors")) if kind == "failed" else None
            delivery._collection_receipt(
                kind, whatsapp.event_moment(status.get("timestamp")), error
            )

    @api.model
    def _whatsapp_error_text(self, errors):
        """The reason of a failed status: each error's code, title and details."""
        texts = []
        for error in errors or [{}]:
            details = (error.get("error_data") or {}).get("details")
            title = error.get("title") or error.get("message") or ""
            texts.append(
                self.env._(
                    "WhatsApp error %(code)s: %(title)s",
                    code=error.get("code") or "?",
                    title=f"{title} ({details})" if details and details != title else title,
                )
            )
        return "; ".join(texts)

    # === NAMES === #

    @api.depends("communication_id", "channel")
    @api.depends_context("lang")
    def _compute_display_name(self):
        """The reminder and the channel, in the reader's language."""
        channels = dict(self._fields["channel"]._description_selection(self.env))
        for delivery in self:
            delivery.display_name = self.env._(
                "%(reminder)s, by %(channel)s",
                reminder=delivery.communication_id.display_name or "",
                channel=channels.get(delivery.channel, ""),
            )

    # === RECIPIENTS === #

    def _compute_snailmail_available(self):
        self.snailmail_available = "snailmail.letter" in self.env

    def _recipient_label(self):
        """Who the delivery goes to, in words: the contacts with the address used (the
        postal address of a letter), then the addresses in copy."""
        self.ensure_one()
        names = ", ".join(self.recipient_partner_ids.mapped("display_name"))
        if self.channel == "letter":
            contact = self.recipient_partner_ids[:1]
            lines = contact._display_address(without_company=True).splitlines() if contact else []
            address = ", ".join(" ".join(line.split()) for line in lines if line.strip())
            address = address or self.recipient
        else:
            address = self.recipient
        label = f"{names} ({address})" if names and address else (names or address or "")
        if self.email_cc:
            label = self.env._(
                "%(recipients)s; copy: %(copy)s", recipients=label, copy=self.email_cc
            )
        return label

    def _collection_update_recipients(self, phone_blacklist=None):
        """Who the message goes to, read again just before it leaves: a collection
        contact set, an address changed or an opt-out since the run are followed (the
        message rendered for the former recipients is rendered again). Returns why
        nobody can get it any more, or False. ``phone_blacklist``: see
        ``collection.dunning._recipients``."""
        self.ensure_one()
        if self.channel not in ("email", "sms", "whatsapp"):
            return False
        Dunning = self.env["collection.dunning"]
        recipients = Dunning._recipients(
            self.communication_id, self.channel, phone_blacklist=phone_blacklist
        )
        if recipients["problem"]:
            return recipients["problem"]
        if (
            self.recipient != recipients["recipient"]
            or self.recipient_partner_ids != recipients["to"]
            or self.cc_partner_ids != recipients["cc"]
            or (self.email_cc or False) != recipients["email_cc"]
        ):
            self._discard_rendered()
            self._engine_write(Dunning._recipient_values(recipients))
        return False

    # === LETTERS: PRINTED, THEN POSTED === #

    def _collection_check_letters(self):
        """Raise unless these are letters waiting to be printed and posted."""
        if not self or any(d.channel != "letter" or d.state != "to_print" for d in self):
            raise UserError(
                self.env._(
                    "Only letters to print can be printed, posted or marked posted: the "
                    "other reminders are sent by the queue, and a letter marked posted is "
                    "sent already."
                )
            )
        self.check_access("write")

    def _collection_letters_still_due(self, now):
        """The letters of ``self`` that still have something to claim at ``now``: the
        ledger is read again, a letter whose invoices were all settled since is cancelled
        with the reason, one whose invoices or amounts changed is rendered again."""
        # sudo: the engine rereads the ledger and writes its facts on letters the user
        # may post (checked by the caller).
        fresh, changed = self.communication_id.sudo()._collection_refresh(now)
        letters = self.filtered(lambda d: d.communication_id.id in fresh and d.state == "to_print")
        for communication in letters.communication_id:
            if communication in changed or not communication.letter_attachment_id:
                communication._collection_render_letter()
        return letters

    def _collection_nothing_left_notification(self):
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "warning",
                "message": self.env._(
                    "Nothing to print: the invoices of these letters were settled since "
                    "(%(reasons)s).",
                    reasons=", ".join(filter(None, set(self.mapped("last_error")))),
                ),
                "next": {"type": "ir.actions.client", "tag": "soft_reload"},
            },
        }

    def action_print_letters(self):
        """Print these letters in one PDF, to post them; they stay to print until they
        are marked posted. Said true when printed: a letter settled since is not
        printed (see ``_collection_letters_still_due``)."""
        self._collection_check_letters()
        now = fields.Datetime.now()
        letters = self._collection_letters_still_due(now)
        if not letters:
            return self._collection_nothing_left_notification()
        # Each letter's own PDF, merged in the order of the list.
        pdf = merge_pdf(
            [letter.communication_id.sudo().letter_attachment_id.raw for letter in letters]
        )
        attachment = self.env["ir.attachment"].create(
            {
                "name": self.env._(
                    "Dunning letters %(date)s.pdf",
                    date=fields.Date.to_string(fields.Date.context_today(self)),
                ),
                "raw": pdf,
                "mimetype": "application/pdf",
            }
        )
        letters._engine_write({"date_printed": now})
        return {
            "type": "ir.actions.act_url",
            "url": f"/web/content/{attachment.id}?download=true",
            "target": "download",
        }

    def action_mark_posted(self):
        """The letters were put in the post: sent now, logged on the invoices, as an
        interaction and on the customer's chatter."""
        self._collection_check_letters()
        now = fields.Datetime.now()
        for letter in self:
            letter._sent(now)
        self.communication_id._update_state()

    def action_send_by_post(self):
        """Post these letters through Odoo's Postal service (module snailmail), when it
        is installed: each one posted is sent; one it refuses stays to print, with the
        reason."""
        self._collection_check_letters()
        if "snailmail.letter" not in self.env:
            raise UserError(
                self.env._(
                    "Sending letters by post needs Odoo's Postal module (snailmail): install "
                    "it from Apps, or print the letters and mark them posted."
                )
            )
        now = fields.Datetime.now()
        letters = self._collection_letters_still_due(now)
        if not letters:
            return self._collection_nothing_left_notification()
        report = self.env.ref("account_collection.action_report_collection_letter")
        for letter in letters:
            communication = letter.communication_id
            # sudo: the user may post this letter (checked above); the postal letter is
            # the engine's record of it.
            post = (
                self.env["snailmail.letter"]
                .sudo()
                .create(
                    {
                        "model": communication._name,
                        "res_id": communication.id,
                        "partner_id": (
                            letter.recipient_partner_ids[:1] or communication.partner_id
                        ).id,
                        "company_id": communication.company_id.id,
                        "report_template": report.id,
                        "user_id": self.env.uid,
                    }
                )
            )
            post._snailmail_print()
            if post.state == "sent":
                letter._engine_write({"provider_ref": f"snailmail.letter,{post.id}"})
                letter._sent(now)
                continue
            error = html2plaintext(post.info_msg or "") or post.error_code
            # Not retried by snailmail behind the user's back: printed by hand instead,
            # or sent by post again.
            post.cancel()
            letter._engine_write({"last_error": self.env._("Not posted: %(error)s", error=error)})
        letters.communication_id._update_state()
        return True
