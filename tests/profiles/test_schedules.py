"""Profiles keep their django-celery-beat entries in step with their settings."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError
from django_celery_beat.models import PeriodicTask

from profiles.models import Profile, SchedulePreset
from profiles.services.schedules import cron_validate, profile_schedule_set_enabled
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db


def crontab_of(task: PeriodicTask) -> str:
    c = task.crontab
    return f"{c.minute} {c.hour} {c.day_of_month} {c.month_of_year} {c.day_of_week}"


def test_new_profile_gets_an_enabled_entry_every_15_minutes_by_default():
    profile = ProfileFactory()
    profile.refresh_from_db()
    task = profile.schedule
    assert task is not None
    assert task.task == "profiles.run_profile_scheduled"
    assert json.loads(task.kwargs) == {"profile_id": profile.pk}
    assert task.enabled is True
    assert crontab_of(task) == "*/15 * * * *"


@pytest.mark.parametrize(
    ("preset", "cron", "expected"),
    [
        (SchedulePreset.EVERY_30, "", "*/30 * * * *"),
        (SchedulePreset.EVERY_60, "", "0 * * * *"),
        (SchedulePreset.CUSTOM, "5 */2 * * 1-5", "5 */2 * * 1-5"),
    ],
)
def test_changing_the_schedule_updates_the_same_entry(preset, cron, expected):
    profile = ProfileFactory()
    first_task_id = Profile.objects.get(pk=profile.pk).schedule_id
    profile.schedule_preset = preset
    profile.schedule_cron = cron
    profile.full_clean()
    profile.save()
    profile.refresh_from_db()
    assert profile.schedule_id == first_task_id
    assert crontab_of(profile.schedule) == expected
    assert PeriodicTask.objects.filter(name__startswith=f"profile {profile.pk} ").count() == 1


def test_disabling_and_enabling_the_schedule():
    profile = ProfileFactory()
    profile_schedule_set_enabled(profile=profile, enabled=False)
    profile.refresh_from_db()
    assert profile.status is False
    assert profile.schedule.enabled is False
    profile_schedule_set_enabled(profile=profile, enabled=True)
    profile.refresh_from_db()
    assert profile.schedule.enabled is True


def test_deleting_a_profile_deletes_its_entry():
    profile = ProfileFactory()
    name = f"profile {profile.pk} main"
    assert PeriodicTask.objects.filter(name=name).exists()
    profile.delete()
    assert not PeriodicTask.objects.filter(name=name).exists()


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("*/15 * * *", "has 4"),
        ("61 * * * *", "Invalid cron expression"),
        ("* 25 * * *", "Invalid cron expression"),
        ("every day", "has 2"),
    ],
)
def test_invalid_custom_cron_is_rejected_with_a_field_error(expression, message):
    with pytest.raises(ValidationError, match=message):
        cron_validate(expression)
    profile = ProfileFactory.build(schedule_preset=SchedulePreset.CUSTOM, schedule_cron=expression)
    with pytest.raises(ValidationError) as exc:
        profile.full_clean()
    assert "schedule_cron" in exc.value.message_dict


def test_custom_preset_without_expression_is_rejected():
    profile = ProfileFactory.build(schedule_preset=SchedulePreset.CUSTOM, schedule_cron="")
    with pytest.raises(ValidationError) as exc:
        profile.full_clean()
    assert exc.value.message_dict["schedule_cron"] == [
        "Enter a cron expression, or pick one of the preset schedules."
    ]


def test_batch_size_bounds_and_unknown_type():
    profile = ProfileFactory.build(process_batch_size=0, type="nope")
    with pytest.raises(ValidationError) as exc:
        profile.full_clean()
    assert "process_batch_size" in exc.value.message_dict
    assert "Unknown profile type 'nope'" in exc.value.message_dict["type"][0]
    profile = ProfileFactory.build(process_batch_size=1001)
    with pytest.raises(ValidationError) as exc:
        profile.full_clean()
    assert "process_batch_size" in exc.value.message_dict


def test_seed_defaults():
    profile = Profile(name="x", type="test_trace")
    assert profile.status is True
    assert profile.schedule_preset == SchedulePreset.EVERY_15
    assert profile.process_batch_size == 100
    assert profile.enable_retry_on_failure is False
    assert profile.retry_max_attempts == 3
    assert profile.api_behaviour == "create_and_update"
