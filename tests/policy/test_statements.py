"""How a free-text statement is measured (hub.policy.statements): what the necessity test, a
restricted-category reason and the public interest test count. Normalised (NFKC), invisible and
format characters removed, runs of white space made one, marks counted with the character they
mark, and one repeated character counting as nothing."""

from __future__ import annotations

import pytest

from hub.policy.statements import long_enough, meaningful

REAL = "Housing must assess the proposed address against the plan."


# Nothing to measure.


@pytest.mark.parametrize("text", [None, "", " ", "   ", "\t", "\n", " \t\r\n\f\v ", "\u00a0\u3000"])
def test_nothing_and_white_space_are_empty(text: str | None) -> None:
    assert meaningful(text) == ""
    assert long_enough(text, 1) is False
    assert long_enough(text, 0) is True


def test_a_real_statement_is_kept_as_written() -> None:
    assert meaningful(REAL) == REAL
    assert long_enough(REAL, len(REAL)) is True
    assert long_enough(REAL, len(REAL) + 1) is False


def test_the_minimum_is_inclusive() -> None:
    assert long_enough("Housing needs to act", 20) is True  # exactly twenty
    assert long_enough("Housing needs to ac", 20) is False  # nineteen


# White space.


def test_runs_of_spaces_count_as_one() -> None:
    assert meaningful("Risk          to          kids") == "Risk to kids"
    assert long_enough("Risk          to          kids", 20) is False


def test_tabs_and_line_breaks_are_spaces() -> None:
    assert meaningful("Housing must assess\nthe proposed address\tagainst the plan.") == (
        "Housing must assess the proposed address against the plan."
    )
    assert meaningful("why\t\t\tthis\r\n\r\nmatters\f\vnow") == "why this matters now"
    # Unicode line and paragraph separators are white space too.
    assert meaningful("\u2028risk\u2029high\u0085") == "risk high"


def test_leading_and_trailing_space_is_dropped() -> None:
    assert meaningful("  \t Risk to kids \n ") == "Risk to kids"


def test_non_breaking_and_ideographic_spaces_are_spaces() -> None:
    text = "Risk" + "\u00a0" * 8 + "\u3000" * 8 + "high"
    assert meaningful(text) == "Risk high"
    assert long_enough(text, 20) is False
    assert meaningful("a\u2003b\u202fc\u205fd") == "a b c d"  # em, narrow and math spaces


# Invisible and format characters.


@pytest.mark.parametrize(
    ("name", "char"),
    [
        ("zero width space", "\u200b"),
        ("zero width non-joiner", "\u200c"),
        ("zero width joiner", "\u200d"),
        ("left-to-right mark", "\u200e"),
        ("right-to-left mark", "\u200f"),
        ("right-to-left override", "\u202e"),
        ("right-to-left isolate", "\u2067"),
        ("word joiner", "\u2060"),
        ("soft hyphen", "\u00ad"),
        ("byte order mark", "\ufeff"),
        ("Mongolian vowel separator", "\u180e"),
        ("null", "\u0000"),
        ("escape", "\u001b"),
        ("delete", "\u007f"),
        ("private use", "\ue000"),
        ("unassigned", "\U000e0080"),
        ("tag letter", "\U000e0041"),
    ],
)
def test_an_invisible_character_does_not_count(name: str, char: str) -> None:
    padded = "Risk" + char * 30
    assert meaningful(padded) == "Risk", name
    assert long_enough(padded, 20) is False
    # Inside a real statement it is removed and the statement stands.
    inside = char.join(REAL.split(" "))
    assert meaningful(inside) == REAL.replace(" ", "")
    assert meaningful(REAL.replace("assess", f"as{char}sess")) == REAL


def test_zero_width_characters_inside_words_do_not_shorten_a_statement() -> None:
    text = "Housing\u200b must\u200d assess the\u2060 proposed address against the plan."
    assert meaningful(text) == "Housing must assess the proposed address against the plan."
    assert long_enough(text, 20) is True


