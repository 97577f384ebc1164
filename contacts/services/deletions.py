"""Customers deleted in Magento are noticed.

Magento's REST API has no feed of deletions, so :func:`magento_deletions_detect` walks the
store's customer ids — keyset pages of ids only (``entity_id > last``, 300 a page, a few
bytes a customer), with the mirror's ids read range by range beside them, so memory stays
bounded for a million customers — and what the mirror holds that Magento no longer lists
was deleted there. It runs daily (beat: ``magento-deletions``) for every store a profile
reads.

A deleted customer leaves the mirror, and each profile's deletion policy decides what
becomes of its contact (:mod:`contacts.services.propagate`): under ``ignore`` (the
default) a FreeAgent contact is marked *Deleted in Magento* and kept, an Emarsys person is
queued as a ``customer.deleted`` notification does (kept, or sent on as the subscriber they
may still be); under a propagating policy the deletion pass that follows sends it (or the
approval brake holds it). Nothing is marked from a pass that did not finish, nor when
Magento lists no customer at all while the mirror holds some (a wrong store or a broken
search: never a reason to believe everyone was deleted).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.db import transaction

from connectors.magento.client import MagentoClient
from connectors.magento.criteria import MAX_PAGE_SIZE
from contacts.models import Customer
from profiles.models import Client, Profile

logger = logging.getLogger(__name__)


@dataclass
class DeletionReport:
    store: str
    listed: int = 0  # customer ids Magento listed
    deleted: list[int] = field(default_factory=list)  # mirror ids Magento no longer has
    marked: int = 0  # contacts marked "Deleted in Magento"
    refused: str = ""  # why nothing was marked


def magento_deletions_detect(
    store: Client, api: MagentoClient, *, trigger: str = "schedule"
) -> DeletionReport:
    """Compare the store's customer ids with the mirror's; mark what Magento deleted."""
    report = DeletionReport(store=store.name)
    mirror = Customer.objects.filter(store=store)
    after = 0
    missing: list[int] = []
    while True:
        ids = api.customer_ids_after(after, page_size=MAX_PAGE_SIZE)
        report.listed += len(ids)
        upto = ids[-1] if ids else None
        ours = mirror.filter(magento_id__gt=after)
        if upto is not None:
            ours = ours.filter(magento_id__lte=upto)
        listed = set(ids)
        missing += [i for i in ours.values_list("magento_id", flat=True) if i not in listed]
        if upto is None:
            break
        after = upto
    if report.listed == 0 and missing:
        report.refused = (
            f"Magento listed no customer at all while the mirror holds {len(missing)}: "
            "nothing was marked (check the store's URL, store code and credentials)."
        )
        logger.warning("store %s: %s", store.pk, report.refused)
        return report
    report.deleted = sorted(missing)
    if missing:
        report.marked = _mark_deleted(store, report.deleted, trigger)
    return report


def _mark_deleted(store: Client, magento_ids: list[int], trigger: str) -> int:
    """Remove the deleted customers from the mirror; each profile's type decides what
    becomes of its contacts for them (:meth:`~profiles.registry.ProfileType.customers_deleted`)."""
    from profiles import registry

    marked = 0
    profiles = list(Profile.objects.filter(source_client=store))
    for start in range(0, len(magento_ids), 1000):
        chunk = magento_ids[start : start + 1000]
        with transaction.atomic():
            Customer.objects.filter(store=store, magento_id__in=chunk).delete()
            for profile in profiles:
                try:
                    ptype = registry.get(profile.type)
                except registry.UnknownProfileType:
                    continue
                marked += ptype.customers_deleted(profile, chunk)
    # Then each propagating policy's deletion pass (network I/O: after the transactions;
    # the approval brake may hold it). A pass that fails leaves its deletions pending.
    from connectors.errors import ConnectorError
    from contacts.services.propagate import deletions_propagate, rules_of

    for profile in profiles:
        if not rules_of(profile).propagates or profile.client_id is None:
            continue
        try:
            deletions_propagate(profile, trigger=trigger)
        except ConnectorError as exc:
            logger.warning("profile %s: deletion pass not finished: %s", profile.pk, exc)
    return marked


def stores_deletions_detect(*, trigger: str = "schedule") -> list[DeletionReport]:
    """Every store a profile reads, once (the daily beat task)."""
    from connectors.errors import ConnectorError
    from profiles.services.connections import magento_client

    reports = []
    stores = Client.objects.filter(source_profiles__isnull=False).distinct().order_by("pk")
    for store in stores:
        try:
            reports.append(magento_deletions_detect(store, magento_client(store), trigger=trigger))
        except ConnectorError as exc:  # a pass that did not finish marks nothing
            logger.warning("store %s: deletions not checked: %s", store.pk, exc)
            reports.append(DeletionReport(store=store.name, refused=f"Magento: {exc}"))
    return reports
