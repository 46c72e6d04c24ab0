import re
from collections import Counter

import polib

from odoo import fields
from odoo.exceptions import UserError
from odoo.tests import TransactionCase, new_test_user, tagged
from odoo.tools.misc import file_path
from odoo.tools.translate import TranslationModuleReader

MODULE = "account_collection"
LANG = "es_ES"

# Terms that are spelled the same in Spanish. Any other msgstr equal to its msgid is
# an English string copied over instead of translated. Add a word here only if it
# really is the same in Spanish.
SAME_IN_SPANISH = {
    "ID",
    "SMS",
    "WhatsApp",
    "Portal",
    "Total",
    "Legal",
    "Extrajudicial",
    "WhatsApp Business",  # product name
    "%(level)s - %(partner)s",  # only placeholders
    '<i class="fa fa-file-pdf-o"/> PDF',  # icon + "PDF"
    # "Error" is Spanish too
    '<i class="fa fa-exclamation-triangle me-1" role="img" aria-label="Error" title="Error"/>',
    # a field name and two KPI keys Odoo's extractor picks up from the code, not shown to users
    "id",
    "over_90_share",
    "recovered",
}

# %-placeholders, as used by env._() and by JavaScript's _t(): %(name)s, %s, %d, %r.
# "%%" is a literal percent sign and is removed first.
NAMED_PLACEHOLDER = re.compile(r"%\(([^)]+)\)[sdr]")
POSITIONAL_PLACEHOLDER = re.compile(r"%[sdr]")
# Markup that must survive translation unchanged: tags, QWeb directives, {{ }}.
TAG = re.compile(r"<\s*(/?)\s*([\w:.-]+)")
QWEB_DIRECTIVE = re.compile(r"""\bt-[\w-]+\s*=\s*(?:"[^"]*"|'[^']*')""")
INLINE_EXPRESSION = re.compile(r"\{\{.*?\}\}", re.S)

# The statuses a Spanish-speaking collections team works with.
STATUS_ES = {
    "current": "Al corriente",
    "overdue": "Vencido",
    "paying": "Pagando",
    "negotiating": "Negociando",
    "agreement": "En convenio",
    "dispute": "En aclaración",
    "refusal": "Negativa de pago",
    "uncollectible": "Incobrable",
}


def placeholders(text):
    text = text.replace("%%", "")
    named = set(NAMED_PLACEHOLDER.findall(text))
    positional = Counter(POSITIONAL_PLACEHOLDER.findall(NAMED_PLACEHOLDER.sub("", text)))
    return named, positional


def markup(text):
    return (
        Counter("".join(tag) for tag in TAG.findall(text)),
        Counter(re.sub(r"\s+", "", d) for d in QWEB_DIRECTIVE.findall(text)),
        Counter(re.sub(r"\s+", "", e) for e in INLINE_EXPRESSION.findall(text)),
    )


def short(msgid):
    return msgid if len(msgid) <= 70 else msgid[:67] + "..."


