"""Every command line the README shows runs as written (each with --help)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()
WRAPPER = REPO / ".venv" / "bin" / "contactsync"
ACTIONS = {"fa_contact", "emarsys_contact", "runs"}


def _commands() -> list[tuple[str, ...]]:
    found: set[tuple[str, ...]] = set()
    for match in re.finditer(r"\.venv/bin/contactsync ([a-z_]+)(?: ([a-z][a-z-]*))?", README):
        command, action = match.group(1), match.group(2)
        found.add((command, action) if command in ACTIONS and action else (command,))
    return sorted(found)


COMMANDS = _commands()


def test_the_readme_shows_the_cli() -> None:
    assert ("fa_contact", "export") in COMMANDS
    assert ("emarsys_contact", "export") in COMMANDS
    assert len(COMMANDS) >= 10


@pytest.mark.parametrize("words", COMMANDS, ids=" ".join)
def test_each_readme_command_runs(words: tuple[str, ...]) -> None:
    # As a newcomer runs it: the wrapper make venv writes (no variables set), else the
    # same manage.py the wrapper runs.
    runner = [str(WRAPPER)] if WRAPPER.exists() else [sys.executable, "manage.py"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    if not WRAPPER.exists():
        env["DJANGO_DEBUG"] = "1"
    done = subprocess.run(
        [*runner, *words, "--help"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage:" in done.stdout


@pytest.mark.skipif(not WRAPPER.exists(), reason="make venv writes the wrapper")
def test_the_wrapper_works_from_any_directory(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    done = subprocess.run(
        [str(WRAPPER), "help"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "fa_contact" in done.stdout
