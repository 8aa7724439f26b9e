"""A RAW file from a camera LibRaw does not know is refused by name, maker and model; never developed into
plausible wrong colours."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import tifffile

from capturerig.develop import DevelopError, check_raw, develop_linear


def _unknown_makers_raw() -> bytes:
    """A TIFF-based RAW (a 16-bit mosaic, as NEF and ARW files are) of a maker LibRaw has never heard of."""
    mosaic = (np.random.default_rng(7).random((64, 96)) * 4000).astype(np.uint16)
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, mosaic, photometric="minisblack",
                     extratags=[(271, "s", 0, "Acme Optics", True), (272, "s", 0, "Hyperion X9", True)])
    return buffer.getvalue()


def test_a_raw_from_a_camera_libraw_does_not_know_is_refused_naming_file_maker_and_model(tmp_path: Path) -> None:
    path = tmp_path / "cam04" / "IMG_0007.nef"
    path.parent.mkdir()
    path.write_bytes(_unknown_makers_raw())
    check_raw(path.read_bytes(), str(path))  # whole and readable: it is stored as captured, never lost
    for source in (path, path.read_bytes()):
        with pytest.raises(DevelopError) as refused:
            develop_linear(source, name=str(path))
        message = str(refused.value)
        assert message.startswith(f"{path}: LibRaw ")
        assert "maker 'Acme Optics', model 'Hyperion X9'" in message
        assert "convert it to DNG" in message


def test_a_file_libraw_does_not_support_at_all_is_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "IMG_0001.cr3"
    path.write_bytes(b"\x00\x00\x00\x18ftypcrx " + bytes(4000))  # a CR3's box header, then nothing LibRaw knows
    with pytest.raises(DevelopError) as refused:
        develop_linear(path, name=str(path))
    assert str(refused.value).startswith(f"{path}: LibRaw ")
    assert "does not support this file's format or camera" in str(refused.value)
    assert "maker and model not readable" in str(refused.value)
