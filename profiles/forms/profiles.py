"""The profile form: seed 000's sections. Type-specific forms subclass it (Emarsys)."""

from __future__ import annotations

from typing import Any, ClassVar

from django import forms
from django.contrib.admin.widgets import AdminRadioSelect
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.validators import MinValueValidator

from profiles import registry
from profiles.models import Client, ClientType, Profile

COMMON_FIELDSETS: list[tuple[str | None, dict[str, Any]]] = [
    (None, {"fields": ["name", "type", "type_label"]}),
    (
        "1. Client configuration",
        {
            "fields": ["source_client", "client", "client_actions"],
            "description": "Select the clients to use for this profile. After selecting a "
            "client, click Collect Configuration Data to populate the dropdown options "
            "throughout the profile configuration.",
        },
    ),
    (
        "2. Schedule configuration",
        {
            "fields": [
                "status",
                "schedule_preset",
                "schedule_cron",
                "process_batch_size",
                "enable_retry_on_failure",
                "retry_max_attempts",
            ]
        },
    ),
    (
        "3. HTTP API configuration",
        {
            "fields": ["api_behaviour"],
            "description": "Configure how the profile interacts with the target API.",
        },
    ),
]


ALERTS_FIELDSET: tuple[str | None, dict[str, Any]] = (
    "Alerts",
    {
        "fields": [
            "alert_recipients",
            "alert_webhook_url",
            "alert_no_success_hours",
            "alert_failed_above",
            "alert_credentials_refused",
            "alert_approval_waiting",
        ],
        "description": "Who is told when this profile needs attention: once per incident, "
        "a reminder at most daily, and a message when it is resolved.",
    },
)

DELETION_FIELDS = ("deletion_policy", "deletion_brake_percent", "deletion_brake_max")
DELETIONS_FIELDSET: tuple[str | None, dict[str, Any]] = (
    "Customers deleted in Magento",
    {
        "fields": list(DELETION_FIELDS),
        "description": "Magento deletions are noticed daily (and at once through the "
        "webhook). The approval brake holds a pass that would act on more contacts than the "
        "lower of the two limits below, until a person approves or rejects it on this page.",
    },
)

SOURCES_FIELDSET: tuple[str | None, dict[str, Any]] = (
    "Contacts to export",
    {"fields": ["guest_buyers", "new_charge_sales_tax"]},
)

IDENTITY_FIELDSET: tuple[str | None, dict[str, Any]] = (
    "Shared e-mail addresses",
    {
        "fields": ["shared_email", "website_priority"],
        "description": "Magento can hold one e-mail address for several people (customer "
        "accounts per website, a guest buyer of another website). FreeAgent and Emarsys would "
        "make them one contact with a mixed record. Choose what happens.",
    },
)


