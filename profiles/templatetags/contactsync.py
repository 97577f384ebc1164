"""Template helpers of the admin: the dashboard block, status chips, JSON and values."""

from __future__ import annotations

import json
from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from profiles.charts import progress_bar, runs_chart
from profiles.dashboard import (
    active_runs,
    attention_items,
    profile_cards,
    run_progress,
    run_series,
)

register = template.Library()


@register.inclusion_tag("admin/contactsync/dashboard.html", takes_context=True)
def contactsync_dashboard(context: dict[str, Any]) -> dict[str, Any]:
    """The dashboard: what needs attention, running exports, charts and profiles."""
    request = context["request"]
    user = request.user
    if not (user.has_perm("profiles.view_run") or user.has_perm("profiles.view_profile")):
        return {"allowed": False}
    running = [(run, run_progress(run)) for run in active_runs()]
    return {
        "allowed": True,
        "attention": attention_items(user),
        "running": [(run, p, progress_bar(p["percent"])) for run, p in running],
        "chart": runs_chart(run_series(limit=30), title="Contacts per run (latest 30 runs)"),
        "cards": profile_cards(),
    }


@register.filter
def chip(value: str, label: str = "") -> SafeString:
    """``{{ run.status|chip:run.get_status_display }}``"""
    return format_html('<span class="cs-chip cs-{}">{}</span>', value, label or value)


@register.filter
def pretty(value: Any) -> str:
    """A short JSON rendering of a value for table cells (``null`` → ∅)."""
    if value is None:
        return "∅"
    if isinstance(value, str):
        return value if value.strip() else "“” (empty)"
    return json.dumps(value, ensure_ascii=False, default=str)


@register.filter
def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


@register.filter
def schedule_words(profile: Any) -> str:
    """The profile's schedules in words (the type decides what runs)."""
    from profiles.services.schedules import profile_schedule_words

    return profile_schedule_words(profile)
