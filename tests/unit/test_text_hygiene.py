"""The one definition of single-line text (``hub.text``), hidden characters shown in bodies, and
the strict JSON that signed headers and API bodies are read with."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.crypto import packet_format as fmt
from hub.crypto.canonical import (
    DuplicateMember,
    NotCanonical,
    canonical_json,
    loads_unique,
    parse_canonical,
)
from hub.crypto.errors import CryptoFailure
from hub.errors import InvalidInput
from hub.services.drafts import clean_filename, is_media_type
from hub.text import (
    body_hidden,
    check_line,
    check_text,
    has_body_hidden,
    line_problem,
    strip_line,
    text_problem,
)
from hub.web.render import show_hidden

# Every character a single line refuses, one of each kind the issue names and the ones chosen.
REFUSED_IN_LINE = {
    "\x00": "null character",
    "\x07": "control character",
    "\t": "tab",
    "\n": "line break",
    "\r": "carriage return",
    "\x1f": "control character",
    "\x7f": "control character",
    "\x85": "control character",  # NEL, a C1 control
    "\x9f": "control character",
    "\u2028": "line separator",
    "\u2029": "paragraph separator",
    "\u202a": "left-to-right embedding",
    "\u202b": "right-to-left embedding",
    "\u202c": "pop directional formatting",
    "\u202d": "left-to-right override",
    "\u202e": "right-to-left override",
    "\u2066": "left-to-right isolate",
    "\u2067": "right-to-left isolate",
    "\u2068": "first strong isolate",
    "\u2069": "pop directional isolate",
    "\u200e": "left-to-right mark",
    "\u200f": "right-to-left mark",
    "\u061c": "Arabic letter mark",
    "\u200b": "zero width space",
    "\u2060": "word joiner",
    "\ufeff": "zero width no-break space",
    "\ud800": "unpaired surrogate",
    chr(0xDFFF): "unpaired surrogate",  # (ruff reads "\udfff" as the same key as "\ud800")
}
# Ordinary text a single line keeps: accents, other scripts written right to left, emoji joined
# with U+200D, Persian's zero width non-joiner, a soft hyphen, non-breaking spaces.
ALLOWED_IN_LINE = [
    "Address check before release",
    "Résumé for Siân Ó Briain",
    "שלום עליכם",
    "مرحبا بالعالم",
    "👩\u200d👩\u200d👧 family",
    "می\u200cخواهم",
    "co\u00adoperate",
    "10\u00a0km",
    "",
]


@pytest.mark.parametrize("char", REFUSED_IN_LINE, ids=[f"U+{ord(c):04X}" for c in REFUSED_IN_LINE])
def test_a_single_line_refuses_each_hidden_character_and_names_it(char: str) -> None:
    problem = line_problem(f"Address{char}check")
    assert problem is not None
    assert f"It has a{'n' if REFUSED_IN_LINE[char][0] in 'aeiouA' else ''} " in problem
    assert f"{REFUSED_IN_LINE[char]} (U+{ord(char):04X})" in problem
    with pytest.raises(InvalidInput) as err:
        check_line(f"Address{char}check", "subject")
    assert err.value.field == "subject"
    assert err.value.code == "hidden_characters"
    assert err.value.public_message.startswith("Subject must not include hidden characters")
    assert err.value.public_message.endswith("Remove it and try again.")
    assert strip_line(f"Address{char}check") == "Addresscheck"


@pytest.mark.parametrize("text", ALLOWED_IN_LINE)
def test_a_single_line_keeps_ordinary_text_of_any_script(text: str) -> None:
    assert line_problem(text) is None
    assert check_line(text, "subject") == text
    assert strip_line(text) == text


def test_the_label_names_the_field_in_words() -> None:
    with pytest.raises(InvalidInput, match=r"^The packet this answers must not include"):
        check_line("a\x00", "reply_to", "the packet this answers")


def test_a_body_keeps_line_breaks_and_refuses_only_what_cannot_be_stored() -> None:
    assert text_problem("Line one\r\nLine two\n\tIndented \u202e reversed \x07 bell") is None
    with pytest.raises(InvalidInput, match=r"null character \(U\+0000\)") as err:
        check_text("a\x00b", "body", "the message")
    assert err.value.field == "body"
    assert text_problem("a\udc00") == "must not include an unpaired surrogate (U+DC00)"


@settings(max_examples=500, deadline=None)
@given(st.text(st.characters(), max_size=40))
def test_a_body_is_refused_exactly_when_it_holds_a_nul_or_a_lone_surrogate(text: str) -> None:
    # The check that skips the scan answers as the scan would, in any script.
    unstorable = any(c == "\x00" or "\ud800" <= c <= "\udfff" for c in text)
    assert (text_problem(text) is not None) == unstorable
    assert (text_problem("ascii " + text) is not None) == unstorable


def test_a_bodys_hidden_characters_are_found_in_place() -> None:
    text = "Pay \u202e0001\u202c to\n\tme\x00"
    assert list(body_hidden(text)) == [
        ("Pay ", False),
        ("\u202e", True),
        ("0001", False),
        ("\u202c", True),
        (" to\n\tme", False),
        ("\x00", True),
    ]
    assert "".join(run for run, _ in body_hidden(text)) == text  # nothing lost
    assert has_body_hidden(text)
    assert not has_body_hidden("Plain\r\n\ttext, שלום")
    assert list(body_hidden("")) == []


def test_shown_visibly_escaped_and_without_the_character_itself() -> None:
    html = show_hidden("<b>Pay</b> \u202e0001")
    assert "\u202e" not in html
    assert html == (
        "&lt;b&gt;Pay&lt;/b&gt; "
        '<span class="hub-hidden-char"><span class="govuk-visually-hidden">hidden character: '
        "</span>[right-to-left override U+202E]</span>0001"
    )
    assert show_hidden("two\nlines") == "two\nlines"  # a body keeps its line breaks
    assert "[line break U+000A]" in show_hidden("two\nlines", line=True)  # a subject does not


def test_file_names_lose_hidden_characters_and_directories() -> None:
    assert clean_filename("report\u202efdp.exe") == "reportfdp.exe"
    assert clean_filename("../../etc/a\u2028b\x00.txt") == "ab.txt"
    assert clean_filename("\u2066\u2069") == "attachment"


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("text/plain", True),
        ("text/plain; charset=utf-8", True),
        ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", True),
        ('multipart/mixed; boundary="a b"', True),
        ("text", False),
        ("text/plain\u202e", False),
        ("text/plain\r\nX-Injected: 1", False),
        ("text/pl ain", False),
        ("a/" + "b" * 99, False),  # over 100 characters
    ],
)
def test_content_types_are_media_types(value: str, ok: bool) -> None:
    assert is_media_type(value) is ok


# -- strict JSON -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b'{"a":1,"a":2}', "appears twice"),
        (b'{"a":{"b":1,"b":1}}', "appears twice"),
        (b'{"b":1,"a":2}', "canonical form"),
        (b'{"a": 1}', "canonical form"),
        (b'{"a":"\\u00e9"}', "canonical form"),
        (b'{"a":-0}', "canonical form"),
        (b'{"a":1}\n', "canonical form"),
        (b'{"a":1.0}', "fraction or an exponent"),
        (b'{"a":1e0}', "fraction or an exponent"),
        (b'{"a":NaN}', "NaN is not a JSON number"),
        (b'{"a":"\\ud800"}', "not Unicode text"),
        (b"\xef\xbb\xbf{}", "canonical form"),  # a byte order mark
        (b"\xff", "not JSON"),
        (b"[" * 100_000, "nested too deeply"),
    ],
)
def test_parse_canonical_refuses_every_other_form(data: bytes, reason: str) -> None:
    with pytest.raises(NotCanonical, match=reason):
        parse_canonical(data)


def test_parse_canonical_reads_what_canonical_json_writes() -> None:
    value = {"b": [1, True, None, "é\n\x00"], "a": {"z": -5, "y": ""}}
    assert parse_canonical(canonical_json(value)) == value


def test_loads_unique_takes_any_layout_but_no_duplicate() -> None:
    assert loads_unique(b'{ "b": 1.5, "a": [ ] }') == {"b": 1.5, "a": []}
    with pytest.raises(DuplicateMember, match="'version' appears twice"):
        loads_unique(b'{"version":1,"version":2}')
    with pytest.raises(NotCanonical, match="Infinity"):
        loads_unique(b'{"size":Infinity}')
    with pytest.raises(NotCanonical, match="not JSON"):
        loads_unique(b"{")


# -- the packet format ----------------------------------------------------------------------

_HEADER = {"format": fmt.FORMAT_NAME, "v": 1, "parts": {}}


def test_a_header_is_parsed_only_in_canonical_form() -> None:
    assert fmt.parse_header(canonical_json(_HEADER)) == _HEADER
    spaced = json.dumps(_HEADER).encode()
    duplicated = canonical_json(_HEADER).replace(b'"v":1', b'"v":1,"v":1')
    for data, problem in [
        (spaced, "canonical form"),
        (duplicated, "'v' appears twice"),
        (b"[1]", "not a JSON object"),
        (canonical_json({**_HEADER, "v": 1}).replace(b'"v":1', b'"v":1.0'), "fraction"),
    ]:
        with pytest.raises(fmt.HeaderNotCanonical) as err:
            fmt.parse_header(data)
        assert problem in err.value.problem
        assert isinstance(err.value, CryptoFailure)  # refused like every other failure


def _envelope(**changes: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "format": fmt.FORMAT_NAME,
        "version": 1,
        "header": base64.b64encode(canonical_json(_HEADER)).decode(),
        "signature": base64.b64encode(b"s" * 64).decode(),
        "signer": "key-1",
        "keys": [{"agency": "DBY-POLICE", "key_id": "k", "sealed": ""}],
        "parts": {},
    }
    doc.update(changes)
    return doc


def test_an_envelope_takes_any_layout() -> None:
    packet = fmt.SealedPacket.from_envelope(json.dumps(_envelope(), indent=2).encode())
    assert packet.signer_key_id == "key-1"
    assert packet.header_bytes == canonical_json(_HEADER)


@pytest.mark.parametrize(
    "raw",
    [
        json.dumps(_envelope()).replace('"version": 1', '"version": 1, "version": 1'),
        json.dumps(_envelope()).replace('"signer": "key-1"', '"signer": "x", "signer": "key-1"'),
        json.dumps(_envelope(version=True)),
        json.dumps(_envelope(version=1.0)),
        json.dumps(_envelope(version="1")),
        json.dumps(_envelope(signer=7)),
        json.dumps(_envelope(keys=[{"agency": 1, "key_id": "k", "sealed": ""}])),
        json.dumps(_envelope(header=None)),
        json.dumps(_envelope(keys={"agency": "DBY-POLICE"})),
        json.dumps(_envelope(parts=[])),
    ],
    ids=[
        "version twice", "signer twice", "version true", "version 1.0", 'version "1"',
        "signer a number", "agency a number", "header null", "keys an object", "parts a list",
    ],
)  # fmt: skip
def test_an_envelope_with_a_duplicate_or_a_member_of_the_wrong_type_is_refused(raw: str) -> None:
    with pytest.raises(CryptoFailure):
        fmt.SealedPacket.from_envelope(raw.encode())
