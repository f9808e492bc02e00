"""Text that people read is what the catalog finds.

Three rules about characters a reader cannot see:

- **Direction controls** (U+202A-U+202E embeddings and overrides, U+2066-U+2069 isolates) can
  make a name read differently from what it is (``gnp.exe`` shown as ``exe.png``): they are
  refused in case files and event files, with the field named.
- **Unpaired surrogates** (``"\\ud800"`` in JSON) are not characters at all: refused too.
- **Other default-ignorable characters** (zero-width space, joiners, soft hyphen, variation
  selectors...: Unicode's Default_Ignorable_Code_Point) are kept in the document as typed but
  left out of what the catalog indexes and of every query, so ``Nu\\u200bñez`` is found by
  ``Nunez`` and a FERPA request for "all records about this student" misses nothing.
"""

from __future__ import annotations

import re
import unicodedata

#: Control characters no document can show (tab, line feed and carriage return are text).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")
#: Embedding, override and isolate controls: they reorder what a reader sees.
DIRECTION_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
_SURROGATES = re.compile("[\ud800-\udfff]")
#: Unicode 15 Default_Ignorable_Code_Point (DerivedCoreProperties.txt).
_IGNORABLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f"
    "\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0000-\U000e0fff]"
)


def searchable(text: str) -> str:
    """``text`` as the catalog indexes and matches it: default-ignorable characters left out."""
    return _IGNORABLE.sub("", text) if not text.isascii() else text


def character_problem(value: str) -> str | None:
    """Why a value cannot be taken in (a control character, a direction control, an unpaired
    surrogate), or ``None``. The message names the character by its code point, never the value.
    """
    if _CONTROL.search(value):
        return "contains a control character that cannot appear in a document"
    if value.isascii():
        return None
    found = DIRECTION_CONTROLS.search(value)
    if found:
        return (f"contains an invisible direction control (U+{ord(found.group()):04X}) that makes text read "
                "differently from what it is; remove it")
    if _SURROGATES.search(value):
        return "contains a broken character (an unpaired surrogate, not valid Unicode); type the text again"
    return None


def name_key(name: str) -> str:
    """A person's name as Accord compares it: the same letters whatever their Unicode form, case,
    spacing or invisible characters (``Zoë  NÚÑEZ`` is ``Zoë Núñez``)."""
    return " ".join(searchable(unicodedata.normalize("NFC", name)).casefold().split())
