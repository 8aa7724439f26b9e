"""The segmenter plug-in point and how plates are matched to images by name or sidecar."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from capturerig.masks import (
    DifferenceSegmenter,
    LinearImage,
    MaskError,
    Matte,
    Segmenter,
    load_segmenter,
    make_masks,
    pair_plates,
    scan_folder,
)


class HalfSegmenter:
    """A stand-in model: the left half of every image is the subject; it records what it was given."""

    name = "half"

    def __init__(self) -> None:
        self.calls: list[tuple[Path, Path]] = []

    def segment(self, image: LinearImage, plate: LinearImage) -> Matte:
        self.calls.append((image.path, plate.path))
        mask = np.zeros(image.rgb.shape[:2], dtype=bool)
        mask[:, : image.rgb.shape[1] // 2] = True
        return Matte(mask, np.zeros_like(mask))


def _write(path: Path, value: int, size: tuple[int, int] = (20, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.full((*size, 3), value, np.uint8))
    return path


def test_a_plugged_in_segmenter_makes_the_masks(tmp_path: Path) -> None:
    _write(tmp_path / "plates" / "cam00" / "l00.png", 40)
    _write(tmp_path / "plates" / "cam00" / "l01.png", 60)
    _write(tmp_path / "images" / "cam00" / "cam00_p00_s00_l01.png", 90)
    fake = HalfSegmenter()
    assert isinstance(fake, Segmenter)

    report = make_masks(tmp_path / "plates", tmp_path / "images", tmp_path / "out", segmenter=fake)

    assert fake.calls == [(tmp_path / "images" / "cam00" / "cam00_p00_s00_l01.png",
                           tmp_path / "plates" / "cam00" / "l01.png")]  # the plate of its lighting state
    mask = cv2.imread(str(tmp_path / "out" / "cam00" / "cam00_p00_s00_l01.png"), cv2.IMREAD_UNCHANGED)
    assert report.written == [tmp_path / "out" / "cam00" / "cam00_p00_s00_l01.png"]
    assert mask is not None
    assert mask.dtype == np.uint8
    assert mask.shape == (20, 30)
    assert (mask[:, :15] == 255).all()
    assert (mask[:, 15:] == 0).all()
    assert report.without_hull == ["no geometry given: masks without the visual hull"]


def test_the_classical_segmenter_is_the_default_and_models_need_their_weights(tmp_path: Path) -> None:
    assert isinstance(load_segmenter(), DifferenceSegmenter)
    with pytest.raises(MaskError, match="takes no weights"):
        load_segmenter("difference", tmp_path / "w.onnx")
    with pytest.raises(MaskError, match=r"segmenter 'u2net' is not installed \(installed: difference"):
        load_segmenter("u2net", tmp_path / "w.onnx")


def test_stations_and_sidecars_choose_the_plate(tmp_path: Path) -> None:
    _write(tmp_path / "plates" / "cam01" / "s00_l00.jpg", 40)
    _write(tmp_path / "plates" / "cam01" / "s01_l00.jpg", 50)
    _write(tmp_path / "images" / "cam01" / "p00_s01_l00.jpg", 90)
    odd = _write(tmp_path / "images" / "cam01" / "frame-0042.jpg", 90)
    odd.with_name(odd.name + ".json").write_text(json.dumps({"lighting": "l00", "station": "s00"}))

    pairs = pair_plates(scan_folder(tmp_path / "plates", "plates"), scan_folder(tmp_path / "images", "images"),
                        tmp_path / "plates", tmp_path / "images")

    assert {(image.path.name, plate.path.name) for image, plate in pairs} == {
        ("p00_s01_l00.jpg", "s01_l00.jpg"), ("frame-0042.jpg", "s00_l00.jpg")}


def test_missing_plates_are_all_named(tmp_path: Path) -> None:
    _write(tmp_path / "plates" / "cam00" / "l00.jpg", 40)
    _write(tmp_path / "images" / "cam00" / "p00_s00_l02.jpg", 90)
    _write(tmp_path / "images" / "cam03" / "p00_s00_l00.jpg", 90)

    with pytest.raises(MaskError) as caught:
        make_masks(tmp_path / "plates", tmp_path / "images", tmp_path / "out")

    message = str(caught.value)
    assert "cam00/p00_s00_l02.jpg: no plate for lighting state l02 at station s00" in message
    assert "(it has l00)" in message
    assert "camera cam03: no plates" in message
    assert not (tmp_path / "out").exists()  # nothing written before every image has its plate
