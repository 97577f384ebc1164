"""Clients (remote accounts), profiles (sync jobs), runs and the queue-entity base."""

from __future__ import annotations

from typing import Any

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from profiles.fields import EncryptedJSONField


class ClientType(models.TextChoices):
    MAGENTO = "magento", "Magento 2"
    FREEAGENT = "freeagent", "FreeAgent"
    EMARSYS = "emarsys", "Emarsys"


class Environment(models.TextChoices):
    PRODUCTION = "production", "Production"
    SANDBOX = "sandbox", "Sandbox"
    CUSTOM = "custom", "Custom base URL"


class Client(models.Model):
    """One remote account: a Magento store, a FreeAgent company or an Emarsys account."""

    name = models.CharField(
        max_length=100, unique=True, help_text="A name you recognise, e.g. 'Main store'."
    )
    type = models.CharField(
        max_length=20, choices=ClientType.choices, help_text="Which system this account is in."
    )
    environment = models.CharField(
        max_length=20,
        choices=Environment.choices,
        default=Environment.PRODUCTION,
        help_text="FreeAgent: production or sandbox. Any type: 'custom' uses the base URL below.",
    )
    base_url = models.URLField(
        blank=True,
        help_text="API base URL. Required for Magento and Emarsys and for custom environments.",
    )
    store_code = models.CharField(
        max_length=64, blank=True, default="default", help_text="Magento store view code."
    )
    credentials = EncryptedJSONField(
        blank=True,
        default=dict,
        help_text="Secrets (keys, client secrets). Encrypted at rest; never shown again.",
    )
    token_state = EncryptedJSONField(
        blank=True,
        default=dict,
        help_text="OAuth tokens obtained by 'Connect'. Encrypted at rest.",
    )
    settings = models.JSONField(
        blank=True,
        default=dict,
        help_text="Type-specific options (Magento: subscriber source; rate-limit overrides).",
    )
    configuration_data = models.JSONField(
        blank=True,
        default=dict,
        help_text="Cached by 'Collect Configuration Data'; fills the profile dropdowns.",
    )
    collected_at = models.DateTimeField(
        null=True, blank=True, help_text="When the configuration data was collected."
    )
    refused_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="When the remote system last refused the credentials; the profiles using "
        "this client are paused until a reconnect or a successful test.",
    )
    refused_reason = models.TextField(blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "client"

    def __str__(self) -> str:
        return f"{self.name} ({self.get_type_display()})"

    def masked_credentials(self) -> dict[str, str]:
        """Credential names with masked values, safe to show."""
        return {key: _mask(value) for key, value in (self.credentials or {}).items()}


def _mask(value: Any) -> str:
    text = str(value or "")
    if not text:
        return ""
    return "•" * 8 + (text[-2:] if len(text) > 8 else "")


class SchedulePreset(models.TextChoices):
    EVERY_15 = "every_15", "Every 15 minutes (recommended)"
    EVERY_30 = "every_30", "Every 30 minutes"
    EVERY_60 = "every_60", "Every 60 minutes"
    CUSTOM = "custom", "Custom cron expression"


PRESET_CRON = {
    SchedulePreset.EVERY_15: "*/15 * * * *",
    SchedulePreset.EVERY_30: "*/30 * * * *",
    SchedulePreset.EVERY_60: "0 * * * *",
}


class ApiBehaviour(models.TextChoices):
    CREATE = "create", "Create New — only create contacts that don't exist yet"
    UPDATE = "update", "Update Existing — only update contacts that already exist"
    CREATE_AND_UPDATE = "create_and_update", "Create and Update (recommended)"


class Profile(models.Model):
    """One sync job: what to read, where to send it, when, and how."""

    name = models.CharField(max_length=100, unique=True)
    type = models.CharField(max_length=64, help_text="Profile type, e.g. freeagent_contact_export.")
    source_client = models.ForeignKey(
        Client,
        on_delete=models.PROTECT,
        related_name="source_profiles",
        null=True,
        blank=True,
        limit_choices_to={"type": ClientType.MAGENTO},
        help_text="The Magento store to read customers from.",
    )
    client = models.ForeignKey(
        Client,
        on_delete=models.PROTECT,
        related_name="target_profiles",
        null=True,
        blank=True,
        help_text="Select the client configuration to use for this profile. The client "
        "contains the OAuth credentials and connection settings.",
    )
    status = models.BooleanField(
        "Enable schedule",
        default=True,
        help_text="Enable automatic processing via the scheduler. Disable for manual review "
        "before export, or while testing.",
    )
    schedule_preset = models.CharField(
        "Schedule",
        max_length=20,
        choices=SchedulePreset.choices,
        default=SchedulePreset.EVERY_15,
        help_text="When this profile runs automatically.",
    )
    schedule_cron = models.CharField(
        "Custom cron expression",
        max_length=100,
        blank=True,
        help_text="Five fields: minute hour day-of-month month day-of-week, e.g. '5 */2 * * *'. "
        "Used when Schedule is 'Custom'.",
    )
    schedule = models.OneToOneField(
        "django_celery_beat.PeriodicTask",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="profile",
        help_text="The beat entry kept in step with the settings above.",
    )
    process_batch_size = models.PositiveIntegerField(
        default=100,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
        help_text="Number of contacts processed in each batch (1–1000). Small stores: 100–200; "
        "large stores (> 10,000 customers): 50–100.",
    )
    enable_retry_on_failure = models.BooleanField(
        "Enable automatic retry on failure",
        default=False,
        help_text="Retry failed contacts on the following scheduled runs. After the maximum "
        "attempts a contact is marked permanently failed and needs manual action.",
    )
    retry_max_attempts = models.PositiveIntegerField(
        "Maximum retry attempts",
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(50)],
        help_text="Attempts before a contact is marked permanently failed.",
    )
    api_behaviour = models.CharField(
        "API behaviour",
        max_length=20,
        choices=ApiBehaviour.choices,
        default=ApiBehaviour.CREATE_AND_UPDATE,
        help_text="Controls how contacts are created and updated in the target system.",
    )
    settings = EncryptedJSONField(
        blank=True,
        default=dict,
        help_text="Type-specific settings (e.g. Emarsys field mapping). Encrypted at rest: "
        "they can hold secrets such as the webhook secret.",
    )
    state = models.JSONField(
        blank=True,
        default=dict,
        editable=False,
        help_text="Incremental cursors kept between runs (e.g. last Magento updated_at).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        """``state`` belongs to the runs (cursors, applied settings), which write it with
        targeted updates: saving a profile's settings never writes back a copy of it that
        may be stale by then."""
        if not self._state.adding and self.pk and kwargs.get("update_fields") is None:
            kwargs["update_fields"] = [
                f.name
                for f in self._meta.concrete_fields
                if not f.primary_key and f.name != "state"
            ]
        super().save(*args, **kwargs)

    def clean(self) -> None:
        """Field-keyed validation of the schedule, the type and the clients."""
        from django.core.exceptions import ValidationError

        from profiles import registry
        from profiles.services.schedules import cron_validate

        errors: dict[str, list[str]] = {}
        if self.schedule_preset == SchedulePreset.CUSTOM:
            if not self.schedule_cron.strip():
                errors.setdefault("schedule_cron", []).append(
                    "Enter a cron expression, or pick one of the preset schedules."
                )
            else:
                try:
                    cron_validate(self.schedule_cron)
                except ValidationError as exc:
                    errors.setdefault("schedule_cron", []).extend(exc.messages)
        try:
            ptype = registry.get(self.type)
        except registry.UnknownProfileType as exc:
            errors.setdefault("type", []).append(str(exc))
        else:
            for field, wanted in (
                ("source_client", ptype.source_client_type),
                ("client", ptype.target_client_type),
            ):
                chosen = getattr(self, field)
                if wanted and chosen is None:
                    errors.setdefault(field, []).append(
                        f"Required: the {ClientType(wanted).label} client this profile "
                        + ("reads from." if field == "source_client" else "writes to.")
                    )
                elif wanted and chosen is not None and chosen.type != wanted:
                    errors.setdefault(field, []).append(
                        f"This profile type needs a {ClientType(wanted).label} client; "
                        f"'{chosen.name}' is {chosen.get_type_display()}."
                    )
            for field, messages in ptype.validate_settings(self).items():
                errors.setdefault(field, []).extend(messages)
        from profiles.services.alerts import rules_errors

        alert_problems = rules_errors((self.settings or {}).get("alerts"))
        if alert_problems:
            errors.setdefault("alerts", []).extend(alert_problems)
        from contacts.services import propagate

        try:
            deletion_problems = propagate.rules_errors(
                (self.settings or {}).get(propagate.SETTING), registry.get(self.type)
            )
        except registry.UnknownProfileType:
            deletion_problems = []
        if deletion_problems:
            errors.setdefault("deletions", []).extend(deletion_problems)
        if errors:
            raise ValidationError(errors)

    @property
    def cron_expression(self) -> str:
        if self.schedule_preset == SchedulePreset.CUSTOM:
            return self.schedule_cron.strip()
        return PRESET_CRON[SchedulePreset(self.schedule_preset)]


class RunTrigger(models.TextChoices):
    SCHEDULE = "schedule", "Schedule"
    BUTTON = "button", "Export now"
    CLI = "cli", "Command line"
    WEBHOOK = "webhook", "Webhook"
    APPROVAL = "approval", "Approval"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCESS = "success", "Success"
    PARTIAL = "partial", "Partial"
    FAILED = "failed", "Failed"


ACTIVE_RUN_STATUSES = (RunStatus.QUEUED, RunStatus.RUNNING)

# A run's counters as a dry run names them (it did none of it): the run page, the run list,
# the command line's table and a dry run's outcome chips say the same words.
DRY_COUNT_WORDS = {
    "collected": "collected",
    "created": "would create",
    "updated": "would update",
    "unchanged": "unchanged",
    "skipped": "would skip",
    "failed": "would fail",
    "retried": "would wait",
}


# A deletion pass's counters (contacts.services.propagate): what it had to do, what the
# remote carried out (deleted, hidden, unsubscribed or already gone) and what failed.
DELETION_COUNT_WORDS = {
    "collected": "to delete",
    "created": "created",
    "updated": "carried out",
    "unchanged": "unchanged",
    "skipped": "skipped",
    "failed": "failed",
    "retried": "wait",
}


class Run(models.Model):
    """One execution of a profile, with honest counts per outcome."""

    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="runs")
    trigger = models.CharField(max_length=20, choices=RunTrigger.choices)
    dry_run = models.BooleanField(default=False)
    status = models.CharField(
        max_length=20, choices=RunStatus.choices, default=RunStatus.QUEUED, db_index=True
    )
    scope = models.JSONField(
        blank=True, default=dict, help_text="Restrictions, e.g. {'entity_ids': [42]}."
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Last sign of life (collection or a batch)."
    )
    collection_finished_at = models.DateTimeField(
        null=True, blank=True, help_text="When collection ended and batches could start."
    )
    owner = models.CharField(
        max_length=200,
        blank=True,
        help_text="host:pid of the process running it in the foreground (the CLI); empty "
        "for runs on the workers.",
    )
    collected = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    retried = models.PositiveIntegerField(
        default=0, help_text="Contacts deferred to a later run after a transient failure."
    )
    live_done = models.PositiveIntegerField(
        default=0,
        help_text="Contacts finished by batches still under way (their outcomes are not "
        "written yet): the run page's progress moves by contact, not by batch.",
    )
    summary = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # The database itself refuses a second active run of the same profile.
            models.UniqueConstraint(
                fields=["profile"],
                condition=Q(status__in=["queued", "running"]),
                name="one_active_run_per_profile",
            ),
        ]

    def __str__(self) -> str:
        return f"Run {self.pk} of {self.profile} ({self.status})"

    @property
    def processed(self) -> int:
        return self.created + self.updated + self.unchanged + self.skipped + self.failed

    @property
    def status_label(self) -> str:
        """The status as a merchant reads it: what a partial run left behind, and whether
        a running one is still collecting."""
        if self.status == RunStatus.RUNNING and self.collection_finished_at is None:
            return "Collecting" if not self.scope.get("entity_ids") else "Running"
        if self.status == RunStatus.PARTIAL:
            held = int((self.scope or {}).get("held") or 0)
            if held:
                return f"Held ({held} wait for approval)"
            if self.failed:
                return f"Partial ({self.failed} failed)"
            waiting = int((self.scope or {}).get("waiting") or self.retried)
            return f"Partial ({waiting} wait for a later run)"
        return self.get_status_display()

    @property
    def job(self) -> str:
        """What kind of pass this is, for history and charts: ``export``, ``initial``
        (an initial export), or a job's own name (``optin_sync``, ``drift``)."""
        job = str((self.scope or {}).get("job") or "")
        if job:
            return job
        return "initial" if (self.scope or {}).get("initial") else "export"

    def count_word(self, key: str, word: str) -> str:
        """How this run names one of its counters (a real run's ``word`` by default)."""
        if self.dry_run:
            return DRY_COUNT_WORDS[key]
        if self.job == "deletions":
            return DELETION_COUNT_WORDS[key]
        return word

    @property
    def kind_label(self) -> str:
        titles = {
            "export": "Export",
            "initial": "Initial export",
            "optin_sync": "Opt-in sync (Emarsys → Magento)",
            "drift": "Drift check",
            "deletions": "Deletion pass",
        }
        label = titles.get(self.job, self.job.replace("_", " ").capitalize())
        ids = (self.scope or {}).get("entity_ids") or []
        if ids and self.job == "export":
            label = f"Export of {len(ids)} contact{'s' if len(ids) != 1 else ''}"
        return f"Dry run of {label[0].lower()}{label[1:]}" if self.dry_run else label

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class RunEvent(models.Model):
    """A log line of a run (the same lines go to the profile type's log file)."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="events")
    created_at = models.DateTimeField(default=timezone.now)
    level = models.CharField(max_length=10, default="info")
    message = models.TextField()
    entity_id = models.BigIntegerField(null=True, blank=True)
    data = models.JSONField(
        null=True, blank=True, help_text="Structured detail, e.g. a dry run's payload and diff."
    )

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"[{self.level}] {self.message[:80]}"


class QueueStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    PROCESSING = "processing", "Processing"
    COMPLETE = "complete", "Complete"
    RETRY = "retry", "Waiting for retry"
    FAILED = "failed", "Failed (needs attention)"


class SyncStatus(models.TextChoices):
    NEW = "new", "New"
    CREATED = "created", "Created"
    UPDATED = "updated", "Updated"
    UNCHANGED = "unchanged", "Unchanged"
    SKIPPED = "skipped", "Skipped"
    FAILED = "failed", "Failed"
    AMBIGUOUS = "ambiguous", "Ambiguous (duplicate remote e-mail)"
    SOURCE_DELETED = "source_deleted", "Deleted in Magento"


class QueueEntity(models.Model):
    """Base of every per-profile work item the pipeline claims and processes."""

    # No index on the profile alone: the subclass's (profile, …) keys cover it, and a
    # bare one lets SQLite's planner scan a profile's every entity for a narrower look-up.
    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="+", db_index=False)
    run = models.ForeignKey(Run, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    status = models.CharField(
        max_length=20, choices=SyncStatus.choices, default=SyncStatus.NEW, help_text="Sync status"
    )
    queue_status = models.CharField(
        max_length=20,
        choices=QueueStatus.choices,
        default=QueueStatus.PENDING,
        help_text="Queue processing status",
    )
    message = models.JSONField(blank=True, default=dict, help_text="Sync messages (JSON)")
    metadata = models.JSONField(blank=True, default=dict, help_text="Additional data (JSON)")
    collected_at = models.DateTimeField(
        null=True, blank=True, help_text="When data was collected from the remote system"
    )
    processed_at = models.DateTimeField(
        null=True, blank=True, help_text="When data was last processed"
    )
    remote_id = models.CharField(
        max_length=255, blank=True, help_text="FreeAgent contact URL / Emarsys internal id"
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_payload_hash = models.CharField(max_length=64, blank=True)
    claimed_by = models.CharField(max_length=200, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
