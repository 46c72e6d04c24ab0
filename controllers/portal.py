from urllib.parse import urlencode

from werkzeug.exceptions import Forbidden, NotFound

from odoo import fields, http
from odoo.exceptions import UserError, ValidationError
from odoo.http import request
from odoo.tools import consteq
from odoo.tools.mimetypes import guess_mimetype

from odoo.addons.portal.controllers.portal import CustomerPortal

from ..models.collection_case_mixin import DISPUTE_OPEN_STATES, OPEN_PAYMENT_STATES, days_after

# Files a customer may attach to a dispute, and the largest one.
MAX_ATTACHMENTS = 5
MAX_ATTACHMENT_SIZE = 10 * 1024 * 1024
# The documents and images a customer may attach to a dispute: by extension, the
# types its content may be guessed as (guess_mimetype).
OOXML = "application/vnd.openxmlformats-officedocument"
ATTACHMENT_TYPES = {
    "pdf": {"application/pdf"},
    "png": {"image/png"},
    "jpg": {"image/jpeg"},
    "jpeg": {"image/jpeg"},
    "gif": {"image/gif"},
    "webp": {"image/webp"},
    "doc": {"application/msword"},
    "docx": {f"{OOXML}.wordprocessingml.document"},
    "xls": {"application/vnd.ms-excel"},
    "xlsx": {f"{OOXML}.spreadsheetml.sheet"},
    "odt": {"application/vnd.oasis.opendocument.text"},
    "ods": {"application/vnd.oasis.opendocument.spreadsheet"},
    "txt": {"text/plain"},
    "csv": {"text/plain", "text/csv"},
}
# A message typed on the statement: its longest text, and how many a customer sends a day.
MAX_MESSAGE_LENGTH = 4000
MAX_MESSAGES_PER_DAY = 10
# Invoices listed on the statement: the customer's open invoices and receipts.
OPEN_INVOICE_DOMAIN = [
    ("move_type", "in", ("out_invoice", "out_receipt")),
    ("state", "=", "posted"),
    ("payment_state", "in", OPEN_PAYMENT_STATES),
]
# The forms of the statement: posted from the page, by its customer's portal user or
# the holder of its token (see CollectionPortal._collection_form_post).
FORM_ROUTE = {
    "type": "http",
    "auth": "public",
    "methods": ["POST"],
    "csrf": True,
    "website": True,
}


class CollectionLinkRefused(Forbidden):
    """A statement link that does not open the statement: expired, revoked or wrong."""

    def __init__(self, expired=False):
        super().__init__()
        self.expired = expired


