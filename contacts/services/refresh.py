"""Per-contact runs read Magento first: the CLI's ``--id`` and the admin's *Dry run this
contact* / *Export now* must show and send what Magento has now, not what the mirror had
at the last poll.

One request per contact: ``GET customers/{id}`` for a customer, the newest guest order of
the e-mail for a guest buyer. A person Magento no longer has is reported; the run then
says what happens to them.
"""

from __future__ import annotations

from collections.abc import Iterable

from connectors.errors import ConnectorError, NotFound
from connectors.magento.client import MagentoClient
from connectors.magento.criteria import Filter, SearchCriteria
from connectors.magento.normalise import guest_from_order
from contacts.models import ContactEntity, Customer
from contacts.services.mirror import customer_upsert, guest_upsert
from profiles.models import Profile
from profiles.services.connections import magento_client


def entities_refresh(*, profile: Profile, entities: Iterable[ContactEntity]) -> list[str]:
    """Re-read the Magento records behind these contacts into the mirror; returns one line
    per record that could not be read (the run still goes ahead with the mirror)."""
    store = profile.source_client
    if store is None:
        return ["The profile has no Magento source client."]
    api = magento_client(store)
    problems: list[str] = []
    for entity in entities:
        try:
            _refresh_one(profile, api, entity)
        except NotFound:
            problems.append(f"{entity}: Magento no longer has this person.")
            if entity.customer_id is not None:
                Customer.objects.filter(store=store, magento_id=entity.customer_id).delete()
        except ConnectorError as exc:
            problems.append(f"{entity}: Magento could not be read ({exc}); the mirror is used.")
    return problems


def _refresh_one(profile: Profile, api: MagentoClient, entity: ContactEntity) -> None:
    store = profile.source_client
    assert store is not None
    if entity.customer_id is not None:
        customer_upsert(store, api.get_customer(entity.customer_id))
        return
    kind, _, rest = entity.person_key.partition(":")
    if kind != "guest":
        return  # a guest subscriber: its row is read by the poll (no lookup by id)
    website, _, email = rest.partition(":")
    criteria = (
        SearchCriteria(page_size=1, current_page=1)
        .where(Filter("customer_email", email, "eq"))
        .where(Filter("customer_is_guest", "1", "eq"))
        .order_by("entity_id", "DESC")
    )
    orders = api.search_orders(criteria).get("items") or []
    if not orders:
        raise NotFound(f"magento: no guest order of {email}")
    guest = guest_from_order(orders[0])
    guest_upsert(store, guest, website_id=int(website) if website.isdigit() else None)
