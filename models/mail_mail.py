from odoo import models


class MailMail(models.Model):
    """The emails of the send queue tell its journal of provider calls
    (``collection.delivery.call``) when each one is handed to the SMTP server and
    whether the server took it: ``mail.mail.send()`` sends a batch of them over one
    connection, one after the other. The queue passes the journal and the delivery of
    each email in the context (``collection_journal``: (journal, ((mail id,
    delivery id), ...)))."""

    _inherit = "mail.mail"

    def _collection_journal_delivery(self):
        journal, pairs = self.env.context.get("collection_journal") or (None, ())
        return journal, dict(pairs).get(self.id)

    def _prepare_outgoing_list(self, mail_server=False, doc_to_followers=None):
        journal, delivery_id = self._collection_journal_delivery()
        if delivery_id:
            journal.calling(delivery_id, self.message_id)
        return super()._prepare_outgoing_list(
            mail_server=mail_server, doc_to_followers=doc_to_followers
        )

    def _postprocess_sent_message(
        self, success_pids, success_emails, failure_reason=False, failure_type=None
    ):
        for mail in self:
            journal, delivery_id = mail._collection_journal_delivery()
            if not delivery_id:
                continue
            if mail.state == "sent":
                journal.accepted(delivery_id, mail.message_id)
            else:
                journal.forget([delivery_id])
        return super()._postprocess_sent_message(
            success_pids, success_emails, failure_reason=failure_reason, failure_type=failure_type
        )
