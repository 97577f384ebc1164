"""Pure helpers for the ``contact/getchanges`` export (time ranges, CSV, opt-in values).

The export is asynchronous: start it, poll ``export/<id>`` until ``done``, then download
``export/<id>/data`` as CSV (``user_id`` plus one column per field, headed by the field's
*name* in the requested language). Emarsys reads ``time_range`` in the account's time zone
(Europe/Vienna in the docs), so our UTC instants are converted before sending.
"""

from __future__ import annotations

import csv
import io
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from connectors.emarsys.envelope import as_id, as_int
from connectors.emarsys.models import OPT_IN_FIELD, ExportStatus, Field, OptInChange
from connectors.errors import PermanentError, TransientError

EMARSYS_TZ = ZoneInfo("Europe/Vienna")
CONTACT_ID_COLUMN = "user_id"
# Values Emarsys uses for the Opt-In field (31): choice ids in JSON, choice texts in CSV.
OPT_IN_TRUE_VALUES = frozenset({"1", "true", "yes"})
OPT_IN_FALSE_VALUES = frozenset({"2", "false", "no"})
# Fields the export refuses (avg. visit length, page views, last mail, user status, source).
NOT_EXPORTABLE = frozenset({"27", "28", "29", "32", "33"})


def to_account_time(moment: datetime, tz: ZoneInfo = EMARSYS_TZ) -> datetime:
    """Convert an instant to the account's wall-clock time (naive datetimes are UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(tz)


def time_range(
    since: datetime,
    until: datetime | None = None,
    *,
    precision: str = "date",
    tz: ZoneInfo = EMARSYS_TZ,
) -> list[str]:
    """The ``time_range`` pair for ``since``..``until`` (default: now).

    With ``precision="date"`` (what every account supports) the end is pushed one day
    later, so the window is a superset: callers must tolerate rows changed before ``since``.
    """
    end = until or datetime.now(tz=UTC)
    start_local, end_local = to_account_time(since, tz), to_account_time(end, tz)
    if precision == "datetime":
        fmt = "%Y-%m-%d %H:%M:%S"
        return [start_local.strftime(fmt), end_local.strftime(fmt)]
    if precision != "date":
        raise ValueError(f"precision must be 'date' or 'datetime', not {precision!r}")
    end_day: date = end_local.date() + timedelta(days=1)
    return [start_local.date().isoformat(), end_day.isoformat()]


def parse_csv(text: str, delimiter: str = ",") -> list[dict[str, str]]:
    """Rows of an export page as dicts keyed by the header line's column names."""
    if not text or not text.strip():
        return []
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=delimiter)
    rows = [row for row in reader if row]
    if not rows:
        return []
    header = [name.strip() for name in rows[0]]
    return [
        {name: (row[i] if i < len(row) else "") for i, name in enumerate(header)}
        for row in rows[1:]
    ]


def parse_opt_in(value: str | None) -> bool | None:
    """Opt-In as exported: True/"1" → True, False/"2" → False, empty → None (unknown)."""
    text = (value or "").strip().lower()
    if text in OPT_IN_TRUE_VALUES:
        return True
    if text in OPT_IN_FALSE_VALUES:
        return False
    return None


def opt_in_changes(
    rows: Iterable[Mapping[str, str]], *, names_by_id: Mapping[str, str], key_field_id: str
) -> list[OptInChange]:
    """Map export rows (columns named by field name) to :class:`OptInChange` records.

    A column is found by field name first and by field id second, so an export requested
    with ids as headers parses too.
    """
    key_column = names_by_id.get(key_field_id, key_field_id)
    opt_in_column = names_by_id.get(OPT_IN_FIELD, OPT_IN_FIELD)
    changes: list[OptInChange] = []
    for row in rows:
        contact_id = (row.get(CONTACT_ID_COLUMN) or row.get("id") or "").strip()
        if not contact_id:
            continue
        key_value = row.get(key_column, row.get(key_field_id, "")) or ""
        opt_in = row.get(opt_in_column, row.get(OPT_IN_FIELD))
        changes.append(
            OptInChange(
                contact_id=contact_id,
                key_value=key_value.strip(),
                opt_in=parse_opt_in(opt_in),
                row=dict(row),
            )
        )
    return changes


