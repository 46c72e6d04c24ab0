import base64
import hashlib
import hmac
import logging
import mimetypes
from urllib.parse import urlsplit

import requests
from werkzeug.exceptions import Forbidden
from werkzeug.urls import url_join

from odoo import http
from odoo.http import request

from ..models.collection_reply import MAX_ATTACHMENT_SIZE
from ..tools.whatsapp import LOCAL_HOSTS

_logger = logging.getLogger(__name__)

TWILIO_SMS_ROUTE = "/collection/webhook/twilio/sms"
# Media of an inbound MMS fetched at most (Twilio sends up to 10).
MAX_MEDIA = 10
# Seconds to wait for one media file of an MMS.
MEDIA_TIMEOUT = 15
# Bytes read at a time from a media file.
MEDIA_CHUNK = 64 * 1024


class TwilioMediaError(Exception):
    """A media file of an MMS that could not be downloaded, with the reason."""


def twilio_media_url_allowed(url):
    """Whether the account's credentials may be sent to ``url``: Twilio's own https
    addresses, or the local machine (a test server)."""
    parts = urlsplit(url or "")
    host = parts.hostname or ""
    if parts.scheme == "https" and (host == "twilio.com" or host.endswith(".twilio.com")):
        return True
    return parts.scheme in ("http", "https") and host in LOCAL_HOSTS


def download_twilio_media(url, account_sid, auth_token, timeout=MEDIA_TIMEOUT):
    """The bytes and the content type of the media file at ``url`` (an inbound MMS's
    MediaUrlN), read with the account's SID and auth token (HTTP Basic, which Twilio
    requires when media URLs are protected; its redirect to the file's storage goes
    without them), at most MAX_ATTACHMENT_SIZE bytes. Raises TwilioMediaError."""
    if not twilio_media_url_allowed(url):
        raise TwilioMediaError(f"not a Twilio address: {url}")
    try:
        with requests.get(
            url, auth=(account_sid, auth_token), timeout=timeout, stream=True
        ) as response:
            if not response.ok:
                raise TwilioMediaError(f"HTTP {response.status_code}")
            if int(response.headers.get("Content-Length") or 0) > MAX_ATTACHMENT_SIZE:
                raise TwilioMediaError(f"larger than {MAX_ATTACHMENT_SIZE} bytes")
            content = b""
            for chunk in response.iter_content(MEDIA_CHUNK):
                content += chunk
                if len(content) > MAX_ATTACHMENT_SIZE:
                    raise TwilioMediaError(f"larger than {MAX_ATTACHMENT_SIZE} bytes")
            mimetype = (response.headers.get("Content-Type") or "").split(";")[0].strip()
            return content, mimetype
    except requests.exceptions.RequestException as e:
        raise TwilioMediaError(f"connection error: {e}") from e


def twilio_signature(auth_token, url, params):
    """Twilio's request signature: the HMAC-SHA1, with the account's auth token, of the
    URL Twilio called followed by each POST parameter's name and value, sorted by name,
    in base64 (twilio.com/docs/usage/security#validating-requests; the way Odoo's
    sms_twilio checks its status callbacks)."""
    data = url + "".join(f"{key}{value}" for key, value in sorted(params.items()))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class CollectionTwilioWebhook(http.Controller):
    @http.route(TWILIO_SMS_ROUTE, type="http", auth="public", methods=["POST"], csrf=False)
    def twilio_inbound_sms(self, **kwargs):
        """An SMS a customer sent to the company's Twilio number (Twilio's Messaging
        webhook): checked against the X-Twilio-Signature of the company's account
        (403 otherwise, nothing written), then kept as the customer's reply."""
        form = request.httprequest.form.to_dict()
        company_sudo = self._collection_twilio_company(form)
        signature = request.httprequest.headers.get("X-Twilio-Signature", "")
        if not company_sudo or not signature:
            _logger.warning("Twilio inbound SMS refused: no account or no signature")
            raise Forbidden()
        url = url_join(company_sudo.get_base_url(), TWILIO_SMS_ROUTE)
        query = request.httprequest.query_string.decode()
        if query:
            url = f"{url}?{query}"
        expected = twilio_signature(company_sudo.sms_twilio_auth_token, url, form)
        if not hmac.compare_digest(expected, signature):
            _logger.warning("Twilio inbound SMS refused: wrong signature")
            raise Forbidden()
        provider_ref = form.get("MessageSid") or form.get("SmsSid")
        # sudo: the message is authenticated by the company's Twilio signature above.
        Reply = request.env["collection.reply"].sudo()
        if provider_ref and Reply.search_count(
            [("company_id", "=", company_sudo.id), ("channel", "=", "sms"),
             ("provider_ref", "=", provider_ref)], limit=1
        ):  # fmt: skip
            attachments, missing = [], []  # received already: its media are kept
        else:
            attachments, missing = self._collection_twilio_media(company_sudo, form)
        reply = Reply._collection_receive(
            "sms",
            company_sudo,
            form.get("From"),
            form.get("Body") or "",
            attachments=attachments,
            provider_ref=provider_ref,
        )
        if missing:
            reply.message_post(
                body=request.env._(
                    "%(count)s file(s) sent with this message could not be downloaded: %(errors)s",
                    count=len(missing),
                    errors="; ".join(missing),
                ),
                message_type="comment",
                subtype_xmlid="mail.mt_note",
            )
        # An empty TwiML answer: nothing is sent back to the customer.
        return request.make_response(
            '<?xml version="1.0" encoding="UTF-8"?><Response></Response>',
            headers=[("Content-Type", "text/xml")],
        )

    def _collection_twilio_media(self, company_sudo, form):
        """The media files of an inbound MMS, downloaded from Twilio: ([(filename,
        bytes, mimetype)], [reason of each file not downloaded])."""
        try:
            count = max(int(form.get("NumMedia") or 0), 0)
        except ValueError:
            count = 0
        attachments, missing = [], []
        sid = form.get("MessageSid") or form.get("SmsSid") or "mms"
        for index in range(count):
            url = form.get(f"MediaUrl{index}")
            if index >= MAX_MEDIA or not url:
                missing.append(f"#{index + 1}: not sent by Twilio")
                continue
            try:
                content, mimetype = download_twilio_media(
                    url, company_sudo.sms_twilio_account_sid, company_sudo.sms_twilio_auth_token
                )
            except TwilioMediaError as e:
                _logger.warning("Twilio inbound MMS %s: media %s not downloaded: %s", sid, index, e)
                missing.append(f"#{index + 1}: {e}")
                continue
            mimetype = (
                form.get(f"MediaContentType{index}") or mimetype or "application/octet-stream"
            )
            extension = mimetypes.guess_extension(mimetype) or ""
            attachments.append((f"{sid}-{index + 1}{extension}", content, mimetype))
        return attachments, missing

    def _collection_twilio_company(self, form):
        """The company whose Twilio account (AccountSid) the message came to, or an
        empty recordset: Twilio's account SID and auth token are those of Odoo's
        sms_twilio settings."""
        Company = request.env["res.company"].sudo()
        if "sms_twilio_account_sid" not in Company._fields or not form.get("AccountSid"):
            return Company
        companies = Company.search([("sms_twilio_account_sid", "=", form["AccountSid"])])
        companies = companies.filtered("sms_twilio_auth_token")
        if len(companies) > 1 and form.get("To"):
            numbers = companies.sms_twilio_number_ids.filtered(lambda n: n.number == form["To"])
            companies = numbers.company_id or companies
        return companies[:1]
