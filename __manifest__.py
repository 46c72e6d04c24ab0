{
    "name": "Collections CRM",
    "summary": "Collections CRM in the ledger: worklist, reminders, promises, disputes, "
    "payment agreements, portal, KPIs",
    "description": """
Collections CRM inside Odoo Accounting: who owes what and since when, what was said to
each customer, what they promised and what happens next. Figures are read from posted
receivable lines in real time; nothing is synchronised or typed twice.

A prioritised worklist, a one-step interaction log, promises to pay that follow the
ledger, automatic reminders by email, SMS, WhatsApp and letter, disputes routed to the
right person, payment agreements in instalments, a customer portal to promise, dispute
and pay, collection KPIs, a dashboard and the documents that go with them.
""",
    "version": "19.0.1.3.0",
    "author": "account_collection contributors",
    "website": "https://github.com/account-collection/account_collection",
    "license": "LGPL-3",
    "category": "Accounting/Accounting",
    "depends": ["account", "mail", "portal", "phone_validation", "sms", "sales_team", "resource"],
    "external_dependencies": {"python": ["phonenumbers", "holidays", "dateparser"]},
    "data": [
        "security/account_collection_groups.xml",
        "security/ir.model.access.csv",
        "security/account_collection_security.xml",
        "report/collection_letter_reports.xml",
        "report/collection_letter_templates.xml",
        "report/collection_aged_receivable_reports.xml",
        "report/collection_aged_receivable_templates.xml",
        "report/collection_statement_reports.xml",
        "report/collection_statement_templates.xml",
        "report/collection_dossier_reports.xml",
        "report/collection_dossier_templates.xml",
        "report/collection_kpi_report_views.xml",
        "report/collection_agreement_reports.xml",
        "report/collection_agreement_templates.xml",
        "data/collection_stage_data.xml",
        "data/res_partner_data.xml",
        "data/mail_activity_type_data.xml",
        "data/ir_cron_data.xml",
        "data/mail_template_data.xml",
        "data/sms_template_data.xml",
        "data/collection_policy_data.xml",
        "data/collection_agreement_data.xml",
        "data/collection_dispute_data.xml",
        "data/collection_interest_rate_data.xml",
        "wizards/collection_interaction_log_views.xml",
        "wizards/collection_dunning_run_views.xml",
        "wizards/collection_communication_postpone_views.xml",
        "wizards/collection_invoice_hold_views.xml",
        "views/collection_aging_bucket_views.xml",
        "views/collection_stage_views.xml",
        "views/collection_interaction_views.xml",
        "views/collection_promise_views.xml",
        "views/collection_agreement_views.xml",
        "views/collection_policy_views.xml",
        "views/collection_communication_views.xml",
        "views/collection_dispute_views.xml",
        "views/collection_reply_views.xml",
        "views/res_partner_views.xml",
        "views/collection_aged_receivable_report_views.xml",
        "views/account_move_views.xml",
        "views/res_config_settings_views.xml",
        "views/collection_dashboard_views.xml",
        "views/collection_portal_templates.xml",
        "views/account_collection_menus.xml",
        "views/collection_interest_rate_views.xml",
    ],
    "demo": [
        "demo/res_users_demo.xml",
        "demo/res_partner_demo.xml",
        "demo/account_move_demo.xml",
        "demo/collection_demo.xml",
        "demo/collection_reminder_demo.xml",
        "demo/collection_letter_demo.xml",
        "demo/collection_reply_demo.xml",
    ],
    "assets": {
        "web.assets_backend": [
            "account_collection/static/src/components/**/*",
        ],
        "web.assets_tests": [
            "account_collection/static/tests/tours/**/*",
        ],
    },
    "post_init_hook": "post_init_hook",
    "installable": True,
    "application": True,
}
