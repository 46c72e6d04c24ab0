from odoo import api, models


class MailActivity(models.Model):
    _inherit = "mail.activity"

    @api.model
    def _collection_activity_types(self):
        """The activity types of the collections: the shipped follow-up and broken
        promise, and those the dunning levels plan."""
        types = self.env["mail.activity.type"]
        for xmlid in (
            "account_collection.mail_activity_type_collection_follow_up",
            "account_collection.mail_activity_type_broken_promise",
        ):
            types |= self.env.ref(xmlid, raise_if_not_found=False) or types
        # sudo: which types the levels plan, whoever reads the activity.
        return types | self.env["collection.level"].sudo().search([]).activity_type_id

    def _collection_is_collection_activity(self):
        """Whether this activity is one of the collections' on a customer: marking it
        done means logging what came of it."""
        self.ensure_one()
        return (
            self.active
            and self.res_model == "res.partner"
            and self.res_id
            and self.activity_type_id in self._collection_activity_types()
            and self.env.user.has_group("account_collection.group_collection_user")
        )

    def action_collection_log(self):
        """The Log dialog prefilled for this collection activity, which it marks done
        once the outcome is logged (see ``collection.interaction.log``); False for any
        other activity (marked done as usual). Called by the activity's Mark Done."""
        self.ensure_one()
        if not self._collection_is_collection_activity():
            return False
        partner = self.env["res.partner"].browse(self.res_id).commercial_partner_id
        action = partner.action_collection_log_interaction()
        category = self.activity_type_id.category
        action["views"] = [(False, "form")]
        action["context"] = dict(
            action["context"],
            default_activity_id=self.id,
            default_channel="visit" if category == "meeting" else "call",
        )
        return action

    def action_done(self):
        """The Mark as Done button of an activity: for a collection activity, the Log
        dialog records its outcome first (and marks it done)."""
        if len(self) == 1:
            action = self.action_collection_log()
            if action:
                return action
        return super().action_done()
