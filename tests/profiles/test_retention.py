"""History retention keeps tables bounded and never touches active runs or contact state."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from contacts.models import ContactEntity, DeliveryAttempt
from profiles.models import Run, RunEvent, RunStatus, RunTrigger
from profiles.services.retention import history_purge
from tests.factories import ContactEntityFactory, ProfileFactory

pytestmark = pytest.mark.django_db


def test_old_history_is_purged_and_the_rest_kept():
    profile = ProfileFactory()
    entity = ContactEntityFactory(profile=profile)
    old = timezone.now() - timedelta(days=40)
    old_run = Run.objects.create(
        profile=profile, trigger=RunTrigger.CLI, status=RunStatus.SUCCESS, created_at=old
    )
    RunEvent.objects.create(run=old_run, message="old")
    stuck = Run.objects.create(
        profile=profile, trigger=RunTrigger.CLI, status=RunStatus.RUNNING, created_at=old
    )
    new_run = Run.objects.create(profile=profile, trigger=RunTrigger.CLI, status=RunStatus.SUCCESS)
    old_attempt = DeliveryAttempt.objects.create(entity=entity, action="create", outcome="created")
    DeliveryAttempt.objects.filter(pk=old_attempt.pk).update(created_at=old)
    DeliveryAttempt.objects.create(entity=entity, action="update", outcome="updated")

    purged = history_purge(older_than_days=30)

    assert (purged.runs, purged.attempts) == (1, 1)
    assert set(Run.objects.values_list("pk", flat=True)) == {stuck.pk, new_run.pk}
    assert not RunEvent.objects.filter(message="old").exists()
    assert DeliveryAttempt.objects.count() == 1
    assert ContactEntity.objects.filter(pk=entity.pk).exists()
