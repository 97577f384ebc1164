"""A small test-only profile type that proves the pipeline framework.

"Trace" entities are ContactEntity rows the test creates as pending. The processor sleeps
``settings.sleep_seconds`` per entity and appends ``<entity_id> <worker>`` to a trace file
per entity under ``$PIPELINE_TRACE_DIR`` *after* its work, so a test can count how many
times each entity was processed, across processes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

from contacts.models import ContactEntity
from profiles import registry
from profiles.models import Profile, QueueStatus, Run
from profiles.pipeline import BatchContext, Generator, Outcome, Processor, QueueAndLog, WorkItem

TYPE_ID = "test_trace"


class TraceData(Generator):
    name = "Trace Data"
    sort_order = 10

    def process(self, ctx: BatchContext, items: Sequence[WorkItem]) -> None:
        for item in items:
            meta = item.entity.metadata or {}
            if meta.get("invalid"):
                item.finish(Outcome.FAILED, "email: malformed address")
            elif meta.get("transient"):
                item.finish(Outcome.RETRY, "remote timed out")
            else:
                item.payload = {"email": item.entity.email}


class TraceExport(Processor):
    name = "Trace Export"
    sort_order = 40

    def process(self, ctx: BatchContext, items: Sequence[WorkItem]) -> None:
        sleep = float(ctx.profile.settings.get("sleep_seconds", 0))
        trace_dir = os.environ.get("PIPELINE_TRACE_DIR")
        for item in items:
            if item.done:
                continue
            if sleep:
                time.sleep(sleep)
            if trace_dir and not ctx.dry_run:
                with Path(trace_dir, f"{item.entity.pk}").open("a") as fh:
                    fh.write(f"{item.entity.pk} {ctx.worker_id}\n")
            item.remote_id = f"trace/{item.entity.pk}"
            item.finish(Outcome.CREATED, "traced")


class TraceProfileType(registry.ProfileType):
    type_id = TYPE_ID
    label = "Test trace (test suite only)"
    source_client_type = None
    target_client_type = None
    stages = [QueueAndLog, TraceExport, TraceData]  # deliberately unsorted

    @property
    def entity_model(self) -> type[ContactEntity]:
        return ContactEntity

    def collect(self, *, profile: Profile, run: Run | None) -> int:
        # Entities "collected" are those the test marked new since the last run.
        return ContactEntity.objects.filter(
            profile=profile, queue_status=QueueStatus.PENDING
        ).count()


registry.register(TraceProfileType())
