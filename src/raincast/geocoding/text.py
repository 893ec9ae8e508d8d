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
