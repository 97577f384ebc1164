"""Deletion policies: what a customer deleted in Magento becomes in the target.

Each profile has a policy (``settings["deletions"]["policy"]``): ``ignore`` (the default:
the remote contact is kept, the contact marked *Deleted in Magento*) or one its type
propagates (``ProfileType.deletion_policies``) — FreeAgent ``hide`` or ``delete`` (hidden
where FreeAgent keeps a contact with invoices, estimates or bills), Emarsys
``unsubscribe`` (opt-in 2, mapped fields cleared) or ``delete`` (the contact and its
history).

A deletion noticed (the daily pass, a ``customer.deleted`` notification) becomes a
pending :class:`~contacts.models.DeletionRecord` for each linked contact; the deletion
pass (:func:`deletions_propagate`, right after) sends them. **The approval brake:** a pass
that would act on more than the threshold — ``brake_percent`` of the profile's linked
contacts or ``brake_max``, whichever is lower (default 5 % and 50) — sends nothing: it
holds them all in a :class:`~contacts.models.DeletionRequest` until a person approves
(then they are sent) or rejects (then the remote contacts are kept). Every record stays
beyond the history retention: who let it through, when, and what the remote answered.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from connectors.errors import ConnectorError
from connectors.locks import process_lock
from contacts.models import (
    ContactEntity,
    DeletionOutcome,
    DeletionRecord,
    DeletionRequest,
)
from profiles.models import Profile, QueueStatus, Run, RunEvent, RunStatus, SyncStatus
from profiles.services.connections import lock_dir

logger = logging.getLogger(__name__)

SETTING = "deletions"
IGNORE = "ignore"
IGNORE_LABEL = "Ignore: keep the remote contact and mark it Deleted in Magento"
DEFAULT_PERCENT = 5.0
DEFAULT_MAX = 50
CHUNK = 100  # records sent, then written, at a time (a crash repeats at most a chunk)
LOCK_WAIT = 60.0  # how long a pass waits for another pass of the profile to end
LOCK_TTL = 4 * 3600.0  # outlives the longest pass (thousands of contacts at 120 a minute)
DONE = {
    DeletionOutcome.DELETED,
    DeletionOutcome.HIDDEN,
    DeletionOutcome.UNSUBSCRIBED,
    DeletionOutcome.GONE,
}
OUTCOME_WORDS = {
    DeletionOutcome.DELETED: "deleted in {target}",
    DeletionOutcome.HIDDEN: "hidden in {target}",
    DeletionOutcome.UNSUBSCRIBED: "unsubscribed in {target} and its mapped fields cleared",
    DeletionOutcome.GONE: "already gone from {target}",
}


@dataclass(frozen=True)
class DeletionRules:
    policy: str = IGNORE
    brake_percent: float = DEFAULT_PERCENT
    brake_max: int = DEFAULT_MAX

    @property
    def propagates(self) -> bool:
        return self.policy != IGNORE


def policies_of(profile_type: Any) -> dict[str, str]:
    """The policies a profile of this type can choose (value → label)."""
    return {IGNORE: IGNORE_LABEL, **dict(getattr(profile_type, "deletion_policies", {}))}


def rules_of(profile: Profile) -> DeletionRules:
    raw = dict((profile.settings or {}).get(SETTING) or {})
    return DeletionRules(
        policy=str(raw.get("policy") or IGNORE),
        brake_percent=float(raw.get("brake_percent", DEFAULT_PERCENT)),
        brake_max=int(raw.get("brake_max", DEFAULT_MAX)),
    )


def rules_errors(raw: Any, profile_type: Any) -> list[str]:
    """Problems of a ``deletions`` setting, for the form and ``load_config`` alike."""
    if raw in (None, {}):
        return []
    if not isinstance(raw, dict):
        return ["A mapping: policy, brake_percent, brake_max."]
    errors = []
    unknown = set(raw) - {"policy", "brake_percent", "brake_max"}
    if unknown:
        errors.append(f"unknown key(s) {', '.join(sorted(unknown))}")
    offered = policies_of(profile_type)
    policy = raw.get("policy", IGNORE)
    if policy not in offered:
        errors.append(f"policy: one of {', '.join(offered)}; got {policy!r}")
    percent = raw.get("brake_percent", DEFAULT_PERCENT)
    if isinstance(percent, bool) or not isinstance(percent, int | float) or not 0 <= percent <= 100:
        errors.append(f"brake_percent: a number from 0 to 100; got {percent!r}")
    most = raw.get("brake_max", DEFAULT_MAX)
    if isinstance(most, bool) or not isinstance(most, int) or most < 0:
        errors.append(f"brake_max: a whole number, 0 or more; got {most!r}")
    return errors


def linked_entities(profile: Profile) -> QuerySet[ContactEntity]:
    return ContactEntity.objects.filter(profile=profile).exclude(remote_id="")


def brake_threshold(profile: Profile, rules: DeletionRules | None = None) -> tuple[int, int]:
    """(the most one pass may send without approval, the profile's linked contacts)."""
    rules = rules or rules_of(profile)
    linked = linked_entities(profile).count()
    return min(math.ceil(linked * rules.brake_percent / 100), rules.brake_max), linked


def target_name(profile: Profile) -> str:
    return profile.client.get_type_display() if profile.client else "the target"


# -- noticing ------------------------------------------------------------------------------


def deletions_mark(profile: Profile, entities: QuerySet[ContactEntity]) -> int:
    """These contacts' Magento customers were deleted: mark them *Deleted in Magento*
    and, under a propagating policy, record a pending deletion for each linked one (sent
    by the next :func:`deletions_propagate`). Returns how many were marked."""
    rules = rules_of(profile)
    now = timezone.now()
    noticed = f"Deleted in Magento (noticed {timezone.localtime(now):%Y-%m-%d %H:%M})"
    fresh = entities.exclude(queue_status=QueueStatus.PROCESSING).exclude(
        status=SyncStatus.SOURCE_DELETED
    )
    if not rules.propagates:
        text = f"{noticed}; the remote contact is kept as it is (deletion policy: ignore)."
        return _mark(fresh, text, now)
    target = target_name(profile)
    rows = list(fresh.values_list("pk", "person_key", "email", "remote_id"))
    # A remote contact another person of the profile is linked to is theirs too (a shared
    # e-mail rule, a person's choice): never deleted for this one.
    shared = set(
        ContactEntity.objects.filter(profile=profile, remote_id__in=[r[3] for r in rows if r[3]])
        .exclude(pk__in=[r[0] for r in rows])
        .exclude(status=SyncStatus.SOURCE_DELETED)
        .values_list("remote_id", flat=True)
    )
    kept = [r[0] for r in rows if r[3] and r[3] in shared]
    rows = [r for r in rows if not (r[3] and r[3] in shared)]
    already = set(
        DeletionRecord.objects.filter(
            profile=profile,
            entity_id__in=[r[0] for r in rows],
            outcome__in=[DeletionOutcome.PENDING, DeletionOutcome.WAITING, DeletionOutcome.FAILED],
        ).values_list("entity_id", flat=True)
    )
    records = [
        DeletionRecord(
            profile=profile,
            entity_id=pk,
            person_key=key,
            email=email,
            remote_id=remote,
            action=rules.policy,
            noticed_at=now,
        )
        for pk, key, email, remote in rows
        if remote and pk not in already
    ]
    linked = [r[0] for r in rows if r[3]]
    with transaction.atomic():
        DeletionRecord.objects.bulk_create(records)
        marked = _mark(
            ContactEntity.objects.filter(pk__in=linked),
            f"{noticed}; the {target} contact waits for the deletion pass "
            f"(deletion policy: {rules.policy}).",
            now,
        )
        marked += _mark(
            ContactEntity.objects.filter(pk__in=[r[0] for r in rows if not r[3]]),
            f"{noticed}; it was never sent to {target}, so nothing is deleted there.",
            now,
        )
        marked += _mark(
            ContactEntity.objects.filter(pk__in=kept),
            f"{noticed}; the {target} contact is kept: another contact of this profile is "
            "linked to it too.",
            now,
        )
    return marked


def _mark(entities: QuerySet[ContactEntity], text: str, now: Any) -> int:
    return entities.update(
        status=SyncStatus.SOURCE_DELETED,
        queue_status=QueueStatus.COMPLETE,
        next_attempt_at=None,
        message={"text": text, "source_deleted_at": now.isoformat()},
    )


# -- the deletion pass ---------------------------------------------------------------------


def deletions_propagate(
    profile: Profile, *, trigger: str, actor: str = "deletion policy"
) -> Run | None:
    """Send the profile's pending deletions — those a person approved, and the others
    unless the brake holds them; returns the run that records the pass (None: nothing to
    do)."""
    from profiles import registry
    from profiles.services.pause import profile_paused_by

    if not profile.status or profile_paused_by(profile) is not None:
        return None  # disabled (being reviewed) or paused: the deletions stay pending
    # One pass of a profile at a time (the daily pass, an approval, a notification): two
    # would send the same deletions twice and record the second answers.
    with process_lock(
        f"deletions:{profile.pk}",
        redis_url=settings.REDIS_URL or None,
        lock_dir=lock_dir(),
        timeout=LOCK_WAIT,
        ttl=LOCK_TTL,
    ):
        return _propagate(profile, registry.get(profile.type), trigger, actor)


def _propagate(profile: Profile, ptype: Any, trigger: str, actor: str) -> Run | None:
    rules = rules_of(profile)
    records = list(
        profile.deletion_records.filter(
            outcome__in=[DeletionOutcome.PENDING, DeletionOutcome.FAILED]
        )
        .select_related("request")
        .order_by("pk")
    )
    approved = [r for r in records if _approved(r)]
    fresh = [r for r in records if not _approved(r)]
    if fresh and not rules.propagates:
        # The policy became "ignore": what was waiting is kept remotely.
        _conclude(fresh, DeletionOutcome.REJECTED, "the deletion policy is now ignore")
        fresh = []
    held: Run | None = None
    if fresh:
        threshold, linked = brake_threshold(profile, rules)
        waiting = waiting_request(profile)
        if waiting is not None or len(fresh) > threshold:
            held = _hold(profile, fresh, waiting, trigger, threshold, linked, rules)
            fresh = []
    if not approved and not fresh:
        return held
    return _send(profile, ptype, rules.policy, approved + fresh, trigger, actor)


def deletions_follow_policy(profile: Profile) -> None:
    """After the profile's settings changed: deletions not sent yet take the policy as it
    is now — under ``ignore`` they are dropped (held ones included: their request is
    rejected, the remote contacts kept); under another policy the pending ones act as it
    says. What a person approved keeps what they approved."""
    rules = rules_of(profile)
    records = profile.deletion_records.filter(
        outcome__in=[DeletionOutcome.PENDING, DeletionOutcome.FAILED, DeletionOutcome.WAITING]
    ).exclude(request__status=DeletionRequest.Status.APPROVED)
    if rules.propagates:
        records.filter(outcome__in=[DeletionOutcome.PENDING, DeletionOutcome.FAILED]).exclude(
            action=rules.policy
        ).update(action=rules.policy)
        return
    dropped = list(records)
    if not dropped:
        return
    why = "the deletion policy is now ignore"
    with transaction.atomic():
        profile.deletion_requests.filter(status=DeletionRequest.Status.WAITING).update(
            status=DeletionRequest.Status.REJECTED, decided_by=why, decided_at=timezone.now()
        )
        _conclude(dropped, DeletionOutcome.REJECTED, why)


def _approved(record: DeletionRecord) -> bool:
    return record.request is not None and record.request.status == DeletionRequest.Status.APPROVED


def _hold(
    profile: Profile,
    records: list[DeletionRecord],
    waiting: DeletionRequest | None,
    trigger: str,
    threshold: int,
    linked: int,
    rules: DeletionRules,
) -> Run:
    policy = rules.policy
    now = timezone.now()
    with transaction.atomic():
        held = waiting or DeletionRequest.objects.create(
            profile=profile, policy=policy, threshold=threshold, linked=linked
        )
        DeletionRecord.objects.filter(pk__in=[r.pk for r in records]).update(
            request=held, outcome=DeletionOutcome.WAITING
        )
        total = held.records.count()
        text = (
            f"Held for approval: {total} deletions in {target_name(profile)} wait for a person "
            f"(the brake lets {held.threshold} through unapproved: the lower of "
            f"{rules.brake_percent:g} % of {held.linked} linked contacts and "
            f"{rules.brake_max})."
        )
        ContactEntity.objects.filter(pk__in=[r.entity_id for r in records if r.entity_id]).update(
            message={"text": f"Deleted in Magento; {text}", "deletion_request": held.pk}
        )
        run = Run.objects.create(
            profile=profile,
            trigger=trigger,
            status=RunStatus.PARTIAL,
            scope={"job": "deletions", "held": total, "request": held.pk, "policy": policy},
            started_at=now,
            collection_finished_at=now,
            finished_at=now,
            collected=len(records),
            summary=text,
        )
        RunEvent.objects.create(run=run, level="warning", message=text)
    logger.warning("profile=%s run=%s %s", profile.pk, run.pk, text)
    return run


def _send(
    profile: Profile,
    ptype: Any,
    policy: str,
    records: list[DeletionRecord],
    trigger: str,
    actor: str,
) -> Run:
    # The pass's run is written when it ends, with its final status (as the drift check's):
    # never an active run beside an export of the profile, never one left "running" by a
    # crash. What each chunk did is written as it is done (the records and the contacts).
    started = timezone.now()
    events: list[RunEvent] = []
    counts: Counter[str] = Counter()
    stopped = ""
    for start in range(0, len(records), CHUNK):
        chunk = records[start : start + CHUNK]
        before = {r.pk: r.outcome for r in chunk}
        for record in chunk:
            record.outcome = DeletionOutcome.PENDING  # set by the type for each one tried
        try:
            for action, group in _by_action(chunk, policy).items():
                ptype.deletion_apply(profile, action, group)  # network I/O, no transaction
        except ConnectorError as exc:
            # Refused credentials, an API that is down: what was not tried stays pending.
            tried = [r for r in chunk if r.outcome != DeletionOutcome.PENDING]
            for record in chunk:
                if record.outcome == DeletionOutcome.PENDING:
                    record.outcome = before[record.pk]
            events += _record(profile, tried, actor)
            counts.update(str(r.outcome) for r in tried)
            left = len(records) - start - len(tried)
            stopped = f"Stopped: {exc}. {left} deletion(s) wait for the next pass."
            break
        events += _record(profile, chunk, actor)
        counts.update(str(r.outcome) for r in chunk)
    done = sum(counts[o] for o in DONE)
    failed = counts[DeletionOutcome.FAILED]
    parts = [f"{counts[o]} {o.label.lower()}" for o in DeletionOutcome if counts[o]]
    summary = f"Deletion pass (policy {policy}): " + (", ".join(parts) or "nothing sent") + "."
    if stopped:
        summary += f" {stopped}"
    status = RunStatus.SUCCESS if not failed and not stopped else RunStatus.PARTIAL
    if stopped and not done:
        status = RunStatus.FAILED
    with transaction.atomic():
        run = Run.objects.create(
            profile=profile,
            trigger=trigger,
            status=status,
            scope={"job": "deletions", "policy": policy},
            created_at=started,
            started_at=started,
            collection_finished_at=started,
            finished_at=timezone.now(),
            collected=len(records),
            updated=done,
            failed=failed,
            summary=summary,
        )
        for event in events:
            event.run = run
        events.append(
            RunEvent(run=run, level="info" if status == "success" else "warning", message=summary)
        )
        RunEvent.objects.bulk_create(events)
    logger.info("profile=%s run=%s %s", profile.pk, run.pk, summary)
    return run


def _record(profile: Profile, records: list[DeletionRecord], actor: str) -> list[RunEvent]:
    """The outcomes of a chunk, with the contacts' state, in one transaction; returns the
    history lines for the pass's run."""
    now = timezone.now()
    target = target_name(profile)
    events = []
    for record in records:
        decided = record.request.decided_by if record.request is not None else ""
        by = f"approved by {decided}" if _approved(record) else actor
        record.actor = by[:200]
        if record.outcome in DONE:
            record.done_at = now
        events.append(
            RunEvent(
                entity_id=record.entity_id,
                level="info" if record.outcome in DONE else "warning",
                message=f"{record.person_key} ({record.remote_id}): {_words(record, target)}",
            )
        )
    with transaction.atomic():
        DeletionRecord.objects.bulk_update(
            records, ["outcome", "done_at", "actor", "remote_status", "remote_answer"]
        )
        by_text: dict[tuple[str, bool], list[int]] = {}
        for record in records:
            if record.entity_id is None:
                continue
            unlinked = record.outcome in (DeletionOutcome.DELETED, DeletionOutcome.GONE)
            text = f"Deleted in Magento; {_words(record, target)}"
            by_text.setdefault((text, unlinked), []).append(record.entity_id)
        for (text, unlinked), ids in by_text.items():
            values: dict[str, Any] = {"message": {"text": text, "deletion": True}}
            if unlinked:
                values["remote_id"] = ""  # the remote contact no longer exists
            ContactEntity.objects.filter(pk__in=ids).update(**values)
    return events


def _by_action(records: list[DeletionRecord], policy: str) -> dict[str, list[DeletionRecord]]:
    """Each record is carried out as recorded (an approved request keeps its policy)."""
    out: dict[str, list[DeletionRecord]] = {}
    for record in records:
        out.setdefault(record.action or policy, []).append(record)
    return out


def _words(record: DeletionRecord, target: str) -> str:
    when = timezone.localtime(record.done_at or timezone.now())
    if record.outcome in OUTCOME_WORDS:
        text = OUTCOME_WORDS[DeletionOutcome(record.outcome)].format(target=target)
        text = f"{text} on {when:%Y-%m-%d %H:%M} (policy {record.action}, {record.actor})"
        if record.remote_answer:
            text += f": {record.remote_answer}"
        return text + "."
    return (
        f"{target} did not take the deletion ({record.remote_answer or 'no answer'}); "
        "it is tried again at the next deletion pass."
    )


def _conclude(records: list[DeletionRecord], outcome: str, why: str) -> None:
    now = timezone.now()
    with transaction.atomic():
        DeletionRecord.objects.filter(pk__in=[r.pk for r in records]).update(
            outcome=outcome, done_at=now, actor=why[:200]
        )
        ContactEntity.objects.filter(pk__in=[r.entity_id for r in records if r.entity_id]).update(
            message={"text": f"Deleted in Magento; the remote contact is kept ({why})."}
        )


# -- the brake's decision -----------------------------------------------------------------


class AlreadyDecided(ValueError):
    pass


def request_decide(request: DeletionRequest, *, approve: bool, actor: str) -> DeletionRequest:
    """A person's decision on held deletions. Approved, they are pending again and the
    next deletion pass (:func:`deletions_propagate`, started by the caller) sends them past
    the brake; rejected, the remote contacts are kept and the records say who decided."""
    with transaction.atomic():
        locked = DeletionRequest.objects.select_for_update().get(pk=request.pk)
        if locked.status != DeletionRequest.Status.WAITING:
            raise AlreadyDecided(
                f"These deletions were already {locked.get_status_display().lower()}."
            )
        locked.status = (
            DeletionRequest.Status.APPROVED if approve else DeletionRequest.Status.REJECTED
        )
        locked.decided_by = actor[:200]
        locked.decided_at = timezone.now()
        locked.save(update_fields=["status", "decided_by", "decided_at"])
        waiting = list(locked.records.filter(outcome=DeletionOutcome.WAITING))
        if approve:
            DeletionRecord.objects.filter(pk__in=[r.pk for r in waiting]).update(
                outcome=DeletionOutcome.PENDING
            )
        else:
            _conclude(waiting, DeletionOutcome.REJECTED, f"deletion rejected by {actor}")
    return locked


def waiting_request(profile: Profile) -> DeletionRequest | None:
    return profile.deletion_requests.filter(status=DeletionRequest.Status.WAITING).first()


# -- what a dry run and the explain page say -------------------------------------------------


def deletions_preview(profile: Profile) -> str:
    """One sentence on the deletions the next pass would send or hold ("" for none)."""
    rules = rules_of(profile)
    held = waiting_request(profile)
    target = target_name(profile)
    if held is not None:
        count = held.records.filter(outcome=DeletionOutcome.WAITING).count()
        since = timezone.localtime(held.created_at)
        return (
            f"Deletion policy {held.policy}: {count} deletions in {target} wait for "
            f"approval (held {since:%Y-%m-%d %H:%M})."
        )
    pending = profile.deletion_records.filter(
        outcome__in=[DeletionOutcome.PENDING, DeletionOutcome.FAILED]
    ).count()
    if not pending:
        return ""
    if not rules.propagates:
        return f"{pending} recorded deletion(s) would be dropped: the deletion policy is ignore."
    threshold, _linked = brake_threshold(profile, rules)
    if pending > threshold:
        return (
            f"Deletion policy {rules.policy}: {pending} contacts deleted in Magento would wait "
            f"for approval in {target} (the brake lets {threshold} through unapproved)."
        )
    return (
        f"Deletion policy {rules.policy}: {pending} contact(s) deleted in Magento would be "
        f"acted on in {target} at the next deletion pass."
    )


def deletion_note(entity: ContactEntity) -> str:
    """The explain page's line for a contact deleted in Magento ("" otherwise)."""
    if entity.status != SyncStatus.SOURCE_DELETED:
        return ""
    record = (
        DeletionRecord.objects.filter(profile_id=entity.profile_id, entity_id=entity.pk)
        .order_by("-noticed_at", "-pk")
        .first()
    )
    rules = rules_of(entity.profile)
    if record is None:
        return f"Deleted in Magento; deletion policy {rules.policy}: the remote contact is kept" + (
            " (it was noticed before the policy propagated deletions)." if rules.propagates else "."
        )
    outcome = record.get_outcome_display().lower()
    answer = f" — {record.remote_answer}" if record.remote_answer else ""
    return f"Deleted in Magento; deletion policy {record.action}: {outcome}{answer}."
