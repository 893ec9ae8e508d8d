"""Text normalisation shared by the index builder and the geocoders.

One ``fold`` for both sides: the build script folds every name it indexes with it and the
geocoder folds every query with it, so "São Paulo", "SAO PAULO" and "sao-paulo" meet on the
same key ("sao paulo").
"""

from __future__ import annotations

import re
import unicodedata

# Longest query we look at: real place names with qualifiers are far shorter; anything
# longer is a pasted paragraph or an attack on the lookup, not a city.
MAX_QUERY_LENGTH = 200

# Letters that NFKD does not decompose into base letter + combining mark.
_SPECIAL_LETTERS = str.maketrans(
    {
        "ø": "o",
        "æ": "ae",
        "œ": "oe",
        "ł": "l",
        "đ": "d",
        "ð": "d",
        "þ": "th",
        "\u0131": "i",  # dotless i (Turkish)
        "ħ": "h",
        "ŧ": "t",
        "ŋ": "n",
    }
)
_NON_ALNUM = re.compile(r"[\W_]+")
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z])(?=[A-Z])")


def fold(text: str) -> str:
    """Case- and accent-fold ``text``; punctuation and runs of spaces become one space.

    >>> fold("  Saint-Étienne ") == fold("saint etienne") == "saint etienne"
    True
    """
    text = unicodedata.normalize("NFKD", text.casefold().translate(_SPECIAL_LETTERS))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return _NON_ALNUM.sub(" ", text).strip()


def split_camel_case(text: str) -> str:
    """ "WaggaWagga" -> "Wagga Wagga", "PearceRAAF" -> "Pearce RAAF" (weatherAUS style)."""
    return _CAMEL_BOUNDARY.sub(" ", text)


def check_query(query: object) -> str | None:
    """Why ``query`` cannot be a place name (not text, empty, absurdly long), or None."""
    if not isinstance(query, str):
        return f"query must be text, got {type(query).__name__}"
    text = query.strip()
    if not text:
        return "empty query"
    if len(text) > MAX_QUERY_LENGTH:
        return f"query too long ({len(text)} characters; at most {MAX_QUERY_LENGTH})"
    return None


def split_query(query: object) -> tuple[str, list[str]] | str:
    """``"Springfield, IL, US"`` -> ``("Springfield", ["IL", "US"])``.

    Returns a human-readable reason (a ``str``) instead when the query cannot be a place:
    see ``check_query``; also no name before the commas, or more than two qualifiers.
    """
    problem = check_query(query)
    if problem is not None:
        return problem
    assert isinstance(query, str)
    name, *rest = (part.strip() for part in query.strip().split(","))
    qualifiers = [q for q in rest if q]
    if not fold(name):
        return "no place name before the qualifiers"
    if len(qualifiers) > 2:
        return "too many qualifiers: use NAME, NAME, COUNTRY or NAME, ADMIN1, COUNTRY"
    return name, qualifiers
