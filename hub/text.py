"""Hidden characters in text that people and agency systems send: one definition for the hub.

A *single-line* field (a subject, a name, a reference, a file name, a content type, a reason given
in one line, a search) may hold none of these:

- C0 controls (NUL, tab, line feed, carriage return ...), DEL and the C1 controls;
- the line and paragraph separators U+2028 and U+2029, which break a line as a newline does;
- the bidirectional embeddings and overrides U+202A-U+202E and isolates U+2066-U+2069, which
  reorder what is shown ("Trojan Source", CVE-2021-42574: ``report[U+202E]fdp.exe`` shows as
  ``reportexe.pdf``);
- the bidirectional marks U+200E, U+200F and U+061C. They cannot reorder text on their own, but a
  single line shown by itself needs none of them, and they are invisible, so two names that look
  the same could differ;
- the invisible U+200B (zero width space), U+2060 (word joiner) and U+FEFF (byte order mark),
  which make two names that look the same differ;
- unpaired surrogates (U+D800-U+DFFF), which JSON's ``\\ud800`` escapes can carry but which no
  UTF-8 text can.

Joiners (U+200C, U+200D) are allowed: some scripts and emoji need them.

A *body* (multi-line text: a message, a statement, a reason) keeps tabs and line breaks and is
never changed: it is evidence. Only what nothing downstream can hold is refused (``check_text``):
NUL (PostgreSQL text cannot store it) and unpaired surrogates (UTF-8 cannot encode them). What
else of the above a body holds is shown visibly where it is displayed (``hub.web.render``), so
nobody reads reordered or hidden text unawares.

``check_line`` refuses (naming the field and the character); ``strip_line`` removes, for the few
fields where refusing would lose something the person cannot fix (a file name chosen by their
computer). ``line_problem`` is the test both use, for pydantic validators.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from hub.errors import InvalidInput

_NAMES = {
    "\x00": "null character",
    "\t": "tab",
    "\n": "line break",
    "\r": "carriage return",
    "\u061c": "Arabic letter mark",
    "\u200b": "zero width space",
    "\u200e": "left-to-right mark",
    "\u200f": "right-to-left mark",
    "\u2028": "line separator",
    "\u2029": "paragraph separator",
    "\u202a": "left-to-right embedding",
    "\u202b": "right-to-left embedding",
    "\u202c": "pop directional formatting",
    "\u202d": "left-to-right override",
    "\u202e": "right-to-left override",
    "\u2060": "word joiner",
    "\u2066": "left-to-right isolate",
    "\u2067": "right-to-left isolate",
    "\u2068": "first strong isolate",
    "\u2069": "pop directional isolate",
    "\ufeff": "zero width no-break space",
}
# Hidden characters other than the C0 controls, which single lines and bodies treat alike.
_FORMAT = "\x7f-\x9f\u061c\u200b\u200e\u200f\u2028-\u202e\u2060\u2066-\u2069\ufeff\ud800-\udfff"
# What no text may hold, one line or many.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# Every character a single line may not hold.
_IN_LINE = re.compile(f"[\x00-\x1f{_FORMAT}]")
# The same less tab, line feed and carriage return: what a body holds but shows visibly.
_IN_BODY = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f{_FORMAT}]")


def hidden_name(char: str) -> str:
    """A hidden character in words: ``right-to-left override``."""
    if char in _NAMES:
        return _NAMES[char]
    if "\ud800" <= char <= "\udfff":
        return "unpaired surrogate"
    return "control character"


def _a(char: str) -> str:
    """``a right-to-left override (U+202E)``, ``an unpaired surrogate (U+D800)``."""
    name = hidden_name(char)
    return f"{'an' if name[0] in 'aeiouAEIOU' else 'a'} {name} ({code_point(char)})"


def code_point(char: str) -> str:
    """``U+202E``."""
    return f"U+{ord(char):04X}"


def line_problem(value: str) -> str | None:
    """What is wrong with ``value`` as a single line, in words, or None if nothing is."""
    found = _IN_LINE.search(value)
    if found is None:
        return None
    char = found.group()
    return (
        "must not include hidden characters, such as line breaks or text direction controls. "
        f"It has {_a(char)}"
    )


def check_line(value: str, field: str, label: str | None = None) -> str:
    """``value`` unchanged if it is a single line; otherwise ``InvalidInput`` naming the field
    (``label`` is its name in words, by default the field's) and the first hidden character."""
    problem = line_problem(value)
    if problem is not None:
        name = label or field.replace("_", " ")
        raise InvalidInput(
            f"{name[:1].upper()}{name[1:]} {problem}. Remove it and try again.",
            field=field,
            code="hidden_characters",
        )
    return value


def _storable(value: str) -> bool:
    """No NUL and no unpaired surrogate, found without a regular expression's scan (a body of a
    few kilobytes: 0.1-3 µs against 8-18 µs)."""
    if "\x00" in value:
        return False
    if value.isascii():  # known from the string's header, no scan
        return True
    try:
        value.encode("utf-8")  # refuses exactly the surrogates
    except UnicodeEncodeError:
        return False
    return True


def text_problem(value: str) -> str | None:
    """What is wrong with ``value`` as multi-line text, in words, or None if nothing is."""
    if _storable(value):
        return None
    found = _UNSTORABLE.search(value)
    if found is None:
        return None
    return f"must not include {_a(found.group())}"


def check_text(value: str, field: str, label: str | None = None) -> str:
    """``value`` unchanged unless it holds what no text may (``text_problem``): then
    ``InvalidInput`` naming the field."""
    problem = text_problem(value)
    if problem is not None:
        name = label or field.replace("_", " ")
        raise InvalidInput(
            f"{name[:1].upper()}{name[1:]} {problem}. Remove it and try again.",
            field=field,
            code="hidden_characters",
        )
    return value


def strip_line(value: str) -> str:
    """``value`` less every character a single line may not hold."""
    return _IN_LINE.sub("", value)


def body_hidden(text: str) -> Iterator[tuple[str, bool]]:
    """``text`` in runs: ``(run, False)`` for ordinary text (tabs and line breaks included) and
    ``(char, True)`` for each hidden character a body shows visibly."""
    start = 0
    for found in _IN_BODY.finditer(text):
        if found.start() > start:
            yield text[start : found.start()], False
        yield found.group(), True
        start = found.end()
    if start < len(text):
        yield text[start:], False


def has_body_hidden(text: str) -> bool:
    return _IN_BODY.search(text) is not None
