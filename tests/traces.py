"""Looking for a person's data anywhere in the database (erasure tests)."""

from __future__ import annotations

from django.apps import apps


def traces(needles) -> list[str]:
    """Every row of every table whose values name one of ``needles``."""
    found = []
    for model in apps.get_models():
        for row in model._default_manager.all().values():
            text = " ".join(str(v) for v in row.values()).lower()
            for needle in needles:
                if needle.lower() in text:
                    found.append(f"{model._meta.label} #{row.get('id', row.get('pk'))}: {needle}")
    return found
