"""Packaging a RAW session on Dask: one task per frame, on a local cluster (`capturerig package --dask`) and on a
scheduler with workers as a studio runs them (`dask scheduler`, `dask worker` on loopback, the rig's
`processing.scheduler`); the same payload as the thread pool, also when a worker is killed in the middle, and
nothing left behind when a source changed since it was journalled."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from distributed import Client
from typer.testing import CliRunner

from capturerig import load_rig
from capturerig.calibration.colour import (
    CameraColour,
    ColourCalibration,
    fit_camera_colour,
    lab_to_linear,
    load_reference,
    save_colour,
)
from capturerig.cli import app
from capturerig.engine import Journal, package_session
from capturerig.engine._package import load_colour_correction
from capturerig.packaging import PackageFrame, PackageIntegrityError, nominal_geometry, write_package
from capturerig.processing import MEMORY_RESOURCE, open_cluster, raw_files
from tests._dask import StudioCluster
from tests._raw_sessions import shoot_small_raw_session

runner = CliRunner()
# 2 stations x 2 lighting states; cam00, cam01 shoot RAW+JPEG (a rendition and a companion per take), the other
# 14 JPEG: 4 x (2 x 2 + 14) frames.
FRAMES = 4 * (2 * 2 + 14)
# What differs between two packages of one session, however their frames are placed: each package's identity in
# the consent registry (its id, when it was made, the registry's audit head after recording it; in
# provenance/lineage.json and package.json's metadata) and each XMP sidecar's xmp:MetadataDate (when the package
# was written).
_METADATA_DATE = re.compile(rb"<xmp:MetadataDate>[^<]*</xmp:MetadataDate>")
_PACKAGE_IDENTITY = {"provenance/lineage.json": ("package_id", "packaged_at", "audit_head_sha256"),
                     "package.json": ("metadata.package_id",)}

@pytest.fixture(scope="module")
def raw_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished session of the simulated studio, its plan cut to two lighting states (small and quick)."""
    return shoot_small_raw_session(tmp_path_factory.mktemp("raw-session"), cameras=2)


