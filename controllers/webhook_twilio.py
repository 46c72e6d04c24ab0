import base64
import hashlib
import hmac
import logging

from werkzeug.exceptions import Forbidden
from werkzeug.urls import url_join

from odoo import http
from odoo.http import request

_logger = logging.getLogger(__name__)

TWILIO_SMS_ROUTE = "/collection/webhook/twilio/sms"
# Media of an inbound MMS fetched at most (Twilio sends up to 10).
MAX_MEDIA = 10


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
        # sudo: the message is authenticated by the company's Twilio signature above.
        request.env["collection.reply"].sudo()._collection_receive(
            "sms",
            company_sudo,
            form.get("From"),
            form.get("Body") or "",
            provider_ref=form.get("MessageSid") or form.get("SmsSid"),
        )
        # An empty TwiML answer: nothing is sent back to the customer.
        return request.make_response(
            '<?xml version="1.0" encoding="UTF-8"?><Response></Response>',
            headers=[("Content-Type", "text/xml")],
        )

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
