import polib

from odoo.exceptions import UserError
from odoo.tests import tagged
from odoo.tools.misc import file_path
from odoo.tools.translate import TranslationModuleReader

from odoo.addons.account_collection.tests.common import TODAY, on_day

from .test_sale_credit_hold import SaleCreditHoldCommon

MODULE = "account_collection_sale"
LANG = "es_ES"
# Spelled the same in Spanish.
SAME_IN_SPANISH = {"ID"}


@tagged("post_install", "-at_install")
@on_day(TODAY)
class TestSaleCreditHoldI18n(SaleCreditHoldCommon):
    """The bridge's own translations: every term Odoo exports from it is in its .pot and
    translated in its es.po, and a Spanish salesperson reads the refusal in Spanish."""

    def test_every_source_term_is_translated(self):
        pot = {entry.msgid for entry in polib.pofile(file_path(f"{MODULE}/i18n/{MODULE}.pot"))}
        spanish = {
            entry.msgid: entry.msgstr
            for entry in polib.pofile(file_path(f"{MODULE}/i18n/es.po"))
            if entry.msgstr
            and not entry.fuzzy
            and (entry.msgstr != entry.msgid or entry.msgid in SAME_IN_SPANISH)
        }
        exported = {
            src
            for module, __, __, __, src, __, __ in TranslationModuleReader(
                self.env.cr, modules=[MODULE]
            )
            if module == MODULE and src
        }
        self.assertTrue(exported)
        self.assertFalse(sorted(exported - pot), "missing from the .pot")
        self.assertFalse(sorted(exported - set(spanish)), "not translated in es.po")

    def test_refusal_in_spanish(self):
        self.env["res.lang"]._activate_lang(LANG)
        self.env["ir.module.module"]._load_module_terms([MODULE], [LANG], overwrite=True)
        self.salesperson.lang = LANG
        self.hold()
        order = self.order(self.salesperson)
        with self.assertRaisesRegex(UserError, "Held Industries tiene el crédito bloqueado"):
            order.with_context(lang=LANG).action_confirm()
