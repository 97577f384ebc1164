"""The Emarsys contact sync's settings form (seed 003): field mapping, synchronization mode,
background runtime, contact lists for the initial export, opt-in mapping, webhook secret.

The dropdowns come from the configuration data collected on the clients: Emarsys fields
and contact lists from the Emarsys client, customer attributes from the Magento client.
Values already stored stay selectable when nothing has been collected (yet).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django import forms
from django.contrib.admin.widgets import AdminRadioSelect
from django.http import QueryDict

from profiles import registry
from profiles.forms.profiles import ProfileForm
from profiles.models import Client

EMARSYS_TYPE = "emarsys_contact_sync"
NEW_FIELD = "new"
# Emarsys' own application types (contacts.emarsys.config.CREATABLE_TYPES), as labelled.
FIELD_TYPES = [
    ("shorttext", "shorttext — short text"),
    ("longtext", "longtext — long text"),
    ("largetext", "largetext — large text"),
    ("numeric", "numeric — number"),
    ("date", "date"),
    ("url", "url"),
]
TYPE_ALIASES = {"text": "longtext", "number": "numeric"}
ADDRESS_PARTS = (
    "street",
    "city",
    "region",
    "postcode",
    "country_id",
    "telephone",
    "company",
    "vat_id",
)
BASE_ATTRIBUTES = ("firstname", "lastname", "email", "dob", "gender", "prefix", "taxvat")
OPTIN_CHOICES = [("1", "True (opted in)"), ("2", "False (opted out)"), ("", "Not sent")]
SUBSCRIBER_STATUSES = [
    ("1", "Subscribed"),
    ("2", "Not activated"),
    ("3", "Unsubscribed"),
    ("4", "Unconfirmed"),
]

EMARSYS_FIELDSETS: list[tuple[str | None, dict[str, Any]]] = [
    (
        "4. Field mapping",
        {
            "fields": [],
            "classes": ["field-mapping"],
            "description": "Select the Magento fields you want to synchronize and the Emarsys "
            "field they go to. If no suitable field exists in Emarsys, create it as a custom "
            "field — mind the field type. Opt-in, Customer ID and Subscriber ID are always "
            "synchronized. Subscribers only have first name, last name, e-mail and opt-in.",
        },
    ),
    (
        "5. Synchronization settings",
        {
            "fields": [
                "sync_mode",
                "background_runtime",
                "poll_interval_minutes",
                "export_types",
                "customers_list",
                "subscribers_list",
                "initial_export",
                "reevaluate_token",
            ],
        },
    ),
    (
        "6. Opt-in and webhook",
        {
            "fields": ["optin_1", "optin_2", "optin_3", "optin_4", "webhook_secret"],
            "classes": ["collapse"],
        },
    ),
]


def _type_defaults() -> dict[str, Any]:
    """The registered type's defaults (the type may not be registered yet)."""
    try:
        return registry.get(EMARSYS_TYPE).default_settings()
    except registry.UnknownProfileType:
        return {}


def _config(client: Client | None) -> dict[str, Any]:
    return (client.configuration_data or {}) if client is not None else {}


def emarsys_field_choices(client: Client | None, current: list[str]) -> list[tuple[str, str]]:
    """Collected Emarsys fields as choices, plus stored ids not in the list."""
    fields = _config(client).get("fields") or []
    choices = [("", "— choose an Emarsys field —"), (NEW_FIELD, "+ Create custom field…")]
    seen = set()
    for f in sorted(fields, key=lambda f: str(f.get("name", "")).casefold()):
        fid = str(f.get("id"))
        seen.add(fid)
        choices.append((fid, f"{f.get('name')} ({f.get('application_type')}, #{fid})"))
    choices += [(fid, f"Field #{fid}") for fid in current if fid and fid not in seen]
    return choices


def magento_attribute_options(client: Client | None) -> list[str]:
    """Attribute paths a mapping row can read (collected attributes + address parts)."""
    collected = [
        str(a.get("attribute_code"))
        for a in _config(client).get("customer_attributes") or []
        if a.get("attribute_code")
    ]
    addresses = [
        f"{kind}.{part}"
        for kind in ("default_billing", "default_shipping")
        for part in ADDRESS_PARTS
    ]
    seen: dict[str, None] = dict.fromkeys(
        [*BASE_ATTRIBUTES, *collected, *addresses, "store_code", "website_code"]
    )
    return list(seen)


