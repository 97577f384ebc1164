"""The untidy part of the demo store: odd customers, guest orders and subscribers."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from connectors.simulators.magento.seed_data import COUNTRIES, MALFORMED_EMAILS

if TYPE_CHECKING:
    from connectors.simulators.magento.seed import Factory, StoreSeed

LONG = "Unit 4B, The Old Granary Business Park, " * 7  # 280 characters


def add_odd_data(factory: Factory, out: StoreSeed, *, n_guest_orders: int | None) -> None:
    """Append odd customers, then orders and subscribers for the whole store."""
    _odd_customers(factory, out)
    _orders(factory, out, n_guest_orders)
    _subscribers(factory, out)


def _odd_customers(factory: Factory, out: StoreSeed) -> None:
    if not out.customers:
        return
    from connectors.simulators.magento.seed import fmt

    rng = factory.rng
    next_id = max(c["id"] for c in out.customers) + 1
    oddities: list[dict[str, Any]] = []

    def new(**overrides: Any) -> dict[str, Any]:
        nonlocal next_id
        customer = factory.customer(next_id)
        next_id += 1
        customer.update(overrides)
        oddities.append(customer)
        return customer

    new(firstname="", lastname="")  # names left blank by an import
    new(firstname="-", lastname=".")
    for email in MALFORMED_EMAILS:
        new(email=email)
    # Non-ASCII everywhere.
    new(firstname="Zoë", lastname="Ó Súilleabháin-Dvořák", email="zoe.osd@example.ie")
    new(firstname="Łukasz", lastname="Żółć")
    # Very long fields.
    long_one = new(firstname="Bartholomew-Maximilian " * 4, lastname="Featherstonehaugh " * 6)
    for address in long_one["addresses"]:
        address["street"] = [LONG, LONG[:120]]
        address["company"] = LONG
    # Unknown country and an address with only empty street lines.
    odd_country = new()
    if odd_country["addresses"]:
        odd_country["addresses"][0].update(
            {"country_id": "XK", "street": [""], "postcode": "", "telephone": ""}
        )
    # region_id 0 with stray spaces, as in the documented search response.
    spaced = new()
    for address in spaced["addresses"]:
        address.update(
            {
                "region": {"region_code": "London ", "region": "London ", "region_id": 0},
                "region_id": 0,
                "country_id": "GB",
                "city": "Tottenham ",
            }
        )
    # The same e-mail on a second website (unique per (email, website_id) only).
    twin_source = out.customers[0]
    other_store = 1 if twin_source["website_id"] == 2 else 3
    twin = new(
        email=twin_source["email"],
        firstname=twin_source["firstname"],
        lastname=twin_source["lastname"],
        store_id=other_store,
        website_id=2 if other_store == 3 else 1,
        created_in="Deutsch" if other_store == 3 else "Default Store View",
    )
    twin["updated_at"] = max(twin["updated_at"], twin["created_at"])
    # Awaiting e-mail confirmation.
    new(confirmation=f"{rng.getrandbits(128):032x}")
    for customer in oddities:
        if customer["updated_at"] < customer["created_at"]:
            customer["updated_at"] = customer["created_at"]
        customer.setdefault("updated_at", fmt(factory.now))
    out.customers.extend(oddities)


def _orders(factory: Factory, out: StoreSeed, n_guest_orders: int | None) -> None:
    rng = factory.rng
    registered = [c for c in out.customers if "@" in c["email"]]
    total = n_guest_orders if n_guest_orders is not None else max(8, len(out.customers) // 2)
    repeat_emails: list[str] = []
    for i in range(total):
        kind = i % 8
        country = factory.country()
        first, last, _ = factory.person(country)
        email = factory.email(first, last)
        if kind == 1 and registered:
            # A registered customer checking out as guest, typed differently.
            known = rng.choice(registered)["email"]
            email = rng.choice((known.upper(), f" {known} ", known.title()))
        elif kind == 2 and repeat_emails:
            email = rng.choice(repeat_emails)
        elif kind == 3:
            repeat_emails.append(email)
        order = factory.order(
            email=email,
            names=kind != 4,  # older checkouts left customer_firstname empty
            virtual=kind == 5,
            company=kind == 6,
        )
        out.orders.append(order)
    for customer in registered[: max(1, len(registered) // 5)]:
        out.orders.append(factory.order(email=customer["email"], customer=customer))
    # A guest order later converted to a customer account: flag flips, updated_at moves.
    guests = [o for o in out.orders if o["customer_is_guest"] == 1]
    if guests and registered:
        converted = guests[-1]
        owner = registered[-1]
        converted.update(
            {"customer_is_guest": 0, "customer_id": owner["id"], "customer_group_id": 1}
        )
        converted["updated_at"] = max(converted["updated_at"], owner["created_at"])
    out.orders.sort(key=lambda o: o["entity_id"])


def _subscribers(factory: Factory, out: StoreSeed) -> None:
    rng = factory.rng
    statuses = (1, 1, 1, 1, 3, 3, 2, 4)
    registered = [c for c in out.customers if "@" in c["email"]]
    for i, customer in enumerate(registered):
        if i >= 4 and rng.random() > 0.4:
            continue
        # The first four cover every status for registered subscribers.
        status = i + 1 if i < 4 else rng.choice(statuses)
        out.subscribers.append(
            factory.subscriber(
                email=customer["email"],
                status=status,
                customer_id=customer["id"],
                store_id=customer["store_id"],
                imported=i % 17 == 16,
            )
        )
    guest_emails = [o["customer_email"].strip() for o in out.orders if o["customer_is_guest"]]
    count = max(4, len(out.customers) // 4)
    for i in range(count):
        if i % 3 == 0 and guest_emails:
            email = rng.choice(guest_emails)  # a guest buyer who also subscribed
        else:
            country = COUNTRIES[rng.choice(tuple(COUNTRIES))]
            first, last, _ = factory.person(country)
            email = factory.email(first, last)
        status = i + 1 if i < 4 else rng.choice(statuses)
        changed = factory.now - timedelta(seconds=rng.randint(0, 86400 * 400))
        out.subscribers.append(
            factory.subscriber(
                email=email, status=status, store_id=rng.choice((1, 2, 3, 4, 5)), changed=changed
            )
        )
