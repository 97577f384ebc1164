"""Emarsys Suite API v2 client: fields, contact lists, batch upserts, lookups, change export.

All calls go through :meth:`connectors.http.BaseClient._request`; the envelope is checked
there (``_check_body``), so a method either returns parsed ``data`` or raises a
:class:`~connectors.errors.ConnectorError` whose ``body`` keeps ``replyCode``/``replyText``.
Per-contact failures inside HTTP 200 are returned, never raised.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import requests

from connectors.emarsys.auth import EmarsysAuth
from connectors.emarsys.contacts import ContactsMixin
from connectors.emarsys.envelope import (
    as_id,
    as_int,
    envelope_message,
    error_class_for,
    is_envelope,
    parse_item_errors,
    reply_code,
)
from connectors.emarsys.exports import ChangeExportMixin
from connectors.emarsys.models import (
    Choice,
    ContactList,
    Field,
    ListWriteResult,
)
from connectors.errors import (
    AuthError,
    ConnectorError,
    PermanentError,
    RateLimited,
)
from connectors.http import BaseClient, Budget, ExchangeHook, parse_retry_after

LIST_BATCH = 10_000  # external ids per contact-list create/add (replyCode 3002 above)


class EmarsysClient(ContactsMixin, ChangeExportMixin, BaseClient):
    """A client for one Emarsys account.

    ``base_url`` ends in ``/api/v2`` (``https://api.emarsys.net/api/v2``); ``auth`` is an
    :class:`~connectors.emarsys.auth.OAuth2ClientCredentials` (default choice) or a
    :class:`~connectors.emarsys.auth.WsseAuth`. A 401 makes the authenticator drop its
    cached token and the request is sent once more.
    """

    service = "emarsys"

    def __init__(
        self,
        base_url: str,
        *,
        auth: EmarsysAuth,
        budget: Budget | None = None,
        session: requests.Session | None = None,
        on_exchange: ExchangeHook | None = None,
        timeout: float | tuple[float, float] = (5.0, 60.0),
        max_batch: int = 1000,
        max_body_bytes: int = 8_000_000,
    ) -> None:
        super().__init__(
            base_url, timeout=timeout, session=session, budget=budget, on_exchange=on_exchange
        )
        self.auth = auth
        self.max_batch = max_batch
        # 8 MB per call, counted in decimal megabytes so either reading of "MB" is safe.
        self.max_body_bytes = max_body_bytes

    # -- BaseClient hooks --------------------------------------------------------------

    def _prepare(self, request: requests.PreparedRequest) -> None:
        self.auth.apply(request)

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        json_body: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        auth: bool = True,
    ) -> tuple[requests.Response, Any]:
        kwargs: dict[str, Any] = {
            "params": params,
            "json_body": json_body,
            "data": data,
            "headers": headers,
            "auth": auth,
        }
        try:
            return super()._request(method, path, **kwargs)
        except AuthError as exc:
            # An expired or revoked OAuth token: fetch a new one and try exactly once more.
            if exc.status == 401 and auth and self.auth.invalidate():
                return super()._request(method, path, **kwargs)
            raise

    def _error_message(self, status: int, body: Any) -> tuple[str, dict[str, list[str]]]:
        if is_envelope(body):
            return envelope_message(body), {}
        return super()._error_message(status, body)

    def _error_for(
        self, method: str, path: str, response: requests.Response, body: Any
    ) -> ConnectorError:
        code = reply_code(body)
        if code is None:
            return super()._error_for(method, path, response, body)
        return self._envelope_error(method, path, response, body, code)

    def _check_body(self, response: requests.Response, body: Any) -> None:
        code = reply_code(body)
        if code is None or code == 0:
            return
        method = (response.request.method or "") if response.request is not None else ""
        path = urlsplit(response.url).path if response.url else ""
        raise self._envelope_error(method, path, response, body, code)

    def _envelope_error(
        self, method: str, path: str, response: requests.Response, body: Any, code: int
    ) -> ConnectorError:
        status = response.status_code
        cls = error_class_for(code, status)
        if cls is None:  # an unfamiliar code under an error status: the status decides
            return super()._error_for(method, path, response, body)
        common: dict[str, Any] = {
            "status": status,
            "method": method,
            "path": path,
            "body": body,
            "request_id": response.headers.get("X-Request-Id"),
        }
        message = f"{self.service}: {envelope_message(body)}"
        if cls is RateLimited:
            wait = parse_retry_after(response.headers)
            return RateLimited(message, retry_after=1.0 if wait is None else wait, **common)
        return cls(message, **common)

    # -- envelope helpers --------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> Any:
        """Send a JSON API call and return the envelope's ``data``."""
        response, body = self._request(method, path, params=params, json_body=json_body)
        if not is_envelope(body):
            raise PermanentError(
                f"{self.service}: response is not a replyCode envelope",
                status=response.status_code,
                method=method,
                path=path,
                body=body if isinstance(body, dict | list) else None,
            )
        return body.get("data")

    @staticmethod
    def _chunks(values: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
        for start in range(0, len(values), size):
            yield values[start : start + size]

    # -- fields ------------------------------------------------------------------------

    def list_fields(self, language: str = "en") -> list[Field]:
        """All contact fields (system and custom) with names in ``language``."""
        data = self._call("GET", f"field/translate/{language}")
        return [
            Field(
                id=as_id(item["id"]),
                name=str(item.get("name", "")),
                application_type=str(item.get("application_type", "")),
                string_id=item.get("string_id") or None,
            )
            for item in data or []
            if isinstance(item, dict) and "id" in item
        ]

    def find_field(self, name: str, language: str = "en") -> Field | None:
        """The field called ``name`` (exact match, then case-insensitive), or None."""
        fields = self.list_fields(language)
        for candidate in fields:
            if candidate.name == name:
                return candidate
        lowered = name.casefold()
        return next((f for f in fields if f.name.casefold() == lowered), None)

    def create_field(self, name: str, application_type: str) -> str:
        """Create a custom field (shorttext, longtext, largetext, date, numeric, url).

        Returns the new field id. Choice fields cannot be created through the API (9006);
        an existing name raises ValidationError with replyCode 9002.
        """
        data = self._call(
            "POST", "field", json_body={"name": name, "application_type": application_type}
        )
        return as_id(data["id"])

    def field_choices(self, field_id: str | int, language: str = "en") -> list[Choice]:
        """Choices of a single- or multi-choice field; send the choice ``id`` as the value."""
        data = self._call("GET", f"field/{as_id(field_id)}/choice/translate/{language}")
        choices = []
        for item in data or []:
            if isinstance(item, dict) and "id" in item:
                bit = item.get("bit_position")
                choices.append(
                    Choice(
                        id=as_id(item["id"]),
                        choice=str(item.get("choice", "")),
                        bit_position=as_int(bit) if bit not in (None, "") else None,
                    )
                )
        return choices

    # -- contact lists -------------------------------------------------------------------

    def list_contact_lists(self) -> list[ContactList]:
        """All contact lists of the account."""
        data = self._call("GET", "contactlist")
        return [
            ContactList(
                id=as_id(item["id"]), name=str(item.get("name", "")), created=item.get("created")
            )
            for item in data or []
            if isinstance(item, dict) and "id" in item
        ]

    def find_contact_list(self, name: str) -> ContactList | None:
        """The contact list called ``name``, or None."""
        return next((cl for cl in self.list_contact_lists() if cl.name == name), None)

    def create_contact_list(
        self,
        name: str,
        *,
        description: str = "",
        key_id: str | int = "3",
        external_ids: Sequence[str] = (),
    ) -> ListWriteResult:
        """Create a list, optionally with members (first 10,000 here, the rest via add)."""
        first, rest = list(external_ids[:LIST_BATCH]), list(external_ids[LIST_BATCH:])
        data = self._call(
            "POST",
            "contactlist",
            json_body={
                "key_id": as_id(key_id),
                "name": name,
                "description": description,
                "external_ids": first,
            },
        )
        result = ListWriteResult(
            list_id=as_id(data["id"]), errors=parse_item_errors(data.get("errors"))
        )
        if rest:
            more = self.add_to_contact_list(result.list_id, rest, key_id=key_id)
            result.errors.extend(more.errors)
        return result

    def add_to_contact_list(
        self, list_id: str | int, external_ids: Sequence[str], *, key_id: str | int = "3"
    ) -> ListWriteResult:
        """Add contacts (by ``key_id`` value) to a list, 10,000 per call."""
        result = ListWriteResult(list_id=as_id(list_id), inserted=0)
        for chunk in self._chunks(list(external_ids), LIST_BATCH):
            data = self._call(
                "POST",
                f"contactlist/{as_id(list_id)}/add",
                json_body={"key_id": as_id(key_id), "external_ids": list(chunk)},
            )
            result.inserted = (result.inserted or 0) + as_int(data.get("inserted_contacts"))
            result.errors.extend(parse_item_errors(data.get("errors")))
        return result
