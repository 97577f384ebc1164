"""Alerts: a person is told once when a profile needs attention, reminded at most daily,
and told when it is over.

A profile's ``settings["alerts"]`` (the admin's *Alerts* section, ``alerts:`` in
``load_config``) names the recipients and, optionally, a webhook URL, and which incidents
count:

* ``no_success_hours`` — no successful export run for this many hours while the profile's
  schedule is enabled (0: off);
* ``failed_above`` — more than this many contacts failed and need a person (empty: off);
* ``credentials_refused`` — a client of the profile refuses its credentials (the profile
  is paused until they are fixed);
* ``approval_waiting`` — the approval brake holds deletions until a person approves or
  rejects them (``contacts.services.propagate``).

:func:`alerts_evaluate` runs every five minutes (beat). An incident opened sends one
e-mail (Django's mail settings) and one JSON POST to the webhook; while it lasts it is
re-sent at most every :data:`REMINDER`; when its condition ends a "resolved" message goes
once. The open incidents live in ``profile.state["alerts"]`` and the dashboard shows them.
A message that could not be sent is tried again at the next evaluation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import requests
from django.conf import settings
from django.core.mail import send_mail
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from profiles.models import Profile, QueueStatus, RunStatus

logger = logging.getLogger(__name__)

STATE_KEY = "alerts"
REMINDER = timedelta(hours=24)
WEBHOOK_TIMEOUT = 10
KINDS = ("no_success", "failed_contacts", "credentials_refused", "approval_waiting")


@dataclass(frozen=True)
class AlertRules:
    recipients: tuple[str, ...] = ()
    webhook_url: str = ""
    no_success_hours: int = 0
    failed_above: int | None = None
    credentials_refused: bool = True
    approval_waiting: bool = True

    @property
    def enabled(self) -> bool:
        return bool(self.recipients or self.webhook_url)


def rules_of(profile: Profile) -> AlertRules:
    raw = dict((profile.settings or {}).get(STATE_KEY) or {})
    failed = raw.get("failed_above")
    return AlertRules(
        recipients=tuple(str(r).strip() for r in raw.get("recipients") or [] if str(r).strip()),
        webhook_url=str(raw.get("webhook_url") or ""),
        no_success_hours=int(raw.get("no_success_hours") or 0),
        failed_above=None if failed is None or failed == "" else int(failed),
        credentials_refused=bool(raw.get("credentials_refused", True)),
        approval_waiting=bool(raw.get("approval_waiting", True)),
    )


def rules_errors(raw: Any) -> list[str]:
    """Problems of an ``alerts`` setting, for the form and ``load_config`` alike."""
    if raw in (None, {}):
        return []
    if not isinstance(raw, dict):
        return ["A mapping: recipients, webhook_url, no_success_hours, failed_above."]
    from django.core.validators import validate_email

    errors = []
    unknown = set(raw) - {
        "recipients",
        "webhook_url",
        "no_success_hours",
        "failed_above",
        "credentials_refused",
        "approval_waiting",
    }
    if unknown:
        errors.append(f"unknown key(s) {', '.join(sorted(unknown))}")
    for address in raw.get("recipients") or []:
        try:
            validate_email(str(address))
        except Exception:
            errors.append(f"recipients: {address!r} is not an e-mail address")
    url = str(raw.get("webhook_url") or "")
    if url and not url.startswith(("http://", "https://")):
        errors.append("webhook_url: an http(s) address")
    for key in ("no_success_hours", "failed_above"):
        value = raw.get(key)
        if value in (None, ""):
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            errors.append(f"{key}: a whole number, 0 or more; got {value!r}")
    return errors


# -- the conditions -------------------------------------------------------------------------


def active_incidents(profile: Profile, rules: AlertRules, now: datetime) -> dict[str, str]:
    """Kind → what is wrong, for each incident the rules count that is true now."""
    from profiles import registry
    from profiles.services.pause import profile_paused_by

    out: dict[str, str] = {}
    if rules.no_success_hours and profile.status:
        last = (
            profile.runs.filter(status=RunStatus.SUCCESS, dry_run=False)
            .exclude(scope__has_key="job")
            .order_by("-finished_at")
            .values_list("finished_at", flat=True)
            .first()
        )
        since = last or profile.created_at
        if since is not None and now - since > timedelta(hours=rules.no_success_hours):
            when = f"since {timezone.localtime(last):%Y-%m-%d %H:%M}" if last else "ever"
            out["no_success"] = (
                f"no successful export run {when} (alert after {rules.no_success_hours} h)"
            )
    if rules.failed_above is not None:
        try:
            entities = registry.get(profile.type).entities(profile)
        except registry.UnknownProfileType:
            entities = None
        if entities is not None:
            failed = entities.filter(queue_status=QueueStatus.FAILED).count()
            if failed > rules.failed_above:
                out["failed_contacts"] = (
                    f"{failed} contacts failed and need attention (alert above "
                    f"{rules.failed_above})"
                )
    if rules.credentials_refused:
        client = profile_paused_by(profile)
        if client is not None:
            out["credentials_refused"] = (
                f"client '{client.name}' refuses its credentials; the profile is paused "
                "until they are fixed"
            )
    if rules.approval_waiting:
        held = profile.deletion_requests.filter(status="waiting").first()
        if held is not None:
            out["approval_waiting"] = (
                f"{held.records.filter(outcome='waiting').count()} deletions held by the "
                f"approval brake since {timezone.localtime(held.created_at):%Y-%m-%d %H:%M} "
                "wait for a person to approve or reject them"
            )
    return out


# -- evaluation and sending -----------------------------------------------------------------


def alerts_evaluate(*, now: datetime | None = None) -> int:
    """Open, remind and resolve every profile's incidents; returns the messages sent."""
    now = now or timezone.now()
    sent = 0
    for profile in Profile.objects.select_related("client", "source_client").order_by("pk"):
        rules = rules_of(profile)
        if not rules.enabled:
            continue
        sent += _evaluate(profile, rules, now)
    return sent


