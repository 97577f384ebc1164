"""`fa_contact import`: link existing FreeAgent contacts to Magento customers by e-mail.

Only links; never writes to FreeAgent. Ambiguous e-mails (two or more active FreeAgent
contacts) and unmatched people on either side are reported, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from connectors.freeagent.client import FreeAgentClient
from contacts.freeagent.cache import remote_contacts_by_email, remote_contacts_collect
from contacts.models import ContactEntity, RemoteContact
from profiles import registry
from profiles.models import Profile
from profiles.services.connections import freeagent_client


@dataclass
class ImportReport:
    linked: list[tuple[str, str]] = field(default_factory=list)  # (person, url)
    already_linked: int = 0
    ambiguous: list[tuple[str, list[str]]] = field(default_factory=list)
    unmatched_magento: list[str] = field(default_factory=list)
    unmatched_freeagent: list[str] = field(default_factory=list)


def contacts_import(*, profile: Profile, api: FreeAgentClient | None = None) -> ImportReport:
    """Collect both sides, then link every unlinked person whose e-mail matches exactly one
    active FreeAgent contact."""
    assert profile.client is not None
    api = api or freeagent_client(profile.client)
    remote_contacts_collect(client=profile.client, api=api)
    registry.get(profile.type).collect(profile=profile, run=None)
    report = ImportReport()
    linked_urls = set(
        ContactEntity.objects.filter(profile=profile)
        .exclude(remote_id="")
        .values_list("remote_id", flat=True)
    )
    for entity in ContactEntity.objects.filter(profile=profile).order_by("pk"):
        if entity.remote_id:
            report.already_linked += 1
            continue
        matches = remote_contacts_by_email(profile.client, entity.email)
        label = f"{entity.person_key} <{entity.email}>"
        if len(matches) == 1:
            ContactEntity.objects.filter(pk=entity.pk).update(remote_id=matches[0].url)
            linked_urls.add(matches[0].url)
            report.linked.append((label, matches[0].url))
        elif matches:
            report.ambiguous.append((label, [m.url for m in matches]))
        else:
            report.unmatched_magento.append(label)
    for remote in RemoteContact.objects.filter(client=profile.client).exclude(status="Hidden"):
        if remote.url not in linked_urls:
            report.unmatched_freeagent.append(f"{remote.url} <{remote.email_key or 'no e-mail'}>")
    return report
