"""Deletions follow the profile's policy however the profile is saved (admin, load_config)."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save
from django.dispatch import receiver

from profiles.models import Profile


@receiver(post_save, sender=Profile, dispatch_uid="deletions_follow_policy")
def _profile_saved(sender: type[Profile], instance: Profile, raw: bool, **kwargs: Any) -> None:
    if not raw and instance.pk:
        from contacts.services.propagate import deletions_follow_policy

        deletions_follow_policy(instance)
