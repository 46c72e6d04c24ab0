import base64
import re
from datetime import timedelta
from urllib.parse import urlsplit

from lxml import html

from odoo import Command, fields
from odoo.exceptions import AccessError
from odoo.tests import HttpCase, tagged
from odoo.tools import mute_logger

from .common import TODAY, CollectionCommon, CollectionTourMixin, day, on_day


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionPortal(CollectionCommon, HttpCase):
    """The customer's statement of account on the portal, through real HTTP requests:
    who may see it (the customer's portal user, the holder of a reminder's link) and
    what the customer can answer from it (promise to pay, dispute, payment agreement
    request), with the checks a public form needs (CSRF, rate limit, bad input)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.customer.with_company(cls.company).collection_user_id = cls.collector
        # A contact of the customer has a portal account.
        cls.portal_user = cls.make_user("portal_acme", "base.group_portal", name="Paula Portal")
        cls.portal_user.partner_id.parent_id = cls.customer
        # Acme's book: 1,000 due 45 days ago, 300 due 10 days ago, 400 due in 10 days,
        # and 150 received on account, not matched with any invoice yet.
        cls.inv_old = cls.invoice(cls.customer, 1000.0, day(-45))
        cls.inv_recent = cls.invoice(cls.customer, 300.0, day(-10))
        cls.inv_future = cls.invoice(cls.customer, 400.0, day(10))
        cls.customer_payment(cls.customer, 150.0)
        # Another customer, with its own invoice.
        cls.other = cls.env["res.partner"].create({"name": "Globex Other", "is_company": True})
        cls.other_invoice = cls.invoice(cls.other, 777.0, day(-20))

    # ------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------

    def token(self, partner, company=None):
        """The statement token of ``partner``, computed as the reminders' links do."""
        company = company or self.company
        return partner._collection_portal_token(company)

    def statement_path(self, partner=None, token=True):
        partner = partner or self.customer
        path = f"/my/collections/{partner.id}?company_id={self.company.id}"
        if token:
            path += f"&access_token={self.token(partner)}"
        return path

    def get_page(self, path, status=200):
        response = self.url_open(path, allow_redirects=False)
        self.assertEqual(response.status_code, status, response.text[:2000])
        return html.fromstring(response.content)

    def csrf_token(self, page):
        [token] = page.xpath(
            "//form[hasclass('o_collection_promise_form')]//input[@name='csrf_token']/@value"
        )
        return token

    def post(self, kind, data, page=None, partner=None, files=None):
        """Submit the statement's ``kind`` form as the browser does: with the CSRF token
        and the hidden fields of the page."""
        partner = partner or self.customer
        page = page if page is not None else self.get_page(self.statement_path(partner))
        form = page.xpath(f"//form[hasclass('o_collection_{kind}_form')]")[0]
        hidden = {i.get("name"): i.get("value") for i in form.xpath(".//input[@type='hidden']")}
        self.assertEqual(form.get("action"), f"/my/collections/{partner.id}/{kind}")
        return self.url_open(
            form.get("action"), data={**hidden, **data}, files=files, allow_redirects=False
        )

    def assertRefused(self, response, message):
        """The form comes back with ``message`` in its error box, nothing redirected."""
        self.assertEqual(response.status_code, 400)
        page = html.fromstring(response.content)
        errors = [
            e.text_content().strip() for e in page.xpath("//*[hasclass('o_collection_error')]")
        ]
        self.assertEqual(len(errors), 1, errors)
        self.assertIn(message, errors[0])

    def assertDone(self, response, kind):
        self.assertEqual(response.status_code, 303, response.text[:2000])
        location = urlsplit(response.headers["Location"])
        self.assertEqual(location.path, f"/my/collections/{self.customer.id}")
        self.assertIn(f"done={kind}", location.query)
        page = self.get_page(location.path + "?" + location.query)
        self.assertTrue(page.xpath("//*[hasclass('o_collection_done')]"))
        return page

    def texts(self, page, xpath):
        """The texts of the elements, as a reader sees them (one space between words)."""
        return [
            re.sub(r"\s+", " ", e.text_content().replace("\ufeff", "")).strip()
            for e in page.xpath(xpath)
        ]

    def invoice_status(self, page, invoice):
        """The status badges of ``invoice``'s row."""
        row = self.invoice_row(page, invoice)
        return self.texts(row, ".//td[hasclass('o_collection_invoice_status')]")[0]

    def invoice_row(self, page, invoice):
        rows = page.xpath(
            f"//tr[hasclass('o_collection_invoice')][@data-invoice-id='{invoice.id}']"
        )
        self.assertEqual(len(rows), 1, f"one row for {invoice.name}")
        return rows[0]

    def promises(self, partner=None):
        partner = partner or self.customer
        return self.env["collection.promise"].search([("partner_id", "=", partner.id)])

    def disputes(self):
        return self.env["collection.dispute"].search([("partner_id", "=", self.customer.id)])

    def agreements(self):
        return self.env["collection.agreement"].search([("partner_id", "=", self.customer.id)])

    def portal_interactions(self):
        return self.env["collection.interaction"].search(
            [("partner_id", "=", self.customer.id), ("channel", "=", "portal")]
        )

    def customer_notes(self, title):
        return self.customer.message_ids.filtered(lambda m: title in (m.body or ""))

    # ------------------------------------------------------------------
    # Seeing the statement
    # ------------------------------------------------------------------

    def test_statement_as_portal_user(self):
        self.authenticate(self.portal_user.login, self.portal_user.login)

        home = self.get_page("/my/home")
        self.assertTrue(
            home.xpath("//a[@href='/my/collections']"), "the portal home links to the statement"
        )

        page = self.get_page("/my/collections")
        self.assertEqual(
            self.texts(page, "//*[hasclass('o_collection_partner')]"), ["Acme Customer"]
        )
        # 1,000 + 300 + 400 - 150 received on account; 1,300 overdue, the oldest 45 days.
        [due] = self.texts(page, "//*[hasclass('o_collection_due_amount')]")
        self.assertIn("1,550.00", due)
        [overdue] = self.texts(page, "//*[hasclass('o_collection_overdue_amount')]")
        self.assertIn("1,300.00", overdue)
        self.assertEqual(
            self.texts(page, "//*[hasclass('o_collection_days_overdue')]"), ["45 days"]
        )

        # Aging with the company's buckets: the 400 not due yet less the 150 received
        # today, 300 in 1-30 days, 1,000 in 31-60 days.
        aging = page.xpath("//table[hasclass('o_collection_aging')]")[0]
        self.assertEqual(
            self.texts(aging, ".//th"),
            [
                "Not due",
                "1-30 days",
                "31-60 days",
                "61-90 days",
                "91-120 days",
                "Over 120 days",
                "Total",
            ],
        )
        amounts = self.texts(aging, ".//tbody//td")
        self.assertEqual(
            [re.sub(r"[^\d.,]", "", a) for a in amounts],
            ["250.00", "300.00", "1,000.00", "0.00", "0.00", "0.00", "1,550.00"],
        )

        # The open invoices, oldest first, with their days overdue and a link to each
        # invoice's own portal page; the other customer's invoice is not there.
        rows = page.xpath("//tr[hasclass('o_collection_invoice')]")
        self.assertEqual(
            [int(r.get("data-invoice-id")) for r in rows],
            [self.inv_old.id, self.inv_recent.id, self.inv_future.id],
        )
        self.assertEqual(
            self.texts(page, "//td[hasclass('o_collection_invoice_days')]"), ["45", "10", "0"]
        )
        self.assertIn("Overdue", self.invoice_status(page, self.inv_old))
        self.assertIn("Not due yet", self.invoice_status(page, self.inv_future))
        [link] = self.invoice_row(page, self.inv_old).xpath(
            ".//a[hasclass('o_collection_invoice_link')]/@href"
        )
        self.assertEqual(
            link, f"/my/invoices/{self.inv_old.id}?access_token={self.inv_old.access_token}"
        )
        self.assertNotIn(self.other_invoice.name, page.text_content())
        # The portal user reads the statement without any access to the collection
        # records themselves.
        for model in ("collection.promise", "collection.interaction", "collection.dispute"):
            self.assertFalse(self.env[model].with_user(self.portal_user).has_access("read"))
        # No payment provider is set up: no online payment button.
        self.assertFalse(page.xpath("//a[hasclass('o_collection_pay')]"))
        [unapplied] = self.texts(page, "//tr[hasclass('o_collection_unapplied')]")
        self.assertIn("-150.00", unapplied)

        # The invoice link opens the invoice on the portal.
        response = self.url_open(link)
        self.assertEqual(response.status_code, 200)
        self.assertIn(self.inv_old.name, response.text)

    def test_statement_through_reminder_link_without_login(self):
        communication = self.make_reminder(self.inv_old, TODAY)
        url = urlsplit(communication.portal_url)
        self.assertEqual(
            f"{url.path}?{url.query}",
            f"/my/collections/{self.customer.id}?company_id={self.company.id}"
            f"&access_token={self.token(self.customer)}",
        )

        page = self.get_page(f"{url.path}?{url.query}")
        self.assertEqual(
            self.texts(page, "//*[hasclass('o_collection_partner')]"), ["Acme Customer"]
        )
        self.assertEqual(len(page.xpath("//tr[hasclass('o_collection_invoice')]")), 3)
        self.assertNotIn(self.other_invoice.name, page.text_content())
        # Every form carries the token, so that the visitor can answer without a login.
        for form in page.xpath("//form"):
            self.assertEqual(
                form.xpath(".//input[@name='access_token']/@value"), [self.token(self.customer)]
            )

        # Without the token, the page asks to log in.
        response = self.url_open(self.statement_path(token=False), allow_redirects=False)
        self.assertEqual(response.status_code, 303)
        self.assertTrue(response.headers["Location"].startswith("/web/login?redirect="))

    @mute_logger("odoo.http")
    def test_other_customer_token_refused(self):
        other_token = self.token(self.other)
        other_company = self.env["res.company"].create({"name": "Other Company"})
        refused = {
            "Globex's token on Acme's statement": f"/my/collections/{self.customer.id}"
            f"?company_id={self.company.id}&access_token={other_token}",
            "Acme's token on Globex's statement": f"/my/collections/{self.other.id}"
            f"?company_id={self.company.id}&access_token={self.token(self.customer)}",
            "Acme's token with another company": f"/my/collections/{self.customer.id}"
            f"?company_id={other_company.id}&access_token={self.token(self.customer)}",
            "a made-up token": f"/my/collections/{self.customer.id}"
            f"?company_id={self.company.id}&access_token={'0' * 64}",
        }
        for what, path in refused.items():
            with self.subTest(what):
                response = self.url_open(path, allow_redirects=False)
                self.assertEqual(response.status_code, 403)
                self.assertNotIn("Acme Customer", response.text)
                self.assertNotIn(self.other_invoice.name, response.text)

        # A contact of Acme logged in sees Acme's statement only.
        self.authenticate(self.portal_user.login, self.portal_user.login)
        response = self.url_open(
            self.statement_path(self.other, token=False), allow_redirects=False
        )
        self.assertEqual(response.status_code, 403)
        self.assertNotIn(self.other_invoice.name, response.text)
        # A form posted for Globex with Acme's session is refused too.
        page = self.get_page(self.statement_path(token=False))
        response = self.url_open(
            f"/my/collections/{self.other.id}/promise",
            data={"csrf_token": self.csrf_token(page), "amount": "100", "date": str(day(5))},
            allow_redirects=False,
        )
        self.assertEqual(response.status_code, 403)
        self.assertFalse(self.promises(self.other))

    @mute_logger("odoo.http")
    def test_form_without_csrf_token_refused(self):
        data = {
            "company_id": self.company.id,
            "access_token": self.token(self.customer),
            "amount": "500",
            "date": str(day(7)),
        }
        # A page of another site posting to the statement has no CSRF token.
        response = self.url_open(f"/my/collections/{self.customer.id}/promise", data=data)
        self.assertEqual(response.status_code, 400)
        self.assertIn("invalid CSRF token", response.text)
        # A token of another session does not pass either.
        page = self.get_page(self.statement_path())
        token = self.csrf_token(page)
        self.opener.cookies.clear()
        response = self.url_open(
            f"/my/collections/{self.customer.id}/promise", data={**data, "csrf_token": token}
        )
        self.assertEqual(response.status_code, 400)
        self.assertIn("invalid CSRF token", response.text)
        self.assertFalse(self.promises())
        self.assertFalse(self.portal_interactions())

    @mute_logger("odoo.http")
    def test_statement_links_expire_and_can_be_revoked(self):
        """A reminder's link opens the statement for the company's validity (90 days by
        default) after the reminder's day, then says it expired; a collection manager
        revokes a customer's links at once; neither shows the customer's statement."""
        reminder = self.make_reminder(self.inv_old, day(-10))
        url = urlsplit(reminder.portal_url)
        link = f"{url.path}?{url.query}"

        def opened_on(offset, path=link):
            with on_day(day(offset)):
                return self.url_open(path, allow_redirects=False)

        # Valid 90 days after the reminder's day, whenever the customer opens it.
        self.assertEqual(opened_on(80).status_code, 200)
        response = opened_on(81)
        self.assertEqual(response.status_code, 403)
        page = html.fromstring(response.content)
        self.assertEqual(
            self.texts(page, "//*[hasclass('o_collection_link_refused')]//h4"),
            ["This link has expired"],
        )
        self.assertNotIn("Acme Customer", response.text)
        # The validity is a setting.
        self.company.collection_portal_link_days = 120
        self.assertEqual(opened_on(0, self.statement_path()).status_code, 200)

        # A collector cannot revoke the links; a collection manager can.
        with self.assertRaises(AccessError):
            self.customer.with_user(self.collector).action_collection_revoke_portal_links()
        fresh = self.statement_path()
        self.assertEqual(opened_on(0, fresh).status_code, 200)
        self.customer.with_user(self.collection_manager).action_collection_revoke_portal_links()
        for path in (link, fresh):
            response = opened_on(0, path)
            self.assertEqual(response.status_code, 403)
            page = html.fromstring(response.content)
            self.assertEqual(
                self.texts(page, "//*[hasclass('o_collection_link_refused')]//h4"),
                ["This link does not open a statement"],
            )
            self.assertNotIn("Acme Customer", response.text)
        # The next links work.
        self.assertEqual(opened_on(0, self.statement_path()).status_code, 200)
        self.assertTrue(self.customer_notes("Statement links revoked"))

    # ------------------------------------------------------------------
    # Promise to pay
    # ------------------------------------------------------------------

    def test_promise_from_portal(self):
        response = self.post(
            "promise",
            {
                "amount": "800",
                "date": str(day(7)),
                "move_ids": [str(self.inv_old.id)],
                "message": "We pay next Monday.",
            },
        )
        page = self.assertDone(response, "promise")

        promise = self.promises()
        self.assertRecordValues(
            promise,
            [
                {
                    "company_id": self.company.id,
                    "amount": 800.0,
                    "date": day(7),
                    "date_made": TODAY,
                    "move_ids": self.inv_old.ids,
                    "state": "open",
                    "user_id": self.collector.id,
                    "note": "We pay next Monday.",
                }
            ],
        )
        self.assertRecordValues(
            self.portal_interactions(),
            [
                {
                    "outcome": "promise",
                    "promise_id": promise.id,
                    "move_ids": self.inv_old.ids,
                    "user_id": False,
                    "automatic": False,
                    "status_before": "current",
                    "status_after": "paying",
                    "overdue_amount": 1300.0,
                    "days_overdue": 45,
                    "note": "We pay next Monday.",
                }
            ],
        )
        self.assertEqual(self.customer.with_company(self.company).collection_status, "paying")
        # The customer's chatter: a note written by the customer, sent to the collector.
        [note] = self.customer_notes("Promise to pay made on the customer portal")
        self.assertEqual(note.author_id, self.customer)
        self.assertIn("800.00", note.body)
        self.assertIn(self.inv_old.name, note.body)
        self.assertIn("We pay next Monday.", note.body)
        self.assertEqual(note.notified_partner_ids, self.collector.partner_id)

        # The statement lists the promise and marks the invoice promised.
        [row] = page.xpath("//table[hasclass('o_collection_promises')]/tbody/tr")
        self.assertIn(self.inv_old.name, row.text_content())
        self.assertIn("800.00", row.text_content())
        self.assertIn("Promised", self.invoice_status(page, self.inv_old))

    def test_promise_rate_limit(self):
        for offset in (3, 5, 7):
            self.assertDone(
                self.post("promise", {"amount": "100", "date": str(day(offset))}), "promise"
            )
        response = self.post("promise", {"amount": "100", "date": str(day(9))})
        self.assertRefused(response, "You have already made 3 promises to pay today.")
        self.assertEqual(len(self.promises()), 3)
        self.assertEqual(len(self.portal_interactions()), 3)
        # What the customer typed is kept in the form, to send it later or elsewhere.
        page = html.fromstring(response.content)
        self.assertEqual(page.xpath("//input[@id='promise_amount']/@value"), ["100"])

    def test_promise_bad_input_creates_nothing(self):
        cases = {
            "amount zero": (
                {"amount": "0", "date": str(day(7))},
                "The promised amount must be greater than zero.",
            ),
            "amount not a number": (
                {"amount": "a lot", "date": str(day(7))},
                "Enter the amount you will pay, as a number.",
            ),
            "date in the past": (
                {"amount": "500", "date": str(day(-1))},
                "is in the past: a customer promises to pay today or later.",
            ),
            "no date": ({"amount": "500", "date": ""}, "Enter the date you will pay by."),
            "another customer's invoice": (
                {"amount": "500", "date": str(day(7)), "move_ids": [str(self.other_invoice.id)]},
                "Choose the invoices among your open invoices.",
            ),
            "an invoice id that does not exist": (
                {"amount": "500", "date": str(day(7)), "move_ids": ["999999999"]},
                "Choose the invoices among your open invoices.",
            ),
        }
        messages_before = len(self.customer.message_ids)
        for what, (data, message) in cases.items():
            with self.subTest(what):
                response = self.post("promise", data)
                self.assertRefused(response, message)
                # Another customer's invoice is never named to this one.
                self.assertNotIn(self.other_invoice.name, response.text)
        self.assertFalse(self.promises())
        self.assertFalse(self.portal_interactions())
        self.assertEqual(len(self.customer.message_ids), messages_before)
        self.assertEqual(self.customer.with_company(self.company).collection_status, "current")

    def test_promise_at_the_end_of_the_calendar_refused(self):
        """A customer types a date at the end of the calendar: the promise is refused
        with the longest promise the company accepts, and the accountant can still
        register payments on the invoice."""
        page = self.get_page(self.statement_path())
        # The form offers no later date than the longest promise (90 days by default).
        self.assertEqual(page.xpath("//input[@id='promise_date']/@max"), [str(day(90))])
        for date in ("9999-12-31", str(day(91))):
            with self.subTest(date):
                response = self.post(
                    "promise",
                    {"amount": "100", "date": date, "move_ids": [str(self.inv_old.id)]},
                    page=page,
                )
                self.assertRefused(response, f"promise to pay by {day(90):%m/%d/%Y} at the latest.")
        self.assertFalse(self.promises())
        self.assertFalse(self.portal_interactions())
        self.assertDone(
            self.post(
                "promise",
                {"amount": "100", "date": str(day(90)), "move_ids": [str(self.inv_old.id)]},
            ),
            "promise",
        )
        self.pay(self.inv_old, 40.0)
        self.assertRecordValues(self.promises(), [{"state": "open", "amount_paid": 40.0}])

    @mute_logger("odoo.http")
    def test_promise_amount_not_finite_refused(self):
        """Amounts Python reads as numbers but are none (not a number, infinite, too
        large) are refused with the form's message, not a server error."""
        for amount in ("nan", "NaN", "inf", "-inf", "Infinity", "1e309"):
            with self.subTest(amount):
                response = self.post("promise", {"amount": amount, "date": str(day(7))})
                self.assertRefused(response, "Enter the amount you will pay, as a number.")
        self.assertFalse(self.promises())
        self.assertFalse(self.portal_interactions())

    # ------------------------------------------------------------------
    # Dispute
    # ------------------------------------------------------------------

    def test_dispute_from_portal(self):
        reason = self.env.ref("account_collection.collection_dispute_reason_duplicate")
        self.authenticate(self.portal_user.login, self.portal_user.login)
        page = self.get_page(self.statement_path(token=False))
        # The reasons offered are the configured ones.
        self.assertIn("Duplicate invoice", self.texts(page, "//select[@name='reason_id']/option"))
        response = self.post(
            "dispute",
            {
                "move_id": str(self.inv_recent.id),
                "reason_id": str(reason.id),
                "message": "This invoice repeats the one of last month.",
            },
            page=page,
            files={"attachments": ("order.pdf", b"%PDF-1.4 order 42", "application/pdf")},
        )
        page = self.assertDone(response, "dispute")

        dispute = self.disputes()
        self.assertRecordValues(
            dispute,
            [
                {
                    "move_ids": self.inv_recent.ids,
                    "reason_id": reason.id,
                    "description": "This invoice repeats the one of last month.",
                    "source": "portal",
                    "state": "open",
                    # "Duplicate invoice" goes to the customer's collector.
                    "user_id": self.collector.id,
                }
            ],
        )
        attachment = dispute.message_ids.attachment_ids
        self.assertEqual(attachment.mapped("name"), ["order.pdf"])
        self.assertEqual(attachment.raw, b"%PDF-1.4 order 42")
        self.assertEqual(dispute.activity_ids.user_id, self.collector)
        self.assertRecordValues(
            self.portal_interactions(),
            [{"outcome": "dispute", "move_ids": self.inv_recent.ids, "user_id": False}],
        )
        self.assertEqual(self.customer.with_company(self.company).collection_status, "dispute")
        [note] = self.customer_notes("Invoice disputed on the customer portal")
        self.assertEqual(note.author_id, self.portal_user.partner_id)
        self.assertIn("Duplicate invoice", note.body)
        self.assertIn(self.collector.partner_id, note.notified_partner_ids)

        # The statement shows the dispute and no longer offers to dispute that invoice.
        [row] = page.xpath("//tr[hasclass('o_collection_dispute')]")
        self.assertIn(self.inv_recent.name, row.text_content())
        self.assertIn("In dispute", self.invoice_status(page, self.inv_recent))
        self.assertNotIn(
            str(self.inv_recent.id), page.xpath("//select[@name='move_id']/option/@value")
        )
        # Posted again anyway (an old page), it is refused: one open dispute per invoice.
        response = self.post(
            "dispute",
            {"move_id": str(self.inv_recent.id), "reason_id": str(reason.id), "message": "Again"},
            page=page,
        )
        self.assertRefused(response, "is already in dispute: we are looking into it.")
        self.assertEqual(len(self.disputes()), 1)

    def test_dispute_message_stays_text(self):
        """What the customer writes reaches the responsible as text: markup typed in
        the message shows as typed, no remote image loads, no link is offered."""
        reason = self.env.ref("account_collection.collection_dispute_reason_duplicate")
        message = (
            '<img src="https://attacker.example/pixel.png"/>'
            '<a href="https://attacker.example/pay">Pay here</a>\nSecond line'
        )
        response = self.post(
            "dispute",
            {"move_id": str(self.inv_old.id), "reason_id": str(reason.id), "message": message},
        )
        self.assertDone(response, "dispute")
        dispute = self.disputes()
        self.assertEqual(dispute.description, message)
        bodies = [("the responsible's activity", dispute.activity_ids.note)]
        bodies += [
            (f"the dispute's chatter: {m.subject or m.message_type}", m.body)
            for m in dispute.message_ids
            if "Second line" in (m.body or "")
        ]
        bodies += [
            ("the customer's chatter", m.body)
            for m in self.customer_notes("Invoice disputed on the customer portal")
        ]
        self.assertGreaterEqual(len(bodies), 3)
        for where, body in bodies:
            with self.subTest(where):
                self.assertTrue(body)
                tree = html.fromstring(f"<div>{body}</div>")
                self.assertFalse(
                    tree.xpath(
                        "//img[contains(@src, 'attacker')] | //a[contains(@href, 'attacker')]"
                    ),
                    body,
                )
                self.assertIn(
                    '<img src="https://attacker.example/pixel.png"/>', tree.text_content()
                )

    def test_dispute_bad_input_creates_nothing(self):
        reason = self.env.ref("account_collection.collection_dispute_reason_duplicate")
        cases = {
            "no invoice": (
                {"reason_id": str(reason.id), "message": "Wrong"},
                "Choose at least one invoice.",
            ),
            "an invoice that is not a number": (
                {"move_id": "INV/1", "reason_id": str(reason.id), "message": "Wrong"},
                "Choose the invoices among your open invoices.",
            ),
            "another customer's invoice": (
                {
                    "move_id": str(self.other_invoice.id),
                    "reason_id": str(reason.id),
                    "message": "Wrong",
                },
                "Choose the invoices among your open invoices.",
            ),
            "no reason": (
                {"move_id": str(self.inv_old.id), "message": "Wrong"},
                "Choose one of the reasons offered.",
            ),
            "no message": (
                {"move_id": str(self.inv_old.id), "reason_id": str(reason.id), "message": " "},
                "Tell us what is wrong with the invoice.",
            ),
        }
        for what, (data, message) in cases.items():
            with self.subTest(what):
                self.assertRefused(self.post("dispute", data), message)
        self.assertFalse(self.disputes())
        self.assertFalse(self.portal_interactions())
        self.assertEqual(self.customer.with_company(self.company).collection_status, "current")

    # ------------------------------------------------------------------
    # Payment agreement
    # ------------------------------------------------------------------

    def test_agreement_request_from_portal(self):
        response = self.post(
            "agreement",
            {
                "move_ids": [str(self.inv_old.id), str(self.inv_recent.id)],
                "instalment_count": "3",
                "message": "Three months, please.",
            },
        )
        page = self.assertDone(response, "agreement")

        agreement = self.agreements()
        self.assertRecordValues(
            agreement,
            [
                {
                    "origin": "portal",
                    "state": "draft",
                    "move_ids": (self.inv_old | self.inv_recent).ids,
                    "amount": 1300.0,
                    "instalment_count": 3,
                    "request_message": "Three months, please.",
                    "user_id": self.collector.id,
                }
            ],
        )
        self.assertEqual(agreement.instalment_ids.mapped("amount"), [433.33, 433.33, 433.34])
        self.assertEqual(agreement.activity_ids.user_id, self.collector)
        [interaction] = self.portal_interactions()
        self.assertEqual(interaction.move_ids, self.inv_old | self.inv_recent)
        self.assertFalse(interaction.user_id)
        [note] = self.customer_notes("Payment agreement asked for on the customer portal")
        self.assertEqual(note.author_id, self.customer)
        self.assertIn("Three months, please.", note.body)
        self.assertEqual(note.notified_partner_ids, self.collector.partner_id)
        # The statement shows the request being reviewed.
        [state] = self.texts(page, "//td[hasclass('o_collection_agreement_state')]")
        self.assertEqual(state, "We are preparing a proposal")

        # Asking again for the same invoices while the request is reviewed is refused.
        response = self.post(
            "agreement", {"move_ids": [str(self.inv_old.id)], "instalment_count": "2"}
        )
        self.assertRefused(response, "already in a payment agreement or a request being reviewed")
        self.assertEqual(len(self.agreements()), 1)

    @mute_logger("odoo.http")
    def test_agreement_accepted_from_portal(self):
        """The collector proposes an agreement; the customer gets its PDF and accepts it
        on the statement: it starts at once (no approval is needed in this company)."""
        agreement = self.env["collection.agreement"].create(
            {
                "partner_id": self.customer.id,
                "company_id": self.company.id,
                "user_id": self.collector.id,
                "move_ids": [Command.set(self.inv_old.ids)],
                "instalment_count": 2,
                "date_first": day(30),
            }
        )
        agreement.action_propose()

        # The agreement's own link (sent with it by email) leads to the statement.
        response = self.url_open(
            f"/my/agreements/{agreement.id}?access_token={agreement.access_token}",
            allow_redirects=False,
        )
        self.assertEqual(response.status_code, 303)
        self.assertEqual(
            response.headers["Location"], self.statement_path() + "#collection_agreements"
        )
        page = self.get_page(self.statement_path())
        [row] = page.xpath("//tr[hasclass('o_collection_agreement')]")
        self.assertIn("Waiting for your acceptance", row.text_content())
        self.assertIn("500.00", row.text_content())
        [pdf_link] = row.xpath(".//a[hasclass('o_collection_agreement_pdf')]/@href")
        response = self.url_open(pdf_link)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(response.headers["Content-Type"], "application/pdf")
        # (Under tests Odoo renders reports as HTML instead of calling wkhtmltopdf.)
        self.assertIn(agreement.name, response.text)
        self.assertIn("Acme Customer", response.text)
        # Another customer's statement token does not open this agreement's PDF.
        response = self.url_open(
            f"/my/collections/{self.other.id}/agreement/{agreement.id}/pdf"
            f"?company_id={self.company.id}&access_token={self.token(self.other)}"
        )
        self.assertEqual(response.status_code, 404)

        form = row.xpath(".//form[hasclass('o_collection_accept_form')]")[0]
        hidden = {i.get("name"): i.get("value") for i in form.xpath(".//input[@type='hidden']")}
        response = self.url_open(
            form.get("action"), data={**hidden, "signed_by": " "}, allow_redirects=False
        )
        self.assertRefused(response, "Type your name to accept the agreement.")
        self.assertEqual(agreement.state, "proposed")

        response = self.url_open(
            form.get("action"), data={**hidden, "signed_by": "Paula Portal"}, allow_redirects=False
        )
        page = self.assertDone(response, "accepted")
        self.assertRecordValues(agreement, [{"state": "active", "signed_by": "Paula Portal"}])
        [state] = self.texts(page, "//td[hasclass('o_collection_agreement_state')]")
        self.assertEqual(state, "Running")
        self.assertIn("In payment agreement", self.invoice_status(page, self.inv_old))

    def test_agreement_accepted_once(self):
        """An agreement that awaits a collection manager's approval is accepted once:
        the statement says so, and posting the acceptance again is refused."""
        self.company.collection_agreement_approval_amount = 100.0
        agreement = self.env["collection.agreement"].create(
            {
                "partner_id": self.customer.id,
                "company_id": self.company.id,
                "user_id": self.collector.id,
                "move_ids": [Command.set(self.inv_old.ids)],
                "instalment_count": 2,
                "date_first": day(30),
            }
        )
        agreement.action_propose()
        page = self.get_page(self.statement_path())
        [row] = page.xpath("//tr[hasclass('o_collection_agreement')]")
        form = row.xpath(".//form[hasclass('o_collection_accept_form')]")[0]
        hidden = {i.get("name"): i.get("value") for i in form.xpath(".//input[@type='hidden']")}
        data = {**hidden, "signed_by": "Paula Portal"}
        page = self.assertDone(
            self.url_open(form.get("action"), data=data, allow_redirects=False), "accepted"
        )
        self.assertRecordValues(agreement, [{"state": "proposed", "signed_by": "Paula Portal"}])
        [state] = self.texts(page, "//td[hasclass('o_collection_agreement_state')]")
        self.assertEqual(state, "Accepted, awaiting our approval")
        self.assertFalse(page.xpath("//form[hasclass('o_collection_accept_form')]"))
        interactions = len(self.portal_interactions())
        messages = len(agreement.message_ids)
        activities = len(agreement.activity_ids)
        for name in ("Paula Portal", "Someone Else"):
            with self.subTest(name):
                response = self.url_open(
                    form.get("action"), data={**data, "signed_by": name}, allow_redirects=False
                )
                self.assertRefused(response, "You already accepted this agreement")
        self.assertRecordValues(agreement, [{"state": "proposed", "signed_by": "Paula Portal"}])
        self.assertEqual(len(self.portal_interactions()), interactions)
        self.assertEqual(len(agreement.message_ids), messages)
        self.assertEqual(len(agreement.activity_ids), activities)

    def test_promise_limit_counts_the_customer_posts_only(self):
        """Interactions a collector logs with the channel Portal do not use up the
        customer's three promises a day."""
        for _index in range(3):
            self.env["collection.interaction"].with_user(self.collector).create(
                {
                    "partner_id": self.customer.id,
                    "company_id": self.company.id,
                    "channel": "portal",
                    "outcome": "promise",
                    "user_id": False,
                    "note": "Logged by hand",
                }
            )
        self.assertDone(self.post("promise", {"amount": "100", "date": str(day(3))}), "promise")
        self.assertEqual(len(self.promises()), 1)

    def test_dispute_documents_and_images_only(self):
        """Files attached to a dispute are documents and images, by their content: a web
        page or a program is refused, whatever its name."""
        reason = self.env.ref("account_collection.collection_dispute_reason_duplicate")
        page_html = b"<html><script>alert(document.cookie)</script></html>"
        refused = {
            "a web page": ("order.html", page_html, "text/html"),
            "a web page named as a PDF": ("order.pdf", page_html, "application/pdf"),
            "an SVG image (scripts)": (
                "logo.svg",
                b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
                "image/svg+xml",
            ),
            "a program named as a text": ("notes.txt", b"MZ\x90\x00\x03\x00\x00\x00", "text/plain"),
            "no extension": ("order", b"%PDF-1.4 order 42", "application/pdf"),
        }
        data = {"move_id": str(self.inv_old.id), "reason_id": str(reason.id), "message": "Wrong"}
        for what, upload in refused.items():
            with self.subTest(what):
                response = self.post("dispute", data, files={"attachments": upload})
                self.assertRefused(response, f"{upload[0]} is not a file we accept")
        self.assertFalse(self.disputes())
        self.assertFalse(self.env["ir.attachment"].search([("name", "=", "order.html")]))
        # A 1x1 pixel PNG.
        png = base64.b64decode(
            "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
        )
        files = [
            ("attachments", ("photo.png", png, "image/png")),
            ("attachments", ("prices.csv", b"item,price\nbolt,10\n", "text/csv")),
            ("attachments", ("order.PDF", b"%PDF-1.4 order 42", "application/pdf")),
        ]
        self.assertDone(self.post("dispute", data, files=files), "dispute")
        self.assertEqual(
            sorted(self.disputes().message_ids.attachment_ids.mapped("name")),
            ["order.PDF", "photo.png", "prices.csv"],
        )

    def test_agreement_request_bad_input_creates_nothing(self):
        cases = {
            "no invoice": ({"instalment_count": "3"}, "Choose at least one invoice."),
            "no instalment": (
                {"move_ids": [str(self.inv_old.id)], "instalment_count": "0"},
                "Ask for between 1 and 24 instalments.",
            ),
            "another customer's invoice": (
                {"move_ids": [str(self.other_invoice.id)], "instalment_count": "3"},
                "Choose the invoices among your open invoices.",
            ),
        }
        for what, (data, message) in cases.items():
            with self.subTest(what):
                self.assertRefused(self.post("agreement", data), message)
        self.assertFalse(self.agreements())
        self.assertFalse(self.portal_interactions())


