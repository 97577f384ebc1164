"""The simulator's ``searchCriteria`` engine: parse, filter, sort, page, echo, ``fields=``.

Faithful to Magento where it matters to a client: snake_case and camelCase keys, OR inside
a filter group and AND across groups, ``eq`` as the default condition, DESC as the
default direction, MySQL-like case-insensitive string comparison, ``pageSize`` capped at
300 (400 above it), ``currentPage`` past the end answering the last page again (or an
empty page, configurable), and the snake_case ``search_criteria`` echo.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_KEYS = {
    "filterGroups": "filter_groups",
    "filter_groups": "filter_groups",
    "sortOrders": "sort_orders",
    "sort_orders": "sort_orders",
    "pageSize": "page_size",
    "page_size": "page_size",
    "currentPage": "current_page",
    "current_page": "current_page",
}
_FILTER_KEYS = {
    "field": "field",
    "value": "value",
    "conditionType": "condition_type",
    "condition_type": "condition_type",
}
CONDITIONS = frozenset(
    [
        "eq",
        "finset",
        "from",
        "gt",
        "gteq",
        "in",
        "like",
        "lt",
        "lteq",
        "moreq",
        "neq",
        "nfinset",
        "nin",
        "nlike",
        "notnull",
        "null",
        "to",
    ]
)


class SearchError(Exception):
    """A request Magento would refuse: carries the status and the error body."""

    def __init__(self, status: int, message: str, parameters: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"message": message}
        if parameters is not None:
            self.body["parameters"] = parameters


@dataclass
class Criteria:
    """Parsed search criteria (snake_case)."""

    filter_groups: list[list[dict[str, str]]] = field(default_factory=list)
    sort_orders: list[dict[str, str]] = field(default_factory=list)
    page_size: int | None = None
    current_page: int | None = None

    def echo(self) -> dict[str, Any]:
        """The ``search_criteria`` Magento sends back: only what was asked, snake_case."""
        out: dict[str, Any] = {"filter_groups": [{"filters": g} for g in self.filter_groups]}
        if self.sort_orders:
            out["sort_orders"] = self.sort_orders
        if self.page_size is not None:
            out["page_size"] = self.page_size
        if self.current_page is not None:
            out["current_page"] = self.current_page
        return out


def _nest(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+|(?<=\[)(?=\])", key)
        node = root
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1] if parts else key] = value
    return root


def _bad_property(name: str) -> SearchError:
    camel = name[:1].upper() + re.sub(r"_([a-z])", lambda m: m.group(1).upper(), name[1:])
    return SearchError(
        400,
        'Property "%1" does not have accessor method "%2" in class "%3".',
        [camel, f"get{camel}", "Magento\\Framework\\Api\\SearchCriteriaInterface"],
    )


def parse_criteria(pairs: list[tuple[str, str]]) -> Criteria:
    """Parse ``searchCriteria[...]`` query pairs; raise :class:`SearchError` like Magento."""
    tree = _nest([(k, v) for k, v in pairs if k.startswith("searchCriteria")])
    if "searchCriteria" not in tree:
        raise SearchError(
            400, '"%fieldName" is required. Enter and try again.', {"fieldName": "searchCriteria"}
        )
    raw = tree["searchCriteria"]
    criteria = Criteria()
    if not isinstance(raw, dict):
        return criteria  # "searchCriteria=" / "searchCriteria=all": no filter
    for key, value in raw.items():
        name = _KEYS.get(key)
        if name is None:
            raise _bad_property(key)
        if name == "filter_groups":
            for _, group in sorted(_indexed(value)):
                filters = []
                for _, flt in sorted(_indexed(group.get("filters", {}))):
                    parsed = {_FILTER_KEYS.get(k, k): v for k, v in flt.items()}
                    unknown = set(parsed) - {"field", "value", "condition_type"}
                    if unknown:
                        raise _bad_property(sorted(unknown)[0])
                    condition = parsed.get("condition_type") or "eq"
                    if condition not in CONDITIONS:
                        raise SearchError(400, 'Invalid condition type "%1".', [condition])
                    filters.append(
                        {
                            "field": parsed.get("field", ""),
                            "value": parsed.get("value", ""),
                            "condition_type": condition,
                        }
                    )
                criteria.filter_groups.append(filters)
        elif name == "sort_orders":
            for _, order in sorted(_indexed(value)):
                direction = str(order.get("direction") or "DESC").upper()
                criteria.sort_orders.append(
                    {
                        "field": order.get("field", ""),
                        "direction": "ASC" if direction == "ASC" else "DESC",
                    }
                )
        else:
            setattr(criteria, name, _int(value))
    return criteria


def _indexed(value: Any) -> list[tuple[int, dict[str, Any]]]:
    if not isinstance(value, dict):
        return []
    return [(_int(k), v) for k, v in value.items() if isinstance(v, dict)]


def _int(value: Any) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        return 0


# -- evaluation ---------------------------------------------------------------------------


def _as_number(value: Any) -> float:
    try:
        return float(str(value).strip())
    except ValueError:
        return 0.0  # MySQL casts non-numeric strings to 0


def _compare(left: Any, right: str) -> int:
    if isinstance(left, bool):
        left = int(left)
    if isinstance(left, int | float):
        a, b = float(left), _as_number(right)
    else:
        a, b = str(left).casefold(), right.casefold()  # type: ignore[assignment]
    return (a > b) - (a < b)


def _like(left: Any, pattern: str) -> bool:
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, str(left), re.IGNORECASE | re.DOTALL) is not None


def _in(value: Any, expected: str) -> bool:
    return any(_compare(value, option.strip()) == 0 for option in expected.split(","))


def _finset(value: Any, expected: str) -> bool:
    return expected.casefold() in str(value).casefold().split(",")


# Each condition as a function of (value, expected): built once, not per record.
_TESTS: dict[str, Callable[[Any, str], bool]] = {
    "eq": lambda v, e: _compare(v, e) == 0,
    "neq": lambda v, e: _compare(v, e) != 0,
    "gt": lambda v, e: _compare(v, e) > 0,
    "gteq": lambda v, e: _compare(v, e) >= 0,
    "moreq": lambda v, e: _compare(v, e) >= 0,
    "from": lambda v, e: _compare(v, e) >= 0,
    "lt": lambda v, e: _compare(v, e) < 0,
    "lteq": lambda v, e: _compare(v, e) <= 0,
    "to": lambda v, e: _compare(v, e) <= 0,
    "like": _like,
    "nlike": lambda v, e: not _like(v, e),
    "in": _in,
    "nin": lambda v, e: not _in(v, e),
    "finset": _finset,
    "nfinset": lambda v, e: not _finset(v, e),
}


def matches(value: Any, condition: str, expected: str) -> bool:
    """One Magento condition against one value, SQL-style (NULL never matches a comparison)."""
    if condition == "null":
        return value is None
    if condition == "notnull":
        return value is not None
    if value is None:
        return False
    return _TESTS[condition](value, expected)


Getter = Callable[[dict[str, Any], str], Any]


def run_search(
    records: list[dict[str, Any]],
    criteria: Criteria,
    get: Getter,
    *,
    max_page_size: int | None = 300,
    default_page_size: int | None = None,
    out_of_range: str = "repeat_last",
) -> tuple[list[dict[str, Any]], int]:
    """Filter, sort and page ``records``; return (page items, unpaged total)."""
    if max_page_size is not None and criteria.page_size and criteria.page_size > max_page_size:
        raise SearchError(400, "Maximum SearchCriteria pageSize is %max", {"max": max_page_size})
    rows = [
        r
        for r in records
        if all(
            any(matches(get(r, f["field"]), f["condition_type"], f["value"]) for f in group)
            for group in criteria.filter_groups
            if group
        )
    ]
    total = len(rows)
    size = criteria.page_size or default_page_size
    if not size:
        return _sorted(rows, criteria, get), total
    page = max(1, criteria.current_page or 1)
    last = max(1, -(-total // size))
    if page > last:
        if out_of_range == "empty":
            return [], total
        page = last  # Framework\Data\Collection::getCurPage clamps
    directions = {order["direction"] == "DESC" for order in criteria.sort_orders}
    if len(directions) == 1 and page * size < total // 4:
        # An early page of a long result in one direction (keyset paging reads page 1):
        # the first page*size rows, without sorting them all. heapq keeps ties in their
        # input order, as the stable sorts below do.
        fields = [order["field"] for order in criteria.sort_orders]

        def key(record: dict[str, Any]) -> tuple[tuple[int, Any], ...]:
            return tuple(_sort_key(get(record, f)) for f in fields)

        pick = heapq.nlargest if directions == {True} else heapq.nsmallest
        return pick(page * size, rows, key=key)[(page - 1) * size :], total
    return _sorted(rows, criteria, get)[(page - 1) * size : page * size], total


def _sorted(rows: list[dict[str, Any]], criteria: Criteria, get: Getter) -> list[dict[str, Any]]:
    for order in reversed(criteria.sort_orders):
        rows.sort(
            key=_sorter(get, order["field"]),
            reverse=order["direction"] == "DESC",
        )
    return rows


def _sorter(get: Getter, name: str) -> Callable[[dict[str, Any]], tuple[int, Any]]:
    return lambda record: _sort_key(get(record, name))


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, 0)  # NULLs first in ascending order, as MySQL does
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (1, float(value))
    return (2, str(value).casefold())


# -- fields= ------------------------------------------------------------------------------

FieldTree = dict[str, "FieldTree | None"]


def parse_fields(spec: str) -> FieldTree:
    """``items[id,email,extension_attributes[is_subscribed]],total_count`` → a tree."""
    pos = 0

    def parse_list() -> FieldTree:
        nonlocal pos
        tree: FieldTree = {}
        while pos < len(spec):
            match = re.compile(r"[^,\[\]]*").match(spec, pos)
            name = match.group(0).strip() if match else ""
            pos = match.end() if match else pos
            sub: FieldTree | None = None
            if pos < len(spec) and spec[pos] == "[":
                pos += 1
                sub = parse_list()
            if name:
                tree[name] = sub
            if pos < len(spec) and spec[pos] == ",":
                pos += 1
                continue
            if pos < len(spec) and spec[pos] == "]":
                pos += 1
                return tree
        return tree

    return parse_list()


def apply_fields(data: Any, tree: FieldTree | None) -> Any:
    """Keep only the requested keys (lists are filtered element-wise)."""
    if tree is None:
        return data
    if isinstance(data, list):
        return [apply_fields(item, tree) for item in data]
    if isinstance(data, dict):
        return {k: apply_fields(v, tree[k]) for k, v in data.items() if k in tree}
    return data
