"""What a client's address must look like, checked where it is entered (the admin form and
``load_config``, with the same words) rather than failing at the first sync."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from profiles.models import ClientType, Environment

EMARSYS_DEFAULT_BASE_URL = "https://api.emarsys.net/api/v2"
STORE_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


def base_url_problem(client_type: str, environment: str, url: str) -> str:
    """Why ``url`` cannot be this client's base URL ('' when it can, or is empty)."""
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http(s) address, e.g. https://shop.example.com."
    path = parts.path.rstrip("/")
    custom_freeagent = client_type == ClientType.FREEAGENT and environment == Environment.CUSTOM
    if custom_freeagent and not path.endswith("/v2"):
        return "FreeAgent's API root ends in /v2 (e.g. https://api.freeagent.com/v2)."
    if client_type == ClientType.EMARSYS and not path.endswith("/api/v2"):
        return f"Emarsys' API root ends in /api/v2 (e.g. {EMARSYS_DEFAULT_BASE_URL})."
    return ""


def store_code_problem(code: str) -> str:
    """Magento's rule for a store view code ('' when ``code`` follows it)."""
    if code and not STORE_CODE.match(code):
        return (
            "a Magento store code is letters, digits and _ and starts with a letter (e.g. default)."
        )
    return ""
