"""Readers during replace batches from 8 writers always see each batch whole.

Every batch replaces the same developers (and inserts the ones not yet stored),
all carrying the batch's label in ``team``. A batch applied in parts would leave
two labels among those developers at some instant; a reader holding the read
lock lists them and must find one label, every developer present once the
first batch landed, and the email index agreeing with the rows. The journal the
store logs to must replay to the same final rows.
"""

from __future__ import annotations

import threading

from infertrace.activity import Developer, MemoryActivityStore
from tests.activity.conftest import dev
from tests.activity.test_durable import MemoryJournal
from tests.activity.test_upsert import rows

WRITERS = 8
BATCHES = 12
DEVELOPERS = 300
READERS = 2
TIMEOUT = 60.0


def test_readers_never_see_part_of_a_replace_batch() -> None:
    journal = MemoryJournal()
    store = MemoryActivityStore()
    store.attach(journal)
    errors: list[BaseException] = []
    done = threading.Event()
    seen_labels: set[str] = set()
    reads = [0]

    def write(w: int) -> None:
        try:
            for b in range(BATCHES):
                label = f"w{w}b{b}"
                # the second half of the developers first: row order differs from key order
                order = [*range(DEVELOPERS // 2, DEVELOPERS), *range(DEVELOPERS // 2)]
                store.upsert_batch([dev(i, team=label) for i in order], "replace")
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    def read() -> None:
        try:
            while not done.is_set():
                with store.reading() as view:
                    listed = view.query(Developer)
                    labels = {d.team for d in listed}
                    count = view.count(Developer)
                    by_email = view.tables[Developer].find("email", "dev7@example.com")
                assert len(listed) in (0, DEVELOPERS), len(listed)
                assert count == len(listed)
                assert len(labels) <= 1, sorted(labels)  # never two batches at once
                if listed:
                    assert by_email is not None and by_email.team in labels
                seen_labels.update(labels)
                reads[0] += 1
        except BaseException as exc:
            errors.append(exc)
            done.set()

    readers = [threading.Thread(target=read) for _ in range(READERS)]
    writers = [threading.Thread(target=write, args=(w,)) for w in range(WRITERS)]
    for t in readers + writers:
        t.start()
    for t in writers:
        t.join(TIMEOUT)
    done.set()
    for t in readers:
        t.join(TIMEOUT)
    assert not any(t.is_alive() for t in readers + writers), "a thread did not finish"
    assert errors == []
    assert reads[0] > 0 and seen_labels  # the readers did look while batches landed
    final = store.list(Developer)
    assert len(final) == DEVELOPERS and len({d.team for d in final}) == 1
    assert len(journal.records) == WRITERS * BATCHES  # one record a batch
    replayed = MemoryActivityStore()
    for lsn, table, payload in journal.records:
        replayed.replay(table, lsn, payload)
    assert rows(replayed, Developer) == rows(store, Developer)
    store._check()
