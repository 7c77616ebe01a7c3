"""CQL2 text filters (OGC API – Features Part 3, ``filter=…&filter-lang=cql2-text``) run on
the server: parsed by pygeofilter, translated to SQL with every value a bound parameter and
every property one of the layer's queryables (its ``in`` filters, by their query parameter's
name, over their column). What is not understood is refused with a message saying what is.

Supported: ``=``, ``<>``, ``<``, ``<=``, ``>``, ``>=``, ``LIKE`` (and ``NOT LIKE``), ``IN``,
``BETWEEN``, ``IS [NOT] NULL``, combined with ``AND``, ``OR``, ``NOT`` and parentheses.
GDAL before 3.8 sends the same grammar as ``filter-lang=cql-text``, accepted as well.

>>> from layers.registry import get_layer
>>> cql_where(get_layer("appeals"), "status = 'assigned' AND category IN ('ice', 'garbage')")
('((src.status = :cql_0) AND (src.category_code = ANY(:cql_1)))', {'cql_0': 'assigned', \
'cql_1': ['ice', 'garbage']})
"""

from __future__ import annotations

import datetime as dt

from pygeofilter import ast

from layers.filters import BIGINT, MAX_VALUES, BadQuery
from layers.registry import Filter, Layer

LANGS = ("cql2-text", "cql-text")
"""The ``filter-lang`` values accepted (``cql-text`` is what GDAL 3.6 sends)."""
MAX_CHARS = 2000
_OPS = {
    ast.Equal: "=",
    ast.NotEqual: "<>",
    ast.LessThan: "<",
    ast.LessEqual: "<=",
    ast.GreaterThan: ">",
    ast.GreaterEqual: ">=",
}


def queryable_filters(layer: Layer) -> dict[str, Filter]:
    """The layer's queryables: its ``in`` filters by name (as ``/queryables`` lists them)."""
    return {f.name: f for f in layer.filters if f.kind == "in"}


def cql_where(layer: Layer, text: str, alias: str = "src") -> tuple[str, dict]:
    """A CQL2 text filter as one SQL condition over ``alias`` and its bound parameters.

    Raises
    ------
    BadQuery
        Unparsable text, an unknown property, a value of the wrong type, or an operator
        that is not supported; the message says which.
    """
    text = text.strip()
    if not text:
        raise BadQuery("filter: empty; e.g. filter=status='assigned'")
    if len(text) > MAX_CHARS:
        raise BadQuery(f"filter: longer than {MAX_CHARS} characters")
    try:
        from pygeofilter.parsers.cql2_text import parse

        node = parse(text)
    except Exception as exc:  # lark's errors carry a caret diagram: keep the first line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BadQuery(f"filter: not CQL2 text ({first})") from None
    return _Compiler(layer, alias).sql(node)


class _Compiler:
    def __init__(self, layer: Layer, alias: str):
        self.layer, self.alias = layer, alias
        self.fields = queryable_filters(layer)
        self.params: dict[str, object] = {}

    def sql(self, node) -> tuple[str, dict]:
        return self.node(node, 0), self.params

    def bind(self, value) -> str:
        key = f"cql_{len(self.params)}"
        self.params[key] = value
        return f":{key}"

    def field(self, node) -> Filter:
        if not isinstance(node, ast.Attribute):
            raise BadQuery(
                "filter: compare a property with a value, e.g. status = 'assigned' "
                f"(got {node!r} where a property was expected)"
            )
        f = self.fields.get(node.name)
        if f is None:
            known = ", ".join(self.fields) or "none"
            raise BadQuery(
                f"filter: {node.name!r} is not a queryable of {self.layer.name!r} "
                f"(queryables: {known})"
            )
        return f

    def value(self, f: Filter, v, *, enum: bool = True):
        if f.value_type == "int":
            if isinstance(v, bool) or not isinstance(v, int) or abs(v) > BIGINT:
                raise BadQuery(f"filter: {f.name} takes integers, not {v!r}")
            return v
        if isinstance(v, dt.datetime | dt.date) or not isinstance(v, str):
            raise BadQuery(f"filter: {f.name} takes text in single quotes, not {v!r}")
        if enum and f.values and v not in f.values:
            raise BadQuery(f"filter: {f.name} = {v!r} is unknown; one of {', '.join(f.values)}")
        return v

    def column(self, f: Filter) -> str:
        return f"{self.alias}.{f.column}"

    def node(self, node, depth: int) -> str:
        if depth > 50:
            raise BadQuery("filter: nested more than 50 levels deep")
        if isinstance(node, ast.And | ast.Or):
            op = "AND" if isinstance(node, ast.And) else "OR"
            return f"({self.node(node.lhs, depth + 1)} {op} {self.node(node.rhs, depth + 1)})"
        if isinstance(node, ast.Not):
            return f"(NOT {self.node(node.sub_node, depth + 1)})"
        if type(node) in _OPS:
            lhs, rhs, op = node.lhs, node.rhs, _OPS[type(node)]
            if isinstance(rhs, ast.Attribute) and not isinstance(lhs, ast.Attribute):
                lhs, rhs = rhs, lhs
                op = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}.get(op, op)
            f = self.field(lhs)
            ordered = op not in ("=", "<>")
            return f"({self.column(f)} {op} {self.bind(self.value(f, rhs, enum=not ordered))})"
        if isinstance(node, ast.Like):
            f = self.field(node.lhs)
            if f.value_type == "int":
                raise BadQuery(f"filter: LIKE compares text; {f.name} is an integer")
            pattern = self.value(f, node.pattern, enum=False)
            like = "ILIKE" if node.nocase else "LIKE"
            neg = "NOT " if node.not_ else ""
            return f"({self.column(f)} {neg}{like} {self.bind(pattern)})"
        if isinstance(node, ast.In):
            f = self.field(node.lhs)
            if not node.sub_nodes or len(node.sub_nodes) > MAX_VALUES:
                raise BadQuery(f"filter: IN takes 1 to {MAX_VALUES} values")
            values = [self.value(f, v) for v in node.sub_nodes]
            neg = "NOT " if node.not_ else ""
            return f"({neg}{self.column(f)} = ANY({self.bind(values)}))"
        if isinstance(node, ast.Between):
            f = self.field(node.lhs)
            low, high = (self.value(f, v, enum=False) for v in (node.low, node.high))
            neg = "NOT " if node.not_ else ""
            return f"({self.column(f)} {neg}BETWEEN {self.bind(low)} AND {self.bind(high)})"
        if isinstance(node, ast.IsNull):
            f = self.field(node.lhs)
            return f"({self.column(f)} IS {'NOT ' if node.not_ else ''}NULL)"
        raise BadQuery(
            f"filter: {type(node).__name__} is not supported here; use =, <>, <, <=, >, >=, "
            "LIKE, IN, BETWEEN, IS NULL with AND, OR, NOT"
        )


__all__ = ["LANGS", "cql_where", "queryable_filters"]
