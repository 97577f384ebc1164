"""The simulator's customer and order routes (a mixin).

``GET customers/search``, ``GET|PUT|DELETE customers/{id}`` (PUT bumps ``updated_at`` and
writes ``extension_attributes.is_subscribed`` to the subscriber table), ``GET orders`` and
``GET orders/{id}``; searches run through :mod:`.search`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from connectors.simulators.kit import Request, Response
from connectors.simulators.magento.config import ConfigRoutes
from connectors.simulators.magento.search import (
    apply_fields,
    parse_criteria,
    parse_fields,
    run_search,
)

_CUSTOMER_FIELDS = {"entity_id": "id"}
_BILLING_FIELDS = {
    "billing_postcode": "postcode",
    "billing_city": "city",
    "billing_telephone": "telephone",
    "billing_region": "region",
    "billing_country_id": "country_id",
    "company": "company",
}


def no_entity(field: str, value: Any) -> Response:
    """Magento's NoSuchEntityException body."""
    return Response(
        404,
        {
            "message": "No such entity with %fieldName = %fieldValue",
            "parameters": {"fieldName": field, "fieldValue": value},
        },
    )


# Customer columns a filter may always name, even in an empty store.
_ALWAYS_FILTERABLE = (
    frozenset(
        {
            "email",
            "firstname",
            "lastname",
            "created_at",
            "updated_at",
            "group_id",
            "store_id",
            "website_id",
            "dob",
            "gender",
            "taxvat",
            "middlename",
            "prefix",
            "suffix",
            "confirmation",
        }
    )
    | frozenset(_CUSTOMER_FIELDS)
    | frozenset(_BILLING_FIELDS)
)


class _SubscriberIndex:
    """The subscribers by customer id and by e-mail (case-folded), for one request."""

    def __init__(
        self,
        subscribers: Iterable[dict[str, Any]],
        customers: Iterable[dict[str, Any]] | None = None,
    ) -> None:
        """``customers``: only the subscribers of these are indexed (a page's worth)."""
        self.by_customer: dict[Any, list[dict[str, Any]]] = {}
        self.by_email: dict[str, list[dict[str, Any]]] = {}
        wanted = None if customers is None else list(customers)
        ids = None if wanted is None else {c["id"] for c in wanted}
        emails = None if wanted is None else {str(c["email"]).casefold() for c in wanted}
        for row in subscribers:
            email = str(row["subscriber_email"]).casefold()
            if (
                ids is not None
                and emails is not None
                and row["customer_id"] not in ids
                and email not in emails
            ):
                continue
            if row["customer_id"] is not None:
                self.by_customer.setdefault(row["customer_id"], []).append(row)
            self.by_email.setdefault(email, []).append(row)