class ProfileForm(forms.ModelForm):
    """Common settings. The type is chosen before the form is shown and never changes."""

    shared_email = forms.ChoiceField(
        label="When several people share an e-mail",
        widget=AdminRadioSelect(attrs={"class": "radiolist"}),
        choices=[],
        required=False,
    )
    website_priority = forms.CharField(
        label="Website priority",
        required=False,
        help_text="Magento website ids, first wins, e.g. “2, 1” (for the website priority rule).",
    )
    guest_buyers = forms.BooleanField(
        label="Export guest checkout contacts",
        required=False,
        initial=True,
        help_text="Buyers who checked out without an account become FreeAgent contacts too "
        "(one per e-mail and website). Turned off, they are no longer read or sent; contacts "
        "already in FreeAgent stay there.",
    )

    new_charge_sales_tax = forms.ChoiceField(
        label="New contacts: charge sales tax",
        required=False,
        choices=[],
        help_text="Set on each contact this profile creates in FreeAgent (later changes made "
        "in FreeAgent stand). The choices are those collected from the FreeAgent client.",
    )

    alert_recipients = forms.CharField(
        label="Alert e-mails to",
        required=False,
        help_text="Comma-separated addresses told once when this profile needs attention, "
        "reminded at most daily, and told when it is resolved. Empty: no alerts.",
    )
    alert_webhook_url = forms.CharField(
        label="Alert webhook URL",
        required=False,
        help_text="Optional: each alert is also POSTed here as JSON (profile, incident, "
        "state, detail, url).",
    )
    alert_no_success_hours = forms.IntegerField(
        label="No successful run for (hours)",
        required=False,
        min_value=0,
        help_text="While the schedule is enabled. Empty or 0: not watched.",
    )
    alert_failed_above = forms.IntegerField(
        label="Failed contacts above",
        required=False,
        min_value=0,
        help_text="Contacts that failed and need a person. Empty: not watched.",
    )
    alert_approval_waiting = forms.BooleanField(
        label="Deletions wait for approval",
        required=False,
        initial=True,
        help_text="The approval brake holds deletions until a person decides.",
    )
    alert_credentials_refused = forms.BooleanField(
        label="Credentials refused",
        required=False,
        initial=True,
        help_text="A client of this profile refuses its credentials (the profile is paused).",
    )

    deletion_policy = forms.ChoiceField(
        label="Deletion policy",
        required=False,
        choices=[],
        help_text="What a customer deleted in Magento becomes in the target.",
    )
    deletion_brake_percent = forms.FloatField(
        label="Approval above (% of linked contacts)",
        required=False,
        min_value=0,
        max_value=100,
        initial=5,
        help_text="A deletion pass acting on more than this share of the profile's linked "
        "contacts waits for approval. Empty: 5 %.",
    )
    deletion_brake_max = forms.IntegerField(
        label="Approval above (contacts)",
        required=False,
        min_value=0,
        initial=50,
        help_text="…or on more than this many contacts, whichever is lower. Empty: 50.",
    )

    type_id: ClassVar[str] = ""
    # Fields whose errors are shown elsewhere (collected by _update_errors).
    extra_error_keys: ClassVar[tuple[str, ...]] = ()

    class Meta:
        model = Profile
        fields = [
            "name",
            "type",
            "source_client",
            "client",
            "status",
            "schedule_preset",
            "schedule_cron",
            "process_batch_size",
            "enable_retry_on_failure",
            "retry_max_attempts",
            "api_behaviour",
        ]
        widgets = {
            "type": forms.HiddenInput,
            "api_behaviour": AdminRadioSelect(attrs={"class": "radiolist"}),
            "schedule_cron": forms.TextInput(attrs={"placeholder": "*/20 * * * *"}),
        }
        help_texts = {
            "process_batch_size": "Number of contacts to process in each batch. Small stores "
            "(< 1,000 customers): 100–200; medium (1,000–10,000): 100–150; large "
            "(> 10,000): 50–100. Higher batch sizes use more memory.",
            "enable_retry_on_failure": "Retry failed contacts (API timeout, connection error) on "
            "the following scheduled runs, counting attempts. After the maximum attempts a "
            "contact needs manual intervention.",
            "retry_max_attempts": "Maximum number of retry attempts before a contact is marked "
            "as permanently failed.",
            "status": "Enable automatic processing via the scheduler. Disable for manual review "
            "before export, and during testing and configuration.",
            "schedule_preset": "Every 15 minutes: near real-time (recommended). Every 30: "
            "standard. Every 60: low-volume stores. Custom: your own cron expression.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.extra_errors: dict[str, list[str]] = {}
        if "type" in self.fields:  # absent on a view-only page
            self.fields["type"].initial = self.type_id
            self.fields["type"].required = False
        try:
            ptype = registry.get(self.type_id)
        except registry.UnknownProfileType:
            ptype = None
        if "source_client" in self.fields:
            field = self.fields["source_client"]
            field.queryset = Client.objects.filter(type=ClientType.MAGENTO)  # type: ignore[attr-defined]
            field.required = True
            field.label = "Magento store (source)"
        if "client" in self.fields:
            field = self.fields["client"]
            target = ptype.target_client_type if ptype else None
            if target:
                field.queryset = Client.objects.filter(type=target)  # type: ignore[attr-defined]
                field.label = f"Client ({ClientType(target).label})"
            field.required = True
        if not self.instance.pk and ptype is not None and not self.instance.settings:
            self.instance.settings = ptype.default_settings()
        self._init_sharing()
        batch = self.fields.get("process_batch_size")
        if batch is not None:  # one bound, one message: 0 and -5 both "at least 1"
            batch.min_value = 1  # type: ignore[attr-defined]
            batch.validators = [
                v
                for v in batch.validators
                if not isinstance(v, MinValueValidator) or v.limit_value == 1
            ]
            batch.widget.attrs["min"] = 1
        if ptype is not None:
            for name in ptype.unused_fields:
                self.fields.pop(name, None)  # no effect for this type: not shown
            for name, text in ptype.field_help().items():
                if name in self.fields:
                    self.fields[name].help_text = text
            if not self.instance.pk:
                for name, value in ptype.field_defaults.items():
                    setattr(self.instance, name, value)
                    if name in self.fields and not self.is_bound:
                        self.initial[name] = value

    def _init_sharing(self) -> None:
        from contacts.services import sharing

        if "shared_email" not in self.fields:
            return
        self.fields["shared_email"].choices = list(sharing.RULE_LABELS.items())  # type: ignore[attr-defined]
        rule, websites = sharing.sharing_settings(self.instance.settings)
        self.fields["shared_email"].initial = rule
        self.fields["website_priority"].initial = ", ".join(str(w) for w in websites)
        if "guest_buyers" in self.fields:
            self.fields["guest_buyers"].initial = bool(
                (self.instance.settings or {}).get("guest_buyers", True)
            )
        if "new_charge_sales_tax" in self.fields:
            self._init_new_contacts()
        self._init_alerts()
        self._init_deletions()

    def _init_deletions(self) -> None:
        from contacts.services import propagate

        if "deletion_policy" not in self.fields:
            return
        try:
            offered = propagate.policies_of(registry.get(self.type_id))
        except registry.UnknownProfileType:
            offered = propagate.policies_of(None)
        if len(offered) < 2:  # the type propagates none: the section would have no effect
            for name in DELETION_FIELDS:
                self.fields.pop(name, None)
            return
        rules = propagate.rules_of(self.instance)
        self.fields["deletion_policy"].choices = list(offered.items())  # type: ignore[attr-defined]
        self.fields["deletion_policy"].initial = rules.policy
        percent = rules.brake_percent
        self.fields["deletion_brake_percent"].initial = (
            int(percent) if float(percent).is_integer() else percent
        )
        self.fields["deletion_brake_max"].initial = rules.brake_max

    def _init_alerts(self) -> None:
        rules = dict((self.instance.settings or {}).get("alerts") or {})
        if "alert_recipients" not in self.fields:
            return
        self.fields["alert_recipients"].initial = ", ".join(rules.get("recipients") or [])
        self.fields["alert_webhook_url"].initial = rules.get("webhook_url") or ""
        self.fields["alert_no_success_hours"].initial = rules.get("no_success_hours")
        self.fields["alert_failed_above"].initial = rules.get("failed_above")
        self.fields["alert_credentials_refused"].initial = bool(
            rules.get("credentials_refused", True)
        )
        self.fields["alert_approval_waiting"].initial = bool(rules.get("approval_waiting", True))

    def _init_new_contacts(self) -> None:
        """The choices FreeAgent offers, from the client's collected configuration data."""
        from contacts.freeagent.profile_type import contact_options

        client = self.instance.client if self.instance.client_id else None
        offered = contact_options(client).get("charge_sales_tax") or []
        current = str(
            ((self.instance.settings or {}).get("new_contacts") or {}).get("charge_sales_tax") or ""
        )
        choices = [("", "FreeAgent's default")] + [(v, v) for v in offered]
        if current and current not in offered:
            choices.append((current, f"{current} (not offered now)"))
        field = self.fields["new_charge_sales_tax"]
        field.choices = choices  # type: ignore[attr-defined]
        field.initial = current
        if not offered:
            field.help_text = (
                "Collect configuration data on the FreeAgent client (Clients → Collect "
                "configuration data) to choose; until then FreeAgent's default applies."
            )

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean() or {}
        if "deletion_policy" in self.fields:
            from contacts.services import propagate

            settings = dict(self.instance.settings or {})
            percent = data.get("deletion_brake_percent")
            most = data.get("deletion_brake_max")
            settings[propagate.SETTING] = {
                "policy": data.get("deletion_policy") or propagate.IGNORE,
                "brake_percent": propagate.DEFAULT_PERCENT if percent is None else percent,
                "brake_max": propagate.DEFAULT_MAX if most is None else most,
            }
            self.instance.settings = settings
        if "alert_recipients" in self.fields:
            settings = dict(self.instance.settings or {})
            recipients = [
                r.strip() for r in str(data.get("alert_recipients") or "").split(",") if r.strip()
            ]
            webhook = str(data.get("alert_webhook_url") or "").strip()
            if recipients or webhook:
                settings["alerts"] = {
                    "recipients": recipients,
                    "webhook_url": webhook,
                    "no_success_hours": data.get("alert_no_success_hours") or 0,
                    "failed_above": data.get("alert_failed_above"),
                    "credentials_refused": bool(data.get("alert_credentials_refused")),
                    "approval_waiting": bool(data.get("alert_approval_waiting")),
                }
            else:
                settings.pop("alerts", None)
            self.instance.settings = settings
        if "shared_email" in self.fields:
            websites = [w.strip() for w in str(data.get("website_priority") or "").split(",")]
            settings = dict(self.instance.settings or {})
            settings["shared_email"] = data.get("shared_email") or "flag"
            settings["website_priority"] = [int(w) if w.isdigit() else w for w in websites if w]
            if "guest_buyers" in self.fields:
                settings["guest_buyers"] = bool(data.get("guest_buyers"))
            if "new_charge_sales_tax" in self.fields:
                chosen = str(data.get("new_charge_sales_tax") or "")
                settings["new_contacts"] = {"charge_sales_tax": chosen} if chosen else {}
            self.instance.settings = settings
        return data

    def clean_type(self) -> str:
        if self.instance.pk and self.instance.type != self.type_id:
            raise ValidationError("The type of an existing profile cannot change.")
        return self.type_id

    def _update_errors(self, errors: ValidationError) -> None:
        """Model-level errors keyed by settings that are not form fields (or are hidden)
        are kept for the template (``extra_errors``) and shown as form errors too."""
        if hasattr(errors, "error_dict"):
            known: dict[str, Any] = {}
            for key, messages in errors.error_dict.items():
                texts = [m for e in messages for m in e.messages]
                if key == NON_FIELD_ERRORS or (
                    key in self.fields and not self.fields[key].widget.is_hidden
                ):
                    known[key] = messages
                    continue
                self.extra_errors.setdefault(key, []).extend(texts)
                if key not in self.extra_error_keys:
                    known.setdefault(NON_FIELD_ERRORS, []).extend(
                        ValidationError(f"{key.replace('_', ' ').capitalize()}: {t}") for t in texts
                    )
            if self.extra_errors and not known:
                known[NON_FIELD_ERRORS] = [
                    ValidationError("Please correct the errors below (see the field mapping).")
                ]
            errors = ValidationError(known)
        super()._update_errors(errors)  # type: ignore[misc]


def profile_form_class(type_id: str) -> type[ProfileForm]:
    """The form of a profile type (the Emarsys one adds its synchronization settings)."""
    from profiles.forms.emarsys import EMARSYS_TYPE, EmarsysProfileForm

    base: type[ProfileForm] = EmarsysProfileForm if type_id == EMARSYS_TYPE else ProfileForm
    return type(f"{base.__name__}_{type_id}", (base,), {"type_id": type_id})


def profile_fieldsets(type_id: str) -> list[tuple[str | None, dict[str, Any]]]:
    """The type's sections, without the settings that have no effect for it (a section
    left empty is dropped)."""
    from profiles.forms.emarsys import EMARSYS_FIELDSETS, EMARSYS_TYPE

    try:
        ptype: registry.ProfileType | None = registry.get(type_id)
    except registry.UnknownProfileType:
        ptype = None
    unused = set(ptype.unused_fields) if ptype is not None else set()
    if ptype is None or not ptype.deletion_policies:
        unused |= set(DELETION_FIELDS)  # nothing to propagate: no section
    sections = [
        *COMMON_FIELDSETS,
        *(EMARSYS_FIELDSETS if type_id == EMARSYS_TYPE else []),
        SOURCES_FIELDSET,
        IDENTITY_FIELDSET,
        DELETIONS_FIELDSET,
        ALERTS_FIELDSET,
    ]
    out: list[tuple[str | None, dict[str, Any]]] = []
    for name, options in sections:
        fields = [f for f in options["fields"] if f not in unused]
        if unused & set(options["fields"]) and "schedule_preset" in options["fields"]:
            fields.insert(1, "schedules_display")  # the schedules that really run instead
        if fields or not options["fields"]:
            out.append((name, {**options, "fields": fields}))
    return out
