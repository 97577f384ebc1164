"""Admin forms: per-type client forms with write-only credentials, and profile forms laid
out as the seed's sections (plus the Emarsys synchronization settings)."""
