"""19.0.1.2.0: an invoice climbs the ladder one level at a time, its next level counted
from the day it reached its level (collection.invoice.dunning.level_date). Invoices
already at a level get the day of their last reminder at that level, else the day they
were last reminded; the others count from the day they would have reached it."""


def migrate(cr, version):
    cr.execute(
        """
        UPDATE collection_invoice_dunning inv
           SET level_date = COALESCE(
                   (SELECT MAX(c.date)
                      FROM collection_communication c
                      JOIN collection_communication_account_move_rel rel
                        ON rel.communication_id = c.id
                     WHERE rel.move_id = inv.move_id
                       AND c.level_id = inv.level_id),
                   inv.last_reminder_date)
         WHERE inv.level_id IS NOT NULL
           AND inv.level_date IS NULL
        """
    )
