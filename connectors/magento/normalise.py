"""Turning Magento payloads into plain values: error messages and guest buyers."""

from __future__ import annotations

import re
from typing import Any

_NAMED = re.compile(r"%([A-Za-z_][A-Za-z0-9_]*|\d+)")


def render_message(message: str, parameters: Any) -> str:
    """Fill Magento's ``%1``/``%name`` placeholders from ``parameters`` (list or dict).

    A list fills ``%1``, ``%2`` … (1-based, as ``Phrase`` does); a dict fills ``%name``.
    Unknown placeholders are left untouched so nothing is silently lost.
    """
    if isinstance(parameters, list):
        values = {str(i + 1): v for i, v in enumerate(parameters)}
    elif isinstance(parameters, dict):
        values = {str(k): v for k, v in parameters.items()}
    else:
        return message

    def substitute(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in values:
            return match.group(0)
        value = values[key]
        if isinstance(value, list):
            return ", ".join(str(v) for v in value)
        return str(value)

    return _NAMED.sub(substitute, message)


def error_text(body: Any) -> tuple[str, dict[str, list[str]]]:
    """(message, field errors) from a Magento error body ``{message, parameters, errors?}``."""
    message = render_message(str(body.get("message", "")), body.get("parameters"))
    field_errors: dict[str, list[str]] = {}
    for item in body.get("errors") or []:
        if not isinstance(item, dict):
            continue
        params = item.get("parameters")
        text = render_message(str(item.get("message", "")), params)
        key = "__all__"
        if isinstance(params, dict) and params.get("fieldName"):
            key = str(params["fieldName"])
        field_errors.setdefault(key, []).append(text)
    if isinstance(body.get("parameters"), dict) and body["parameters"].get("fieldName"):
        field_errors.setdefault(str(body["parameters"]["fieldName"]), []).append(message)
    return message, field_errors


def _clean(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def order_address(address: Any) -> dict[str, Any] | None:
    """A sales order address reduced to the contact fields we export."""
    if not isinstance(address, dict):
        return None
    street = address.get("street") or []
    return {
        "firstname": _clean(address.get("firstname")),
        "lastname": _clean(address.get("lastname")),
        "company": _clean(address.get("company")),
        "street": [line for line in (str(s).strip() for s in street) if line],
        "city": _clean(address.get("city")),
        "postcode": _clean(address.get("postcode")),
        "region": _clean(address.get("region")),
        "region_code": _clean(address.get("region_code")),
        "country_id": _clean(address.get("country_id")),
        "telephone": _clean(address.get("telephone")),
        "vat_id": _clean(address.get("vat_id")),
        "email": _clean(address.get("email")),
    }


def shipping_address(order: dict[str, Any]) -> dict[str, Any] | None:
    """The shipping address lives only under ``extension_attributes.shipping_assignments``."""
    assignments = (order.get("extension_attributes") or {}).get("shipping_assignments") or []
    if not assignments:
        return None
    shipping = assignments[0].get("shipping") or {}
    return order_address(shipping.get("address"))


def guest_from_order(order: dict[str, Any]) -> dict[str, Any]:
    """One normalised guest buyer from one guest order.

    Names fall back to the billing address (older or custom checkouts leave the
    ``customer_*`` names empty). ``email_key`` is the trimmed, lower-cased e-mail callers
    dedupe on; it may also belong to a registered customer.
    """
    billing = order_address(order.get("billing_address"))
    email = _clean(order.get("customer_email")) or (billing or {}).get("email")
    firstname = _clean(order.get("customer_firstname")) or (billing or {}).get("firstname")
    lastname = _clean(order.get("customer_lastname")) or (billing or {}).get("lastname")
    return {
        "order_id": order.get("entity_id"),
        "increment_id": order.get("increment_id"),
        "store_id": order.get("store_id"),
        "created_at": order.get("created_at"),
        "updated_at": order.get("updated_at"),
        "email": email,
        "email_key": email.lower() if email else None,
        "firstname": firstname,
        "lastname": lastname,
        "company": (billing or {}).get("company"),
        "vat_id": (billing or {}).get("vat_id") or _clean(order.get("customer_taxvat")),
        "telephone": (billing or {}).get("telephone"),
        "billing_address": billing,
        "shipping_address": shipping_address(order),
    }
