"""A RAW file counts only when LibRaw reads all of it: a truncated transfer is refused before it is journalled."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from capturerig.engine._storage import StorageError, store_bytes
from capturerig_sim.dng import DngMeta, encode_dng
from capturerig_sim.raw_sensor import SensorModel


def _dng() -> bytes:
    counts = np.random.default_rng(1).integers(512, 16383, size=(120, 160), dtype=np.uint16)
    return encode_dng(counts, SensorModel(), DngMeta("capturerig", "sim", np.eye(3), np.ones(3), 1 / 125, 8, 100))


def test_a_whole_dng_is_stored_and_hashed(tmp_path: Path) -> None:
    data = _dng()
    kept = store_bytes(data, tmp_path / "cam01_t001.dng", "raw")
    assert kept.size == len(data)
    assert (tmp_path / "cam01_t001.dng").read_bytes() == data


def test_a_truncated_dng_is_refused_naming_it_and_nothing_is_left(tmp_path: Path) -> None:
    data = _dng()
    with pytest.raises(StorageError, match=r"cam01_t001\.dng.*re-shot"):
        store_bytes(data[: len(data) - 4096], tmp_path / "cam01_t001.dng", "raw")
    assert not (tmp_path / "cam01_t001.dng").exists()
