"""The ``contact/getchanges`` export of the Emarsys simulator.

An export snapshots, at creation, every contact with a logged change of the requested
origin inside ``time_range`` (read in Europe/Vienna time, as Emarsys does). Its status
moves from "in progress" to "done" after a few status polls, so clients must poll; the
CSV (``user_id`` + one column per field name) is served paged by offset/limit.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from connectors.simulators.emarsys.contacts import ContactStore, ItemFailure

VIENNA = ZoneInfo("Europe/Vienna")
NOT_EXPORTABLE = frozenset({27, 28, 29, 32, 33})
ORIGINS = frozenset({"form", "api", "all"})
DISTRIBUTION = frozenset({"local", "ftp", "sftp"})


@dataclass
class SimExport:
    """One change export."""

    id: int
    created: float
    header: list[str]
    rows: list[list[str]] = field(default_factory=list)
    polls: int = 0
    polls_needed: int = 2
    distribution_method: str = "local"

    @property
    def status(self) -> str:
        """ "in progress" until polled ``polls_needed`` times, then "done"."""
        return "done" if self.polls >= self.polls_needed else "in progress"

    def as_json(self) -> dict[str, Any]:
        """The ``GET export/<id>`` data (``created`` in Vienna wall-clock time)."""
        done = self.status == "done"
        return {
            "id": str(self.id),
            "created": datetime.fromtimestamp(self.created, tz=VIENNA).strftime(
                "%Y-%m-%d %H:%M:%S"
            ),
            "status": self.status,
            "type": "changes",
            "file_name": f"changes_{self.id}.csv" if done else None,
            "distribution_method": self.distribution_method,
        }

    def csv_page(self, offset: int, limit: int) -> str:
        """Header plus rows[offset:offset+limit] as CSV text."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(self.header)
        writer.writerows(self.rows[offset : offset + limit])
        return out.getvalue()


def vienna_text(epoch: float) -> str:
    """Epoch seconds as Europe/Vienna wall-clock text, as export ``created`` shows it."""
    return datetime.fromtimestamp(epoch, tz=VIENNA).strftime("%Y-%m-%d %H:%M:%S")


def parse_bound(text: Any, *, end: bool) -> float:
    """Epoch seconds of a time_range bound; a bare end date covers that whole day."""
    value = str(text).strip()
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            moment = datetime.strptime(value, fmt).replace(tzinfo=VIENNA)
        except ValueError:
            continue
        if fmt == "%Y-%m-%d" and end:
            moment += timedelta(days=1)
        return moment.timestamp()
    raise ValueError(value)


def build_export(
    store: ContactStore, body: Any, *, export_id: int, now: float, polls_needed: int
) -> SimExport:
    """Validate a getchanges body and snapshot the matching contacts (ItemFailure 10001)."""
    if not isinstance(body, dict):
        raise ItemFailure(10001, "Missing parameter: distribution_method")
    for name in ("distribution_method", "time_range", "origin", "contact_fields"):
        if name not in body:
            raise ItemFailure(10001, f"Missing parameter: {name}")
    if body["distribution_method"] not in DISTRIBUTION:
        raise ItemFailure(10001, f"Invalid distribution method: {body['distribution_method']}")
    if body["origin"] not in ORIGINS:
        raise ItemFailure(10001, f"Invalid origin: {body['origin']}")
    window = body["time_range"]
    if not isinstance(window, list) or len(window) != 2:
        raise ItemFailure(10001, "Invalid data format for time_range. Array size must be 2")
    try:
        start, stop = parse_bound(window[0], end=False), parse_bound(window[1], end=True)
    except ValueError as exc:
        raise ItemFailure(10001, "Valid start_date and end_date is required") from exc
    if stop < start:
        raise ItemFailure(
            10001, "Invalid value for end_date: end_date is earlier than the start_date"
        )
    fields = body["contact_fields"]
    if not isinstance(fields, list):
        raise ItemFailure(10001, "Invalid data format for contact_fields. Array expected")
    if not fields:
        raise ItemFailure(10001, "Invalid number of fields")
    ids = [int(f) if str(f).isdigit() else -1 for f in fields]
    bad = [
        str(f)
        for f, i in zip(fields, ids, strict=True)
        if i not in store.fields or i in NOT_EXPORTABLE
    ]
    if bad:
        raise ItemFailure(10001, f"Invalid contact field id: {', '.join(bad)}")
    origin = body["origin"]
    export = SimExport(
        id=export_id,
        created=now,
        header=["user_id", *(store.fields[i].name for i in ids)],
        polls_needed=polls_needed,
        distribution_method=str(body["distribution_method"]),
    )
    for contact in sorted(store.contacts.values(), key=lambda c: c.id):
        if any(
            start <= at < stop and (origin == "all" or kind == origin)
            for at, kind in contact.changes
        ):
            values = [store.display(i, contact.values.get(i)) for i in ids]
            export.rows.append([str(contact.id), *values])
    return export
