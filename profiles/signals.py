"""Keep beat entries in step with profiles however a profile is saved or deleted."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from profiles.models import Profile
from profiles.services.schedules import profile_schedule_delete, profile_schedule_sync


@receiver(post_save, sender=Profile, dispatch_uid="profile_schedule_sync")
def _profile_saved(sender: type[Profile], instance: Profile, raw: bool, **kwargs: Any) -> None:
    if not raw:
        profile_schedule_sync(profile=instance)


@receiver(post_delete, sender=Profile, dispatch_uid="profile_schedule_delete")
def _profile_deleted(sender: type[Profile], instance: Profile, **kwargs: Any) -> None:
    profile_schedule_delete(profile=instance)
