"""What the reports' pivot and graph views share."""

from odoo.fields import Domain


def shared_group_formatter(formatter):
    """The web client's group formatter ``formatter`` (``_web_read_group_groupby_formatter``)
    computed once per value: a pivot of every customer by bucket or week formats the same
    customer, bucket or week in each of its cells. The domain of a value is parsed once too
    (a Domain, which the group's domain is combined from as from the list)."""
    formatted = {}

    def format_value(value):
        if value not in formatted:
            label, domain = formatter(value)
            formatted[value] = (label, Domain(domain))
        return formatted[value]

    return format_value
