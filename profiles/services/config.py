"""Config as code: clients and profiles from YAML (``load_config``) and back (``dump_config``).

Loading is idempotent (matched by name), all-or-nothing (every error is reported with its
path, and nothing is written unless all of it is valid), and interpolates ``${ENV_VAR}``
so secrets stay out of the file. Dumping never writes a secret: it writes ``${…}``
placeholders named after the client, ready to be filled from the environment.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from profiles import registry
from profiles.models import (
    PRESET_CRON,
    ApiBehaviour,
    Client,
    ClientType,
    Environment,
    Profile,
    SchedulePreset,
)
from profiles.services.client_rules import base_url_problem, store_code_problem
from profiles.services.pause import client_accepted

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

# Which auth keys are secret (dumped as placeholders) per client type.
SECRET_KEYS = {
    "consumer_secret",
    "access_token",
    "access_token_secret",
    "token",
    "client_secret",
    "refresh_token",
    "secret",
    "password",
    "dsn",
    "subscribers_dsn",
}
TOKEN_KEYS = ("access_token", "refresh_token", "expires_at")
COMMON_PROFILE_KEYS = {
    "name",
    "type",
    "source",
    "client",
    "status",
    "schedule",
    "process_batch_size",
    "enable_retry_on_failure",
    "retry_max_attempts",
    "api_behaviour",
    "alerts",
    "deletions",
}
CLIENT_KEYS = {
    "name",
    "type",
    "base_url",
    "environment",
    "store_code",
    "auth",
    "subscribers",
    "rate_limit",
}


class ConfigError(Exception):
    """The file is not valid; ``errors`` lists every problem with its path."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("\n".join(errors))


@dataclass
class ConfigResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def interpolate(value: Any, *, path: str, errors: list[str]) -> Any:
    """Replace ``${NAME}`` with the environment variable NAME, recursively."""
    if isinstance(value, dict):
        return {k: interpolate(v, path=f"{path}.{k}", errors=errors) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, path=f"{path}[{i}]", errors=errors) for i, v in enumerate(value)]
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                errors.append(f"{path}: environment variable {name} is not set")
                return ""
            return os.environ[name]

        return _ENV.sub(replace, value)
    return value


def schedule_fields(value: Any) -> dict[str, str]:
    """``"*/15 * * * *"`` → the matching preset; any other cron → custom."""
    text = " ".join(str(value).split())
    for preset, cron in PRESET_CRON.items():
        if text == cron:
            return {"schedule_preset": preset, "schedule_cron": ""}
    aliases = {
        "15": SchedulePreset.EVERY_15,
        "30": SchedulePreset.EVERY_30,
        "60": SchedulePreset.EVERY_60,
    }
    if text in aliases:
        return {"schedule_preset": aliases[text], "schedule_cron": ""}
    return {"schedule_preset": SchedulePreset.CUSTOM, "schedule_cron": text}


