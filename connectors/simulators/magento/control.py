"""The simulator's subscription routes and its ``/_sim/`` controls (a mixin).

Controls, for tests and the demo (JSON bodies; all answer the affected record):

* ``GET|POST /_sim/clock`` — read the store clock, or ``{"advance": seconds}`` /
  ``{"set": "YYYY-MM-DD HH:MM:SS"}``;
* ``POST /_sim/config`` — ``max_page_size``, ``default_page_size``, ``out_of_range``
  (``repeat_last`` | ``empty``), ``integration_as_bearer``, ``denied_resources``;
* ``POST /_sim/customers`` (new demo customer, body fields override),
  ``PATCH /_sim/customers/{id}`` (change fields; an empty body just touches it — any
  change bumps ``updated_at`` as MySQL's ``ON UPDATE`` does), ``DELETE /_sim/customers/{id}``;
* ``POST /_sim/orders`` (``{"email", "customer_firstname"?, …}``: a new guest order),
  ``PATCH|DELETE /_sim/orders/{id}``;
* ``GET|POST /_sim/subscribers``, ``PATCH|DELETE /_sim/subscribers/{id}`` — rows of
  ``newsletter_subscriber``; a status change sets ``change_status_at`` and never touches
  the customer's ``updated_at``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from connectors.simulators.kit import Request, Response, SimApp
from connectors.simulators.magento import seed_store
from connectors.simulators.magento.auth import IntegrationAuth
from connectors.simulators.magento.seed import TIME_FORMAT, Factory

_BAD_STATUS = {"message": "Invalid subscriber status %1", "parameters": []}


class ControlRoutes(SimApp):
    """Subscriptions API + ``/_sim/`` controls; :class:`MagentoSimulator` supplies the state."""

    customers: dict[int, dict[str, Any]]
    orders: dict[int, dict[str, Any]]
    subscribers: dict[int, dict[str, Any]]
    factory: Factory
    auth: IntegrationAuth
    clock_offset: float

    def now(self) -> str:
        """The store clock (implemented by the simulator)."""
        raise NotImplementedError

    def render_customer(self, customer: dict[str, Any]) -> dict[str, Any]:
        """A customer as the API shows it (implemented by the simulator)."""
        raise NotImplementedError

    def register_controls(self) -> None:
        """Register the ``/_sim/`` routes."""
        routes = [
            ("GET", "clock", self._clock_get),
            ("POST", "clock", self._clock_set),
            ("POST", "config", self._config),
            ("POST", "customers", self._customer_add),
            ("PATCH", r"customers/(?P<id>\d+)", self._customer_patch),
            ("DELETE", r"customers/(?P<id>\d+)", self._customer_remove),
            ("POST", "orders", self._order_add),
            ("PATCH", r"orders/(?P<id>\d+)", self._order_patch),
            ("DELETE", r"orders/(?P<id>\d+)", self._order_remove),
            ("GET", "subscribers", self._subscribers_list),
            ("POST", "subscribers", self._subscriber_upsert),
            ("PATCH", r"subscribers/(?P<id>\d+)", self._subscriber_patch),
            ("DELETE", r"subscribers/(?P<id>\d+)", self._subscriber_remove),
        ]
        for method, pattern, handler in routes:
            self.route(method, "/_sim/" + pattern, handler)

    # -- the Emarsys-style subscriptions route ---------------------------------------------

    def subscriptions_get(self, request: Request) -> Response:
        """``GET /V1/emarsys/subscriptions`` (see :mod:`connectors.magento.subscribers`)."""
        args = request.args
        page = max(1, _int(args.get("page"), 1))
        size = min(1000, max(1, _int(args.get("page_size"), 1000)))
        since = args.get("changed_since")
        with self.lock:
            rows = sorted(self.subscribers.values(), key=lambda r: r["subscriber_id"])
        if since:
            rows = [r for r in rows if r["change_status_at"] and r["change_status_at"] >= since]
        if args.get("subscribed") in ("1", "0"):
            wanted = args["subscribed"] == "1"
            rows = [r for r in rows if (r["subscriber_status"] == 1) == wanted]
        if args.get("only_guest") == "1":
            rows = [r for r in rows if not r["customer_id"]]
        if args.get("store_id"):
            rows = [r for r in rows if str(r["store_id"]) == args["store_id"]]
        if args.get("website_id"):
            rows = [
                r
                for r in rows
                if str(seed_store.WEBSITE_OF_STORE.get(r["store_id"], 0)) == args["website_id"]
            ]
        total = len(rows)
        chunk = rows[(page - 1) * size : page * size]
        return Response(
            200,
            {
                "current_page": page,
                "last_page": max(1, -(-total // size)),
                "page_size": size,
                "total_count": total,
                "subscriptions": [
                    {
                        "subscriber_id": r["subscriber_id"],
                        "subscriber_email": r["subscriber_email"],
                        "subscriber_status": r["subscriber_status"],
                        "customer_id": r["customer_id"],
                        "store_id": r["store_id"],
                        "website_id": seed_store.WEBSITE_OF_STORE.get(r["store_id"], 0),
                        "change_status_at": r["change_status_at"],
                    }
                    for r in chunk
                ],
            },
        )

    def subscriptions_post(self, request: Request) -> Response:
        """``POST /V1/emarsys/subscriptions``: create/update rows by (email, store)."""
        body = request.json() or {}
        items = body.get("subscriptions") if isinstance(body, dict) else None
        if not isinstance(items, list):
            return Response(
                400,
                {
                    "message": '"%fieldName" is required. Enter and try again.',
                    "parameters": {"fieldName": "subscriptions"},
                },
            )
        with self.lock:
            for item in items:
                error = self._upsert_subscriber(item)
                if error is not None:
                    return error
        return Response(200, {"status": "ok"})

    def _upsert_subscriber(self, item: dict[str, Any]) -> Response | None:
        status = _int(item.get("subscriber_status"), 0)
        if status not in (1, 2, 3, 4):
            return Response(400, dict(_BAD_STATUS, parameters=[str(status)]))
        email = str(item.get("subscriber_email") or "")
        store_id = _int(item.get("store_id"), 0)
        row = next(
            (
                r
                for r in self.subscribers.values()
                if str(r["subscriber_email"]).casefold() == email.casefold()
                and r["store_id"] == store_id
            ),
            None,
        )
        if row is None:
            row = self.factory.subscriber(
                email=email,
                status=status,
                store_id=store_id,
                customer_id=_int(item.get("customer_id"), 0),
            )
            row["change_status_at"] = self.now()
            self.subscribers[row["subscriber_id"]] = row
        elif row["subscriber_status"] != status:
            row["subscriber_status"] = status
            row["change_status_at"] = self.now()
        return None

    # -- clock and config ------------------------------------------------------------------

    def _clock_get(self, request: Request) -> Response:
        return Response(200, {"now": self.now()})

    def _clock_set(self, request: Request) -> Response:
        body = request.json() or {}
        with self.lock:
            if "set" in body:
                target = datetime.strptime(body["set"], TIME_FORMAT)
                current = datetime.strptime(self.now(), TIME_FORMAT)
                self.clock_offset += (target - current).total_seconds()
            self.clock_offset += float(body.get("advance", 0))
        return Response(200, {"now": self.now()})

    def _config(self, request: Request) -> Response:
        body = request.json() or {}
        with self.lock:
            for key in ("max_page_size", "default_page_size", "out_of_range"):
                if key in body:
                    setattr(self, key, body[key])
            if "integration_as_bearer" in body:
                self.auth.integration_as_bearer = bool(body["integration_as_bearer"])
            if "denied_resources" in body:
                self.auth.denied_resources = set(body["denied_resources"])
        return Response(200, {"ok": True})

    # -- customers / orders / subscribers ----------------------------------------------------

    def _customer_add(self, request: Request) -> Response:
        body = request.json() or {}
        with self.lock:
            new_id = max(self.customers, default=0) + 1
            customer = self.factory.customer(new_id, store_id=body.get("store_id"))
            customer.update(body)
            customer["id"] = new_id
            customer["created_at"] = customer["updated_at"] = self.now()
            self.customers[new_id] = customer
            return Response(201, self.render_customer(customer))

    def _customer_patch(self, request: Request) -> Response:
        body = request.json() or {}
        with self.lock:
            customer = self.customers.get(int(request.params["id"]))
            if customer is None:
                return Response(404, {"message": "no such customer"})
            customer.update({k: v for k, v in body.items() if k != "id"})
            customer["updated_at"] = self.now()
            return Response(200, self.render_customer(customer))

    def _customer_remove(self, request: Request) -> Response:
        with self.lock:
            gone = self.customers.pop(int(request.params["id"]), None)
        return Response(200 if gone else 404, {"deleted": gone is not None})

    def _order_add(self, request: Request) -> Response:
        body = dict(request.json() or {})
        with self.lock:
            order = self.factory.order(
                email=str(body.pop("email", "guest@example.com")),
                names=bool(body.pop("names", True)),
            )
            order.update(body)
            order["created_at"] = order["updated_at"] = self.now()
            self.orders[order["entity_id"]] = order
        return Response(201, order)

    def _order_patch(self, request: Request) -> Response:
        body = request.json() or {}
        with self.lock:
            order = self.orders.get(int(request.params["id"]))
            if order is None:
                return Response(404, {"message": "no such order"})
            order.update({k: v for k, v in body.items() if k != "entity_id"})
            order["updated_at"] = self.now()
        return Response(200, order)

    def _order_remove(self, request: Request) -> Response:
        with self.lock:
            gone = self.orders.pop(int(request.params["id"]), None)
        return Response(200 if gone else 404, {"deleted": gone is not None})

    def _subscribers_list(self, request: Request) -> Response:
        with self.lock:
            return Response(
                200, sorted(self.subscribers.values(), key=lambda r: r["subscriber_id"])
            )

    def _subscriber_upsert(self, request: Request) -> Response:
        body = request.json() or {}
        with self.lock:
            error = self._upsert_subscriber(body)
        return error or Response(200, {"status": "ok"})

    def _subscriber_patch(self, request: Request) -> Response:
        body = request.json() or {}
        with self.lock:
            row = self.subscribers.get(int(request.params["id"]))
            if row is None:
                return Response(404, {"message": "no such subscriber"})
            if (
                "subscriber_status" in body
                and body["subscriber_status"] != row["subscriber_status"]
            ):
                row["change_status_at"] = self.now()
            row.update({k: v for k, v in body.items() if k != "subscriber_id"})
            return Response(200, row)

    def _subscriber_remove(self, request: Request) -> Response:
        with self.lock:
            gone = self.subscribers.pop(int(request.params["id"]), None)
        return Response(200 if gone else 404, {"deleted": gone is not None})


def _int(value: Any, default: int) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default
