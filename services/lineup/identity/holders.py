"""Key holders are people: one normal form per name, so two keys of one person count as one person.

The two-person rule (examiner review) and "whoever ran a search cannot review it" compare *people*, not
keys. A person is (agency, holder) where the holder name is compared in a normal form: Unicode NFKC
(so full-width or ligature look-alikes fold to plain letters), surrounding whitespace trimmed, inner
whitespace collapsed to one space, and case folded. Without that, "Alice", " alice" and the full-width "ALICE" would
be three reviewers, and one examiner with two keys could confirm her own lead.

Holder names also end up in audit records, key listings and log lines, so they are validated when a key
is created: bounded length, printable characters only (no control, format or private-use characters,
which could forge log lines or hide a difference that the normal form would not see).
"""

from __future__ import annotations

import re
import unicodedata

from lineup.errors import InvalidArgument

#: longest holder name accepted (after normalisation), in characters
MAX_HOLDER_LEN = 128
_SPACES = re.compile(r"\s+")
#: Unicode categories refused in a holder name: control, format (zero-width joiners, bidi overrides),
#: surrogates, private use and unassigned
_FORBIDDEN = {"Cc", "Cf", "Cs", "Co", "Cn"}


def display_holder(raw: str) -> str:
    """The holder as stored and shown: NFKC, trimmed, inner whitespace collapsed (case kept).

    Raises InvalidArgument (naming the field `holder`) when the name is empty, too long or not printable.
    """
    name = _SPACES.sub(" ", unicodedata.normalize("NFKC", raw)).strip()
    if not name:
        raise InvalidArgument("holder is required: the person or system the key is issued to")
    if len(name) > MAX_HOLDER_LEN:
        raise InvalidArgument(f"holder is {len(name)} characters long; at most {MAX_HOLDER_LEN} are allowed")
    bad = next((c for c in name if unicodedata.category(c) in _FORBIDDEN), None)
    if bad is not None:
        raise InvalidArgument(f"holder contains the non-printable character U+{ord(bad):04X}; use letters, "
                              "digits, spaces and punctuation only")
    return name


def person_of(holder: str) -> str:
    """The comparison form of a holder: two holders are one person iff this is equal (within one agency).

    Never raises: keys created before names were validated are still compared in the same normal form.
    """
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", holder).casefold())
    return _SPACES.sub(" ", folded).strip()
