"""A studio calibrates once a day: the demo reuses its stored calibration only while the rig is unchanged."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from capturerig.calibration import CalibrationStore
from capturerig.config import load_rig
from tests.conftest import EXAMPLES
from tests.integration.conftest import Demo, demo_until

CAM03_POSITION = "position: [-1.5556, 1.5556, 0.7]"


def _rig_with_cam03_moved(folder: Path) -> Path:
    """A copy of the demo rig in which cam03 stands 2 cm higher."""
    shutil.copytree(EXAMPLES, folder)
    rig = folder / "rig.yaml"
    text = rig.read_text(encoding="utf-8")
    assert text.count(CAM03_POSITION) == 1
    rig.write_text(text.replace(CAM03_POSITION, "position: [-1.5556, 1.5556, 0.72]"), encoding="utf-8")
    return rig


def _demo_until(args: list[str], wanted: str) -> list[str]:
    with demo_until(args, wanted, timeout_s=120) as (_, lines):
        return lines


def test_the_stored_calibration_serves_the_same_rig_and_names_what_moved_in_another(demo: Demo,
                                                                                      tmp_path: Path) -> None:
    store = CalibrationStore(demo.out / "calibration")
    stored, reasons = store.for_rig(demo.rig.config)
    assert stored is not None, reasons
    assert stored.geometry.is_file()
    assert stored.colour.is_file()
    assert stored.figures["geometry_rms_px"] < 0.3

    moved = load_rig(_rig_with_cam03_moved(tmp_path / "studio")).config
    stored, reasons = store.for_rig(moved)
    assert stored is None
    assert len(reasons) == 1
    assert "the rig changed since calibration sim-studio-" in reasons[0]
    assert "camera cam03: pose" in reasons[0]
    assert "0.72" in reasons[0]

    truth_changed = demo.rig.config.model_copy(update={"simulation": {"truth": {"seed": 2, "centre_mm": 5.0}}})
    stored, reasons = store.for_rig(truth_changed)
    assert stored is None
    assert "simulation.truth" in reasons[0]


def test_a_second_demo_reuses_the_calibration_and_a_moved_camera_makes_it_calibrate_again(
        demo: Demo, tmp_path: Path) -> None:
    out = tmp_path / "demo"
    shutil.copytree(demo.out / "calibration", out / "calibration")
    lines = _demo_until(["--out", str(out), "--no-serve"], "calibration:")
    reuse = " ".join(" ".join(lines).split())
    assert "calibration: reusing sim-studio-" in reuse, reuse
    assert "(the rig is unchanged since)" in reuse

    rig = _rig_with_cam03_moved(tmp_path / "studio")
    lines = _demo_until(["--out", str(out), "--no-serve", "--rig", str(rig)], "calibration:")
    again = " ".join(" ".join(lines).split())
    assert "calibration: calibrating the studio (the rig changed since calibration sim-studio-" in again, again
    assert "camera cam03: pose" in again
    # Stopped while calibrating: nothing half-made is offered for reuse.
    assert [entry.id for entry in CalibrationStore(out / "calibration").stored()] == [
        entry.id for entry in CalibrationStore(demo.out / "calibration").stored()]


@pytest.mark.parametrize("damage", ["not json", '{"schema": "something/else"}'])
def test_a_damaged_store_entry_is_named_not_used(tmp_path: Path, damage: str) -> None:
    entry = tmp_path / "store" / "sim-studio-20260101T000000Z"
    entry.mkdir(parents=True)
    (entry / "studio-calibration.json").write_text(damage, encoding="utf-8")
    with pytest.raises(ValueError, match=r"sim-studio-20260101T000000Z/studio-calibration.json: not a stored studio"):
        CalibrationStore(tmp_path / "store").stored()
