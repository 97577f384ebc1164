"""The run admin: the run list with its chart, and one run's progress, log and dry run."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from profiles import admin_views, registry
from profiles.admin.base import ButtonUrlsMixin
from profiles.charts import progress_bar, runs_chart
from profiles.dashboard import run_progress, run_series
from profiles.models import ACTIVE_RUN_STATUSES, DRY_COUNT_WORDS, Profile, Run, RunEvent
from profiles.templatetags.contactsync import chip

DRY_RUN_EVENTS_SHOWN = 500
RUN_COUNT_WORDS = [
    ("collected", "collected"),
    ("created", "created"),
    ("updated", "updated"),
    ("unchanged", "unchanged"),
    ("skipped", "skipped"),
    ("failed", "failed"),
    ("retried", "wait"),
]
# A dry run's outcomes in the conditional: nothing happened.
DRY_RUN_WORDS = {
    **DRY_COUNT_WORDS,
    "ambiguous": "would stop: ambiguous",
    "retry": "would wait",
    "deferred": "would wait",
    "paused": "would wait",
}
# The run page's counters, as a real run names them.
RUN_PAGE_WORDS = [*RUN_COUNT_WORDS[:-1], ("retried", "retry later")]


@admin.register(Run)
class RunAdmin(ButtonUrlsMixin, admin.ModelAdmin):
    # The counts in one cell (only those that are not zero), so every run's outcome shows
    # on a 1280 px screen beside the filters.
    list_display = ["pk", "profile", "kind", "status_chip", "created_at", "duration", "counts"]
    list_display_links = ["pk", "status_chip"]
    list_filter = ["status", "trigger", "dry_run", "profile"]
    list_select_related = ["profile"]
    date_hierarchy = "created_at"
    change_list_template = "admin/profiles/run/change_list.html"
    button_urls = [("<int:pk>/progress/", "progress", admin_views.run_progress_json)]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # runs are records; the buttons that start them live on profiles

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        profile_id = request.GET.get("profile__id__exact")
        profile = (
            Profile.objects.filter(pk=profile_id).first()
            if profile_id and profile_id.isdigit()
            else None
        )
        extra = {
            **(extra_context or {}),
            "runs_chart": runs_chart(
                run_series(profile=profile, limit=100), title="Contacts per run (latest 100 runs)"
            ),
        }
        return super().changelist_view(request, extra)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        run = self.get_object(request, object_id)
        if run is None:
            raise Http404(f"No {self.model._meta.verbose_name} {object_id}.")
        if not self.has_view_permission(request, run):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        progress = run_progress(run)
        events = run.events.order_by("pk")
        entity_events = events.filter(entity_id__isnull=False) if run.dry_run else events.none()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Run {run.pk} of {run.profile.name}",
            "run": run,
            "progress": progress,
            "progress_bar": progress_bar(progress["percent"]),
            "log": events.filter(entity_id__isnull=True)[:200] if run.dry_run else events[:500],
            "dry_rows": _dry_rows(run, list(entity_events[:DRY_RUN_EVENTS_SHOWN])),
            "dry_total": entity_events.count(),
            "explain_url": reverse("admin:contacts_contactentity_changelist"),
            "scoped": _scoped(run),
            "stats": [
                (key, getattr(run, key), run.count_word(key, word)) for key, word in RUN_PAGE_WORDS
            ],
        }
        return TemplateResponse(request, "admin/profiles/run/detail.html", context)

    @admin.display(description="Kind")
    def kind(self, obj: Run) -> str:
        return format_html(
            '{}<br><span class="cs-muted">{}</span>', obj.kind_label, obj.get_trigger_display()
        )

    @admin.display(description="Contacts")
    def counts(self, obj: Run) -> str:
        parts = [
            format_html(
                '<span class="cs-count cs-count-{}">{} {}</span>', key, n, obj.count_word(key, word)
            )
            for key, word in RUN_COUNT_WORDS
            if (n := getattr(obj, key))
        ]
        if not parts:
            return format_html('<span class="cs-muted">{}</span>', "nothing to do")
        return format_html_join(" · ", "{}", ((p,) for p in parts))

    @admin.display(description="Status", ordering="status")
    def status_chip(self, obj: Run) -> str:
        if obj.status in ACTIVE_RUN_STATUSES:  # kept true while the list is open
            return format_html(
                '<span data-run-live="{}">{}</span>',
                reverse("admin:profiles_run_progress", args=[obj.pk]),
                chip(obj.status, obj.status_label),
            )
        return chip(obj.status, obj.status_label)

    @admin.display(description="Duration")
    def duration(self, obj: Run) -> str:
        seconds = obj.duration_seconds
        return "—" if seconds is None else f"{seconds:.1f} s"


def _scoped(run: Run) -> list[Any]:
    """The contacts a run of named contacts was limited to, to name them (not their ids)."""
    ids = (run.scope or {}).get("entity_ids") or []
    if not ids:
        return []
    try:
        entities = registry.get(run.profile.type).entities(run.profile)
    except registry.UnknownProfileType:
        return []
    return list(entities.filter(pk__in=ids).order_by("pk")[:50])


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value in ([], {})


def _dry_rows(run: Run, events: list[RunEvent]) -> list[dict[str, Any]]:
    """The dry run's contacts, each labelled with its person key and e-mail."""
    try:
        entities = registry.get(run.profile.type).entities(run.profile)
        labels = {e.pk: str(e) for e in entities.filter(pk__in=[ev.entity_id for ev in events])}
    except registry.UnknownProfileType:
        labels = {}
    return [
        {
            **_dry_row(e),
            "label": labels.get(e.entity_id) or (e.data or {}).get("label") or f"#{e.entity_id}",
            "exists": e.entity_id in labels,  # new to the dry run: not in the queue after it
        }
        for e in events
    ]


def _dry_row(event: Any) -> dict[str, Any]:
    """One contact of a dry run: outcome, the field diff with risky changes flagged."""
    data = event.data or {}
    changes = []
    for change in data.get("changes") or []:
        name, old, new = [*list(change), None, None, None][:3]
        changes.append(
            {"field": name, "old": old, "new": new, "blanks": _blank(new) and not _blank(old)}
        )
    warnings = list(data.get("warnings") or [])
    if any(c["blanks"] for c in changes):
        warnings.insert(
            0, "would blank a field: " + ", ".join(c["field"] for c in changes if c["blanks"])
        )
    outcome = str(data.get("outcome") or "")
    return {
        "entity_id": event.entity_id,
        "outcome": outcome,
        "outcome_label": DRY_RUN_WORDS.get(outcome, outcome),
        "action": data.get("action") or "",
        "message": data.get("message") or event.message,
        "changes": changes,
        "warnings": warnings,
        "payload": data.get("payload"),
    }
