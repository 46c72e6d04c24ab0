"""Webhooks the providers call back: the WhatsApp Business Cloud API's.

WhatsApp first checks the address with a GET (``hub.mode=subscribe``,
``hub.verify_token``, ``hub.challenge``: the challenge is echoed when the token is the
company's), then POSTs the events of the company's phone number, signed with the Meta
app's secret (``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>``)::

    {"object": "whatsapp_business_account",
     "entry": [{"id": "<WABA id>", "changes": [{"field": "messages", "value": {
         "messaging_product": "whatsapp",
         "metadata": {"display_phone_number": "...", "phone_number_id": "..."},
         "statuses": [{"id": "wamid...", "status": "delivered", "timestamp": "1773662400",
                       "recipient_id": "34612345678", "errors": [...]}],
         "contacts": [{"profile": {"name": "..."}, "wa_id": "34612345678"}],
         "messages": [{"from": "34612345678", "id": "wamid...", "timestamp": "...",
                       "type": "text", "text": {"body": "..."},
                       "context": {"from": "...", "id": "wamid..."}}]}}]}]}

A call that is not signed with the secret of every company it names gets 403 and
changes nothing. The same call twice changes nothing more than once.
"""

import hmac
import json
import logging
import mimetypes

from odoo import http
from odoo.http import request

from ..tools import whatsapp

_logger = logging.getLogger(__name__)

# Message types whose content is a media file kept as an attachment.
MEDIA_TYPES = ("image", "document")


class CollectionWebhookController(http.Controller):
    @http.route(
        "/collection/webhook/whatsapp",
        type="http",
        auth="public",
        methods=["GET", "POST"],
        csrf=False,
        save_session=False,
    )
    def whatsapp_webhook(self, **kwargs):
        if request.httprequest.method == "GET":
            return self._whatsapp_verify(
                kwargs.get("hub.mode"), kwargs.get("hub.verify_token"), kwargs.get("hub.challenge")
            )
        raw = request.httprequest.get_data()
        signature = request.httprequest.headers.get("X-Hub-Signature-256")
        try:
            payload = json.loads(raw)
            changes = [
                change.get("value") or {}
                for entry in payload.get("entry") or []
                for change in entry.get("changes") or []
                if change.get("field") == "messages"
            ]
            numbers = {(value.get("metadata") or {}).get("phone_number_id") for value in changes}
        except (ValueError, AttributeError, TypeError):
            _logger.warning("WhatsApp webhook: a call that is not a Cloud API event refused")
            return self._forbidden()
        numbers.discard(None)
        # sudo: the company is found by the phone number the call names, and the call
        # is only believed once it is signed with that company's app secret.
        companies = (
            request.env["res.company"]
            .sudo()
            .search([("collection_whatsapp_phone_number_id", "in", list(numbers))])
        )
        if not companies or not all(
            whatsapp.signature_valid(company.collection_whatsapp_app_secret, raw, signature)
            for company in companies
        ):
            _logger.warning("WhatsApp webhook: unsigned or wrongly signed call refused")
            return self._forbidden()
        by_number = {company.collection_whatsapp_phone_number_id: company for company in companies}
        # sudo: the receipts are the engine's facts, proven by the signature.
        Delivery = request.env["collection.communication.delivery"].sudo()
        for value in changes:
            company = by_number.get((value.get("metadata") or {}).get("phone_number_id"))
            if not company:
                continue
            if value.get("statuses"):
                Delivery._collection_whatsapp_statuses(company, value["statuses"])
            if value.get("messages"):
                self._whatsapp_messages(company, value["messages"])
        return request.make_response("OK", headers=[("Content-Type", "text/plain")])

    def _forbidden(self):
        return request.make_response(
            "Forbidden", headers=[("Content-Type", "text/plain")], status=403
        )

    def _whatsapp_verify(self, mode, token, challenge):
        """The handshake: echo ``challenge`` when ``token`` is a company's verify token."""
        if mode != "subscribe" or not token or not challenge:
            return self._forbidden()
        # sudo: the verify tokens are secrets no visitor reads; they are only compared,
        # in constant time.
        companies = (
            request.env["res.company"]
            .sudo()
            .search([("collection_whatsapp_verify_token", "!=", False)])
        )
        if not any(
            hmac.compare_digest(company.collection_whatsapp_verify_token.encode(), token.encode())
            for company in companies
        ):
            _logger.warning("WhatsApp webhook: verification with a wrong token refused")
            return self._forbidden()
        return request.make_response(
            challenge,
            headers=[("Content-Type", "text/plain"), ("X-Content-Type-Options", "nosniff")],
        )

    def _whatsapp_messages(self, company, messages):
        """Hand each message a customer sent to the replies, with its media files."""
        if "collection.reply" not in request.env:
            _logger.info(
                "WhatsApp webhook: %s inbound message(s) for %s ignored (no replies model)",
                len(messages),
                company.name,
            )
            return
        # sudo: the signature proved the messages come from WhatsApp for this company.
        Reply = request.env["collection.reply"].sudo()
        for message in messages:
            kind = message.get("type")
            content = message.get(kind) if isinstance(message.get(kind), dict) else {}
            attachments = []
            if kind == "text":
                text = content.get("body") or ""
            elif kind in MEDIA_TYPES:
                text = content.get("caption") or ""
                attachment = self._whatsapp_media(company, kind, content)
                if attachment:
                    attachments.append(attachment)
            elif kind == "button":
                text = content.get("text") or ""
            elif kind == "interactive":
                reply = content.get("button_reply") or content.get("list_reply") or {}
                text = reply.get("title") or ""
            else:
                _logger.info("WhatsApp webhook: message of type %s ignored", kind)
                continue
            Reply._collection_receive(
                channel="whatsapp",
                company=company,
                sender="+" + str(message.get("from") or "").lstrip("+"),
                text=text,
                date=whatsapp.event_moment(message.get("timestamp")),
                attachments=attachments,
                provider_ref=message.get("id"),
                reply_to_ref=(message.get("context") or {}).get("id") or False,
            )

    def _whatsapp_media(self, company, kind, content):
        """(filename, bytes, mimetype) of a media file sent to ``company``, downloaded
        from the Cloud API; None (logged) when it cannot be."""
        params = request.env["ir.config_parameter"].sudo()
        api_url = params.get_param("account_collection.whatsapp_api_url", whatsapp.DEFAULT_API_URL)
        if not whatsapp.safe_url(api_url or whatsapp.DEFAULT_API_URL):
            _logger.warning("WhatsApp webhook: media not downloaded from %s (not https)", api_url)
            return None
        try:
            data, mimetype = whatsapp.download_media(
                api_url,
                company.collection_whatsapp_token,
                content.get("id"),
                timeout=float(
                    params.get_param("account_collection.whatsapp_timeout", whatsapp.TIMEOUT)
                ),
            )
        except whatsapp.WhatsAppError as e:
            _logger.warning("WhatsApp webhook: media %s not downloaded: %s", content.get("id"), e)
            return None
        mimetype = content.get("mime_type") or mimetype
        filename = content.get("filename") or "{}-{}{}".format(
            kind, content.get("id"), mimetypes.guess_extension(mimetype.split(";")[0]) or ""
        )
        return filename, data, mimetype.split(";")[0].strip()
