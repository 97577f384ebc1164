"""The benchmark command measures what it says (its figures, not their speed: speed is
never asserted in tests)."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from profiles.models import Client, Profile

pytestmark = pytest.mark.django_db


def test_the_benchmark_reports_requests_queries_and_the_floor():
    out = io.StringIO()
    call_command("benchmark", "--customers", "30", "--json", stdout=out)
    rows = {(r["type"], r["phase"]): r for r in json.loads(out.getvalue())}

    fa = rows[("freeagent_contact_export", "first sync")]
    assert fa["created"] > 30  # customers and guest buyers
    # One POST per exported contact, the company and one cache read: nothing per batch.
    assert fa["target_requests_by_kind"]["POST /v2/contacts"] == fa["created"]
    assert fa["target_requests"] - fa["created"] <= 3
    assert fa["floor"]["contacts"] == fa["created"] + fa["updated"]
    assert fa["floor"]["requests"] >= fa["created"]
    assert fa["ratio_to_floor"] > 0

    em = rows[("emarsys_contact_sync", "first sync")]
    assert em["batch_size"] == 1000  # the type's own default: one upsert per batch
    assert em["created"] > 0
    assert em["floor"]["contacts"] == em["created"] + em["updated"]

    for kind in ("freeagent_contact_export", "emarsys_contact_sync"):
        again = rows[(kind, "unchanged re-run")]
        assert (again["target_writes"], again["created"], again["updated"]) == (0, 0, 0)
    # The simulators ran in a process of their own: their memory is not counted as ours.
    assert fa["simulators_peak_rss_mb"] > 0
    # What it created is gone again.
    assert not Profile.objects.filter(name__startswith="benchmark-").exists()
    assert not Client.objects.filter(name__startswith="benchmark-").exists()
