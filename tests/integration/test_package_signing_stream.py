"""Captured JPEGs signed while they are copied into the bag (the route that keeps signing cheap): each validates in
c2pa's own Reader, is the captured file plus one manifest, is hashed into the bag as written, and a source that no
longer matches its journal leaves nothing behind."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import c2pa
import cv2
import numpy as np
import pytest

from capturerig.config import default_rig_path, load_rig
from capturerig.packaging import PackageFrame, PackageIntegrityError, PackageSigning, write_package
from capturerig.packaging._files import Digests
from capturerig.packaging._signing import FrameSigner
from capturerig.provenance import C2PA_EKUS, create_test_identity
from capturerig.provenance._embed import insertion_offset

METADATA = {"session_id": "S-stream", "capturerig_version": "tests"}


def _jpeg(seed: int, comments: int = 0) -> bytes:
    """A noisy 640x480 JPEG; ``comments`` 60 kB COM segments after SOI push its header past the first 1 MiB."""
    rng = np.random.default_rng(seed)
    ok, encoded = cv2.imencode(".jpg", rng.integers(0, 255, (480, 640, 3), dtype=np.uint8))
    assert ok
    data = encoded.tobytes()
    segment = b"\xff\xfe" + (60_002).to_bytes(2, "big") + bytes(60_000)
    return data[:2] + segment * comments + data[2:]


def _frames(folder: Path, images: dict[str, bytes]) -> list[PackageFrame]:
    folder.mkdir()
    rig = load_rig(default_rig_path()).config
    frames = []
    for index, (name, data) in enumerate(images.items()):
        (folder / name).write_bytes(data)
        frames.append(PackageFrame(
            source=folder / name, name=name, camera_id=rig.cameras[index].id, pose_id="p00", station_id="s00",
            light_id="l00", bracket_id="b0", station_angle_deg=0.0, sha256=hashlib.sha256(data).hexdigest(),
            exposed_at=1796591095.25, lighting={"id": "l00", "name": "white"}))
    return frames


@pytest.fixture(scope="module")
def identity(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return create_test_identity(tmp_path_factory.mktemp("studio")).directory


def _signing(identity: Path) -> PackageSigning:
    return PackageSigning(str(identity), "S-stream", "sim-studio", None, "P-1", "tests")


def _manifest_digests(bag: Path) -> dict[str, dict[str, str]]:
    found: dict[str, dict[str, str]] = {}
    for algorithm in ("sha256", "sha512"):
        for line in (bag / f"manifest-{algorithm}.txt").read_text().splitlines():
            digest, path = line.split(maxsplit=1)
            found.setdefault(path, {})[algorithm] = digest
    return found


def test_streamed_originals_validate_and_are_hashed_into_the_bag_as_written(tmp_path: Path, identity: Path) -> None:
    images = {"cam00_p00_s00_l00.jpg": _jpeg(1), "cam01_p00_s00_l00.jpg": _jpeg(2),
              "cam02_p00_s00_l00.jpg": _jpeg(3, comments=20)}  # header beyond the first chunk: signed from memory
    assert insertion_offset(images["cam02_p00_s00_l00.jpg"][:1 << 20], "image/jpeg") is None
    bag = tmp_path / "bag"
    rig = load_rig(default_rig_path()).config
    write_package(rig, _frames(tmp_path / "session", images), bag, METADATA, undistort=False,
                  signing=_signing(identity))

    listed = _manifest_digests(bag)
    trust = (identity / "trust.pem").read_text()
    settings = {"trust": {"trust_anchors": trust, "trust_config": "".join(f"{o.dotted_string}\n" for o in C2PA_EKUS)},
                "verify": {"remote_manifest_fetch": False}}
    for name, captured in images.items():
        relative = f"data/snapshots/p00_l00/images/{name}"
        signed = (bag / relative).read_bytes()
        assert listed[relative] == {"sha256": hashlib.sha256(signed).hexdigest(),
                                    "sha512": hashlib.sha512(signed).hexdigest()}, relative
        with c2pa.Context.from_dict(settings) as context, \
                c2pa.Reader("image/jpeg", io.BytesIO(signed), context=context) as reader:
            report = json.loads(reader.json())
        assert (report["validation_results"]["activeManifest"]["failure"], report["validation_state"]) == (
            [], "Trusted"), relative
        active = report["manifests"][report["active_manifest"]]
        assertions = {a["label"]: a["data"] for a in active["assertions"]}
        assert [a["action"] for a in assertions["c2pa.actions.v2"]["actions"]] == ["c2pa.created"]
        assert assertions["org.capturerig.capture"]["session_id"] == "S-stream"
        assert assertions["org.capturerig.capture"]["captured_at"] == "2026-12-06T21:04:55.250Z"
        # The signed file is the captured one with the manifest inserted once, nothing else changed.
        added = len(signed) - len(captured)
        offset = next(i for i, (a, b) in enumerate(zip(signed, captured, strict=False)) if a != b)
        assert signed[:offset] + signed[offset + added:] == captured, relative


def test_a_source_changed_since_its_journal_is_refused_and_nothing_of_it_is_left(tmp_path: Path,
                                                                                identity: Path) -> None:
    images = {"cam00_p00_s00_l00.jpg": _jpeg(4)}
    frames = _frames(tmp_path / "session", images)
    changed = bytearray(images["cam00_p00_s00_l00.jpg"])
    changed[-100] ^= 0x01
    frames[0].source.write_bytes(bytes(changed))
    bag = tmp_path / "bag"
    with pytest.raises(PackageIntegrityError, match=r"cam00_p00_s00_l00\.jpg"):
        write_package(load_rig(default_rig_path()).config, frames, bag, METADATA, undistort=False,
                      signing=_signing(identity))
    assert not bag.exists() or list(bag.rglob("*cam00_p00_s00_l00.jpg*")) == []  # no image, no temporary


def test_the_streaming_signer_publishes_nothing_when_the_bytes_read_are_not_the_journals(
        tmp_path: Path, identity: Path) -> None:
    (frame,) = _frames(tmp_path / "session", {"cam00_p00_s00_l00.jpg": _jpeg(5)})
    frame.source.write_bytes(_jpeg(6))  # another picture under the journalled name
    out = tmp_path / "bag"
    out.mkdir()
    files: dict[str, Digests] = {}
    signer = FrameSigner(_signing(identity))
    try:
        read = signer.stream_original(frame.source, out / frame.name, frame.name, frame, files)
    finally:
        signer.close()
    assert read is not None
    assert read.sha256 == hashlib.sha256(_jpeg(6)).hexdigest() != frame.sha256
    assert files == {}
    assert list(out.iterdir()) == []  # neither the image nor a temporary
