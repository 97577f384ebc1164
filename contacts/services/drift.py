"""The drift check: is every linked contact in the remote system what we last sent?

For every contact of a profile it reports what disagrees with the remote system now —
**deleted** remotely, **hidden** (FreeAgent), **edited** remotely (which fields),
**duplicated** by e-mail, **never linked** — and with ``repair``:

* a contact deleted remotely is re-created (only when the profile may create), an edited
  one re-sends Magento's values for the edited fields, a never-linked one is queued;
* hidden and duplicated contacts are flagged for a person (we never un-hide or merge).

The remote reads are bounded (FreeAgent: the contact list, one request per 100 contacts;
Emarsys: ``getdata``, one request per 1,000). Each check is recorded as a finished run
(``scope.job == "drift"``) with the JSON summary, shown in the admin; the daily beat entry
``profile <id> drift`` runs it without repair.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from django.utils import timezone

from profiles.models import Profile, Run, RunEvent, RunStatus, RunTrigger

logger = logging.getLogger(__name__)

KINDS = ("deleted", "hidden", "edited", "duplicated", "unlinked")
KIND_LABELS = {
    "deleted": "deleted remotely",
    "hidden": "hidden remotely",
    "edited": "edited remotely",
    "duplicated": "duplicated by e-mail",
    "unlinked": "never linked",
}


@dataclass
class DriftItem:
    """One disagreement between our state and the remote system."""

    kind: str
    entity_id: int
    person: str
    email: str
    remote_id: str = ""
    fields: list[str] = field(default_factory=list)
    detail: str = ""
    repair: str = ""  # what --repair did: "re-queued", "flagged", "" (nothing)


@dataclass
class DriftReport:
    """The result of one check."""

    profile: str
    checked: int = 0  # linked contacts compared
    requests: int = 0  # remote read requests made
    items: list[DriftItem] = field(default_factory=list)
    repaired: bool = False
    error: str = ""
    run: Run | None = None
    cleared: int = 0  # earlier flags whose cause is gone, queued again

    def counts(self) -> dict[str, int]:
        found = Counter(item.kind for item in self.items)
        return {kind: found.get(kind, 0) for kind in KINDS}

    def as_json(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "checked": self.checked,
            "requests": self.requests,
            "repaired": self.repaired,
            "counts": self.counts(),
            "items": [asdict(item) for item in self.items],
            "cleared": self.cleared,
            "error": self.error,
        }

    def summary(self) -> str:
        counts = self.counts()
        found = ", ".join(f"{n} {KIND_LABELS[k]}" for k, n in counts.items() if n) or "no drift"
        what = "Drift check and repair" if self.repaired else "Drift check"
        cleared = (
            f" {self.cleared} earlier flag(s) no longer apply: queued to be decided again."
            if self.cleared
            else ""
        )
        return (
            f"{what}: {self.checked} linked contact(s) compared in {self.requests} request(s); "
            f"{found}.{cleared}"
        )


def drift_item(
    kind: str, entity: Any, *, fields: list[str] | None = None, detail: str = ""
) -> DriftItem:
    """A report line about one contact entity."""
    return DriftItem(
        kind=kind,
        entity_id=entity.pk,
        person=entity.person_key,
        email=entity.email,
        remote_id=entity.remote_id,
        fields=list(fields or []),
        detail=detail,
    )


def unlinked(report: DriftReport, chunk: list[Any]) -> None:
    """Report the contacts of ``chunk`` that were processed but never linked (not those
    still queued, skipped, ambiguous or decided by a person)."""
    from contacts.services.sharing import decision_of
    from profiles.models import QueueStatus, SyncStatus

    for entity in chunk:
        if entity.remote_id:
            continue
        unsettled = entity.queue_status in (QueueStatus.PENDING, QueueStatus.PROCESSING)
        left_out = entity.status in (SyncStatus.SKIPPED, SyncStatus.AMBIGUOUS)
        if not unsettled and not left_out and not decision_of(entity):
            report.items.append(
                drift_item("unlinked", entity, detail=f"last outcome {entity.status}")
            )


def drift_check(
    *, profile: Profile, repair: bool = False, trigger: str = RunTrigger.CLI
) -> DriftReport:
    """Run the profile type's drift check (see the module docstring) and record it."""
    from contacts.emarsys.drift import emarsys_drift
    from contacts.freeagent.drift import freeagent_drift

    started = timezone.now()
    report = DriftReport(profile=profile.name, repaired=repair)
    checks = {"freeagent_contact_export": freeagent_drift, "emarsys_contact_sync": emarsys_drift}
    check = checks.get(profile.type)
    if check is None:
        report.error = f"Profile type {profile.type} has no drift check."
    else:
        from connectors.errors import ConnectorError

        try:
            check(profile=profile, report=report, repair=repair)
        except ConnectorError as exc:
            report.error = f"The remote system could not be read: {exc}"
        else:
            report.cleared = drift_flags_clear(profile, report)
    report.run = _record(profile, trigger, started, report)
    return report


