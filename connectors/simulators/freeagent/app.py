"""A faithful fake of the FreeAgent API v2 (contacts, configuration data, OAuth).

Serves ``/v2/...`` as the recordings show the live sandbox does (see ``store`` for the
contact rules), plus OAuth (``approve_app`` auto-approves; rotating refresh tokens; the
previous refresh token dies immediately, which exposes refresh races), Bearer auth, and
the documented rate limits (120/min + 3600/h per user, 5/min with ``X-RateLimit-Test``,
15 token calls/min) answered with FreeAgent's plain-text 429 and ``Retry-After``.

Test helpers: ``POST /_sim/expire_token`` (``{"access_token": ...}`` or all) and
``POST /_sim/contacts`` (a list of contacts to seed, bypassing auth and rate limits).
"""

from __future__ import annotations

import copy
import math
import time
from typing import Any
from urllib.parse import urlencode

from connectors.simulators.freeagent import data as simdata
from connectors.simulators.freeagent.auth import CLIENT_ID, CLIENT_SECRET, OAuthSimMixin, fa_error
from connectors.simulators.freeagent.store import (
    DEFAULTS,
    Contact,
    InvalidContact,
    apply_changes,
    clean_fields,
    parse_time,
    select,
    validate,
    weak_etag,
)
from connectors.simulators.kit import Faults, FixedWindow, Request, Response, SimApp

FIRST_CONTACT_ID = 209300


