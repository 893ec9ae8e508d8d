"""The S3 endpoint's journal: what a restore reads back (object files, then every segment
in order), torn records, folding into the object files, and deleted buckets."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest
from sfnstack.serve.object_journal import ObjectJournal
from sfnstack.serve.store import DataDir, StoredObject


def _object(bucket: str, key: str, data: bytes) -> StoredObject:
    return StoredObject(
        bucket,
        key,
        etag=f'"{len(data)}"',
        metadata={"Content-Type": "text/plain"},
        last_modified="2026-12-04T00:00:00+00:00",
        data=data,
    )


def _put(journal: ObjectJournal, bucket: str, key: str, data: bytes) -> None:
    journal.put(_object(bucket, key, data))


def _state(data: DataDir) -> dict[tuple[str, str], bytes]:
    return {where: stored.read_bytes() for where, stored in ObjectJournal(data).objects().items()}


@pytest.fixture
def data(tmp_path: Path) -> DataDir:
    data = DataDir(tmp_path / "data")
    data.save_bucket("runs", "us-east-1", "2026-12-04T00:00:00+00:00")
    return data


def test_the_journal_is_replayed_in_order_over_the_object_files(data: DataDir) -> None:
    data.save_object(_object("runs", "old.txt", b"from a file"))
    data.save_object(_object("runs", "gone.txt", b"x"))
    journal = ObjectJournal(data)
    _put(journal, "runs", "a.txt", b"first")
    _put(journal, "runs", "a.txt", b"second\n\xff\x00")  # bytes with a newline, not UTF-8
    journal.delete("runs", "gone.txt")
    _put(journal, "runs", "weird \n key ü", b"")
    _put(journal, "nobucket", "k", b"a bucket never saved")
    journal.close()
    state = _state(data)
    assert state == {
        ("runs", "old.txt"): b"from a file",
        ("runs", "a.txt"): b"second\n\xff\x00",
        ("runs", "weird \n key ü"): b"",
    }
    stored = ObjectJournal(data).objects()[("runs", "a.txt")]
    assert (stored.etag, stored.metadata) == ("9", {"Content-Type": "text/plain"})


@pytest.mark.parametrize("cut", [1, 10, 40, -3, -1])
def test_a_torn_last_record_is_ignored_and_the_rest_kept(
    data: DataDir, cut: int, caplog: pytest.LogCaptureFixture
) -> None:
    """The machine stopped mid-write: the record that does not read back whole, and
    nothing after it, is restored; every record before it is."""
    journal = ObjectJournal(data)
    _put(journal, "runs", "kept.txt", b"kept")
    segment = journal.directory / "000001.log"
    whole = segment.stat().st_size
    _put(journal, "runs", "torn.txt", b"0123456789" * 5)
    journal.close()
    size = segment.stat().st_size
    with open(segment, "r+b") as handle:
        handle.truncate(whole + cut if cut > 0 else size + cut)
    with caplog.at_level(logging.WARNING, logger="sfnstack.serve.object_journal"):
        assert _state(data) == {("runs", "kept.txt"): b"kept"}
    assert "does not read back whole" in caplog.text


def test_a_corrupted_record_ends_the_replay_of_its_segment(data: DataDir) -> None:
    journal = ObjectJournal(data)
    _put(journal, "runs", "kept.txt", b"kept")
    _put(journal, "runs", "flipped.txt", b"abcdef")
    _put(journal, "runs", "after.txt", b"after")
    journal.close()
    segment = journal.directory / "000001.log"
    raw = segment.read_bytes()
    segment.write_bytes(raw.replace(b"abcdef", b"abcdeX"))
    assert _state(data) == {("runs", "kept.txt"): b"kept"}


def test_folding_writes_the_object_files_and_removes_the_segments(data: DataDir) -> None:
    journal = ObjectJournal(data, segment_bytes=300)  # a new segment every few records
    journal.start_folding()
    for index in range(40):
        _put(journal, "runs", f"k{index % 25}", b"%d" % index)
    journal.delete("runs", "k3")
    assert journal.wait_folded(30)
    journal.close()
    assert list(journal.directory.iterdir()) == []
    files = {stored.key: stored.read_bytes() for stored in data.objects("runs")}
    expected = {f"k{i}": b"%d" % (i + 25 if i < 15 else i) for i in range(25) if i != 3}
    assert files == expected
    assert _state(data) == {("runs", key): value for key, value in expected.items()}


def test_a_fold_stopped_midway_changes_nothing_a_restore_sees(data: DataDir) -> None:
    journal = ObjectJournal(data, segment_bytes=10**9)
    for index in range(30):
        _put(journal, "runs", f"k{index % 7}", b"%d" % index)
        if index % 4 == 0:
            journal.delete("runs", f"k{(index + 3) % 7}")
    journal.close()
    before = _state(data)
    stopping = ObjectJournal(data)
    applied = 0
    real_save = data.save_object

    def save_then_stop(*args: object, **kwargs: object) -> None:
        nonlocal applied
        real_save(*args, **kwargs)  # type: ignore[arg-type]
        applied += 1
        if applied == 5:
            stopping._fold_stop = True  # close() during the fold

    data.save_object = save_then_stop  # type: ignore[method-assign]
    assert stopping.fold(1) is False
    del data.save_object
    assert (stopping.directory / "000001.log").exists()
    assert _state(data) == before  # the files are ahead, the segment still wins
    assert ObjectJournal(data).fold(1) is True
    assert _state(data) == before


def test_a_deleted_bucket_is_neither_restored_nor_folded_into(data: DataDir) -> None:
    """A bucket emptied and deleted, then made again: only what came after counts, and
    no fold writes into a bucket directory that is gone."""
    journal = ObjectJournal(data)
    _put(journal, "runs", "old.txt", b"old")
    journal.delete("runs", "old.txt")
    data.delete_bucket("runs")
    _put(journal, "gone", "k", b"a bucket deleted before it was saved")
    journal.close()
    assert _state(data) == {}
    assert ObjectJournal(data).fold(1) is True
    assert not (data.s3 / "runs").exists()
    assert not (data.s3 / "gone").exists()

    data.save_bucket("runs", "us-east-1", "2026-12-04T01:00:00+00:00")
    journal = ObjectJournal(data)
    _put(journal, "runs", "old.txt", b"before the deletion")
    journal.delete("runs", "old.txt")
    _put(journal, "runs", "new.txt", b"new")
    journal.close()
    assert _state(data) == {("runs", "new.txt"): b"new"}
    assert ObjectJournal(data).fold(1) is True  # the first segment again: 1 was folded
    assert {stored.key for stored in data.objects("runs")} == {"new.txt"}


def test_appends_from_many_threads_each_read_back_whole(data: DataDir) -> None:
    journal = ObjectJournal(data, segment_bytes=4096)
    journal.start_folding()

    def writer(thread: int) -> None:
        for index in range(50):
            _put(journal, "runs", f"t{thread}/{index}", bytes([thread]) * (index * 13))

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    expected = {("runs", f"t{t}/{i}"): bytes([t]) * (i * 13) for t in range(4) for i in range(50)}
    assert _state(data) == expected
    assert journal.wait_folded(30)
    journal.close()
    assert _state(data) == expected


def test_a_short_write_continues_where_it_stopped(
    data: DataDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kernel may take part of a writev (a large object, a signal): the record still
    reads back whole."""
    from sfnstack.serve import object_journal

    real_writev = object_journal.os.writev

    def a_few_bytes_at_a_time(fd: int, buffers: list[memoryview]) -> int:
        return real_writev(fd, [buffers[0][:7]])

    monkeypatch.setattr(object_journal.os, "writev", a_few_bytes_at_a_time)
    journal = ObjectJournal(data)
    _put(journal, "runs", "a.txt", b"0123456789" * 30)
    journal.delete("runs", "b.txt")
    _put(journal, "runs", "c.txt", b"c")
    journal.close()
    monkeypatch.undo()
    assert _state(data) == {("runs", "a.txt"): b"0123456789" * 30, ("runs", "c.txt"): b"c"}