FLAGGED_KINDS = ("deleted", "hidden", "duplicated")


def linked_by_a_person(entity: Any) -> bool:
    """A person chose this contact's remote contact (Resolve, ``import --link``): a
    duplicate of its e-mail is reported, never turned back into an ambiguity over that
    decision."""
    from contacts.services.sharing import decision_of

    if entity is None or not entity.remote_id:
        return False
    decision = decision_of(entity)
    return decision.get("choice") == "link" and decision.get("remote", entity.remote_id) == (
        entity.remote_id
    )


def drift_flags_clear(profile: Profile, report: DriftReport) -> int:
    """Contacts an earlier check flagged (hidden, duplicated, deleted) whose cause this
    complete check no longer finds — the merchant un-hid, merged or removed the contact —
    are queued to be decided afresh: a flag never outlives its reason. Returns how many."""
    from contacts.models import ContactEntity
    from profiles.models import QueueStatus

    still = [i.entity_id for i in report.items if i.kind in FLAGGED_KINDS]
    return (
        ContactEntity.objects.filter(
            profile=profile, queue_status=QueueStatus.FAILED, message__outcome="drift"
        )
        .exclude(pk__in=still)
        .update(queue_status=QueueStatus.PENDING, next_attempt_at=None, attempts=0)
    )


def _record(profile: Profile, trigger: str, started: datetime, report: DriftReport) -> Run:
    counts = report.counts()
    found = sum(counts.values())
    if report.error:
        status = RunStatus.FAILED
    elif found and not report.repaired:
        status = RunStatus.PARTIAL
    else:
        status = RunStatus.SUCCESS
    summary = report.error or report.summary()
    run = Run.objects.create(
        profile=profile,
        trigger=trigger,
        status=status,
        scope={"job": "drift", "repair": report.repaired, "report": report.as_json()},
        created_at=started,
        started_at=started,
        finished_at=timezone.now(),
        collected=report.checked,
        updated=sum(1 for i in report.items if i.repair == "re-queued"),
        failed=sum(1 for i in report.items if i.repair == "flagged") if report.repaired else found,
        summary=summary,
    )
    lines = [
        RunEvent(
            run=run,
            level="warning",
            entity_id=item.entity_id,
            message=f"{item.person} <{item.email}>: {KIND_LABELS[item.kind]}"
            + (f" ({', '.join(item.fields)})" if item.fields else "")
            + (f" — {item.detail}" if item.detail else "")
            + (f" [{item.repair}]" if item.repair else ""),
        )
        for item in report.items[:2000]
    ]
    lines.append(RunEvent(run=run, level="error" if report.error else "info", message=summary))
    RunEvent.objects.bulk_create(lines)
    logger.info("profile=%s run=%s %s", profile.pk, run.pk, summary)
    return run
