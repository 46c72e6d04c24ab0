"""A small client of the WhatsApp Business Cloud API: template messages only.

Request (Graph API ``POST {api_url}/{phone_number_id}/messages``, bearer token)::

    {"messaging_product": "whatsapp", "recipient_type": "individual", "to": "+34600000000",
     "type": "template",
     "template": {"name": "payment_reminder", "language": {"code": "es"},
                  "components": [{"type": "body",
                                  "parameters": [{"type": "text", "text": "..."}]}]}}

Accepted: HTTP 200 with ``{"messages": [{"id": "wamid...."}], ...}``. Refused: an HTTP
error status with ``{"error": {"message": ..., "type": ..., "code": ..., "fbtrace_id": ...}}``.
"""

import logging

import requests

_logger = logging.getLogger(__name__)

DEFAULT_API_URL = "https://graph.facebook.com/v21.0"
TIMEOUT = 15

# Cloud API error codes meaning this recipient cannot get WhatsApp messages: retrying
# will not help, another channel may.
RECIPIENT_ERROR_CODES = {131026, 131030, 131021, 131047, 131051}


class WhatsAppError(Exception):
    """A message the Cloud API did not accept.

    :param retryable: whether sending again later may succeed (rate limit, server error,
        timeout), as opposed to a request the API refuses as such;
    :param recipient_error: the recipient cannot receive WhatsApp messages.
    """

    def __init__(self, message, status=None, code=None, retryable=False, recipient_error=False):
        super().__init__(message)
        self.status = status
        self.code = code
        self.retryable = retryable
        self.recipient_error = recipient_error


def send_template(
    api_url, phone_number_id, token, to, template, language, parameters, timeout=TIMEOUT
):
    """Send one approved template message; return the message id given by WhatsApp."""
    url = f"{(api_url or DEFAULT_API_URL).rstrip('/')}/{phone_number_id}/messages"
    payload = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "template",
        "template": {
            "name": template,
            "language": {"code": language},
            "components": [
                {
                    "type": "body",
                    "parameters": [{"type": "text", "text": str(value)} for value in parameters],
                }
            ],
        },
    }
    try:
        response = requests.post(
            url,
            json=payload,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
        )
    except requests.exceptions.Timeout as e:
        raise WhatsAppError(f"Timeout after {timeout}s: {e}", retryable=True) from e
    except requests.exceptions.RequestException as e:
        raise WhatsAppError(f"Connection error: {e}", retryable=True) from e

    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code == 200:
        messages = body.get("messages") or []
        if messages and messages[0].get("id"):
            return messages[0]["id"]
        raise WhatsAppError(
            f"Unexpected answer without message id: {response.text[:200]}",
            status=200,
            retryable=True,
        )
    error = body.get("error") or {}
    code = error.get("code")
    message = error.get("message") or response.text[:200] or response.reason
    status = response.status_code
    raise WhatsAppError(
        f"HTTP {status}{f' (code {code})' if code else ''}: {message}",
        status=status,
        code=code,
        retryable=status == 429 or status >= 500,
        recipient_error=code in RECIPIENT_ERROR_CODES,
    )
