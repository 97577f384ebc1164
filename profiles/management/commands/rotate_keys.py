"""``python manage.py rotate_keys`` — re-encrypt every stored secret with the first key of
``FIELD_ENCRYPTION_KEY`` (set it to ``new,old`` first). Resumable; exit 1 when a value
could not be decrypted with any configured key (it is named)."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand

from profiles.services.secrets import secrets_rotate


class Command(BaseCommand):
    help = "Re-encrypt every stored secret with the first FIELD_ENCRYPTION_KEY."

    def handle(self, *args: Any, **options: Any) -> None:
        report = secrets_rotate()
        self.stdout.write(
            f"{report.rotated} value(s) re-encrypted with the first key, {report.current} "
            f"already were, {report.encrypted} plain value(s) encrypted."
        )
        for name in report.unreadable:
            self.stderr.write(
                f"{name}: no configured key decrypts it — put the key it was encrypted with "
                "in FIELD_ENCRYPTION_KEY (after the new one) and run again, or re-enter it."
            )
        if report.unreadable:
            sys.exit(1)
        self.stdout.write("Every secret is encrypted with the first key: the others can go.")