@pytest.fixture(scope="module")
def threads(raw_session: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The payload of the package written by the thread pool in this process: the reference."""
    out = tmp_path_factory.mktemp("threads") / "package"
    package_session(raw_session, out)
    return _payload(out)


@pytest.fixture(scope="module")
def studio_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StudioCluster]:
    cluster = StudioCluster(tmp_path_factory.mktemp("cluster-logs"))
    try:
        cluster.wait_ready()
        yield cluster
    finally:
        cluster.stop()


def _without(document: dict[str, Any], dotted: str) -> None:
    *parents, key = dotted.split(".")
    for parent in parents:
        document = document[parent]
    assert key in document, dotted
    del document[key]


def _payload(bag: Path, identity: dict[str, tuple[str, ...]] = _PACKAGE_IDENTITY) -> dict[str, str]:
    """sha256 of every file under the bag's data/ (relative path), without the package's identity and time."""
    data = bag / "data"
    hashes = {}
    for path in sorted(data.rglob("*")):
        if path.is_file():
            relative = str(path.relative_to(data))
            content = path.read_bytes()
            if path.suffix == ".xmp":
                assert len(_METADATA_DATE.findall(content)) == 1, path
                content = _METADATA_DATE.sub(b"<xmp:MetadataDate/>", content)
            elif relative in identity:
                document = json.loads(content)
                for field in identity[relative]:
                    _without(document, field)
                content = json.dumps(document, sort_keys=True).encode()
            hashes[relative] = hashlib.sha256(content).hexdigest()
    return hashes


def _leftovers(folder: Path) -> list[Path]:
    """Temporary files and partial bags (a writer killed or a run given up) anywhere under ``folder``."""
    return [p for p in folder.rglob("*") if ".partial" in p.name]


def _tasks_run(client: Client) -> int:
    """Tasks the cluster's workers ran so far (a lambda: pickled by value, the workers cannot import tests/)."""
    return sum(client.run(lambda dask_worker: dask_worker.state.executed_count).values())


def _verify(bag: Path) -> None:
    result = runner.invoke(app, ["verify", str(bag)])
    assert result.exit_code == 0, result.output
    assert "every file matches both manifests" in " ".join(result.output.split())


def test_the_reference_package_holds_every_kind_of_frame(threads: dict[str, str]) -> None:
    images = [path for path in threads if re.fullmatch(r"snapshots/[^/]+/images/[^/]+", path)]
    assert len(images) == FRAMES - 2 * 4  # the JPEG companions of RAW files go to originals/
    assert sum(1 for path in threads if "/linear/" in path) == 2 * 4  # a RAW file's linear rendition
    assert sum(1 for path in threads if path.startswith("originals/")) == 2 * 4


def test_a_local_cluster_packages_the_same_payload_as_the_thread_pool(
        raw_session: Path, threads: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "package"
    result = runner.invoke(app, ["package", str(raw_session), "--out", str(out), "--dask"])
    assert result.exit_code == 0, result.output
    assert f"{FRAMES} images" in " ".join(result.output.split())
    assert _payload(out) == threads
    _verify(out)
    assert _leftovers(tmp_path) == []


def test_the_rigs_scheduler_places_the_frames_there(
        raw_session: Path, threads: dict[str, str], studio_cluster: StudioCluster, tmp_path: Path) -> None:
    session = tmp_path / "session"
    shutil.copytree(raw_session, session)
    with (session / "rig.yaml").open("a", encoding="utf-8") as rig:
        rig.write(f"processing:\n  scheduler: {studio_cluster.address}\n")
    with open_cluster(studio_cluster.address) as client:
        before = _tasks_run(client)
        result = runner.invoke(app, ["package", str(session), "--out", str(tmp_path / "package")])
        assert result.exit_code == 0, result.output
        assert _tasks_run(client) - before >= FRAMES  # a task per frame ran there
    assert _payload(tmp_path / "package") == threads
    _verify(tmp_path / "package")


@pytest.fixture(scope="module")
def colour_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A colour.json fitting every camera: cam00 and cam01 as from RAW chart shots (their RAW frames are
    corrected), the others as from images."""
    reference = load_reference()
    scene = lab_to_linear(reference.lab_d50, "linear-rec2020")
    codes = np.asarray(np.clip(scene * np.array([1.08, 1.0, 0.9]) * 0.85, 0, 1) ** (1 / np.array([2.3, 2.1, 2.2])))
    fit = fit_camera_colour(codes, reference, np.ones(24, dtype=bool), "linear-srgb")
    cameras = {f"cam{i:02d}": CameraColour(f"cam{i:02d}", fit.chosen, "linear-srgb", fit.candidate.in_sample_de,
                                           fit.candidate.loo_de, source="raw" if i < 2 else "image")
               for i in range(16)}
    return save_colour(ColourCalibration(cameras, "linear-srgb", {"source": "test"}),
                       tmp_path_factory.mktemp("colour") / "colour.json")


def test_colour_correction_travels_to_the_workers(
        raw_session: Path, colour_file: Path, studio_cluster: StudioCluster, tmp_path: Path) -> None:
    """Its functions hold the calibration (and its cache's lock) by closure: the workers correct as threads do."""
    rig = load_rig(raw_session / "rig.yaml").config
    frames = _frames_of(raw_session)  # a RAW frame (corrected by correct_raw) and a JPEG (by correct)
    colour = load_colour_correction(colour_file, [f.camera_id for f in frames])
    metadata = {"session_id": "colour-on-dask"}
    write_package(rig, frames, tmp_path / "threads", metadata, colour=colour)
    with open_cluster(studio_cluster.address) as client:
        write_package(rig, frames, tmp_path / "cluster", metadata, colour=colour, client=client)
    entries = json.loads((tmp_path / "cluster" / "data" / "package.json").read_text())["frames"]
    assert [entry["colour_corrected"] for entry in entries] == [True, True]
    assert _payload(tmp_path / "cluster", identity={}) == _payload(tmp_path / "threads", identity={})
    _verify(tmp_path / "cluster")


def test_a_worker_killed_mid_run_leaves_the_package_complete_and_identical(
        raw_session: Path, threads: dict[str, str], studio_cluster: StudioCluster, tmp_path: Path) -> None:
    killed = threading.Event()
    frames_done = 0

    def kill_one_worker(done: int, total: int) -> None:
        nonlocal frames_done
        frames_done += 1
        if frames_done >= 8 and not killed.is_set():  # well into the run, most frames still to come
            os.killpg(studio_cluster.workers[0].pid, signal.SIGKILL)
            killed.set()

    with open_cluster(studio_cluster.address) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        summary = package_session(raw_session, tmp_path / "package", client=client, progress=kill_one_worker)
    assert killed.is_set()
    assert studio_cluster.workers[0].wait(timeout=10) == -signal.SIGKILL
    assert frames_done == FRAMES  # progress once per frame, each exactly once
    assert summary.num_images == FRAMES
    assert _payload(tmp_path / "package") == threads  # complete, identical, nothing half-written
    _verify(tmp_path / "package")
    assert _leftovers(tmp_path) == []


def test_a_source_changed_since_it_was_journalled_fails_the_run_by_name_and_leaves_nothing(
        raw_session: Path, studio_cluster: StudioCluster, tmp_path: Path) -> None:
    session = tmp_path / "session"
    shutil.copytree(raw_session, session)
    victim = raw_files(session)[3].path
    data = bytearray(victim.read_bytes())
    data[-1] ^= 0xFF
    victim.write_bytes(bytes(data))
    out = tmp_path / "packages" / "package"
    with open_cluster(studio_cluster.address) as client, pytest.raises(PackageIntegrityError) as raised:
        package_session(session, out, client=client)
    assert raised.value.source == victim
    assert str(victim) in str(raised.value)
    assert not out.exists()
    assert list(out.parent.iterdir()) == []  # no partial bag either

    result = runner.invoke(app, ["package", str(session), "--out", str(out), "--scheduler", studio_cluster.address])
    assert result.exit_code == 2, result.output
    assert victim.name in result.output
    assert "changed after it was verified" in " ".join(result.output.split())
    assert list(out.parent.iterdir()) == []


def _frames_of(session: Path) -> list[PackageFrame]:
    """A RAW frame (a rendition written from bytes) and a JPEG one (hard-linked) of the session, as packaged."""
    journal = Journal(session)
    try:
        files = journal.verified_files()
    finally:
        journal.close()
    raw = next(f for f in files if f.format == "raw")
    jpeg = next(f for f in files if f.format == "jpeg" and f.camera_id not in ("cam00", "cam01"))
    lighting = {"id": "l00", "name": "all white, full", "polarisation": "none", "levels": {}}
    return [PackageFrame(source=session / f.path, name=f"{f.camera_id}_p00_s00_l00.{ext}", camera_id=f.camera_id or "",
                         pose_id="p00", station_id="s00", light_id="l00", bracket_id="b0", station_angle_deg=0.0,
                         sha256=f.sha256, lighting=lighting, role=role)
            for f, ext, role in ((raw, "png", "raw-rendition"), (jpeg, "jpg", "image"))]


def test_a_frame_placed_again_after_its_worker_died_mid_frame_gives_the_same_files(
        raw_session: Path, tmp_path: Path) -> None:
    """What a worker killed mid-frame leaves (files written, one half-written, a temporary) is no obstacle to the
    frame's retry, which leaves the same files and the sources untouched; the temporary is swept."""
    from capturerig.packaging._dask import PlacerSpec, place_frame  # the task a worker runs, run here
    from capturerig.packaging._files import remove_temporaries

    rig = load_rig(raw_session / "rig.yaml").config
    root = tmp_path / "bag"
    root.mkdir()
    spec = PlacerSpec(str(root), rig, nominal_geometry(rig), {c.id: i for i, c in enumerate(rig.cameras, 1)},
                      undistort=True, colour=None, originals="keep", xmp_fields={}, created="2026-01-01T00:00:00Z")
    frames = _frames_of(raw_session)
    first = [place_frame(spec, frame) for frame in frames]
    written = {relative: (root / relative).read_bytes() for placed in first for relative in placed.files}
    linked = [relative for relative in written if (root / relative).stat().st_nlink > 1]
    assert linked == ["data/snapshots/p00_l00/images/cam02_p00_s00_l00.jpg"]  # shares the session file's inode
    for relative, content in written.items():
        target = root / relative
        if relative not in linked:  # the dead worker's half-written file (a link is never half anything)
            target.unlink()
            target.write_bytes(content[: len(content) // 2])
    stray = (root / next(iter(written))).with_name(".cam00_p00_s00_l00.png.0123456789ab.partial")
    stray.write_bytes(b"half")

    again = [place_frame(spec, frame) for frame in frames]
    assert [p.files for p in again] == [p.files for p in first]
    assert [p.entry for p in again] == [p.entry for p in first]
    assert {relative: (root / relative).read_bytes() for relative in written} == written
    assert all(hashlib.sha256(f.source.read_bytes()).hexdigest() == f.sha256 for f in frames)
    assert remove_temporaries(root) == [stray]
    assert _leftovers(root) == []


def test_tasks_ask_for_the_resource_the_clusters_workers_offer() -> None:
    """A task asking for a resource no worker offers waits forever: the two names must be one."""
    from capturerig.packaging._dask import MEMORY_RESOURCE as ASKED  # repeated there: packaging is below processing

    assert ASKED == MEMORY_RESOURCE


def test_dask_and_a_scheduler_together_are_refused(raw_session: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["package", str(raw_session), "--out", str(tmp_path / "package"), "--dask",
                                 "--scheduler", "tcp://127.0.0.1:8786"])
    assert result.exit_code == 2
    assert "give one" in " ".join(result.output.split())
    assert not (tmp_path / "package").exists()
