{
    "name": "Collections CRM",
    "summary": "Collections worklist, interaction log and promises to pay, computed from the ledger",
    "description": """
Collections CRM inside Odoo Accounting: who owes what and since when, what was said to
each customer, what they promised and what happens next. Figures are read from posted
receivable lines in real time; nothing is synchronised or typed twice.
""",
    "version": "19.0.1.0.0",
    "author": "account_collection contributors",
    "website": "https://github.com/account-collection/account_collection",
    "license": "LGPL-3",
    "category": "Accounting/Accounting",
    "depends": ["account", "mail", "portal", "phone_validation"],
    "external_dependencies": {"python": ["phonenumbers"]},
    "data": [
        "security/account_collection_groups.xml",
        "security/ir.model.access.csv",
        "security/account_collection_security.xml",
        "data/collection_stage_data.xml",
        "data/mail_activity_type_data.xml",
        "data/ir_cron_data.xml",
        "wizards/collection_interaction_log_views.xml",
        "views/collection_aging_bucket_views.xml",
        "views/collection_stage_views.xml",
        "views/collection_interaction_views.xml",
        "views/collection_promise_views.xml",
        "views/res_partner_views.xml",
        "views/account_move_views.xml",
        "views/res_config_settings_views.xml",
        "views/account_collection_menus.xml",
    ],
    "demo": [
        "demo/res_users_demo.xml",
        "demo/res_partner_demo.xml",
        "demo/account_move_demo.xml",
        "demo/collection_demo.xml",
    ],
    "assets": {
        "web.assets_tests": [
            "account_collection/static/tests/tours/**/*",
        ],
    },
    "post_init_hook": "post_init_hook",
    "installable": True,
    "application": True,
}
