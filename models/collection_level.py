from odoo import api, fields, models
from odoo.exceptions import UserError, ValidationError
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
    # claim them; time makes a customer overdue.
    status = fields.Selection(
        [
            (key, label)
            for key, label in COLLECTION_STATUS
            if key not in ("dispute", "agreement", "overdue")
        ],
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
    def _dunning_next_step_sql(self, company, *, policy_sql, due_date_sql, state_alias, today):
        """The level rule of the dunning run, as the SQL pieces a query over the
        invoices joins on each invoice row to get the next step of the invoice on its
        customer's ladder: ``{"join", "where", "day", "order"}``. ``join`` brings the
        ladder's levels (``lv``, the candidates; ``cur``, the level the invoice is at;
        ``pol``, its policy; ``ent``, the policy's entry level), ``where`` keeps the
        levels the invoice may get next, ``order`` puts the one it gets first (the
        caller keeps the first row per invoice: ``DISTINCT ON``), ``day`` is the first
        day it may get it (on or before ``today``: it is due). The ladder is the
        customer's policy (``policy_sql``, its own or its segment's, see
        ``collection.segment._policy_sql``; else ``company``'s default), when active.
        An invoice climbs one level at a time:

        - at a level of the policy (``state_alias``, its ``collection.invoice.dunning``
          row), it gets the next level once it is that level's delay old and the level
          it is at was reached at least the gap between the two delays earlier
          (``level_date``; a level set by hand counts from the day it would have been
          reached), and no reminder of the (overdue) level it is at still waits to
          leave;
        - at no level yet (or one of another policy), it starts at the level of the
          day it is at, never beyond the policy's entry level, and an invoice already
          overdue does not start at a level before the due date (those speak of an
          invoice not yet overdue): it starts at the entry level, or at a later level
          after the due date it already passed when the entry is set later.

        Joined rather than a ``LATERAL`` subquery per invoice: the ladder of a few
        levels is joined to all the invoices of a batch at once and sorted once
        (BENCHMARKS.md, "Dunning run, round four")."""
        self.flush_model(["policy_id", "delay"])
        self.env["collection.policy"].flush_model(["active", "entry_level_id"])
        self.env["collection.invoice.dunning"].flush_model(["level_id", "level_date"])
        state = SQL.identifier(state_alias)
        days = SQL("(%s::date - %s)", today, due_date_sql)
        # At no level yet: the levels reached by today come first, the highest one.
        start_reached = SQL("(cur.id IS NULL AND lv.delay <= %s)", days)
        return {
            "join": SQL(
                """JOIN collection_policy pol
                     ON pol.id = COALESCE(%(policy)s, %(default_policy)s) AND pol.active
                   JOIN collection_level lv ON lv.policy_id = pol.id
              LEFT JOIN collection_level cur
                     ON cur.id = %(state)s.level_id AND cur.policy_id = pol.id
              LEFT JOIN collection_level ent ON ent.id = COALESCE(
                            pol.entry_level_id,
                            (SELECT fl.id FROM collection_level fl
                              WHERE fl.policy_id = pol.id AND fl.delay > 0
                              ORDER BY fl.delay LIMIT 1))""",
                state=state,
                policy=policy_sql,
                default_policy=company.collection_policy_id.id or None,
            ),
            "where": SQL(
                """-- An invoice whose reminder of its level still waits to leave (to
                   -- review, postponed, a letter to print...) waits with it: the next
                   -- level never comes before the customer received this one. A
                   -- message before or on the due date is true until then only, and
                   -- dropped after: it does not hold the invoice.
                   (cur.id IS NULL OR cur.delay <= 0 OR NOT EXISTS (
                           SELECT 1
                             FROM collection_communication_account_move_rel wr
                             JOIN collection_communication wc ON wc.id = wr.communication_id
                            WHERE wr.move_id = %(state)s.move_id
                              AND wc.level_id = cur.id
                              AND wc.state IN ('draft', 'queued')))
                   AND CASE WHEN cur.id IS NOT NULL THEN lv.delay > cur.delay
                            ELSE lv.delay <= COALESCE(ent.delay, lv.delay)
                                 AND (lv.delay > %(days)s OR lv.delay > 0 OR %(days)s <= 0
                                      OR lv.id = ent.id OR ent.id IS NULL)
                       END""",
                state=state,
                days=days,
            ),
            "day": SQL(
                """CASE WHEN cur.id IS NULL THEN %(due)s + lv.delay
                        ELSE GREATEST(
                            %(due)s + lv.delay,
                            COALESCE(%(state)s.level_date, %(due)s + cur.delay)
                                + (lv.delay - cur.delay))
                   END""",
                state=state,
                due=due_date_sql,
            ),
            "order": SQL(
                "%(start_reached)s DESC,"
                " CASE WHEN %(start_reached)s THEN -lv.delay ELSE lv.delay END",
                start_reached=start_reached,
            ),
        }

    @api.ondelete(at_uninstall=False)
    def _unlink_except_in_use(self):
        """A level reminders were created at, or that invoices or customers are at, is
        their history: it stays (its policy can be archived and replaced)."""
        # sudo: only whether the level is referenced anywhere is read, in any company.
        used = set(
            self.env["collection.communication"]
            .sudo()
            .with_context(active_test=False)
            .search([("level_id", "in", self.ids)])
            .level_id.ids
        )
        used |= set(
            self.env["collection.invoice.dunning"]
            .sudo()
            .search([("level_id", "in", self.ids)])
            .level_id.ids
        )
        used |= self.env["res.partner"]._collection_ids_in_use("collection_level_id", self.ids)
        for level in self.filtered(lambda level: level.id in used):
            raise UserError(
                self.env._(
                    "The level “%(level)s” is in use: reminders were created at it, or "
                    "invoices or customers are at it. Archive its policy “%(policy)s” and "
                    "make a new one instead.",
                    level=level.name,
                    policy=level.policy_id.name,
                )
            )
