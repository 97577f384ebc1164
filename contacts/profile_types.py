"""Profile types built on the contact entity table (registered on app start).

The FreeAgent contact export and the Emarsys contact sync register here as they land.
"""
