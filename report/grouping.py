"""What the reports' pivot and graph views share."""

from odoo import api, models
from odoo.fields import Domain
from odoo.models import parse_read_group_spec
from odoo.tools import SQL

from odoo.addons.base.models.res_partner import ResPartner

# The context keys that change how a partner's name is displayed (display_name).
PARTNER_NAME_CONTEXT = (
    "show_address",
    "partner_show_db_id",
    "show_email",
    "show_vat",
    "formatted_display_name",
    "partner_display_name_hide_company",
)
# The key of the customers' names read by one formatted_read_grouping_sets in the
# cursor's cache: its grouping sets show the same customers.
NAMES_KEY = "collection.group.format.mixin.partner_names"
# The operators of the conditions the web client's group formatters write.
GROUP_OPERATORS = ("=", ">=", "<")
# The customers in the order of res.partner's own _order, each with its rank: groups
# sorted on the customer are sorted on the rank (an integer) rather than on the names of
# every group (each customer in several cells of a pivot).
PARTNER_RANK_SQL = SQL(
    """(SELECT id, ROW_NUMBER() OVER (ORDER BY complete_name ASC, id DESC) AS rank
          FROM res_partner
         WHERE id = commercial_partner_id)"""
)


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
    """The conditions of ``domain`` (as a group formatter writes it) as the web client's
    ``AND`` lists them when it is a conjunction of simple conditions (which it and's by
    listing them all after one '&' less than their number), else None."""
    if len(domain) == 1:
        # The many2one, selection and date groups: one condition.
        [term] = domain
        if (
            type(term) is tuple
            and len(term) == 3
            and type(term[0]) is str
            and term[0] != "1"
            and term[1] in GROUP_OPERATORS
            and isinstance(term[2], int | str | bool)
        ):
            return domain
        return None
    conditions = [term for term in domain if term != "&"]
    if len(domain) - len(conditions) != len(conditions) - 1 or not all(
        isinstance(term, tuple)
        and len(term) == 3
        and isinstance(term[0], str)
        and term[0] != "1"
        and term[1] in GROUP_OPERATORS
        and isinstance(term[2], int | str | bool)
        for term in conditions
    ):
        return None
    return conditions


