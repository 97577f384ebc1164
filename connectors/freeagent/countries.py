"""ISO 3166-1 alpha-2 codes to the English country names FreeAgent stores.

FreeAgent's ``country`` is a free English *name*, and it keeps its own spellings: it takes
"Czech Republic" (not "Czechia") and "Slovakia" (not "Slovak Republic"); an unknown name
is not kept (reference §6.5). Magento stores ISO-2 codes, hence this table. The EU names
follow FreeAgent's VAT MOSS list; the rest are the common English short names (ISO
3166-1 via Debian ``iso-codes``, with plain-English forms instead of the formal
"Korea, Republic of" style).

After a write, :func:`country_kept` tells whether FreeAgent echoed back what we sent.
"""

from __future__ import annotations

import unicodedata

_TABLE = """
AD Andorra
AE United Arab Emirates
AF Afghanistan
AG Antigua and Barbuda
AI Anguilla
AL Albania
AM Armenia
AO Angola
AQ Antarctica
AR Argentina
AS American Samoa
AT Austria
AU Australia
AW Aruba
AX Åland Islands
AZ Azerbaijan
BA Bosnia and Herzegovina
BB Barbados
BD Bangladesh
BE Belgium
BF Burkina Faso
BG Bulgaria
BH Bahrain
BI Burundi
BJ Benin
BL Saint Barthélemy
BM Bermuda
BN Brunei
BO Bolivia
BQ Bonaire, Sint Eustatius and Saba
BR Brazil
BS Bahamas
BT Bhutan
BV Bouvet Island
BW Botswana
BY Belarus
BZ Belize
CA Canada
CC Cocos (Keeling) Islands
CD Democratic Republic of the Congo
CF Central African Republic
CG Republic of the Congo
CH Switzerland
CI Ivory Coast
CK Cook Islands
CL Chile
CM Cameroon
CN China
CO Colombia
CR Costa Rica
CU Cuba
CV Cape Verde
CW Curaçao
CX Christmas Island
CY Cyprus
CZ Czech Republic
DE Germany
DJ Djibouti
DK Denmark
DM Dominica
DO Dominican Republic
DZ Algeria
EC Ecuador
EE Estonia
EG Egypt
EH Western Sahara
ER Eritrea
ES Spain
ET Ethiopia
FI Finland
FJ Fiji
FK Falkland Islands
FM Micronesia
FO Faroe Islands
FR France
GA Gabon
GB United Kingdom
GD Grenada
GE Georgia
GF French Guiana
GG Guernsey
GH Ghana
GI Gibraltar
GL Greenland
GM Gambia
GN Guinea
GP Guadeloupe
GQ Equatorial Guinea
GR Greece
GS South Georgia and the South Sandwich Islands
GT Guatemala
GU Guam
GW Guinea-Bissau
GY Guyana
HK Hong Kong
HM Heard Island and McDonald Islands
HN Honduras
HR Croatia
HT Haiti
HU Hungary
ID Indonesia
IE Ireland
IL Israel
IM Isle of Man
IN India
IO British Indian Ocean Territory
IQ Iraq
IR Iran
IS Iceland
IT Italy
JE Jersey
JM Jamaica
JO Jordan
JP Japan
KE Kenya
KG Kyrgyzstan
KH Cambodia
KI Kiribati
KM Comoros
KN Saint Kitts and Nevis
KP North Korea
KR South Korea
KW Kuwait
KY Cayman Islands
KZ Kazakhstan
LA Laos
LB Lebanon
LC Saint Lucia
LI Liechtenstein
LK Sri Lanka
LR Liberia
LS Lesotho
LT Lithuania
LU Luxembourg
LV Latvia
LY Libya
MA Morocco
MC Monaco
MD Moldova
ME Montenegro
MF Saint Martin
MG Madagascar
MH Marshall Islands
MK North Macedonia
ML Mali
MM Myanmar
MN Mongolia
MO Macau
MP Northern Mariana Islands
MQ Martinique
MR Mauritania
MS Montserrat
MT Malta
MU Mauritius
MV Maldives
MW Malawi
MX Mexico
MY Malaysia
MZ Mozambique
NA Namibia
NC New Caledonia
NE Niger
NF Norfolk Island
NG Nigeria
NI Nicaragua
NL Netherlands
NO Norway
NP Nepal
NR Nauru
NU Niue
NZ New Zealand
OM Oman
PA Panama
PE Peru
PF French Polynesia
PG Papua New Guinea
PH Philippines
PK Pakistan
PL Poland
PM Saint Pierre and Miquelon
PN Pitcairn Islands
PR Puerto Rico
PS Palestine
PT Portugal
PW Palau
PY Paraguay
QA Qatar
RE Réunion
RO Romania
RS Serbia
RU Russia
RW Rwanda
SA Saudi Arabia
SB Solomon Islands
SC Seychelles
SD Sudan
SE Sweden
SG Singapore
SH Saint Helena
SI Slovenia
SJ Svalbard and Jan Mayen
SK Slovakia
SL Sierra Leone
SM San Marino
SN Senegal
SO Somalia
SR Suriname
SS South Sudan
ST Sao Tome and Principe
SV El Salvador
SX Sint Maarten
SY Syria
SZ Eswatini
TC Turks and Caicos Islands
TD Chad
TF French Southern Territories
TG Togo
TH Thailand
TJ Tajikistan
TK Tokelau
TL Timor-Leste
TM Turkmenistan
TN Tunisia
TO Tonga
TR Turkey
TT Trinidad and Tobago
TV Tuvalu
TW Taiwan
TZ Tanzania
UA Ukraine
UG Uganda
UM United States Minor Outlying Islands
US United States
UY Uruguay
UZ Uzbekistan
VA Vatican City
VC Saint Vincent and the Grenadines
VE Venezuela
VG British Virgin Islands
VI US Virgin Islands
VN Vietnam
VU Vanuatu
WF Wallis and Futuna
WS Samoa
YE Yemen
YT Mayotte
ZA South Africa
ZM Zambia
ZW Zimbabwe
"""

