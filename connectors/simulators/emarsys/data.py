"""Built-in data of the Emarsys simulator: the 49 system fields and their choices.

The field table follows the documented system-field appendix (ids 0-48, read-only 0,
27-30, 32-34, 36, 47, 48). Choice ids are the simulator's own (real accounts differ), but
they are strings like the real API's.
"""

from __future__ import annotations

from dataclasses import dataclass

# (id, name, application_type, read_only)
SYSTEM_FIELDS: tuple[tuple[int, str, str, bool], ...] = (
    (0, "Interests", "interests", True),
    (1, "First Name", "shorttext", False),
    (2, "Last Name", "shorttext", False),
    (3, "E-Mail", "longtext", False),
    (4, "Date of Birth", "birthdate", False),
    (5, "Gender", "singlechoice", False),
    (6, "Marital Status", "singlechoice", False),
    (7, "Children", "singlechoice", False),
    (8, "Education", "singlechoice", False),
    (9, "Title", "singlechoice", False),
    (10, "Address", "longtext", False),
    (11, "City", "shorttext", False),
    (12, "State", "shorttext", False),
    (13, "ZIP Code", "shorttext", False),
    (14, "Country", "singlechoice", False),
    (15, "Phone", "shorttext", False),
    (16, "Fax", "fax", False),
    (17, "Job Position", "singlechoice", False),
    (18, "Company", "longtext", False),
    (19, "Department", "singlechoice", False),
    (20, "Industry", "singlechoice", False),
    (21, "Phone (office)", "shorttext", False),
    (22, "Fax (office)", "fax", False),
    (23, "Number of Employees", "singlechoice", False),
    (24, "Annual Revenue (in 000 EUR)", "singlechoice", False),
    (25, "URL", "url", False),
    (26, "Preferred e-mail format", "singlechoice", False),
    (27, "Avg. length of visit (minutes)", "special", True),
    (28, "Page views per day", "special", True),
    (29, "Days since last e-mail sent", "special", True),
    (30, "Response rate (% of campaigns sent)", "special", True),
    (31, "Opt-In", "special", False),
    (32, "User status", "special", True),
    (33, "Contact source", "special", True),
    (34, "Contact form", "special", True),
    (35, "Registration Language", "singlechoice", False),
    (36, "Newsletter", "special", True),
    (37, "Mobile", "shorttext", False),
    (38, "First Name of Partner", "shorttext", False),
    (39, "Birthdate of Partner", "birthdate", False),
    (40, "Anniversary", "date", False),
    (41, "Company Address", "longtext", False),
    (42, "Zip Code (office)", "shorttext", False),
    (43, "City (office)", "shorttext", False),
    (44, "State (office)", "shorttext", False),
    (45, "Country (office)", "singlechoice", False),
    (46, "Salutation", "singlechoice", False),
    (47, "E-Mail valid", "special", True),
    (48, "Date of first registration", "special", True),
)

STRING_IDS: dict[int, str] = {
    0: "interests",
    1: "first_name",
    2: "last_name",
    3: "email",
    4: "birth_date",
    5: "gender",
    9: "title",
    10: "address",
    11: "city",
    12: "state",
    13: "zip",
    14: "country",
    15: "phone",
    18: "company",
    31: "optin",
    35: "language",
    37: "mobile",
    46: "salutation",
}

_COUNTRIES = (
    "Austria", "Belgium", "Canada", "Denmark", "France", "Germany", "Ireland", "Italy",
    "Netherlands", "Poland", "Portugal", "Spain", "Sweden", "Switzerland", "United Kingdom",
    "United States of America",
)  # fmt: skip

CHOICES: dict[int, tuple[tuple[str, str], ...]] = {
    5: (("1", "Male"), ("2", "Female"), ("3", "Other")),
    6: (("1", "Single"), ("2", "Married"), ("3", "Divorced"), ("4", "Widowed")),
    7: (("1", "No"), ("2", "Yes")),
    8: (("1", "Secondary school"), ("2", "University")),
    9: (("1", "Dr."), ("2", "Prof."), ("3", "Prof. Dr.")),
    14: tuple((str(i), name) for i, name in enumerate(_COUNTRIES, start=1)),
    26: (("1", "HTML"), ("2", "Text only")),
    31: (("1", "True"), ("2", "False")),
    35: (("1", "English"), ("2", "German"), ("3", "French"), ("4", "Spanish")),
    46: (("1", "Mr."), ("2", "Ms."), ("3", "Mrs."), ("4", "Mx.")),
}
CHOICES[45] = CHOICES[14]

CREATABLE_TYPES = frozenset({"shorttext", "longtext", "largetext", "date", "numeric", "url"})
CHOICE_TYPES = frozenset({"singlechoice", "multichoice"})
DATE_TYPES = frozenset({"date", "birthdate"})
FIRST_CUSTOM_FIELD_ID = 100


@dataclass
class FieldDef:
    """One contact field of the simulated account."""

    id: int
    name: str
    application_type: str
    read_only: bool = False
    string_id: str = ""

    def as_json(self) -> dict[str, str]:
        """List form: ids come back as strings."""
        return {
            "id": str(self.id),
            "name": self.name,
            "application_type": self.application_type,
            "string_id": self.string_id,
        }


def system_fields() -> dict[int, FieldDef]:
    """A fresh copy of the system fields, keyed by id."""
    return {
        fid: FieldDef(fid, name, kind, read_only, STRING_IDS.get(fid, ""))
        for fid, name, kind, read_only in SYSTEM_FIELDS
    }
