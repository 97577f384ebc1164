"""Initial export: adding written contacts to their named Emarsys contact lists."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from connectors.emarsys.envelope import reply_code_of
from connectors.errors import AuthError, ConnectorError, TransientError
from contacts.emarsys.calls import BY_ID, BatchCalls
from profiles.pipeline import Outcome, WorkItem

LIST_EXISTS = 3005  # "contact list name exists": another batch created it meanwhile


class ListAdds(BatchCalls):
    """Adds contacts to their contact lists (reused, or created once per run)."""

    def _lists(self, items: Sequence[WorkItem]) -> None:
        """Initial export: add contacts to their named contact lists (reused or created)."""
        ok = (Outcome.CREATED, Outcome.UPDATED, Outcome.UNCHANGED)
        wanted: dict[str, list[WorkItem]] = defaultdict(list)
        for item in items:
            remote = item.remote_id or item.entity.remote_id
            if item.outcome in ok and remote:
                for kind in (item.entity.metadata or {}).get("lists") or []:
                    wanted[kind].append(item)
        for kind, members in wanted.items():
            name = str(self.settings.get(f"{kind}_list") or "").strip()
            if not name:
                continue
            if self.ctx.dry_run:
                for item in members:
                    item.details.setdefault("lists", []).append(name)
                continue
            members = [i for i in members if i.outcome in ok]  # an earlier list may have failed
            if not members or not self._may_call([]):
                self._list_failed(members, name, self.broken)
                continue
            ids = [str(i.remote_id or i.entity.remote_id) for i in members]
            try:
                self._list_add(name, ids)
            except ConnectorError as exc:
                self.ctx.log(
                    f"Adding {len(members)} contact(s) to list '{name}' failed: {exc}",
                    level="error",
                )
                reason = self._refused(exc) if isinstance(exc, AuthError) else str(exc)
                self._list_failed(members, name, reason, exc)
                continue
            for item in members:
                item.context.setdefault("lists_done", []).append(kind)
                item.context.setdefault("listed", {})[kind] = name

    @staticmethod
    def _list_failed(
        members: list[WorkItem], name: str, reason: str, exc: ConnectorError | None = None
    ) -> None:
        """The contacts were written but not added to their list: they are not done. A
        transient error (or refused credentials) retries them; a permanent one fails them.
        Their pending lists stay in the metadata, so the next sync adds them."""
        permanent = exc is not None and not isinstance(exc, (TransientError, AuthError))
        for item in members:
            item.finish(
                Outcome.FAILED if permanent else Outcome.RETRY,
                f"{item.message} Adding it to the Emarsys contact list '{name}' failed: {reason}",
                list=name,
                **({"http_status": exc.status} if exc is not None else {}),
            )

    def _list_add(self, name: str, ids: list[str]) -> None:
        list_id = self._list_id(name)
        self._retrying(lambda: self.api.add_to_contact_list(list_id, ids, key_id=BY_ID))

    def _list_id(self, name: str) -> str:
        cache: dict[str, str] = self.ctx.shared.setdefault("list_ids", {})
        if name not in cache:
            found = self._retrying(lambda: self.api.find_contact_list(name))
            if found is None:
                try:
                    created = self._retrying(
                        lambda: self.api.create_contact_list(name, key_id=BY_ID)
                    )
                except ConnectorError as exc:
                    if reply_code_of(exc) != LIST_EXISTS:
                        raise
                    # another batch created it between our look and our create
                    found = self._retrying(lambda: self.api.find_contact_list(name))
                    if found is None:
                        raise
                    cache[name] = found.id
                else:
                    self.ctx.log(f"Created Emarsys contact list '{name}' ({created.list_id}).")
                    cache[name] = created.list_id
            else:
                cache[name] = found.id
        return cache[name]
