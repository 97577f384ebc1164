"""Profile types: what each kind of sync job collects and which stages it runs."""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from django.conf import settings

from profiles.pipeline import BatchContext, Stage, sorted_stages

if TYPE_CHECKING:
    from django.db.models import QuerySet

    from profiles.models import Profile, QueueEntity, Run


@dataclass(frozen=True)
class ExtraSchedule:
    """A beat entry beyond the profile's main schedule (e.g. Emarsys' daily background run)."""

    key: str
    cron: str
    task: str
    kwargs: dict[str, Any]


class ProfileType(ABC):
    """The contract of a profile type. Subclass, set the class attributes, and
    :func:`register` an instance."""

    type_id: ClassVar[str]
    label: ClassVar[str]
    source_client_type: ClassVar[str | None] = "magento"
    target_client_type: ClassVar[str | None] = None
    stages: ClassVar[list[type[Stage]]] = []
    # Common profile settings whose default differs for this type (applied to new profiles).
    field_defaults: ClassVar[dict[str, Any]] = {}
    # Common profile settings that have no effect for this type: never shown, never loaded.
    unused_fields: ClassVar[frozenset[str]] = frozenset()

    @property
    @abstractmethod
    def entity_model(self) -> type[QueueEntity]:
        """The concrete queue model whose rows this type processes."""

    def entities(self, profile: Profile) -> QuerySet[Any]:
        return self.entity_model._default_manager.filter(profile=profile)

    def ordered_stages(self) -> list[Stage]:
        return [stage() for stage in sorted_stages(self.stages)]

    @abstractmethod
    def collect(self, *, profile: Profile, run: Run | None) -> int:
        """Read the source incrementally and mark changed people pending.

        Runs before any batch, outside a transaction (it does network I/O). Returns the
        number of entities collected (marked pending) by this call.
        """

    def prepare_batch(self, ctx: BatchContext) -> None:
        """Build what every stage of a batch shares (API clients …) into ``ctx.shared``."""

    def finish_run(self, *, profile: Profile, run: Run) -> None:
        """Called once when a run closes (e.g. store cursors)."""

    def forget_remote(self, *, profile: Profile) -> None:
        """Forget what this type keeps about the remote account beyond the entities' links
        (caches, what was sent) — the profile starts over in another account."""

    def explain(self, *, profile: Profile, entity: Any) -> dict[str, Any]:
        """What the explain page shows for one entity. Keys (all optional): ``source``
        (the Magento data), ``payload`` (what we would send now), ``errors`` (mapping
        errors), ``last_sent``, ``remote`` (the remote record as we know it), ``changes``
        (field, remote value, new value), ``notes``. No network I/O."""
        return {"source": entity.metadata, "notes": []}

    def main_schedule_cron(self, profile: Profile) -> str:
        """The cron of the profile's main beat entry (default: its Schedule setting)."""
        return profile.cron_expression

    def schedule_summary(self, profile: Profile) -> list[tuple[str, str]]:
        """What runs when, as (label, when) pairs for people (admin, dashboard, CLI)."""
        return [("Export", schedule_words(profile.cron_expression))]

    def settings_change_preview(
        self, *, profile: Profile, settings: dict[str, Any]
    ) -> tuple[int, list[str]]:
        """How many existing contacts saving ``settings`` would re-evaluate, and which
        settings changed (``(0, [])``: none that shapes what is sent)."""
        return 0, []

    def field_help(self) -> dict[str, str]:
        """Help texts of the common profile fields that read differently for this type."""
        return {}

    def customers_deleted(self, profile: Profile, magento_ids: list[int]) -> int:
        """Magento deleted these customers (the daily pass noticed): what becomes of the
        profile's contacts for them; returns how many were marked or queued."""
        return 0

    # The deletion policies this type can propagate besides ``ignore`` (value → label;
    # see ``contacts.services.propagate``). Empty: deletions are only marked.
    deletion_policies: ClassVar[dict[str, str]] = {}

    def deletion_apply(self, profile: Profile, policy: str, records: list[Any]) -> None:
        """Carry out ``policy`` for these ``DeletionRecord``s remotely: set each one's
        ``outcome``, ``remote_status`` and ``remote_answer`` (network I/O; no database
        writes — the caller records the outcomes)."""
        raise NotImplementedError(f"{self.type_id} propagates no deletions")

    def dry_run_notes(self, profile: Profile) -> list[str]:
        """Lines a dry run adds about what else the next real run would do (deletions)."""
        return []

    def dry_run_scope(self, profile: Profile) -> AbstractContextManager[Any]:
        """Around a profile's dry run (collection and processing): what it writes to the
        queue is taken back when it ends (see ``contacts.services.dry_journal``)."""
        return nullcontext()

    def webhook(self, profile: Profile, base_url: str) -> dict[str, Any] | None:
        """The endpoint this profile receives notifications at, for its admin page:
        ``{"url", "secret_set", "needed", "warning"}``; None when it has none."""
        return None

    def extra_schedules(self, profile: Profile) -> list[ExtraSchedule]:
        """Beat entries this type needs besides the main schedule."""
        return []

    def default_settings(self) -> dict[str, Any]:
        return {}

    def validate_settings(self, profile: Profile) -> dict[str, list[str]]:
        """Field-keyed validation errors of the type-specific settings."""
        return {}

    # Config as code (load_config / dump_config): the YAML keys beyond the common ones.
    config_keys: ClassVar[tuple[str, ...]] = ()

    def settings_from_config(self, values: dict[str, Any]) -> dict[str, Any]:
        """Type-specific YAML keys (only those in ``config_keys``) → ``Profile.settings``."""
        return {**self.default_settings(), **values}

    def settings_to_config(self, settings: dict[str, Any]) -> dict[str, Any]:
        """``Profile.settings`` → the YAML keys ``dump_config`` writes."""
        return {k: settings[k] for k in self.config_keys if k in settings}


