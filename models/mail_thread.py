import logging

from odoo import api, fields, models, tools
from odoo.fields import Domain
from odoo.tools import html2plaintext

_logger = logging.getLogger(__name__)

# Characters of a bounce's text kept as the reason of a failed delivery.
BOUNCE_REASON_LENGTH = 300


class MailThread(models.AbstractModel):
    _inherit = "mail.thread"

    @api.model
    def _routing_handle_bounce(self, email_message, message_dict):
        """A reminder email bounced for good: its delivery fails with the mail server's
        reason and the reminder falls back on another channel. Odoo itself counts the
        bounce on the customer (``message_bounce``). A delay notice (the server keeps
        trying) changes nothing."""
        super()._routing_handle_bounce(email_message, message_dict)
        bounced_msg_ids = message_dict.get("bounced_msg_ids") or []
        bounced_message = message_dict.get("bounced_message")
        if not bounced_msg_ids and not bounced_message:
            return
        dsn = self._collection_bounce_dsn(email_message)
        action = (dsn.get("Action") or "").strip().lower()
        status = (dsn.get("Status") or "").strip()
        if action == "delayed" or status.startswith("4"):
            _logger.info("Reminder email delayed, not bounced: %s", status or action)
            return
        reason = (dsn.get("Diagnostic-Code") or "").strip() or html2plaintext(
            message_dict.get("body") or ""
        ).strip()
        reason = " ".join(reason.split())[:BOUNCE_REASON_LENGTH]
        # sudo: a bounce is a fact the engine records on the reminder it belongs to,
        # whoever (the mail gateway) receives it.
        Delivery = self.env["collection.communication.delivery"].sudo()
        sent = Domain("provider_ref", "in", bounced_msg_ids)
        if bounced_message:
            sent |= Domain("mail_id.mail_message_id", "=", bounced_message.id)
        Delivery.search(Domain("channel", "=", "email") & sent)._collection_receipt(
            "failed",
            fields.Datetime.now(),
            self.env._("Email bounced: %(reason)s", reason=reason or status or "?"),
        )

    @api.model
    def _collection_bounce_dsn(self, email_message):
        """The per-recipient fields of a delivery status notification (RFC 3464:
        ``Action``, ``Status``, ``Diagnostic-Code``), empty when the bounce has none."""
        part = next(
            (p for p in email_message.walk() if p.get_content_type() == "message/delivery-status"),
            None,
        )
        payload = part.get_payload() if part else None
        if not isinstance(payload, list) or len(payload) < 2:
            return {}
        return payload[1]

    @api.model
    def _message_route_process(self, message, message_dict, routes):
        """A reply to a reminder email is the customer's reply, not a message to the
        reminder: it becomes a ``collection.reply`` on the customer (its chatter, its
        collector notified) instead of a message on the reminder nobody follows."""
        reminder_routes = [
            route for route in routes or () if route[0] == "collection.communication" and route[1]
        ]
        if not reminder_routes or message_dict.get("is_bounce"):
            return super()._message_route_process(message, message_dict, routes)
        # sudo: the mail gateway runs for the sender; the reminder is found by the
        # message it answers (Odoo's routing of replies).
        reminders = (
            self.env["collection.communication"]
            .sudo()
            .browse({route[1] for route in reminder_routes})
        )
        Reply = self.env["collection.reply"]
        reply = Reply
        for reminder in reminders.exists():
            reply |= Reply._collection_receive(
                "email",
                reminder.company_id,
                tools.email_normalize(message_dict.get("email_from") or "")
                or message_dict.get("email_from"),
                html2plaintext(message_dict.get("body") or "").strip(),
                date=message_dict.get("date"),
                attachments=[
                    (
                        name,
                        content.encode() if isinstance(content, str) else content,
                        (info or {}).get("mimetype"),
                    )
                    for name, content, info in message_dict.get("attachments") or []
                ],
                provider_ref=message_dict.get("message_id"),
                communication=reminder,
            )
        others = [route for route in routes if route not in reminder_routes]
        if others:
            return super()._message_route_process(message, message_dict, others)
        return reply[:1].partner_id.id or False
