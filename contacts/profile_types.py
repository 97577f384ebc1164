"""Profile types built on the contact entity table (registered on app start).

The FreeAgent contact export and the Emarsys contact sync register here as they land.
"""

from contacts.freeagent import profile_type as _freeagent  # noqa: E402, F401
