"""What a new password must be (hub/services/password_rules.py): each rule refuses with the
field at fault named, and a long passphrase in any script passes."""

from __future__ import annotations

import pytest

from hub.errors import InvalidInput
from hub.services.password_rules import check_new_password

USER = "dby.housing"


@pytest.mark.parametrize(
    ("new", "again", "field", "words"),
    [
        ("", "", "new", "Enter a new password"),
        ("short pass", "short pass", "new", "12 characters or more"),
        ("x" * 1025 + "yz", "x" * 1025 + "yz", "new", "1,024 characters or fewer"),
        ("my DBY.Housing password", "my DBY.Housing password", "new", "your username"),
        ("Password1234", "Password1234", "new", "too easy to guess"),
        ("abababababababab", "abababababababab", "new", "too easy to guess"),
        ("four unrelated words", "four unrelated word", "again", "do not match"),
    ],
)
def test_each_rule_refuses_naming_the_field(new: str, again: str, field: str, words: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_new_password(new, again, USER)
    assert refused.value.field == field
    assert words in refused.value.public_message


@pytest.mark.parametrize(
    "good", ["four unrelated words here", "ধীরে ধীরে চলুন বন্ধু", "correct horse battery staple!"]
)
def test_a_long_passphrase_in_any_script_passes(good: str) -> None:
    check_new_password(good, good, USER)
