"""The shared developer-id rule: stable, case-insensitive, refuses non-addresses."""

from __future__ import annotations

import hashlib

import pytest

from infertrace.activity.identity import account_email, developer_id_for, normalize_email
from infertrace.errors import InvalidParameter


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Ada@Example.com", "ada@example.com"),
        ("  ada@example.com\n", "ada@example.com"),
    ],
)
def test_same_person_same_id(a: str, b: str) -> None:
    assert developer_id_for(a) == developer_id_for(b)


def test_id_is_blake2b_of_normalised_email() -> None:
    want = "dev-" + hashlib.blake2b(b"ada@example.com", digest_size=8).hexdigest()
    assert developer_id_for("ADA@example.com") == want
    assert developer_id_for("bob@example.com") != want


@pytest.mark.parametrize("bad", ["", "ada", "@example.com", "ada@", "a b@example.com", 7])
def test_not_an_address(bad: object) -> None:
    with pytest.raises(InvalidParameter, match="is not an address"):
        normalize_email(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(("account", "want"), [("ABC-123", "abc-123@accounts.invalid")])
def test_account_email(account: str, want: str) -> None:
    assert account_email(account) == want
    assert developer_id_for(account_email(account)).startswith("dev-")


@pytest.mark.parametrize("bad", ["", "  ", "a@b", "a b"])
def test_account_email_refuses(bad: str) -> None:
    with pytest.raises(InvalidParameter, match="account id"):
        account_email(bad)
