"""The local mirror of Magento people and the per-profile contact entity table."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from profiles.models import Client, QueueEntity


class MirrorRecord(models.Model):
    """Common columns of a mirrored Magento record."""

    # No index of its own: every subclass's unique key starts with the store (a second
    # index on the store alone only tempts SQLite's planner into scanning the store).
    store = models.ForeignKey(
        Client,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
        help_text="The Magento client.",
    )
    # Text, not varchar: odd source data (a 300-character company) must never stop a sync.
    email = models.TextField(blank=True, help_text="As Magento has it.")
    email_normalized = models.CharField(
        max_length=255, blank=True, db_index=True, help_text="Lower-cased, trimmed."
    )
    firstname = models.TextField(blank=True)
    lastname = models.TextField(blank=True)
    website_id = models.IntegerField(null=True, blank=True)
    magento_store_id = models.IntegerField(
        null=True, blank=True, help_text="Magento store view id."
    )
    raw = models.JSONField(default=dict, help_text="The source JSON as Magento returned it.")
    source_hash = models.CharField(max_length=64, help_text="Hash of the normalised source.")
    magento_updated_at = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField(auto_now=True, help_text="When the mirror last changed.")

    class Meta:
        abstract = True


class Customer(MirrorRecord):
    """A registered Magento customer."""

    magento_id = models.BigIntegerField(help_text="Magento customer entity_id.")
    group_id = models.IntegerField(null=True, blank=True)
    company = models.TextField(blank=True)
    taxvat = models.TextField(blank=True)
    is_subscribed = models.BooleanField(null=True, blank=True)
    magento_created_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "magento_id"], name="uniq_customer_per_store")
        ]
        indexes = [models.Index(fields=["store", "email_normalized", "website_id"])]

    def __str__(self) -> str:
        return f"Customer {self.magento_id} <{self.email}>"


class SubscriberStatus(models.IntegerChoices):
    SUBSCRIBED = 1, "Subscribed"
    NOT_ACTIVE = 2, "Not activated"
    UNSUBSCRIBED = 3, "Unsubscribed"
    UNCONFIRMED = 4, "Unconfirmed"


class Subscriber(MirrorRecord):
    """A Magento newsletter subscriber (guest or registered)."""

    subscriber_id = models.BigIntegerField(help_text="Magento newsletter_subscriber id.")
    customer_magento_id = models.BigIntegerField(
        null=True, blank=True, help_text="Set when the subscriber is a registered customer."
    )
    subscriber_status = models.PositiveSmallIntegerField(choices=SubscriberStatus.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["store", "subscriber_id"], name="uniq_subscriber_per_store"
            )
        ]

    def __str__(self) -> str:
        return f"Subscriber {self.subscriber_id} <{self.email}>"


class GuestBuyer(MirrorRecord):
    """A person who ordered without an account: one row per lower-cased e-mail and website."""

    last_order_id = models.BigIntegerField(null=True, blank=True)
    last_order_increment_id = models.CharField(max_length=32, blank=True)
    order_count = models.PositiveIntegerField(default=1)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["store", "email_normalized", "website_id"], name="uniq_guest_per_website"
            )
        ]

    def __str__(self) -> str:
        return f"Guest <{self.email}>"


class ContactEntity(QueueEntity):
    """The seed's ``freeagent_contact_entity``, generalised per profile.

    One row per (profile, person). ``person_key`` identifies the person independently of
    e-mail changes where the profile type allows it (``customer:<id>``, ``subscriber:<id>``,
    ``guest:<email>``).
    """

    entity_id = models.BigAutoField(primary_key=True, help_text="Primary key")
    person_key = models.CharField(max_length=255)
    customer_id = models.BigIntegerField(
        null=True, blank=True, db_index=True, help_text="Magento customer ID"
    )
    subscriber_id = models.BigIntegerField(
        null=True, blank=True, help_text="Magento subscriber ID (Emarsys profiles)"
    )
    email = models.TextField(blank=True, help_text="Contact email address")
    email_key = models.CharField(
        max_length=255,
        blank=True,
        default="",
        help_text="The e-mail as matched: lower-cased, without whitespace (shared e-mails).",
    )

    class Meta:
        verbose_name = "contact entity"
        verbose_name_plural = "contact entities"
        constraints = [
            models.UniqueConstraint(
                fields=["profile", "person_key"], name="uniq_contact_per_profile_person"
            )
        ]
        indexes = [
            # The claim query: pending, due, in id order.
            models.Index(
                fields=["profile", "queue_status", "next_attempt_at", "entity_id"],
                name="contact_claim_idx",
            ),
            # Reclaiming stale claims.
            models.Index(
                fields=["queue_status", "claimed_at"],
                name="contact_stale_idx",
                condition=Q(queue_status="processing"),
            ),
            models.Index(fields=["profile", "status"], name="contact_status_idx"),
            models.Index(fields=["profile", "email"], name="contact_email_idx"),
            models.Index(fields=["profile", "email_key"], name="contact_email_key_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.person_key} <{self.email}>"


class DeliveryAttempt(models.Model):
    """One attempt to deliver a contact to the remote system (the explain page lists them)."""

    entity = models.ForeignKey(  # indexed by attempt_entity_idx (entity, created_at)
        ContactEntity, on_delete=models.CASCADE, related_name="attempts_log", db_index=False
    )
    run = models.ForeignKey(
        "profiles.Run", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    action = models.CharField(max_length=20, help_text="create, update, lookup …")
    outcome = models.CharField(max_length=20, help_text="The pipeline outcome of this attempt.")
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    message = models.TextField(blank=True)
    request = models.JSONField(null=True, blank=True, help_text="What was sent (no secrets).")
    response = models.JSONField(null=True, blank=True, help_text="What came back.")

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["entity", "-created_at"], name="attempt_entity_idx")]

    def __str__(self) -> str:
        return f"{self.action} {self.outcome} ({self.http_status or '-'})"


class RemoteContact(models.Model):
    """The local cache of a FreeAgent account's contacts (filled by "collect").

    Resolution matches people against it by normalised e-mail before ever creating a
    contact, so it is refreshed incrementally (``updated_since``) at the start of every
    export — a merchant who never ran ``collect`` is still protected from duplicates.
    """

    # Indexed by the (client, …) keys below; an index on the client alone would let SQLite
    # scan every cached contact of the client for an e-mail look-up.
    client = models.ForeignKey(
        Client, on_delete=models.CASCADE, related_name="remote_contacts", db_index=False
    )
    url = models.CharField(max_length=255, help_text="FreeAgent's identity of the contact.")
    email_key = models.CharField(
        max_length=255, blank=True, help_text="Lower-cased e-mail without whitespace."
    )
    status = models.CharField(max_length=20, blank=True, help_text="Active or Hidden.")
    data = models.JSONField(default=dict, help_text="The contact as FreeAgent returned it.")
    remote_updated_at = models.DateTimeField(null=True, blank=True)
    collected_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["client", "url"], name="uniq_remote_contact_url")
        ]
        indexes = [
            models.Index(fields=["client", "email_key"], name="remote_contact_email_idx"),
            models.Index(fields=["client", "remote_updated_at"], name="remote_contact_updated_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.url} <{self.email_key}>"


class ErasureAudit(models.Model):
    """One line per person forgotten (GDPR erasure): when, by whom, what was done — and no
    personal data (the e-mail only as a keyed hash, to tell a repeated request). Kept
    beyond the history retention."""

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    email_hash = models.CharField(max_length=64, unique=True)
    actor = models.CharField(max_length=200, help_text="Who asked (admin user or CLI).")
    summary = models.JSONField(default=dict, help_text="What was erased, by count.")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Erasure {self.email_hash[:12]}… on {self.created_at:%Y-%m-%d}"


class DeletionOutcome(models.TextChoices):
    PENDING = "pending", "Waiting for the next deletion pass"
    WAITING = "waiting", "Waiting for approval"
    DELETED = "deleted", "Deleted remotely"
    HIDDEN = "hidden", "Hidden remotely"
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed and cleared remotely"
    GONE = "gone", "Already gone remotely"
    REJECTED = "rejected", "Rejected: the remote contact is kept"
    FAILED = "failed", "Failed (tried again at the next pass)"


class DeletionRequest(models.Model):
    """Deletions held by the approval brake: a pass that would delete or hide more than
    the profile's threshold sends none of them until a person approves or rejects."""

    class Status(models.TextChoices):
        WAITING = "waiting", "Waiting for approval"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    profile = models.ForeignKey(
        "profiles.Profile", on_delete=models.CASCADE, related_name="deletion_requests"
    )
    created_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.WAITING)
    policy = models.CharField(max_length=20)
    threshold = models.PositiveIntegerField(help_text="The most a pass may send unapproved.")
    linked = models.PositiveIntegerField(help_text="The profile's linked contacts then.")
    decided_by = models.CharField(max_length=200, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return f"Deletions of {self.profile} held {self.created_at:%Y-%m-%d %H:%M}"


class DeletionRecord(models.Model):
    """One contact a deletion policy acts on, from the moment the deletion is noticed to
    what the remote answered. Kept beyond the history retention (``forget`` blanks the
    person's e-mail here and keeps the line)."""

    profile = models.ForeignKey(
        "profiles.Profile", on_delete=models.CASCADE, related_name="deletion_records"
    )
    request = models.ForeignKey(
        DeletionRequest,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="records",
    )
    # The contact's id, not a foreign key: the record outlives the contact (forget, a
    # profile started over), and a key would make deleting a profile's 100,000 contacts
    # one statement naming every one of them (too many for SQLite).
    entity_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    person_key = models.CharField(max_length=255)
    email = models.TextField(blank=True)
    remote_id = models.CharField(max_length=255)
    action = models.CharField(max_length=20, help_text="The policy's action: delete, hide, …")
    outcome = models.CharField(
        max_length=20, choices=DeletionOutcome.choices, default=DeletionOutcome.PENDING
    )
    noticed_at = models.DateTimeField(default=timezone.now)
    done_at = models.DateTimeField(null=True, blank=True)
    actor = models.CharField(max_length=200, blank=True, help_text="Who let it through.")
    remote_status = models.PositiveIntegerField(null=True, blank=True)
    remote_answer = models.TextField(blank=True)

    class Meta:
        ordering = ["-noticed_at", "-pk"]
        indexes = [models.Index(fields=["profile", "outcome"], name="deletion_outcome_idx")]

    def __str__(self) -> str:
        return f"{self.action} {self.remote_id} ({self.outcome})"
