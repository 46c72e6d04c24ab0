"""19.0.1.1.0: an invoice's dunning level and last reminder day move from the invoice
(account_move) to collection_invoice_dunning, which a run writes set-based."""


def migrate(cr, version):
    cr.execute(
        """
        SELECT column_name FROM information_schema.columns
         WHERE table_name = 'account_move'
           AND column_name IN ('collection_level_id', 'collection_last_reminder_date')
        """
    )
    columns = {row[0] for row in cr.fetchall()}
    if columns != {"collection_level_id", "collection_last_reminder_date"}:
        return
    cr.execute(
        """
        INSERT INTO collection_invoice_dunning (move_id, level_id, last_reminder_date)
        SELECT id, collection_level_id, collection_last_reminder_date
          FROM account_move
         WHERE collection_level_id IS NOT NULL OR collection_last_reminder_date IS NOT NULL
            ON CONFLICT (move_id) DO NOTHING
        """
    )
    cr.execute(
        "ALTER TABLE account_move DROP COLUMN collection_level_id, "
        "DROP COLUMN collection_last_reminder_date"
    )
