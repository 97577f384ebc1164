"""Contact lists of the Emarsys simulator (create, add, list) as a SimApp mixin."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from connectors.simulators.emarsys.contact_routes import errors_json, fail, ok
from connectors.simulators.emarsys.contacts import ContactStore, SimContact, key_text
from connectors.simulators.kit import Request, Response

MAX_EXTERNAL_IDS = 10_000
_VIENNA = ZoneInfo("Europe/Vienna")


@dataclass
class SimList:
    """One contact list; members are internal contact ids in insertion order."""

    id: int
    name: str
    description: str
    created: float
    members: dict[int, None] = field(default_factory=dict)


class ListsMixin:
    """Contact-list routes; needs ``self.store`` and ``self.lock`` from the simulator."""

    if TYPE_CHECKING:
        store: ContactStore
        lock: threading.RLock
        clock: Callable[[], float]

    def _init_lists(self) -> None:
        self.lists: dict[int, SimList] = {}
        self.next_list_id = 700_001

    def list_routes(self) -> list[tuple[str, str, Callable[[Request], Response]]]:
        """(method, path pattern under /api/v2, handler) for the list endpoints."""
        return [
            ("GET", r"/contactlist/?", self._lists),
            ("POST", r"/contactlist/?", self._list_create),
            ("POST", r"/contactlist/(?P<lid>\d+)/add/?", self._list_add),
        ]

    def lists_state(self) -> dict[str, Any]:
        """List name → id and member contact ids (for ``/_sim/state``)."""
        return {
            cl.name: {"id": str(cl.id), "contact_ids": [str(c) for c in cl.members]}
            for cl in self.lists.values()
        }

    def memberships(self) -> dict[int, list[str]]:
        """Contact id → ids of the lists it belongs to."""
        out: dict[int, list[str]] = {}
        for cl in self.lists.values():
            for cid in cl.members:
                out.setdefault(cid, []).append(str(cl.id))
        return out

    def add_members(self, list_id: Any, contacts: list[SimContact]) -> int:
        """Add contacts to a list; return how many were not members yet."""
        target = self.lists.get(int(key_text(list_id) or 0))
        if target is None:
            return 0
        before = len(target.members)
        for contact in contacts:
            target.members.setdefault(contact.id, None)
        return len(target.members) - before

    def _resolve(
        self, key: str, external_ids: list[Any]
    ) -> tuple[list[SimContact], dict[str, dict[str, str]]]:
        found: list[SimContact] = []
        errors: dict[str, dict[str, str]] = {}
        for raw in external_ids:
            value = key_text(raw)
            matches = self.store.find(key, value)
            if matches:
                found.extend(matches)
            else:
                errors[value] = {"2008": f"No contact found with the external id: {key} - {value}"}
        return found, errors

    def _lists(self, request: Request) -> Response:
        return ok(
            [
                {
                    "id": str(cl.id),
                    "name": cl.name,
                    "created": datetime.fromtimestamp(cl.created, tz=_VIENNA).strftime(
                        "%Y-%m-%d %H:%M:%S"
                    ),
                }
                for cl in self.lists.values()
            ]
        )

    def _list_create(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict) or not str(body.get("name") or "").strip():
            return fail(400, 3004, "List name is not set.")
        name = str(body["name"]).strip()
        if any(cl.name == name for cl in self.lists.values()):
            return fail(400, 3005, "Contact list with the requested name already exists.")
        external = body.get("external_ids", [])
        if not isinstance(external, list):
            return fail(400, 3003, "Invalid datatype for the list of external ids. Array expected.")
        if len(external) > MAX_EXTERNAL_IDS:
            return fail(400, 3002, "The list of external ids exceeds the maximum size.")
        key = key_text(body.get("key_id", "3")) or "3"
        if not self.store.valid_key(key):
            return fail(400, 2004, f"Invalid key field id: {key}")
        found, errors = self._resolve(key, external)
        created = SimList(self.next_list_id, name, str(body.get("description") or ""), self.clock())
        self.lists[created.id] = created
        self.next_list_id += 1
        self.add_members(created.id, found)
        return ok({"id": created.id, "errors": errors_json(errors)})

    def _list_add(self, request: Request) -> Response:
        target = self.lists.get(int(request.params["lid"]))
        if target is None:
            return fail(404, 3006, "No contact list found with the specified ID.")
        body = request.json()
        external = body.get("external_ids") if isinstance(body, dict) else None
        if not isinstance(external, list):
            return fail(400, 3003, "Invalid datatype for the list of external IDs. Array expected.")
        if len(external) > MAX_EXTERNAL_IDS:
            return fail(400, 3002, "The list of external IDs exceeds the maximum size.")
        key = key_text(body.get("key_id", "id")) or "id"
        if not self.store.valid_key(key):
            return fail(400, 2004, f"Invalid key field id: {key}")
        found, errors = self._resolve(key, external)
        inserted = self.add_members(target.id, found)
        return ok({"inserted_contacts": inserted, "errors": errors_json(errors)})


__all__ = ["ListsMixin", "SimList"]
