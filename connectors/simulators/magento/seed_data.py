"""Static tables behind :mod:`.seed`: names, places, formats per country.

Region ids follow Magento's ``directory_country_region`` data where the country has a
region list (DE, AT, ES, IT, FR); countries without one get ``region_id`` 0 and free text.
Every e-mail domain is under the reserved ``example`` names (RFC 2606).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Country:
    """What the generator needs to make a plausible address in one country."""

    code: str
    name: str
    first_male: tuple[str, ...]
    first_female: tuple[str, ...]
    surnames: tuple[str, ...]
    # (city, postcode pattern, region name or "", region code, region id)
    cities: tuple[tuple[str, str, str, str, int], ...]
    streets: tuple[str, ...]
    street_format: str  # "{n} {street}" or "{street} {n}"
    phone: str  # "#" → digit
    vat: str  # "#" → digit, "@" → letter
    locale: str


COUNTRIES: dict[str, Country] = {
    c.code: c
    for c in (
        Country(
            "GB",
            "United Kingdom",
            ("James", "Oliver", "Harry", "George", "Thomas", "Rhys", "Callum", "Arjun"),
            ("Olivia", "Amelia", "Isla", "Emily", "Sophie", "Charlotte", "Siobhan", "Priya"),
            (
                "Smith",
                "Jones",
                "Taylor",
                "Brown",
                "Williams",
                "Wilson",
                "Evans",
                "O'Brien",
                "Patel",
                "Hughes",
                "Davies",
                "MacDonald",
                "Khan",
            ),
            (
                ("London", "SW1A #@@", "", "", 0),
                ("London", "EC1V #@@", "London ", "London ", 0),
                ("Manchester", "M1 #@@", "", "", 0),
                ("Edinburgh", "EH1 #@@", "", "", 0),
                ("Cardiff", "CF24 #@@", "", "", 0),
                ("Bristol", "BS1 #@@", "", "", 0),
                ("Leeds", "LS1 #@@", "West Yorkshire", "West Yorkshire", 0),
            ),
            (
                "High Street",
                "Station Road",
                "Church Lane",
                "Victoria Road",
                "Mill Lane",
                "Queen's Road",
                "Park Avenue",
            ),
            "{n} {street}",
            "+44 20 7946 0###",
            "GB#########",
            "en_GB",
        ),
        Country(
            "IE",
            "Ireland",
            ("Seán", "Conor", "Cian", "Darragh", "Patrick", "Oisín"),
            ("Aoife", "Niamh", "Saoirse", "Ciara", "Róisín", "Siobhán"),
            ("Murphy", "Kelly", "O'Sullivan", "Walsh", "Byrne", "Ó Súilleabháin", "McCarthy"),
            (
                ("Dublin", "D02 @###", "", "", 0),
                ("Cork", "T12 @###", "", "", 0),
                ("Galway", "H91 @###", "Co. Galway", "Co. Galway", 0),
            ),
            ("Main Street", "O'Connell Street", "Grafton Street", "Shop Street"),
            "{n} {street}",
            "+353 1 ### ####",
            "IE#######@",
            "en_IE",
        ),
        Country(
            "DE",
            "Germany",
            ("Lukas", "Jonas", "Maximilian", "Jürgen", "Felix", "Stefan"),
            ("Anna", "Lena", "Sophie", "Jülide", "Katharina", "Brigitte"),
            ("Müller", "Schmidt", "Schneider", "Fischer", "Weiß", "Größer", "Becker"),
            (
                ("Berlin", "10###", "Berlin", "BER", 82),
                ("München", "80###", "Bayern", "BAY", 81),
                ("Hamburg", "20###", "Hamburg", "HAM", 84),
                ("Köln", "50###", "Nordrhein-Westfalen", "NRW", 88),
            ),
            ("Hauptstraße", "Bahnhofstraße", "Schillerstraße", "Gartenweg", "Lindenallee"),
            "{street} {n}",
            "+49 30 #######",
            "DE#########",
            "de_DE",
        ),
        Country(
            "AT",
            "Austria",
            ("Florian", "Tobias", "Matthias"),
            ("Hannah", "Magdalena", "Theresa"),
            ("Gruber", "Huber", "Bauer", "Wagner", "Pichler"),
            (
                ("Wien", "1###", "Wien", "WI", 95),
                ("Graz", "80##", "Steiermark", "ST", 100),
            ),
            ("Mariahilfer Straße", "Herrengasse", "Ringstraße"),
            "{street} {n}",
            "+43 1 #######",
            "ATU########",
            "de_AT",
        ),
        Country(
            "FR",
            "France",
            ("Louis", "Gabriel", "Léo", "Hugo", "Étienne", "Mathéo"),
            ("Chloé", "Camille", "Léa", "Manon", "Inès", "Élodie"),
            ("Martin", "Bernard", "Dubois", "Lefèvre", "Moreau", "Girard", "Rousseau"),
            (
                ("Paris", "750##", "Paris", "75", 257),
                ("Lyon", "690##", "Rhône", "69", 251),
                ("Marseille", "130##", "Bouches-du-Rhône", "13", 194),
            ),
            ("rue de la Paix", "avenue Victor Hugo", "boulevard Saint-Michel", "rue Lafayette"),
            "{n} {street}",
            "+33 1 ## ## ## ##",
            "FR##########",
            "fr_FR",
        ),
        Country(
            "NL",
            "Netherlands",
            ("Daan", "Sem", "Lucas", "Bram", "Thijs"),
            ("Emma", "Julia", "Sanne", "Fleur", "Anouk"),
            ("de Jong", "Jansen", "de Vries", "van den Berg", "Bakker", "van Dijk"),
            (
                ("Amsterdam", "10## @@", "", "", 0),
                ("Rotterdam", "30## @@", "", "", 0),
                ("Utrecht", "35## @@", "", "", 0),
            ),
            ("Kerkstraat", "Dorpsstraat", "Prinsengracht", "Stationsweg"),
            "{street} {n}",
            "+31 20 ### ####",
            "NL#########B01",
            "nl_NL",
        ),
        Country(
            "CZ",
            "Czechia",
            ("Jan", "Jiří", "Petr", "Tomáš", "Lukáš"),
            ("Jana", "Tereza", "Kateřina", "Lucie", "Zuzana"),
            ("Novák", "Dvořák", "Svoboda", "Černý", "Procházka", "Kučera"),
            (
                ("Praha", "110 ##", "", "", 0),
                ("Brno", "602 ##", "", "", 0),
                ("Ostrava", "702 ##", "", "", 0),
            ),
            ("Václavské náměstí", "Národní", "Masarykova", "Husova"),
            "{street} {n}",
            "+420 ### ### ###",
            "CZ########",
            "cs_CZ",
        ),
        Country(
            "SK",
            "Slovakia",
            ("Martin", "Peter", "Michal", "Ján"),
            ("Mária", "Zuzana", "Lenka", "Katarína"),
            ("Horváth", "Kováč", "Varga", "Tóth", "Šťastný"),
            (
                ("Bratislava", "811 ##", "", "", 0),
                ("Košice", "040 ##", "", "", 0),
            ),
            ("Obchodná", "Hlavná", "Štúrova"),
            "{street} {n}",
            "+421 2 #### ####",
            "SK##########",
            "sk_SK",
        ),
        Country(
            "ES",
            "Spain",
            ("Hugo", "Martín", "Pablo", "Álvaro", "José María"),
            ("Lucía", "Sofía", "María José", "Paula", "Begoña"),
            ("García", "Fernández", "González", "Rodríguez", "López", "Martínez Ruiz"),
            (
                ("Madrid", "280##", "Madrid", "Madrid", 161),
                ("Barcelona", "080##", "Barcelona", "Barcelona", 139),
                ("Sevilla", "410##", "Sevilla", "Sevilla", 173),
            ),
            ("Calle Mayor", "Gran Vía", "Avenida de la Constitución", "Calle de Alcalá"),
            "{street}, {n}",
            "+34 91 ### ## ##",
            "ES@########",
            "es_ES",
        ),
        Country(
            "IT",
            "Italy",
            ("Francesco", "Alessandro", "Lorenzo", "Niccolò"),
            ("Giulia", "Francesca", "Chiara", "Beatrice"),
            ("Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "D'Angelo"),
            (
                ("Roma", "001##", "Roma", "RM", 664),
                ("Milano", "201##", "Milano", "MI", 640),
                ("Napoli", "801##", "Napoli", "NA", 645),
            ),
            ("Via Roma", "Corso Vittorio Emanuele", "Via Garibaldi", "Piazza Duomo"),
            "{street} {n}",
            "+39 06 #### ####",
            "IT###########",
            "it_IT",
        ),
    )
}

# Weighted towards the UK, the shop's home market.
COUNTRY_WEIGHTS: tuple[tuple[str, int], ...] = (
    ("GB", 40),
    ("IE", 8),
    ("DE", 12),
    ("AT", 3),
    ("FR", 10),
    ("NL", 7),
    ("CZ", 5),
    ("SK", 3),
    ("ES", 6),
    ("IT", 6),
)

COMPANY_WORDS = (
    "Acme",
    "Northwind",
    "Harbour",
    "Bluebell",
    "Kestrel",
    "Oakridge",
    "Granite",
    "Meridian",
    "Alpenblick",
    "Riverside",
    "Vltava",
    "Dunmore",
    "Rosewood",
    "Castellana",
)
COMPANY_SUFFIX = {
    "GB": ("Ltd", "LLP", "plc"),
    "IE": ("Ltd", "DAC"),
    "DE": ("GmbH", "AG", "KG"),
    "AT": ("GmbH",),
    "FR": ("SARL", "SAS"),
    "NL": ("B.V.",),
    "CZ": ("s.r.o.", "a.s."),
    "SK": ("s.r.o.",),
    "ES": ("S.L.", "S.A."),
    "IT": ("S.r.l.", "S.p.A."),
}
EMAIL_DOMAINS = (
    "example.com",
    "example.org",
    "example.net",
    "mail.example.com",
    "post.example.org",
)

MALFORMED_EMAILS = (
    "john.smith@@example.com",
    "no-at-sign.example.com",
    "mary@localhost",
    " Trailing.Space@Example.COM ",
    "comma,in@example.com",
)

PRODUCTS = (
    ("WS12-M-Orange", "Radiant Tee-M-Orange", 22.0),
    ("MJ01-L-Blue", "Beaumont Summit Kit-L-Blue", 42.0),
    ("24-MB01", "Joust Duffle Bag", 34.0),
    ("24-UG06", "Affirm Water Bottle", 7.0),
    ("WB04-S-Purple", "Electra Bra Top-S-Purple", 39.0),
    ("MH07-XL-Gray", "Hero Hoodie-XL-Gray", 54.0),
)
