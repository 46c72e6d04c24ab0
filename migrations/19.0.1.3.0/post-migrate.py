"""19.0.1.3.0: the shipped reminder templates are ``noupdate`` (each company words them
its own way), so a database installed before a version that improved them (the "Coming
due" section) keeps the old text. The templates nobody edited since they were installed
(written when created, never after) get the shipped body; edited ones are left alone.

A customer already in a stage that stops reminders is dated as entering it on the day
of the upgrade: the debt due by then stays held, invoices due later are reminded.

The sums behind the customers' figures (``collection.ledger``'s tables, kept by triggers on
the journal items from now on) are computed from the journal items already there.

A customer with overdue debt whose status said *Current* (nobody worked it yet) reads
*Overdue*, the status added in this version."""

from lxml import etree

from odoo import SUPERUSER_ID, api, fields
from odoo.tools.misc import file_open

MODULE = "account_collection"
TEMPLATES_FILE = f"{MODULE}/data/mail_template_data.xml"


def shipped_template_bodies():
    """{xml id: body} of the email templates the module ships, as the data file loads
    them (``odoo.tools.convert``, field of type html)."""
    with file_open(TEMPLATES_FILE, "rb") as file:
        tree = etree.parse(file)
    bodies = {}
    for record in tree.iterfind(".//record[@model='mail.template']"):
        field = record.find("field[@name='body_html']")
        if field is None:
            continue
        bodies[record.get("id")] = "".join(
            etree.tostring(node, method="html", encoding="unicode") for node in field
        )
    return bodies


def update_unedited_templates(env):
    """Give the shipped templates nobody edited the shipped body; the templates
    updated."""
    updated = env["mail.template"]
    for xmlid, body in shipped_template_bodies().items():
        template = env.ref(f"{MODULE}.{xmlid}", raise_if_not_found=False)
        if not template or template.write_date != template.create_date:
            continue  # removed, or edited by someone: their text stays
        template.with_context(lang="en_US").write({"body_html": body})
        updated |= template
    if updated:
        # Still as shipped: a later version recognises them the same way.
        env.flush_all()
        env.cr.execute(
            "UPDATE mail_template SET write_date = create_date WHERE id IN %s",
            [tuple(updated.ids)],
        )
        updated.invalidate_recordset(["write_date"])
    return updated


def date_stopped_stages(env):
    """Date the customers in a stage that stops reminders without a date."""
    today = fields.Date.context_today(env.user)
    Partner = env["res.partner"]
    for company in env["res.company"].search([]):
        partners = Partner.with_company(company).search(
            [("collection_stage_id.stop_dunning", "=", True)]
        )
        partners.filtered(lambda p: not p.collection_stage_date).write(
            {"collection_stage_date": today}
        )


def fill_ledger_sums(env):
    """Compute the sums behind the figures of every customer and company from the
    journal items (the tables and triggers exist: the module's update created them)."""
    return env["collection.ledger"]._sums_rebuild()


def mark_overdue_statuses(env):
    """Customers overdue that read *Current* read *Overdue*, in every company."""
    for company in env["res.company"].search([]):
        env["collection.dunning"].with_company(company)._mark_overdue_statuses(company)


def migrate(cr, version):
    env = api.Environment(cr, SUPERUSER_ID, {})
    update_unedited_templates(env)
    date_stopped_stages(env)
    fill_ledger_sums(env)
    mark_overdue_statuses(env)