def _partner_names(env, partners):
    """{id: name} of the ``partners`` whose displayed name is their stored complete name
    (``complete_name``): with res.partner's own display_name, in a context that does
    not change it, for partners that have a name (the name of a partner without one is
    its address type, in the reader's language). Read in one query, where display_name
    fetches every column of every partner, and once per formatted_read_grouping_sets
    (NAMES_KEY) for the same partners."""
    Partner = type(env["res.partner"])
    if (
        Partner._compute_display_name is not ResPartner._compute_display_name
        or Partner._get_complete_name is not ResPartner._get_complete_name
        or any(env.context.get(key) for key in PARTNER_NAME_CONTEXT)
        or not partners
    ):
        return {}
    read = env.cr.cache.get(NAMES_KEY)
    if read is not None and read[0] == tuple(partners.ids):
        return read[1]
    env["res.partner"].flush_model(["name", "complete_name"])
    rows = env.execute_query(
        SQL(
            "SELECT id, complete_name FROM res_partner WHERE id IN %s AND name IS NOT NULL "
            "AND name != ''",
            tuple(partners.ids),
        )
    )
    names = dict(rows)
    if read is not None:
        env.cr.cache[NAMES_KEY] = (tuple(partners.ids), names)
    return names


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
    @api.readonly
    def formatted_read_grouping_sets(self, domain, grouping_sets, aggregates=(), *, order=None):
        """The customers' names read once for all the grouping sets (``_partner_names``):
        the pivot's customers by bucket and its customers alone show the same ones."""
        cache = self.env.cr.cache
        cache[NAMES_KEY] = ((), {})
        try:
            return super().formatted_read_grouping_sets(
                domain, grouping_sets, aggregates, order=order
            )
        finally:
            cache.pop(NAMES_KEY, None)

    @api.model
    def _read_group_orderby(self, order, groupby_terms, query):
        return super(
            CollectionGroupFormatMixin, self.with_context(collection_partner_rank=True)
        )._read_group_orderby(order, groupby_terms, query)

    def _order_field_to_sql(self, alias, field_name, direction, nulls, query):
        """Groups sorted on the customer (``partner_id``, a commercial partner) are sorted
        on its rank in res.partner's own order (PARTNER_RANK_SQL): the same order."""
        field = self._fields.get(field_name)
        if (
            not self.env.context.get("collection_partner_rank")
            or field_name != "partner_id"
            or field.type != "many2one"
            or field.comodel_name != "res.partner"
            or self.env["res.partner"]._order != "complete_name ASC, id DESC"
            or nulls.code
        ):
            return super()._order_field_to_sql(alias, field_name, direction, nulls, query)
        rank_alias = query.make_alias(alias, "partner_rank")
        sql_field = self._field_to_sql(alias, field_name, query)
        if rank_alias not in query._joins:
            query.add_join(
                "LEFT JOIN",
                rank_alias,
                PARTNER_RANK_SQL,
                SQL("%s = %s", SQL.identifier(rank_alias, "id"), sql_field),
            )
        rank = SQL.identifier(rank_alias, "rank")
        query._order_groupby.append(rank)
        return SQL("%s %s", rank, direction)

    @api.model
    def _read_group_postprocess_groupby(self, groupby_spec, raw_values):
        """The groups' records of a many2one, one per value shared by all the groups of
        that value (the same records as Odoo's, with the same prefetch): a pivot of every
        customer by bucket has each customer in several cells."""
        fname, chain_fnames, _granularity = parse_read_group_spec(groupby_spec)
        field = self._fields.get(fname)
        if chain_fnames or not field or field.type != "many2one":
            return super()._read_group_postprocess_groupby(groupby_spec, raw_values)
        Model = self.pool[field.comodel_name]
        empty_value = self._read_group_empty_value(groupby_spec)
        prefetch_ids = tuple(raw_value for raw_value in raw_values if raw_value)
        records = {value: Model(self.env, (value,), prefetch_ids) for value in set(prefetch_ids)}
        return [records[value] if value else empty_value for value in raw_values]

    @api.model
    def _web_read_group_format(self, groupby, aggregates, groups):
        if not groups or self._web_read_group_field_expand(groupby):
            return super()._web_read_group_format(groupby, aggregates, groups)
        columns = list(zip(*groups, strict=True))
        formatted = []
        for spec, values in zip(groupby, columns, strict=False):
            formatter = self._collection_group_formatter(spec, values)
            # Keyed by the records' ids: hashing a record hashes a frozenset of its ids.
            keys = [
                value._ids if isinstance(value, models.BaseModel) else value for value in values
            ]
            per_value = {}
            for key, value in zip(keys, values, strict=True):
                if key not in per_value:
                    label, domain = formatter(value)
                    conditions = _conditions(domain)
                    if conditions is None:
                        domain = Domain(domain)
                    per_value[key] = (label, domain, conditions)
            formatted.append([per_value[key] for key in keys])
        if not groupby:
            result = [{"__extra_domain": [(1, "=", 1)]} for _group in groups]
        else:
            result = []
            for cells in zip(*formatted, strict=True):
                group = {spec: cell[0] for spec, cell in zip(groupby, cells, strict=True)}
                if all(cell[2] is not None for cell in cells):
                    conditions = [condition for cell in cells for condition in cell[2]]
                    domain = ["&"] * (len(conditions) - 1) + conditions or [(1, "=", 1)]
                else:
                    domain = list(Domain.AND(cell[1] for cell in cells))
                group["__extra_domain"] = domain
                result.append(group)
        for spec, values in zip(aggregates, columns[len(groupby) :], strict=True):
            for value, group in zip(values, result, strict=True):
                group[spec] = value
        return result

    @api.model
    def _collection_group_formatter(self, groupby_spec, values):
        """The web client's formatter of the group values ``values`` of ``groupby_spec``
        (see ``_web_read_group_groupby_formatter``): the customers' names read at once
        (``_partner_names``)."""
        fname = groupby_spec.split(":")[0]
        field = self._fields.get(fname)
        formatter = super()._web_read_group_groupby_formatter(groupby_spec, values)
        if not field or field.type != "many2one" or field.comodel_name != "res.partner":
            return formatter
        partner_ids = {id_ for value in values for id_ in value._ids}
        names = _partner_names(self.env, self.env["res.partner"].browse(sorted(partner_ids)))

        def format_partner(value):
            if value._ids and (name := names.get(value._ids[0])) is not None:
                return (value._ids[0], name), [(fname, "=", value._ids[0])]
            return formatter(value)

        return format_partner

    @api.model
    def _web_read_group_groupby_formatter(self, groupby_spec, values):
        return shared_group_formatter(self._collection_group_formatter(groupby_spec, values))
