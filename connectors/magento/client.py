"""The Magento 2 REST client: customers, guest buyers from orders, store configuration.

Paths are ``/rest/<store_code>/V1/...`` (``/rest/V1/...`` when ``store_code`` is empty,
i.e. the default store view). Query strings are built by :func:`auth.encode_query` and
passed inside the path, never through ``requests``' ``params=`` (which would turn spaces
into ``+`` and break the OAuth signature).

Incremental reads use keyset paging on ``(updated_at, entity_id)``, always asking for
``currentPage=1`` (see :class:`KeysetPager`), so rows changing mid-run are never skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import requests

from connectors.errors import ConfigurationError, ConnectorError, TransientError
from connectors.http import BaseClient, Budget, ExchangeHook
from connectors.magento.auth import BearerAuth, OAuth1Signer, encode_query
from connectors.magento.criteria import (
    MAX_PAGE_SIZE,
    Filter,
    SearchCriteria,
    check_page_size,
    keyset_criteria,
    rewind,
)
from connectors.magento.normalise import error_text, guest_from_order

Cursor = tuple[str, int]


class KeysetPager:
    """Iterates records changed after a cursor, in ``(updated_at, id)`` order.

    Every request asks for page 1 of ``(updated_at, id) > position``; after each record the
    position moves to that record's key. A record modified during the run gets a newer
    ``updated_at`` and so sorts after the position: it is reached later, never skipped.
    The position strictly increases, so the walk always ends (``max_pages`` bounds a run
    against a shop that keeps changing records faster than we read them).

    :attr:`cursor` is the greatest key yielded so far (or the ``since`` given), which the
    caller stores for the next run. A new run starts ``overlap_seconds`` before it, because
    ``updated_at`` has one-second resolution: rows written in the same second as the
    cursor but after we read it would otherwise be missed. Re-read rows are expected;
    callers dedupe by content hash.
    """

    def __init__(
        self,
        fetch: Callable[[SearchCriteria], dict[str, Any]],
        *,
        since: Cursor | None,
        id_field: str,
        id_key: str,
        page_size: int,
        overlap_seconds: int,
        extra_groups: list[list[Filter]] | None = None,
        max_pages: int | None = None,
    ) -> None:
        self._fetch = fetch
        self.cursor: Cursor | None = since
        self._position = rewind(since, overlap_seconds)
        self._id_field = id_field
        self._id_key = id_key
        self._page_size = check_page_size(page_size)
        self._extra = extra_groups
        self._max_pages = max_pages
        self.pages = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        while True:
            criteria = keyset_criteria(
                self._position,
                id_field=self._id_field,
                page_size=self._page_size,
                extra=self._extra,
            )
            items = self._fetch(criteria).get("items") or []
            self.pages += 1
            for item in items:
                key = (str(item.get("updated_at") or ""), int(item[self._id_key]))
                if key <= self._position:
                    # The server ignored the filter; re-reading would never end.
                    raise ConnectorError(
                        f"magento: keyset paging did not advance at {key!r}; "
                        "the search filter was not applied"
                    )
                self._position = key
                if self.cursor is None or key > self.cursor:
                    self.cursor = key
                yield item
            if len(items) < self._page_size:
                return
            if self._max_pages is not None and self.pages >= self._max_pages:
                return


class MagentoClient(BaseClient):
    """One Magento 2 store, authenticated with an Integration (OAuth 1.0a) or a Bearer token."""

    service = "magento"

    def __init__(
        self,
        base_url: str,
        *,
        auth: OAuth1Signer | BearerAuth | None,
        store_code: str = "default",
        budget: Budget | None = None,
        timeout: float | tuple[float, float] = (5.0, 60.0),
        session: requests.Session | None = None,
        on_exchange: ExchangeHook | None = None,
    ) -> None:
        if not base_url:
            raise ConfigurationError("magento: base URL is missing")
        super().__init__(
            base_url, timeout=timeout, session=session, budget=budget, on_exchange=on_exchange
        )
        self.auth = auth
        self.store_code = store_code.strip("/")

    @classmethod
    def from_credentials(cls, credentials: Mapping[str, str], **kwargs: Any) -> MagentoClient:
        """Build from a credentials dict (the simulator's ``credentials()`` shape).

        OAuth 1.0a when the four integration values are present, else Bearer ``token``.
        """
        auth: OAuth1Signer | BearerAuth | None = None
        keys = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")
        if all(credentials.get(k) for k in keys):
            auth = OAuth1Signer(
                credentials["consumer_key"],
                credentials["consumer_secret"],
                credentials["access_token"],
                credentials["access_token_secret"],
            )
        elif credentials.get("token"):
            auth = BearerAuth(credentials["token"])
        if auth is None:
            raise ConfigurationError("magento: no integration credentials or token configured")
        return cls(
            credentials["base_url"],
            auth=auth,
            store_code=credentials.get("store_code", "default"),
            **kwargs,
        )

    # -- BaseClient hooks ----------------------------------------------------------------

    def _prepare(self, request: requests.PreparedRequest) -> None:
        if self.auth is not None:
            self.auth.sign(request)

    def _error_message(self, status: int, body: Any) -> tuple[str, dict[str, list[str]]]:
        if isinstance(body, dict) and "message" in body:
            return error_text(body)
        return super()._error_message(status, body)

    def _error_for(
        self, method: str, path: str, response: requests.Response, body: Any
    ) -> ConnectorError:
        error = super()._error_for(method, path, response, body)
        if response.status_code == 401 and "nonce" in error.message.lower():
            # A nonce clash is a fluke of this one send; re-signing fixes it.
            return TransientError(error.message, status=401, method=method, path=path, body=body)
        return error

    def _check_body(self, response: requests.Response, body: Any) -> None:
        ctype = response.headers.get("Content-Type", "")
        if isinstance(body, str) and "json" not in ctype:
            # WAF/CDN pages and PHP fatals come back as HTML with a 200.
            raise TransientError(
                "magento: expected JSON, got a non-JSON body",
                status=response.status_code,
                body=body[:500],
            )

    # -- plumbing ------------------------------------------------------------------------

    def api_path(self, route: str) -> str:
        """``/rest/<store>/V1/<route>``."""
        store = f"/{self.store_code}" if self.store_code else ""
        return f"/rest{store}/V1/{route.lstrip('/')}"

    def get(self, route: str, params: list[tuple[str, Any]] | None = None) -> Any:
        """GET a V1 route with a Magento-safe query string; return the decoded body."""
        path = self.api_path(route)
        if params:
            path = f"{path}?{encode_query(params)}"
        return self._request("GET", path)[1]

    def send(self, method: str, route: str, body: Any) -> Any:
        """POST/PUT a JSON body to a V1 route; return the decoded body."""
        return self._request(method, self.api_path(route), json_body=body)[1]

    def _search(self, route: str, criteria: SearchCriteria, fields: str | None) -> dict[str, Any]:
        params: list[tuple[str, Any]] = list(criteria.to_params())
        if fields:
            params.append(("fields", fields))
        result = self.get(route, params)
        if not isinstance(result, dict):
            raise ConnectorError(f"magento: unexpected search response for {route}")
        return result

    # -- customers -----------------------------------------------------------------------

    def search_customers(
        self, criteria: SearchCriteria, *, fields: str | None = None
    ) -> dict[str, Any]:
        """``GET customers/search``: ``{items, search_criteria, total_count}``."""
        return self._search("customers/search", criteria, fields)

    def iter_customers_changed(
        self,
        since: Cursor | None,
        *,
        page_size: int = 100,
        overlap_seconds: int = 2,
        max_pages: int | None = None,
    ) -> KeysetPager:
        """Customers changed after ``since`` = ``(updated_at, id)``; ``None`` reads all.

        Returns a :class:`KeysetPager`; iterate it, then store its ``cursor``.
        """
        return KeysetPager(
            self.search_customers,
            since=since,
            id_field="entity_id",
            id_key="id",
            page_size=page_size,
            overlap_seconds=overlap_seconds,
            max_pages=max_pages,
        )

    def customers_by_ids(self, ids: list[int]) -> list[dict[str, Any]]:
        """The customers with these ids (at most 300, one request; unknown ids are absent)."""
        if not ids:
            return []
        criteria = SearchCriteria(page_size=check_page_size(len(ids)), current_page=1).where(
            Filter("entity_id", ",".join(str(int(i)) for i in ids), "in")
        )
        return list(self.search_customers(criteria).get("items") or [])

    def customer_ids_after(self, after_id: int, *, page_size: int = MAX_PAGE_SIZE) -> list[int]:
        """The next ``page_size`` customer ids above ``after_id``, ascending (only the ids:
        a pass over every customer of a large store reads a few bytes a customer)."""
        criteria = (
            SearchCriteria(page_size=check_page_size(page_size), current_page=1)
            .where(Filter("entity_id", str(int(after_id)), "gt"))
            .order_by("entity_id", "ASC")
        )
        body = self.search_customers(criteria, fields="items[id]")
        return [int(c["id"]) for c in body.get("items") or [] if c.get("id") is not None]

    def get_customer(self, customer_id: int) -> dict[str, Any]:
        """``GET customers/{id}``; raises :class:`NotFound` for an unknown id."""
        result: dict[str, Any] = self.get(f"customers/{int(customer_id)}")
        return result

    def update_customer(self, customer_id: int, customer: dict[str, Any]) -> dict[str, Any]:
        """``PUT customers/{id}`` with the full customer object; returns the saved customer."""
        result: dict[str, Any] = self.send(
            "PUT", f"customers/{int(customer_id)}", {"customer": customer}
        )
        return result

    def set_customer_subscription(self, customer_id: int, subscribed: bool) -> dict[str, Any]:
        """Write ``extension_attributes.is_subscribed`` back (reads first: PUT needs it all)."""
        customer = self.get_customer(customer_id)
        extension = dict(customer.get("extension_attributes") or {})
        extension["is_subscribed"] = bool(subscribed)
        customer["extension_attributes"] = extension
        return self.update_customer(customer_id, customer)

    # -- orders / guest buyers -----------------------------------------------------------

    def search_orders(
        self, criteria: SearchCriteria, *, fields: str | None = None
    ) -> dict[str, Any]:
        """``GET orders``: ``{items, search_criteria, total_count}``."""
        return self._search("orders", criteria, fields)

    def iter_guest_orders_changed(
        self,
        since: Cursor | None,
        *,
        page_size: int = 100,
        overlap_seconds: int = 2,
        max_pages: int | None = None,
    ) -> KeysetPager:
        """Guest orders (``customer_is_guest = 1``) changed after ``since``."""
        return KeysetPager(
            self.search_orders,
            since=since,
            id_field="entity_id",
            id_key="entity_id",
            page_size=page_size,
            overlap_seconds=overlap_seconds,
            extra_groups=[[Filter("customer_is_guest", "1", "eq")]],
            max_pages=max_pages,
        )

    @staticmethod
    def guest_buyers(orders: KeysetPager) -> Iterator[dict[str, Any]]:
        """One normalised guest per order (see :func:`normalise.guest_from_order`)."""
        for order in orders:
            yield guest_from_order(order)

    # -- configuration ("Collect Configuration Data") ------------------------------------

    def websites(self) -> list[dict[str, Any]]:
        """``GET store/websites``."""
        return list(self.get("store/websites") or [])

    def store_groups(self) -> list[dict[str, Any]]:
        """``GET store/storeGroups``."""
        return list(self.get("store/storeGroups") or [])

    def store_views(self) -> list[dict[str, Any]]:
        """``GET store/storeViews``."""
        return list(self.get("store/storeViews") or [])

    def store_configs(self) -> list[dict[str, Any]]:
        """``GET store/storeConfigs``: locale, currency and timezone per store view."""
        return list(self.get("store/storeConfigs") or [])

    def customer_groups(self) -> list[dict[str, Any]]:
        """Every customer group, via ``customerGroups/search`` (there is no plain list route)."""
        groups: list[dict[str, Any]] = []
        page = 1
        while True:
            criteria = SearchCriteria(page_size=100, current_page=page).order_by("id", "ASC")
            result = self._search("customerGroups/search", criteria, None)
            items = result.get("items") or []
            groups.extend(items)
            # Past the last page Magento repeats it, so stop on the count, not on [].
            if not items or page * 100 >= int(result.get("total_count") or 0):
                return groups
            page += 1

    def customer_attributes(self) -> list[dict[str, Any]]:
        """``GET attributeMetadata/customer``: every customer attribute's metadata."""
        return list(self.get("attributeMetadata/customer") or [])

    def countries(self) -> list[dict[str, Any]]:
        """``GET directory/countries``."""
        return list(self.get("directory/countries") or [])

    def collect_configuration(self) -> dict[str, Any]:
        """Everything the admin's "Collect Configuration Data" caches, in one dict."""
        return {
            "websites": self.websites(),
            "store_groups": self.store_groups(),
            "store_views": self.store_views(),
            "store_configs": self.store_configs(),
            "customer_groups": self.customer_groups(),
            "customer_attributes": self.customer_attributes(),
            "countries": self.countries(),
        }