def _evaluate(profile: Profile, rules: AlertRules, now: datetime) -> int:
    state = dict(Profile.objects.only("state").get(pk=profile.pk).state or {})
    open_ = dict(state.get(STATE_KEY) or {})
    active = active_incidents(profile, rules, now)
    sent = 0
    for kind, detail in active.items():
        incident = dict(open_.get(kind) or {})
        last_sent = parse_datetime(str(incident.get("sent") or ""))
        if not incident:
            incident = {"since": now.isoformat(), "detail": detail, "sent": ""}
        incident["detail"] = detail
        if last_sent is None or now - last_sent >= REMINDER:
            reminder = last_sent is not None
            if _send(profile, rules, kind, detail, reminder=reminder, resolved=False):
                incident["sent"] = now.isoformat()
                sent += 1
        open_[kind] = incident
    for kind in [k for k in open_ if k not in active]:
        incident = open_[kind]
        if not incident.get("sent") or _send(
            profile, rules, kind, str(incident.get("detail") or ""), reminder=False, resolved=True
        ):
            del open_[kind]  # an incident never announced ends without a word
            sent += 1 if incident.get("sent") else 0
    state[STATE_KEY] = open_
    Profile.objects.filter(pk=profile.pk).update(state=state)
    profile.state = state
    return sent


def _send(
    profile: Profile, rules: AlertRules, kind: str, detail: str, *, reminder: bool, resolved: bool
) -> bool:
    """One message to the recipients and the webhook; True if every channel took it."""
    word = "resolved" if resolved else ("reminder" if reminder else "alert")
    subject = f"[Contact Sync] {profile.name}: {word} — {detail}"[:200]
    link = f"{settings.PUBLIC_BASE_URL}/admin/profiles/profile/{profile.pk}/change/"
    body = (
        f"Profile: {profile.name}\n"
        f"{'Resolved' if resolved else 'Needs attention'}: {detail}\n"
        + ("" if resolved else f"Open the profile: {link}\n")
        + ("This incident is still open (a reminder at most once a day).\n" if reminder else "")
    )
    ok = True
    if rules.recipients:
        try:
            send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, list(rules.recipients))
        except Exception as exc:  # the mail server's own errors; tried again next time
            logger.warning("alert e-mail for profile %s not sent: %s", profile.pk, exc)
            ok = False
    if rules.webhook_url:
        payload = {
            "profile": profile.name,
            "profile_id": profile.pk,
            "incident": kind,
            "state": "resolved" if resolved else "open",
            "reminder": reminder,
            "detail": detail,
            "url": link,
        }
        try:
            answer = requests.post(rules.webhook_url, json=payload, timeout=WEBHOOK_TIMEOUT)
            answer.raise_for_status()
        except requests.RequestException as exc:
            logger.warning("alert webhook for profile %s not delivered: %s", profile.pk, exc)
            ok = False
    return ok


def open_incidents(profile: Profile) -> list[dict[str, Any]]:
    """The profile's open incidents, for the dashboard."""
    open_ = dict((profile.state or {}).get(STATE_KEY) or {})
    return [{"kind": kind, **incident} for kind, incident in sorted(open_.items()) if kind in KINDS]
