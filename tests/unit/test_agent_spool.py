"""The agent's spool keeps every file until the controller acknowledges it, across restarts and crashes."""

from __future__ import annotations

import errno
import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from capturerig.agent import Spool, SpoolError, _spool
from capturerig.devices import CameraFile


def _file(name: str, data: bytes = b"\xff\xd8 jpeg bytes") -> CameraFile:
    return CameraFile(name, "jpeg", data, 1_800_000_000.0)


def test_a_stored_file_is_on_disk_with_its_hash_and_offered_after_a_restart(tmp_path: Path) -> None:
    spool = Spool(tmp_path, reserve_bytes=0)
    kept = spool.store(_file("DSC_0001.JPG"), "cam03", "arm-1", 0, ("S-20261206", "p00/s00/l00/b0", 1))
    assert spool.path(kept.file_id).read_bytes() == b"\xff\xd8 jpeg bytes"
    assert kept.sha256 == hashlib.sha256(b"\xff\xd8 jpeg bytes").hexdigest()
    spool.close()
    again = Spool(tmp_path, reserve_bytes=0)  # the agent restarted: the ledger says what is still to offer
    assert again.unacknowledged() == [kept]
    assert again.problems == []


def test_an_acknowledged_file_is_deleted_and_not_offered_again_and_a_repeated_ack_is_harmless(tmp_path: Path) -> None:
    spool = Spool(tmp_path, reserve_bytes=0)
    first = spool.store(_file("A.JPG"), "cam00", "arm-1", 0)
    second = spool.store(_file("B.JPG"), "cam01", "arm-2", 0)
    assert spool.acknowledge([first.file_id]) == [first]
    assert spool.acknowledge([first.file_id]) == []  # a retried ack
    assert not spool.path(first.file_id).exists()
    spool.close()
    assert Spool(tmp_path, reserve_bytes=0).unacknowledged() == [second]


def test_a_torn_last_ledger_line_loses_nothing_before_it(tmp_path: Path) -> None:
    spool = Spool(tmp_path, reserve_bytes=0)
    kept = spool.store(_file("A.JPG"), "cam00", "arm-1", 0)
    spool.close()
    with (tmp_path / "ledger.jsonl").open("a") as ledger:
        ledger.write('{"op":"stored","file":{"file_id":')  # the crash cut the next line short
    assert Spool(tmp_path, reserve_bytes=0).unacknowledged() == [kept]


def test_a_file_altered_or_gone_on_disk_is_reported_not_offered(tmp_path: Path) -> None:
    spool = Spool(tmp_path, reserve_bytes=0)
    altered = spool.store(_file("A.JPG"), "cam00", "arm-1", 0)
    gone = spool.store(_file("B.JPG"), "cam01", "arm-1", 0)
    spool.close()
    spool.path(altered.file_id).write_bytes(b"something else")
    spool.path(gone.file_id).unlink()
    reopened = Spool(tmp_path, reserve_bytes=0)
    assert reopened.unacknowledged() == []
    assert any("cam00 A.JPG): altered on disk" in p for p in reopened.problems)
    assert any("cam01 B.JPG): in the ledger, missing on disk" in p for p in reopened.problems)


def test_the_reserve_is_kept_and_a_closed_spool_says_so(tmp_path: Path) -> None:
    spool = Spool(tmp_path, reserve_bytes=10**18)  # more than any disk
    assert not spool.room_for(1)
    spool.close()
    with pytest.raises(SpoolError, match="is closed"):
        spool.store(_file("A.JPG"), "cam00", "arm-1", 0)


def test_files_sixteen_cameras_store_at_once_share_ledger_writes_and_are_all_offered_after_a_restart(
        tmp_path: Path) -> None:
    spool = Spool(tmp_path, reserve_bytes=0)
    with ThreadPoolExecutor(16) as pool:
        kept = list(pool.map(lambda k: spool.store(_file(f"IMG_{k:04d}.JPG", bytes([k]) * 1000), f"cam{k:02d}",
                                                   f"arm-{k}", 0), range(16)))
    spool.acknowledge([kept[0].file_id, kept[1].file_id])
    spool.close()
    lines = (tmp_path / "ledger.jsonl").read_text().splitlines()
    assert len(lines) == 17  # one line per file and one for the acknowledgement, none lost or torn
    again = Spool(tmp_path, reserve_bytes=0)
    assert sorted(s.file_id for s in again.unacknowledged()) == sorted(s.file_id for s in kept[2:])
    assert again.problems == []


def test_without_syncfs_each_stored_file_its_folder_and_the_ledger_are_fsynced(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another platform (no Linux syncfs): the spool falls back to an fsync of every file it stores."""
    synced: list[Path] = []
    real_fsync_file = _spool.fsync_file

    def fsync_file(path: Path) -> None:
        synced.append(path)
        real_fsync_file(path)

    monkeypatch.setattr(_spool, "sync_filesystem", lambda fd: False)
    monkeypatch.setattr(_spool, "fsync_file", fsync_file)
    spool = Spool(tmp_path, reserve_bytes=0)
    with ThreadPoolExecutor(4) as pool:
        kept = list(pool.map(lambda k: spool.store(_file(f"IMG_{k:04d}.JPG"), f"cam{k:02d}", "arm-1", 0), range(4)))
    spool.close()
    assert sorted(synced) == sorted(spool.path(s.file_id) for s in kept)
    assert sorted(s.file_id for s in Spool(tmp_path, reserve_bytes=0).unacknowledged()) == sorted(
        s.file_id for s in kept)


def test_a_failed_flush_of_the_spool_disk_fails_the_store_and_leaves_no_file_to_offer(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(fd: int) -> bool:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(_spool, "sync_filesystem", failing)
    spool = Spool(tmp_path, reserve_bytes=0)
    with pytest.raises(SpoolError, match=r"ledger.*Input/output error"):
        spool.store(_file("A.JPG"), "cam00", "arm-1", 0)
    assert spool.unacknowledged() == []
    assert list((tmp_path / "files").iterdir()) == []
