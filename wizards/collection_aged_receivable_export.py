import ast
import io

import xlsxwriter

from odoo import api, fields, models
from odoo.exceptions import ValidationError
from odoo.fields import Domain
from odoo.tools import format_date


class CollectionAgedReceivableExport(models.TransientModel):
    """The filters of an aged receivables export (PDF or XLSX), kept for the user who
    asked for it: the files are built from the same items and grouping as the view,
    with the user's own access rights."""

    _name = "collection.aged.receivable.export"
    _description = "Aged Receivables Export"

    company_id = fields.Many2one(
        "res.company", required=True, readonly=True, default=lambda self: self.env.company
    )
    domain = fields.Text(
        default="[]", required=True, help="Filter on the aged receivables items to export."
    )

    @api.constrains("domain")
    def _check_domain(self):
        Report = self.env["collection.aged.receivable.report"]
        for export in self:
            try:
                Domain(export._parsed_domain()).validate(Report)
            except (ValueError, SyntaxError, TypeError) as e:
                raise ValidationError(
                    self.env._(
                        "The aged receivables cannot be filtered this way: %(error)s", error=e
                    )
                ) from e

    def _parsed_domain(self):
        self.ensure_one()
        domain = ast.literal_eval(self.domain or "[]")
        if not isinstance(domain, list | tuple):
            raise ValueError(self.env._("a list of conditions is expected"))
        return list(domain)

    def _data(self):
        """Aging per customer and bucket, in the export's company, as the view shows it
        to the current user (record rules apply: a collector restricted to a portfolio
        gets only their customers)."""
        self.ensure_one()
        Report = self.env["collection.aged.receivable.report"].with_company(self.company_id)
        return Report._aged_receivable_data(self._parsed_domain())

    def _items(self):
        self.ensure_one()
        return (
            self.env["collection.aged.receivable.report"]
            .with_company(self.company_id)
            .search(self._parsed_domain())
        )

    # ------------------------------------------------------------------
    # Files
    # ------------------------------------------------------------------

    def action_print_pdf(self):
        self.ensure_one()
        return self.env.ref(
            "account_collection.action_report_collection_aged_receivable"
        ).report_action(self)

    def action_export_xlsx(self):
        self.ensure_one()
        return {
            "type": "ir.actions.act_url",
            "url": f"/account_collection/aged_receivables/{self.id}/xlsx",
            "target": "download",
        }

    def _xlsx_filename(self):
        self.ensure_one()
        return self.env._(
            "Aged Receivables %(date)s.xlsx",
            date=fields.Date.to_string(self.env["res.partner"]._collection_today()),
        )

    def _xlsx_content(self):
        """The aged receivables workbook: a sheet of customers by bucket with the totals
        (the pivot view), and a sheet of the open items behind them (the list view)."""
        self.ensure_one()
        data = self._data()
        currency = data["currency"]
        output = io.BytesIO()
        # Names are the customers' and users' own text: written as text, never as a
        # formula ("=HYPERLINK(...)") or a link the spreadsheet would follow.
        workbook = xlsxwriter.Workbook(
            output, {"in_memory": True, "strings_to_formulas": False, "strings_to_urls": False}
        )
        amount_format = (
            f"#,##0.{'0' * currency.decimal_places}" if currency.decimal_places else "#,##0"
        )
        styles = {
            "title": workbook.add_format({"bold": True, "font_size": 14}),
            "header": workbook.add_format({"bold": True, "bottom": 1, "text_wrap": True}),
            "amount": workbook.add_format({"num_format": amount_format}),
            "total_label": workbook.add_format({"bold": True, "top": 1}),
            "total": workbook.add_format({"bold": True, "top": 1, "num_format": amount_format}),
            "date": workbook.add_format({"num_format": "yyyy-mm-dd"}),
        }
        env = self.env

        # Customers by bucket
        sheet = workbook.add_worksheet(env._("Aged Receivables")[:31])
        sheet.write(0, 0, env._("Aged Receivables"), styles["title"])
        sheet.write(
            1,
            0,
            env._(
                "%(company)s, as of %(date)s, in %(currency)s",
                company=data["company"].name,
                date=format_date(env, data["date"]),
                currency=currency.name,
            ),
        )
        headers = [env._("Customer"), env._("Collector")]
        headers += [bucket.name for bucket in data["buckets"]]
        headers.append(env._("Total"))
        sheet.write_row(3, 0, headers, styles["header"])
        row_index = 4
        for row in data["rows"]:
            sheet.write(row_index, 0, row["partner"].display_name)
            sheet.write(row_index, 1, row["collector"].name or "")
            for column, bucket in enumerate(data["buckets"], start=2):
                sheet.write_number(
                    row_index, column, row["amounts"].get(bucket, 0.0), styles["amount"]
                )
            sheet.write_number(row_index, len(headers) - 1, row["total"], styles["amount"])
            row_index += 1
        sheet.write(row_index, 0, env._("Total"), styles["total_label"])
        sheet.write(row_index, 1, "", styles["total_label"])
        for column, bucket in enumerate(data["buckets"], start=2):
            sheet.write_number(row_index, column, data["totals"][bucket], styles["total"])
        sheet.write_number(row_index, len(headers) - 1, data["total"], styles["total"])
        sheet.set_column(0, 0, 36)
        sheet.set_column(1, 1, 20)
        sheet.set_column(2, len(headers) - 1, 14)
        sheet.freeze_panes(4, 1)

        # Open items
        sheet = workbook.add_worksheet(env._("Open Items")[:31])
        headers = [
            env._("Customer"),
            env._("Document"),
            env._("Date"),
            env._("Due Date"),
            env._("Days Overdue"),
            env._("Aging Bucket"),
            env._("Amount Due"),
        ]
        sheet.write_row(0, 0, headers, styles["header"])
        for row_index, item in enumerate(self._items(), start=1):
            sheet.write(row_index, 0, item.partner_id.display_name)
            sheet.write(row_index, 1, item.move_id.display_name)
            sheet.write_datetime(row_index, 2, item.date, styles["date"])
            sheet.write_datetime(row_index, 3, item.date_maturity, styles["date"])
            sheet.write_number(row_index, 4, item.days_overdue)
            sheet.write(row_index, 5, item.bucket_id.name or "")
            sheet.write_number(row_index, 6, item.amount_residual, styles["amount"])
        sheet.set_column(0, 1, 30)
        sheet.set_column(2, 5, 14)
        sheet.set_column(6, 6, 16)
        sheet.freeze_panes(1, 0)
        sheet.autofilter(0, 0, 0, len(headers) - 1)

        workbook.close()
        return output.getvalue()
