""" "Forget this person" (GDPR erasure): the person leaves every target and every table.

For each profile holding the e-mail, the remote contact we linked is erased first:

* FreeAgent: ``DELETE``; a contact with invoices, estimates or bills cannot be deleted
  (FreeAgent answers 403), so it is anonymised (names, e-mail, phone and address cleared)
  and hidden — the accounting records stay, the person does not;
* Emarsys: ``POST contact/delete`` (a hard delete of the contact and its history).

Only when every target answered are the local traces removed, in one transaction: the
entities and their delivery attempts, the run-history lines that name the person, the
mirror rows (customers, subscribers, guest buyers) and cached FreeAgent contacts with the
e-mail (the profiles' retry lists hold Magento ids only). Then the log files are
rewritten without the lines that name them. One :class:`~contacts.models.ErasureAudit`
line stays, with counts and a keyed hash of the e-mail, no personal data.

Idempotent and resumable: a target that no longer has the contact (404) counts as done,
so a run cut short by a crash or an unavailable API is simply run again. A dry run says
what would be erased and erases nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from connectors.errors import AuthError, ConnectorError, NotFound
from contacts.models import (
    ContactEntity,
    Customer,
    DeletionRecord,
    DeliveryAttempt,
    ErasureAudit,
    GuestBuyer,
    RemoteContact,
    Subscriber,
)
from contacts.people import email_key
from profiles.models import ClientType, Profile, RunEvent

logger = logging.getLogger(__name__)

# FreeAgent fields that name or locate a person, cleared when a contact must be kept.
FREEAGENT_PERSONAL = {
    "first_name": "Erased",
    "last_name": "Person",
    "organisation_name": "",
    "email": "",
    "billing_email": "",
    "phone_number": "",
    "mobile": "",
    "address1": "",
    "address2": "",
    "address3": "",
    "town": "",
    "region": "",
    "postcode": "",
    "sales_tax_registration_number": "",
}
ERASED_LINE = "[a line naming a forgotten person was erased]\n"


@dataclass
class ForgetReport:
    email_hash: str
    dry_run: bool
    remote: list[str] = field(default_factory=list)  # one line per remote contact
    failed: list[str] = field(default_factory=list)  # targets that did not answer
    removed: Counter[str] = field(default_factory=Counter)
    log_lines: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed


def email_hash(email: str) -> str:
    """A keyed hash: tells a repeated request apart without holding the address."""
    key = str(settings.SECRET_KEY).encode()
    return hmac.new(key, email_key(email).encode(), hashlib.sha256).hexdigest()


def person_forget(*, email: str, actor: str, dry_run: bool = False) -> ForgetReport:
    """Erase ``email`` everywhere (see the module). Raises ``ValueError`` for no e-mail."""
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    key = email_key(email)
    try:
        validate_email(email.strip())  # as given: text around an address is not one
    except ValidationError:
        raise ValueError(f"{email!r} is not an e-mail address") from None
    report = ForgetReport(email_hash=email_hash(key), dry_run=dry_run)
    entities = list(ContactEntity.objects.filter(email_key=key).select_related("profile__client"))
    for profile_id in sorted({e.profile_id for e in entities}):
        mine = [e for e in entities if e.profile_id == profile_id]
        _remote_erase(mine[0].profile, mine, key, report)
    if report.failed:
        return report  # nothing local is removed until every target has let them go
    _local_erase(key, [e.pk for e in entities], report)
    report.log_lines = _logs_erase(key, dry_run=dry_run)
    if not dry_run:
        ErasureAudit.objects.update_or_create(
            email_hash=report.email_hash,
            defaults={
                "actor": actor[:200],
                "summary": {
                    "remote": len(report.remote),
                    "removed": dict(report.removed),
                    "log_lines": report.log_lines,
                },
            },
        )
    return report


def _remote_erase(
    profile: Profile, entities: list[ContactEntity], key: str, report: ForgetReport
) -> None:
    client = profile.client
    linked = sorted({e.remote_id for e in entities if e.remote_id})
    if client is None or not linked:
        return
    where = f"{profile.name} ({client.get_type_display()})"
    if report.dry_run:
        report.remote.extend(f"{where}: would erase {remote}" for remote in linked)
        return
    from profiles.services.connections import emarsys_client, freeagent_client

    try:
        if client.type == ClientType.FREEAGENT:
            books = freeagent_client(client)
            for url in linked:
                report.remote.append(f"{where}: {_freeagent_erase(books, url)}")
        elif client.type == ClientType.EMARSYS:
            try:
                emarsys_client(client).delete_contact(key, key_id="3")
                report.remote.append(f"{where}: deleted")
            except NotFound:
                report.remote.append(f"{where}: already gone")
    except ConnectorError as exc:
        report.failed.append(f"{where}: {exc} — nothing was removed here; run it again")


def _freeagent_erase(api: Any, url: str) -> str:
    try:
        api.delete_contact(url)
        return f"{url} deleted"
    except NotFound:
        return f"{url} already gone"
    except AuthError as exc:
        if exc.status != 403:
            raise
        # 403 on DELETE: invoices, estimates or bills keep it (a refused token fails the
        # update below the same way and is reported).
        api.update_contact(url, {**FREEAGENT_PERSONAL, "status": "Hidden"})
        return (
            f"{url} kept by FreeAgent (it has invoices, estimates or bills): anonymised and hidden"
        )


def _local_erase(key: str, entity_ids: list[int], report: ForgetReport) -> None:
    attempts = DeliveryAttempt.objects.filter(entity_id__in=entity_ids)
    events = RunEvent.objects.filter(
        Q(entity_id__in=entity_ids) | Q(message__icontains=key) | Q(data__icontains=key)
    )
    mirror = [
        ("customers", Customer.objects.filter(email_normalized=key)),
        ("subscribers", Subscriber.objects.filter(email_normalized=key)),
        ("guest buyers", GuestBuyer.objects.filter(email_normalized=key)),
        ("cached FreeAgent contacts", RemoteContact.objects.filter(email_key=key)),
    ]
    logged = DeletionRecord.objects.filter(Q(entity_id__in=entity_ids) | Q(email__iexact=key))
    if report.dry_run:
        report.removed.update(
            {
                "deletion log e-mails": logged.exclude(email="").count(),
                "contacts": len(entity_ids),
                "delivery attempts": attempts.count(),
                "history lines": events.count(),
                **{name: qs.count() for name, qs in mirror},
            }
        )
        return
    with transaction.atomic():
        # The deletion log keeps its lines (who deleted what, when) without the person.
        report.removed["deletion log e-mails"] = logged.exclude(email="").update(
            email="", person_key="(forgotten)"
        )
        report.removed["delivery attempts"] = attempts.delete()[0]
        report.removed["history lines"] = events.delete()[0]
        report.removed["contacts"] = ContactEntity.objects.filter(pk__in=entity_ids).delete()[0]
        for name, qs in mirror:
            report.removed[name] = qs.delete()[0]


def _logs_erase(key: str, *, dry_run: bool) -> int:
    """Rewrite the log files without the lines naming the person; returns how many."""
    folder = Path(settings.LOG_DIR)
    if not folder.is_dir():
        return 0
    erased = 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and ".log" in p.name):
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
        except OSError as exc:
            logger.warning("log file %s not read for an erasure: %s", path, exc)
            continue
        kept = [ERASED_LINE if key in line.lower() else line for line in lines]
        count = sum(1 for old, new in zip(lines, kept, strict=True) if old is not new)
        if not count:
            continue
        erased += count
        if dry_run:
            continue
        handle, temp = tempfile.mkstemp(dir=path.parent, prefix=".erasing-")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.writelines(kept)
        os.replace(temp, path)
    return erased
