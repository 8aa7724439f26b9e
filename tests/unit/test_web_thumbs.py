"""Contact-sheet thumbnails: big enough for the sheet's largest cells, never enlarged, made once per image."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from capturerig.web._thumbs import THUMB_LONG_SIDE, ThumbnailCache, ThumbnailError


def _jpeg(path: Path, height: int, width: int) -> Path:
    image = np.random.default_rng(3).integers(0, 256, (height, width, 3), dtype=np.uint8)
    assert cv2.imwrite(str(path), image)
    return path


def _long_side(path: Path) -> int:
    image = cv2.imread(str(path))
    assert image is not None
    return max(image.shape[:2])


def test_a_thumbnail_is_large_enough_for_the_biggest_sheet_cells_on_a_hidpi_screen() -> None:
    assert THUMB_LONG_SIDE >= 2 * 120  # the desk sheet draws cells of ~130 px; twice that for a 2x screen


@pytest.mark.parametrize(("height", "width"), [(640, 480), (4000, 6000), (1080, 1920)])
def test_every_camera_frame_gets_a_thumbnail_of_the_full_long_side(tmp_path: Path, height: int, width: int) -> None:
    cache = ThumbnailCache(tmp_path / "cache")
    thumb = cache.thumbnail(_jpeg(tmp_path / "frame.jpg", height, width))
    # The sim's 640 px frame: its quarter-size decode (160 px) would be too small, so the half-size one is used.
    assert _long_side(thumb) == THUMB_LONG_SIDE


def test_a_frame_smaller_than_a_thumbnail_is_not_enlarged(tmp_path: Path) -> None:
    thumb = ThumbnailCache(tmp_path / "cache").thumbnail(_jpeg(tmp_path / "small.jpg", 100, 80))
    assert _long_side(thumb) == 100


def test_a_thumbnail_is_made_once_and_again_when_the_file_changes(tmp_path: Path) -> None:
    cache = ThumbnailCache(tmp_path / "cache")
    source = _jpeg(tmp_path / "frame.jpg", 640, 480)
    first = cache.thumbnail(source)
    assert cache.thumbnail(source) == first
    assert cache.made == 1
    _jpeg(source, 480, 640)  # re-shot: a new file under the same name
    assert cache.thumbnail(source) != first
    assert cache.made == 2


def test_a_file_that_is_not_an_image_is_refused_by_name(tmp_path: Path) -> None:
    bad = tmp_path / "cam00.nef"
    bad.write_bytes(b"\x00RAW" * 1000)
    with pytest.raises(ThumbnailError, match=r"cam00\.nef: not an image"):
        ThumbnailCache(tmp_path / "cache").thumbnail(bad)