class RecordRoutes(ConfigRoutes):
    """Customers (with their subscription flag) and orders; :class:`MagentoSimulator`
    supplies the state."""

    default_page_size: int | None

    def _fields(self, request: Request, payload: Any) -> Any:
        spec = request.args.get("fields")
        return apply_fields(payload, parse_fields(spec)) if spec else payload

    # -- customers -----------------------------------------------------------------------

    def is_subscribed(
        self, customer: dict[str, Any], index: _SubscriberIndex | None = None
    ) -> bool:
        """As ``CustomerPlugin``: by customer id, else by e-mail (MySQL compares ci)."""
        index = index or _SubscriberIndex(self.subscribers.values())
        rows = index.by_customer.get(customer["id"]) or index.by_email.get(
            str(customer["email"]).casefold(), []
        )
        return any(r["subscriber_status"] == 1 for r in rows)

    def render_customer(
        self, customer: dict[str, Any], index: _SubscriberIndex | None = None
    ) -> dict[str, Any]:
        """The stored customer plus ``extension_attributes`` in Magento's key order."""
        out: dict[str, Any] = {}
        for key, value in customer.items():
            if key == "custom_attributes":
                out["extension_attributes"] = {"is_subscribed": self.is_subscribed(customer, index)}
            out[key] = value
        out.setdefault(
            "extension_attributes", {"is_subscribed": self.is_subscribed(customer, index)}
        )
        return out

    @staticmethod
    def _customer_value(customer: dict[str, Any], field: str) -> Any:
        if field in _BILLING_FIELDS:
            billing: dict[str, Any] = next(
                (a for a in customer["addresses"] if a.get("default_billing")), {}
            )
            value = billing.get(_BILLING_FIELDS[field])
            return value.get("region") if isinstance(value, dict) else value
        return customer.get(_CUSTOMER_FIELDS.get(field, field))

    def customers_search(self, request: Request) -> Response:
        criteria = parse_criteria(request.query)
        with self.lock:
            for group in criteria.filter_groups:
                for flt in group:
                    name = flt["field"]
                    known = name in _ALWAYS_FILTERABLE or any(
                        name in c for c in self.customers.values()
                    )
                    if not known:
                        return Response(
                            400, {"message": "Invalid attribute name: %1", "parameters": [name]}
                        )
            items, total = run_search(
                list(self.customers.values()),
                criteria,
                self._customer_value,
                max_page_size=self.max_page_size,
                default_page_size=self.default_page_size,
                out_of_range=self.out_of_range,
            )
            index = _SubscriberIndex(self.subscribers.values(), items)  # one pass
            body = {
                "items": [self.render_customer(c, index) for c in items],
                "search_criteria": criteria.echo(),
                "total_count": total,
            }
        return Response(200, self._fields(request, body))

    def customer_get(self, request: Request) -> Response:
        with self.lock:
            customer = self.customers.get(int(request.params["id"]))
            if customer is None:
                return no_entity("customerId", int(request.params["id"]))
            return Response(200, self._fields(request, self.render_customer(customer)))

    def customer_put(self, request: Request) -> Response:
        customer_id = int(request.params["id"])
        body = request.json() or {}
        incoming = body.get("customer") if isinstance(body, dict) else None
        if not isinstance(incoming, dict):
            return Response(
                400,
                {
                    "message": '"%fieldName" is required. Enter and try again.',
                    "parameters": {"fieldName": "customer"},
                },
            )
        with self.lock:
            current = self.customers.get(customer_id)
            if current is None:
                return no_entity("customerId", customer_id)
            for name in ("email", "firstname", "lastname"):
                if not str(incoming.get(name, current.get(name)) or "").strip() and name == "email":
                    return Response(
                        400,
                        {
                            "message": '"%fieldName" is required. Enter and try again.',
                            "parameters": {"fieldName": name},
                        },
                    )
            email = str(incoming.get("email", current["email"]))
            website = incoming.get("website_id", current["website_id"])
            clash = any(
                c["id"] != customer_id
                and c["website_id"] == website
                and str(c["email"]).casefold() == email.casefold()
                for c in self.customers.values()
            )
            if clash:
                return Response(
                    400,
                    {
                        "message": "A customer with the same email address "
                        "already exists in an associated website."
                    },
                )
            subscribed = (incoming.get("extension_attributes") or {}).get("is_subscribed")
            updated = dict(current)
            for key, value in incoming.items():
                if key in ("id", "extension_attributes", "created_at", "updated_at"):
                    continue
                if value is None:
                    updated.pop(key, None)
                else:
                    updated[key] = value
            updated["updated_at"] = self.now()
            self.customers[customer_id] = updated
            if subscribed is not None:
                self.write_subscription(updated, bool(subscribed))
            return Response(200, self.render_customer(updated))

    def write_subscription(self, customer: dict[str, Any], subscribed: bool) -> None:
        """What ``SubscriptionManager`` does for a customer save with ``is_subscribed``."""
        rows = [s for s in self.subscribers.values() if s["customer_id"] == customer["id"]]
        if not rows and not subscribed:
            return
        if not rows:
            row = self.factory.subscriber(
                email=customer["email"],
                status=1,
                customer_id=customer["id"],
                store_id=customer["store_id"],
            )
            row["change_status_at"] = self.now()
            self.subscribers[row["subscriber_id"]] = row
            return
        status = 1 if subscribed else 3
        for row in rows:
            if row["subscriber_status"] != status:
                row["subscriber_status"] = status
                row["change_status_at"] = self.now()

    def customer_delete(self, request: Request) -> Response:
        with self.lock:
            if self.customers.pop(int(request.params["id"]), None) is None:
                return no_entity("customerId", int(request.params["id"]))
        return Response(200, True)

    # -- orders --------------------------------------------------------------------------

    def orders_search(self, request: Request) -> Response:
        criteria = parse_criteria(request.query)
        with self.lock:
            items, total = run_search(
                list(self.orders.values()),
                criteria,
                lambda o, f: o.get(f),
                max_page_size=self.max_page_size,
                default_page_size=self.default_page_size,
                out_of_range=self.out_of_range,
            )
            body = {"items": items, "search_criteria": criteria.echo(), "total_count": total}
        return Response(200, self._fields(request, body))

    def order_get(self, request: Request) -> Response:
        with self.lock:
            order = self.orders.get(int(request.params["id"]))
        if order is None:
            return Response(
                404,
                {
                    "message": "The entity that was requested doesn't exist. "
                    "Verify the entity and try again."
                },
            )
        return Response(200, self._fields(request, order))
