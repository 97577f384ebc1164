"""Emarsys Suite API v2 connector: client and authentication.

Its simulator is a test double: :mod:`connectors.simulators.emarsys`."""

from connectors.emarsys.auth import OAuth2ClientCredentials, WsseAuth, wsse_digest, wsse_header
from connectors.emarsys.client import EmarsysClient
from connectors.emarsys.envelope import ItemError, parse_item_errors, reply_code_of
from connectors.emarsys.models import (
    CheckIdsResult,
    Choice,
    ContactList,
    ContactResult,
    ExportStatus,
    Field,
    GetDataResult,
    ListWriteResult,
    OptInChange,
    UpsertResult,
)

__all__ = [
    "CheckIdsResult",
    "Choice",
    "ContactList",
    "ContactResult",
    "EmarsysClient",
    "ExportStatus",
    "Field",
    "GetDataResult",
    "ItemError",
    "ListWriteResult",
    "OAuth2ClientCredentials",
    "OptInChange",
    "UpsertResult",
    "WsseAuth",
    "parse_item_errors",
    "reply_code_of",
    "wsse_digest",
    "wsse_header",
]