def _client_fields(data: dict[str, Any], path: str, errors: list[str]) -> dict[str, Any]:
    unknown = set(data) - CLIENT_KEYS
    if unknown:
        errors.append(f"{path}: unknown key(s) {', '.join(sorted(unknown))}")
    ctype = data.get("type")
    if ctype not in ClientType.values:
        errors.append(f"{path}.type: must be one of {', '.join(ClientType.values)}")
        return {}
    auth = dict(data.get("auth") or {})
    values: dict[str, Any] = {
        "type": ctype,
        "base_url": str(data.get("base_url") or "").rstrip("/"),
        "store_code": str(data.get("store_code") or "default"),
        "settings": {},
    }
    env = data.get("environment")
    if ctype == ClientType.FREEAGENT:
        if env is None:
            env = Environment.CUSTOM if values["base_url"] else Environment.PRODUCTION
        tokens = {k: auth.pop(k) for k in TOKEN_KEYS if k in auth}
        if "expires_at" in tokens:
            try:
                tokens["expires_at"] = float(tokens["expires_at"])
            except (TypeError, ValueError):
                errors.append(f"{path}.auth.expires_at: must be epoch seconds")
        values["token_state"] = tokens
        for key in ("client_id", "client_secret"):
            if not auth.get(key):
                errors.append(f"{path}.auth.{key}: required for a FreeAgent client")
    elif ctype == ClientType.MAGENTO:
        method = auth.get("method", "oauth1")
        needed: tuple[str, ...] = (
            ("token",)
            if method == "token"
            else ("consumer_key", "consumer_secret", "access_token", "access_token_secret")
        )
        for key in needed:
            if not auth.get(key):
                errors.append(f"{path}.auth.{key}: required for Magento auth method {method}")
        if data.get("subscribers"):
            subs = dict(data["subscribers"])
            if subs.get("dsn"):
                # A database password: stored encrypted with the other credentials.
                auth["subscribers_dsn"] = subs.pop("dsn")
            values["settings"]["subscribers"] = subs
    elif ctype == ClientType.EMARSYS:
        method = auth.get("method", "oauth2")
        needed = ("username", "secret") if method == "wsse" else ("client_id", "client_secret")
        for key in needed:
            if not auth.get(key):
                errors.append(f"{path}.auth.{key}: required for Emarsys auth method {method}")
    if data.get("rate_limit"):
        values["settings"]["rate_limit"] = dict(data["rate_limit"])
    values["environment"] = env or Environment.PRODUCTION
    if values["environment"] not in Environment.values:
        errors.append(f"{path}.environment: must be one of {', '.join(Environment.values)}")
    problem = base_url_problem(ctype, values["environment"], values["base_url"])
    if problem:
        errors.append(f"{path}.base_url: {problem}")
    if ctype == ClientType.MAGENTO and (problem := store_code_problem(values["store_code"])):
        errors.append(f"{path}.store_code: {problem}")
    values["credentials"] = auth
    return values


def _profile_fields(
    data: dict[str, Any], path: str, errors: list[str], clients: dict[str, Client]
) -> dict[str, Any]:
    try:
        ptype = registry.get(str(data.get("type")))
    except registry.UnknownProfileType as exc:
        errors.append(f"{path}.type: {exc}")
        return {}
    unknown = set(data) - COMMON_PROFILE_KEYS - set(ptype.config_keys)
    if unknown:
        errors.append(f"{path}: unknown key(s) {', '.join(sorted(unknown))}")
    for key in sorted(unused_keys(ptype) & set(data)):
        errors.append(
            f"{path}.{key}: has no effect for a {ptype.type_id} profile; leave it out"
            + (
                " (its schedules follow sync_mode, poll_interval_minutes and background_runtime)"
                if key == "schedule"
                else ""
            )
        )
    values: dict[str, Any] = {"type": ptype.type_id}
    for key, field_name in (("source", "source_client"), ("client", "client")):
        name = data.get(key)
        if name is None:
            values[field_name] = None
            continue
        if str(name) not in clients:
            errors.append(f"{path}.{key}: no client named {name!r}")
            continue
        values[field_name] = clients[str(name)]
    for key in ("status", "enable_retry_on_failure"):
        if key in data:
            values[key] = bool(data[key])
    for key in ("process_batch_size", "retry_max_attempts"):
        if key in data:
            try:
                values[key] = int(data[key])
            except (TypeError, ValueError):
                errors.append(f"{path}.{key}: must be a whole number, not {data[key]!r}")
    if "api_behaviour" in data:
        if data["api_behaviour"] not in ApiBehaviour.values:
            errors.append(f"{path}.api_behaviour: must be one of {', '.join(ApiBehaviour.values)}")
        values["api_behaviour"] = data["api_behaviour"]
    if "schedule" in data:
        values.update(schedule_fields(data["schedule"]))
    extra = {k: data[k] for k in ptype.config_keys if k in data}
    values["settings"] = ptype.settings_from_config(extra)
    for common in ("alerts", "deletions"):  # every type's (alerts, contacts.services.propagate)
        if common in data:
            values["settings"][common] = data[common]
            extra[common] = data[common]
    values["_given_settings"] = sorted(extra)
    return values


def unused_keys(ptype: registry.ProfileType) -> set[str]:
    """The config keys of common settings that have no effect for a profile type."""
    keys = {name for name in ptype.unused_fields if name in COMMON_PROFILE_KEYS}
    if ptype.unused_fields & {"schedule_preset", "schedule_cron"}:
        keys.add("schedule")
    return keys


