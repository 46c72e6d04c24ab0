from markupsafe import Markup

from odoo import api, fields, models
from odoo.exceptions import AccessError
from odoo.tools import format_amount


class CollectionDunningRun(models.TransientModel):
    _name = "collection.dunning.run"
    _description = "Run the Reminders Now"

    company_id = fields.Many2one(
        "res.company", required=True, default=lambda self: self.env.company
    )
    date = fields.Date(
        default=lambda self: self.env.company._collection_today(),
        readonly=True,
    )
    line_ids = fields.One2many("collection.dunning.run.line", "run_id", string="Preview")
    count = fields.Integer(compute="_compute_count", string="Reminders")
    level_summary = fields.Html(
        compute="_compute_level_summary",
        string="Per Level",
        sanitize=False,
        help="How many customers get a reminder at each level, and what they owe.",
    )

    @api.depends("line_ids")
    def _compute_count(self):
        for run in self:
            run.count = len(run.line_ids)

    @api.depends("line_ids.level_id", "line_ids.overdue_amount", "line_ids.first_reminder")
    def _compute_level_summary(self):
        for run in self:
            per_level = {}
            for line in run.line_ids:
                count, amount, first = per_level.get(line.level_id, (0, 0.0, 0))
                per_level[line.level_id] = (
                    count + 1,
                    amount + line.overdue_amount,
                    first + line.first_reminder,
                )
            items = Markup("").join(
                Markup("<li><b>%s</b>: %s%s</li>")
                % (
                    level.display_name,
                    (
                        self.env._(
                            "%(count)s customers, %(amount)s overdue",
                            count=count,
                            amount=format_amount(self.env, amount, run.company_id.currency_id),
                        )
                        if count > 1
                        else self.env._(
                            "1 customer, %(amount)s overdue",
                            amount=format_amount(self.env, amount, run.company_id.currency_id),
                        )
                    ),
                    (
                        ""
                        if not first
                        else self.env._(" (%(count)s first reminders)", count=first)
                        if first > 1
                        else self.env._(" (1 first reminder)")
                    ),
                )
                for level, (count, amount, first) in sorted(
                    per_level.items(), key=lambda item: (item[0].delay, item[0].id)
                )
            )
            run.level_summary = Markup("<ul class='mb-0'>%s</ul>") % items if items else False

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        if "line_ids" in fields_list:
            company = self.env["res.company"].browse(values.get("company_id")) or self.env.company
            values["line_ids"] = [
                fields.Command.create(vals) for vals in self._preview_lines(company)
            ]
        return values

    @api.model
    def _preview_lines(self, company):
        Dunning = self.env["collection.dunning"].with_company(company)
        today = company._collection_today()
        plan = Dunning._dunning_plan(company, today)
        partners = self.env["res.partner"].with_company(company).browse(list(plan))
        # What each reminder will claim (disputed debt left out).
        figures = Dunning._claimable_figures(company, today, partners.ids)
        lines = []
        for partner in partners.sorted("name"):
            entry = plan[partner.id]
            level = entry["level"]
            moves = self.env["account.move"].browse(list(entry["moves"]))
            channels = [Dunning._channel_label(channel) for channel in level._message_channels()]
            if level.create_activity:
                channels.append(self.env._("Activity"))
            lines.append(
                {
                    "partner_id": partner.id,
                    "level_id": level.id,
                    "move_ids": [fields.Command.set(list(entry["moves"]))],
                    "channels": ", ".join(channels),
                    "overdue_amount": figures[partner.id]["overdue_amount"],
                    # The customer starts the ladder: none of its invoices got a level
                    # of the policy yet.
                    "first_reminder": not moves.collection_level_id.filtered(
                        lambda lv, policy=level.policy_id: lv.policy_id == policy
                    ),
                }
            )
        return lines

    def action_run(self):
        self.ensure_one()
        if not self.env.user.has_group("account_collection.group_collection_manager"):
            raise AccessError(self.env._("Only collection managers can run the reminders."))
        company = self.company_id
        if company not in self.env.user.company_ids:
            raise AccessError(
                self.env._("You cannot run the reminders of %(company)s.", company=company.name)
            )
        # The run commits its batches as the daily job does: in a transaction of its
        # own, as Odoo runs a scheduled action now (ir.cron.method_direct_trigger).
        self.env.invalidate_all(flush=True)
        with self.env.registry.cursor() as cr:
            # sudo: the run writes what the daily job writes (reminders, the invoices'
            # levels, the customers' stages), whoever starts it; the group and the
            # company were checked above. Only the company previewed, as previewed.
            env = self.env(cr=cr, su=True)
            env["collection.dunning"].with_company(company)._run_dunning(company)
            env["collection.communication.delivery"].with_company(company)._process_queue(
                company=company
            )
        self.env.invalidate_all()
        action = self.env["ir.actions.act_window"]._for_xml_id(
            "account_collection.collection_communication_action"
        )
        action["domain"] = [("date", "=", self.date), ("company_id", "=", self.company_id.id)]
        return action


class CollectionDunningRunLine(models.TransientModel):
    _name = "collection.dunning.run.line"
    _description = "Reminder Preview Line"

    run_id = fields.Many2one("collection.dunning.run", required=True, ondelete="cascade")
    partner_id = fields.Many2one("res.partner", string="Customer", readonly=True)
    level_id = fields.Many2one("collection.level", readonly=True)
    move_ids = fields.Many2many("account.move", string="Invoices", readonly=True)
    channels = fields.Char(readonly=True)
    currency_id = fields.Many2one(related="run_id.company_id.currency_id")
    overdue_amount = fields.Monetary(string="Overdue", readonly=True)
    first_reminder = fields.Boolean(
        readonly=True, help="The customer's first reminder: it starts at the policy's entry level."
    )


class CollectionDunningRunSegment(models.TransientModel):
    """The preview says which segment put each customer on the policy of its reminder."""

    _inherit = "collection.dunning.run"

    def _preview_lines(self, company):
        lines = super()._preview_lines(company)
        Partner = self.env["res.partner"].with_company(company)
        for line in lines:
            partner = Partner.browse(line["partner_id"])
            if not partner.collection_policy_id and partner.collection_segment_id:
                line["segment_id"] = partner.collection_segment_id.id
        return lines


class CollectionDunningRunLineSegment(models.TransientModel):
    _inherit = "collection.dunning.run.line"

    policy_id = fields.Many2one(related="level_id.policy_id", string="Policy")
    segment_id = fields.Many2one(
        "collection.segment",
        string="Segment",
        readonly=True,
        help="The segment that put the customer on this policy (empty: the customer's own "
        "policy or the company's default).",
    )
