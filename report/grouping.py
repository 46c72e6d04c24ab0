"""What the reports' pivot and graph views share."""

from odoo import api, models
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


def _conditions(domain):
    """The conditions of ``domain`` (a Domain) as the web client lists them when it is a
    conjunction of conditions (which it and's by listing them all after one '&' less than
    their number), else None."""
    terms = list(domain)
    conditions = [term for term in terms if term != "&"]
    if (
        len(terms) - len(conditions) != len(conditions) - 1
        or not all(isinstance(term, tuple) for term in conditions)
        or (1, "=", 1) in conditions
    ):
        return None
    return conditions


def reads_only(domains, groupby_specs, aggregates, order, fnames, aggregate_specs):
    """Whether grouping ``groupby_specs`` with ``aggregates`` (sorted by ``order``) of the
    records of ``domains`` (domains and'ed) reads no field but ``fnames`` and no
    aggregate but ``aggregate_specs``."""

    def field_of(spec):
        return spec.split(":")[0].split(".")[0]

    if any(field_of(spec) not in fnames for spec in groupby_specs):
        return False
    if any(aggregate not in aggregate_specs for aggregate in aggregates):
        return False
    for term in (order or "").split(","):
        words = term.split()
        if words and words[0] not in groupby_specs and words[0] not in aggregates:
            return False
    for domain in domains:
        for condition in Domain(domain or []).iter_conditions():
            if field_of(condition.field_expr) not in fnames:
                return False
    return True


class CollectionGroupFormatMixin(models.AbstractModel):
    """The groups of a report's pivot and graph formatted for the web client once per
    customer, bucket or week (``shared_group_formatter``), and each cell's domain
    written from its values' domains without parsing them again: a pivot of every
    customer by bucket has tens of thousands of cells. The same values and domains as
    the web client's ``_web_read_group_format``."""

    _name = "collection.group.format.mixin"
    _description = "Report Group Formatting"

    @api.model
    def _web_read_group_format(self, groupby, aggregates, groups):
        if not groups or self._web_read_group_field_expand(groupby):
            return super()._web_read_group_format(groupby, aggregates, groups)
        columns = list(zip(*groups, strict=True))
        formatted = []
        for spec, values in zip(groupby, columns, strict=False):
            formatter = self._web_read_group_groupby_formatter(spec, values)
            per_value = {}
            for value in values:
                if value not in per_value:
                    label, domain = formatter(value)
                    per_value[value] = (label, domain, _conditions(domain))
            formatted.append([per_value[value] for value in values])
        result = []
        for index in range(len(groups)):
            group = {}
            conditions = []
            for spec, values in zip(groupby, formatted, strict=True):
                label, _domain, value_conditions = values[index]
                group[spec] = label
                if conditions is not None and value_conditions is not None:
                    conditions.extend(value_conditions)
                else:
                    conditions = None
            if conditions is None:
                domain = list(Domain.AND(values[index][1] for values in formatted))
            elif conditions:
                domain = ["&"] * (len(conditions) - 1) + conditions
            else:
                domain = [(1, "=", 1)]
            group["__extra_domain"] = domain
            result.append(group)
        for spec, values in zip(aggregates, columns[len(groupby) :], strict=True):
            for value, group in zip(values, result, strict=True):
                group[spec] = value
        return result

    @api.model
    def _web_read_group_groupby_formatter(self, groupby_spec, values):
        return shared_group_formatter(
            super()._web_read_group_groupby_formatter(groupby_spec, values)
        )
