"""docker-compose.yml, Dockerfile and .env.example agree (no Docker needed to check it)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
DOCKERFILE = (REPO / "Dockerfile").read_text()
EXAMPLE = (REPO / ".env.example").read_text()
DOCUMENTED = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", EXAMPLE, re.M))
SERVICES = COMPOSE["services"]
APP_SERVICES = [name for name, s in SERVICES.items() if s.get("image") == "contact-sync:latest"]


def _interpolated(text: str) -> set[str]:
    """Variables compose substitutes: ${VAR…} or $VAR, not the escaped $$VAR."""
    names = set()
    for match in re.finditer(
        r"(?<!\$)\$(?:\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}|([A-Za-z_]\w*))", text
    ):
        names.add(match.group(1) or match.group(2))
    return names


def test_every_interpolated_variable_is_documented() -> None:
    used = _interpolated((REPO / "docker-compose.yml").read_text())
    assert used <= DOCUMENTED, f"not in .env.example: {sorted(used - DOCUMENTED)}"


def test_every_variable_the_settings_read_is_documented() -> None:
    read = set()
    for path in (REPO / "syncapp" / "settings").glob("*.py"):
        read |= set(
            re.findall(
                r"env\.(?:text|flag|integer|items|database|broker_url)\(\s*\"([A-Z0-9_]+)\"",
                path.read_text(),
            )
        )
    assert read, "the settings read no variables?"
    assert read <= DOCUMENTED, f"not in .env.example: {sorted(read - DOCUMENTED)}"


def test_the_app_services_use_the_image_and_the_env_file() -> None:
    assert set(APP_SERVICES) >= {"migrate", "web", "worker", "beat", "flower"}
    for name in APP_SERVICES:
        assert SERVICES[name]["env_file"] == ".env", name


def test_web_worker_and_beat_have_healthchecks() -> None:
    for name in ("web", "worker", "beat"):
        check = SERVICES[name].get("healthcheck", {}).get("test")
        assert check, f"{name} has no healthcheck"
    assert "/healthz" in " ".join(SERVICES["web"]["healthcheck"]["test"])
    assert "inspect ping" in " ".join(SERVICES["worker"]["healthcheck"]["test"])
    assert "healthcheck beat" in " ".join(SERVICES["beat"]["healthcheck"]["test"])


def test_one_beat_only() -> None:
    beats = [n for n, s in SERVICES.items() if " beat" in " ".join(map(str, _command(s)))]
    assert beats == ["beat"]
    assert SERVICES["beat"].get("deploy", {}).get("replicas", 1) == 1
    # No worker embeds a beat (-B) as well.
    for name in APP_SERVICES:
        assert "-B" not in _command(SERVICES[name]), name


def test_no_volume_over_a_path_the_image_does_not_create() -> None:
    made = set()
    for line in re.findall(r"mkdir -p ([^&\n]+)", DOCKERFILE):
        made |= set(line.split())
    for name in APP_SERVICES:
        for volume in SERVICES[name].get("volumes", []):
            target = str(volume).split(":")[1]
            assert target in made, f"{name} mounts {target}, which the Dockerfile never creates"
            # ...and owned by the user the image runs as (a named volume takes its owner).
            assert target.startswith("/app/var/"), target
    assert "chown -R app:app /app/var" in DOCKERFILE


def test_the_image_runs_as_a_user_and_installs_the_runtime_lock_only() -> None:
    assert re.search(r"^USER app$", DOCKERFILE, re.M)
    assert "requirements.lock" in DOCKERFILE
    assert "requirements-dev.lock" not in DOCKERFILE.replace(
        "(requirements-dev.lock is for development and CI)", ""
    )
    runtime = (REPO / "requirements.lock").read_text().lower()
    for tool in ("pytest", "mypy", "ruff", "playwright", "hypothesis"):
        assert f"\n{tool}==" not in runtime, tool
    assert re.search(r"^flower==", runtime, re.M)  # pinned


def test_nothing_local_goes_into_the_image() -> None:
    ignored = (REPO / ".dockerignore").read_text().split()
    for path in (".git", ".env", ".venv", "var"):
        assert path in ignored, path


def test_flower_is_off_by_default_behind_a_login_and_loopback_only() -> None:
    flower = SERVICES["flower"]
    assert flower.get("profiles") == ["monitoring"]
    assert all(str(p).startswith("127.0.0.1:") for p in flower.get("ports", []))
    assert "--basic-auth" in " ".join(_command(flower))
    assert "FLOWER_BASIC_AUTH" in DOCUMENTED


def _command(service: dict) -> list[str]:
    command = service.get("command", [])
    return command.split() if isinstance(command, str) else [str(c) for c in command]
