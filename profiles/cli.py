"""Helpers shared by the foreground CLI commands: profile lookup, progress bar, summary.

Exit codes: 0 everything succeeded, 1 some contact failed (or was deferred for retry),
2 usage or configuration errors.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from django.core.management.base import CommandError
from django.db.models import QuerySet

from profiles.models import DRY_COUNT_WORDS, Profile, Run

EXIT_OK = 0
EXIT_FAILURES = 1
EXIT_USAGE = 2


def usage_error(message: str) -> CommandError:
    return CommandError(message, returncode=EXIT_USAGE)


def profiles_select(type_id: str, name_or_id: str | None) -> list[Profile]:
    """The profile named (or numbered) ``name_or_id`` of this type, or all of them."""
    qs: QuerySet[Profile] = Profile.objects.filter(type=type_id).select_related(
        "client", "source_client"
    )
    if name_or_id is None:
        profiles = list(qs.order_by("pk"))
        if not profiles:
            raise usage_error(
                f"There is no {type_id} profile. Create one in the admin or with load_config."
            )
        return profiles
    if name_or_id.isdigit():
        found = qs.filter(pk=int(name_or_id)).first() or qs.filter(name=name_or_id).first()
    else:
        found = qs.filter(name=name_or_id).first()
    if found is None:
        names = ", ".join(f"{p.pk}:{p.name}" for p in qs.order_by("pk")) or "none"
        raise usage_error(f"No {type_id} profile {name_or_id!r} (profiles: {names}).")
    return [found]


class ProgressBar:
    """A one-line progress bar on a terminal (plain lines when not a TTY)."""

    def __init__(self, stream: TextIO | None = None, width: int = 30) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self.started = time.monotonic()
        self.tty = self.stream.isatty()
        self._last = -1

    def __call__(self, run: Run, total: int) -> None:
        done = run.processed + run.retried
        total = max(total, done, 1)
        filled = int(self.width * done / total)
        rate = done / max(time.monotonic() - self.started, 0.001)
        line = (
            f"[{'#' * filled}{'.' * (self.width - filled)}] {done}/{total} "
            f"created {run.created} · updated {run.updated} · unchanged {run.unchanged} · "
            f"failed {run.failed} · {rate:.0f}/s"
        )
        if self.tty:
            self.stream.write("\r" + line)
        elif done != self._last:
            self.stream.write(line + "\n")
        self._last = done
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def run_summary_table(runs: list[Run]) -> str:
    """A fixed-width table of the runs' counts (a dry run's in the conditional)."""
    dry = bool(runs) and all(run.dry_run for run in runs)
    counters = ("collected", "created", "updated", "unchanged", "skipped", "failed", "retried")
    words = {**{k: k for k in counters}, "retried": "deferred"}
    header = (
        "profile",
        "run",
        "status",
        *((DRY_COUNT_WORDS if dry else words)[k] for k in counters),
        "seconds",
    )
    rows = [header]
    for run in runs:
        seconds = run.duration_seconds
        rows.append(
            (
                run.profile.name,
                str(run.pk),
                run.status_label,
                str(run.collected),
                str(run.created),
                str(run.updated),
                str(run.unchanged),
                str(run.skipped),
                str(run.failed),
                str(run.retried),
                f"{seconds:.1f}" if seconds is not None else "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def exit_code_for(runs: list[Run]) -> int:
    return (
        EXIT_FAILURES
        if any(r.failed or r.retried or r.status == "failed" for r in runs)
        else EXIT_OK
    )


Writer = Callable[[str], None]


def add_decision_arguments(parser: object) -> None:
    """``--link ENTITY_ID=REMOTE_ID`` and ``--secondary ENTITY_ID`` (both repeatable)."""
    add = parser.add_argument  # type: ignore[attr-defined]
    add(
        "--link",
        action="append",
        default=[],
        metavar="ENTITY_ID=REMOTE_ID",
        help="Link this contact to the chosen remote contact (a person's decision).",
    )
    add(
        "--secondary",
        action="append",
        default=[],
        type=int,
        metavar="ENTITY_ID",
        help="This contact shares its e-mail with another person and never writes.",
    )


def parse_links(values: list[str]) -> list[tuple[int, str]]:
    """``["12=https://…/contacts/5"]`` → ``[(12, "https://…/contacts/5")]``."""
    out = []
    for value in values:
        entity, sep, remote = value.partition("=")
        if not sep or not entity.strip().isdigit() or not remote.strip():
            raise usage_error(f"--link takes ENTITY_ID=REMOTE_ID, not {value!r}.")
        out.append((int(entity), remote.strip()))
    return out
