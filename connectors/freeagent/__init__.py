"""FreeAgent API v2: OAuth tokens, the contacts client, country names.

Its simulator is a test double: :mod:`connectors.simulators.freeagent`."""

from .auth import (
    PRODUCTION_URL,
    SANDBOX_URL,
    FreeAgentOAuth,
    TokenManager,
    TokenState,
    api_base_url,
)
from .client import FreeAgentClient, contact_id, parse_link_header
from .countries import country_kept, country_name

__all__ = [
    "PRODUCTION_URL",
    "SANDBOX_URL",
    "FreeAgentClient",
    "FreeAgentOAuth",
    "TokenManager",
    "TokenState",
    "api_base_url",
    "contact_id",
    "country_kept",
    "country_name",
    "parse_link_header",
]
