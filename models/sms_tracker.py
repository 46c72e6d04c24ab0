from odoo import fields, models


class SmsTracker(models.Model):
    """The delivery reports of an SMS reminder (Twilio's signed status callbacks, IAP's
    reports) reach its tracker like any SMS's: the reminder's delivery follows them,
    delivered or failed."""

    _inherit = "sms.tracker"

    def _action_update_from_sms_state(self, sms_state, failure_type=False, failure_reason=False):
        result = super()._action_update_from_sms_state(
            sms_state, failure_type=failure_type, failure_reason=failure_reason
        )
        if sms_state == "sent":  # "sent" is delivered, in the SMS queue's words
            self._collection_deliveries()._collection_receipt("delivered", fields.Datetime.now())
        elif sms_state == "error":
            self._collection_failed(failure_type, failure_reason)
        return result

    def _action_update_from_provider_error(self, provider_error):
        error_status, failure_type, failure_reason = super()._action_update_from_provider_error(
            provider_error
        )
        self._collection_failed(failure_type, failure_reason)
        return error_status, failure_type, failure_reason

    def _collection_deliveries(self):
        """The sent SMS reminders these trackers follow."""
        if not self:
            return self.env["collection.communication.delivery"]
        # sudo: the provider's report on an SMS is a fact the engine records on its
        # delivery, whoever receives it.
        return (
            self.env["collection.communication.delivery"]
            .sudo()
            .search([("channel", "=", "sms"), ("provider_ref", "in", self.mapped("sms_uuid"))])
        )

    def _collection_failed(self, failure_type, failure_reason):
        deliveries = self._collection_deliveries()
        if not deliveries:
            return
        labels = dict(
            self.env["mail.notification"]._fields["failure_type"]._description_selection(self.env)
        )
        reason = failure_reason or labels.get(failure_type) or failure_type
        deliveries._collection_receipt(
            "failed",
            fields.Datetime.now(),
            self.env._("SMS not delivered: %(error)s", error=reason),
        )
