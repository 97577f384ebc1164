"""Opt-in as a two-way field with one rule. Pure functions: no database, no network.

Magento (the subscriber status) and Emarsys (the Opt-In field, 31) can both change a
person's consent. We keep, per contact, the **base**: the opt-in both systems agreed on at
the last sync, with the Magento status and change time it came from. Against it:

* a change made on one side since the base wins and is copied to the other side;
* when both sides changed and they disagree, the later change wins where the order can be
  proven; otherwise the **opt-out wins** (privacy-safe: 2 "opted out" beats "" "no
  decision", which beats 1 "opted in");
* nothing but a change the person made (a Magento status change, an Emarsys change) turns
  an opt-out into an opt-in: an opt-in map edited by the merchant only ever lowers consent.

The order of two changes can only be proven without comparing two systems' clocks: when an
Emarsys change was *seen* while Magento's status had change time T (recorded as ``pending``
because it could not be applied yet), a Magento change time later than T is a newer
change. Emarsys' own change times are not available (``contact/last_change`` was
decommissioned), so every other conflict is decided for the opt-out.

Values are Emarsys Opt-In values: ``1`` opted in, ``2`` opted out, ``""`` no decision.
A Magento status whose opt-in map entry is ``""`` ("not sent": not activated, unconfirmed)
has no opinion: it never overwrites Emarsys, but an Emarsys change is still written to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

OPTED_IN = 1
OPTED_OUT = 2
NO_DECISION = ""
STATE_KEY = "optin"

SUBSCRIBED = 1
UNSUBSCRIBED = 3

_RANK = {OPTED_OUT: 0, NO_DECISION: 1, OPTED_IN: 2}
_WORDS = {OPTED_IN: "opted in", OPTED_OUT: "opted out", NO_DECISION: "no decision"}


def normal(value: Any) -> int | str:
    """An Opt-In value as 1, 2 or "" (anything else, None included, is "")."""
    text = str(value if value is not None else "").strip().lower()
    if text in ("1", "true"):
        return OPTED_IN
    if text in ("2", "false"):
        return OPTED_OUT
    return NO_DECISION


def word(value: Any) -> str:
    """A value for people: "opted in", "opted out", "no decision"."""
    return _WORDS[normal(value)]


def safer(a: Any, b: Any) -> int | str:
    """The value with less consent (the opt-out wins)."""
    return min(normal(a), normal(b), key=lambda v: _RANK[v])


def mapped(status: int | None, optin_map: Mapping[str, Any]) -> int | str | None:
    """Magento subscriber status → Opt-In value, or None when the map says "not sent"."""
    if status is None:
        return None
    target = optin_map.get(str(status), "")
    return normal(target) if str(target) in ("1", "2") else None


def status_for(value: Any) -> int | None:
    """The Magento status that says an Emarsys value: 1 → subscribed, 2 → unsubscribed,
    "" → None (Emarsys has no decision: nothing to write)."""
    value = normal(value)
    if value == OPTED_IN:
        return SUBSCRIBED
    if value == OPTED_OUT:
        return UNSUBSCRIBED
    return None


@dataclass(frozen=True)
class Pending:
    """An Emarsys change seen but not applied yet, and Magento's change time then."""

    value: int | str
    magento_at: str | None


@dataclass(frozen=True)
class Base:
    """What both systems agreed on at the last sync (``agreed`` False: never synced)."""

    value: int | str = NO_DECISION
    status: int | None = None
    magento_at: str | None = None
    agreed: bool = False
    pending: Pending | None = None

    @classmethod
    def of(cls, metadata: Mapping[str, Any] | None) -> Base:
        """The base stored in an entity's metadata (older entities: the last sent value)."""
        metadata = metadata or {}
        stored = metadata.get(STATE_KEY)
        if isinstance(stored, dict) and stored.get("agreed"):
            pending = stored.get("pending")
            return cls(
                value=normal(stored.get("value")),
                status=_int(stored.get("status")),
                magento_at=stored.get("magento_at") or None,
                agreed=True,
                pending=Pending(normal(pending.get("value")), pending.get("magento_at") or None)
                if isinstance(pending, dict)
                else None,
            )
        sent = metadata.get("sent") or {}
        if "31" in sent:  # synced before the base was kept: what we sent is what was agreed
            return cls(value=normal(sent["31"]), agreed=True)
        return cls()

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "agreed": self.agreed,
            "value": self.value,
            "status": self.status,
            "magento_at": self.magento_at,
        }
        if self.pending is not None:
            out["pending"] = {"value": self.pending.value, "magento_at": self.pending.magento_at}
        return out


@dataclass(frozen=True)
class Magento:
    """The Magento side now: the subscriber status (None: unknown) and its change time."""

    status: int | None
    changed_at: str | None = None


@dataclass(frozen=True)
class Decision:
    """What to do so both systems agree; ``base`` is the agreement once it is done."""

    send: int | str | None  # the Opt-In value to send to Emarsys (None: do not send it)
    write_status: int | None  # the status to write to Magento (None: do not write)
    base: Base
    note: str = ""
    conflict: bool = False


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def magento_changed(base: Base, magento: Magento, optin_map: Mapping[str, Any]) -> bool:
    """True when Magento's consent changed since the base (a status with no opinion never
    counts). A change time moving on counts too: a person who unsubscribed and subscribed
    again between two syncs made a newer subscription."""
    wanted = mapped(magento.status, optin_map)
    if wanted is None:
        return False
    if not base.agreed:
        return True
    if base.status is None:  # agreed before statuses were kept: compare the values
        return wanted != base.value
    if magento.status != base.status:
        return True
    return bool(base.magento_at and magento.changed_at and magento.changed_at != base.magento_at)


