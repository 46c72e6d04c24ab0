"""Measure sending: the deliveries of a day's reminders leaving through the real queue
(``collection.communication.delivery._process_queue``, the send-time truth check
included), one Odoo server against two on the same database.

Run by ``dev/benchmark`` after the in-process measures, as a plain Python program (it
does not import Odoo itself)::

    python3 sending.py --db BOOK [--only sending,two_servers] [--json FILE]

It starts, on 127.0.0.1, an SMTP server that accepts and counts every email
(``SmtpSink``) and the local servers speaking the WhatsApp Cloud API and Twilio's
Messages API (``account_collection/tests/fake_providers.py``). Each round copies the
book's database (``CREATE DATABASE ... TEMPLATE``, so the book itself is never
changed), configures the copy (an ``ir.mail_server`` pointing at the SMTP server,
Twilio through ``sms_twilio``, WhatsApp, a policy whose one level sends an email, an
SMS and a WhatsApp message), then starts one or two Odoo processes (``odoo shell``,
each with its own registry and connections, as two servers), released at the same
moment, each running what the daily cron runs: the dunning run of every company, then
the send queue. Afterwards it checks, on the database and on what the servers
received, exactly one reminder per customer and level and exactly one message per
delivery sent, and prints the deliveries sent per second (per channel), the time
18,000 deliveries would take (the daily reminders of the ``large`` book) and the
throughput of two servers against one.

The functions ``setup`` and ``work`` run inside the Odoo processes.
"""

import argparse
import importlib.util
import json
import os
import shutil
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

# The daily reminders of the large book (20,000 customers): the target is to send them
# within 15 minutes.
LARGE_DAILY = 18_000
TARGET_SECONDS = 15 * 60
CHANNELS = ("email", "sms", "whatsapp")
TWILIO_SID = "AC" + "0" * 32
TWILIO_URL = "https://api.twilio.com"
WHATSAPP_PHONE_NUMBER_ID = "106540352242922"


# ----------------------------------------------------------------------
# A local SMTP server that takes every message
# ----------------------------------------------------------------------


class SmtpSink:
    """An SMTP server on 127.0.0.1 that accepts every message (no TLS, no
    authentication) and keeps the ``Message-Id`` of each, in the order received."""

    def __init__(self):
        self.message_ids = []
        self.lock = threading.Lock()
        sink = self

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, line):
                self.wfile.write(line.encode() + b"\r\n")
                self.wfile.flush()

            def handle(self):
                self.reply("220 127.0.0.1 benchmark SMTP sink")
                while True:
                    line = self.rfile.readline()
                    if not line:
                        return
                    command = line.decode(errors="replace").strip()
                    verb = command[:4].upper()
                    if verb in ("EHLO", "HELO"):
                        # One write: separate small writes would wait on delayed ACKs.
                        self.reply("250-127.0.0.1\r\n250-8BITMIME\r\n250 SMTPUTF8")
                    elif verb == "DATA":
                        self.reply("354 end with <CRLF>.<CRLF>")
                        sink._receive(self.rfile)
                        self.reply("250 2.0.0 queued")
                    elif verb == "QUIT":
                        self.reply("221 bye")
                        return
                    else:  # MAIL, RCPT, RSET, NOOP
                        self.reply("250 OK")

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def _receive(self, rfile):
        headers, in_headers, message_id = [], True, None
        while True:
            line = rfile.readline()
            if not line or line in (b".\r\n", b".\n"):
                break
            if in_headers:
                if line in (b"\r\n", b"\n"):
                    in_headers = False
                elif line[:1] in (b" ", b"\t") and headers:
                    headers[-1] += line.strip()
                else:
                    headers.append(line.strip())
        for header in headers:
            name, _sep, value = header.decode(errors="replace").partition(":")
            if name.strip().lower() == "message-id":
                message_id = value.strip()
        with self.lock:
            self.message_ids.append(message_id)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def clear(self):
        with self.lock:
            self.message_ids.clear()


