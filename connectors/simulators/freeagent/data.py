"""Built-in data the FreeAgent simulator serves (shapes copied from real recordings).

``url`` values are paths; the simulator prefixes them with the host that served the
request, as FreeAgent does. The categories are a small subset of the alekc capture
(same four groups, same per-item keys, optional keys omitted where the capture omits them).
"""

from __future__ import annotations

from typing import Any

COMPANY: dict[str, Any] = {
    "url": "/v2/company",
    "id": 10001,
    "name": "Contact Sync Demo Ltd",
    "subdomain": "contactsync",
    "type": "UkLimitedCompany",
    "company_start_date": "2025-04-06",
    "currency": "GBP",
    "mileage_units": "miles",
    "short_date_format": "dd mmm yy",
    "freeagent_start_date": "2025-04-06",
    "first_accounting_year_end": "2026-04-05",
    "annual_accounting_periods": [{"starts_on": "2025-04-06", "ends_on": "2026-04-05"}],
    "address1": "1 Example Street",
    "town": "Exampleton",
    "postcode": "EX1 1EX",
    "country": "United Kingdom",
    "locale": "en",
    "business_category": "Online Retail",
    "cis_enabled": False,
    "cis_contractor": False,
    "cis_subcontractor": False,
    "locked_attributes": ["currency"],
    "created_at": "2025-10-03T15:57:01.000Z",
    "updated_at": "2025-10-03T15:57:54.000Z",
    "sales_tax_registration_status": "Not Registered",
    "ec_vat_reporting_enabled": False,
    "sales_tax_name": "VAT",
    "sales_tax_effective_date": "2025-04-06",
    "sales_tax_rates": ["20.0", "5.0", "0.0"],
    "supports_auto_sales_tax_on_purchases": True,
    "initially_on_frs": False,
    "sales_tax_is_value_added": True,
    "initial_vat_basis": "Invoice",
}

USER: dict[str, Any] = {
    "url": "/v2/users/20001",
    "first_name": "Sam",
    "last_name": "Example",
    "hidden": False,
    "email": "owner@example.com",
    "role": "Owner",
    "permission_level": 8,
    "opening_mileage": "0.0",
    "updated_at": "2025-10-03T20:44:10.000Z",
    "created_at": "2025-10-03T15:57:01.000Z",
}

CATEGORIES: dict[str, list[dict[str, Any]]] = {
    "admin_expenses_categories": [
        {
            "allowable_for_tax": True,
            "auto_sales_tax_rate": "Standard rate",
            "description": "Accommodation and Meals",
            "group_description": "Admin expenses (normally VATable)",
            "nominal_code": "285",
            "tax_reporting_name": "Travel and subsistence expenses",
            "url": "/v2/categories/285",
        },
        {
            "allowable_for_tax": True,
            "auto_sales_tax_rate": "Standard rate",
            "description": "Accountancy Fees",
            "group_description": "Admin expenses (normally VATable)",
            "nominal_code": "292",
            "tax_reporting_name": "Accountancy fees",
            "url": "/v2/categories/292",
        },
        {
            "allowable_for_tax": True,
            "auto_sales_tax_rate": "Standard rate",
            "description": "Advertising and Promotion",
            "group_description": "Admin expenses (normally VATable)",
            "nominal_code": "288",
            "tax_reporting_name": "Advertising and promotional costs",
            "url": "/v2/categories/288",
        },
        {
            "allowable_for_tax": True,
            "auto_sales_tax_rate": "Zero rate",
            "description": "Bank/Finance Charges",
            "group_description": "Admin expenses (normally Zero-VAT)",
            "nominal_code": "363",
            "tax_reporting_name": "Finance charges",
            "url": "/v2/categories/363",
        },
        {
            "allowable_for_tax": True,
            "auto_sales_tax_rate": "Zero rate",
            "description": "Books and Journals",
            "group_description": "Admin expenses (normally Zero-VAT)",
            "nominal_code": "359",
            "tax_reporting_name": "Stationery",
            "url": "/v2/categories/359",
        },
    ],
    "cost_of_sales_categories": [
        {
            "allowable_for_tax": True,
            "auto_sales_tax_rate": "Standard rate",
            "description": "Commission Paid",
            "group_description": "Cost of sales (normally VATable)",
            "nominal_code": "102",
            "tax_reporting_name": "Commissions Payable",
            "url": "/v2/categories/102",
        },
        {
            "allowable_for_tax": True,
            "auto_sales_tax_rate": "Standard rate",
            "description": "Cost of Sales",
            "group_description": "Cost of sales (normally VATable)",
            "nominal_code": "101",
            "tax_reporting_name": "Purchases",
            "url": "/v2/categories/101",
        },
        {
            "allowable_for_tax": True,
            "auto_sales_tax_rate": "Standard rate",
            "description": "Equipment Hire",
            "group_description": "Cost of sales (normally VATable)",
            "nominal_code": "104",
            "tax_reporting_name": "Material Costs",
            "url": "/v2/categories/104",
        },
    ],
    "income_categories": [
        {
            "auto_sales_tax_rate": "Standard rate",
            "description": "Sales",
            "group_description": "Income (normally VATable)",
            "nominal_code": "001",
            "url": "/v2/categories/001",
        }
    ],
    "general_categories": [
        {
            "description": "Interest Received",
            "nominal_code": "051",
            "tax_reporting_name": "Interest Received",
            "url": "/v2/categories/051",
        },
        {
            "description": "Flat Rate Scheme Surplus",
            "nominal_code": "055",
            "tax_reporting_name": "Turnover",
            "url": "/v2/categories/055",
        },
        {
            "description": "Refund of Other Tax Received",
            "nominal_code": "056",
            "tax_reporting_name": "Other Income",
            "url": "/v2/categories/056",
        },
        {
            "description": "PAYE/NI Online Filing Incentive Claimed",
            "nominal_code": "057",
            "tax_reporting_name": "Other Income",
            "url": "/v2/categories/057",
        },
        {
            "description": "Grant Income",
            "nominal_code": "058",
            "tax_reporting_name": "Other Income",
            "url": "/v2/categories/058",
        },
    ],
}
