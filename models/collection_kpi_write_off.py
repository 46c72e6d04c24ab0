from odoo import api, models
from odoo.tools import SQL

from ..report.collection_kpi_report import payment_move_sql


class CollectionKpi(models.AbstractModel):
    """The write-offs among the collection KPIs: ``written_off``, the receivables
    written off as bad debt in the period (the receivable credits of the posted
    write-off entries dated in it, reversed since or not), and
    ``recovered_after_write_off``, the payments matched in the period (by the matching's
    date, as ``recovered``) with invoices written off before that date."""

    _inherit = "collection.kpi"

    @api.model
    def _kpi_values(self, date_from, date_to, ledger, partner_query):
        values = super()._kpi_values(date_from, date_to, ledger, partner_query)
        values.update(self._kpi_write_offs(date_from, date_to, partner_query))
        return values

    @api.model
    def _kpi_write_offs(self, date_from, date_to, partner_query):
        company = self.env.company
        for model, fnames in {
            "account.move.line": ["balance", "date", "partner_id", "move_id", "parent_state"],
            "account.move": ["state", "date", "collection_written_off_move_ids"],
            "account.partial.reconcile": ["amount", "max_date", "debit_move_id", "credit_move_id"],
        }.items():
            self.env[model].flush_model(fnames)
        restrict = SQL()
        if partner_query is not None:
            restrict = SQL("AND partner.commercial_partner_id IN %s", partner_query.subselect())
        # The user may read the collection analyses (checked by get_kpis); the figures
        # are those of the current company and of the customers selected.
        # Read from the write-offs (a few entries) towards their items and matchings, not
        # from every matching of the period: a write-off's invoices are found by their
        # entry (rel.move_id), the earliest posted write-off of each decides from when a
        # payment counts as recovered.
        [(written_off, recovered)] = self.env.execute_query(
            SQL(
                """
                WITH write_off AS MATERIALIZED (
                    SELECT DISTINCT rel.write_off_id AS move_id
                      FROM collection_write_off_move_rel rel
                ),
                written_off AS MATERIALIZED (
                    SELECT rel.move_id, MIN(write_off.date) AS date
                      FROM collection_write_off_move_rel rel
                      JOIN account_move write_off ON write_off.id = rel.write_off_id
                     WHERE write_off.state = 'posted'
                     GROUP BY rel.move_id
                )
                SELECT
                  (SELECT COALESCE(SUM(-aml.balance), 0.0)
                     FROM write_off
                     JOIN account_move_line aml ON aml.move_id = write_off.move_id
                     JOIN res_partner partner ON partner.id = aml.partner_id
                    WHERE %(receivable)s
                      AND aml.date BETWEEN %(date_from)s AND %(date_to)s
                      %(restrict)s),
                  (SELECT COALESCE(SUM(apr.amount), 0.0)
                     FROM written_off
                     JOIN account_move_line debit ON debit.move_id = written_off.move_id
                     JOIN account_partial_reconcile apr ON apr.debit_move_id = debit.id
                     JOIN account_move_line credit ON credit.id = apr.credit_move_id
                     JOIN account_move counterpart_move ON counterpart_move.id = credit.move_id
                     JOIN res_partner partner ON partner.id = debit.partner_id
                    WHERE debit.company_id = %(company_id)s
                      AND apr.max_date BETWEEN %(date_from)s AND %(date_to)s
                      AND written_off.date <= apr.max_date
                      AND %(is_payment)s
                      %(restrict)s)
                """,
                receivable=self.env["collection.ledger"]._receivable_condition(company),
                date_from=date_from,
                date_to=date_to,
                company_id=company.id,
                is_payment=payment_move_sql("counterpart_move"),
                restrict=restrict,
            )
        )
        currency = company.currency_id
        return {
            "written_off": currency.round(written_off),
            "recovered_after_write_off": currency.round(recovered),
        }
