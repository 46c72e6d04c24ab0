from odoo import api, models, tools
from odoo.tools import html2plaintext


class MailThread(models.AbstractModel):
    _inherit = "mail.thread"

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
