{
    "name": "Collections CRM: book generator and benchmark",
    "summary": "Development only: writes a realistic receivable book and measures "
    "account_collection on it",
    "description": """
Development tooling of account_collection, not shipped with it: a generator of realistic
receivable books (customers, a year of invoices, payments and credit notes, written
through the ORM or set-based) and a benchmark of the addon's figures, worklist and
dunning run on such a book. Run them with dev/generate-book and dev/benchmark.
""",
    "version": "19.0.1.0.0",
    "author": "account_collection contributors",
    "website": "https://github.com/account-collection/account_collection",
    "license": "LGPL-3",
    "category": "Hidden/Tools",
    "depends": ["account_collection"],
    "installable": True,
    "application": False,
}
