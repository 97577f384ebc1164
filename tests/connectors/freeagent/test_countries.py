"""ISO-2 → FreeAgent country names, and the echo check after a write."""

from __future__ import annotations

import json

import pytest

from connectors.freeagent.countries import (
    COUNTRY_NAMES,
    country_kept,
    country_name,
    is_freeagent_country,
)

EU_NAMES = [
    "Austria",
    "Belgium",
    "Bulgaria",
    "Croatia",
    "Cyprus",
    "Denmark",
    "Estonia",
    "Finland",
    "France",
    "Germany",
    "Greece",
    "Hungary",
    "Ireland",
    "Italy",
    "Latvia",
    "Lithuania",
    "Luxembourg",
    "Malta",
    "Netherlands",
    "Poland",
    "Portugal",
    "Romania",
    "Slovenia",
    "Spain",
    "Sweden",
]
EU_NAMES += ["Czech Republic", "Slovakia"]


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("CZ", "Czech Republic"),
        ("SK", "Slovakia"),
        ("GB", "United Kingdom"),
        ("gb", "United Kingdom"),
        ("UK", "United Kingdom"),
        ("DE", "Germany"),
        ("IE", "Ireland"),
        ("US", "United States"),
        ("IM", "Isle of Man"),
        ("Czechia", "Czech Republic"),
        ("slovak republic", "Slovakia"),
        ("Côte d'Ivoire", "Ivory Coast"),
    ],
)
def test_country_name(code: str, name: str) -> None:
    assert country_name(code) == name


def test_unknown_and_empty() -> None:
    assert country_name("XX") is None
    assert country_name("") is None
    assert country_name(None) is None
    assert country_name("Narnia") is None


def test_table_covers_every_iso_country_once() -> None:
    assert len(COUNTRY_NAMES) == 249
    assert all(len(code) == 2 and code.isupper() for code in COUNTRY_NAMES)
    assert len(set(COUNTRY_NAMES.values())) == len(COUNTRY_NAMES)


def test_eu_names_are_freeagents_vat_moss_spellings() -> None:
    names = set(COUNTRY_NAMES.values())
    assert set(EU_NAMES) <= names
    assert "Czechia" not in names
    assert "Slovak Republic" not in names
    assert is_freeagent_country("Czech Republic")
    assert not is_freeagent_country("Czechia")


def test_country_kept() -> None:
    assert country_kept("Czech Republic", "Czech Republic")
    assert country_kept("Czechia", "Czech Republic")
    assert not country_kept("Czech Republic", "United Kingdom")  # silently fell back
    assert not country_kept("France", None)
    assert country_kept(None, "United Kingdom")


def test_table_is_json_safe() -> None:
    assert json.loads(json.dumps(COUNTRY_NAMES))["CZ"] == "Czech Republic"
