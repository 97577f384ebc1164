"""The ``import --link`` / ``--secondary`` / ``--separate`` part of both CLI commands."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from typing import Any

from contacts.models import ContactEntity
from contacts.services.decisions import DecisionRefused, entity_decide
from profiles.cli import EXIT_FAILURES, parse_links, usage_error
from profiles.models import Profile


def decisions_apply(profile: Profile, options: dict[str, Any], write: Callable[[str], None]) -> int:
    """Apply the decisions named on the command line; the exit code."""
    wanted: list[tuple[int, str, str]] = [
        (pk, "link", remote) for pk, remote in parse_links(options.get("link") or [])
    ]
    wanted += [(pk, "secondary", "") for pk in options.get("secondary") or []]
    wanted += [(pk, "separate", "") for pk in options.get("separate") or []]
    who = f"{getpass.getuser()} (command line)"
    code = 0
    for pk, choice, remote in wanted:
        entity = ContactEntity.objects.filter(profile=profile, pk=pk).first()
        if entity is None:
            raise usage_error(f"Profile '{profile.name}' has no contact entity {pk}.")
        try:
            write(
                f"  {entity}: "
                + entity_decide(
                    profile=profile, entity=entity, choice=choice, remote_id=remote, by=who
                )
            )
        except DecisionRefused as exc:
            write(f"  {entity}: refused — {exc}")
            code = EXIT_FAILURES
    return code


def wants_decisions(options: dict[str, Any]) -> bool:
    return bool(options.get("link") or options.get("secondary") or options.get("separate"))