def schedule_words(cron: str) -> str:
    """A cron expression in words where it is a common one ("every 15 minutes")."""
    parts = cron.split()
    if len(parts) == 5 and parts[1:] == ["*", "*", "*", "*"]:
        minute = parts[0]
        if minute.startswith("*/") and minute[2:].isdigit():
            return f"every {int(minute[2:])} minutes"
        if minute == "*":
            return "every minute"
        if minute.isdigit():
            return "every hour" if minute == "0" else f"every hour at :{int(minute):02d}"
    daily = len(parts) == 5 and parts[2:] == ["*", "*", "*"]
    if daily and parts[0].isdigit() and parts[1].isdigit():
        return f"daily at {int(parts[1]):02d}:{int(parts[0]):02d}"
    return f"cron {cron}"


_REGISTRY: dict[str, ProfileType] = {}


def register(profile_type: ProfileType) -> ProfileType:
    """Register a profile type instance under its ``type_id`` (idempotent)."""
    _REGISTRY[profile_type.type_id] = profile_type
    return profile_type


def get(type_id: str) -> ProfileType:
    try:
        return _REGISTRY[type_id]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise UnknownProfileType(f"Unknown profile type {type_id!r} (known: {known})") from None


def all_types() -> list[ProfileType]:
    return sorted(_REGISTRY.values(), key=lambda t: t.type_id)


def choices() -> list[tuple[str, str]]:
    return [(t.type_id, t.label) for t in all_types()]


class UnknownProfileType(LookupError):
    pass


def load_profile_type_modules() -> None:
    """Import extra modules that register profile types (the PROFILE_TYPE_MODULES setting).

    Apps register their own types from ``AppConfig.ready`` (see ``contacts.apps``).
    """
    for module in getattr(settings, "PROFILE_TYPE_MODULES", []):
        importlib.import_module(module)
