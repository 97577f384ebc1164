"""Keeping a profile's beat entries (django-celery-beat PeriodicTasks) in step with it."""

from __future__ import annotations

import json
import zoneinfo

from celery.schedules import crontab
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from profiles import registry
from profiles.models import Profile

RUN_TASK = "profiles.run_profile_scheduled"


def cron_validate(expression: str) -> list[str]:
    """Split and validate a five-field cron expression; raise ValidationError if invalid."""
    parts = expression.split()
    if len(parts) != 5:
        raise ValidationError(
            f"A cron expression has 5 fields (minute hour day-of-month month day-of-week); "
            f"{expression!r} has {len(parts)}."
        )
    minute, hour, day_of_month, month, day_of_week = parts
    try:
        crontab(
            minute=minute,
            hour=hour,
            day_of_month=day_of_month,
            month_of_year=month,
            day_of_week=day_of_week,
        )
    except (ValueError, TypeError) as exc:
        raise ValidationError(f"Invalid cron expression {expression!r}: {exc}") from exc
    return parts


def _crontab_for(expression: str) -> CrontabSchedule:
    minute, hour, day_of_month, month, day_of_week = cron_validate(expression)
    schedule, _ = CrontabSchedule.objects.get_or_create(
        minute=minute,
        hour=hour,
        day_of_month=day_of_month,
        month_of_year=month,
        day_of_week=day_of_week,
        timezone=zoneinfo.ZoneInfo(settings.TIME_ZONE),
    )
    return schedule


def _task_name(profile: Profile, key: str = "main") -> str:
    return f"profile {profile.pk} {key}"


def _main_cron(profile: Profile) -> str:
    try:
        return registry.get(profile.type).main_schedule_cron(profile)
    except registry.UnknownProfileType:
        return profile.cron_expression


def profile_schedule_sync(*, profile: Profile) -> PeriodicTask:
    """Create or update the profile's beat entries so they match its settings.

    The main entry runs the profile on its preset or custom cron and is enabled exactly when
    the profile's schedule is enabled (``status``). Profile types may add more entries
    (:meth:`ProfileType.extra_schedules`); entries no longer wanted are deleted.
    """
    with transaction.atomic():
        task, _ = PeriodicTask.objects.update_or_create(
            name=_task_name(profile),
            defaults={
                "task": RUN_TASK,
                "crontab": _crontab_for(_main_cron(profile)),
                "interval": None,
                "kwargs": json.dumps({"profile_id": profile.pk}),
                "enabled": profile.status,
                "description": f"Runs profile '{profile.name}' ({profile.type}).",
            },
        )
        if profile.schedule_id != task.pk:
            Profile.objects.filter(pk=profile.pk).update(schedule=task)
            profile.schedule = task
        wanted = {_task_name(profile)}
        try:
            extras = registry.get(profile.type).extra_schedules(profile)
        except registry.UnknownProfileType:
            extras = []
        for extra in extras:
            name = _task_name(profile, extra.key)
            wanted.add(name)
            PeriodicTask.objects.update_or_create(
                name=name,
                defaults={
                    "task": extra.task,
                    "crontab": _crontab_for(extra.cron),
                    "interval": None,
                    "kwargs": json.dumps({"profile_id": profile.pk, **extra.kwargs}),
                    "enabled": profile.status,
                    "description": f"{extra.key} of profile '{profile.name}'.",
                },
            )
        PeriodicTask.objects.filter(name__startswith=f"profile {profile.pk} ").exclude(
            name__in=wanted
        ).delete()
    return task


def profile_schedule_words(profile: Profile) -> str:
    """The profile's schedules in words, e.g. "every 15 minutes" or, for a type with
    several entries, "Magento poll every 5 minutes · Opt-in back-sync daily at 02:00"."""
    try:
        lines = registry.get(profile.type).schedule_summary(profile)
    except registry.UnknownProfileType:
        return registry.schedule_words(profile.cron_expression)
    if len(lines) == 1:
        return lines[0][1]
    return " · ".join(f"{label} {when}" for label, when in lines)


def profile_schedule_delete(*, profile: Profile) -> None:
    """Delete every beat entry of the profile (called when the profile is deleted)."""
    PeriodicTask.objects.filter(name__startswith=f"profile {profile.pk} ").delete()


def profile_schedule_set_enabled(*, profile: Profile, enabled: bool) -> None:
    """Enable or disable the profile's schedule (the 'Enable Schedule' setting)."""
    Profile.objects.filter(pk=profile.pk).update(status=enabled)
    profile.status = enabled
    profile_schedule_sync(profile=profile)
