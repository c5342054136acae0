"""How long a free-text statement really is: what the necessity test and restricted reasons count.

A statement is measured after Unicode normalisation (NFKC), with invisible and format characters
(zero-width spaces and joiners, direction marks, soft hyphens, controls, and the other
default-ignorable code points: variation selectors, Hangul fillers, the combining grapheme joiner)
removed and runs of white space made one space; combining marks count with the character they
mark. A statement made of one repeated character, spaces aside, counts as empty:
twenty full stops, or "a" held down, say nothing about why a share is necessary.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

# Unicode general categories that print nothing: format, control, surrogate, private use, unassigned.
_INVISIBLE = frozenset({"Cf", "Cc", "Cs", "Co", "Cn"})
# Default-ignorable code points of other categories (Unicode DerivedCoreProperties): the combining
# grapheme joiner, Hangul fillers, Mongolian and other variation selectors, Khmer inherent vowels.
_IGNORABLE = (
    (0x034F, 0x034F),
    (0x115F, 0x1160),
    (0x17B4, 0x17B5),
    (0x180B, 0x180F),
    (0x2800, 0x2800),  # the blank Braille pattern: prints as a space
    (0x3164, 0x3164),
    (0xFE00, 0xFE0F),
    (0xFFA0, 0xFFA0),
    (0x1BCA0, 0x1BCA3),
    (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
)
# Marks add to the character before them: they are not counted as characters of their own.
_MARKS = frozenset({"Mn", "Me"})


def _shown(ch: str) -> bool:
    if unicodedata.category(ch) in _INVISIBLE:
        return False
    point = ord(ch)
    return not any(low <= point <= high for low, high in _IGNORABLE)


def meaningful(text: str | None) -> str:
    """The statement as counted: normalised, invisible characters gone, spaces collapsed."""
    if not text:
        return ""
    if text.isascii():
        # NFKC leaves ASCII as it is and ASCII has no marks; only controls are invisible. This is
        # every decision's path for most statements, so it stays in C string methods.
        words = (text if text.isprintable() else _drop_controls(text)).split()
        return " ".join(words) if len(set("".join(words))) > 1 else ""
    return _meaningful(text)


def _drop_controls(text: str) -> str:
    return "".join(" " if ch.isspace() else ch for ch in text if ch.isspace() or ch.isprintable())


@lru_cache(maxsize=4096)
def _meaningful(text: str) -> str:
    normal = unicodedata.normalize("NFKC", text)
    visible = "".join(" " if ch.isspace() else ch for ch in normal if ch.isspace() or _shown(ch))
    words = visible.split()
    if len({ch for word in words for ch in word if unicodedata.category(ch) not in _MARKS}) <= 1:
        return ""
    return " ".join(words)


def long_enough(text: str | None, minimum: int) -> bool:
    """Whether a statement says at least ``minimum`` characters once measured as above (marks
    count with the character they mark)."""
    if minimum <= 0:
        return True
    if not text:
        return False
    if text.isascii() and text.isprintable():
        # The common case, in C string methods: words joined by single spaces, and not one
        # character repeated.
        words = text.split()
        length = sum(map(len, words)) + len(words) - 1 if words else 0
        return length >= minimum and len(set(text) - {" "}) > 1
    return _counted(text) >= minimum


@lru_cache(maxsize=4096)
def _counted(text: str) -> int:
    return sum(1 for ch in _meaningful(text) if unicodedata.category(ch) not in _MARKS)
