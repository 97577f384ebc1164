"""Settings: ``base`` (every environment) and ``test``."""