@tagged("post_install", "-at_install")
class TestCollectionPortalTour(CollectionTourMixin, CollectionCommon, HttpCase):
    """A customer's contact, logged in on the portal, opens the link of a reminder,
    disputes one invoice and promises to pay another."""

    def setUp(self):
        super().setUp()
        self.customer.with_company(self.company).collection_user_id = self.collector
        self.portal_user = self.make_user("portal_acme", "base.group_portal", name="Paula Portal")
        self.portal_user.partner_id.parent_id = self.customer
        # The browser runs on the real date: build the book around it.
        self.real_today = fields.Date.context_today(self.customer.with_user(self.portal_user))
        self.inv_big = self.invoice(self.customer, 1000.0, self.real_today - timedelta(days=30))
        self.inv_small = self.invoice(self.customer, 300.0, self.real_today - timedelta(days=15))
        self.reminder = self.make_reminder(self.inv_big | self.inv_small, self.real_today, delay=15)

    def test_customer_disputes_and_promises_from_reminder_link(self):
        link = urlsplit(self.reminder.portal_url)
        self.start_tour(
            f"{link.path}?{link.query}", "collection_portal_tour", login=self.portal_user.login
        )

        self.env.invalidate_all()
        dispute = self.env["collection.dispute"].search([("partner_id", "=", self.customer.id)])
        self.assertRecordValues(
            dispute,
            [
                {
                    "move_ids": self.inv_small.ids,
                    "reason_id": self.env.ref(
                        "account_collection.collection_dispute_reason_not_received"
                    ).id,
                    "description": "The goods of this invoice never arrived.",
                    "source": "portal",
                    "state": "open",
                }
            ],
        )
        promise = self.env["collection.promise"].search([("partner_id", "=", self.customer.id)])
        self.assertRecordValues(
            promise,
            [
                {
                    "amount": 1000.0,
                    "date": self.real_today + timedelta(days=7),
                    "move_ids": self.inv_big.ids,
                    "state": "open",
                    "user_id": self.collector.id,
                }
            ],
        )
        interactions = self.env["collection.interaction"].search(
            [("partner_id", "=", self.customer.id)], order="id"
        )
        self.assertRecordValues(
            interactions,
            [
                {
                    "channel": "portal",
                    "outcome": "dispute",
                    "move_ids": self.inv_small.ids,
                    "promise_id": False,
                },
                {
                    "channel": "portal",
                    "outcome": "promise",
                    "move_ids": self.inv_big.ids,
                    "promise_id": promise.id,
                },
            ],
        )
        # The customer's chatter has both requests, written by the contact who made them,
        # and the collector was notified of each.
        for title in (
            "Invoice disputed on the customer portal",
            "Promise to pay made on the customer portal",
        ):
            [note] = self.customer.message_ids.filtered(lambda m, t=title: t in m.body)
            self.assertEqual(note.author_id, self.portal_user.partner_id)
            self.assertIn(self.collector.partner_id, note.notified_partner_ids)