def test_appends_are_not_held_behind_a_sync(data: DataDir, monkeypatch: pytest.MonkeyPatch) -> None:
    """The syncer's fsync can take milliseconds; a PutObject meanwhile must not wait."""
    from sfnstack.serve import object_journal

    journal = ObjectJournal(data)
    _put(journal, "runs", "first.txt", b"1")
    in_fsync, release = threading.Event(), threading.Event()
    real_fsync = object_journal.os.fsync

    def slow_fsync(fd: int) -> None:
        in_fsync.set()
        release.wait(5)
        real_fsync(fd)

    monkeypatch.setattr(object_journal.os, "fsync", slow_fsync)
    syncing = threading.Thread(target=journal.sync)
    syncing.start()
    assert in_fsync.wait(5)
    appended = threading.Thread(target=_put, args=(journal, "runs", "second.txt", b"2"))
    appended.start()
    appended.join(2)
    held = appended.is_alive()
    release.set()
    syncing.join(5)
    appended.join(5)
    monkeypatch.undo()
    journal.close()
    assert not held
    assert _state(data) == {("runs", "first.txt"): b"1", ("runs", "second.txt"): b"2"}


def test_the_state_read_while_a_segment_is_folded_keeps_its_records(
    data: DataDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``objects`` reads the object files, then the segments. A fold that ran between the
    two (it writes the object files, then deletes its segment) hid that segment's records
    from the state read: seen once in CI, in the many-threads test, whose reads overlap the
    folding thread. The read now holds the data directory's object files, which a fold
    takes for each record, so a fold waits for the read to end."""
    journal = ObjectJournal(data, segment_bytes=1)  # each record closes its segment
    _put(journal, "runs", "kept", b"kept across the fold")
    real_objects = data.objects
    folds: list[threading.Thread] = []

    def objects_then_a_fold(bucket: str):  # type: ignore[no-untyped-def]
        found = list(real_objects(bucket))
        fold = threading.Thread(target=journal.fold, args=(1,))
        fold.start()
        fold.join(2)  # the fold, from another thread, between the two reads
        folds.append(fold)
        return iter(found)

    monkeypatch.setattr(data, "objects", objects_then_a_fold)
    state = ObjectJournal(data).objects()
    monkeypatch.undo()
    folds[0].join(10)
    assert {where: stored.read_bytes() for where, stored in state.items()} == {
        ("runs", "kept"): b"kept across the fold"
    }
    assert _state(data) == {("runs", "kept"): b"kept across the fold"}  # folded, after
    journal.close()
