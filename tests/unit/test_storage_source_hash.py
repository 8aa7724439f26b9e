"""A file a capture host hashed as it spooled it is stored only if the bytes on disk here match that hash."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from capturerig.engine._storage import StorageError, store_bytes


def _jpeg() -> bytes:
    ok, encoded = cv2.imencode(".jpg", np.full((32, 32, 3), 128, np.uint8))
    assert ok
    return encoded.tobytes()


def test_bytes_that_match_the_hosts_hash_are_stored_under_it(tmp_path: Path) -> None:
    data = _jpeg()
    kept = store_bytes(data, tmp_path / "cam00.jpg", "jpeg", expected_sha256=hashlib.sha256(data).hexdigest())
    assert kept.sha256 == hashlib.sha256(data).hexdigest()
    assert (tmp_path / "cam00.jpg").read_bytes() == data


def test_bytes_altered_on_the_way_from_the_host_are_refused_saying_so(tmp_path: Path) -> None:
    data = _jpeg()
    host_hash = hashlib.sha256(data + b"the byte the wire lost").hexdigest()
    with pytest.raises(StorageError, match=r"differ from what the camera sent \(on the way from its capture host"):
        store_bytes(data, tmp_path / "cam00.jpg", "jpeg", expected_sha256=host_hash)


def test_a_crashs_partial_write_kept_as_evidence_is_never_overwritten_when_the_file_is_stored_again(
        tmp_path: Path) -> None:
    data = _jpeg()
    evidence = tmp_path / "cam04_p00_s02_l00.jpg.part"
    evidence.write_bytes(data[: len(data) // 2])  # the controller died while writing it; recovery journalled it
    kept = store_bytes(data, tmp_path / "cam04_p00_s02_l00.jpg", "jpeg")  # its capture host offers it again
    assert evidence.read_bytes() == data[: len(data) // 2]
    assert kept.path.read_bytes() == data
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == [evidence.name]
