{
    "name": "Collections CRM: credit hold on sales orders",
    "summary": "A customer on credit hold cannot have a sales order confirmed (a company "
    "setting); sales managers still may, logged on the customer",
    "description": """
Bridge between the Collections CRM (account_collection) and Sales, installed by itself
when both are: when the company's setting *Credit Hold Blocks Sales Orders* is on, a
sales order of a customer the collections put on credit hold is not confirmed; the
salesperson is told who is on hold and what is overdue. Sales managers and collection
managers may still confirm it: the confirmation is logged as an interaction of the
customer.
""",
    "version": "19.0.1.0.0",
    "author": "account_collection contributors",
    "website": "https://github.com/account-collection/account_collection",
    "license": "LGPL-3",
    "category": "Accounting/Accounting",
    "depends": ["account_collection", "sale"],
    "data": [
        "security/ir.model.access.csv",
        "security/account_collection_sale_security.xml",
        "views/res_config_settings_views.xml",
    ],
    "installable": True,
    "auto_install": True,
    "application": False,
}