def config_load(data: dict[str, Any]) -> ConfigResult:
    """Create or update clients and profiles from a parsed config (see module docstring)."""
    errors: list[str] = []
    if not isinstance(data, dict):
        raise ConfigError(["the file must be a mapping with 'clients' and/or 'profiles'"])
    data = interpolate(data, path="", errors=errors)
    result = ConfigResult()
    with transaction.atomic():
        clients = {c.name: c for c in Client.objects.all()}
        for index, raw in enumerate(data.get("clients") or []):
            path = f"clients[{index}]"
            if not isinstance(raw, dict) or not raw.get("name"):
                errors.append(f"{path}.name: required")
                continue
            values = _client_fields(raw, path, errors)
            if not values:
                continue
            client = clients.get(raw["name"]) or Client(name=raw["name"])
            if "token_state" in values and not _tokens_newer(values["token_state"], client):
                del values["token_state"]  # keep the stored (possibly rotated) token
            if client.pk:
                _keep_unmentioned_client_state(client, raw, values)
                secrets = ("credentials", "token_state")
                if any(k in values and values[k] != getattr(client, k) for k in secrets):
                    client_accepted(client)  # a pause for refused ones ends
            _assign(client, values, result, label=f"client {raw['name']}", path=path, errors=errors)
            clients[client.name] = client
        for index, raw in enumerate(data.get("profiles") or []):
            path = f"profiles[{index}]"
            if not isinstance(raw, dict) or not raw.get("name"):
                errors.append(f"{path}.name: required")
                continue
            values = _profile_fields(raw, path, errors, clients)
            if not values:
                continue
            profile = Profile.objects.filter(name=raw["name"]).first() or Profile(name=raw["name"])
            if not profile.pk:
                # A new profile takes its type's defaults for what the file leaves out.
                type_defaults = registry.get(values["type"]).field_defaults
                values = {**{k: v for k, v in type_defaults.items() if k not in raw}, **values}
            if profile.pk:
                # Keys the file leaves out keep their stored value (secrets stay out of
                # files; cached ids are not configuration): only what it says changes.
                given = values.pop("_given_settings")
                values["settings"] = {
                    **values["settings"],
                    **(profile.settings or {}),
                    **{k: values["settings"][k] for k in given if k in values["settings"]},
                }
            else:
                values.pop("_given_settings")
            _assign(
                profile, values, result, label=f"profile {raw['name']}", path=path, errors=errors
            )
        mentioned = {str(p.get("name")) for p in data.get("profiles") or [] if isinstance(p, dict)}
        _check_profiles_of_changed_clients(result, errors, skip=mentioned)
        if errors:
            transaction.set_rollback(True)
            raise ConfigError(list(dict.fromkeys(errors)))  # each problem once, in order
    return result


def _check_profiles_of_changed_clients(
    result: ConfigResult, errors: list[str], *, skip: set[str]
) -> None:
    """A client change (say a subscriber source that cannot serve guests) is checked
    against the profiles that use it and the file does not mention (those it mentions
    were checked as its own entries, under their own paths)."""
    names = [
        label.removeprefix("client ") for label in result.updated if label.startswith("client ")
    ]
    if not names:
        return
    for profile in Profile.objects.filter(source_client__name__in=names).select_related(
        "source_client"
    ):
        if profile.name in skip:
            continue
        try:
            problems = registry.get(profile.type).validate_settings(profile)
        except registry.UnknownProfileType:
            continue
        for key, messages in problems.items():
            errors.extend(
                f"profile '{profile.name}' (not in this file, its client changed).{key}: {m}"
                for m in messages
            )


def _keep_unmentioned_client_state(
    client: Client, raw: dict[str, Any], values: dict[str, Any]
) -> None:
    """A reloaded client keeps what the file does not mention: settings written by the app
    (e.g. the connected FreeAgent company), an omitted subscriber source or rate limit, and
    a stored subscriber DSN (a secret, kept out of files)."""
    settings = dict(client.settings or {})
    for key in ("subscribers", "rate_limit"):
        if key in raw:
            settings[key] = values["settings"].get(key, {})
    values["settings"] = settings
    stored_dsn = (client.credentials or {}).get("subscribers_dsn")
    if stored_dsn and "subscribers_dsn" not in values["credentials"]:
        values["credentials"]["subscribers_dsn"] = stored_dsn


