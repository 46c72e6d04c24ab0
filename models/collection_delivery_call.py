import logging

from odoo import fields, models, sql_db

_logger = logging.getLogger(__name__)


class CollectionDeliveryCall(models.Model):
    """The journal of the provider calls in flight: a row is committed, on a
    connection of its own (``ProviderJournal``), right before the send queue calls a
    provider (*calling*), and again once the provider took the message (*accepted*,
    with its message id). The queue sends a batch of deliveries in one transaction;
    should that transaction be lost after some providers were called (a crash, a
    killed worker, an error), these rows tell what left: accepted, recorded sent with
    its trail; calling, unknown, failed for a person to check; no row, never left,
    still queued. The rows of a batch are deleted once its results are committed.

    No foreign key: the rows are written outside the transaction that holds the
    deliveries."""

    _name = "collection.delivery.call"
    _description = "Collection Provider Call"
    _log_access = False

    delivery_id = fields.Integer(required=True, index=True)
    state = fields.Selection(
        [("calling", "Calling"), ("accepted", "Accepted")], required=True, default="calling"
    )
    provider_ref = fields.Char(string="Provider Reference")
    date = fields.Datetime(required=True, default=fields.Datetime.now)


class ProviderJournal:
    """Writes ``collection.delivery.call`` on its own connection, each write committed
    at once, whatever becomes of the transaction of the queue."""

    def __init__(self, dbname):
        self.dbname = dbname
        self._cr = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _execute(self, query, params=()):
        if self._cr is None:
            self._cr = sql_db.db_connect(self.dbname).cursor()
        try:
            self._cr.execute(query, params)
            rows = self._cr.fetchall() if self._cr.description else None
            self._cr.commit()
        except Exception:
            self._cr.rollback()
            raise
        return rows

    def calling(self, delivery_id, provider_ref=None):
        """The provider of ``delivery_id`` is about to be called."""
        self._execute(
            "INSERT INTO collection_delivery_call (delivery_id, state, provider_ref, date) "
            "VALUES (%s, 'calling', %s, now() AT TIME ZONE 'UTC')",
            (delivery_id, provider_ref),
        )

    def accepted(self, delivery_id, provider_ref):
        """The provider took the message of ``delivery_id`` as ``provider_ref``."""
        self._execute(
            "UPDATE collection_delivery_call SET state = 'accepted', provider_ref = %s "
            "WHERE delivery_id = %s",
            (provider_ref, delivery_id),
        )

    def forget(self, delivery_ids):
        """What became of these deliveries is committed (or their provider refused)."""
        if delivery_ids:
            self._execute(
                "DELETE FROM collection_delivery_call WHERE delivery_id = ANY(%s)",
                (list(delivery_ids),),
            )

    def rows(self):
        """{delivery id: (state, provider ref)} of the calls whose outcome is not
        committed with their delivery."""
        rows = self._execute(
            "SELECT delivery_id, state, provider_ref FROM collection_delivery_call ORDER BY id"
        )
        return {delivery_id: (state, ref) for delivery_id, state, ref in rows}

    def close(self):
        if self._cr is not None:
            try:
                self._cr.close()
            except Exception:  # the connection is gone already
                _logger.info("Provider journal: closing its connection failed", exc_info=True)
            self._cr = None