@tagged("post_install", "-at_install")
class TestCollectionI18n(TransactionCase):
    """A Spanish-speaking user reads the whole addon in Spanish: every exported term
    has a Spanish translation that keeps its placeholders and markup, and the
    translations reach the database and the messages raised to the user."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.pot = polib.pofile(file_path(f"{MODULE}/i18n/{MODULE}.pot"))
        cls.po = polib.pofile(file_path(f"{MODULE}/i18n/es.po"))
        cls.translations = {entry.msgid: entry for entry in cls.po if not entry.obsolete}

    # ------------------------------------------------------------------
    # The translation file
    # ------------------------------------------------------------------

    def assert_translated(self, msgids, source):
        """Every msgid of ``msgids`` has a non-empty, non-fuzzy Spanish msgstr in es.po
        that is not the English text copied over."""
        problems = []
        for msgid in sorted(set(msgids)):
            entry = self.translations.get(msgid)
            if entry is None:
                problems.append(f"missing from es.po: {short(msgid)!r}")
            elif entry.fuzzy:
                problems.append(f"fuzzy: {short(msgid)!r}")
            elif not entry.msgstr.strip():
                problems.append(f"untranslated: {short(msgid)!r}")
            elif entry.msgstr.strip() == msgid.strip() and msgid.strip() not in SAME_IN_SPANISH:
                problems.append(f"still in English: {short(msgid)!r}")
        self.assertFalse(
            problems,
            f"{len(problems)} term(s) of {source} have no Spanish translation in i18n/es.po:\n"
            + "\n".join(problems),
        )

    def test_po_header(self):
        self.assertEqual(self.po.metadata.get("Language"), "es")
        self.assertEqual(self.po.metadata.get("Plural-Forms"), "nplurals=2; plural=(n != 1);")
        self.assertFalse(
            [e.msgid for e in self.po if e.msgid_plural], "es.po has untested plural entries"
        )

    def test_every_pot_term_is_translated(self):
        """Every msgid of i18n/account_collection.pot has a Spanish msgstr."""
        self.assertTrue(len(self.pot), "the .pot file is empty")
        self.assert_translated([entry.msgid for entry in self.pot], "i18n/account_collection.pot")

    def test_every_source_term_is_translated(self):
        """The terms Odoo exports from the installed module right now (Python and
        JavaScript strings, views, data records) are all translated, even if the .pot
        was not exported again after new strings were added."""
        # The modules kept in the addon's folder (bridges/, dev/addons/) have their own
        # translations: Odoo's reader, walking the addon's folder, takes their code for
        # the addon's.
        nested = (f"addons/{MODULE}/bridges/", f"addons/{MODULE}/dev/")
        exported = {
            src
            for module, _type, name, _res_id, src, _value, _comments in TranslationModuleReader(
                self.env.cr, modules=[MODULE]
            )
            if module == MODULE and src and not str(name).startswith(nested)
        }
        self.assertTrue(exported, "Odoo exported no term for the module")
        self.assert_translated(exported, "the module's source")
        stale = sorted(short(msgid) for msgid in exported - {e.msgid for e in self.pot})
        self.assertFalse(
            stale,
            "i18n/account_collection.pot is out of date; export it again, these terms are "
            "missing from it:\n" + "\n".join(stale),
        )

    def test_placeholders_and_markup_are_kept(self):
        """A translation keeps the placeholders (%(name)s, %s) and the markup (tags,
        t- directives, {{ }}) of its English text, or Odoo fails or shows them raw."""
        problems = []
        for entry in self.po:
            if entry.obsolete or not entry.msgstr:
                continue
            if placeholders(entry.msgid) != placeholders(entry.msgstr):
                problems.append(f"placeholders differ: {entry.msgid!r} -> {entry.msgstr!r}")
            if markup(entry.msgid) != markup(entry.msgstr):
                problems.append(f"markup differs: {entry.msgid!r} -> {entry.msgstr!r}")
        self.assertFalse(problems, "\n".join(problems))

    # ------------------------------------------------------------------
    # What a Spanish-speaking user sees
    # ------------------------------------------------------------------

    def load_spanish(self):
        self.env["res.lang"]._activate_lang(LANG)
        self.env["ir.module.module"]._load_module_terms([MODULE], [LANG], overwrite=True)
        return self.env(context=dict(self.env.context, lang=LANG))

    def test_database_reads_spanish(self):
        env = self.load_spanish()
        Partner = env["res.partner"]
        status = Partner._fields["collection_status"]
        self.assertEqual(dict(status._description_selection(env)), STATUS_ES)
        self.assertEqual(status._description_string(env), "Estado de cobranza")
        self.assertEqual(env.ref(f"{MODULE}.account_collection_menu_root").name, "Cobranza")
        self.assertEqual(
            env.ref(f"{MODULE}.res_partner_menu_collection_worklist").name, "Lista de trabajo"
        )
        self.assertEqual(env.ref(f"{MODULE}.collection_promise_menu").name, "Promesas de pago")
        self.assertEqual(env.ref(f"{MODULE}.collection_stage_delinquent").name, "Morosa")
        # The "Log Interaction" dialog: view terms are translated too.
        arch = env["collection.interaction.log"].get_views([(False, "form")])["views"]["form"][
            "arch"
        ]
        self.assertIn('string="Registrar interacción"', arch)
        self.assertIn('string="Registrar"', arch)
        self.assertIn("adeuda", arch)

    def test_errors_reach_a_spanish_user_in_spanish(self):
        self.load_spanish()
        collector = new_test_user(
            self.env,
            login="gestora_es",
            name="Lucía Gestora",
            groups=f"{MODULE}.group_collection_user",
            lang=LANG,
        )
        self.assertEqual(collector.lang, LANG)
        customer = self.env["res.partner"].create(
            {"name": "Ferretería Ruiz S.L.", "is_company": True}
        )
        # What the web client sends for this user.
        env = self.env(user=collector, context={"lang": collector.lang, "tz": collector.tz})
        today = fields.Date.context_today(env["collection.promise"])
        with self.assertRaises(UserError) as caught:
            env["collection.promise"].create(
                {"partner_id": customer.id, "amount": 0, "date": today}
            )
        self.assertEqual(caught.exception.args[0], "El importe prometido debe ser mayor que cero.")
        # A valid promise is named in Spanish too.
        promise = env["collection.promise"].create(
            {"partner_id": customer.id, "amount": 150, "date": today}
        )
        self.assertRegex(promise.name, r"^Ferretería Ruiz S\.L\.: .+ para el .+$")

    def test_new_company_gets_spanish_aging_buckets(self):
        self.load_spanish()
        company = self.env["res.company"].create({"name": "Cobros Ibéricos S.A."})
        names = (
            company.with_context(lang=LANG)
            .collection_aging_bucket_ids.sorted("days_from")
            .mapped("name")
        )
        self.assertEqual(names[0], "Por vencer")
        self.assertEqual(names[-1], "Más de 120 días")

    def test_existing_company_buckets_follow_a_language_installed_later(self):
        company = self.env.company
        bucket = company.collection_aging_bucket_ids.sorted("days_from")[:1]
        renamed = company.collection_aging_bucket_ids.sorted("days_from")[-1:]
        renamed.with_context(lang="en_US").name = "Legal review"
        self.load_spanish()
        self.assertEqual(bucket.with_context(lang=LANG).name, "Por vencer")
        # A bucket the company renamed keeps its own name.
        self.assertEqual(renamed.with_context(lang=LANG).name, "Legal review")
