"""Who is who: the person key of a Magento customer or subscriber. Pure functions.

One Emarsys contact per person. The person key is the Magento **customer** when there is
one — a subscriber who is (or becomes) a registered customer is merged into the customer's
entity and carries both ids — else the Magento **subscriber** (a guest). A guest subscriber
who registers is re-keyed (``entity_rekey``) and so keeps their Emarsys contact.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

CUSTOMER_PREFIX = "customer:"
SUBSCRIBER_PREFIX = "subscriber:"


def customer_key(customer_id: int) -> str:
    """The person key of a registered customer."""
    return f"{CUSTOMER_PREFIX}{int(customer_id)}"


def subscriber_key(subscriber_id: int) -> str:
    """The person key of a guest subscriber."""
    return f"{SUBSCRIBER_PREFIX}{int(subscriber_id)}"


def person_key(*, customer_id: int | None, subscriber_id: int | None) -> str:
    """The customer's key when there is a customer, else the subscriber's."""
    if customer_id is not None:
        return customer_key(customer_id)
    if subscriber_id is not None:
        return subscriber_key(subscriber_id)
    raise ValueError("a person needs a customer id or a subscriber id")


def subscriber_owner(
    *,
    linked_customer_id: int | None,
    email_key: str,
    customers_by_email: Mapping[str, Sequence[int]],
) -> int | None:
    """The registered customer a subscriber belongs to, or None for a guest.

    Magento's link (``customer_id`` on the subscriber row) wins; otherwise a customer with
    the same e-mail owns it (the lowest id when the e-mail exists on several websites), so
    one e-mail never becomes two Emarsys contacts.
    """
    if linked_customer_id:
        return int(linked_customer_id)
    owners = sorted(int(i) for i in customers_by_email.get(email_key, ()))
    return owners[0] if owners else None


def combined_hash(*parts: str | None) -> str:
    """The entity's source hash from its customer's and subscriber's mirror hashes."""
    text = "|".join(part or "-" for part in parts)
    return hashlib.sha256(text.encode()).hexdigest()
