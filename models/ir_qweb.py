from lxml import etree

from odoo import models, tools


class IrQweb(models.AbstractModel):
    _inherit = "ir.qweb"

    def _compile(self, template):
        """A raw template (a mail template's body, which ``mail.render.mixin`` hands
        over as a new element for each record) compiled once per process for its text
        when the send queue renders many reminders with it (context
        ``collection_compile_once``), as Odoo compiles its view templates once."""
        if isinstance(template, etree._Element) and self.env.context.get("collection_compile_once"):
            return self._collection_compile_raw(
                etree.tostring(template, encoding="unicode"), template
            )
        return super()._compile(template)

    @tools.ormcache(
        "source",
        "tuple(self.env.context.get(k) or False for k in self._get_template_cache_keys())",
        cache="templates",
    )
    def _collection_compile_raw(self, source, template):
        return super()._compile(template)
