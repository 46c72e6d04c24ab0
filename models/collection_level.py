from odoo import api, fields, models
from odoo.exceptions import ValidationError
from odoo.tools import SQL
from odoo.tools.translate import html_translate

from .res_partner import COLLECTION_STATUS

# Channels of a level, in the order a customer gets them when one is not possible
# (no address, opted out, invalid number).
MESSAGE_CHANNELS = ("email", "whatsapp", "sms", "letter")


class CollectionLevel(models.Model):
    _name = "collection.level"
    _description = "Dunning Level"
    _order = "policy_id, delay, sequence, id"
    _check_company_auto = True

    name = fields.Char(required=True, translate=True)
    sequence = fields.Integer(default=10)
    policy_id = fields.Many2one("collection.policy", required=True, index=True, ondelete="cascade")
    company_id = fields.Many2one(related="policy_id.company_id", store=True, index=True)
    currency_id = fields.Many2one(related="company_id.currency_id", string="Currency")
    delay = fields.Integer(
        string="Days from Due Date",
        required=True,
        help="When an invoice reaches this level, in days from its due date: -2 is two days "
        "before it is due, 0 the due date, 30 a month after.",
    )
    min_amount = fields.Monetary(
        string="Minimum Overdue Amount",
        help="The level only applies when the customer owes at least this much (overdue, or "
        "due for levels before the due date), in company currency.",
    )
    # Email
    send_email = fields.Boolean(string="Email")
    mail_template_id = fields.Many2one(
        "mail.template",
        string="Email Template",
        domain="[('model', '=', 'collection.communication')]",
    )
    attach_invoices = fields.Boolean(
        string="Attach Invoices", help="Attach the PDF of each invoice concerned to the email."
    )
    # SMS
    send_sms = fields.Boolean(string="SMS")
    sms_template_id = fields.Many2one(
        "sms.template",
        string="SMS Template",
        domain="[('model', '=', 'collection.communication')]",
    )
    # WhatsApp
    send_whatsapp = fields.Boolean(string="WhatsApp")
    whatsapp_template_name = fields.Char(
        string="WhatsApp Template",
        help="Name of the message template approved for your WhatsApp Business account.",
    )
    whatsapp_language = fields.Char(
        string="WhatsApp Language",
        help="Language code of the approved template, e.g. en_US or es. Empty: the customer's "
        "language.",
    )
    whatsapp_parameters = fields.Char(
        string="WhatsApp Parameters",
        default="partner_name,overdue_amount,portal_url",
        help="Comma-separated values filling the template's body parameters {{1}}, {{2}}, ...: "
        "partner_name, overdue_amount, due_amount, days_overdue, invoice_names, portal_url, "
        "company_name.",
    )
    whatsapp_fallback_sms = fields.Boolean(
        string="SMS if WhatsApp Fails",
        help="Send the SMS template instead when the customer cannot receive WhatsApp messages.",
    )
    # Letter
    send_letter = fields.Boolean(
        string="Letter", help="Print a dunning letter (PDF) to post to the customer."
    )
    letter_body = fields.Html(
        string="Letter Text",
        translate=html_translate,
        help="What the letter of this level says before the list of the invoices due, in the "
        "customer's language (translate it with the language button). Empty: a standard text.",
    )
    # Activity
    create_activity = fields.Boolean(string="Activity")
    activity_type_id = fields.Many2one(
        "mail.activity.type",
        default=lambda self: self.env.ref(
            "account_collection.mail_activity_type_collection_follow_up", raise_if_not_found=False
        ),
    )
    activity_summary = fields.Char(translate=True)
    activity_responsible = fields.Selection(
        [
            ("collector", "Collector"),
            ("salesperson", "Salesperson"),
            ("user", "Specific User"),
        ],
        default="collector",
    )
    activity_user_id = fields.Many2one("res.users", string="Responsible User")
    # Portfolio
    stage_id = fields.Many2one(
        "collection.stage", string="Move to Stage", help="Move the customer to this stage."
    )
    # A dispute and a payment agreement are records of their own: a reminder does not
    # claim them.
    status = fields.Selection(
        [(key, label) for key, label in COLLECTION_STATUS if key not in ("dispute", "agreement")],
        string="Set Status",
    )

    _delay_unique = models.UniqueIndex(
        "(policy_id, delay)", "Two levels of a policy cannot have the same number of days."
    )

    @api.constrains(
        "send_email",
        "mail_template_id",
        "send_sms",
        "sms_template_id",
        "send_whatsapp",
        "whatsapp_template_name",
        "whatsapp_fallback_sms",
        "create_activity",
        "activity_responsible",
        "activity_user_id",
    )
    def _check_actions(self):
        for level in self:
            if level.send_email and not level.mail_template_id:
                raise ValidationError(
                    self.env._(
                        "Level %(level)s sends an email: choose its template.", level=level.name
                    )
                )
            if (level.send_sms or level.whatsapp_fallback_sms) and not level.sms_template_id:
                raise ValidationError(
                    self.env._(
                        "Level %(level)s sends an SMS: choose its template.", level=level.name
                    )
                )
            if level.send_whatsapp and not level.whatsapp_template_name:
                raise ValidationError(
                    self.env._(
                        "Level %(level)s sends a WhatsApp message: enter the name of the approved "
                        "template.",
                        level=level.name,
                    )
                )
            if (
                level.create_activity
                and level.activity_responsible == "user"
                and not level.activity_user_id
            ):
                raise ValidationError(
                    self.env._(
                        "Level %(level)s creates an activity for a specific user: choose the user.",
                        level=level.name,
                    )
                )

    @api.depends("name", "delay")
    def _compute_display_name(self):
        for level in self:
            level.display_name = self.env._(
                "%(name)s (%(delay)+d days)", name=level.name or "", delay=level.delay or 0
            )

    def _message_channels(self):
        """The message channels of the level, in fallback order."""
        self.ensure_one()
        wanted = {
            "email": self.send_email,
            "whatsapp": self.send_whatsapp,
            "sms": self.send_sms,
            "letter": self.send_letter,
        }
        return [channel for channel in MESSAGE_CHANNELS if wanted[channel]]

    # === DUNNING RULE === #

    @api.model
    def _dunning_reached_sql(
        self, level_alias, company, partner_alias, *, due_date_sql, current_level_sql, today
    ):
        """The level rule of the dunning run, as the condition joining the levels
        ``level_alias`` to an invoice: the level belongs to the customer's policy
        (``partner_alias``'s own, else ``company``'s default), the policy is active, the
        invoice due on ``due_date_sql`` is at least the level's delay old on ``today``,
        and the level is higher than the one the invoice is at (``current_level_sql``,
        a level id or NULL; a level of another policy does not count)."""
        self.flush_model(["policy_id", "delay"])
        self.env["collection.policy"].flush_model(["active"])
        Partner = self.env["res.partner"].with_company(company)
        Partner.flush_model(["collection_policy_id"])
        level = SQL.identifier(level_alias)
        return SQL(
            """%(level)s.policy_id = COALESCE(%(policy)s, %(default_policy)s)
               AND %(level)s.delay <= %(today)s::date - %(due_date)s
               AND EXISTS (SELECT 1 FROM collection_policy pol
                            WHERE pol.id = %(level)s.policy_id AND pol.active)
               AND NOT EXISTS (SELECT 1 FROM collection_level cur
                                WHERE cur.id = %(current)s
                                  AND cur.policy_id = %(level)s.policy_id
                                  AND cur.delay >= %(level)s.delay)""",
            level=level,
            policy=self.env["collection.ledger"]._company_dependent_sql(
                Partner, partner_alias, "collection_policy_id"
            ),
            default_policy=company.collection_policy_id.id or None,
            today=today,
            due_date=due_date_sql,
            current=current_level_sql,
        )
