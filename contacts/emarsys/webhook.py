"""The Magento change-notification endpoint (realtime-failsafe mode).

``POST /hooks/emarsys/<profile_id>/`` with a JSON body (see ``docs/magento-webhook.md``),
signed with the profile's ``webhook_secret``::

    X-ContactSync-Timestamp: <unix seconds>
    X-ContactSync-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>

A missing/bad signature or a timestamp more than five minutes away answers 403 (replays
of an old, validly signed request are refused); a signature already accepted inside the
window answers 409 (each one is remembered in Django's cache until the window ends). The
view only verifies and enqueues; the Celery task reads Magento and syncs the person — or,
when the profile's schedule is disabled or it runs background-only, just queues them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from typing import Any

from django.core.cache import cache
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from contacts.emarsys import config
from contacts.emarsys.profile_type import TYPE_ID
from contacts.emarsys.services import EVENTS
from contacts.services.mirror import magento_time
from contacts.text import email_problem
from profiles.models import Profile

logger = logging.getLogger("contactsync.emarsys_contact_sync")

TIMESTAMP_HEADER = "X-ContactSync-Timestamp"
SIGNATURE_HEADER = "X-ContactSync-Signature"
REPLAY_WINDOW_SECONDS = 300
# A timestamp up to one window in the future stays valid up to two windows from now.
SEEN_SIGNATURE_SECONDS = 2 * REPLAY_WINDOW_SECONDS + 60
ID_PATTERN = re.compile(r"[0-9]{1,10}")


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256 over ``"<timestamp>." + body``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def signature_valid(
    *, secret: str, timestamp: str, body: bytes, given: str, now: float | None = None
) -> tuple[bool, str]:
    """Check a request's signature and freshness: ``(ok, reason)``."""
    if not secret:
        return False, "the profile has no webhook secret"
    try:
        sent_at = int(timestamp)
    except (TypeError, ValueError):
        return False, "missing or malformed timestamp"
    current = time.time() if now is None else now
    if abs(current - sent_at) > REPLAY_WINDOW_SECONDS:
        return False, "timestamp outside the five-minute window"
    expected = signature(secret, timestamp, body)
    candidate = given if given.startswith("sha256=") else f"sha256={given}"
    if not hmac.compare_digest(expected, candidate):
        return False, "signature mismatch"
    return True, ""


def _is_id(value: Any, *, optional: bool = False) -> bool:
    """An id Magento would send: 1-10 ASCII digits (as a JSON number or a string).

    ``str.isdigit`` is not enough: "²" is a digit to it but not to ``int()``. Booleans and
    floats are refused; ``optional`` also accepts a missing/null value.
    """
    if value is None:
        return optional
    if isinstance(value, bool) or not isinstance(value, int | str):
        return False
    return ID_PATTERN.fullmatch(str(value)) is not None


def _time_ok(value: Any) -> bool:
    if value is None:
        return True
    if not isinstance(value, str):
        return False
    try:
        magento_time(value)
    except ValueError:  # well formed but impossible, e.g. month 13
        return False
    return True


def event_errors(payload: Any) -> str:
    """Why a notification body is unusable ("" when fine)."""
    if not isinstance(payload, dict):
        return "the body is not a JSON object"
    kind = payload.get("event")
    if kind not in EVENTS:
        return f"event must be one of {', '.join(EVENTS)}"
    if str(kind).startswith("customer."):
        if not _is_id(payload.get("customer_id")):
            return "customer events need customer_id (1-10 digits)"
        return ""
    row = payload.get("subscriber")
    if not isinstance(row, dict):
        return "subscriber events need subscriber.subscriber_id"
    if not _is_id(row.get("subscriber_id")):
        return "subscriber.subscriber_id must be 1-10 digits"
    for field in ("customer_id", "store_id", "subscriber_status"):
        if not _is_id(row.get(field), optional=True):
            return f"subscriber.{field} must be 1-10 digits or null"
    status = row.get("subscriber_status")
    if status is not None and int(status) not in (1, 2, 3, 4):
        return "subscriber.subscriber_status must be 1 (subscribed), 2, 3 or 4"
    email = row.get("subscriber_email")
    if email is not None and not isinstance(email, str):
        return "subscriber.subscriber_email must be a string or null"
    problem = email_problem(email.strip()) if email else None
    if problem:
        return f"subscriber.subscriber_email {problem}"
    if not _time_ok(row.get("change_status_at")):
        return "subscriber.change_status_at must be 'YYYY-MM-DD HH:MM:SS' or null"
    return ""


def _first_use(profile_id: int, sig: str) -> bool:
    """Remember an accepted signature until it leaves the window; False when seen before."""
    return bool(cache.add(f"emarsys-webhook:{profile_id}:{sig}", 1, SEEN_SIGNATURE_SECONDS))


@csrf_exempt
@require_POST
def magento_notification(request: HttpRequest, profile_id: int) -> JsonResponse:
    """Verify, then hand the notification to ``contacts.emarsys_realtime_sync``."""
    from contacts.tasks import emarsys_realtime_sync

    profile = Profile.objects.filter(pk=profile_id, type=TYPE_ID).first()
    settings = config.effective(profile.settings) if profile else {}
    secret = str(settings.get("webhook_secret") or "")
    timestamp = request.headers.get(TIMESTAMP_HEADER, "")
    ok, reason = signature_valid(
        secret=secret,
        timestamp=timestamp,
        body=request.body,
        given=request.headers.get(SIGNATURE_HEADER, ""),
    )
    if profile is None or not ok:
        # One answer for "no such profile" and "bad signature": nothing to probe.
        logger.warning("webhook for profile %s refused: %s", profile_id, reason or "unknown")
        return JsonResponse({"error": "forbidden"}, status=403)
    try:
        payload = json.loads(request.body)
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        payload = None
    problem = event_errors(payload)
    if problem:
        return JsonResponse({"error": problem}, status=400)
    if not _first_use(profile.pk, signature(secret, timestamp, request.body)):
        logger.warning("webhook for profile %s refused: replayed notification", profile_id)
        return JsonResponse({"error": "replayed notification"}, status=409)
    emarsys_realtime_sync.delay(profile_id=profile.pk, event=payload)
    answer: dict[str, Any] = {"accepted": True, "event": payload["event"]}
    if not profile.status:
        answer.update(
            queued_only=True,
            detail="The profile's schedule is disabled: the contact is queued, not synced.",
        )
    elif settings["sync_mode"] != config.REALTIME_FAILSAFE:
        answer.update(
            queued_only=True,
            detail="Background-only mode: the contact is queued for the daily run.",
        )
    return JsonResponse(answer, status=202)
