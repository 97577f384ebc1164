"""FreeAgent API v2 client: contacts, plus company/user/categories for configuration data.

Facts it is built on (reference ``freeagent-api.md`` and the recordings):

* a record's identity is its ``url``; the numeric id is the URL's last segment;
* lists page with ``page``/``per_page`` (max 100) and a ``Link`` header whose ``rel`` may be
  double- or single-quoted; a single page sends ``Link: ""``; ``X-Total-Count`` is the total;
* create answers ``201`` + ``Location``; update ``200`` + the full contact; delete ``200``
  with an empty body;
* errors come as ``{"errors": {"error": {"message"}}}`` or ``{"errors": [{"message"}]}``,
  OAuth errors as ``{"error", "error_description"}``, 429 as plain text + ``Retry-After``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

import requests

from connectors.errors import AuthError, ConfigurationError, ConnectorError
from connectors.http import (
    DEFAULT_TIMEOUT,
    USER_AGENT,
    BaseClient,
    Budget,
    ExchangeHook,
    call_with_retries,
)

from .auth import PRODUCTION_URL, TokenManager
from .parsing import contact_id, format_timestamp, parse_errors, parse_link_header

T = TypeVar("T")
MAX_PER_PAGE = 100
MAX_PAGES = 10_000  # a guard against a server that keeps sending the same "next"
CATEGORY_GROUPS = (
    "admin_expenses_categories",
    "cost_of_sales_categories",
    "income_categories",
    "general_categories",
)
#: Invoice/estimate languages a contact may have (reference §6.3).
LOCALES = (
    "bg", "ca", "cy", "cz", "de", "dk", "en", "en-US", "es", "et", "fi", "fr", "fr-BE",
    "fr-CA", "is", "it", "lv-LV", "nl", "nl-BE", "nk", "pl-PL", "pt-BR", "ro", "rs", "ru",
    "se", "sk", "tr",
)  # fmt: skip
#: The per-contact option sets FreeAgent has (it has no "contact categories").
CONTACT_OPTIONS: dict[str, list[str]] = {
    "charge_sales_tax": ["Auto", "Always", "Never"],
    "status": ["Active", "Hidden"],
    "locale": list(LOCALES),
    "view": [
        "active",
        "all",
        "clients",
        "suppliers",
        "active_projects",
        "completed_projects",
        "open_clients",
        "open_suppliers",
        "hidden",
    ],
    "sort": ["name", "-name", "created_at", "-created_at", "updated_at", "-updated_at"],
}


@dataclass
class ContactPage:
    """One page of a contacts list."""

    contacts: list[dict[str, Any]]
    total_count: int | None
    links: dict[str, str] = field(default_factory=dict)

    @property
    def next_url(self) -> str | None:
        """The URL of the next page, if there is one."""
        return self.links.get("next") or None


class FreeAgentClient(BaseClient):
    """FreeAgent API v2 for one FreeAgent user.

    Auth is either a :class:`TokenManager` (refreshes proactively before expiry and once
    on a 401) or a fixed ``access_token``. ``max_attempts > 1`` wraps every call in
    :func:`~connectors.http.call_with_retries` (429 waits never use up attempts).
    """

    service = "freeagent"

    def __init__(
        self,
        base_url: str = PRODUCTION_URL,
        *,
        tokens: TokenManager | None = None,
        access_token: str | None = None,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
        budget: Budget | None = None,
        on_exchange: ExchangeHook | None = None,
        user_agent: str = USER_AGENT,
        max_attempts: int = 1,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        super().__init__(
            base_url,
            timeout=timeout,
            session=session,
            budget=budget,
            on_exchange=on_exchange,
            user_agent=user_agent,
        )
        if tokens is None and not access_token:
            raise ConfigurationError("freeagent: a TokenManager or an access_token is required")
        self.tokens = tokens
        self.access_token = access_token
        self.max_attempts = max(1, max_attempts)
        self._sleep = sleep
        self._used = threading.local()
        self.session.headers["Accept"] = "application/json"

    # -- auth and errors -----------------------------------------------------------------

    def _prepare(self, request: requests.PreparedRequest) -> None:
        if self.tokens is not None:
            token = self.tokens.valid()
            self._used.token = token
            bearer = token.access_token
        else:
            bearer = self.access_token or ""
        request.headers["Authorization"] = f"Bearer {bearer}"

    def _error_message(self, status: int, body: Any) -> tuple[str, dict[str, list[str]]]:
        messages, fields = parse_errors(body)
        if not messages:
            return f"HTTP {status}", fields
        return "; ".join(dict.fromkeys(messages)), fields

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
    ) -> tuple[requests.Response, Any]:
        def once() -> tuple[requests.Response, Any]:
            try:
                return self._request(method, path, params=params, json_body=json_body)
            except AuthError as exc:
                stale = getattr(self._used, "token", None)
                if exc.status != 401 or self.tokens is None or stale is None:
                    raise
                # The token was revoked or expired early: refresh once, then retry once.
                self.tokens.refresh(stale, forced=True)
                return self._request(method, path, params=params, json_body=json_body)

        if self.max_attempts == 1:
            return once()
        if self._sleep is not None:
            return call_with_retries(once, max_attempts=self.max_attempts, sleep=self._sleep)
        return call_with_retries(once, max_attempts=self.max_attempts)

    def _envelope(self, body: Any, key: str, method: str, path: str) -> dict[str, Any]:
        if isinstance(body, dict) and isinstance(body.get(key), dict):
            return dict(body[key])
        raise ConnectorError(
            f"freeagent: expected a {key!r} object in the response", method=method, path=path
        )

    # -- contacts --------------------------------------------------------------------------

    def iter_contact_pages(
        self,
        *,
        view: str | None = None,
        sort: str | None = None,
        updated_since: datetime | str | None = None,
        per_page: int = MAX_PER_PAGE,
    ) -> Iterator[ContactPage]:
        """Yield pages of contacts, following ``Link: rel=next`` until there is none."""
        params: dict[str, Any] = {"per_page": max(1, min(MAX_PER_PAGE, per_page))}
        if view:
            params["view"] = view
        if sort:
            params["sort"] = sort
        if updated_since:
            params["updated_since"] = format_timestamp(updated_since)
        url: str | None = "contacts"
        query: dict[str, Any] | None = params
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            assert url is not None
            response, body = self._call("GET", url, params=query)
            contacts = body.get("contacts") if isinstance(body, dict) else None
            if not isinstance(contacts, list):
                raise ConnectorError("freeagent: expected a 'contacts' list", path="/contacts")
            total = response.headers.get("X-Total-Count")
            page = ContactPage(
                contacts=contacts,
                total_count=int(total) if total and total.strip().isdigit() else None,
                links=parse_link_header(response.headers.get("Link")),
            )
            yield page
            url = page.next_url
            if not url or not contacts or url in seen:
                return
            seen.add(url)
            # The next link already carries every query parameter.
            query = None

    def list_contacts(
        self,
        *,
        view: str | None = None,
        sort: str | None = None,
        updated_since: datetime | str | None = None,
        per_page: int = MAX_PER_PAGE,
    ) -> Iterator[dict[str, Any]]:
        """Every contact matching the filters, page after page (a generator).

        ``view``: ``active`` (FreeAgent's default), ``all``, ``hidden``, …; ``sort``:
        ``name``/``created_at``/``updated_at``, ``-`` prefix for descending.
        """
        for page in self.iter_contact_pages(
            view=view, sort=sort, updated_since=updated_since, per_page=per_page
        ):
            yield from page.contacts

    def get_contact(self, url_or_id: str | int) -> dict[str, Any]:
        """One contact by its ``url`` or numeric id. Raises :class:`NotFound`."""
        path = f"contacts/{contact_id(url_or_id)}"
        _, body = self._call("GET", path)
        return self._envelope(body, "contact", "GET", path)

    def create_contact(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        """Create a contact (FreeAgent has no upsert: this always creates a new one).

        Returns the contact as stored; its ``url`` is the identity to keep.
        """
        response, body = self._call("POST", "contacts", json_body={"contact": dict(fields)})
        contact = body.get("contact") if isinstance(body, dict) else None
        if not isinstance(contact, dict):
            contact = {}
        if "url" not in contact and response.headers.get("Location"):
            contact["url"] = response.headers["Location"]
        if "url" not in contact:
            raise ConnectorError(
                "freeagent: create answered without a contact url", path="/contacts"
            )
        return contact

    def update_contact(self, url_or_id: str | int, fields: Mapping[str, Any]) -> dict[str, Any]:
        """PUT only the given fields; returns the full contact as FreeAgent now has it."""
        path = f"contacts/{contact_id(url_or_id)}"
        _, body = self._call("PUT", path, json_body={"contact": dict(fields)})
        if isinstance(body, dict) and isinstance(body.get("contact"), dict):
            return dict(body["contact"])
        # The docs show no body for a PUT; the live API sends one. Cope with both.
        return self.get_contact(url_or_id)

    def hide_contact(self, url_or_id: str | int) -> dict[str, Any]:
        """Set ``status: Hidden`` — FreeAgent's answer to duplicates and undeletable contacts."""
        return self.update_contact(url_or_id, {"status": "Hidden"})

    def delete_contact(self, url_or_id: str | int) -> None:
        """Delete a contact (fails with 403 when it has invoices/estimates; hide it then)."""
        self._call("DELETE", f"contacts/{contact_id(url_or_id)}")

    # -- configuration data ------------------------------------------------------------------

    def get_company(self) -> dict[str, Any]:
        """``GET /company`` — a good "test connection" call."""
        _, body = self._call("GET", "company")
        return self._envelope(body, "company", "GET", "company")

    def get_current_user(self) -> dict[str, Any]:
        """``GET /users/me`` — ``permission_level`` ≥ 3 is needed to see contact details."""
        _, body = self._call("GET", "users/me")
        return self._envelope(body, "user", "GET", "users/me")

    def get_categories(self) -> dict[str, list[dict[str, Any]]]:
        """``GET /categories`` — the four category groups (missing groups become ``[]``)."""
        _, body = self._call("GET", "categories")
        if not isinstance(body, dict):
            raise ConnectorError("freeagent: expected a categories object", path="/categories")
        return {group: list(body.get(group) or []) for group in CATEGORY_GROUPS}

    def collect_configuration(self) -> dict[str, Any]:
        """Everything "Collect Configuration Data" caches: company, user, categories, options."""
        return {
            "company": self.get_company(),
            "user": self.get_current_user(),
            "categories": self.get_categories(),
            "contact_options": {k: list(v) for k, v in CONTACT_OPTIONS.items()},
        }


__all__ = [
    "CATEGORY_GROUPS",
    "CONTACT_OPTIONS",
    "ContactPage",
    "FreeAgentClient",
    "contact_id",
    "format_timestamp",
    "parse_errors",
    "parse_link_header",
]
