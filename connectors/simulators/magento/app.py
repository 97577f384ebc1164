"""A faithful fake of a Magento 2.4 store's REST API, seeded with the demo store.

Serves ``/rest/<store_code>/V1/...`` and ``/rest/V1/...`` (the default store view):

* ``GET customers/search``, ``GET|PUT|DELETE customers/{id}`` (PUT bumps ``updated_at``
  and writes ``extension_attributes.is_subscribed`` to the subscriber table);
* ``GET orders``, ``GET orders/{id}``;
* ``GET|POST emarsys/subscriptions`` (shape documented in :mod:`.subscribers`);
* ``GET store/websites|storeGroups|storeViews|storeConfigs``, ``GET customerGroups/search``,
  ``GET attributeMetadata/customer``, ``GET directory/countries``;
* ``POST integration/admin/token`` (a bare JSON string token, usable as Bearer).

Auth is verified for real (:mod:`.auth`); errors are Magento's ``{message,
parameters}``; ``updated_at`` has one-second resolution on a controllable clock; an
optional rate limit answers Magento's ``{"message":"Too Many Requests","trace":null}``.
Test and demo controls live under ``/_sim/`` (:mod:`.control`).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from connectors.simulators.kit import Faults as Faults
from connectors.simulators.kit import FixedWindow, Request, Response
from connectors.simulators.magento import seed_store
from connectors.simulators.magento.auth import AuthFailure, IntegrationAuth
from connectors.simulators.magento.records import RecordRoutes
from connectors.simulators.magento.search import SearchError
from connectors.simulators.magento.seed import DEFAULT_NOW, TIME_FORMAT, Factory, generate

PREFIX = r"/rest(?:/(?P<store>[A-Za-z0-9_]+))?/V1/"
CUSTOMER = "Magento_Customer::customer"
ORDERS = "Magento_Sales::actions_view"
STORES = "Magento_Backend::store"
SUBSCRIPTIONS = "Emartech_Emarsys::api_subscriptions"


class MagentoSimulator(RecordRoutes):
    """In-memory Magento: customers, orders, ``newsletter_subscriber`` rows, store config."""

    name = "magento"

    def __init__(
        self,
        *,
        seed: int = 1,
        seed_customers: int = 0,
        guest_orders: int | None = None,
        time_scale: float = 1.0,
        faults: Faults | None = None,
        rate_limit: int | None = None,
        rate_window_s: float = 60.0,
        max_page_size: int | None = 300,
        default_page_size: int | None = None,
        out_of_range: str = "repeat_last",
        integration_as_bearer: bool = False,
    ) -> None:
        super().__init__(faults=faults, seed=seed)
        self.seed = seed
        self.seed_customers = seed_customers
        self.guest_orders = guest_orders
        self.time_scale = time_scale
        self.max_page_size = max_page_size
        self.default_page_size = default_page_size
        self.out_of_range = out_of_range
        self.limiter = (
            FixedWindow(rate_limit, rate_window_s, time_scale=time_scale) if rate_limit else None
        )
        self.auth = IntegrationAuth(
            consumer_key="simconsumerkey000000000000000001",
            consumer_secret="simconsumersecret0000000000000001",
            access_token="simaccesstoken000000000000000001",
            access_token_secret="simaccesssecret00000000000000001",
            integration_as_bearer=integration_as_bearer,
        )
        self.admin_user = ("admin", "admin123")
        self.reset()
        api = [
            ("GET", "customers/search", self.customers_search),
            ("GET", r"customers/(?P<id>\d+)", self.customer_get),
            ("PUT", r"customers/(?P<id>\d+)", self.customer_put),
            ("DELETE", r"customers/(?P<id>\d+)", self.customer_delete),
            ("GET", "orders", self.orders_search),
            ("GET", r"orders/(?P<id>\d+)", self.order_get),
            ("GET", "emarsys/subscriptions", self.subscriptions_get),
            ("POST", "emarsys/subscriptions", self.subscriptions_post),
            ("GET", "store/websites", self.websites),
            ("GET", "store/storeGroups", self.store_groups),
            ("GET", "store/storeViews", self.store_views),
            ("GET", "store/storeConfigs", self.store_configs),
            ("GET", "customerGroups/search", self.customer_groups),
            ("GET", "attributeMetadata/customer", self.attribute_metadata),
            ("GET", "directory/countries", self.countries),
            ("POST", "integration/admin/token", self.admin_token),
        ]
        for method, pattern, handler in api:
            self.route(method, PREFIX + pattern, handler)
        self.register_controls()

    # -- state ---------------------------------------------------------------------------

    def reset(self) -> None:
        """Back to the seeded store and the seed clock."""
        super().reset()
        with self.lock:
            data = generate(self.seed_customers, seed=self.seed, n_guest_orders=self.guest_orders)
            if not self.seed_customers:
                data.orders, data.subscribers = [], []
            self.factory = Factory(self.seed + 1000, now=DEFAULT_NOW)
            self.customers: dict[int, dict[str, Any]] = {c["id"]: c for c in data.customers}
            self.orders: dict[int, dict[str, Any]] = {o["entity_id"]: o for o in data.orders}
            self.subscribers: dict[int, dict[str, Any]] = {
                s["subscriber_id"]: s for s in data.subscribers
            }
            self.factory.next_subscriber_id = max(self.subscribers, default=0) + 1
            self.factory.next_order_id = max(self.orders, default=0) + 1
            self.factory.next_address_id = 1 + max(
                (a["id"] for c in data.customers for a in c["addresses"]), default=0
            )
            self.factory.next_order_address_id = 100000
            self.clock_base = DEFAULT_NOW
            self.clock_started = time.monotonic()
            self.clock_offset = 0.0
            self.auth.nonces.clear()
            self.auth.admin_tokens.clear()

    def now(self) -> str:
        """The store's UTC clock (seed time + elapsed + manual advances), 1 s resolution."""
        elapsed = time.monotonic() - self.clock_started + self.clock_offset
        return (self.clock_base + timedelta(seconds=elapsed)).strftime(TIME_FORMAT)

    def state(self) -> dict[str, Any]:
        """Counts and the clock."""
        with self.lock:
            return {
                "customers": len(self.customers),
                "orders": len(self.orders),
                "subscribers": len(self.subscribers),
                "now": self.now(),
            }

    def credentials(self, base_url: str) -> dict[str, str]:
        """What :meth:`MagentoClient.from_credentials` needs to talk to this simulator."""
        return {
            "base_url": base_url.rstrip("/"),
            "store_code": "default",
            "consumer_key": self.auth.consumer_key,
            "consumer_secret": self.auth.consumer_secret,
            "access_token": self.auth.access_token,
            "access_token_secret": self.auth.access_token_secret,
        }

    # -- plumbing ------------------------------------------------------------------------

    def not_found(self, request: Request) -> Response:
        return Response(404, {"message": "Request does not match any route."})

    def rate_limited(self, request: Request, retry_after: float) -> Response:
        return Response(
            429,
            {"message": "Too Many Requests", "trace": None},
            headers={"Pragma": "no-cache", "Cache-Control": "no-store"},
        )

    def check_rate_limit(self, request: Request) -> float | None:
        return self.limiter.hit() if self.limiter else None

    def dispatch(self, request: Request) -> Response:
        if request.path.startswith("/_sim/") or not any(
            pattern.match(request.path) for _, pattern, _ in self._routes
        ):
            return super().dispatch(request)
        resource = self._resource(request.path)
        store = request.path.split("/")[2] if request.path.count("/") > 3 else "V1"
        if store != "V1" and store not in seed_store.STORE_BY_CODE and store != "all":
            return Response(
                400,
                {
                    "message": "The store that was requested wasn't found. "
                    "Verify the store and try again."
                },
            )
        if resource is not None:
            try:
                with self.lock:
                    self.auth.check(request, resource)
            except AuthFailure as exc:
                return Response(exc.status, exc.body)
        try:
            return super().dispatch(request)
        except SearchError as exc:
            return Response(exc.status, exc.body)

    @staticmethod
    def _resource(path: str) -> str | None:
        if "/integration/admin/token" in path:
            return None
        if "/orders" in path:
            return ORDERS
        if "/emarsys/" in path:
            return SUBSCRIPTIONS
        if "/store/" in path or "/directory/" in path:
            return STORES
        return CUSTOMER


def create_app(
    *,
    seed: int = 1,
    time_scale: float = 1.0,
    faults: Faults | None = None,
    seed_customers: int = 0,
    **kw: Any,
) -> MagentoSimulator:
    """The simulator, seeded with ``seed_customers`` demo customers (plus orders, subscribers)."""
    return MagentoSimulator(
        seed=seed, time_scale=time_scale, faults=faults, seed_customers=seed_customers, **kw
    )


def parse_time(value: str) -> datetime:
    """Parse Magento's ``YYYY-MM-DD HH:MM:SS``."""
    return datetime.strptime(value, TIME_FORMAT)