def wants_to_send(base: Base, magento: Magento, optin_map: Mapping[str, Any]) -> bool:
    """Whether this side would send an Opt-In value (then Emarsys' value is read first)."""
    wanted = mapped(magento.status, optin_map)
    if wanted is None:
        return False
    if magento_changed(base, magento, optin_map):
        return True
    return wanted != base.value and _RANK[normal(wanted)] < _RANK[base.value]


ABSENT = object()  # Emarsys has no such contact (yet): its side has no opinion


def resolve(base: Base, magento: Magento, remote: Any, optin_map: Mapping[str, Any]) -> Decision:
    """Decide one contact. ``remote`` is Emarsys' current Opt-In value, or :data:`ABSENT`
    when there is no Emarsys contact (a create)."""
    wanted = mapped(magento.status, optin_map)
    m_changed = magento_changed(base, magento, optin_map)
    present = remote is not ABSENT
    now_remote = normal(remote) if present else NO_DECISION
    # An empty Opt-In in Emarsys is nobody's decision (an import, a double opt-in still
    # waiting): it never counts as a change made there.
    e_changed = (
        present and now_remote != NO_DECISION and (not base.agreed or now_remote != base.value)
    )

    def agreed(value: Any, status: int | None, changed_at: str | None) -> Base:
        return Base(value=normal(value), status=status, magento_at=changed_at, agreed=True)

    here = agreed(base.value, magento.status, magento.changed_at)
    if not m_changed and not e_changed:
        if wanted is not None and wanted != base.value and base.agreed:
            if _RANK[normal(wanted)] < _RANK[base.value]:
                return Decision(
                    send=None if present and now_remote == wanted else wanted,
                    write_status=None,
                    base=agreed(wanted, magento.status, magento.changed_at),
                    note="The opt-in map changed: the lower consent is sent.",
                )
            return Decision(
                send=None,
                write_status=None,
                base=here,
                note="The opt-in map changed, but an opt-in is only ever made by the person: "
                f"Emarsys keeps '{word(base.value)}'.",
            )
        return Decision(send=None, write_status=None, base=here)
    if m_changed and not e_changed:
        assert wanted is not None
        send = None if present and now_remote == wanted else wanted
        return Decision(
            send=send, write_status=None, base=agreed(wanted, magento.status, magento.changed_at)
        )
    if e_changed and not m_changed:
        status = status_for(now_remote)
        return _to_magento(now_remote, status, magento, "")
    # Both changed since the last sync.
    assert wanted is not None
    if normal(wanted) == now_remote:
        return Decision(
            send=None, write_status=None, base=agreed(wanted, magento.status, magento.changed_at)
        )
    pending = base.pending
    magento_later = bool(
        pending is not None
        and pending.value == now_remote
        and pending.magento_at
        and magento.changed_at
        and magento.changed_at > pending.magento_at
    )
    if magento_later:
        return Decision(
            send=wanted,
            write_status=None,
            base=agreed(wanted, magento.status, magento.changed_at),
            note=f"Both changed; Magento's change ('{word(wanted)}') is the later one.",
            conflict=True,
        )
    winner = safer(wanted, now_remote)
    note = (
        f"Both changed since the last sync (Magento: '{word(wanted)}', Emarsys: "
        f"'{word(now_remote)}') and their order cannot be known: the opt-out wins "
        f"('{word(winner)}')."
    )
    if winner == now_remote:
        return replace(
            _to_magento(now_remote, status_for(now_remote), magento, note), conflict=True
        )
    return Decision(
        send=wanted,
        write_status=None,
        base=agreed(wanted, magento.status, magento.changed_at),
        note=note,
        conflict=True,
    )


def _to_magento(value: Any, status: int | None, magento: Magento, note: str) -> Decision:
    """Emarsys' value wins: write it to Magento (when it says something Magento can hold).

    Writing moves Magento's change time to a moment we do not know: the base keeps no time
    (a status change is then the only Magento change seen), and the next decision on this
    contact adopts the time Magento reports."""
    if status is None or status == magento.status:
        base = Base(
            value=normal(value), status=magento.status, magento_at=magento.changed_at, agreed=True
        )
        return Decision(send=None, write_status=None, base=base, note=note)
    base = Base(value=normal(value), status=status, magento_at=None, agreed=True)
    return Decision(send=None, write_status=status, base=base, note=note)


def seen(base: Base, remote: Any, magento: Magento) -> Base:
    """Remember an Emarsys change that could not be applied now, with Magento's change time
    at this moment, so a later Magento change can be proven to be newer."""
    return replace(base, pending=Pending(normal(remote), magento.changed_at))


def adopt(base: Base, magento: Magento) -> Base:
    """Nothing to send: the base takes Magento's current status and change time (its value
    and any pending Emarsys change stay)."""
    if not base.agreed:
        return base
    return replace(base, status=magento.status, magento_at=magento.changed_at)
