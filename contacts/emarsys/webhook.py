"""The Magento change-notification endpoint (realtime-failsafe mode).

``POST /hooks/emarsys/<profile_id>/`` with a JSON body (see ``docs/magento-webhook.md``),
signed with the profile's ``webhook_secret``::

    X-ContactSync-Timestamp: <unix seconds>
    X-ContactSync-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>

A missing/bad signature or a timestamp more than five minutes away answers 403 (replays
of an old, validly signed request are refused). The view only verifies and enqueues; the
Celery task reads Magento and syncs the person.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from contacts.emarsys import config
from contacts.emarsys.profile_type import TYPE_ID
from contacts.emarsys.services import EVENTS
from profiles.models import Profile

logger = logging.getLogger("contactsync.emarsys_contact_sync")

TIMESTAMP_HEADER = "X-ContactSync-Timestamp"
SIGNATURE_HEADER = "X-ContactSync-Signature"
REPLAY_WINDOW_SECONDS = 300


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


def event_errors(payload: Any) -> str:
    """Why a notification body is unusable ("" when fine)."""
    if not isinstance(payload, dict):
        return "the body is not a JSON object"
    kind = payload.get("event")
    if kind not in EVENTS:
        return f"event must be one of {', '.join(EVENTS)}"
    if str(kind).startswith("customer."):
        if not str(payload.get("customer_id") or "").isdigit():
            return "customer events need customer_id"
    elif (
        not isinstance(payload.get("subscriber"), dict)
        or not str(payload["subscriber"].get("subscriber_id") or "").isdigit()
    ):
        return "subscriber events need subscriber.subscriber_id"
    return ""


@csrf_exempt
@require_POST
def magento_notification(request: HttpRequest, profile_id: int) -> JsonResponse:
    """Verify, then hand the notification to ``contacts.emarsys_realtime_sync``."""
    from contacts.tasks import emarsys_realtime_sync

    profile = Profile.objects.filter(pk=profile_id, type=TYPE_ID).first()
    secret = str(config.effective(profile.settings)["webhook_secret"]) if profile else ""
    ok, reason = signature_valid(
        secret=secret,
        timestamp=request.headers.get(TIMESTAMP_HEADER, ""),
        body=request.body,
        given=request.headers.get(SIGNATURE_HEADER, ""),
    )
    if profile is None or not ok:
        # One answer for "no such profile" and "bad signature": nothing to probe.
        logger.warning("webhook for profile %s refused: %s", profile_id, reason or "unknown")
        return JsonResponse({"error": "forbidden"}, status=403)
    try:
        payload = json.loads(request.body)
    except ValueError:
        payload = None
    problem = event_errors(payload)
    if problem:
        return JsonResponse({"error": problem}, status=400)
    emarsys_realtime_sync.delay(profile_id=profile.pk, event=payload)
    return JsonResponse({"accepted": True, "event": payload["event"]}, status=202)
