"""Existing Emarsys profiles: keep the failsafe queue they always had (automatic retry was
forced on before the setting was honoured), and remember the settings their contacts were
built with, so a later change re-evaluates them (contacts.emarsys.reevaluate)."""

from django.db import migrations

TYPE = "emarsys_contact_sync"


def forwards(apps, schema_editor):
    from contacts.emarsys.reevaluate import STATE_KEY, applied

    Profile = apps.get_model("profiles", "Profile")
    for profile in Profile.objects.filter(type=TYPE):
        state = dict(profile.state or {})
        state.setdefault(STATE_KEY, applied(profile.settings))
        Profile.objects.filter(pk=profile.pk).update(enable_retry_on_failure=True, state=state)


class Migration(migrations.Migration):
    dependencies = [
        ("contacts", "0002_mirror_text_columns"),
        ("profiles", "0004_profile_settings_encrypted"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
