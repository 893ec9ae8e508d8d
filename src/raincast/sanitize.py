"""Text that came from a city list or a provider, made safe where it ends up.

* ``spreadsheet_cell``: every CSV cell raincast writes goes through it. Following OWASP's
  CSV-injection guidance, a text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or
  a carriage return (or a full-width form of the first four, which some spreadsheets fold)
  gets a leading ``'`` so a spreadsheet shows it as text instead of evaluating it. Numbers,
  and text that is exactly a plain decimal number ("-33.86"), are left alone: a spreadsheet
  reads those as numbers, not formulas.
* ``printable``: everything printed to a terminal that came from input goes through it.
  Control characters (C0, DEL, C1: escape sequences start with ESC or the 8-bit CSI),
  format characters (bidi overrides and isolates, zero-width characters), line and paragraph
  separators, surrogates and private-use or unassigned code points are shown as Python-style
  escapes (``\\x1b``, ``\\u202e``), so a name can neither move the cursor, recolour the
  terminal, set its title nor reorder what is shown.

No library does either for us: the csv module quotes but does not neutralise formulas, and
``repr`` also quotes and escapes backslashes, which would garble ordinary names.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
# Unicode categories a terminal may act on or that hide/reorder text (see the docstring).
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})


def spreadsheet_cell(value: Any) -> Any:
    """``value`` as a CSV cell that no spreadsheet evaluates; numbers unchanged."""
    if not isinstance(value, str) or not value.startswith(FORMULA_PREFIXES):
        return value
    if _PLAIN_NUMBER.fullmatch(value):
        return value
    return "'" + value


def printable(text: str) -> str:
    """``text`` with every character a terminal could act on shown as an escape."""
    if text.isprintable():  # the common case, in C
        return text
    return "".join(_escape(ch) if _unsafe(ch) else ch for ch in text)


def printable_lines(text: str) -> str:
    """``printable`` for each line of a multi-line text (the line breaks stay)."""
    return "\n".join(printable(line) for line in text.split("\n"))


def _unsafe(ch: str) -> bool:
    return unicodedata.category(ch) in _UNSAFE_CATEGORIES


def _escape(ch: str) -> str:
    code = ord(ch)
    if ch == "\n":
        return "\\n"
    if ch == "\r":
        return "\\r"
    if ch == "\t":
        return "\\t"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"
