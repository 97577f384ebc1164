"""The local mirror of Magento people and the per-profile contact entity table."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from profiles.models import Client, QueueEntity


class MirrorRecord(models.Model):
    """Common columns of a mirrored Magento record."""

    store = models.ForeignKey(
        Client, on_delete=models.CASCADE, related_name="+", help_text="The Magento client."
    )
    email = models.CharField(max_length=255, blank=True, help_text="As Magento has it.")
    email_normalized = models.CharField(
        max_length=255, blank=True, db_index=True, help_text="Lower-cased, trimmed."
    )
    firstname = models.CharField(max_length=255, blank=True)
    lastname = models.CharField(max_length=255, blank=True)
    website_id = models.IntegerField(null=True, blank=True)
    store_id = models.IntegerField(null=True, blank=True)
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
    company = models.CharField(max_length=255, blank=True)
    taxvat = models.CharField(max_length=64, blank=True)
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
    email = models.CharField(max_length=255, blank=True, help_text="Contact email address")

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
        ]

    def __str__(self) -> str:
        return f"{self.person_key} <{self.email}>"
