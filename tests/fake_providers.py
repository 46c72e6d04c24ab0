"""A local HTTP server on 127.0.0.1 that answers like the WhatsApp Business Cloud API and
Twilio's Messages API, so the reminders are sent through their real code path.

Each request is recorded; the answer of the next requests is scripted per test:
``server.script("whatsapp", [200, 429, 500])`` answers 200, then 429, then 500, then
200 for any further request. ``"slow"`` sleeps longer than the client's timeout.

It also serves the media files customers send on WhatsApp (``server.add_media``:
``GET /<media id>`` gives the file's address, ``GET`` that address with the token gives
its bytes) and calls Odoo's webhook as WhatsApp does (``server.whatsapp_webhook``:
a Cloud API event, signed with the app secret).
"""

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import requests

# The WhatsApp Business phone number id the tests configure on their company.
PHONE_NUMBER_ID = "106540352242922"

WHATSAPP_ERRORS = {
    400: {
        "message": "(#131008) Required parameter is missing",
        "type": "OAuthException",
        "code": 131008,
    },
    401: {
        "message": "Error validating access token: Session has expired",
        "type": "OAuthException",
        "code": 190,
    },
    429: {"message": "(#130429) Rate limit hit", "type": "OAuthException", "code": 130429},
    500: {"message": "An unknown error has occurred.", "type": "OAuthException", "code": 1},
    "undeliverable": {
        "message": "(#131026) Message Undeliverable",
        "type": "OAuthException",
        "code": 131026,
    },
}

TWILIO_ERRORS = {
    400: {
        "code": 21211,
        "message": "The 'To' number is not a valid phone number.",
        "more_info": "https://www.twilio.com/docs/errors/21211",
        "status": 400,
    },
    401: {
        "code": 20003,
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
    },
    429: {
        "code": 20429,
        "message": "Too Many Requests",
        "more_info": "https://www.twilio.com/docs/errors/20429",
        "status": 429,
    },
    500: {
        "code": 20500,
        "message": "An internal server error has occurred",
        "more_info": "https://www.twilio.com/docs/errors/20500",
        "status": 500,
    },
}


