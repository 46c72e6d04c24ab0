import logging

from odoo import api, fields, models, tools
from odoo.fields import Domain
from odoo.tools import html2plaintext
from odoo.tools.mail import mail_header_msgid_re

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
    def message_route(self, message, message_dict, model=None, thread_id=None, custom_values=None):
        """A new email a customer writes straight to the company's catchall address
        (not answering any message) is the customer's reply, where Odoo would bounce
        it; a stranger's is still bounced."""
        route = self._collection_catchall_route(message_dict) if not model else None
        if route:
            return [route]
        return super().message_route(message, message_dict, model, thread_id, custom_values)

    @api.model
    def _collection_catchall_route(self, message_dict):
        """The route to a new ``collection.reply`` of an email to the catchall from a
        known customer, else None."""
        if message_dict.get("is_bounce") or not self._detect_write_to_catchall(message_dict):
            return None
        references = set(
            mail_header_msgid_re.findall(
                f"{message_dict.get('references') or ''} {message_dict.get('in_reply_to') or ''}"
            )
        )
        # sudo: the gateway checks whether the email answers a known message.
        if references and self.env["mail.message"].sudo().search_count(
            [("message_id", "in", list(references))], limit=1
        ):
            return None  # a reply to a document: Odoo routes it
        company = self._collection_gateway_company(message_dict)
        sender = tools.email_normalize(message_dict.get("email_from") or "")
        Reply = self.env["collection.reply"]
        if not sender or not Reply._collection_match_sender("email", sender, company):
            return None
        return ("collection.reply", False, {"company_id": company.id}, self.env.uid, None)

    @api.model
    def _collection_gateway_company(self, message_dict, alias=None, custom_values=None):
        """The company an incoming email is written to: the alias's defaults, else one
        of the companies of the alias domain it was sent to (the alias's or the
        catchall's; Odoo gives a first alias domain to every company): the sender's
        customer's own company, else the mail gateway's company, else the first."""
        Company = self.env["res.company"].sudo()
        if (custom_values or {}).get("company_id"):
            return Company.browse(custom_values["company_id"])
        domains = alias.sudo().alias_domain_id if alias else self.env["mail.alias.domain"]
        if not domains:
            to = {
                tools.email_normalize(email)
                for email in tools.email_split(message_dict.get("to") or "")
            }
            names = {email.split("@")[-1] for email in to if email}
            domains = (
                self.env["mail.alias.domain"]
                .sudo()
                .search([])
                .filtered(lambda d: d.catchall_email in to or d.name in names)
            )
        companies = domains.company_ids
        if len(companies) <= 1:
            return companies or self.env.company
        sender = tools.email_normalize(message_dict.get("email_from") or "")
        if sender:
            Reply = self.env["collection.reply"]
            for company in companies:
                contact = Reply._collection_match_sender("email", sender, company)
                if contact.commercial_partner_id.company_id == company:
                    return company
        return self.env.company if self.env.company in companies else companies[:1]

    @api.model
    def _collection_email_reply_values(self, message_dict):
        """The arguments of ``collection.reply._collection_receive`` for an email."""
        return {
            "sender": tools.email_normalize(message_dict.get("email_from") or "")
            or message_dict.get("email_from"),
            "text": html2plaintext(message_dict.get("body") or "").strip(),
            "date": message_dict.get("date"),
            "attachments": [
                (
                    name,
                    content.encode() if isinstance(content, str) else content,
                    (info or {}).get("mimetype"),
                )
                for name, content, info in message_dict.get("attachments") or []
            ],
            "provider_ref": message_dict.get("message_id"),
        }

    @api.model
    def _message_route_process(self, message, message_dict, routes):
        """A reply to a reminder email is the customer's reply, not a message to the
        reminder: it becomes a ``collection.reply`` on the customer (its chatter, its
        collector notified) instead of a message on the reminder nobody follows. A new
        email to the collections alias (or, from a known customer, to the catchall) is
        a reply too, matched to the customer by its address."""
        reminder_routes = [
            route for route in routes or () if route[0] == "collection.communication" and route[1]
        ]
        new_routes = [
            route for route in routes or () if route[0] == "collection.reply" and not route[1]
        ]
        if not (reminder_routes or new_routes) or message_dict.get("is_bounce"):
            return super()._message_route_process(message, message_dict, routes)
        # sudo: the mail gateway runs for the sender; the reminder is found by the
        # message it answers (Odoo's routing of replies).
        reminders = (
            self.env["collection.communication"]
            .sudo()
            .browse({route[1] for route in reminder_routes})
        )
        Reply = self.env["collection.reply"]
        values = self._collection_email_reply_values(message_dict)
        reply = Reply
        for reminder in reminders.exists():
            reply |= Reply._collection_receive(
                "email", reminder.company_id, communication=reminder, **values
            )
        for _model, _thread_id, custom_values, _user_id, alias in new_routes:
            company = self._collection_gateway_company(message_dict, alias, custom_values)
            reply |= Reply._collection_receive("email", company, **values)
        others = [route for route in routes if route not in reminder_routes + new_routes]
        if others:
            return super()._message_route_process(message, message_dict, others)
        return reply[:1].partner_id.id or reply[:1].id or False
