"""The viewer's histogram: what it counts and says about clipped highlights and crushed shadows (synthetic images)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from capturerig.web._histogram import CLIP_HIGH, CRUSH_LOW, HistogramCache, HistogramError, image_histogram


def _grey(value: int, shape: tuple[int, int] = (100, 200)) -> np.ndarray:
    return np.full((*shape, 3), value, dtype=np.uint8)


def test_a_mid_grey_frame_has_one_bin_per_channel_and_no_clipping() -> None:
    h = image_histogram(_grey(128))
    assert h["pixels"] == 20_000
    for channel in ("red", "green", "blue"):
        assert h["bins"][channel][128] == 20_000
        assert sum(h["bins"][channel]) == 20_000
    assert h["clipped_any"] == h["crushed_all"] == 0
    assert h["words"] == {"highlights": "no clipped highlights", "shadows": "no crushed shadows"}
    assert h["level"] == "ok"


def test_a_blown_quarter_is_counted_per_channel_and_said_in_words() -> None:
    image = _grey(120)
    image[:50, :100, 0] = 255  # a quarter of the frame: red at the ceiling (a red highlight clips first)
    h = image_histogram(image)
    assert h["clipped"] == {"red": 0.25, "green": 0.0, "blue": 0.0}
    assert h["clipped_any"] == 0.25
    assert h["words"]["highlights"] == f"25.0 % of the frame has clipped highlights (a channel at {CLIP_HIGH} or " \
                                       "more; red 25.0 %)"
    assert h["level"] == "warn"


def test_jpeg_rounding_near_the_ceiling_counts_as_clipped_and_one_step_below_does_not() -> None:
    image = _grey(100)
    image[:10, :, :] = CLIP_HIGH  # 10 % at 254: clipped as JPEG leaves a blown area
    image[10:20, :, :] = CLIP_HIGH - 1  # 10 % at 253: bright, not clipped
    h = image_histogram(image)
    assert h["clipped_any"] == pytest.approx(0.10)
    assert h["clipped"]["green"] == pytest.approx(0.10)


def test_crushed_shadows_need_every_channel_black() -> None:
    image = _grey(90)
    image[:20, :, :] = CRUSH_LOW  # 20 %: black in every channel
    image[20:40, :, 2] = 0  # 20 % more: blue at zero only (a saturated yellow, not a crushed shadow)
    h = image_histogram(image)
    assert h["crushed_all"] == pytest.approx(0.20)
    assert h["crushed"]["blue"] == pytest.approx(0.40)
    assert h["crushed"]["red"] == pytest.approx(0.20)
    assert h["words"]["shadows"].startswith("20.0 % of the frame has crushed shadows")
    assert "blue 40.0 %" in h["words"]["shadows"]


def test_a_few_clipped_pixels_are_named_but_do_not_warn() -> None:
    image = _grey(128, (1000, 1000))
    image[0, :50, :] = 255  # 50 pixels of 1,000,000
    h = image_histogram(image)
    assert h["clipped_any"] == pytest.approx(50e-6)
    assert h["words"]["highlights"].startswith("under 0.1 % of the frame has clipped highlights")
    assert h["level"] == "ok"


def test_anything_but_an_8_bit_rgb_image_is_refused() -> None:
    with pytest.raises(HistogramError, match="8-bit RGB"):
        image_histogram(np.zeros((10, 10), dtype=np.uint8))
    with pytest.raises(HistogramError, match="8-bit RGB"):
        image_histogram(np.zeros((10, 10, 3), dtype=np.uint16))


def test_a_file_is_read_in_rgb_order_at_reduced_size_and_kept(tmp_path: Path) -> None:
    image = _grey(60, (480, 640))
    image[:, :320] = (255, 255, 255)  # the left half white, in BGR as OpenCV writes it...
    image[:, 320:, 0] = 250  # ...the right half a strong blue (BGR's first channel), not clipped
    path = tmp_path / "frame.png"  # lossless: the counts are exact
    assert cv2.imwrite(str(path), image)
    cache = HistogramCache(entries=1)
    h = cache.histogram(path)
    assert h["clipped"] == {"red": 0.5, "green": 0.5, "blue": 0.5}
    assert h["bins"]["blue"][250] == h["pixels"] / 2  # blue is blue: the BGR file is read as RGB
    assert cache.histogram(path) is h  # the same file again: not decoded again

    bad = tmp_path / "raw.nef"
    bad.write_bytes(b"not an image at all")
    with pytest.raises(HistogramError, match=r"raw\.nef: not an image"):
        cache.histogram(bad)


def test_a_large_jpeg_is_decoded_at_a_fraction_of_its_size(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, (2000, 3000, 3), dtype=np.uint8)  # noise: a JPEG of several MB
    path = tmp_path / "big.jpg"
    assert cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert path.stat().st_size > 1_000_000
    h = HistogramCache().histogram(path)
    assert h["width"] * h["height"] <= 3000 * 2000 / 16  # a quarter of each side at most
    assert h["pixels"] == h["width"] * h["height"]
