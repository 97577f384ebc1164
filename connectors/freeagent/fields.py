"""The writable attributes of a FreeAgent contact (reference §6.3), shared by the client's
error parsing and the simulator's validation."""

from __future__ import annotations

STRING_FIELDS = (
    "organisation_name",
    "first_name",
    "last_name",
    "email",
    "billing_email",
    "phone_number",
    "mobile",
    "address1",
    "address2",
    "address3",
    "town",
    "region",
    "postcode",
    "country",
    "charge_sales_tax",
    "locale",
    "sales_tax_registration_number",
    "status",
)
BOOL_FIELDS = ("contact_name_on_invoices", "uses_contact_invoice_sequence")
INT_FIELDS = ("default_payment_terms_in_days",)
WRITABLE = frozenset(STRING_FIELDS + BOOL_FIELDS + INT_FIELDS)