def _fake_providers_class():
    """``FakeProviders`` of the addon's tests, loaded from its file (importing the
    addon's tests package would load Odoo)."""
    path = Path(__file__).resolve().parents[4] / "tests" / "fake_providers.py"
    spec = importlib.util.spec_from_file_location("account_collection_fake_providers", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.FakeProviders


# ----------------------------------------------------------------------
# Inside the Odoo processes
# ----------------------------------------------------------------------


def setup(env, config):
    """Configure the copied book for sending: the local SMTP server, WhatsApp and
    Twilio (``sms_twilio``) on the local fake servers, no quiet hours, rest days or
    contact limit (the round runs whatever the day and hour), and a default policy
    whose one level (one day overdue) sends an email, an SMS and a WhatsApp message.
    Commits."""
    from odoo import Command

    company = env.ref("base.main_company")
    env["ir.mail_server"].search([]).active = False
    env["ir.mail_server"].create(
        {
            "name": "Benchmark SMTP sink",
            "smtp_host": "127.0.0.1",
            "smtp_port": config["smtp_port"],
            "smtp_encryption": "none",
            "sequence": 1,
        }
    )
    params = env["ir.config_parameter"]
    params.set_param("account_collection.whatsapp_api_url", config["fake_url"])
    params.set_param("account_collection.whatsapp_timeout", "10")
    values = {
        "email": company.email or "accounts@benchmark.example.com",
        "collection_email_from": "Accounts Receivable <ar@benchmark.example.com>",
        "collection_whatsapp_phone_number_id": WHATSAPP_PHONE_NUMBER_ID,
        "collection_whatsapp_token": "benchmark-token",
        "collection_quiet_hour_start": 0.0,
        "collection_quiet_hour_end": 0.0,
        "collection_rest_day": False,
        "collection_calendar_id": False,
        "collection_public_holidays": False,
        "collection_message_interval_days": 0,
    }
    if "sms_provider" in company._fields:
        values.update(
            {
                "sms_provider": "twilio",
                "sms_twilio_account_sid": TWILIO_SID,
                "sms_twilio_auth_token": "benchmark-twilio-token",
                "sms_twilio_number_ids": [
                    Command.clear(),
                    Command.create({"number": "+15005550006", "country_id": env.ref("base.us").id}),
                ],
            }
        )
    company.write(values)
    level = {
        "name": "Benchmark reminder",
        "delay": 1,
        "send_email": "email" in config["channels"],
        "mail_template_id": env.ref("account_collection.mail_template_reminder_overdue").id,
        "send_sms": "sms" in config["channels"],
        "sms_template_id": env.ref("account_collection.sms_template_reminder_overdue").id,
        "send_whatsapp": "whatsapp" in config["channels"],
        "whatsapp_template_name": "payment_reminder",
        "whatsapp_parameters": "partner_name,overdue_amount,portal_url",
        "whatsapp_fallback_sms": False,
    }
    policy = env["collection.policy"].create(
        {
            "name": "Benchmark reminders",
            "company_id": company.id,
            "mode": "automatic",
            "level_ids": [Command.create(level)],
        }
    )
    if config.get("customers"):
        # A sample of the book: the policy of these customers only.
        customers = env["res.partner"].search(
            [("parent_id", "=", False), ("customer_rank", ">", 0)],
            order="id",
            limit=config["customers"],
        )
        company.collection_policy_id = False
        customers.with_company(company).collection_policy_id = policy
    else:
        company.collection_policy_id = policy
    env.cr.commit()
    return {"twilio": "sms_provider" in company._fields}


def _redirect_twilio(fake_url):
    """Twilio's address is written in ``sms_twilio``'s code: its requests go to the
    local server instead, the request itself unchanged."""
    import requests

    request = requests.Session.request

    def redirected(session, method, url, *args, **kwargs):
        if isinstance(url, str) and url.startswith(TWILIO_URL + "/"):
            url = fake_url + url[len(TWILIO_URL) :]
        return request(session, method, url, *args, **kwargs)

    requests.Session.request = redirected


def _rss_kib(field):
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def work(env, config):
    """One server's share of the day, as the daily cron runs it
    (``collection.dunning._cron_run_dunning``): the dunning run of every company, then
    the send queue, both timed. Waits for ``config["go"]`` (a file) first, so that the
    servers start together. Returns the timings, the deliveries this process sent per
    channel and the time they took, and its memory."""
    from unittest.mock import patch

    _redirect_twilio(config["fake_url"])
    Delivery = env["collection.communication.delivery"]
    Dunning = env["collection.dunning"]
    DeliveryClass = type(Delivery)
    send_batch = DeliveryClass._send_batch
    per_channel = {}
    rss = []

    def timed_send_batch(deliveries, now, journal):
        # A batch's time is shared among its channels by their number of deliveries.
        channels = Counter(deliveries.mapped("channel"))
        start = time.perf_counter()
        send_batch(deliveries, now, journal)
        spent = time.perf_counter() - start
        for channel, count in channels.items():
            seconds, done = per_channel.get(channel, (0.0, 0))
            per_channel[channel] = (seconds + spent * count / len(deliveries), done + count)
        rss.append(_rss_kib("VmRSS"))

    Path(config["ready"]).touch()
    for _wait in range(6000):
        if os.path.exists(config["go"]):
            break
        time.sleep(0.01)
    started = time.time()
    for company in env["res.company"].search([]):
        Dunning.with_company(company)._run_dunning(company)
    dunning_done = time.time()
    # The servers send together: the queue starts once every server's run is done.
    Path(config["ready"] + ".dunning").touch()
    for _wait in range(60000):
        if os.path.exists(config["go"] + ".queue"):
            break
        time.sleep(0.01)
    queue_started = time.time()
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear_refs:
            clear_refs.write("5")
    except OSError:
        pass
    rss_before = _rss_kib("VmRSS")
    with patch.object(DeliveryClass, "_send_batch", timed_send_batch):
        if os.environ.get("BENCH_SENDING_PROFILE"):
            import cProfile

            profile = cProfile.Profile()
            processed = profile.runcall(Delivery._process_queue)
            profile.dump_stats(os.environ["BENCH_SENDING_PROFILE"])
        else:
            processed = Delivery._process_queue()
    queue_done = time.time()
    env.cr.commit()
    return {
        "started": started,
        "dunning_done": dunning_done,
        "queue_started": queue_started,
        "queue_done": queue_done,
        "processed": processed,
        "per_channel": per_channel,
        "queue_peak_mib": max(_rss_kib("VmHWM") - rss_before, 0) / 1024,
        "rss_growth_mib": (rss[-1] - rss[0]) / 1024 if len(rss) > 1 else 0.0,
        "rss_samples": len(rss),
    }


# ----------------------------------------------------------------------
# The conductor
# ----------------------------------------------------------------------

SHELL_SCRIPT = """
import json, os, sys
sys.path.insert(0, os.environ["BENCH_SENDING_DIR"])
import sending
config = json.loads(os.environ["BENCH_SENDING_CONFIG"])
result = getattr(sending, config["role"])(env, config)
with open(config["out"], "w", encoding="utf-8") as out:
    json.dump(result, out)
"""


class Conductor:
    def __init__(self, args):
        self.args = args
        self.odoo_args = [a for a in os.environ["BENCH_ODOO_ARGS"].split("\x1f") if a]
        self.dev = os.environ["BENCH_DEV"]
        self.pg = {
            "host": os.environ["BENCH_PG_HOST"],
            "port": os.environ["BENCH_PG_PORT"],
            "user": os.environ.get("BENCH_PG_USER", "odoo"),
        }
        self.tmp = Path(tempfile.mkdtemp(prefix="collection-sending-"))
        self.sink = SmtpSink().start()
        self.providers = _fake_providers_class()(slow_seconds=3.0).start()

    def close(self):
        self.sink.stop()
        self.providers.stop()
        if not os.environ.get("BENCH_SENDING_KEEP"):
            shutil.rmtree(self.tmp, ignore_errors=True)

    # database ---------------------------------------------------------

    def connect(self, dbname):
        import psycopg2

        connection = psycopg2.connect(dbname=dbname, **self.pg)
        connection.autocommit = True
        return connection

    def admin(self, *statements):
        connection = self.connect("postgres")
        try:
            with connection.cursor() as cr:
                for statement in statements:
                    cr.execute(statement)
        finally:
            connection.close()

    def copy_book(self, name):
        self.admin(
            f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
            f'CREATE DATABASE "{name}" TEMPLATE "{self.args.db}"',
        )
        filestore = Path(self.dev, "data", "filestore")
        if (filestore / self.args.db).is_dir():
            shutil.rmtree(filestore / name, ignore_errors=True)
            shutil.copytree(filestore / self.args.db, filestore / name)

    def drop(self, name):
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(Path(self.dev, "data", "filestore", name), ignore_errors=True)

    def query(self, dbname, sql, params=()):
        connection = self.connect(dbname)
        try:
            with connection.cursor() as cr:
                cr.execute(sql, params)
                return cr.fetchall()
        finally:
            connection.close()

    # Odoo processes ---------------------------------------------------

    def odoo(self, dbname, config):
        """Start ``odoo shell`` on ``dbname`` running ``config["role"]``."""
        env = dict(
            os.environ,
            BENCH_SENDING_DIR=str(Path(__file__).resolve().parent),
            BENCH_SENDING_CONFIG=json.dumps(config),
        )
        log = open(config["out"] + ".log", "w", encoding="utf-8")
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "odoo", "shell", *self.odoo_args, "-d", dbname),
                *("--no-http", "--log-level=warn", "--limit-memory-hard=0"),
                "--max-cron-threads=0",
            ],
            cwd=self.dev,
            env=env,
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        process.stdin.write(SHELL_SCRIPT)
        process.stdin.close()
        process.log = log
        return process

    def finish(self, process, config):
        process.wait()
        process.log.close()
        try:
            with open(config["out"], encoding="utf-8") as result:
                return json.load(result)
        except (OSError, ValueError):
            with open(config["out"] + ".log", encoding="utf-8") as log:
                tail = log.read()[-3000:]
            raise RuntimeError(f"the Odoo process ({config['role']}) failed:\n{tail}") from None

    def config(self, role, name, **extra):
        return {
            "role": role,
            "out": str(self.tmp / f"{name}.json"),
            "smtp_port": self.sink.port,
            "fake_url": self.providers.url,
            **extra,
        }

    # a round ----------------------------------------------------------

    def round(self, servers, channels=CHANNELS):
        """Copy the book, configure it, then run ``servers`` Odoo processes at once,
        each running the day's dunning run and the send queue; check what left."""
        name = f"{self.args.db}_sending"
        self.copy_book(name)
        self.sink.clear()
        self.providers.requests.clear()
        try:
            setup_config = self.config(
                "setup", "setup", channels=list(channels), customers=self.args.sending_customers
            )
            info = self.finish(self.odoo(name, setup_config), setup_config)
            go = str(self.tmp / f"go-{servers}")
            for path in (go, go + ".queue"):
                if os.path.exists(path):
                    os.unlink(path)
            configs = [
                self.config("work", f"work-{servers}-{index}", go=go) for index in range(servers)
            ]
            for config in configs:
                config["ready"] = config["out"] + ".ready"
            processes = [self.odoo(name, config) for config in configs]
            for _wait in range(18000):
                if all(os.path.exists(c["ready"]) for c in configs):
                    break
                if any(p.poll() is not None for p in processes):
                    break
                time.sleep(0.01)
            Path(go).touch()
            for _wait in range(600000):
                if all(os.path.exists(c["ready"] + ".dunning") for c in configs):
                    break
                if any(p.poll() is not None for p in processes):
                    break
                time.sleep(0.01)
            Path(go + ".queue").touch()
            results = [self.finish(p, c) for p, c in zip(processes, configs, strict=True)]
            return self.check(name, servers, results, info)
        finally:
            if not os.environ.get("BENCH_SENDING_KEEP"):
                self.drop(name)

    def check(self, name, servers, results, info):
        """What the round did, and whether each reminder and message is there once."""
        started = min(r["started"] for r in results)
        queue_started = min(r["queue_started"] for r in results)
        dunning_done = max(r["dunning_done"] for r in results)
        dunning_s = dunning_done - started
        done = max(r["queue_done"] for r in results)
        reminders = self.query(
            name,
            "SELECT COUNT(*), COUNT(DISTINCT (partner_id, level_id)) FROM collection_communication",
        )[0]
        deliveries = dict(
            ((channel, state), count)
            for channel, state, count in self.query(
                name,
                "SELECT channel, state, COUNT(*) FROM collection_communication_delivery "
                "GROUP BY channel, state",
            )
        )
        sent = {c: deliveries.get((c, "sent"), 0) for c in CHANNELS}
        problems = []
        if reminders[0] != reminders[1]:
            problems.append(f"{reminders[0] - reminders[1]} reminders twice")
        # Email: every message the SMTP server took is the email of one delivery sent.
        email_refs = Counter(
            ref
            for (ref,) in self.query(
                name,
                "SELECT provider_ref FROM collection_communication_delivery "
                "WHERE channel = 'email' AND state = 'sent'",
            )
        )
        received = Counter(self.sink.message_ids)
        if received != email_refs:
            twice = sum(n - 1 for n in received.values() if n > 1)
            problems.append(
                f"emails: {sum(received.values())} received for {sum(email_refs.values())} "
                f"deliveries sent ({twice} received twice)"
            )
        # SMS: each Twilio request names its SMS (the status callback's uuid).
        sms_refs = Counter(
            ref
            for (ref,) in self.query(
                name,
                "SELECT provider_ref FROM collection_communication_delivery "
                "WHERE channel = 'sms' AND state = 'sent'",
            )
        )
        twilio = Counter(
            r["form"].get("StatusCallback", "").rsplit("/", 1)[-1]
            for r in self.providers.sent("twilio")
        )
        if twilio != sms_refs:
            problems.append(
                f"SMS: {sum(twilio.values())} requests for {sum(sms_refs.values())} sent"
            )
        # WhatsApp: the message ids the server gave are those of the deliveries sent.
        wa_sent = sum(1 for r in self.providers.sent("whatsapp"))
        wa_refs = self.query(
            name,
            "SELECT COUNT(*), COUNT(DISTINCT provider_ref) FROM collection_communication_delivery "
            "WHERE channel = 'whatsapp' AND state = 'sent'",
        )[0]
        if wa_sent != wa_refs[0] or wa_refs[0] != wa_refs[1]:
            problems.append(f"WhatsApp: {wa_sent} requests for {wa_refs[0]} sent")
        # Refused by the mail server or a provider: waiting for its next attempt (an
        # address Odoo finds invalid), not a problem of the queue. Anything else still
        # queued, or left sending, is.
        waiting = self.query(
            name,
            "SELECT COUNT(*) FROM collection_communication_delivery "
            "WHERE state = 'queued' AND attempts > 0 AND last_error IS NOT NULL "
            "AND next_attempt IS NOT NULL",
        )[0][0]
        left = {
            f"{channel} {state}": count
            for (channel, state), count in deliveries.items()
            if state in ("queued", "sending")
        }
        if sum(left.values()) != waiting:
            problems.append(f"not sent: {left}")
        per_channel = {}
        for channel in CHANNELS:
            seconds = sum(r["per_channel"].get(channel, [0, 0])[0] for r in results)
            count = sum(r["per_channel"].get(channel, [0, 0])[1] for r in results)
            per_channel[channel] = {
                "sent": sent[channel],
                "seconds": seconds,
                "per_second": count / seconds if seconds else None,
            }
        total_sent = sum(sent.values())
        queue_seconds = done - queue_started
        return {
            "servers": servers,
            "twilio": info.get("twilio"),
            "reminders": reminders[0],
            "sent": total_sent,
            "sent_per_channel": sent,
            "cancelled": sum(n for (_c, s), n in deliveries.items() if s == "cancelled"),
            "retrying": waiting,
            "failed": sum(n for (_c, s), n in deliveries.items() if s == "failed"),
            "dunning_s": dunning_s,
            "queue_s": queue_seconds,
            "total_s": dunning_s + queue_seconds,
            "per_second": total_sent / queue_seconds if queue_seconds > 0 else None,
            "per_channel": per_channel,
            "queue_peak_mib": max(r["queue_peak_mib"] for r in results),
            "rss_growth_mib": max(r["rss_growth_mib"] for r in results),
            "processed": [r["processed"] for r in results],
            "problems": problems,
        }


