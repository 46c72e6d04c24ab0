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

import hashlib
import hmac
import logging
from datetime import UTC, datetime
from urllib.parse import urlsplit

import requests

_logger = logging.getLogger(__name__)

DEFAULT_API_URL = "https://graph.facebook.com/v21.0"
TIMEOUT = 15

# Hosts an address may reach over plain http (a local test server); the token never
# travels in clear to any other.
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
# Largest media file downloaded from a webhook message (the Cloud API's own limit
# for documents is 100 MB).
MAX_MEDIA_BYTES = 100 * 1024 * 1024

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


def signature_valid(app_secret, raw_body, header):
    """Whether ``header`` (``X-Hub-Signature-256``: ``sha256=<hex>``) is the HMAC-SHA256
    of the request's ``raw_body`` (bytes) with the Meta app's ``app_secret``, compared in
    constant time."""
    if not app_secret or not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header[len("sha256=") :].strip().lower())


def safe_url(url):
    """Whether a bearer token may be sent to ``url``: https, or the local machine."""
    parts = urlsplit(url or "")
    return parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOCAL_HOSTS)


def download_media(api_url, token, media_id, timeout=TIMEOUT):
    """The content of a media a customer sent (image, document), by the Cloud API's
    two steps: ``GET {api_url}/{media_id}`` gives its ``url`` and ``mime_type``, then
    ``GET url`` with the same bearer token gives its bytes. Returns ``(bytes,
    mime_type)``; raises ``WhatsAppError``."""
    headers = {"Authorization": f"Bearer {token}"}
    url = f"{(api_url or DEFAULT_API_URL).rstrip('/')}/{media_id}"
    try:
        response = requests.get(url, headers=headers, timeout=timeout)
        info = response.json() if response.ok else {}
        if not info.get("url"):
            raise WhatsAppError(
                f"HTTP {response.status_code}: no address for media {media_id}",
                status=response.status_code,
            )
        if not safe_url(info["url"]):
            raise WhatsAppError(f"Media address refused (not https): {info['url']}")
        response = requests.get(info["url"], headers=headers, timeout=timeout, stream=True)
        if not response.ok:
            raise WhatsAppError(
                f"HTTP {response.status_code}: media {media_id} not downloaded",
                status=response.status_code,
            )
        content = bytearray()
        for chunk in response.iter_content(64 * 1024):
            content += chunk
            if len(content) > MAX_MEDIA_BYTES:
                raise WhatsAppError(f"Media {media_id} larger than {MAX_MEDIA_BYTES} bytes")
    except requests.exceptions.RequestException as e:
        raise WhatsAppError(f"Connection error: {e}", retryable=True) from e
    except ValueError as e:
        raise WhatsAppError(f"Unexpected answer for media {media_id}: {e}") from e
    mime_type = info.get("mime_type") or response.headers.get("Content-Type")
    return bytes(content), (mime_type or "application/octet-stream").split(";")[0].strip()


def event_moment(timestamp):
    """A Cloud API event's timestamp (Unix seconds, as text) as a naive UTC datetime;
    now when it is missing or not a number."""
    try:
        moment = datetime.fromtimestamp(int(timestamp), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        moment = datetime.now(UTC)
    return moment.replace(tzinfo=None, microsecond=0)
