"""The demo store's configuration: websites, store groups/views, configs, groups, metadata.

Shapes follow the 2.4.8 OpenAPI definitions (``store-data-website-interface``,
``store-data-store-interface``, ``store-data-store-config-interface``,
``customer-data-group-interface``, ``customer-data-attribute-metadata-interface``,
``directory-data-country-information-interface``). As in a real shop the lists include
the ``admin`` website/store with id 0.
"""

from __future__ import annotations

from typing import Any

from connectors.simulators.magento.seed_data import COUNTRIES

WEBSITES: list[dict[str, Any]] = [
    {"id": 0, "code": "admin", "name": "Admin", "default_group_id": 0},
    {"id": 1, "code": "base", "name": "Main Website", "default_group_id": 1},
    {"id": 2, "code": "eu", "name": "EU Website", "default_group_id": 2},
]

STORE_GROUPS: list[dict[str, Any]] = [
    {
        "id": 0,
        "website_id": 0,
        "root_category_id": 0,
        "default_store_id": 0,
        "name": "Default",
        "code": "default",
    },
    {
        "id": 1,
        "website_id": 1,
        "root_category_id": 2,
        "default_store_id": 1,
        "name": "Main Website Store",
        "code": "main_website_store",
    },
    {
        "id": 2,
        "website_id": 2,
        "root_category_id": 2,
        "default_store_id": 3,
        "name": "EU Store",
        "code": "eu_store",
    },
]

# id → view; "locale" and "currency" feed storeConfigs.
STORE_VIEWS: dict[int, dict[str, Any]] = {
    0: {
        "code": "admin",
        "name": "Admin",
        "website_id": 0,
        "store_group_id": 0,
        "locale": "en_US",
        "currency": "GBP",
    },
    1: {
        "code": "default",
        "name": "Default Store View",
        "website_id": 1,
        "store_group_id": 1,
        "locale": "en_GB",
        "currency": "GBP",
    },
    2: {
        "code": "ie",
        "name": "Ireland English",
        "website_id": 1,
        "store_group_id": 1,
        "locale": "en_IE",
        "currency": "EUR",
    },
    3: {
        "code": "de",
        "name": "Deutsch",
        "website_id": 2,
        "store_group_id": 2,
        "locale": "de_DE",
        "currency": "EUR",
    },
    4: {
        "code": "fr",
        "name": "Français",
        "website_id": 2,
        "store_group_id": 2,
        "locale": "fr_FR",
        "currency": "EUR",
    },
    5: {
        "code": "nl",
        "name": "Nederlands",
        "website_id": 2,
        "store_group_id": 2,
        "locale": "nl_NL",
        "currency": "EUR",
    },
}
WEBSITE_OF_STORE = {k: v["website_id"] for k, v in STORE_VIEWS.items()}
STORE_BY_CODE = {v["code"]: k for k, v in STORE_VIEWS.items()}


def store_views() -> list[dict[str, Any]]:
    """``GET /V1/store/storeViews``."""
    return [
        {
            "id": k,
            "code": v["code"],
            "name": v["name"],
            "website_id": v["website_id"],
            "store_group_id": v["store_group_id"],
            "is_active": 1,
        }
        for k, v in STORE_VIEWS.items()
    ]


def store_configs(base_url: str, codes: list[str] | None = None) -> list[dict[str, Any]]:
    """``GET /V1/store/storeConfigs`` (optionally only ``storeCodes``)."""
    base = base_url.rstrip("/") + "/"
    out = []
    for store_id, view in STORE_VIEWS.items():
        if codes and view["code"] not in codes:
            continue
        out.append(
            {
                "id": store_id,
                "code": view["code"],
                "website_id": view["website_id"],
                "locale": view["locale"],
                "base_currency_code": "GBP" if view["website_id"] <= 1 else "EUR",
                "default_display_currency_code": view["currency"],
                "timezone": "Europe/London" if view["website_id"] <= 1 else "Europe/Berlin",
                "weight_unit": "kgs",
                "base_url": base,
                "base_link_url": base,
                "base_static_url": f"{base}static/version1700000000/",
                "base_media_url": f"{base}media/",
                "secure_base_url": base,
                "secure_base_link_url": base,
                "secure_base_static_url": f"{base}static/version1700000000/",
                "secure_base_media_url": f"{base}media/",
            }
        )
    return out


