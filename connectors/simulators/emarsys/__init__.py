"""The Emarsys Suite API v2 simulator."""
