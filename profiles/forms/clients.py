"""Client forms, one per client type, with proper credential fields.

Credentials are write-only: a secret field is a password box that never renders its value;
left empty it keeps what is stored. Non-secret identifiers (consumer key, client id, user
name) are ordinary fields. Form fields named ``cred_<key>`` map to ``credentials[<key>]``.

A stored secret is only kept while the place it is sent to stays the same: changing a
destination field (base URL, token URL, environment) drops the stored secrets unless they are
typed again in the same save, so nobody can redirect a secret they may not read to a server
of their own.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django import forms
from django.contrib.admin.widgets import AdminRadioSelect
from django.db import models

from profiles import registry
from profiles.models import Client, ClientType, Environment, Profile
from profiles.services.client_rules import (
    EMARSYS_DEFAULT_BASE_URL,
    base_url_problem,
    store_code_problem,
)
from profiles.services.pause import client_accepted

PREFIX = "cred_"
RETYPE_SECRET = "Re-enter the secret when changing the URL it is sent to."


def secret_field(label: str, help_text: str = "") -> forms.CharField:
    """A write-only credential: never rendered back, empty keeps the stored value."""
    return forms.CharField(
        label=label,
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=help_text,
    )


def plain_field(label: str, help_text: str = "") -> forms.CharField:
    return forms.CharField(
        label=label,
        required=False,
        strip=True,
        widget=forms.TextInput(attrs={"autocomplete": "off", "size": 50}),
        help_text=help_text,
    )


def _https_by_default(db_field: models.Field[Any, Any], **kwargs: Any) -> forms.Field | None:
    # API URLs are https unless typed otherwise (Django 6 assumes so too).
    if isinstance(db_field, models.URLField):
        kwargs.setdefault("assume_scheme", "https")
    return db_field.formfield(**kwargs)


class ClientForm(forms.ModelForm):
    """Common part: name, type (fixed once chosen), base URL; credentials per subclass."""

    client_type: ClassVar[str] = ""
    secret_keys: ClassVar[tuple[str, ...]] = ()
    # Credentials needed per auth method: {method: keys}; method "" when there is one.
    required_keys: ClassVar[dict[str, tuple[str, ...]]] = {}
    # Fields naming where the secrets are sent: a change drops the stored secrets.
    destination_fields: ClassVar[tuple[str, ...]] = ("base_url",)

    class Meta:
        model = Client
        fields = ["name", "type", "environment", "base_url", "store_code"]
        widgets = {"type": forms.HiddenInput}
        formfield_callback = _https_by_default

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "type" in self.fields:
            self.fields["type"].initial = self.client_type
        stored = self.instance.credentials or {} if self.instance.pk else {}
        for key in self.secret_keys:
            field = self.fields[PREFIX + key]
            state = (
                "A value is stored; leave empty to keep it. Changing the URL it is sent to "
                "needs it typed again."
                if stored.get(key)
                else "Not set."
            )
            field.help_text = f"{field.help_text} {state}".strip()
        for name, field in self.fields.items():
            key = name.removeprefix(PREFIX)
            if name.startswith(PREFIX) and key not in self.secret_keys and key in stored:
                field.initial = stored[key]

    def clean_type(self) -> str:
        if self.instance.pk and self.instance.type != self.client_type:
            raise forms.ValidationError("The type of an existing client cannot change.")
        return self.client_type

    def method(self, data: dict[str, Any]) -> str:
        return ""

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean() or {}
        problems = {}
        if "base_url" in self.fields and "base_url" not in self.errors:
            problems["base_url"] = base_url_problem(
                self.client_type,
                str(data.get("environment") or self.instance.environment),
                str(data.get("base_url") or ""),
            )
        if "store_code" in self.fields and self.client_type == ClientType.MAGENTO:
            problems["store_code"] = store_code_problem(str(data.get("store_code") or ""))
        for name, problem in problems.items():
            if problem:  # load_config's words, as a sentence
                self.add_error(name, problem[0].upper() + problem[1:])
        if any(name in self.errors for name in self.destination_fields):
            return data  # the address is wrong: that is the one thing to say
        merged = self.merged_credentials(data)
        stored = self.stored_credentials()
        for key in self.required_keys.get(self.method(data), ()):
            if not merged.get(key):
                dropped = key in self.secret_keys and stored.get(key)
                self.add_error(PREFIX + key, RETYPE_SECRET if dropped else "Required.")
        return data

    def stored_credentials(self) -> dict[str, Any]:
        return dict(self.instance.credentials or {}) if self.instance.pk else {}

    def destination_changed(self) -> bool:
        """Whether a field naming where the secrets are sent was changed (existing client)."""
        if not self.instance.pk:
            return False
        return any(
            name in self.fields and name in self.changed_data for name in self.destination_fields
        )

    def merged_credentials(self, data: dict[str, Any]) -> dict[str, Any]:
        """The credentials after saving: typed values over the stored ones. Stored secrets
        are dropped when their destination changed (they must be typed again)."""
        merged = self.stored_credentials()
        if self.destination_changed():
            for key in self.secret_keys:
                merged.pop(key, None)
        for name, value in data.items():
            if not name.startswith(PREFIX):
                continue
            key = name.removeprefix(PREFIX)
            if key in self.secret_keys:
                if value:
                    merged[key] = value
            elif value not in (None, ""):
                merged[key] = value
            else:
                merged.pop(key, None)
        return merged

    def save(self, commit: bool = True) -> Client:
        client: Client = super().save(commit=False)
        client.type = self.client_type
        new_credentials = self.merged_credentials(self.cleaned_data)
        if client.pk and new_credentials != (client.credentials or {}):
            # New credentials: the next run tries them (a pause for refused ones ends and
            # its contacts are queued again).
            client_accepted(client)
        client.credentials = new_credentials
        self.apply_type_settings(client)
        if commit:
            client.save()
        return client

    def apply_type_settings(self, client: Client) -> None:
        """Subclasses copy type-specific options into ``client.settings``."""


class MagentoClientForm(ClientForm):
    client_type = ClientType.MAGENTO
    secret_keys = ("consumer_secret", "access_token", "access_token_secret", "token")
    required_keys = {
        "oauth1": ("consumer_key", "consumer_secret", "access_token", "access_token_secret"),
        "token": ("token",),
    }

    cred_method = forms.ChoiceField(
        label="Authentication",
        choices=[
            ("oauth1", "Integration (OAuth 1.0a) — recommended"),
            ("token", "Access token (Bearer)"),
        ],
        initial="oauth1",
        help_text="System › Extensions › Integrations in the Magento admin shows the four "
        "OAuth values after you activate the integration.",
    )
    cred_consumer_key = plain_field("Consumer key")
    cred_consumer_secret = secret_field("Consumer secret")
    cred_access_token = secret_field("Access token")
    cred_access_token_secret = secret_field("Access token secret")
    cred_token = secret_field("Bearer token", "Only for the access-token method.")
    subscribers_source = forms.ChoiceField(
        label="Newsletter subscribers from",
        choices=[
            ("customers", "Customers' subscription flag (no guests)"),
            ("rest", "Subscriber REST route (extension)"),
            ("sql", "Read-only SQL (newsletter_subscriber table)"),
        ],
        initial="customers",
        help_text="Where the Emarsys sync reads newsletter subscribers.",
    )
    subscribers_dsn = secret_field(
        "Subscriber SQL DSN", "mysql://user:password@host/db — only for the SQL source."
    )
    subscribers_table_prefix = forms.CharField(
        label="Table prefix", required=False, help_text="Magento's table prefix, if any."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "base_url" in self.fields:  # absent on a view-only page
            self.fields["base_url"].required = True
            self.fields["base_url"].help_text = "The store's URL, e.g. https://shop.example.com."
        subs = (self.instance.settings or {}).get("subscribers") or {}
        self.fields["subscribers_source"].initial = subs.get("source", "customers")
        self.fields["subscribers_table_prefix"].initial = subs.get("table_prefix", "")
        stored = (self.instance.credentials or {}).get("subscribers_dsn")
        state = "A DSN is stored; leave empty to keep it." if stored else "Not set."
        self.fields["subscribers_dsn"].help_text += " " + state

    def method(self, data: dict[str, Any]) -> str:
        return str(data.get("cred_method") or "oauth1")

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean() or {}
        stored = (self.instance.credentials or {}).get("subscribers_dsn")
        if data.get("subscribers_source") == "sql" and not (data.get("subscribers_dsn") or stored):
            self.add_error("subscribers_dsn", "The SQL source needs a DSN.")
        if data.get("subscribers_source") and self.instance.pk:
            for message in self._profile_conflicts(str(data["subscribers_source"])):
                self.add_error("subscribers_source", message)
        return data

    def _profile_conflicts(self, source: str) -> list[str]:
        """Profiles reading this store that the new source could not serve (e.g. guest
        subscribers from the customers' flag): refused, never silently reduced."""
        candidate = Client.objects.get(pk=self.instance.pk)
        candidate.settings = {
            **(candidate.settings or {}),
            "subscribers": {
                **((candidate.settings or {}).get("subscribers") or {}),
                "source": source,
            },
        }
        out = []
        for profile in Profile.objects.filter(source_client_id=self.instance.pk):
            profile.source_client = candidate
            try:
                errors = registry.get(profile.type).validate_settings(profile)
            except registry.UnknownProfileType:
                continue
            out += [f"Profile '{profile.name}': {m}" for m in errors.get("export_types", [])]
        return out

    def apply_type_settings(self, client: Client) -> None:
        settings = dict(client.settings or {})
        subs = dict(settings.get("subscribers") or {})
        subs["source"] = self.cleaned_data["subscribers_source"]
        subs["table_prefix"] = self.cleaned_data.get("subscribers_table_prefix", "")
        subs.pop("dsn", None)
        settings["subscribers"] = subs
        client.settings = settings
        if self.cleaned_data.get("subscribers_dsn"):
            # The DSN holds a database password: encrypted with the other credentials.
            client.credentials = {
                **(client.credentials or {}),
                "subscribers_dsn": self.cleaned_data["subscribers_dsn"],
            }


class FreeAgentClientForm(ClientForm):
    client_type = ClientType.FREEAGENT
    secret_keys = ("client_secret",)
    required_keys = {"": ("client_id", "client_secret")}
    destination_fields = ("environment", "base_url")

    cred_client_id = plain_field(
        "OAuth identifier", "From your app at dev.freeagent.com (the “OAuth identifier”)."
    )
    cred_client_secret = secret_field("OAuth secret")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "environment" not in self.fields:  # a view-only page
            return
        self.fields["environment"].widget = AdminRadioSelect(
            attrs={"class": "radiolist"}, choices=Environment.choices
        )
        self.fields[
            "environment"
        ].help_text = (
            "Use Sandbox while testing, to avoid creating test contacts in your live account."
        )
        self.fields[
            "base_url"
        ].help_text = "Only for “Custom base URL”: the API root ending in /v2."

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean() or {}
        if data.get("environment") == Environment.CUSTOM and not data.get("base_url"):
            self.add_error("base_url", "A custom environment needs its API base URL.")
        return data

    def apply_type_settings(self, client: Client) -> None:
        # Tokens belong to one app on one server: a change of either needs a new connect.
        if self.instance.pk and {"environment", "base_url", "cred_client_id"} & set(
            self.changed_data
        ):
            client.token_state = {}
            settings = dict(client.settings or {})
            settings.pop("connected_company", None)
            client.settings = settings


class EmarsysClientForm(ClientForm):
    client_type = ClientType.EMARSYS
    secret_keys = ("client_secret", "secret")
    required_keys = {"oauth2": ("client_id", "client_secret"), "wsse": ("username", "secret")}
    destination_fields = ("base_url", "cred_token_url")

    cred_method = forms.ChoiceField(
        label="Authentication",
        choices=[("oauth2", "OAuth 2.0 client credentials"), ("wsse", "WSSE (API user)")],
        initial="oauth2",
        help_text="Emarsys › Management › Security Settings › API credentials.",
    )
    cred_client_id = plain_field("Client ID", "OAuth 2.0 only.")
    cred_client_secret = secret_field("Client secret", "OAuth 2.0 only.")
    cred_token_url = plain_field("Token URL", "OAuth 2.0 only; empty = Emarsys' default.")
    cred_username = plain_field("API user name", "WSSE only.")
    cred_secret = secret_field("API secret", "WSSE only.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "base_url" not in self.fields:  # a view-only page
            return
        self.fields["base_url"].required = True
        self.fields["base_url"].initial = self.fields["base_url"].initial or (
            EMARSYS_DEFAULT_BASE_URL
        )
        self.fields["base_url"].help_text = f"Usually {EMARSYS_DEFAULT_BASE_URL}."

    def method(self, data: dict[str, Any]) -> str:
        return str(data.get("cred_method") or "oauth2")


CLIENT_FORMS: dict[str, type[ClientForm]] = {
    ClientType.MAGENTO: MagentoClientForm,
    ClientType.FREEAGENT: FreeAgentClientForm,
    ClientType.EMARSYS: EmarsysClientForm,
}

CLIENT_FIELDSETS: dict[str, list[tuple[str | None, dict[str, Any]]]] = {
    ClientType.MAGENTO: [
        (None, {"fields": ["name", "type", "base_url", "store_code"]}),
        (
            "Credentials",
            {
                "fields": [
                    "cred_method",
                    "cred_consumer_key",
                    "cred_consumer_secret",
                    "cred_access_token",
                    "cred_access_token_secret",
                    "cred_token",
                ],
                "description": "Stored encrypted. Secrets are never shown again.",
            },
        ),
        (
            "Newsletter subscribers",
            {"fields": ["subscribers_source", "subscribers_dsn", "subscribers_table_prefix"]},
        ),
    ],
    ClientType.FREEAGENT: [
        (None, {"fields": ["name", "type", "environment", "base_url"]}),
        (
            "OAuth app",
            {
                "fields": ["cred_client_id", "cred_client_secret"],
                "description": "Create an app at dev.freeagent.com, register the redirect URI "
                "shown above, then save and click “Connect to FreeAgent”.",
            },
        ),
    ],
    ClientType.EMARSYS: [
        (None, {"fields": ["name", "type", "base_url"]}),
        (
            "Credentials",
            {
                "fields": [
                    "cred_method",
                    "cred_client_id",
                    "cred_client_secret",
                    "cred_token_url",
                    "cred_username",
                    "cred_secret",
                ],
                "description": "Stored encrypted. Secrets are never shown again.",
            },
        ),
    ],
}