CUSTOMER_GROUPS: list[dict[str, Any]] = [
    {"id": 0, "code": "NOT LOGGED IN", "tax_class_id": 3, "tax_class_name": "Retail Customer"},
    {"id": 1, "code": "General", "tax_class_id": 3, "tax_class_name": "Retail Customer"},
    {"id": 2, "code": "Wholesale", "tax_class_id": 3, "tax_class_name": "Retail Customer"},
    {"id": 3, "code": "Retailer", "tax_class_id": 3, "tax_class_name": "Retail Customer"},
]


def _attribute(
    code: str,
    label: str,
    frontend_input: str,
    backend_type: str,
    *,
    required: bool = False,
    system: bool = True,
    options: list[dict[str, Any]] | None = None,
    sort_order: int = 0,
) -> dict[str, Any]:
    return {
        "frontend_input": frontend_input,
        "input_filter": "",
        "store_label": label,
        "validation_rules": [],
        "multiline_count": 0,
        "visible": True,
        "required": required,
        "data_model": "",
        "options": options or [],
        "frontend_class": "",
        "user_defined": not system,
        "sort_order": sort_order,
        "frontend_label": label,
        "note": "",
        "system": system,
        "backend_type": backend_type,
        "is_used_in_grid": True,
        "is_visible_in_grid": True,
        "is_filterable_in_grid": True,
        "is_searchable_in_grid": code in ("email", "firstname", "lastname"),
        "attribute_code": code,
    }


CUSTOMER_ATTRIBUTES: list[dict[str, Any]] = [
    _attribute("prefix", "Name Prefix", "text", "static", sort_order=30),
    _attribute("firstname", "First Name", "text", "static", required=True, sort_order=40),
    _attribute("middlename", "Middle Name/Initial", "text", "static", sort_order=50),
    _attribute("lastname", "Last Name", "text", "static", required=True, sort_order=60),
    _attribute("suffix", "Name Suffix", "text", "static", sort_order=70),
    _attribute("email", "Email", "text", "static", required=True, sort_order=80),
    _attribute("group_id", "Group", "select", "static", required=True, sort_order=25),
    _attribute("dob", "Date of Birth", "date", "static", sort_order=90),
    _attribute("taxvat", "Tax/VAT Number", "text", "static", sort_order=100),
    _attribute(
        "gender",
        "Gender",
        "select",
        "static",
        sort_order=110,
        options=[
            {"label": " ", "value": ""},
            {"label": "Male", "value": "1"},
            {"label": "Female", "value": "2"},
            {"label": "Not Specified", "value": "3"},
        ],
    ),
    _attribute(
        "loyalty_tier",
        "Loyalty Tier",
        "select",
        "int",
        system=False,
        sort_order=200,
        options=[
            {"label": "Bronze", "value": "1"},
            {"label": "Silver", "value": "2"},
            {"label": "Gold", "value": "3"},
        ],
    ),
    _attribute(
        "acquisition_source", "Acquisition Source", "text", "varchar", system=False, sort_order=210
    ),
]


def countries() -> list[dict[str, Any]]:
    """``GET /V1/directory/countries`` for the countries the demo store allows."""
    out = []
    for code, country in sorted(COUNTRIES.items()):
        entry: dict[str, Any] = {
            "id": code,
            "two_letter_abbreviation": code,
            "three_letter_abbreviation": _ISO3[code],
            "full_name_locale": country.name,
            "full_name_english": country.name,
        }
        regions = {(c[2], c[3], c[4]) for c in country.cities if c[4]}
        if regions:
            entry["available_regions"] = [
                {"id": str(rid), "code": rcode, "name": name}
                for name, rcode, rid in sorted(regions, key=lambda r: r[2])
            ]
        out.append(entry)
    return out


_ISO3 = {
    "GB": "GBR",
    "IE": "IRL",
    "DE": "DEU",
    "AT": "AUT",
    "FR": "FRA",
    "NL": "NLD",
    "CZ": "CZE",
    "SK": "SVK",
    "ES": "ESP",
    "IT": "ITA",
}
