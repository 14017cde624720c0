"""The git log stream parser against any message, name and chunking (hypothesis).

The stream is built here the way ``git log --numstat --format=FORMAT`` prints it
(each field preceded by NUL, the message followed by NUL, then the numstat
lines), from commits the test draws; parsing it in chunks of any size must give
the drawn commits back, whatever their messages hold short of a NUL byte (git
refuses those).
"""

from __future__ import annotations

from collections.abc import Iterator

from hypothesis import given, settings
from hypothesis import strategies as st

from infertrace.activity.gitlog import _parse

NO_NUL = st.text(st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)))
FILES = st.lists(
    st.tuples(st.integers(0, 10_000) | st.none(), st.integers(0, 10_000) | st.none()),
    max_size=6,
)
COMMITS = st.lists(
    st.tuples(
        st.text("0123456789abcdef", min_size=40, max_size=40),
        NO_NUL.filter(lambda s: s == s.strip()),
        NO_NUL.filter(lambda s: s == s.strip()),
        st.integers(0, 4_000_000_000),
        NO_NUL,
        FILES,
    ),
    max_size=8,
)


def stream(
    commits: list[tuple[str, str, str, int, str, list[tuple[int | None, int | None]]]],
) -> bytes:
    out = []
    for sha, email, name, seconds, message, files in commits:
        out.append("\0" + "\0".join([sha, email, name, str(seconds), message]) + "\0")
        lines = [f"{'-' if a is None else a}\t{'-' if d is None else d}\tf{i}"
                 for i, (a, d) in enumerate(files)]  # fmt: skip
        out.append("\n" + "".join(line + "\n" for line in lines) if lines else "\n")
    return "".join(out).encode()


def chunked(data: bytes, sizes: list[int]) -> Iterator[bytes]:
    at, i = 0, 0
    while at < len(data):
        size = sizes[i % len(sizes)]
        yield data[at : at + size]
        at += size
        i += 1


@settings(max_examples=300, deadline=None)
@given(COMMITS, st.lists(st.integers(1, 50), min_size=1, max_size=5))
def test_any_history_parses_back_in_any_chunks(
    commits: list[tuple[str, str, str, int, str, list[tuple[int | None, int | None]]]],
    sizes: list[int],
) -> None:
    parsed = list(_parse(chunked(stream(commits), sizes)))
    assert len(parsed) == len(commits)
    for got, (sha, email, name, seconds, _message, files) in zip(parsed, commits, strict=True):
        assert (got.sha, got.author_email, got.author_name) == (sha, email, name)
        assert got.timestamp == seconds * 1_000_000_000
        assert got.additions == sum(a for a, _ in files if a is not None)
        assert got.deletions == sum(d for _, d in files if d is not None)
