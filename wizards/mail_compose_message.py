from odoo import models
from odoo.exceptions import UserError


class MailComposeMessage(models.TransientModel):
    _inherit = "mail.compose.message"

    def action_send_mail(self):
        """The composer opened by a reminder's *Edit the Email* keeps the edited text for
        the reminder instead of sending it: the reminder sends it in its turn (review,
        quiet hours, the truth at sending)."""
        reminder_id = self.env.context.get("collection_reminder_email_id")
        if not reminder_id:
            return super().action_send_mail()
        Reminder = self.env["collection.communication"]
        for composer in self:
            if composer.model != Reminder._name or composer._evaluate_res_ids() != [reminder_id]:
                raise UserError(self.env._("This composer edits the email of one reminder only."))
            # The reminder checks that the user may change it and that its email has not
            # left yet.
            Reminder.browse(reminder_id)._collection_set_edited_email(
                composer.subject, composer.body
            )
        return {"type": "ir.actions.act_window_close"}