def format_results(results):
    lines = [""]
    one, two = results.get("one"), results.get("two")
    if one:
        lines.append(
            f"Sending (one server): {one['reminders']:,} reminders, {one['sent']:,} deliveries "
            f"sent in {one['queue_s']:.1f} s ({one['per_second'] or 0:.1f}/s; dunning run "
            f"{one['dunning_s']:.1f} s); queue peak memory +{one['queue_peak_mib']:.1f} MiB, "
            f"growth over the queue {one['rss_growth_mib']:.1f} MiB"
        )
        for channel, m in one["per_channel"].items():
            rate = f"{m['per_second']:.1f}/s" if m["per_second"] else "n/a"
            lines.append(
                f"  {channel:<9}{m['sent']:>7,} sent  {rate:>9} (time in the channel's "
                f"batches, by their share of each; truth check included)"
            )
        if one["per_second"]:
            projected = LARGE_DAILY / one["per_second"]
            verdict = "within" if projected <= TARGET_SECONDS else "over"
            lines.append(
                f"  {LARGE_DAILY:,} deliveries (the large book's day) at this rate: "
                f"{projected / 60:.1f} min ({verdict} the 15 min target)"
            )
        lines.append(
            f"  not sent: {one['cancelled']:,} cancelled (no valid address, nothing left to "
            f"claim), {one['retrying']:,} refused by the server and waiting for their next "
            f"attempt, {one['failed']:,} failed"
        )
        if one["problems"]:
            lines.append(f"  PROBLEMS: {'; '.join(one['problems'])}")
    if two:
        lines.append(
            f"Two servers: {two['reminders']:,} reminders, {two['sent']:,} deliveries sent in "
            f"{two['queue_s']:.1f} s ({two['per_second'] or 0:.1f}/s; dunning run "
            f"{two['dunning_s']:.1f} s; each server processed {two['processed']})"
        )
        if one and one["per_second"] and two["per_second"]:
            lines.append(
                f"  throughput two / one: sending {two['per_second'] / one['per_second']:.2f}, "
                f"whole day (run + queue) {one['total_s'] / two['total_s']:.2f}"
            )
            if two["per_second"]:
                lines.append(
                    f"  {LARGE_DAILY:,} deliveries on two servers: "
                    f"{LARGE_DAILY / two['per_second'] / 60:.1f} min"
                )
        if one and (two["reminders"] != one["reminders"] or two["sent"] != one["sent"]):
            two["problems"].append(
                f"{two['reminders']} reminders and {two['sent']} sent on two servers, "
                f"{one['reminders']} and {one['sent']} on one"
            )
        lines.append(
            "  exactly one reminder per customer and level, one message per delivery: "
            + ("yes" if not two["problems"] else "NO: " + "; ".join(two["problems"]))
        )
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog="dev/benchmark (sending)")
    parser.add_argument("--db", required=True)
    parser.add_argument("--only")
    parser.add_argument("--json")
    parser.add_argument(
        "--sending-customers",
        type=int,
        help="send the reminders of the first N customers only (default: every customer)",
    )
    args, _rest = parser.parse_known_args(argv)
    only = set(args.only.split(",")) if args.only else {"sending", "two_servers"}
    if not only & {"sending", "two_servers"}:
        return None
    conductor = Conductor(args)
    results = {}
    try:
        print("measuring sending (one server)...", flush=True)
        results["one"] = conductor.round(1)
        if "two_servers" in only:
            print("measuring sending (two servers)...", flush=True)
            results["two"] = conductor.round(2)
    finally:
        conductor.close()
    print(format_results(results))
    # The targets last, judged on the in-process measures (written by benchmark.py in
    # the JSON file) and on these.
    import targets  # next to this file: on the path when run as a program

    data = {}
    if args.json and os.path.exists(args.json):
        with open(args.json, encoding="utf-8") as existing:
            data = json.load(existing)
    data["sending"] = results
    data["targets"] = targets.judge(data)
    print(targets.format_targets(data["targets"], (data.get("book") or {}).get("customers")))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=2, default=str)
    failed = [r for r in results.values() if r["problems"]]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
