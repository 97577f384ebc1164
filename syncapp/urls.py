"""URL configuration."""

from django.contrib import admin
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    # Browsers ask for /favicon.ico whatever the page links: answer instead of a 404.
    path("favicon.ico", RedirectView.as_view(url=static("contactsync/favicon.svg"))),
    path("admin/", admin.site.urls),
    path("hooks/", include("contacts.urls")),
]