class MappingRowForm(forms.Form):
    """One row: Magento attribute → Emarsys field (existing, or a new custom field)."""

    magento = forms.CharField(
        label="Magento attribute",
        required=False,
        widget=forms.TextInput(attrs={"list": "magento-attributes", "size": 28}),
    )
    emarsys = forms.ChoiceField(label="Emarsys field", required=False)
    new_name = forms.CharField(
        label="New field name",
        required=False,
        widget=forms.TextInput(attrs={"size": 18, "placeholder": "name"}),
    )
    new_type = forms.ChoiceField(label="Type", choices=FIELD_TYPES, required=False)
    clear_when_empty = forms.BooleanField(label="Clear when empty", required=False)
    extra = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, emarsys_choices: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["emarsys"].choices = emarsys_choices  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean() or {}
        # The row's other stored keys travel in a hidden field: parse them here, never later.
        try:
            extra = json.loads(data.get("extra") or "{}")
        except ValueError:
            extra = None
        if isinstance(extra, dict):
            data["extra"] = extra
        else:
            data["extra"] = {}
            self.add_error("extra", "This row's stored options are damaged; reload the page.")
        if not data.get("magento") and not data.get("emarsys"):
            return data  # an empty row is ignored
        if not data.get("magento"):
            self.add_error("magento", "Name the Magento attribute.")
        if not data.get("emarsys"):
            self.add_error("emarsys", "Choose an Emarsys field, or create a custom field.")
        elif data["emarsys"] == NEW_FIELD and not data.get("new_name"):
            self.add_error("new_name", "Name the new Emarsys field.")
        return data

    def row(self) -> dict[str, Any] | None:
        """The settings row, or None for an empty or deleted row."""
        data = self.cleaned_data
        if not data or data.get("DELETE") or not data.get("magento"):
            return None
        row: dict[str, Any] = dict(data.get("extra") or {})
        row["magento"] = data["magento"]
        if data["emarsys"] == NEW_FIELD:
            row["emarsys"] = {"name": data["new_name"], "type": data.get("new_type") or "longtext"}
        else:
            row["emarsys"] = int(data["emarsys"]) if data["emarsys"].isdigit() else data["emarsys"]
        if data.get("clear_when_empty"):
            row["clear_when_empty"] = True
        else:
            row.pop("clear_when_empty", None)
        return row


MappingFormSet = forms.formset_factory(MappingRowForm, extra=1, can_delete=True)


