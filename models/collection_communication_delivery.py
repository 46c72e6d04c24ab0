import logging
from datetime import timedelta
from urllib.parse import urlsplit

import psycopg2.errors
import pytz

from odoo import api, fields, models
from odoo.exceptions import UserError
from odoo.fields import Domain
from odoo.tools import html2plaintext, mute_logger
from odoo.tools.pdf import merge_pdf

from ..tools import whatsapp
from .collection_communication import ENGINE, is_engine
from .collection_level import MESSAGE_CHANNELS

_logger = logging.getLogger(__name__)

# Attempts of a delivery before it fails for good.
MAX_ATTEMPTS = 5
# Minutes to wait before the next attempt: 5 min, 30 min, 2 h, 8 h.
BACKOFF_MINUTES = [5, 30, 120, 480]
# A delivery left "sending" longer than this was interrupted (a crash, a killed worker):
# whether the provider got it is unknown, so it is not sent again by itself.
SENDING_TIMEOUT = timedelta(minutes=15)
# Hosts a WhatsApp API address may reach over plain http (a local test server).
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
# Deliveries the queue reads at a time (each is then locked on its own).
QUEUE_BATCH_SIZE = 50
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


class _CustomerBusy(Exception):
    """Another worker is sending a message of the same customer."""


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
        """The provider is about to be called: one more attempt."""
        self.ensure_one()
        self._engine_write({"state": "sending", "attempts": self.attempts + 1})

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
        committed batches. Each delivery is locked and checked again right before it is
        sent, so two workers never send the same one.

        A delivery that fails is dealt with alone and the rest goes on: a provider's
        refusal is retried later or failed on the delivery (``_send_one``); any other
        error rolls back that delivery's work to the last commit, is logged and written
        on the delivery, which the next run tries again."""
        now = fields.Datetime.now()
        self._recover_interrupted(now)
        # sudo: the engine rereads the ledger for the reminders waiting for review.
        self.env["collection.communication"].sudo()._collection_refresh_drafts(now)
        domain = Domain("state", "=", "queued") & (
            Domain("next_attempt", "=", False) | Domain("next_attempt", "<=", now)
        )
        if company:
            domain &= Domain("company_id", "=", company.id)
        Cron = self.env["ir.cron"]
        done = 0
        seen = set()
        held = []
        while limit is None or done < limit:
            candidates = self.search(
                domain & Domain("id", "not in", list(seen)), limit=QUEUE_BATCH_SIZE, order="id"
            )
            if not candidates:
                break
            seen.update(candidates.ids)
            processed = 0
            for delivery in candidates:
                # Sending a message commits, which releases the row locks: each
                # delivery is locked on its own when its turn comes.
                locked = delivery._lock_if_due(domain)
                if locked is None:
                    held.append(delivery.id)
                if not locked:
                    continue
                delivery._send_locked(now)
                processed += 1
            done += processed
            Cron._commit_progress(processed, remaining=self.search_count(domain))
        # Messages of customers another worker was busy with: tried once more, now
        # that it most likely moved on (else the next run sends them).
        for delivery in self.browse(held):
            if limit is not None and done >= limit:
                break
            if delivery._lock_if_due(domain):
                delivery._send_locked(now)
                done += 1
        # sudo: the engine applies the WhatsApp statuses that came before their message.
        self.env["collection.whatsapp.status"].sudo()._collection_apply()
        return done

    def _send_locked(self, now):
        """Send this delivery, locked by ``_lock_if_due``, and commit what became of
        it before the customer is released."""
        Cron = self.env["ir.cron"]
        try:
            try:
                lang = self.company_id._collection_lang()
                (self.with_context(lang=lang) if lang else self)._send_one(now)
                Cron._commit_progress(0)
            except Exception as e:  # the other deliveries still go
                self.env.cr.rollback()
                _logger.exception("Collection reminder delivery %s failed", self.id)
                self._write_unexpected_error(str(e))
                Cron._commit_progress(0)
        finally:
            self._release_customer()

    def _write_unexpected_error(self, error):
        """Keep ``error`` on the delivery after its work was rolled back. One left
        "sending" (the provider may have taken it) stays so, for ``_recover_interrupted``
        to fail it: it is never sent twice."""
        self.invalidate_recordset()
        if self.state != "sending":
            self._engine_write({"last_error": error})

    def _lock_if_due(self, domain):
        """Lock the delivery for this worker if it still matches ``domain``, and its
        customer with it (``_lock_customer``). Another worker may be sending it
        (locked), or have sent or postponed it since this transaction began
        (PostgreSQL then refuses the lock): it is left to that worker, False. None
        when another worker is busy with a message of the same customer."""
        self.ensure_one()
        try:
            with mute_logger("odoo.sql_db"), self.env.cr.savepoint():
                if not self.try_lock_for_update():
                    return False
                self.invalidate_recordset()
                if not self.filtered_domain(domain):
                    return False
                if not self._lock_customer():
                    # Rolled back to the savepoint: the delivery is not held either,
                    # the worker busy with the customer may take it.
                    raise _CustomerBusy
        except psycopg2.errors.SerializationFailure:
            return False
        except _CustomerBusy:
            self.invalidate_recordset()
            return None
        return True

    def _customer_lock_key(self):
        return (CUSTOMER_LOCK_NAMESPACE, self.partner_id.id)

    def _lock_customer(self):
        """Hold the customer of this delivery for this worker until
        ``_release_customer``, through the commits in between (a session-level
        advisory lock, released by PostgreSQL if the worker dies): what sending a
        message writes besides the delivery (the reminder, its invoices' last
        reminder date, the interaction, the chatter) is the customer's, and two
        workers writing it at once would make one of them fail after its provider
        took the message. False when another worker holds it."""
        self.env.cr.execute("SELECT pg_try_advisory_lock(%s, %s)", self._customer_lock_key())
        return self.env.cr.fetchone()[0]

    def _release_customer(self):
        self.env.cr.execute("SELECT pg_advisory_unlock(%s, %s)", self._customer_lock_key())

    def _recover_interrupted(self, now):
        """Fail the deliveries left "sending" longer than SENDING_TIMEOUT."""
        stuck = self.search(
            [("state", "=", "sending"), ("write_date", "<", now - SENDING_TIMEOUT)]
        ).try_lock_for_update()
        stuck._set_failed(
            self.env._(
                "Interrupted while sending: the provider may or may not have received "
                "it. Check before sending it again."
            )
        )
        stuck.communication_id._update_state()

    def _send_one(self, now):
        """Send this delivery at ``now``, saying the truth: the ledger is read again
        first (``collection.communication._collection_refresh``), so the invoices
        settled since are not claimed, the amounts are those of now, and nothing goes
        when nothing is left to claim. A message held back (quiet hours, rest days, the
        contact limit) past the last day it is true is dropped, not postponed."""
        self.ensure_one()
        communication = self.communication_id
        # sudo: the engine rereads the ledger and writes its facts, whoever runs the queue.
        last_days, changed = communication.sudo()._collection_refresh(now)
        if communication.id not in last_days:
            return  # nothing left to claim: cancelled with the reason
        if changed:
            # Rendered before the invoices or amounts changed: rendered again.
            communication.delivery_ids._discard_rendered()
        postponed = self._postponed_until(now)
        last_day = last_days[communication.id]
        if last_day and self.channel != "activity":
            tz = self._collection_tz()
            if self._collection_local(postponed or now, tz).date() > last_day:
                self._drop_untrue(last_day)
                return
        if postponed:
            self._set_postponed(postponed)
            return
        problem = self._collection_update_recipients()
        if problem:
            # Nobody of the customer may get it any more (unsubscribed since): not sent.
            self._set_cancelled()
            self._engine_write({"last_error": problem})
            communication._update_state()
            return
        self._set_sending()
        if self.channel in ("email", "sms", "whatsapp"):
            # The provider is called outside this transaction's fate: commit "sending"
            # first, so a crash after the provider accepted never sends it twice.
            self.env["ir.cron"]._commit_progress(0)
        try:
            getattr(self, f"_send_{self.channel}")()
        except _DeliveryError as e:
            self._failed(str(e), now, retry=e.retryable, fallback=e.fallback)
        except Exception as e:  # any failure stays visible on the delivery
            _logger.exception("Collection reminder %s failed", self.id)
            self._failed(str(e), now, retry=True)
        else:
            if self.state == "sending":
                self._sent(now)
                if self.channel == "whatsapp":
                    # A status WhatsApp reported before this id was known applies now.
                    self.env["collection.whatsapp.status"].sudo()._collection_apply(self)
        communication._update_state()

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
        chatter (activities are their own record)."""
        self._set_sent(now)
        if self.channel == "activity":
            return
        communication = self.communication_id
        today = communication.company_id._collection_today(now)
        # sudo: the reminders are logged as evidence, whoever runs the queue.
        States = self.env["collection.invoice.dunning"].sudo()
        States._set(
            "last_reminder_date", communication.move_ids.ids, [today] * len(communication.move_ids)
        )
        # The gap to the invoices' next level counts from the day the level's first
        # message left, not from the day the run created it.
        if not (communication.delivery_ids - self).filtered(
            lambda d: d.channel != "activity" and d.state == "sent"
        ):
            moves = communication.sudo().move_ids.filtered(
                lambda m: m.collection_level_id == communication.level_id
            )
            States._set("level_date", moves.ids, [today] * len(moves))
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
                    recipient=self._recipient_label() or communication.partner_id.display_name,
                ),
            }
        )
        if self.channel == "letter":
            communication._collection_note_on_customer(
                self.env._("Letter posted to %(recipient)s:", recipient=self._recipient_label())
            )
            return
        channel = self.env["collection.dunning"]._channel_label(self.channel)
        communication._collection_note_on_customer(
            self.env._("Reminder sent by %(channel)s:", channel=channel)
        )

    # === CHANNELS: SENDING === #

    def _send_email(self):
        communication = self.communication_id
        level = communication.level_id
        if not self.mail_id:
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
            mail_id = template.sudo().send_mail(
                communication.id, force_send=False, email_values=email_values
            )
            self._engine_write({"mail_id": mail_id})
        mail = self.mail_id.sudo()
        if mail.state in ("exception", "cancel"):
            mail.mark_outgoing()
        mail.send(raise_exception=False)
        if mail.state != "sent":
            raise _DeliveryError(
                mail.failure_reason or self.env._("The mail server did not accept it."),
                retryable=True,
            )
        self._engine_write({"provider_ref": mail.message_id})

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

    def _collection_update_recipients(self):
        """Who the message goes to, read again just before it leaves: a collection
        contact set, an address changed or an opt-out since the run are followed (the
        message rendered for the former recipients is rendered again). Returns why
        nobody can get it any more, or False."""
        self.ensure_one()
        if self.channel not in ("email", "sms", "whatsapp"):
            return False
        Dunning = self.env["collection.dunning"]
        recipients = Dunning._recipients(self.communication_id, self.channel)
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
