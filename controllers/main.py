from odoo import http
from odoo.http import content_disposition, request

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class AccountCollectionController(http.Controller):
    @http.route(
        "/account_collection/aged_receivables/<int:export_id>/xlsx",
        type="http",
        auth="user",
        methods=["GET"],
        readonly=True,
    )
    def aged_receivables_xlsx(self, export_id, **kwargs):
        """The aged receivables of an export the user asked for, as an XLSX workbook.
        Only its author may download it (record rule), and the figures are read with
        the author's own rights."""
        export = request.env["collection.aged.receivable.export"].browse(export_id).exists()
        if not export:
            raise request.not_found()
        export.check_access("read")
        content = export._xlsx_content()
        return request.make_response(
            content,
            headers=[
                ("Content-Type", XLSX_MIMETYPE),
                ("Content-Length", len(content)),
                ("Content-Disposition", content_disposition(export._xlsx_filename())),
            ],
        )