def mapping_initial(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    initial = []
    for row in rows:
        target = row.get("emarsys")
        item: dict[str, Any] = {
            "magento": row.get("magento", ""),
            "clear_when_empty": bool(row.get("clear_when_empty")),
            "extra": json.dumps(
                {
                    k: v
                    for k, v in row.items()
                    if k not in ("magento", "emarsys", "clear_when_empty")
                }
            ),
        }
        if isinstance(target, dict):
            kind = str(target.get("type") or "longtext").lower()
            item.update(
                emarsys=NEW_FIELD,
                new_name=target.get("name", ""),
                new_type=TYPE_ALIASES.get(kind, kind),  # a friendly name means this type
            )
        else:
            item["emarsys"] = str(target if target is not None else "")
        initial.append(item)
    return initial


class EmarsysProfileForm(ProfileForm):
    """Seed 003's synchronization settings on top of the common sections."""

    extra_error_keys = ("field_mapping",)

    sync_mode = forms.ChoiceField(
        label="Synchronization mode",
        widget=AdminRadioSelect(attrs={"class": "radiolist"}),
        choices=[
            (
                "realtime_failsafe",
                "Realtime-failsafe — every update is sent as it occurs in Magento; failed "
                "updates go to a failsafe queue processed daily at the background runtime",
            ),
            (
                "background_only",
                "Background only — all updates of the last 24 hours are sent once a day at "
                "the background runtime",
            ),
        ],
    )
    background_runtime = forms.CharField(
        label="Background runtime",
        max_length=5,
        widget=forms.TimeInput(attrs={"type": "time"}),
        help_text="The time of day the failsafe export (realtime-failsafe) or the daily export "
        "(background only) runs. Emarsys opt-in changes are read back at this time too.",
    )
    poll_interval_minutes = forms.IntegerField(
        label="Poll interval (minutes)",
        min_value=1,
        max_value=60,
        help_text="Realtime-failsafe: how often Magento is polled for changes besides webhooks.",
    )
    export_types = forms.ChoiceField(
        label="Contacts to export",
        widget=AdminRadioSelect(attrs={"class": "radiolist"}),
        choices=[("customers", "Customers"), ("subscribers", "Subscribers"), ("both", "Both")],
    )
    customers_list = forms.CharField(
        label="Customers contact list",
        required=False,
        widget=forms.TextInput(attrs={"list": "emarsys-lists", "size": 40}),
        help_text="An existing Emarsys contact list name adds the contacts to it; a new name "
        "creates the list.",
    )
    subscribers_list = forms.CharField(
        label="Subscribers contact list",
        required=False,
        widget=forms.TextInput(attrs={"list": "emarsys-lists", "size": 40}),
    )
    optin_1 = forms.ChoiceField(label="Subscribed →", choices=OPTIN_CHOICES, required=False)
    optin_2 = forms.ChoiceField(label="Not activated →", choices=OPTIN_CHOICES, required=False)
    optin_3 = forms.ChoiceField(label="Unsubscribed →", choices=OPTIN_CHOICES, required=False)
    optin_4 = forms.ChoiceField(
        label="Unconfirmed →",
        choices=OPTIN_CHOICES,
        required=False,
        help_text="The Emarsys Opt-In value sent for each Magento subscriber status.",
    )
    reevaluate_token = forms.CharField(required=False, widget=forms.HiddenInput)
    webhook_secret = forms.CharField(
        label="Webhook secret",
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="The HMAC secret Magento signs change notifications with (16+ characters).",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = {**_type_defaults(), **(self.instance.settings or {})}
        for key in (
            "sync_mode",
            "background_runtime",
            "poll_interval_minutes",
            "export_types",
            "customers_list",
            "subscribers_list",
        ):
            self.fields[key].initial = settings.get(key)
        for status, _ in SUBSCRIBER_STATUSES:
            optin_map = settings.get("optin_map") or {}
            self.fields[f"optin_{status}"].initial = str(optin_map.get(status, ""))
        stored = (
            "A secret is stored; leave empty to keep it."
            if settings.get("webhook_secret")
            else "Not set."
        )
        self.fields["webhook_secret"].help_text += " " + stored
        target = self.instance.client if self.instance.client_id else None
        source = self.instance.source_client if self.instance.source_client_id else None
        rows = list(settings.get("field_mapping") or [])
        current = [str(r.get("emarsys")) for r in rows if not isinstance(r.get("emarsys"), dict)]
        self.emarsys_client, self.magento_client = target, source
        self.mapping = MappingFormSet(
            self.data if self.is_bound else None,
            initial=mapping_initial(rows),
            prefix="mapping",
            form_kwargs={"emarsys_choices": emarsys_field_choices(target, current)},
        )
        self.magento_attributes = magento_attribute_options(source)
        self.emarsys_lists = [
            str(cl.get("name")) for cl in _config(target).get("contact_lists") or []
        ]

    def full_clean(self) -> None:
        self._mapping_valid = self.mapping.is_valid() if self.is_bound else True
        super().full_clean()

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean() or {}
        settings = dict(self.instance.settings or {})
        for key in (
            "sync_mode",
            "background_runtime",
            "poll_interval_minutes",
            "export_types",
            "customers_list",
            "subscribers_list",
        ):
            if key in data:
                settings[key] = data[key]
        settings["optin_map"] = {
            status: (int(data[f"optin_{status}"]) if data.get(f"optin_{status}") else "")
            for status, _ in SUBSCRIBER_STATUSES
        }
        if data.get("webhook_secret"):
            settings["webhook_secret"] = data["webhook_secret"]
        if self._mapping_valid:
            rows = [r for r in (f.row() for f in self.mapping.forms) if r is not None]
            settings["field_mapping"] = rows
        else:
            self.extra_errors.setdefault("field_mapping", []).append(
                "Correct the rows marked below."
            )
            self.add_error(None, "Please correct the field mapping below.")
        if not self.errors:
            self._confirm_reevaluation(settings, data)
        self.instance.settings = settings
        return data

    def _confirm_reevaluation(self, settings: dict[str, Any], data: dict[str, Any]) -> None:
        """A change of what contacts get is saved only once the merchant has seen how many
        contacts it re-evaluates (the second save of the same change confirms it)."""
        self.reevaluation: tuple[int, list[str]] = (0, [])
        if not self.instance.pk:
            return
        try:
            ptype = registry.get(self.type_id)
        except registry.UnknownProfileType:
            return
        count, what = ptype.settings_change_preview(profile=self.instance, settings=settings)
        if not what or not count:
            return
        shown = {k: v for k, v in settings.items() if "secret" not in k}
        token = hashlib.sha256(json.dumps(shown, sort_keys=True, default=str).encode()).hexdigest()
        token = token[:16]
        self.reevaluation = (count, what)
        if data.get("reevaluate_token") == token:
            return
        data_copy = QueryDict(mutable=True)
        data_copy.update(self.data)
        data_copy[self.add_prefix("reevaluate_token")] = token
        self.data = data_copy  # the hidden field carries the confirmation
        self.add_error(
            None,
            f"This change ({', '.join(what)}) re-evaluates {count} existing contact(s) at the "
            "next run: each is sent only the fields whose values change, and contacts "
            "added to a renamed list are added to the new one. Save again to confirm.",
        )