class FreeAgentSimulator(OAuthSimMixin, SimApp):
    """FreeAgent for one company with one user (the token owner)."""

    name = "freeagent"

    def __init__(
        self,
        *,
        seed: int = 1,
        time_scale: float = 1.0,
        faults: Faults | None = None,
        token_ttl: float = 3600.0,
        code_ttl: float = 900.0,
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
        reject_unknown_country: bool = True,
    ) -> None:
        super().__init__(faults=faults, seed=seed)
        self.time_scale = time_scale
        self.token_ttl = token_ttl
        self.code_ttl = code_ttl
        self.client_id = client_id
        self.client_secret = client_secret
        self.reject_unknown_country = reject_unknown_country
        self.access_tokens: dict[str, float] = {}  # token → expires_at (epoch)
        self.refresh_tokens: set[str] = set()
        self.codes: dict[str, dict[str, Any]] = {}
        self._reset_data()
        v2 = r"/v2"
        self.route("GET", v2 + r"/approve_app", self._approve_app)
        self.route("POST", v2 + r"/token_endpoint", self._token_endpoint)
        self.route("GET", v2 + r"/contacts", self._list_contacts)
        self.route("POST", v2 + r"/contacts", self._create_contact)
        self.route("GET", v2 + r"/contacts/(?P<id>\d+)", self._get_contact)
        self.route("PUT", v2 + r"/contacts/(?P<id>\d+)", self._update_contact)
        self.route("DELETE", v2 + r"/contacts/(?P<id>\d+)", self._delete_contact)
        self.route("GET", v2 + r"/company", self._company)
        self.route("GET", v2 + r"/users/me", self._user_me)
        self.route("GET", v2 + r"/users", self._users)
        self.route("GET", v2 + r"/categories", self._categories)
        self.route("POST", r"/_sim/expire_token", self._expire_token)
        self.route("POST", r"/_sim/contacts", self._seed_contacts)

    def _reset_data(self) -> None:
        self.contacts: dict[int, Contact] = {}
        self.undeletable: set[int] = set()  # contacts with invoices, estimates or bills
        self.next_id = FIRST_CONTACT_ID
        self.refresh_count = 0
        self.code_exchanges = 0
        ts = self.time_scale
        self.per_minute = FixedWindow(120, 60, time_scale=ts)
        self.per_hour = FixedWindow(3600, 3600, time_scale=ts)
        self.test_minute = FixedWindow(5, 60, time_scale=ts)
        self.token_minute = FixedWindow(15, 60, time_scale=ts)

    # -- SimApp hooks ------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget contacts, counters and codes. Issued tokens stay valid (demo continuity)."""
        with self.lock:
            super().reset()
            self.codes.clear()
            self._reset_data()

    def state(self) -> dict[str, Any]:
        """Counts for tests and the dashboard (never the tokens themselves)."""
        with self.lock:
            now = time.time()
            return {
                "contacts": len(self.contacts),
                "refresh_count": self.refresh_count,
                "code_exchanges": self.code_exchanges,
                "live_access_tokens": sum(1 for t in self.access_tokens.values() if t > now),
                "refresh_tokens": len(self.refresh_tokens),
            }

    def not_found(self, request: Request) -> Response:
        return fa_error(404, "Resource not found")

    def check_rate_limit(self, request: Request) -> float | None:
        if request.path == "/v2/token_endpoint":
            request.environ["fa.limit"] = "15 requests per 60 seconds"
            return self.token_minute.hit()
        if not request.path.startswith("/v2/") or not self._authorised(request):
            return None
        if request.header("x-ratelimit-test").lower() == "true":
            request.environ["fa.limit"] = "5 requests per 60 seconds"
            return self.test_minute.hit()
        wait = self.per_minute.hit()
        request.environ["fa.limit"] = "120 requests per 60 seconds"
        if wait is None:
            wait = self.per_hour.hit()
            request.environ["fa.limit"] = "3600 requests per 3600 seconds"
        return wait

    def rate_limited(self, request: Request, retry_after: float) -> Response:
        limit = request.environ.get("fa.limit", "120 requests per 60 seconds")
        # The API sends whole seconds; a scaled-down clock needs fractions to stay fast.
        if self.time_scale >= 1:
            header = str(max(1, math.ceil(retry_after)))
        else:
            header = f"{max(0.001, retry_after):.3f}"
        return Response(
            429,
            f"You must not exceed {limit}",
            headers={"Retry-After": header},
            content_type="text/plain; charset=utf-8",
        )

    # -- contacts -----------------------------------------------------------------------------

    @staticmethod
    def _origin(request: Request) -> str:
        return request.full_url.split("/v2/", 1)[0].split("/_sim/", 1)[0]

    def _contact_response(self, status: int, contact: Contact, request: Request) -> Response:
        body = {"contact": contact.render(self._origin(request))}
        headers = {"ETag": weak_etag(body)}
        if status == 201:
            headers["Location"] = body["contact"]["url"]
        else:
            headers["Last-Modified"] = time.strftime(
                "%a, %d %b %Y %H:%M:%S GMT", time.gmtime(contact.updated_at)
            )
        return Response(status, body, headers=headers)

    @staticmethod
    def _payload(request: Request) -> dict[str, Any]:
        try:
            body = request.json()
        except ValueError:
            raise InvalidContact(["Request body is not valid JSON"]) from None
        if isinstance(body, dict) and isinstance(body.get("contact"), dict):
            return dict(body["contact"])
        if isinstance(body, dict):
            return body  # Rails param wrapping: the unwrapped form works too (recordings)
        raise InvalidContact(["Request body must be a JSON object"])

    def add_contact(self, raw: dict[str, Any]) -> Contact:
        """Validate and store a new contact. Raises :class:`InvalidContact`. A seeded
        ``_sim_has_invoices`` marks it as FreeAgent's contacts with invoices, estimates or
        bills: it cannot be deleted (403), only hidden."""
        raw = dict(raw)
        linked = bool(raw.pop("_sim_has_invoices", False))
        changes, errors = clean_fields(raw)
        attrs = apply_changes(DEFAULTS, changes)
        errors += validate(attrs, reject_unknown_country=self.reject_unknown_country)
        if errors:
            raise InvalidContact(errors)
        now = float(int(time.time()))
        created = parse_time(raw["created_at"]) if raw.get("created_at") else now
        updated = parse_time(raw["updated_at"]) if raw.get("updated_at") else created
        extra = {k: raw[k] for k in ("account_balance", "active_projects_count") if k in raw}
        with self.lock:
            contact = Contact(self.next_id, attrs, created, updated, extra)
            self.contacts[contact.id] = contact
            if linked:
                self.undeletable.add(contact.id)
            self.next_id += 1
        return contact

    def _create_contact(self, request: Request) -> Response:
        if (denied := self._guard(request)) is not None:
            return denied
        try:
            contact = self.add_contact(self._payload(request))
        except InvalidContact as exc:
            return Response(422, {"errors": [{"message": m} for m in exc.messages]})
        return self._contact_response(201, contact, request)

    def _find(self, request: Request) -> Contact | None:
        with self.lock:
            return self.contacts.get(int(request.params["id"]))

    def _get_contact(self, request: Request) -> Response:
        if (denied := self._guard(request)) is not None:
            return denied
        contact = self._find(request)
        if contact is None:
            return self.not_found(request)
        return self._contact_response(200, contact, request)

    def _update_contact(self, request: Request) -> Response:
        if (denied := self._guard(request)) is not None:
            return denied
        contact = self._find(request)
        if contact is None:
            return self.not_found(request)
        try:
            changes, errors = clean_fields(self._payload(request))
            attrs = apply_changes(contact.attrs, changes)
            errors += validate(attrs, reject_unknown_country=self.reject_unknown_country)
            if errors:
                raise InvalidContact(errors)
        except InvalidContact as exc:
            return Response(422, {"errors": [{"message": m} for m in exc.messages]})
        with self.lock:
            contact.attrs = attrs
            contact.updated_at = float(int(time.time()))
        return self._contact_response(200, contact, request)

    def _delete_contact(self, request: Request) -> Response:
        if (denied := self._guard(request)) is not None:
            return denied
        with self.lock:
            if int(request.params["id"]) in self.undeletable:
                return fa_error(
                    403,
                    "This contact cannot be deleted because it has invoices, estimates or "
                    "bills. Hide it instead.",
                )
            if self.contacts.pop(int(request.params["id"]), None) is None:
                return self.not_found(request)
        # Live: 200, "application/json" without charset, zero bytes.
        return Response(200, None, content_type="application/json")

    def _list_contacts(self, request: Request) -> Response:
        if (denied := self._guard(request)) is not None:
            return denied
        args = request.args
        try:
            since = parse_time(args["updated_since"]) if args.get("updated_since") else None
        except ValueError:
            return fa_error(400, "updated_since is not a valid timestamp")
        try:
            page = max(1, int(args.get("page") or 1))
            per_page = min(100, max(1, int(args.get("per_page") or 25)))
        except ValueError:
            return fa_error(400, "page and per_page must be integers")
        with self.lock:
            everything = list(self.contacts.values())
        try:
            chosen = select(
                everything,
                view=args.get("view") or "active",
                sort=args.get("sort") or "name",
                updated_since=since,
            )
        except ValueError:
            return fa_error(400, f"Invalid view {args.get('view')!r}")
        origin = self._origin(request)
        items = [c.render(origin) for c in chosen[(page - 1) * per_page : page * per_page]]
        body = {"contacts": items}
        pages = max(1, math.ceil(len(chosen) / per_page))
        headers = {
            "Link": self._link_header(origin, args, page, per_page, pages),
            "X-Total-Count": str(len(chosen)),
            "ETag": weak_etag(body),
        }
        return Response(200, body, headers=headers)

    @staticmethod
    def _link_header(
        origin: str, args: dict[str, str], page: int, per_page: int, pages: int
    ) -> str:
        if pages <= 1:
            return ""  # live: the header is present but empty on a single page
        keep = {k: v for k, v in args.items() if k not in ("page", "per_page")}

        def url(number: int) -> str:
            return f"{origin}/v2/contacts?" + urlencode(
                {**keep, "page": number, "per_page": per_page}
            )

        links = []
        if page > 1:
            links.append(f'<{url(min(page - 1, pages))}>; rel="prev"')
        if page < pages:
            links.append(f'<{url(page + 1)}>; rel="next"')
        links.append(f'<{url(1)}>; rel="first"')
        links.append(f'<{url(pages)}>; rel="last"')
        return ", ".join(links)

    # -- configuration data ---------------------------------------------------------------------

    def _with_origin(self, request: Request, data: Any) -> Any:
        origin = self._origin(request)
        data = copy.deepcopy(data)

        def fix(item: Any) -> None:
            if isinstance(item, dict):
                if isinstance(item.get("url"), str) and item["url"].startswith("/"):
                    item["url"] = origin + item["url"]
                for value in item.values():
                    fix(value)
            elif isinstance(item, list):
                for value in item:
                    fix(value)

        fix(data)
        return data

    def _resource(self, request: Request, body: dict[str, Any]) -> Response:
        if (denied := self._guard(request)) is not None:
            return denied
        body = self._with_origin(request, body)
        return Response(200, body, headers={"ETag": weak_etag(body)})

    def _company(self, request: Request) -> Response:
        return self._resource(request, {"company": simdata.COMPANY})

    def _user_me(self, request: Request) -> Response:
        return self._resource(request, {"user": simdata.USER})

    def _users(self, request: Request) -> Response:
        return self._resource(request, {"users": [simdata.USER]})

    def _categories(self, request: Request) -> Response:
        return self._resource(request, simdata.CATEGORIES)

    # -- /_sim/ helpers -------------------------------------------------------------------------

    def _expire_token(self, request: Request) -> Response:
        body = request.json() if request.body else None
        token = body.get("access_token") if isinstance(body, dict) else None
        return Response(200, {"expired": self.expire_tokens(token)})

    def _seed_contacts(self, request: Request) -> Response:
        body = request.json()
        items = body.get("contacts") if isinstance(body, dict) else body
        if not isinstance(items, list):
            return Response(400, {"message": "send a list of contacts or {'contacts': [...]}"})
        origin = self._origin(request)
        created = []
        for raw in items:
            try:
                created.append(self.add_contact(dict(raw)).render(origin))
            except (InvalidContact, ValueError, TypeError) as exc:
                return Response(422, {"errors": [{"message": str(exc)}], "created": created})
        return Response(201, {"contacts": created})


def create_app(
    *, seed: int = 1, time_scale: float = 1.0, faults: Faults | None = None, **kw: Any
) -> FreeAgentSimulator:
    """The simulator as ``manage.py simulate`` and the tests build it."""
    return FreeAgentSimulator(seed=seed, time_scale=time_scale, faults=faults, **kw)


__all__ = ["CLIENT_ID", "CLIENT_SECRET", "FreeAgentSimulator", "create_app"]