def _tokens_newer(tokens: dict[str, Any], client: Client) -> bool:
    """Apply a file's OAuth tokens only when they are newer than the stored ones.

    No tokens in the file keeps the connection made in the admin; tokens no newer than
    the stored ones (say a re-applied dump, whose refresh token has since been rotated)
    never replace a live token with a dead one.
    """
    if not tokens.get("access_token"):
        return False
    stored = client.token_state or {}
    if not stored.get("access_token"):
        return True
    if tokens.get("access_token") == stored.get("access_token"):
        return False
    try:
        return float(tokens.get("expires_at") or 0) > float(stored.get("expires_at") or 0)
    except (TypeError, ValueError):
        return False


# Model fields whose config key is spelt otherwise (an error names what the file says).
MODEL_TO_CONFIG_KEY = {
    "schedule_cron": "schedule",
    "schedule_preset": "schedule",
    "source_client": "source",
    "credentials": "auth",
    "settings": "settings",
}


def _assign(
    obj: Client | Profile,
    values: dict[str, Any],
    result: ConfigResult,
    *,
    label: str,
    path: str,
    errors: list[str],
) -> None:
    is_new = obj.pk is None
    changed = is_new
    for key, value in values.items():
        if getattr(obj, key) != value:
            setattr(obj, key, value)
            changed = True
    if not changed:
        result.unchanged.append(label)
        return
    try:
        obj.full_clean()
    except ValidationError as exc:
        for name, messages in exc.message_dict.items():
            key = MODEL_TO_CONFIG_KEY.get(name, name)  # as the file spells it
            errors.extend(f"{path}.{key}: {m}" for m in messages)
        return
    if errors:
        return  # nothing more is saved once something is wrong (rolled back anyway)
    obj.save()
    (result.created if is_new else result.updated).append(label)


def _placeholder(client: Client, key: str) -> str:
    return _placeholder_named(client.name, key)


def _placeholder_named(name: str, key: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9]+", "_", name).upper().strip("_")
    return "${" + f"{slug}_{key.upper()}" + "}"


def config_dump() -> dict[str, Any]:
    """Every client and profile as config data, secrets replaced by ``${…}`` placeholders."""
    clients = []
    for client in Client.objects.order_by("name"):
        auth = {
            k: (_placeholder(client, k) if k in SECRET_KEYS else v)
            for k, v in (client.credentials or {}).items()
            if k != "subscribers_dsn"
        }
        if client.type == ClientType.FREEAGENT:
            for key in ("access_token", "refresh_token"):
                if (client.token_state or {}).get(key):
                    auth[key] = _placeholder(client, key)
        entry: dict[str, Any] = {"name": client.name, "type": client.type}
        if client.base_url:
            entry["base_url"] = client.base_url
        if client.type == ClientType.FREEAGENT:
            entry["environment"] = client.environment
        if client.type == ClientType.MAGENTO:
            entry["store_code"] = client.store_code
            if client.settings.get("subscribers"):
                subs = dict(client.settings["subscribers"])
                if (client.credentials or {}).get("subscribers_dsn"):
                    subs["dsn"] = _placeholder(client, "dsn")
                entry["subscribers"] = subs
        if client.settings.get("rate_limit"):
            entry["rate_limit"] = client.settings["rate_limit"]
        entry["auth"] = auth
        clients.append(entry)
    profiles = []
    for profile in Profile.objects.select_related("client", "source_client").order_by("name"):
        entry = {
            "name": profile.name,
            "type": profile.type,
            "source": profile.source_client.name if profile.source_client else None,
            "client": profile.client.name if profile.client else None,
            "status": profile.status,
            "schedule": profile.cron_expression,
            "process_batch_size": profile.process_batch_size,
            "enable_retry_on_failure": profile.enable_retry_on_failure,
            "retry_max_attempts": profile.retry_max_attempts,
            "api_behaviour": profile.api_behaviour,
        }
        extra: dict[str, Any] = {}
        with contextlib.suppress(registry.UnknownProfileType):
            ptype = registry.get(profile.type)
            for key in unused_keys(ptype):
                entry.pop(key, None)  # no effect for this type: not written
            extra = ptype.settings_to_config(profile.settings or {})
        for key, value in extra.items():
            # Type settings may hold secrets too (e.g. a webhook secret): never write them.
            if "secret" in key and value:
                extra[key] = _placeholder_named(profile.name, key)
        entry.update(extra)
        for common in ("alerts", "deletions"):
            if (profile.settings or {}).get(common):
                entry[common] = profile.settings[common]
        profiles.append(entry)
    return {"clients": clients, "profiles": profiles}
