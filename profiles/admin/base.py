"""What the admin screens share: button URLs and the type chooser."""

from __future__ import annotations

from functools import partial, update_wrapper
from typing import Any

from django.http import HttpRequest
from django.urls import URLPattern, path


class ButtonUrlsMixin:
    """``get_urls`` entries for the button views (staff only, CSRF protected)."""

    button_urls: list[tuple[str, str, Any]] = []

    def get_urls(self) -> list[URLPattern]:
        opts = self.model._meta  # type: ignore[attr-defined]
        own = []
        for route, name, view in self.button_urls:
            wrapped = self.admin_site.admin_view(partial(view, admin=self))  # type: ignore[attr-defined]
            update_wrapper(wrapped, view)
            own.append(path(route, wrapped, name=f"{opts.app_label}_{opts.model_name}_{name}"))
        return own + super().get_urls()  # type: ignore[misc]


def type_choice(request: HttpRequest, obj: Any, field: str = "type") -> str:
    if obj is not None:
        return str(getattr(obj, field))
    return str(request.GET.get("type") or request.POST.get("type") or "")
