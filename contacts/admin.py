"""Admin for the Magento mirror and the contact entity table."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from contacts.models import ContactEntity, Customer, GuestBuyer, Subscriber
from profiles.models import QueueStatus


class ReadOnlyAdmin(admin.ModelAdmin):
    """Mirrors are written by collection only."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Customer)
class CustomerAdmin(ReadOnlyAdmin):
    list_display = [
        "magento_id",
        "email",
        "firstname",
        "lastname",
        "company",
        "website_id",
        "magento_updated_at",
    ]
    list_filter = ["store", "website_id", "group_id"]
    search_fields = ["email_normalized", "=magento_id", "lastname", "company"]


@admin.register(Subscriber)
class SubscriberAdmin(ReadOnlyAdmin):
    list_display = [
        "subscriber_id",
        "email",
        "subscriber_status",
        "customer_magento_id",
        "magento_updated_at",
    ]
    list_filter = ["store", "subscriber_status"]
    search_fields = ["email_normalized", "=subscriber_id"]


@admin.register(GuestBuyer)
class GuestBuyerAdmin(ReadOnlyAdmin):
    list_display = [
        "email",
        "firstname",
        "lastname",
        "website_id",
        "order_count",
        "last_order_increment_id",
    ]
    list_filter = ["store", "website_id"]
    search_fields = ["email_normalized"]


@admin.register(ContactEntity)
class ContactEntityAdmin(admin.ModelAdmin):
    list_display = [
        "entity_id",
        "profile",
        "customer_id",
        "email",
        "status",
        "queue_status",
        "attempts",
        "processed_at",
    ]
    list_filter = ["profile", "status", "queue_status"]
    list_select_related = ["profile"]
    search_fields = ["email", "=customer_id", "person_key", "remote_id"]
    readonly_fields = [
        "entity_id",
        "profile",
        "person_key",
        "run",
        "claimed_by",
        "claimed_at",
        "last_payload_hash",
    ]
    actions = ["retry_selected", "reset_selected"]

    @admin.action(description="Retry selected contacts", permissions=["change"])
    def retry_selected(self, request: HttpRequest, queryset: QuerySet[ContactEntity]) -> None:
        count = queryset.exclude(queue_status=QueueStatus.PROCESSING).update(
            queue_status=QueueStatus.PENDING, next_attempt_at=None, attempts=0
        )
        self.message_user(request, f"{count} contact(s) queued for the next run.")

    @admin.action(
        description="Reset selected contacts (forget what was sent)", permissions=["change"]
    )
    def reset_selected(self, request: HttpRequest, queryset: QuerySet[ContactEntity]) -> None:
        count = queryset.exclude(queue_status=QueueStatus.PROCESSING).update(
            queue_status=QueueStatus.PENDING, next_attempt_at=None, attempts=0, last_payload_hash=""
        )
        self.message_user(request, f"{count} contact(s) reset; they will be fully re-sent.")
