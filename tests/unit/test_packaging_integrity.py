"""A package is all there or not there, and says which file is wrong when it is damaged."""

from __future__ import annotations

import errno
import hashlib
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from capturerig.config import RigConfig, default_rig_path, load_rig
from capturerig.packaging import (
    MANIFEST_NAME,
    PackageFrame,
    PackageIntegrityError,
    verify_package,
    write_package,
)

METADATA = {"session_id": "S2", "subject_id": "mannequin", "rig": "sim-studio", "plan": "sim-demo",
            "created": "2025-01-01T12:00:00+00:00", "capturerig_version": "0.1.0"}


@pytest.fixture(scope="module")
def rig() -> RigConfig:
    return load_rig(default_rig_path()).config


def _frame(folder: Path, camera_id: str, station: str, angle: float | None, seed: int) -> PackageFrame:
    name = f"{camera_id}_p00_{station}_l00.jpg"
    source = folder / name
    pixels = np.random.default_rng(seed).integers(0, 255, (24, 32, 3), dtype=np.uint8)
    assert cv2.imwrite(str(source), pixels)
    return PackageFrame(source=source, name=name, camera_id=camera_id, pose_id="p00", station_id=station,
                        light_id="l00", bracket_id="b0", station_angle_deg=angle,
                        sha256=hashlib.sha256(source.read_bytes()).hexdigest(),
                        lighting={"id": "l00", "name": "all white, full"})


@pytest.fixture
def frames(rig: RigConfig, tmp_path: Path) -> list[PackageFrame]:
    session = tmp_path / "session"
    session.mkdir()
    return [_frame(session, camera.id, station, angle, seed)
            for seed, (camera, (station, angle)) in enumerate(
                (camera, station) for camera in rig.cameras[:4] for station in (("s00", 0.0), ("s01", 90.0)))]


def _nothing_left(parent: Path) -> bool:
    return not (parent / "package").exists() and not list(parent.glob(".package.partial-*"))


def test_manifest_lists_every_file_with_its_sha256(rig: RigConfig, frames: list[PackageFrame],
                                                   tmp_path: Path) -> None:
    summary = write_package(rig, frames, tmp_path / "package", METADATA)
    root = summary.out_dir
    lines = summary.manifest_path.read_text().splitlines()
    listed = [line.split("  ", 1) for line in lines]
    paths = [path for _, path in listed]
    on_disk = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    assert paths == sorted(paths)
    assert paths == [p for p in on_disk if p != MANIFEST_NAME]
    for digest, path in listed:
        assert digest == hashlib.sha256((root / path).read_bytes()).hexdigest(), path
    assert {f"images/{f.name}" for f in frames} | {"transforms.json", "package.json"} <= set(paths)
    assert {f"sparse/0/{n}.bin" for n in ("cameras", "images", "points3D", "rigs", "frames")} <= set(paths)
    assert summary.total_bytes == sum((root / p).stat().st_size for p in on_disk)
    assert (summary.num_images, summary.num_cameras) == (8, 4)
    assert summary.transforms_path.is_file()
    assert summary.colmap_dir.is_dir()


def test_a_fresh_package_verifies_clean(rig: RigConfig, frames: list[PackageFrame], tmp_path: Path) -> None:
    assert verify_package(write_package(rig, frames, tmp_path / "package", METADATA).out_dir) == []


def test_verify_names_an_image_with_one_flipped_byte(rig: RigConfig, frames: list[PackageFrame],
                                                     tmp_path: Path) -> None:
    root = write_package(rig, frames, tmp_path / "package", METADATA).out_dir
    victim = root / "images" / frames[3].name
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0x01
    victim.unlink()  # a new inode, so the session's hard-linked original stays intact
    victim.write_bytes(bytes(data))
    problems = verify_package(root)
    assert len(problems) == 1
    assert f"images/{frames[3].name}" in problems[0]
    assert "sha256" in problems[0]


def test_verify_names_deleted_and_unlisted_files(rig: RigConfig, frames: list[PackageFrame],
                                                 tmp_path: Path) -> None:
    root = write_package(rig, frames, tmp_path / "package", METADATA).out_dir
    (root / "sparse" / "0" / "images.bin").unlink()
    (root / "images" / "stray.jpg").write_bytes(b"not captured")
    problems = verify_package(root)
    assert any("sparse/0/images.bin" in p and "missing" in p for p in problems)
    assert any("images/stray.jpg" in p and "not listed" in p for p in problems)
    assert len(problems) == 2


def test_verify_reports_a_missing_manifest_or_package(tmp_path: Path) -> None:
    assert "no such package" in verify_package(tmp_path / "nowhere")[0]
    assert MANIFEST_NAME in verify_package(tmp_path)[0]


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

    monkeypatch.setattr("capturerig.packaging._writer.write_manifest", fail)
    with pytest.raises(OSError, match="No space left"):
        write_package(rig, frames, tmp_path / "package", METADATA)
    assert _nothing_left(tmp_path)
    # The partial package held hard links: removing it must not have touched the session's files.
    assert all(hashlib.sha256(f.source.read_bytes()).hexdigest() == f.sha256 for f in frames)


def test_images_are_hard_linked_on_one_filesystem_and_copied_across(
    rig: RigConfig, frames: list[PackageFrame], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    linked = write_package(rig, frames, tmp_path / "linked", METADATA).out_dir
    assert all(os.path.samefile(f.source, linked / "images" / f.name) for f in frames)

    def cross_device(*_args: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr("capturerig.packaging._files.os.link", cross_device)
    copied = write_package(rig, frames, tmp_path / "copied", METADATA).out_dir
    assert not any(os.path.samefile(f.source, copied / "images" / f.name) for f in frames)
    assert verify_package(copied) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "cam00_p00_s00_l00.jpg"}, r"frame 1 .*duplicate name.*cam00_p00_s00_l00\.jpg"),
        ({"name": "CAM00_P00_S00_L00.JPG"}, r"frame 1 .*duplicate name"),
        ({"name": "../escape.jpg"}, r"frame 1 .*flat file name"),
        ({"camera_id": "cam99"}, r"frame 1 .*camera 'cam99' is not a camera of rig 'sim-studio'"),
        ({"source": Path("/nonexistent/x.jpg")}, r"frame 1 .*/nonexistent/x\.jpg does not exist"),
        ({"sha256": "abc"}, r"frame 1 .*sha256 must be 64 hex digits"),
        ({"station_angle_deg": float("nan")}, r"frame 1 .*not a finite number"),
        ({"lighting": {"dmx": object()}}, r"frame 'cam00_p00_s01_l00\.jpg' lighting\.dmx: cannot store object"),
    ],
)
def test_bad_frames_are_refused_before_anything_is_written(
    rig: RigConfig, frames: list[PackageFrame], tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    bad = [frames[0], replace(frames[1], **change), *frames[2:]]
    with pytest.raises(ValueError, match=message):
        write_package(rig, bad, tmp_path / "package", METADATA)
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