@pytest.mark.parametrize(
    ("name", "char"),
    [
        ("variation selector-16", "\ufe0f"),
        ("variation selector-1", "\ufe00"),
        ("Hangul filler", "\u3164"),
        ("Hangul choseong filler", "\u115f"),
        ("Hangul jungseong filler", "\u1160"),
        ("halfwidth Hangul filler", "\uffa0"),
        ("combining grapheme joiner", "\u034f"),
        ("Mongolian free variation selector", "\u180b"),
        ("Khmer inherent vowel", "\u17b4"),
        ("variation selector-17", "\U000e0100"),
    ],
)
def test_a_default_ignorable_character_does_not_count(name: str, char: str) -> None:
    padded = "Risk" + char * 16
    assert meaningful(padded) == "Risk", name
    assert long_enough(padded, 20) is False


def test_combining_marks_count_with_the_character_they_mark() -> None:
    stacked = "Risk" + "\u0301" * 16  # one letter carrying sixteen accents
    assert long_enough(stacked, 5) is False
    assert long_enough(stacked, 4) is True
    # A statement in a script with marks is counted by its letters, not its code points.
    assert long_enough("x\u0301y\u0302" * 5, 10) is True
    assert long_enough("x\u0301y\u0302" * 5, 11) is False


# Normalisation (NFKC).


def test_fullwidth_letters_count_as_their_ordinary_letters() -> None:
    assert meaningful("Ｈｏｕｓｉｎｇ　ｍｕｓｔ　ａｓｓｅｓｓ") == "Housing must assess"
    assert long_enough("Ｒｉｓｋ　ｔｏ　ｋｉｄｓ", 20) is False
    assert long_enough("Ｈｏｕｓｉｎｇ　ｍｕｓｔ　ａｓｓｅｓｓ　ｔｈｅ　ａｄｄｒｅｓｓ", 20) is True


def test_compatibility_forms_are_normalised() -> None:
    assert meaningful("\ufb01le") == "file"  # the fi ligature
    assert meaningful("\u2460 and \u2461") == "1 and 2"  # circled digits
    assert meaningful("e\u0301t\u00e9") == "\u00e9t\u00e9"  # composed: one letter each


# One repeated character.


@pytest.mark.parametrize(
    "text",
    [
        "a",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "........................",
        "------------------------------",
        "!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
        "x x x x x x x x x x x x x x x x x x x x x x x x",
        "x\tx\nx  x\u3000x",
        "ＸＸＸＸＸＸＸＸＸＸＸＸＸＸＸＸＸＸＸＸ",  # fullwidth
        "xｘxｘxｘxｘxｘxｘxｘxｘxｘxｘ",  # ordinary and fullwidth x are one letter
        "\u212b\u00c5\u212b\u00c5\u212b\u00c5\u212b\u00c5",  # Angstrom sign and A-ring
        "a\u200ba\u200ba\u200ba\u200ba\u200ba\u200ba\u200ba\u200ba\u200ba\u200ba",
        "a\ufe0fa\ufe0fa\ufe0fa\ufe0fa\ufe0fa\ufe0fa\ufe0fa\ufe0fa\ufe0fa\ufe0fa",
        "x\u0301" * 25,  # marks aside
    ],
)
def test_one_repeated_character_counts_as_empty(text: str) -> None:
    assert meaningful(text) == ""
    assert long_enough(text, 1) is False


@pytest.mark.parametrize("text", ["ab", "Aa", "a.", "1 2", "\u00f1n"])
def test_two_different_characters_are_not_one_repeated(text: str) -> None:
    assert meaningful(text) != ""


def test_only_one_repeated_character_is_caught() -> None:
    """A pattern of two characters is measured by its length: wording is not judged."""
    assert long_enough("ab" * 10, 20) is True
