"""The FreeAgent API v2 simulator."""