class FakeProviders:
    def __init__(self, slow_seconds=3.0):
        self.requests = []
        self.scripts = {"whatsapp": [], "twilio": []}
        self.slow_seconds = slow_seconds
        self.lock = threading.Lock()
        # Media files customers sent: id -> (bytes, mime type), and the token that may
        # download them.
        self.media = {}
        self.media_token = None
        providers = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                if "/Messages.json" in self.path:
                    providers._answer_twilio(self, raw)
                elif self.path.endswith("/messages"):
                    providers._answer_whatsapp(self, raw)
                else:
                    self._reply(404, {"error": {"message": "Unknown path", "code": 100}})

            def do_GET(self):
                if self.path.startswith(("/2010-04-01/", "/twilio-cdn/")):
                    providers._answer_twilio_media(self)
                else:
                    providers._answer_media(self)

            def _reply(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def script(self, provider, answers):
        with self.lock:
            self.scripts[provider] = list(answers)

    def sent(self, provider):
        return [r for r in self.requests if r["provider"] == provider]

    def _next(self, provider):
        with self.lock:
            return self.scripts[provider].pop(0) if self.scripts[provider] else 200

    def _record(self, provider, handler, **body):
        """Record the request ``handler`` received for ``provider`` and take the next
        planned answer: a "slow" answer waits, then succeeds."""
        answer = self._next(provider)
        record = {
            "provider": provider,
            "path": handler.path,
            "authorization": handler.headers.get("Authorization"),
            **body,
            "answer": answer,
        }
        self.requests.append(record)
        if answer == "slow":
            time.sleep(self.slow_seconds)
            answer = 200
        return record, answer

    def _answer_whatsapp(self, handler, raw):
        record, answer = self._record("whatsapp", handler, json=json.loads(raw or "{}"))
        if answer == 200:
            payload = record["json"]
            handler._reply(
                200,
                {
                    "messaging_product": "whatsapp",
                    "contacts": [
                        {"input": payload.get("to"), "wa_id": (payload.get("to") or "").lstrip("+")}
                    ],
                    "messages": [{"id": f"wamid.{uuid.uuid4().hex}"}],
                },
            )
            return
        status = 400 if answer == "undeliverable" else answer
        error = dict(WHATSAPP_ERRORS[answer], fbtrace_id=uuid.uuid4().hex[:11])
        handler._reply(status, {"error": error})

    def _answer_twilio(self, handler, raw):
        form = {k: v[0] for k, v in parse_qs(raw).items()}
        _, answer = self._record("twilio", handler, form=form)
        if answer == 200:
            handler._reply(
                201,
                {
                    "sid": f"SM{uuid.uuid4().hex}",
                    "status": "queued",
                    "to": form.get("To"),
                    "from": form.get("From"),
                    "body": form.get("Body"),
                    "error_code": None,
                    "error_message": None,
                },
            )
            return
        handler._reply(answer, TWILIO_ERRORS[answer])

    # ------------------------------------------------------------------
    # WhatsApp media and webhooks
    # ------------------------------------------------------------------

    def add_media(self, content, mime_type, token):
        """A media file a customer sent, downloadable with ``token``: its id."""
        media_id = str(uuid.uuid4().int)[:15]
        self.media[media_id] = (content, mime_type)
        self.media_token = token
        return media_id

    def _answer_media(self, handler):
        """``GET /<media id>``: the media's address and type; ``GET /media/<id>``: its
        bytes. Both need the bearer token, as the Cloud API does."""
        self.requests.append(
            {
                "provider": "whatsapp_media",
                "path": handler.path,
                "authorization": handler.headers.get("Authorization"),
            }
        )
        if handler.headers.get("Authorization") != f"Bearer {self.media_token}":
            handler._reply(401, {"error": dict(WHATSAPP_ERRORS[401])})
            return
        path = handler.path.split("?")[0].strip("/")
        download = path.startswith("media/")
        media_id = path.removeprefix("media/").rsplit("/", 1)[-1]
        if media_id not in self.media:
            handler._reply(404, {"error": {"message": "Unsupported get request", "code": 100}})
            return
        content, mime_type = self.media[media_id]
        if not download:
            handler._reply(
                200,
                {
                    "messaging_product": "whatsapp",
                    "url": f"{self.url}/media/{media_id}",
                    "mime_type": mime_type,
                    "sha256": hashlib.sha256(content).hexdigest(),
                    "file_size": len(content),
                    "id": media_id,
                },
            )
            return
        handler.send_response(200)
        handler.send_header("Content-Type", mime_type)
        handler.send_header("Content-Length", str(len(content)))
        handler.end_headers()
        handler.wfile.write(content)

    # ------------------------------------------------------------------
    # Twilio MMS media
    # ------------------------------------------------------------------

    def add_twilio_media(self, content, mime_type, account_sid, auth_token):
        """A file a customer sent in an MMS: its MediaUrl, readable with the account's
        SID and auth token (HTTP Basic), which redirects to the file's content, as
        Twilio's media URLs do."""
        media_id = "ME" + uuid.uuid4().hex
        self.media[media_id] = (content, mime_type)
        self.twilio_media_auth = (
            "Basic " + base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        )
        return (
            f"{self.url}/2010-04-01/Accounts/{account_sid}/Messages/MM{'0' * 32}/Media/{media_id}"
        )

    def _answer_twilio_media(self, handler):
        path = handler.path.split("?")[0]
        media_id = path.rstrip("/").rsplit("/", 1)[-1]
        self.requests.append(
            {
                "provider": "twilio_media",
                "path": path,
                "authorization": handler.headers.get("Authorization"),
            }
        )
        if media_id not in self.media:
            handler._reply(404, {"code": 20404, "message": "The requested resource was not found"})
            return
        if path.startswith("/2010-04-01/"):
            if handler.headers.get("Authorization") != self.twilio_media_auth:
                handler._reply(401, {"code": 20003, "message": "Authenticate"})
                return
            handler.send_response(307)
            handler.send_header("Location", f"{self.url}/twilio-cdn/{media_id}")
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        content, mime_type = self.media[media_id]
        handler.send_response(200)
        handler.send_header("Content-Type", mime_type)
        handler.send_header("Content-Length", str(len(content)))
        handler.end_headers()
        handler.wfile.write(content)

    @staticmethod
    def whatsapp_event(phone_number_id, statuses=(), messages=(), contacts=()):
        """The body of a Cloud API webhook call for ``phone_number_id``."""
        value = {
            "messaging_product": "whatsapp",
            "metadata": {"display_phone_number": "34911000222", "phone_number_id": phone_number_id},
        }
        if statuses:
            value["statuses"] = list(statuses)
        if messages:
            value["messages"] = list(messages)
            value["contacts"] = list(contacts)
        return {
            "object": "whatsapp_business_account",
            "entry": [
                {"id": "102290129340398", "changes": [{"value": value, "field": "messages"}]}
            ],
        }

    @staticmethod
    def whatsapp_signature(app_secret, body):
        """``X-Hub-Signature-256`` of ``body`` (bytes) with the Meta app's secret."""
        return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()

    def whatsapp_webhook(
        self, url, event, app_secret=None, signature=None, body=None, session=None
    ):
        """POST ``event`` to Odoo's webhook at ``url`` as WhatsApp does: JSON, signed
        with ``app_secret`` (or the given ``signature``; neither: unsigned). ``body``
        replaces the bytes sent (a tampered call); ``session`` is the HTTP client (a
        test case's opener). Returns the response."""
        signed = json.dumps(event).encode()
        headers = {"Content-Type": "application/json"}
        if signature is None and app_secret:
            signature = self.whatsapp_signature(app_secret, signed)
        if signature:
            headers["X-Hub-Signature-256"] = signature
        return (session or requests).post(url, data=body or signed, headers=headers, timeout=30)