class CollectionPortal(CustomerPortal):
    """The customer's statement of account on the portal, and what the customer can
    answer from it: a promise to pay, a dispute, a request for a payment agreement.

    Portal users and visitors have no access to the collection models. Every route
    first decides which customer the visitor may see (its own commercial partner when
    logged in, or the customer of a valid statement token) with
    _collection_check_access(), then reads and writes that customer's records with
    sudo(). The forms are answered through _collection_form_post(); what they create
    (promise, dispute, agreement request) is checked and logged by the models'
    ``_create_from_portal`` / ``_request_from_portal`` methods, which also tell the
    collector with collection.interaction._portal_notify()."""

    # ------------------------------------------------------------------
    # Access
    # ------------------------------------------------------------------

    def _collection_check_access(self, partner_id, access_token=None, company_id=None):
        """(partner_sudo, company) whose statement the visitor may see and answer: the
        customer in sudo mode and in the company's context, and the company (sudo).
        Every route of the statement starts here.

        - With an access token (the link of a reminder), the statement of the customer
          and company the token was made for, logged in or not.
        - Without one, a logged-in user's own commercial partner, in one of the
          user's companies.

        :raise NotFound: no such customer (or a contact, not a commercial partner), or
            no such company
        :raise Forbidden: a wrong token, a visitor without one, another customer's or
            another company's statement
        """
        # sudo: the customer is only handed back once the token, or the logged-in
        # user's commercial partner, is checked below.
        partner_sudo = request.env["res.partner"].sudo().browse(partner_id).exists()
        if not partner_sudo or partner_sudo != partner_sudo.commercial_partner_id:
            raise NotFound()
        company = request.env["res.company"].sudo()
        if company_id:
            try:
                company = company.browse(int(company_id)).exists()
            except ValueError:
                raise NotFound() from None
            if not company:
                raise NotFound()
        if access_token:
            state = company and partner_sudo._collection_portal_token_check(company, access_token)
            if state != "valid":
                # Expired, revoked or wrong: a page that says so, naming nobody.
                raise CollectionLinkRefused(expired=state == "expired")
            lang = request.env["res.lang"]._get_code(partner_sudo.lang)
            if request.env.user._is_public() and lang:
                # A reminder's link opens the statement in the customer's language.
                request.update_context(lang=lang)
        else:
            user = request.env.user
            if user._is_public() or user.partner_id.commercial_partner_id != partner_sudo:
                raise Forbidden()
            if not company:
                company = request.env.company
            elif company not in user.company_ids:
                raise Forbidden()
        return partner_sudo.with_company(company), company

    def _collection_agreement_sudo(self, partner_sudo, company, agreement_id, states=None):
        """The agreement ``agreement_id`` of the statement of ``partner_sudo`` in
        ``company`` (as checked by _collection_check_access), in sudo mode; only in one
        of ``states`` when given. Raise NotFound otherwise."""
        # sudo: only an agreement of the customer checked by _collection_check_access().
        agreement_sudo = request.env["collection.agreement"].sudo().browse(agreement_id).exists()
        if (
            agreement_sudo.partner_id != partner_sudo
            or agreement_sudo.company_id != company
            or (states and agreement_sudo.state not in states)
        ):
            raise NotFound()
        return agreement_sudo

    def _collection_link_refused_page(self, refused):
        """The page of a statement link that does not open it (``refused``, a
        CollectionLinkRefused): expired, or revoked or wrong, and what to do."""
        return request.render(
            "account_collection.portal_collection_link_refused",
            {"expired": refused.expired, "no_breadcrumbs": True},
            status=403,
        )

    def _collection_login_redirect(self):
        """Send a visitor without a token to log in, and back to this page after."""
        return request.redirect(
            "/web/login?" + urlencode({"redirect": request.httprequest.full_path})
        )

    def _collection_statement_query(self, company, access_token=None, **params):
        """Query string of the statement's URLs: the company, and the access token the
        visitor came with (none for a logged-in user)."""
        query = {"company_id": company.id}
        if access_token:
            query["access_token"] = access_token
        return urlencode(dict(query, **params))

    def _collection_statement_url(self, partner, company, access_token=None, **params):
        query = self._collection_statement_query(company, access_token, **params)
        return f"/my/collections/{partner.id}?{query}"

    # ------------------------------------------------------------------
    # Statement page
    # ------------------------------------------------------------------

    @http.route("/my/collections", type="http", auth="user", website=True)
    def portal_my_collections(self, company_id=None, done=None, **kw):
        partner = request.env.user.partner_id.commercial_partner_id
        partner_sudo, company = self._collection_check_access(partner.id, company_id=company_id)
        return self._collection_render(partner_sudo, company, done=done)

    @http.route("/my/collections/<int:partner_id>", type="http", auth="public", website=True)
    def portal_collection_statement(
        self, partner_id, access_token=None, company_id=None, done=None, **kw
    ):
        if not access_token and request.env.user._is_public():
            return self._collection_login_redirect()
        try:
            partner_sudo, company = self._collection_check_access(
                partner_id, access_token, company_id
            )
        except CollectionLinkRefused as refused:
            return self._collection_link_refused_page(refused)
        return self._collection_render(
            partner_sudo,
            company,
            access_token=access_token,
            dispute_move_id=kw.get("dispute"),
            done=done,
        )

    def _collection_render(self, partner, company, access_token=None, status=200, **kw):
        values = self._collection_statement_values(partner, company, access_token, **kw)
        return request.render(
            "account_collection.portal_collection_statement", values, status=status
        )

    def _collection_open_invoices(self, partner, company):
        """The customer's open invoices in ``company`` (sudo), oldest due first."""
        return (
            request.env["account.move"]
            .sudo()
            .with_company(company)
            .search(
                [
                    *OPEN_INVOICE_DOMAIN,
                    ("commercial_partner_id", "=", partner.id),
                    ("company_id", "=", company.id),
                ],
                order="invoice_date_due, id",
            )
        )

    def _collection_customer_cases(self, model, partner, company, domain, order=None):
        """The records of ``model`` (promises, disputes, agreements) of the customer
        ``partner`` in ``company`` that match ``domain``, in sudo mode: portal users
        cannot read them, the caller checked the visitor may see this customer."""
        return (
            request.env[model]
            .sudo()
            .search(
                [("partner_id", "=", partner.id), ("company_id", "=", company.id), *domain],
                order=order,
            )
        )

    def _collection_open_disputes(self, partner, company):
        return self._collection_customer_cases(
            "collection.dispute", partner, company, [("state", "in", DISPUTE_OPEN_STATES)]
        )

    def _collection_agreements(self, partner, company):
        """The customer's payment agreements proposed or running, and those it asked
        for on the portal (drafts prepared in the back office stay internal)."""
        return self._collection_customer_cases(
            "collection.agreement",
            partner,
            company,
            [
                "|",
                ("state", "in", ("proposed", "active")),
                "&",
                ("state", "=", "draft"),
                ("origin", "=", "portal"),
            ],
            order="id",
        )

    def _collection_payment_enabled(self, company):
        """Whether the invoices can be paid online: Odoo's online payment of invoices
        (account_payment) with a payment provider enabled for the company."""
        env = request.env
        if "payment.provider" not in env or not hasattr(env["account.move"], "_has_to_be_paid"):
            return False
        return bool(
            env["payment.provider"]
            .sudo()
            .search_count(
                [("state", "in", ("enabled", "test")), ("company_id", "=", company.id)], limit=1
            )
        )

    def _collection_statement_values(
        self,
        partner,
        company,
        access_token,
        *,
        error=None,
        form=None,
        form_kind=None,
        dispute_move_id=None,
        done=None,
    ):
        """Values of the statement page of ``partner`` (sudo, in ``company``)."""
        currency = company.currency_id
        invoices = self._collection_open_invoices(partner, company)
        promises = self._collection_customer_cases(
            "collection.promise", partner, company, [("state", "=", "open")], order="date, id"
        )
        disputes = self._collection_open_disputes(partner, company)
        agreements = self._collection_agreements(partner, company)
        buckets = (
            request.env["collection.aging.bucket"].sudo().search([("company_id", "=", company.id)])
        )
        aging = partner._collection_aging().get(partner.id, {})
        pay_online = self._collection_payment_enabled(company)
        due_amount = partner.collection_due_amount
        invoice_lines = []
        for invoice in invoices:
            invoice_lines.append(
                {
                    "invoice": invoice,
                    # The invoice's own portal page, with its access token.
                    "url": invoice.get_portal_url(),
                    "pay_url": invoice.get_portal_url(
                        anchor="portal_pay", query_string="&payment=True"
                    )
                    if pay_online and invoice._has_to_be_paid()
                    else False,
                    "days_overdue": invoice.collection_days_overdue,
                    "promised": bool(promises.filtered(lambda p, inv=invoice: inv in p.move_ids)),
                    "disputed": bool(disputes.filtered(lambda d, inv=invoice: inv in d.move_ids)),
                    "in_agreement": bool(
                        agreements.filtered(
                            lambda a, inv=invoice: a.state == "active" and inv in a.move_ids
                        )
                    ),
                }
            )
        # Payments received and credit notes not yet matched with an invoice reduce the
        # total due: the difference between the invoices listed and the total due.
        unapplied = due_amount - sum(invoices.mapped("amount_residual_signed"))
        disputable = invoices - disputes.move_ids
        form = dict(form or {})
        # The invoice chosen in the dispute form: the one whose Dispute link was
        # followed, or the one of the form sent back with an error.
        dispute_move_ids = self._collection_form_ids([dispute_move_id or form.get("move_id")])
        today = fields.Date.context_today(partner)
        return {
            "page_name": "collection_statement",
            "partner": partner,
            "company": company,
            "currency": currency,
            "access_token": access_token or "",
            "today": today,
            # The latest day a promise made today may be dated (see collection.promise).
            "promise_date_max": days_after(today, company.collection_promise_max_days),
            "statement_url": self._collection_statement_url(partner, company, access_token),
            "form_url": f"/my/collections/{partner.id}",
            "statement_query": self._collection_statement_query(company, access_token),
            "due_amount": due_amount,
            "overdue_amount": partner.collection_overdue_amount,
            "days_overdue": partner.collection_days_overdue,
            "unapplied_amount": unapplied if not currency.is_zero(unapplied) else 0.0,
            "aging": [(bucket, aging.get(bucket, 0.0)) for bucket in buckets],
            "aging_total": sum(aging.values()),
            "invoice_lines": invoice_lines,
            "invoices": invoices,
            "disputable_invoices": disputable,
            "dispute_move_id": dispute_move_ids[0] if dispute_move_ids else 0,
            "promises": promises,
            "disputes": disputes,
            "agreements": agreements,
            "dispute_reasons": self._collection_dispute_reasons(company),
            "pay_online": pay_online,
            "error": error,
            "form": form,
            "form_kind": form_kind,
            "form_move_ids": self._collection_form_ids(form.get("move_ids")),
            "done": done,
        }

    # ------------------------------------------------------------------
    # Forms
    # ------------------------------------------------------------------

    @staticmethod
    def _collection_form_ids(values):
        ids = []
        for value in values or []:
            try:
                ids.append(int(value))
            except (TypeError, ValueError):
                continue
        return ids

    def _collection_form_values(self):
        """The submitted form, with the invoices ticked as a list."""
        form = request.httprequest.form
        values = {key: form.get(key) for key in form if key not in ("csrf_token", "access_token")}
        values["move_ids"] = form.getlist("move_ids")
        return values

    def _collection_form_moves(self, partner, company, form, required=False):
        """The open invoices of the customer ticked in ``form``. An id that is not one
        of them (another customer's invoice, a paid one) refuses the whole form."""
        env = request.env
        raw = form.get("move_ids") or []
        ids = self._collection_form_ids(raw)
        if len(ids) != len(raw):
            raise UserError(env._("Choose the invoices among your open invoices."))
        invoices = self._collection_open_invoices(partner, company)
        moves = invoices.browse(ids)
        if moves - invoices:
            raise UserError(env._("Choose the invoices among your open invoices."))
        if required and not moves:
            raise UserError(env._("Choose at least one invoice."))
        return moves

    def _collection_form_post(self, partner_id, access_token, company_id, work, *, kind, done=None):
        """Answer a form of the statement: check the visitor's access, then run
        ``work(partner_sudo, company, form)`` in a savepoint and send the visitor back
        to the statement with the ``done`` (default ``kind``) message.

        A ``UserError`` or ``ValidationError`` raised by ``work`` undoes what it wrote
        and shows the statement again (status 400) with the error above the ``kind``
        form and what the customer typed kept in it."""
        try:
            partner_sudo, company = self._collection_check_access(
                partner_id, access_token, company_id
            )
        except CollectionLinkRefused as refused:
            return self._collection_link_refused_page(refused)
        form = self._collection_form_values()
        try:
            with request.env.cr.savepoint():
                work(partner_sudo, company, form)
        except (UserError, ValidationError) as error:
            return self._collection_render(
                partner_sudo,
                company,
                access_token,
                status=400,
                error=error.args[0],
                form=form,
                form_kind=kind,
            )
        return request.redirect(
            self._collection_statement_url(partner_sudo, company, access_token, done=done or kind)
        )

    # Promise to pay ---------------------------------------------------

    @http.route("/my/collections/<int:partner_id>/promise", **FORM_ROUTE)
    def portal_collection_promise(self, partner_id, access_token=None, company_id=None, **kw):
        return self._collection_form_post(
            partner_id, access_token, company_id, self._collection_make_promise, kind="promise"
        )

    def _collection_make_promise(self, partner_sudo, company, form):
        """The customer promises to pay (see collection.promise._create_from_portal)."""
        moves = self._collection_form_moves(partner_sudo, company, form)
        return request.env["collection.promise"]._create_from_portal(
            partner_sudo,
            moves,
            form.get("amount"),
            form.get("date"),
            form.get("message"),
            company=company,
        )

    # Dispute -------------------------------------------------------------

    def _collection_dispute_reasons(self, company):
        return request.env["collection.dispute.reason"]._portal_reasons(company)

    def _collection_uploaded_files(self):
        """The files attached to the form, as (name, content) pairs."""
        env = request.env
        files = [f for f in request.httprequest.files.getlist("attachments") if f.filename]
        if len(files) > MAX_ATTACHMENTS:
            raise UserError(env._("Attach at most %(count)s documents.", count=MAX_ATTACHMENTS))
        attachments = []
        for upload in files:
            content = upload.read(MAX_ATTACHMENT_SIZE + 1)
            if len(content) > MAX_ATTACHMENT_SIZE:
                raise UserError(
                    env._(
                        "%(file)s is too large: attach documents of at most %(size)s MB.",
                        file=upload.filename,
                        size=MAX_ATTACHMENT_SIZE // (1024 * 1024),
                    )
                )
            extension = upload.filename.rpartition(".")[2].lower() if "." in upload.filename else ""
            if guess_mimetype(content, default="") not in ATTACHMENT_TYPES.get(extension, ()):
                raise UserError(
                    env._(
                        "%(file)s is not a file we accept: attach PDF, Word, Excel, "
                        "OpenDocument, text or CSV documents, or PNG, JPEG, GIF or WebP images.",
                        file=upload.filename,
                    )
                )
            attachments.append((upload.filename, content))
        return attachments

    @http.route("/my/collections/<int:partner_id>/dispute", **FORM_ROUTE)
    def portal_collection_dispute(self, partner_id, access_token=None, company_id=None, **kw):
        return self._collection_form_post(
            partner_id, access_token, company_id, self._collection_open_dispute, kind="dispute"
        )

    def _collection_open_dispute(self, partner_sudo, company, form):
        """The customer disputes an invoice (see collection.dispute._create_from_portal,
        which checks the invoices, the reason, the message and the daily limit, routes
        the dispute to its responsible, logs the portal interaction, pauses the
        reminders and notes the dispute on the customer's chatter)."""
        env = request.env
        form_moves = dict(form, move_ids=[form["move_id"]] if form.get("move_id") else [])
        moves = self._collection_form_moves(partner_sudo, company, form_moves, required=True)
        try:
            reason = int(form.get("reason_id") or 0)
        except ValueError:
            reason = 0
        if reason not in self._collection_dispute_reasons(company).ids:
            raise UserError(env._("Choose one of the reasons offered."))
        attachments = self._collection_uploaded_files()
        return env["collection.dispute"]._create_from_portal(
            partner_sudo, moves, reason, form.get("message"), attachments
        )

    # Payment agreement ---------------------------------------------------

    @http.route("/my/collections/<int:partner_id>/agreement", **FORM_ROUTE)
    def portal_collection_agreement(self, partner_id, access_token=None, company_id=None, **kw):
        return self._collection_form_post(
            partner_id,
            access_token,
            company_id,
            self._collection_request_agreement,
            kind="agreement",
        )

    def _collection_request_agreement(self, partner_sudo, company, form):
        """The customer asks for a payment agreement (see
        collection.agreement._request_from_portal, which checks the invoices, the number
        of instalments and the daily limit, logs the portal interaction, notes the
        request on the customer's chatter and gives the collector an activity to review
        it)."""
        env = request.env
        moves = self._collection_form_moves(partner_sudo, company, form, required=True)
        return env["collection.agreement"]._request_from_portal(
            partner_sudo, moves, form.get("instalment_count"), form.get("message")
        )

    @http.route(
        "/my/collections/<int:partner_id>/agreement/<int:agreement_id>/accept", **FORM_ROUTE
    )
    def portal_collection_agreement_accept(
        self, partner_id, agreement_id, access_token=None, company_id=None, **kw
    ):
        def accept(partner_sudo, company, form):
            agreement_sudo = self._collection_agreement_sudo(partner_sudo, company, agreement_id)
            # An error is shown beside this agreement.
            form["agreement_id"] = agreement_sudo.id
            agreement_sudo._accept_from_portal(form.get("signed_by"))

        return self._collection_form_post(
            partner_id, access_token, company_id, accept, kind="accept", done="accepted"
        )

    @http.route(
        "/my/collections/<int:partner_id>/agreement/<int:agreement_id>/pdf",
        type="http",
        auth="public",
        website=True,
    )
    def portal_collection_agreement_pdf(
        self, partner_id, agreement_id, access_token=None, company_id=None, **kw
    ):
        """The agreement's PDF, to read, print or sign."""
        try:
            partner_sudo, company = self._collection_check_access(
                partner_id, access_token, company_id
            )
        except CollectionLinkRefused as refused:
            return self._collection_link_refused_page(refused)
        agreement_sudo = self._collection_agreement_sudo(
            partner_sudo, company, agreement_id, states=("proposed", "active")
        )
        return self._show_report(
            agreement_sudo, "pdf", "account_collection.action_report_collection_agreement"
        )

    @http.route("/my/agreements/<int:agreement_id>", type="http", auth="public", website=True)
    def portal_collection_agreement_page(self, agreement_id, access_token=None, **kw):
        """The link of a payment agreement sent to the customer: its customer's
        statement, where the agreement is listed and accepted."""
        # sudo: the agreement is only used once its access token, or its customer being
        # the logged-in user's, is checked below.
        agreement_sudo = request.env["collection.agreement"].sudo().browse(agreement_id).exists()
        if not agreement_sudo:
            raise NotFound()
        partner = agreement_sudo.partner_id.commercial_partner_id
        company = agreement_sudo.company_id
        if (
            access_token
            and agreement_sudo.access_token
            and consteq(str(access_token), agreement_sudo.access_token)
        ):
            # The agreement's token opens its customer's statement, with the statement's.
            return request.redirect(
                partner._collection_portal_url(company) + "#collection_agreements"
            )
        if request.env.user._is_public():
            return self._collection_login_redirect()
        partner_sudo, company = self._collection_check_access(partner.id, company_id=company.id)
        return request.redirect(
            self._collection_statement_url(partner_sudo, company) + "#collection_agreements"
        )

    # A message to the collector ------------------------------------------

    @http.route("/my/collections/<int:partner_id>/message", **FORM_ROUTE)
    def portal_collection_message(self, partner_id, access_token=None, company_id=None, **kw):
        return self._collection_form_post(
            partner_id, access_token, company_id, self._collection_send_message, kind="message"
        )

    def _collection_send_message(self, partner_sudo, company, form):
        """The customer writes to its collector from the statement: the message is the
        customer's reply (collection.reply), on its chatter, its collector notified,
        read into a suggestion like a reply by email or WhatsApp."""
        env = request.env
        text = (form.get("message") or "").strip()
        if not text:
            raise UserError(env._("Write your message."))
        if len(text) > MAX_MESSAGE_LENGTH:
            raise UserError(env._("Write at most %(count)s characters.", count=MAX_MESSAGE_LENGTH))
        Reply = env["collection.reply"].sudo()
        today = fields.Datetime.now().replace(hour=0, minute=0, second=0, microsecond=0)
        sent_today = Reply.search_count(
            [
                ("partner_id", "=", partner_sudo.id),
                ("company_id", "=", company.id),
                ("channel", "=", "portal"),
                ("date", ">=", today),
            ]
        )
        if sent_today >= MAX_MESSAGES_PER_DAY:
            raise UserError(
                env._("You have written to us many times today: we will answer you soon.")
            )
        user = env.user
        sender = partner_sudo.email if user._is_public() else user.partner_id.email
        attachments = [
            (name, content, guess_mimetype(content, default="application/octet-stream"))
            for name, content in self._collection_uploaded_files()
        ]
        return Reply._collection_receive(
            "portal", company, sender or "", text, attachments=attachments, partner=partner_sudo
        )
