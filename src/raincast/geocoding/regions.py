"""Names people type for countries and first-level divisions, where the data lacks them.

GeoNames identifies a US state by its postal code ("IL") but an Australian state or a
Canadian province by a number ("02" = New South Wales, "08" = Ontario), and nobody types
"Perth, 08". These tables map what people type to the GeoNames admin1 code. The offline
index embeds them at build time; the online providers use them to match qualifiers
("Springfield, IL") against the admin1 *names* their APIs return ("Illinois").
"""

from __future__ import annotations

# country -> GeoNames admin1 code -> [abbreviation..., full name]; the last entry is the name.
ADMIN1_NAMES: dict[str, dict[str, list[str]]] = {
    "AU": {
        "01": ["ACT", "Australian Capital Territory"],
        "02": ["NSW", "New South Wales"],
        "03": ["NT", "Northern Territory"],
        "04": ["QLD", "Queensland"],
        "05": ["SA", "South Australia"],
        "06": ["TAS", "Tasmania"],
        "07": ["VIC", "Victoria"],
        "08": ["WA", "Western Australia"],
    },
    "CA": {
        "01": ["AB", "Alberta"],
        "02": ["BC", "British Columbia"],
        "03": ["MB", "Manitoba"],
        "04": ["NB", "New Brunswick"],
        "05": ["NL", "Newfoundland", "Newfoundland and Labrador"],
        "07": ["NS", "Nova Scotia"],
        "08": ["ON", "Ontario"],
        "09": ["PE", "PEI", "Prince Edward Island"],
        "10": ["QC", "Quebec"],
        "11": ["SK", "Saskatchewan"],
        "12": ["YT", "Yukon"],
        "13": ["NT", "Northwest Territories"],
        "14": ["NU", "Nunavut"],
    },
    "GB": {
        "ENG": ["England"],
        "NIR": ["Northern Ireland"],
        "SCT": ["Scotland"],
        "WLS": ["Wales"],
    },
    # GeoNames' US admin1 code is the USPS code itself.
    "US": {
        code: [code, name]
        for code, name in {
            "AK": "Alaska",
            "AL": "Alabama",
            "AR": "Arkansas",
            "AZ": "Arizona",
            "CA": "California",
            "CO": "Colorado",
            "CT": "Connecticut",
            "DC": "District of Columbia",
            "DE": "Delaware",
            "FL": "Florida",
            "GA": "Georgia",
            "HI": "Hawaii",
            "IA": "Iowa",
            "ID": "Idaho",
            "IL": "Illinois",
            "IN": "Indiana",
            "KS": "Kansas",
            "KY": "Kentucky",
            "LA": "Louisiana",
            "MA": "Massachusetts",
            "MD": "Maryland",
            "ME": "Maine",
            "MI": "Michigan",
            "MN": "Minnesota",
            "MO": "Missouri",
            "MS": "Mississippi",
            "MT": "Montana",
            "NC": "North Carolina",
            "ND": "North Dakota",
            "NE": "Nebraska",
            "NH": "New Hampshire",
            "NJ": "New Jersey",
            "NM": "New Mexico",
            "NV": "Nevada",
            "NY": "New York",
            "OH": "Ohio",
            "OK": "Oklahoma",
            "OR": "Oregon",
            "PA": "Pennsylvania",
            "RI": "Rhode Island",
            "SC": "South Carolina",
            "SD": "South Dakota",
            "TN": "Tennessee",
            "TX": "Texas",
            "UT": "Utah",
            "VA": "Virginia",
            "VT": "Vermont",
            "WA": "Washington",
            "WI": "Wisconsin",
            "WV": "West Virginia",
            "WY": "Wyoming",
        }.items()
    },
}

# Country names people type that are neither GeoNames' English name nor an ISO code.
COUNTRY_ALIASES: dict[str, list[str]] = {
    "US": ["USA", "United States of America", "America", "U.S.", "U.S.A."],
    "GB": ["UK", "U.K.", "Great Britain", "Britain"],
    "KR": ["Korea"],
    "RU": ["Russia"],
    "CZ": ["Czech Republic"],
    "NL": ["Holland", "The Netherlands"],
}
