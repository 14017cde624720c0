"""One rule for a developer's id, shared by every feed.

The coding-agent feed knows a developer by ``user.email`` (or an account id), a
git import by the author's email, a roster by the email column. Each derives the
developer's id from the same normalised email, so the three feeds meet on one
record without a lookup table: re-importing or re-sending finds the same id.
"""

from __future__ import annotations

import hashlib

from infertrace.errors import InvalidParameter

ID_PREFIX = "dev-"


def normalize_email(email: str) -> str:
    """The email as stored: surrounding space removed, lower case (mail systems
    treat addresses case-insensitively in practice, and git authors vary case)."""
    text = email.strip().lower() if type(email) is str else ""
    if "@" not in text or text.startswith("@") or text.endswith("@") or " " in text:
        raise InvalidParameter("email", f"email {email!r} is not an address")
    return text


def developer_id_for(email: str) -> str:
    """The developer id of ``email``: ``dev-`` and 16 hex digits of its BLAKE2b hash
    (stable across processes, unlike ``hash()``; 64 bits make a collision among a
    million developers about one in 36 million)."""
    digest = hashlib.blake2b(normalize_email(email).encode(), digest_size=8).hexdigest()
    return ID_PREFIX + digest


def account_email(account_id: str, domain: str = "accounts.invalid") -> str:
    """A stand-in email for a developer known only by an account id (the ``.invalid``
    top-level domain is reserved, RFC 2606, so it never names a real mailbox)."""
    text = account_id.strip() if type(account_id) is str else ""
    if not text or "@" in text or " " in text:
        raise InvalidParameter("account_id", f"account id {account_id!r} is not usable")
    return f"{text.lower()}@{domain}"
