from django.apps import AppConfig


class ProfilesConfig(AppConfig):
    name = "profiles"
    verbose_name = "Sync profiles"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from profiles import metrics, registry, signals  # noqa: F401

        registry.load_profile_type_modules()
        metrics.install()  # the API clients' counts go to the shared store