#: ISO-2 code → FreeAgent country name.
COUNTRY_NAMES: dict[str, str] = dict(line.split(" ", 1) for line in _TABLE.strip().splitlines())

#: Other spellings people (and Magento locales) use → FreeAgent's spelling.
ALIASES: dict[str, str] = {
    "Czechia": "Czech Republic",
    "Slovak Republic": "Slovakia",
    "UK": "United Kingdom",
    "Great Britain": "United Kingdom",
    "United Kingdom of Great Britain and Northern Ireland": "United Kingdom",
    "USA": "United States",
    "United States of America": "United States",
    "Türkiye": "Turkey",
    "Russian Federation": "Russia",
    "Republic of Ireland": "Ireland",
    "Holland": "Netherlands",
    "The Netherlands": "Netherlands",
    "Korea, Republic of": "South Korea",
    "Viet Nam": "Vietnam",
    "Côte d'Ivoire": "Ivory Coast",
    "Cabo Verde": "Cape Verde",
    "Macao": "Macau",
}

DEFAULT_COUNTRY = "United Kingdom"


def _fold(value: str) -> str:
    text = unicodedata.normalize("NFKD", value)
    return " ".join("".join(c for c in text if not unicodedata.combining(c)).lower().split())


_BY_FOLDED: dict[str, str] = {_fold(name): name for name in COUNTRY_NAMES.values()}
_BY_FOLDED.update({_fold(alias): name for alias, name in ALIASES.items()})


def country_name(code: str | None) -> str | None:
    """FreeAgent's name for an ISO-2 code (``"CZ"`` → ``"Czech Republic"``); ``None`` if unknown.

    A value that is already a country name (any known spelling) is normalised too, so a
    caller can pass whatever Magento holds.
    """
    if not code:
        return None
    value = code.strip()
    upper = value.upper()
    if upper == "UK":
        return DEFAULT_COUNTRY
    if len(value) == 2 and upper in COUNTRY_NAMES:
        return COUNTRY_NAMES[upper]
    return _BY_FOLDED.get(_fold(value))


def is_freeagent_country(name: str) -> bool:
    """True if ``name`` is exactly a spelling FreeAgent stores."""
    return name in _FREEAGENT_NAMES


_FREEAGENT_NAMES = frozenset(COUNTRY_NAMES.values())


def country_kept(sent: str | None, echoed: str | None) -> bool:
    """Did FreeAgent keep the ``country`` we sent? Compare the sent name with the echo.

    FreeAgent does not always reject a name it does not know; it may store its default
    instead. ``sent=None`` (nothing sent) is always kept.
    """
    if not sent:
        return True
    if not echoed:
        return False
    return _fold(sent) == _fold(echoed) or country_name(sent) == country_name(echoed) is not None


__all__ = [
    "ALIASES",
    "COUNTRY_NAMES",
    "DEFAULT_COUNTRY",
    "country_kept",
    "country_name",
    "is_freeagent_country",
]
