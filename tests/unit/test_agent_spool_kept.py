"""An agent keeping acknowledged files as local copies: never offered again, deleted oldest first and only when
the disk reserve needs the room, known again after a restart.

The spool's disk here is a small simulated one: its free space is a fixed capacity minus the bytes the spool's
files folder really holds, so "the disk fills" is exact and not disturbed by whatever else writes to /tmp.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from capturerig.agent import Spool
from capturerig.devices import CameraFile

SIZE = 1000  # bytes per file


def _disk(capacity: int) -> Callable[[Path], int]:
    def free(folder: Path) -> int:
        return capacity - sum(p.stat().st_size for p in (folder / "files").iterdir())
    return free


def _store(spool: Spool, k: int) -> str:
    return spool.store(CameraFile(f"IMG_{k:04d}.CR3", "raw", bytes([k]) * SIZE, 1_800_000_000.0 + k),
                       f"cam{k % 4:02d}", f"arm-{k}", 0).file_id


def _ledger(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / "ledger.jsonl").read_text().splitlines()]


def test_an_acknowledged_file_is_kept_on_disk_never_offered_again_and_known_after_a_restart(tmp_path: Path) -> None:
    spool = Spool(tmp_path, reserve_bytes=0, keep_acknowledged=True, disk_free=_disk(100 * SIZE))
    first, second = _store(spool, 1), _store(spool, 2)
    assert [f.file_id for f in spool.acknowledge([first])] == [first]
    assert spool.path(first).read_bytes() == bytes([1]) * SIZE  # the local copy stays
    assert spool.get(first) is None  # ... but it is the controller's now: not served, not in a snapshot
    assert [f.file_id for f in spool.unacknowledged()] == [second]
    assert [f.file_id for f in spool.kept()] == [first]
    assert spool.acknowledge([first]) == []  # a retried ack
    assert [e["op"] for e in _ledger(tmp_path)] == ["stored", "stored", "acked"]  # acked, as without keeping
    spool.close()
    again = Spool(tmp_path, reserve_bytes=0, keep_acknowledged=True, disk_free=_disk(100 * SIZE))
    assert [f.file_id for f in again.kept()] == [first]
    assert [f.file_id for f in again.unacknowledged()] == [second]
    assert again.problems == []


def test_kept_files_stay_while_the_disk_has_room_and_go_oldest_first_when_a_new_file_needs_it(tmp_path: Path) -> None:
    spool = Spool(tmp_path, reserve_bytes=2 * SIZE, keep_acknowledged=True, disk_free=_disk(8 * SIZE))
    ids = [_store(spool, k) for k in range(6)]  # 6 on a disk of 8 with 2 in reserve: full up to the reserve
    spool.acknowledge(ids[3:] + ids[:3])  # acknowledged out of order: "oldest" is the order they were stored
    assert len(spool.kept()) == 6  # no pressure yet: nothing deleted
    newer = [_store(spool, k) for k in (6, 7)]  # each needs one file's room above the reserve
    assert [f.file_id for f in spool.kept()] == ids[2:]
    assert not any(spool.path(i).exists() for i in ids[:2])
    assert all(spool.path(i).exists() for i in ids[2:] + newer)
    dropped = [e for e in _ledger(tmp_path) if e["op"] == "dropped"]
    assert [f for e in dropped for f in e["file_ids"]] == ids[:2]
    spool.close()
    again = Spool(tmp_path, reserve_bytes=2 * SIZE, keep_acknowledged=True, disk_free=_disk(8 * SIZE))
    assert [f.file_id for f in again.kept()] == ids[2:]
    assert [f.file_id for f in again.unacknowledged()] == newer


def test_unacknowledged_files_are_never_deleted_for_room(tmp_path: Path) -> None:
    spool = Spool(tmp_path, reserve_bytes=0, keep_acknowledged=True, disk_free=_disk(3 * SIZE))
    kept = _store(spool, 0)
    spool.acknowledge([kept])
    waiting = [_store(spool, k) for k in (1, 2, 3)]  # the third finds only the kept file to delete
    assert spool.kept() == []
    assert [f.file_id for f in spool.unacknowledged()] == waiting
    assert all(spool.path(i).is_file() for i in waiting)


def test_arming_counts_kept_bytes_as_room_and_free_space_under_the_reserve_is_made_up_from_them(
        tmp_path: Path) -> None:
    spool = Spool(tmp_path, reserve_bytes=4 * SIZE, keep_acknowledged=True, disk_free=_disk(8 * SIZE))
    ids = [_store(spool, k) for k in range(4)]
    spool.acknowledge(ids)
    assert spool.room_for(4 * SIZE)  # 0 free above the reserve, but 4 kept files' worth can be deleted
    assert not spool.room_for(5 * SIZE)
    assert len(spool.kept()) == 4  # counting is not deleting
    spool.close()
    tight = Spool(tmp_path, reserve_bytes=6 * SIZE, keep_acknowledged=True, disk_free=_disk(8 * SIZE))
    summary = tight.summary()  # found under the reserve (it grew): kept files go until it is kept again
    assert summary.free_bytes == 6 * SIZE
    assert [f.file_id for f in tight.kept()] == ids[2:]


def test_without_keeping_an_acknowledged_file_is_deleted_and_a_restart_deletes_what_an_earlier_boot_kept(
        tmp_path: Path) -> None:
    keeping = Spool(tmp_path, reserve_bytes=0, keep_acknowledged=True, disk_free=_disk(100 * SIZE))
    kept = _store(keeping, 1)
    keeping.acknowledge([kept])
    keeping.close()
    deleting = Spool(tmp_path, reserve_bytes=0, keep_acknowledged=False, disk_free=_disk(100 * SIZE))
    assert deleting.kept() == []
    assert not deleting.path(kept).exists()
    waiting = _store(deleting, 2)
    deleting.acknowledge([waiting])
    assert not deleting.path(waiting).exists()
    assert not deleting.room_for(101 * SIZE)
