"""A faithful in-memory fake of the Emarsys Suite API v2 (served on loopback).

Reproduces what the recordings in ``tests/fixtures/recorded/emarsys`` show: the
``{replyCode, replyText, data}`` envelope, per-contact errors inside HTTP 200 (an object
keyed by key value, ``[]`` when empty, an array for getdata), inconsistent id types (batch
create ints, updates strings, lists strings), 1,000-contact and 8 MB limits, WSSE and OAuth
2.0 authentication, a 1000/min per-user rate limit answered with 429 + replyCode 7003 and
``X-RateLimit-Reset``, and the asynchronous change export. ``/api/v3/…`` is served too.

Test helpers under ``/_sim/``: ``contacts`` (GET all, POST seed), ``optin`` (an opt-in
change made "in Emarsys"), ``inject_error`` (fail one key on the next upsert) and
``expire_tokens``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from connectors.simulators.emarsys.auth import Authenticator, AuthFailed
from connectors.simulators.emarsys.contact_routes import ContactRoutesMixin, fail, ok
from connectors.simulators.emarsys.contacts import ContactStore, ItemFailure, SimContact, key_text
from connectors.simulators.emarsys.data import (
    CHOICE_TYPES,
    CHOICES,
    CREATABLE_TYPES,
    FIRST_CUSTOM_FIELD_ID,
    FieldDef,
    system_fields,
)
from connectors.simulators.emarsys.exports import SimExport, build_export
from connectors.simulators.emarsys.lists import ListsMixin
from connectors.simulators.kit import Faults, FixedWindow, Request, Response, SimApp

API = r"/api/v[23]"
Handler = Callable[[Request], Response]


class EmarsysSimulator(ContactRoutesMixin, ListsMixin, SimApp):
    """The Emarsys simulator; see the module docstring."""

    name = "emarsys"

    def __init__(
        self,
        *,
        seed: int = 1,
        time_scale: float = 1.0,
        faults: Faults | None = None,
        wsse_username: str = "sim_api_user",
        wsse_secret: str = "sim-wsse-secret-not-real",
        client_id: str = "sim-client",
        client_secret: str = "sim-client-secret-not-real",
        rate_limit: int = 1000,
        token_ttl_s: int = 3600,
        export_polls: int = 2,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(faults=faults, seed=seed)
        self.time_scale = time_scale
        self.clock = clock
        self.rate_limit = rate_limit
        self.export_polls = export_polls
        self.wsse_username, self.client_id = wsse_username, client_id
        self._wsse_secret, self._client_secret = wsse_secret, client_secret
        self.authenticator = Authenticator(
            wsse_users={wsse_username: wsse_secret},
            oauth_clients={client_id: client_secret},
            token_ttl_s=token_ttl_s,
            clock=clock,
        )
        self._init_state()
        self.route("POST", r"/oauth2/token", self._token)
        api: list[tuple[str, str, Handler]] = [
            ("GET", r"/field(?:/translate/(?P<lang>\w+))?/?", self._fields),
            ("POST", r"/field/?", self._create_field),
            ("GET", r"/field/(?P<fid>\d+)/choice(?:/translate/(?P<lang>\w+))?/?", self._choices),
            ("POST", r"/contact/?", self._contact_create),
            ("PUT", r"/contact/?", self._contact_update),
            ("POST", r"/contact/getdata/?", self._getdata),
            ("POST", r"/contact/checkids/?", self._checkids),
            ("POST", r"/contact/getchanges/?", self._getchanges),
            ("GET", r"/contact/(?P<key>\w+)=(?P<value>[^/]+)", self._internal_id),
            ("GET", r"/export/(?P<eid>\d+)/?", self._export_status),
            ("GET", r"/export/(?P<eid>\d+)/data(?:/(?P<q>[^/]*))?", self._export_data),
            ("POST", r"/contact/delete/?", self._delete),
            ("GET", r"/contact/query/?", self._query),
            *self.list_routes(),
        ]
        for method, pattern, handler in api:
            self.route(method, API + pattern, self._authenticated(handler))
        self.route("GET", r"/_sim/contacts", self._sim_contacts)
        self.route("POST", r"/_sim/contacts", self._sim_seed)
        self.route("POST", r"/_sim/optin", self._sim_optin)
        self.route("POST", r"/_sim/inject_error", self._sim_inject)
        self.route("POST", r"/_sim/expire_tokens", self._sim_expire)

    def _init_state(self) -> None:
        self.fields: dict[int, FieldDef] = system_fields()
        self.next_field_id = FIRST_CUSTOM_FIELD_ID
        self.store = ContactStore(self.fields, self.clock)
        self.exports: dict[int, SimExport] = {}
        self.next_export_id = 5001
        self.injected: dict[str, tuple[int, str]] = {}
        self.windows: dict[str, FixedWindow] = {}
        self._init_lists()

    # -- SimApp hooks --------------------------------------------------------------------

    def reset(self) -> None:
        """Forget everything (fields back to the system fields)."""
        with self.lock:
            super().reset()
            self.authenticator.reset()
            self._init_state()

    def state(self) -> dict[str, Any]:
        """Counts, custom fields, lists with their members, exports."""
        with self.lock:
            return {
                "contacts": len(self.store.contacts),
                "custom_fields": [f.as_json() for f in self.fields.values() if f.id >= 100],
                "lists": self.lists_state(),
                "exports": {str(e.id): e.status for e in self.exports.values()},
                "tokens_issued": self.authenticator.tokens_issued,
            }

    def not_found(self, request: Request) -> Response:
        return fail(404, 404, f"Resource not found: {request.method} {request.path}")

    def check_rate_limit(self, request: Request) -> float | None:
        if not request.path.startswith("/api/"):
            return None
        user = self.authenticator.peek_user(request.headers)
        with self.lock:
            window = self.windows.get(user)
            if window is None:
                window = self.windows[user] = FixedWindow(
                    self.rate_limit, 60.0, time_scale=self.time_scale
                )
        return window.hit()

    def rate_limited(self, request: Request, retry_after: float) -> Response:
        reset_at = self.clock() + retry_after
        # Real Emarsys sends whole epoch seconds; keep fractions when time is scaled down.
        reset = str(math.ceil(reset_at)) if self.time_scale >= 1 else f"{reset_at:.3f}"
        response = fail(429, 7003, "Too many requests. Please try again later.")
        response.headers.update(
            {
                "X-RateLimit-Limit": str(self.rate_limit),
                "X-Ratelimit-Remaining": "0",
                "X-RateLimit-Reset": reset,
            }
        )
        return response

    def credentials(self, base_url: str) -> dict[str, str]:
        """What a client needs when this simulator is served at ``base_url``."""
        root = base_url.rstrip("/")
        return {
            "base_url": f"{root}/api/v2",
            "auth": "oauth2",
            "token_url": f"{root}/oauth2/token",
            "client_id": self.client_id,
            "client_secret": self._client_secret,
            "wsse_username": self.wsse_username,
            "wsse_secret": self._wsse_secret,
        }

    # -- auth ------------------------------------------------------------------------------

    def _authenticated(self, handler: Handler) -> Handler:
        def wrapped(request: Request) -> Response:
            try:
                self.authenticator.verify(request.headers)
            except AuthFailed:
                return fail(401, 1, "Credentials are invalid")
            try:
                request.json()
            except ValueError:
                return fail(400, 10001, "Invalid JSON input.")
            with self.lock:
                return handler(request)

        return wrapped

    def _token(self, request: Request) -> Response:
        form = dict(request.query)
        if request.body:
            form.update(parse_qsl(request.body.decode("utf-8", "replace")))
        try:
            token = self.authenticator.issue_token(
                request.header("authorization"), form.get("grant_type", "")
            )
        except AuthFailed:
            return Response(401, {"error": "invalid_client"})
        except ValueError:
            return Response(400, {"error": "unsupported_grant_type"})
        return Response(200, token, headers={"Cache-Control": "no-store"})

    # -- fields ----------------------------------------------------------------------------

    def _fields(self, request: Request) -> Response:
        return ok([f.as_json() for f in sorted(self.fields.values(), key=lambda f: f.id)])

    def _create_field(self, request: Request) -> Response:
        body = request.json()
        name = body.get("name") if isinstance(body, dict) else None
        kind = body.get("application_type") if isinstance(body, dict) else None
        if not name or not kind:
            return fail(400, 9005, "Parameters name and application_type are required.")
        if kind not in CREATABLE_TYPES:
            return fail(400, 9006, "This type of field cannot be created via API.")
        if any(f.name.casefold() == str(name).casefold() for f in self.fields.values()):
            return fail(400, 9002, "A field with this name already exists")
        fdef = FieldDef(self.next_field_id, str(name), str(kind))
        self.fields[fdef.id] = fdef
        self.next_field_id += 1
        return ok({"id": fdef.id})

    def _choices(self, request: Request) -> Response:
        fdef = self.fields.get(int(request.params["fid"]))
        if fdef is None:
            return fail(400, 2006, f"Invalid field id: {request.params['fid']}")
        if fdef.application_type not in CHOICE_TYPES and fdef.id != 31:
            return ok([])
        return ok([{"id": cid, "choice": text} for cid, text in CHOICES.get(fdef.id, ())])

    # -- change export ------------------------------------------------------------------------

    def _getchanges(self, request: Request) -> Response:
        try:
            export = build_export(
                self.store,
                request.json(),
                export_id=self.next_export_id,
                now=self.clock(),
                polls_needed=self.export_polls,
            )
        except ItemFailure as exc:
            return fail(400, exc.code, exc.message)
        self.exports[export.id] = export
        self.next_export_id += 1
        return ok({"id": export.id})

    def _export_status(self, request: Request) -> Response:
        export = self.exports.get(int(request.params["eid"]))
        if export is None:
            return fail(400, 10001, "Invalid export ID")
        export.polls += 1
        return ok(export.as_json())

    def _export_data(self, request: Request) -> Response:
        export = self.exports.get(int(request.params["eid"]))
        if export is None:
            return fail(400, 10001, "Invalid export ID")
        if export.status != "done":
            return fail(
                404, 4005, "Export is currently in progress. Please wait until that has finished."
            )
        args = dict(request.args)
        if request.params.get("q"):  # documented URI form: data/offset=0&limit=10
            args.update(parse_qsl(request.params["q"]))
        offset, limit = int(args.get("offset", 0)), int(args.get("limit", 1_000_000))
        return Response(200, export.csv_page(offset, limit), content_type="text/csv; charset=utf-8")

    # -- /_sim/ helpers -------------------------------------------------------------------------

    def _sim_contacts(self, request: Request) -> Response:
        with self.lock:
            members = self.memberships()
            contacts = []
            for contact in sorted(self.store.contacts.values(), key=lambda c: c.id):
                item = contact.as_json()
                item["lists"] = members.get(contact.id, [])
                item["changes"] = [{"at": at, "origin": origin} for at, origin in contact.changes]
                contacts.append(item)
        return Response(200, contacts)

    def _sim_seed(self, request: Request) -> Response:
        """Create contacts directly (no key checks, so duplicates can be staged)."""
        body = request.json() or {}
        created: list[str] = []
        with self.lock:
            for raw in body.get("contacts", []):
                values = {int(k): key_text(v) for k, v in raw.items() if str(k).isdigit()}
                contact = self.store.create(values, origin=str(body.get("origin", "import")))
                created.append(str(contact.id))
        return Response(200, {"ids": created})

    def _sim_optin(self, request: Request) -> Response:
        """Change a contact's opt-in as if done in Emarsys (a form): origin "form"."""
        body = request.json() or {}
        opt_in = key_text(body.get("opt_in", ""))
        with self.lock:
            try:
                contact: SimContact = self.store.find_one(
                    key_text(body.get("key_id", "3")), body.get("key_value")
                )
            except ItemFailure as exc:
                return Response(404, {"message": exc.message})
            at = body.get("at")
            self.store.write(
                contact, {31: opt_in or None}, origin="form", at=None if at is None else float(at)
            )
            return Response(200, contact.as_json())

    def _sim_inject(self, request: Request) -> Response:
        """Fail ``key_value`` with ``code`` on the next upsert that contains it."""
        body = request.json() or {}
        code = int(body.get("code", 2010))
        message = str(body.get("message") or f"Injected error {code}")
        with self.lock:
            self.injected[key_text(body.get("key_value"))] = (code, message)
        return Response(200, {"injected": key_text(body.get("key_value")), "code": code})

    def _sim_expire(self, request: Request) -> Response:
        return Response(200, {"expired": self.authenticator.expire_tokens()})


def create_app(
    *, seed: int = 1, time_scale: float = 1.0, faults: Faults | None = None, **kw: Any
) -> EmarsysSimulator:
    """The simulator, for ``python manage.py simulate`` and tests."""
    return EmarsysSimulator(seed=seed, time_scale=time_scale, faults=faults, **kw)
