"""URLs of the contacts app (webhooks)."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from contacts.emarsys.webhook import magento_notification

app_name = "contacts"
urlpatterns: list[URLPattern | URLResolver] = [
    path("emarsys/<int:profile_id>/", magento_notification, name="emarsys_webhook"),
]
