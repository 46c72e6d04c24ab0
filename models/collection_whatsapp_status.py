from datetime import timedelta

from odoo import api, fields, models
from odoo.fields import Domain

# How long a WhatsApp status waits for the message it names (the Cloud API may report a
# message before the transaction that sent it committed its id): retried by the sending
# job meanwhile, then forgotten.
PENDING_STATUS_TTL = timedelta(days=2)


class CollectionWhatsappStatus(models.Model):
    """A status the WhatsApp Cloud API reported for a message no delivery knows yet:
    the raw event kept until the delivery gets its message id (right after it is sent,
    or by the sending job's next run), then applied as if it had just arrived (the
    receipts are idempotent and never move a delivery backwards) and deleted. Written
    by the webhook only; forgotten after PENDING_STATUS_TTL."""

    _name = "collection.whatsapp.status"
    _description = "WhatsApp Status Waiting for Its Message"
    _order = "id"

    company_id = fields.Many2one("res.company", required=True, readonly=True, index=True)
    message_ref = fields.Char(string="Message ID", required=True, readonly=True, index=True)
    status = fields.Char(readonly=True)
    event = fields.Json(readonly=True, help="The status as the Cloud API sent it.")
    date_received = fields.Datetime(readonly=True, default=fields.Datetime.now, index=True)

    _event_unique = models.UniqueIndex(
        "(company_id, message_ref, status, (event ->> 'timestamp'))",
        "A status of a message is kept once.",
    )

    @api.model
    def _collection_keep(self, company, statuses):
        """Keep ``statuses`` (Cloud API status objects) of ``company`` that named no
        delivery; one already kept is not kept twice."""
        for status in statuses:
            domain = [
                ("company_id", "=", company.id),
                ("message_ref", "=", status["id"]),
                ("status", "=", status.get("status")),
            ]
            kept = self.search(domain).filtered(
                lambda r, s=status: (r.event or {}).get("timestamp") == s.get("timestamp")
            )
            if not kept:
                self.create(
                    {
                        "company_id": company.id,
                        "message_ref": status["id"],
                        "status": status.get("status"),
                        "event": status,
                    }
                )

    @api.model
    def _collection_apply(self, deliveries=None):
        """Apply the kept statuses whose message a delivery now knows (of
        ``deliveries`` when given, else of all), oldest event first, and delete them;
        forget those kept longer than PENDING_STATUS_TTL."""
        domain = Domain.TRUE
        if deliveries is not None:
            refs = deliveries.filtered("provider_ref").mapped("provider_ref")
            if not refs:
                return
            domain = Domain("message_ref", "in", refs)
        pending = self.search(domain)
        Delivery = self.env["collection.communication.delivery"]
        for company, kept in pending.grouped("company_id").items():
            known = set(
                Delivery.search(
                    [
                        ("channel", "=", "whatsapp"),
                        ("company_id", "=", company.id),
                        ("provider_ref", "in", kept.mapped("message_ref")),
                    ]
                ).mapped("provider_ref")
            )
            found = kept.filtered(lambda r, known=known: r.message_ref in known)
            if found:
                events = sorted(found.mapped("event"), key=lambda e: str(e.get("timestamp")))
                Delivery._collection_whatsapp_statuses(company, events)
                found.unlink()
        if deliveries is None:
            self.search(
                [("date_received", "<", fields.Datetime.now() - PENDING_STATUS_TTL)]
            ).unlink()
