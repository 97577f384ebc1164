"""Building ``searchCriteria`` query parameters and the keyset cursor helpers.

Magento's search is CNF: filters inside one group are OR'ed, groups are AND'ed. The query
keys use the OpenAPI spelling (``filterGroups``, ``conditionType``, ``sortOrders``,
``pageSize``, ``currentPage``); Magento also accepts the snake_case spelling.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
MAX_PAGE_SIZE = 300


@dataclass(frozen=True)
class Filter:
    """One ``field conditionType value`` test."""

    field: str
    value: str
    condition_type: str = "eq"


@dataclass
class SearchCriteria:
    """A search request: ``filter_groups`` (AND of ORs), sort orders and paging."""

    filter_groups: list[list[Filter]] = field(default_factory=list)
    sort_orders: list[tuple[str, str]] = field(default_factory=list)
    page_size: int | None = None
    current_page: int | None = None

    def where(self, *alternatives: Filter) -> SearchCriteria:
        """Add one filter group (its filters are OR'ed; groups are AND'ed)."""
        self.filter_groups.append(list(alternatives))
        return self

    def order_by(self, field_name: str, direction: str = "ASC") -> SearchCriteria:
        """Append a sort order (Magento defaults to DESC when none is given, so be explicit)."""
        self.sort_orders.append((field_name, direction.upper()))
        return self

    def to_params(self) -> list[tuple[str, str]]:
        """The query parameters, in a stable order."""
        params: list[tuple[str, str]] = []
        for g, group in enumerate(self.filter_groups):
            for f, flt in enumerate(group):
                prefix = f"searchCriteria[filterGroups][{g}][filters][{f}]"
                params.append((f"{prefix}[field]", flt.field))
                params.append((f"{prefix}[value]", flt.value))
                params.append((f"{prefix}[conditionType]", flt.condition_type))
        for s, (field_name, direction) in enumerate(self.sort_orders):
            params.append((f"searchCriteria[sortOrders][{s}][field]", field_name))
            params.append((f"searchCriteria[sortOrders][{s}][direction]", direction))
        if self.page_size is not None:
            params.append(("searchCriteria[pageSize]", str(self.page_size)))
        if self.current_page is not None:
            params.append(("searchCriteria[currentPage]", str(self.current_page)))
        if not params:
            # An empty searchCriteria means "no filter"; omitting it is a 400.
            params.append(("searchCriteria", ""))
        return params


def keyset_criteria(
    cursor: tuple[str, int],
    *,
    id_field: str,
    page_size: int,
    extra: list[list[Filter]] | None = None,
) -> SearchCriteria:
    """Page 1 of everything strictly after ``cursor`` in (updated_at, id) order.

    ``(updated_at >= T) AND (updated_at > T OR id > ID)`` is the row-value comparison
    ``(updated_at, id) > (T, ID)`` written in Magento's CNF.
    """
    ts, last_id = cursor
    criteria = SearchCriteria(page_size=page_size, current_page=1)
    for group in extra or []:
        criteria.where(*group)
    criteria.where(Filter("updated_at", ts, "gteq"))
    criteria.where(Filter("updated_at", ts, "gt"), Filter(id_field, str(last_id), "gt"))
    criteria.order_by("updated_at", "ASC").order_by(id_field, "ASC")
    return criteria


def rewind(cursor: tuple[str, int] | None, overlap_seconds: int) -> tuple[str, int]:
    """Where a new run starts: the stored cursor minus an overlap (``updated_at`` has 1 s steps)."""
    if cursor is None:
        return ("1970-01-01 00:00:00", 0)
    ts, last_id = cursor
    if overlap_seconds <= 0:
        return (ts, last_id)
    start = datetime.strptime(ts, TIME_FORMAT) - timedelta(seconds=overlap_seconds)
    return (start.strftime(TIME_FORMAT), 0)


def check_page_size(page_size: int) -> int:
    """Magento rejects ``pageSize`` above 300 when input limits are on; stay within it."""
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}")
    return page_size
