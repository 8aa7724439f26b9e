"""A package is a BagIt bag the Library of Congress validator accepts; damage is found and named.

What a user sees: `capturerig verify` passes on a fresh package and, after one flipped byte anywhere in the
payload, fails with exit code 1 naming that file; a package is all there or not there.
"""

from __future__ import annotations

import datetime
import errno
import hashlib
import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import bagit
import pytest
from typer.testing import CliRunner

from capturerig.cli import app
from capturerig.config import RigConfig, default_rig_path, load_rig
from capturerig.packaging import (
    PackageFrame,
    PackageIntegrityError,
    PlannedTake,
    check_package,
    verify_package,
    write_package,
)
from tests.unit._package_frames import METADATA, make_frames

runner = CliRunner()
CAMERAS = ("cam00", "cam01", "cam02", "cam03")


@pytest.fixture(scope="module")
def rig() -> RigConfig:
    return load_rig(default_rig_path()).config


@pytest.fixture
def frames(rig: RigConfig, tmp_path: Path) -> list[PackageFrame]:
    return make_frames(rig, tmp_path / "session", CAMERAS)


@pytest.fixture(scope="module")
def bag(rig: RigConfig, tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("bag")
    frames = make_frames(rig, base / "session", CAMERAS, lights=("l00", "olat-fx3"))
    extra = {"provenance/lineage.json": b'{"package_id": "P-1"}\n'}
    return write_package(rig, frames, base / "package", METADATA, extra_payload=extra).out_dir


def _nothing_left(parent: Path) -> bool:
    return not (parent / "package").exists() and not list(parent.glob(".package.partial-*"))


def _payload(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in (root / "data").rglob("*") if p.is_file())


def test_the_bag_declares_itself_lists_every_file_twice_and_bagit_validates(bag: Path) -> None:
    assert (bag / "bagit.txt").read_text() == "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
    info = dict(line.split(": ", 1) for line in (bag / "bag-info.txt").read_text().splitlines())
    assert info["External-Identifier"] == "S-package-0001"
    assert info["Bagging-Date"] == datetime.datetime.now(datetime.UTC).date().isoformat()
    assert info["Capturerig-Package-Schema"] == "capturerig.package/2"
    payload = _payload(bag)
    assert info["Payload-Oxum"] == f"{sum((bag / p).stat().st_size for p in payload)}.{len(payload)}"
    for algorithm in ("sha256", "sha512"):
        lines = [line.split("  ", 1) for line in (bag / f"manifest-{algorithm}.txt").read_text().splitlines()]
        assert [path for _, path in lines] == payload
        for digest, path in lines:
            assert digest == hashlib.new(algorithm, (bag / path).read_bytes()).hexdigest(), path
        tags = [line.split("  ", 1)[1] for line in (bag / f"tagmanifest-{algorithm}.txt").read_text().splitlines()]
        assert tags == ["bag-info.txt", "bagit.txt", "manifest-sha256.txt", "manifest-sha512.txt"]
    assert "data/provenance/lineage.json" in payload
    library = bagit.Bag(str(bag))
    library.validate()  # raises BagValidationError naming what is wrong
    assert library.info["External-Identifier"] == "S-package-0001"
    assert set(library.algorithms) == {"sha256", "sha512"}


def test_the_training_root_holds_calibration_lighting_and_one_snapshot_per_light(bag: Path) -> None:
    data = bag / "data"
    for snapshot in ("p00_l00", "p00_olat-fx3"):
        root = data / "snapshots" / snapshot
        names = sorted(p.name for p in (root / "images").iterdir())
        assert names == sorted(f"{c}_p00_{s}_{snapshot[4:]}.jpg" for c in CAMERAS for s in ("s00", "s01"))
        assert sorted(p.name for p in (root / "undistorted" / "images").iterdir()) == names
        assert sorted(p.name for p in (root / "xmp").iterdir()) == [f"{n}.xmp" for n in names]
        for model in ("colmap/sparse/0", "undistorted/sparse/0"):
            assert {p.name for p in (root / model).iterdir()} == {f"{n}.bin" for n in
                                                                  ("cameras", "images", "points3D", "rigs", "frames")}
        assert (root / "transforms.json").is_file()
    geometry = json.loads((data / "calibration" / "geometry.json").read_text())
    assert geometry["schema"] == "capturerig.geometry/1"
    assert geometry["source"] == "nominal"
    document = json.loads((data / "package.json").read_text())
    assert document["geometry"]["source"] == "nominal"
    assert "nominal" in document["geometry"]["note"]
    states = {s["id"]: s for s in json.loads((data / "lighting" / "states.json").read_text())["states"]}
    assert states["olat-fx3"]["olat_index"] == 3
    assert states["olat-fx3"]["polarisation"] == "cross"
    assert states["l00"]["olat_index"] is None
    assert states["l00"]["dmx"] == {"0": "ff800007"}  # DMX bytes stored as hex
    fixtures = json.loads((data / "lighting" / "fixtures.json").read_text())["fixtures"]
    assert fixtures[3]["id"] == "fx3"
    assert len(fixtures[3]["position"]) == 3
    images = json.loads((data / "lighting" / "images.json").read_text())["images"]
    olat = [i for i in images if i["light_id"] == "olat-fx3"]
    assert len(olat) == 8
    assert all(i["olat_index"] == 3 and i["polarisation"] == "cross" for i in olat)
    assert olat[0]["levels"] == {"fx3": {"intensity": 1.0, "white": 1.0}}
    report = check_package(bag)
    assert report.ok, report.problems
    assert (report.takes_planned, report.takes_complete, report.snapshots) == (4, 4, 2)


def _flip(path: Path) -> bytes:
    original = path.read_bytes()
    damaged = bytearray(original)
    # A letter or digit near the middle: the content changes, a JSON file still parses (a broken one would
    # add its own complaint).
    middle = next(i for i in range(len(damaged) // 2, len(damaged)) if chr(damaged[i]).isalnum())
    damaged[middle] ^= 0x01
    path.unlink()  # a new inode, so the session's hard-linked original stays intact
    path.write_bytes(bytes(damaged))
    return original


@pytest.mark.parametrize("victim", [
    "data/snapshots/p00_l00/images/cam02_p00_s01_l00.jpg",
    "data/snapshots/p00_olat-fx3/undistorted/images/cam01_p00_s00_olat-fx3.jpg",
    "data/snapshots/p00_l00/xmp/cam00_p00_s00_l00.jpg.xmp",
    "data/snapshots/p00_l00/transforms.json",
    "data/snapshots/p00_olat-fx3/colmap/sparse/0/images.bin",
    "data/snapshots/p00_l00/undistorted/sparse/0/cameras.bin",
    "data/calibration/geometry.json",
    "data/calibration/colmap/rigs.bin",
    "data/lighting/images.json",
    "data/package.json",
    "data/provenance/lineage.json",
])
def test_one_flipped_byte_in_any_payload_file_fails_verify_naming_that_file(bag: Path, victim: str) -> None:
    original = _flip(bag / victim)
    try:
        result = runner.invoke(app, ["verify", str(bag)])
        assert result.exit_code == 1, result.output
        failing = [line for line in result.output.splitlines() if line.startswith("FAIL")]
        assert len(failing) == 2, result.output  # one line per manifest: sha256 and sha512
        assert all(victim in line for line in failing)
        with pytest.raises(bagit.BagValidationError, match=victim.rsplit("/", 1)[1]):
            bagit.Bag(str(bag)).validate()
    finally:
        (bag / victim).unlink()
        (bag / victim).write_bytes(original)
    assert verify_package(bag) == []


def test_verify_names_missing_unlisted_and_damaged_tag_files(rig: RigConfig, frames: list[PackageFrame],
                                                             tmp_path: Path) -> None:
    root = write_package(rig, frames, tmp_path / "package", METADATA).out_dir
    (root / "data/snapshots/p00_l00/colmap/sparse/0/images.bin").unlink()
    (root / "data/snapshots/p00_l00/images/stray.jpg").write_bytes(b"not captured")
    with (root / "bag-info.txt").open("a") as handle:
        handle.write("Contact-Name: someone\n")
    problems = verify_package(root)
    assert any("colmap/sparse/0/images.bin: missing" in p for p in problems)
    assert any("images/stray.jpg: present but not listed in manifest-sha256.txt" in p for p in problems)
    assert any(p.startswith("bag-info.txt: sha256") for p in problems)
    assert any(p.startswith("bag-info.txt: Payload-Oxum") for p in problems)  # the stray file
    assert any("snapshot p00_l00 needs it" in p for p in problems)


def test_verify_names_every_take_the_plan_needs_but_the_package_lacks(rig: RigConfig, frames: list[PackageFrame],
                                                                      tmp_path: Path) -> None:
    planned = [PlannedTake("p00/s00/l00/b0", CAMERAS, 4), PlannedTake("p00/s01/l00/b0", (*CAMERAS, "cam04"), 5),
               PlannedTake("p00/s02/l00/b0", CAMERAS, 3)]
    root = write_package(rig, frames, tmp_path / "package", METADATA, planned=planned).out_dir
    result = runner.invoke(app, ["verify", str(root)])
    assert result.exit_code == 1
    flat = " ".join(result.output.split())
    assert "take p00/s01/l00/b0: 4 of 5 cameras present, the plan needs 5 (missing: cam04)" in flat
    assert "take p00/s02/l00/b0: 0 of 4 cameras present, the plan needs 3 (missing: cam00, cam01, cam02, cam03)" \
        in flat
    assert "1/3 planned takes complete" in flat
    assert "p00/s00/l00/b0" not in flat


def test_verify_of_a_folder_that_is_no_bag_says_so(tmp_path: Path) -> None:
    assert "no such package" in verify_package(tmp_path / "nowhere")[0]
    assert "bagit.txt missing" in verify_package(tmp_path)[0]


def test_a_file_changed_after_verification_is_refused_and_nothing_is_left(
    rig: RigConfig, frames: list[PackageFrame], tmp_path: Path
) -> None:
    changed = frames[5]
    changed.source.write_bytes(changed.source.read_bytes() + b"\0")
    with pytest.raises(PackageIntegrityError, match=changed.name) as caught:
        write_package(rig, frames, tmp_path / "package", METADATA)
    assert str(changed.source) in str(caught.value)
    assert changed.sha256 in str(caught.value)
    assert _nothing_left(tmp_path)


def test_a_crash_while_writing_leaves_no_package(rig: RigConfig, frames: list[PackageFrame], tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_args: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("capturerig.packaging._writer.write_tag_files", fail)
    with pytest.raises(OSError, match="No space left"):
        write_package(rig, frames, tmp_path / "package", METADATA)
    assert _nothing_left(tmp_path)
    # The partial package held hard links: removing it must not have touched the session's files.
    assert all(hashlib.sha256(f.source.read_bytes()).hexdigest() == f.sha256 for f in frames)


@pytest.mark.parametrize("undistort", [True, False])
def test_images_are_hard_linked_on_one_filesystem_and_copied_across(
    rig: RigConfig, frames: list[PackageFrame], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, undistort: bool
) -> None:
    def image(root: Path, frame: PackageFrame) -> Path:
        return root / "data" / "snapshots" / "p00_l00" / "images" / frame.name

    linked = write_package(rig, frames, tmp_path / "linked", METADATA, undistort=undistort).out_dir
    assert all(os.path.samefile(f.source, image(linked, f)) for f in frames)

    def cross_device(*_args: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", cross_device)
    copied = write_package(rig, frames, tmp_path / "copied", METADATA, undistort=undistort).out_dir
    assert not any(os.path.samefile(f.source, image(copied, f)) for f in frames)
    assert all(image(copied, f).read_bytes() == f.source.read_bytes() for f in frames)
    assert verify_package(copied) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "cam00_p00_s00_l00.jpg"}, r"frame 1 .*duplicate name.*cam00_p00_s00_l00\.jpg"),
        ({"name": "CAM00_P00_S00_L00.JPG"}, r"frame 1 .*duplicate name"),
        ({"name": "../escape.jpg"}, r"frame 1 .*flat file name"),
        ({"snapshot": "a/b"}, r"frame 1 .*snapshot 'a/b' must be a flat folder name"),
        ({"camera_id": "cam99"}, r"frame 1 .*camera 'cam99' is not a camera of rig 'sim-studio'"),
        ({"source": Path("/nonexistent/x.jpg")}, r"frame 1 .*/nonexistent/x\.jpg does not exist"),
        ({"mask": Path("/nonexistent/m.png")}, r"frame 1 .*mask /nonexistent/m\.png does not exist"),
        ({"sha256": "abc"}, r"frame 1 .*sha256 must be 64 hex digits"),
        ({"station_angle_deg": float("nan")}, r"frame 1 .*not a finite number"),
        ({"lighting": {"dmx": object()}}, r"frame 'cam01_p00_s00_l00\.jpg' lighting\.dmx: cannot store object"),
    ],
)
def test_bad_frames_are_refused_before_anything_is_written(
    rig: RigConfig, frames: list[PackageFrame], tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    bad = [frames[0], replace(frames[1], **change), *frames[2:]]
    with pytest.raises(ValueError, match=message):
        write_package(rig, bad, tmp_path / "package", METADATA)
    assert _nothing_left(tmp_path)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"extra_payload": {"../outside.json": b"{}"}}, r"extra payload '\.\./outside\.json': must be a relative"),
        ({"extra_payload": {"/abs.json": b"{}"}}, r"extra payload '/abs\.json'"),
        ({"extra_payload": {"snapshots/x.json": b"{}"}}, r"data/snapshots is written by the package itself"),
        ({"xmp_fields": {"nope:Field": "x"}}, r"XMP property 'nope:Field': want 'prefix:Name' with a known prefix"),
        ({"originals": "maybe"}, r"originals must be one of keep, reference, drop"),
    ],
)
def test_bad_options_are_refused_before_anything_is_written(
    rig: RigConfig, frames: list[PackageFrame], tmp_path: Path, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        write_package(rig, frames, tmp_path / "package", METADATA, **options)
    assert _nothing_left(tmp_path)


def test_no_frames_existing_target_and_bad_metadata_are_refused(
    rig: RigConfig, frames: list[PackageFrame], tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="no frames"):
        write_package(rig, [], tmp_path / "package", METADATA)
    with pytest.raises(ValueError, match=r"metadata\.created: cannot store object"):
        write_package(rig, frames, tmp_path / "package", {**METADATA, "created": object()})
    assert _nothing_left(tmp_path)
    (tmp_path / "package").mkdir()
    with pytest.raises(FileExistsError, match="already exists"):
        write_package(rig, frames, tmp_path / "package", METADATA)
    assert list((tmp_path / "package").iterdir()) == []
