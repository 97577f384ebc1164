"""Profile types built on the contact entity table (registered on app start)."""

from contacts.emarsys import profile_type as _emarsys  # noqa: F401
from contacts.freeagent import profile_type as _freeagent  # noqa: F401
