import re
from datetime import timedelta
from urllib.parse import urlsplit

from lxml import etree, html

from odoo import Command, fields
from odoo.exceptions import UserError
from odoo.tests import Form, HttpCase, tagged

from .common import TODAY, CollectionCommon, CollectionTourMixin, day, on_day


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionWorklistCards(CollectionCommon):
    """The worklist's cards per stage, as a collector opens them (on a phone they open
    first): every customer is in a stage, each column tells how many customers it holds
    and what they owe overdue."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.preventive = cls.env.ref("account_collection.collection_stage_preventive")
        cls.newcomer = cls.env["res.partner"].create({"name": "Newcomer Ltd", "is_company": True})

    def cards(self):
        Partner = self.env["res.partner"].with_user(self.collector).with_company(self.company)
        action = Partner.action_collection_worklist()
        return Partner.web_read_group(
            action["domain"],
            ["collection_stage_id"],
            ["__count", "collection_overdue_amount:sum"],
            auto_unfold=True,
            unfold_read_specification={"display_name": {}},
        )["groups"]

    def test_new_customer_is_in_the_first_stage(self):
        """A customer nobody moved yet is in the first stage (Preventive), not in a
        column of customers without a stage opening the cards."""
        self.invoice(self.newcomer, 400.0, day(-5))
        self.invoice(self.customer, 1000.0, day(-40))
        self.assertEqual(
            self.newcomer.with_company(self.company).collection_stage_id, self.preventive
        )
        groups = self.cards()
        self.assertTrue(all(group["collection_stage_id"] for group in groups), groups)
        first = groups[0]
        self.assertEqual(first["collection_stage_id"][0], self.preventive.id)
        self.assertEqual(first["__count"], 2)
        self.assertEqual(first["collection_overdue_amount:sum"], 1400.0)
        self.assertEqual(
            [r["display_name"] for r in first["__records"]], ["Acme Customer", "Newcomer Ltd"]
        )

    def test_analyses_read_the_first_stage(self):
        """The analyses group the customers nobody moved under the first stage too."""
        self.invoice(self.newcomer, 400.0, day(-5))
        Aged = self.env["collection.aged.receivable.report"].with_user(self.collector)
        aged = Aged.search([("partner_id", "=", self.newcomer.id)])
        self.assertEqual(aged.stage_id, self.preventive)
        Receivables = self.env["collection.receivable.report"].with_user(self.collector)
        rows = Receivables.search([("partner_id", "=", self.newcomer.id)])
        self.assertTrue(rows)
        self.assertEqual(rows.mapped("collection_stage_id"), self.preventive)

    def test_overdue_above_total_due_is_explained(self):
        """A payment received on account lowers the total due below the overdue amount;
        the card and the Collections tab say why."""
        self.invoice(self.customer, 1000.0, day(-40))
        self.invoice(self.customer, 200.0, day(10))
        self.customer_payment(self.customer, 600.0)
        customer = self.customer.with_user(self.collector).with_company(self.company)
        self.assertEqual(customer.collection_overdue_amount, 1000.0)
        self.assertEqual(customer.collection_due_amount, 600.0)
        for view in ("res_partner_view_kanban_collection", "res_partner_view_form_collection"):
            arch = self.env.ref(f"account_collection.{view}").arch
            self.assertIn("o_collection_unapplied_credit", arch)
            self.assertIn('invisible="collection_overdue_amount &lt;= collection_due_amount"', arch)

    def test_cards_show_the_figures_hints_to_internal_users(self):
        """The cards show the next action and the unapplied credit only to the users who
        may read the figures they depend on (internal users): Odoo checks the cards
        without an access rights inconsistency, and a collector still gets both."""
        cards = self.env.ref("account_collection.res_partner_view_kanban_collection")
        with self.assertNoLogs("odoo.addons.base.models.ir_ui_view", "WARNING"):
            cards._check_xml()
        arch = self.env["res.partner"].with_user(self.collector).get_view(cards.id)["arch"]
        self.assertIn("Next action:", arch)
        self.assertIn("o_collection_unapplied_credit", arch)


@tagged("post_install", "-at_install")
class TestCollectionPortalPhoneTour(CollectionTourMixin, CollectionCommon, HttpCase):
    """The statement of account on a 390 px phone: it fits the screen, the invoices are
    cards whose actions can be tapped."""

    browser_size = "390x844"
    touch_enabled = True

    def setUp(self):
        super().setUp()
        self.portal_user = self.make_user("portal_acme", "base.group_portal", name="Paula Portal")
        self.portal_user.partner_id.parent_id = self.customer
        # The browser runs on the real date: build the book around it.
        today = fields.Date.context_today(self.customer.with_user(self.portal_user))
        big = self.invoice(self.customer, 1000.0, today - timedelta(days=30))
        small = self.invoice(self.customer, 300.0, today - timedelta(days=15))
        self.reminder = self.make_reminder(big | small, today, delay=15)

    def test_statement_fits_a_phone(self):
        link = urlsplit(self.reminder.portal_url)
        self.start_tour(
            f"{link.path}?{link.query}",
            "collection_portal_phone_tour",
            login=self.portal_user.login,
        )


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionDataEntry(CollectionCommon):
    """What the collector types in the Log dialog and in a new payment agreement: the
    forms propose what the ledger knows, and say what is missing."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company.collection_agreement_approval_amount = 0.0
        cls.customer.with_company(cls.company).collection_user_id = cls.collector
        cls.old = cls.invoice(cls.customer, 1000.0, day(-40))
        cls.recent = cls.invoice(cls.customer, 300.0, day(-10))
        cls.coming = cls.invoice(cls.customer, 200.0, day(10))
        cls.paid = cls.invoice(cls.customer, 50.0, day(-20))
        cls.pay(cls.paid)
        cls.other = cls.env["res.partner"].create({"name": "Other Ltd", "is_company": True})
        cls.invoice(cls.other, 700.0, day(-5))

    def test_promised_amount_follows_the_invoices_picked(self):
        log = Form(
            self.env["collection.interaction.log"]
            .with_user(self.collector)
            .with_context(default_partner_id=self.customer.id)
        )
        log.outcome = "promise"
        self.assertEqual(log.promise_amount, 1300.0, "no invoice picked: the overdue amount")
        log.move_ids.add(self.recent)
        self.assertEqual(log.promise_amount, 300.0)
        log.move_ids.add(self.old)
        self.assertEqual(log.promise_amount, 1300.0)
        log.move_ids.remove(self.recent.id)
        self.assertEqual(log.promise_amount, 1000.0)
        log.promise_amount = 600.0  # part of it
        log.promise_date = day(7)
        log.save().action_confirm()
        promise = self.customer.with_company(self.company).collection_promise_ids
        self.assertRecordValues(promise, [{"amount": 600.0, "move_ids": self.old.ids}])

    def test_log_dialog_labels_every_field(self):
        """Each field a collector fills in the Log dialog has its label (none stands
        alone with a placeholder for a label); the invoice picker shows the amount due
        and the due date of each invoice."""
        view = self.env.ref("account_collection.collection_interaction_log_view_form")
        arch = etree.fromstring(view.arch)
        for node in arch.xpath("//form/field | //form/div/field | //form/sheet/field"):
            if node.get("invisible") == "1":
                continue
            name = node.get("name")
            self.assertTrue(
                arch.xpath(f"//label[@for='{name}']") or node.getparent().tag == "group"
                or "alert" in (node.getparent().get("class") or ""),
                f"{name} has no label",
            )  # fmt: skip
        picked = arch.xpath("//field[@name='move_ids']/list/field/@name")
        self.assertIn("invoice_date_due", picked)
        self.assertIn("amount_residual_signed", picked)

    def test_new_agreement_proposes_open_invoices_and_collector(self):
        """A manager drafts an agreement for the customer: its open invoices (not the
        paid one, not another customer's, not those of another live agreement) and
        its collector are proposed."""
        held = self.env["collection.agreement"].with_user(self.collector).create(
            {"partner_id": self.customer.id, "move_ids": [Command.set(self.coming.ids)],
             "instalment_count": 2, "date_first": day(30)}
        )  # fmt: skip
        held.action_propose()
        agreement = Form(self.env["collection.agreement"].with_user(self.collection_manager))
        agreement.partner_id = self.customer
        self.assertEqual(agreement.move_ids[:], self.old | self.recent)
        self.assertEqual(agreement.user_id, self.collector)
        agreement.instalment_count = 2
        agreement.date_first = day(30)
        saved = agreement.save()
        saved.action_generate_instalments()
        self.assertEqual(saved.instalment_ids.mapped("amount"), [650.0, 650.0])

    def test_instalments_without_invoices_say_so(self):
        """Without invoices there is nothing to split: the button says why, and the
        form offers it only once invoices are chosen."""
        agreement = (
            self.env["collection.agreement"]
            .with_user(self.collector)
            .create({"partner_id": self.customer.id, "instalment_count": 3, "date_first": day(30)})
        )
        with self.assertRaisesRegex(UserError, "Choose the invoices the agreement settles"):
            agreement.action_generate_instalments()
        self.assertFalse(agreement.instalment_ids)
        form = etree.fromstring(
            self.env.ref("account_collection.collection_agreement_view_form").arch
        )
        [button] = form.xpath("//button[@name='action_generate_instalments']")
        self.assertIn("not move_ids", button.get("invisible"))


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionNamesFollowTheReader(CollectionCommon):
    """A record's name reads in the language and the formats of who reads it, not of
    who created it: a promise made by a Spanish-speaking collector reads 1,234.50 and
    03/23/2026 on an English screen."""

    def test_names_in_the_readers_language(self):
        self.env["res.lang"]._activate_lang("es_ES")
        self.env["ir.module.module"]._load_module_terms(
            ["account_collection"], ["es_ES"], overwrite=True
        )
        spanish = self.make_user(
            "gestora_es", "account_collection.group_collection_user", lang="es_ES"
        )
        invoice = self.invoice(self.customer, 1234.5, day(-20))
        promise = (
            self.env["collection.promise"]
            .with_user(spanish)
            .with_context(lang="es_ES")  # as the web client of a Spanish user calls
            .create(
                {
                    "partner_id": self.customer.id,
                    "amount": 1234.5,
                    "date": day(7),
                    "move_ids": [Command.set(invoice.ids)],
                }
            )
        )
        self.assertIn("1.234,50", promise.name, "stored as its maker wrote it")
        english = promise.with_context(lang="en_US").display_name
        self.assertIn("1,234.50", english)
        self.assertIn("03/23/2026", english)
        spanish_name = promise.with_context(lang="es_ES").display_name
        self.assertIn("1.234,50", spanish_name)
        self.assertIn("23/03/2026", spanish_name)

        reason = self.env.ref("account_collection.collection_dispute_reason_wrong_price")
        disputed = self.invoice(self.customer, 300.0, day(-10))
        dispute = (
            self.env["collection.dispute"]
            .with_user(spanish)
            .with_context(lang="es_ES")
            .create(
                {
                    "partner_id": self.customer.id,
                    "move_ids": [Command.set(disputed.ids)],
                    "reason_id": reason.id,
                    "description": "El precio no es el acordado.",
                }
            )
        )
        self.assertFalse(dispute.name.startswith("Wrong price"), "stored in Spanish")
        self.assertTrue(dispute.with_context(lang="en_US").display_name.startswith("Wrong price"))
        self.assertFalse(dispute.with_context(lang="es_ES").display_name.startswith("Wrong price"))


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestCollectionDaysWording(CollectionCommon, HttpCase):
    """A count of days reads "1 day" / "1 día" and "2 days" / "2 días", in both
    languages, wherever the screens show one: the worklist cards, the dispute cards and
    the customer's statement on the portal."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.env["res.lang"]._activate_lang("es_ES")
        cls.env["ir.module.module"]._load_module_terms(
            ["account_collection"], ["es_ES"], overwrite=True
        )

    def statement_texts(self, partner, css_class):
        token = partner._collection_portal_token(self.company)
        path = f"/my/collections/{partner.id}?company_id={self.company.id}&access_token={token}"
        response = self.url_open(path, allow_redirects=False)
        self.assertEqual(response.status_code, 200, response.text[:2000])
        page = html.fromstring(response.content)
        return [
            re.sub(r"\s+", " ", e.text_content().replace("\ufeff", "")).strip()
            for e in page.xpath(f"//*[hasclass('{css_class}')]")
        ]

    def test_statement_says_one_day(self):
        spanish = self.env["res.partner"].create(
            {"name": "Cliente Uno", "is_company": True, "lang": "es_ES"}
        )
        self.invoice(spanish, 100.0, day(-1))
        self.invoice(self.customer, 100.0, day(-1))
        self.assertEqual(self.statement_texts(spanish, "o_collection_days_overdue"), ["1 día"])
        self.assertEqual(
            self.statement_texts(self.customer, "o_collection_days_overdue"), ["1 day"]
        )
        self.assertIn(
            "· 1 día vencido", self.statement_texts(spanish, "o_collection_invoice_days_late")
        )
        self.assertIn(
            "· 1 day overdue",
            self.statement_texts(self.customer, "o_collection_invoice_days_late"),
        )
        self.invoice(spanish, 100.0, day(-2))
        self.assertEqual(self.statement_texts(spanish, "o_collection_days_overdue"), ["2 días"])

    def test_cards_say_day_or_days(self):
        for view, fname in (
            ("res_partner_view_kanban_collection", "collection_days_overdue"),
            ("collection_dispute_view_kanban", "age_days"),
        ):
            for lang, one, many in (("en_US", "1 day", "days"), ("es_ES", "1 día", "días")):
                with self.subTest(view=view, lang=lang):
                    arch = etree.fromstring(
                        self.env.ref(f"account_collection.{view}").with_context(lang=lang).arch
                    )
                    [singular] = arch.xpath(f"//*[@t-if='record.{fname}.raw_value === 1']")
                    self.assertEqual(singular.text.strip(), one)
                    plural = singular.getnext()
                    self.assertEqual(plural.get("t-else"), "")
                    self.assertEqual(plural.xpath("string(.)").strip(), many)


@tagged("post_install", "-at_install")
class TestCollectionPlacementPhoneTour(CollectionTourMixin, CollectionCommon, HttpCase):
    """Agency Placements on a 390 px phone: cards that show the customer's whole name,
    the agency and the amounts, instead of a table whose columns cut the names."""

    browser_size = "390x844"
    touch_enabled = True

    def test_placements_are_cards_on_a_phone(self):
        customer = self.env["res.partner"].create(
            {"name": "Distribuciones Hermanos Fernández de Castro SL", "is_company": True}
        )
        agency = self.env["res.partner"].create(
            {"name": "Recobros Legales SL", "is_company": True, "collection_is_agency": True}
        )
        today = fields.Date.context_today(self.collection_manager)
        invoice = self.invoice(customer, 1200.0, today - timedelta(days=120))
        # The book as it is once placed (placing itself is tested in test_placement).
        self.env["collection.placement"].sudo().create(
            {
                "partner_id": customer.id,
                "agency_id": agency.id,
                "move_ids": [Command.set(invoice.ids)],
                "company_id": self.company.id,
                "amount_placed": invoice.amount_residual,
            }
        )
        self.start_tour(
            "/odoo/action-account_collection.collection_placement_action",
            "collection_placement_phone_tour",
            login=self.collection_manager.login,
        )