class ChangeExportMixin:
    """The change export (opt-in sync back); mixed into EmarsysClient."""

    if TYPE_CHECKING:
        service: str

        def _call(
            self,
            method: str,
            path: str,
            *,
            json_body: Any = None,
            params: Mapping[str, Any] | None = None,
        ) -> Any: ...

        def _request(
            self,
            method: str,
            path: str,
            *,
            params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
            json_body: Any = None,
            data: Any = None,
            headers: Mapping[str, str] | None = None,
            auth: bool = True,
        ) -> Any: ...

        def list_fields(self, language: str = "en") -> list[Field]: ...

    # -- change export (opt-in sync back) ----------------------------------------------------

    def start_change_export(
        self,
        *,
        since: datetime,
        until: datetime | None = None,
        contact_fields: Sequence[str | int],
        origin: str = "all",
        language: str = "en",
        notification_url: str | None = None,
        precision: str = "date",
    ) -> str:
        """Start ``contact/getchanges`` (local CSV) for contacts changed since ``since``.

        Returns the export id. Only form and API changes are exported (not imports), and a
        PUT counts only when it changed the e-mail or the opt-in.
        """
        fields = [as_int(f) for f in contact_fields if as_id(f) not in NOT_EXPORTABLE]
        body: dict[str, Any] = {
            "distribution_method": "local",
            "origin": origin,
            "origin_id": "0",
            "time_range": time_range(since, until, precision=precision),
            "contact_fields": fields,
            "delimiter": ",",
            "add_field_names_header": 1,
            "language": language,
        }
        if notification_url:
            body["notification_url"] = notification_url
        data = self._call("POST", "contact/getchanges", json_body=body)
        return as_id(data["id"])

    def export_status(self, export_id: str | int) -> ExportStatus:
        """The export's status (scheduled, in progress, ready, done, error)."""
        data = self._call("GET", f"export/{as_id(export_id)}") or {}
        return ExportStatus(
            id=as_id(data.get("id", export_id)),
            status=str(data.get("status") or "").strip().lower(),
            file_name=data.get("file_name") or None,
            created=data.get("created"),
            raw=dict(data),
        )

    def wait_for_export(
        self,
        export_id: str | int,
        *,
        timeout: float = 600.0,
        poll_interval: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> ExportStatus:
        """Poll until the export is done; at most ``timeout / poll_interval + 1`` polls.

        Raises PermanentError when the export failed and TransientError when it is still
        running at the end (the caller reschedules rather than blocking a worker).
        """
        polls = max(1, math.ceil(timeout / max(poll_interval, 0.001)) + 1)
        status = self.export_status(export_id)
        for _ in range(polls - 1):
            if status.done:
                return status
            if status.failed:
                break
            sleep(poll_interval)
            status = self.export_status(export_id)
        if status.done:
            return status
        if status.failed:
            raise PermanentError(f"{self.service}: export {export_id} failed", body=status.raw)
        raise TransientError(
            f"{self.service}: export {export_id} still {status.status!r} after {timeout:g}s",
            body=status.raw,
        )

    def download_export(
        self, export_id: str | int, *, page_size: int = 10_000, max_pages: int = 1_000
    ) -> list[dict[str, str]]:
        """All CSV rows of a finished local export, paged with offset/limit."""
        rows: list[dict[str, str]] = []
        for page in range(max_pages):
            _, body = self._request(
                "GET",
                f"export/{as_id(export_id)}/data",
                params={"offset": page * page_size, "limit": page_size},
                headers={"Accept": "text/csv"},
            )
            text = body if isinstance(body, str) else ""
            page_rows = parse_csv(text)
            rows.extend(page_rows)
            if len(page_rows) < page_size:
                return rows
        raise PermanentError(f"{self.service}: export {export_id} has over {max_pages} pages")

    def opt_in_changes(
        self,
        *,
        since: datetime,
        until: datetime | None = None,
        key_field_id: str | int = "3",
        poll_timeout: float = 600.0,
        poll_interval: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> list[OptInChange]:
        """Contacts whose opt-in (or e-mail) changed since ``since``: start, poll, download.

        The window is widened to whole days in Emarsys' time zone, so expect rows from
        before ``since``; compare with what you already know before acting on them.
        """
        names_by_id = {f.id: f.name for f in self.list_fields("en")}
        key = as_id(key_field_id)
        export_id = self.start_change_export(
            since=since, until=until, contact_fields=list(dict.fromkeys([key, "31"]))
        )
        self.wait_for_export(
            export_id, timeout=poll_timeout, poll_interval=poll_interval, sleep=sleep
        )
        rows = self.download_export(export_id)
        return opt_in_changes(rows, names_by_id=names_by_id, key_field_id=key)
