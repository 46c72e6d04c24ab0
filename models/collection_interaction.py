from odoo import api, fields, models
from odoo.exceptions import UserError

from .res_partner import COLLECTION_STATUS

CHANNELS = [
    ("call", "Call"),
    ("email", "Email"),
    ("visit", "Visit"),
    ("sms", "SMS"),
    ("whatsapp", "WhatsApp"),
    ("letter", "Letter"),
    ("portal", "Portal"),
    ("note", "Note"),
]

OUTCOMES = [
    ("contacted", "Contacted"),
    ("no_answer", "No Answer"),
    ("voicemail", "Left a Message"),
    ("wrong_contact", "Wrong Contact"),
    ("promise", "Promise to Pay"),
    ("dispute", "Dispute Raised"),
    ("refusal", "Refused to Pay"),
    ("already_paid", "Says Already Paid"),
    ("callback", "Call Back Later"),
    ("sent", "Message Sent"),
]

# Fields of an interaction that anybody may still change after it is logged.
MUTABLE_FIELDS = {"active"}


class CollectionInteraction(models.Model):
    _name = "collection.interaction"
    _inherit = ["collection.case.mixin"]
    _description = "Collection Interaction"
    _order = "date desc, id desc"
    _check_company_auto = True
    _rec_name = "summary"

    partner_id = fields.Many2one(ondelete="restrict", domain=[])
    user_id = fields.Many2one(
        index=True,
        help="Who had the interaction; empty for messages sent by the automatic reminders.",
    )
    date = fields.Datetime(required=True, default=fields.Datetime.now, index=True)
    channel = fields.Selection(CHANNELS, required=True, default="call")
    outcome = fields.Selection(OUTCOMES)
    automatic = fields.Boolean(help="Logged by the automatic reminders, not by a person.")
    status_before = fields.Selection(COLLECTION_STATUS, string="Status Before")
    status_after = fields.Selection(COLLECTION_STATUS, string="Status After")
    move_ids = fields.Many2many(
        "account.move",
        "collection_interaction_account_move_rel",
        "collection_interaction_id",
        "account_move_id",
        domain=[],
    )
    promise_id = fields.Many2one(
        "collection.promise", string="Promise", index="btree_not_null", check_company=True
    )
    dispute_id = fields.Many2one(
        "collection.dispute", string="Dispute", index="btree_not_null", check_company=True
    )
    next_action_date = fields.Date(string="Next Action")
    note = fields.Text()
    overdue_amount = fields.Monetary(
        string="Overdue Then",
        help="The customer's overdue amount when the interaction was logged.",
    )
    days_overdue = fields.Integer(
        string="Days Overdue Then",
        help="Days overdue of the customer's oldest open item when the interaction was logged.",
    )
    summary = fields.Char(compute="_compute_summary")
    active = fields.Boolean(default=True)

    @api.depends("channel", "outcome", "partner_id", "date")
    def _compute_summary(self):
        channels = dict(self._fields["channel"]._description_selection(self.env))
        outcomes = dict(self._fields["outcome"]._description_selection(self.env))
        for interaction in self:
            parts = [channels.get(interaction.channel, "")]
            if interaction.outcome:
                parts.append(outcomes[interaction.outcome])
            if interaction.partner_id:
                parts.append(interaction.partner_id.display_name)
            interaction.summary = " - ".join(p for p in parts if p)

    @api.model_create_multi
    def create(self, vals_list):
        """Take the snapshots of the customer's figures at creation. Collection managers
        (importing the history kept elsewhere before) and automation may bring their own
        date, collector, status and figures; a collector's entries are always dated now,
        theirs, and get the status and figures of the ledger."""
        may_set_facts = self.env.su or self.env.user.has_group(
            "account_collection.group_collection_manager"
        )
        Partner = self.env["res.partner"]
        for vals in vals_list:
            partner = Partner.browse(vals.get("partner_id")).commercial_partner_id
            if partner:
                vals["partner_id"] = partner.id
            if not may_set_facts:
                for fname in ("overdue_amount", "days_overdue", "automatic", "date", "status_before"):
                    vals.pop(fname, None)
                vals["user_id"] = self.env.uid
            if partner and "overdue_amount" not in vals and "days_overdue" not in vals:
                company = self.env["res.company"].browse(vals.get("company_id")) or self.env.company
                partner = partner.with_company(company)
                vals["overdue_amount"] = partner.collection_overdue_amount
                vals["days_overdue"] = partner.collection_days_overdue
            if partner and "status_before" not in vals:
                vals["status_before"] = partner.collection_status
            if "status_after" not in vals and "status_before" in vals:
                vals["status_after"] = vals["status_before"]
        return super().create(vals_list)

    @api.constrains("move_ids", "partner_id")
    def _check_move_ids(self):
        self._collection_check_moves()

    def _collection_move_is_open(self, move):
        # An interaction is about the customer's invoices, paid or not.
        return True

    def _valid_field_parameter(self, field, name):
        # The case mixin's fields are tracked on the models with a chatter; an
        # interaction has none (it does not change once logged).
        return name == "tracking" or super()._valid_field_parameter(field, name)

    def write(self, vals):
        changed = set(vals) - MUTABLE_FIELDS
        if changed:
            raise UserError(
                self.env._(
                    "Logged interactions are evidence and cannot be changed. Log a new "
                    "interaction to correct or complete one."
                )
            )
        if "active" in vals and not self.env.user.has_group(
            "account_collection.group_collection_manager"
        ):
            raise UserError(self.env._("Only collection managers can archive interactions."))
        return super().write(vals)

    @api.ondelete(at_uninstall=False)
    def _unlink_except_evidence(self):
        raise UserError(
            self.env._(
                "Logged interactions are evidence and cannot be deleted. A collection manager "
                "can archive them."
            )
        )
