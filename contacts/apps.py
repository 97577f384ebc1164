from django.apps import AppConfig


class ContactsConfig(AppConfig):
    name = "contacts"
    verbose_name = "Contacts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the contact profile types with the pipeline framework.
        from contacts import profile_types, signals  # noqa: F401
