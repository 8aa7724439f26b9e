"""An independent structure-from-motion (the ``colmap`` command line) uses the demo's training package.

On snapshot p00_l00 (16 cameras x 2 turntable stations), for the distorted model (``images/`` +
``colmap/sparse/0``) and the undistorted one (``undistorted/images`` + ``undistorted/sparse/0``, PINHOLE):

- with the packaged poses and intrinsics held fixed, COLMAP triangulates many points seen by many images that
  reproject within a fraction of a pixel;
- without the poses, COLMAP's mapper registers every image in one model, and after a similarity alignment
  every camera centre lies within 1 % of the rig radius of the packaged one;
- the same fixed-pose check fails on the session packaged with the rig's nominal geometry, saying which
  figure is out (so the check can fail).

Measured with Debian's COLMAP 3.8 on p00_l00 of the demo session (distorted model; the undistorted one
within a few %): calibrated 5,300 points, mean track 4.8, 0.25 px mean reprojection error (the simulator's
true cameras 0.21 px), and without poses every centre within 9 mm (0.4 % of the rig radius); the nominal
geometry 1.7 px and track 3.0. On the earlier, repeating subject texture: nominal 1.6 px, track 2.7;
calibrated 0.56 px, track 4.7, 1,700 points (true cameras 0.54 px), and the mapper folded the ring (centres
up to 1.7 m off). The bounds below sit between right and nominal. Features and matches are built once per
model and shared by its checks; on two cores most of the time is COLMAP 3.8's CPU matching (496 pairs, FLANN
indexes built per pair), about 40-60 s a model; the undistorted model matches only the pairs verified in the
distorted one (about half the time). Fewer SIFT features would not do: at 1,024 an image the pose-free check
put one camera 28 mm off (1.3 % of the radius), so the feature count stays COLMAP's default.
"""

from __future__ import annotations

import fcntl
import os
import pickle
from collections.abc import Callable
from pathlib import Path

import pytest

import capturerig
from tests.integration._colmap import (
    ColmapError,
    FixedPoseBounds,
    FixedPoseReport,
    Matched,
    PoseFreeReport,
    colmap_executable,
    map_free,
    match,
    triangulate_fixed,
)
from tests.integration.conftest import Demo

SNAPSHOT = "p00_l00"
# The bounds, in one place: what a right geometry gives (see the figures above).
FIXED_POSE = FixedPoseBounds(min_points=1000, min_mean_track=4.0, max_mean_reprojection_px=0.7)
MAX_CENTRE_ERROR_SHARE = 0.01  # of the rig radius (2.2 m: 22 mm)
# A snapshot's two models: its images folder and its COLMAP model, inside the snapshot.
MODELS = {
    "distorted": ("images", "colmap/sparse/0"),
    "undistorted": ("undistorted/images", "undistorted/sparse/0"),
}
# A model's first test builds its features and matches (a minute or two on a busy two-core machine), and the
# first test of a lone run also runs the demo: more than the suite's default 300 s may pass.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


class ColmapRuns:
    """The module's COLMAP work on one package. Each model's features and matches (most of its time) are built once
    per test run, in ``shared``: under pytest-xdist the module's tests may be split between workers, and the first
    that needs a model's matches builds them while another waits on a lock, then both read them (COLMAP's
    triangulator and mapper only read the database). Each process runs the checks' own short steps in ``work``."""

    def __init__(self, package: Path, colmap: str, work: Path, shared: Path) -> None:
        self.snapshot = package / "data" / "snapshots" / SNAPSHOT
        self.colmap = colmap
        self.work = work
        self.shared = shared
        self._matched: dict[str, Matched] = {}
        self._fixed: dict[str, FixedPoseReport] = {}
        self._free: dict[str, PoseFreeReport] = {}

    def layout(self, model: str, snapshot: Path | None = None) -> tuple[Path, Path]:
        images, sparse = MODELS[model]
        return (snapshot or self.snapshot) / images, (snapshot or self.snapshot) / sparse

    def matched(self, model: str) -> Matched:
        if model not in self._matched:
            # The undistorted images are the same views as the distorted ones: only the pairs COLMAP verified
            # there are matched (285 of 496 on the demo). The others do not overlap enough to verify, so they add
            # nothing to either check, and a pair the undistortion spoilt can only fail it. Measured against
            # exhaustive matching: half the CPU time (54 s against 101 s), the same figures (5,621 points against
            # 5,630, 0.255 px against 0.254 px; largest centre error 7.4 mm against 8.1 mm).
            pairs = None if model == "distorted" else self.matched("distorted").verified_pair_names()
            self._matched[model] = _built_once(self.shared / model, lambda folder: match(
                *self.layout(model), folder, self.colmap, pairs=pairs))
        return self._matched[model]

    def fixed(self, model: str) -> FixedPoseReport:
        if model not in self._fixed:
            self._fixed[model] = triangulate_fixed(self.matched(model), self.work / model)
        return self._fixed[model]

    def free(self, model: str) -> PoseFreeReport:
        if model not in self._free:
            self._free[model] = map_free(self.matched(model), self.work / model)
        return self._free[model]


def _built_once(folder: Path, build: Callable[[Path], Matched]) -> Matched:
    """``build(folder)``, unless a process of this test run already built it there (its result is kept beside it)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    kept = folder.with_name(f"{folder.name}.pickle")
    with folder.with_name(f"{folder.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if kept.is_file():
            built: Matched = pickle.loads(kept.read_bytes())  # written below by this run's own process
            return built
        built = build(folder)
        kept.write_bytes(pickle.dumps(built))
        return built


@pytest.fixture(scope="session")
def colmap() -> str:
    """Debian's ``colmap``; CI (where scripts/bootstrap.sh installs it) fails without it, elsewhere skips."""
    found = colmap_executable()
    if found is None:
        message = "no `colmap` on PATH: scripts/bootstrap.sh installs Debian's (or: apt-get install colmap)"
        if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.fixture(scope="module")
def runs(colmap: str, demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> ColmapRuns:
    work = tmp_path_factory.mktemp("colmap")
    # Under pytest-xdist the matches go to the run's folder, the parent of every worker's (as the demo does).
    in_worker = os.environ.get("PYTEST_XDIST_WORKER") is not None
    return ColmapRuns(demo.package, colmap, work, tmp_path_factory.getbasetemp().parent / "colmap" if in_worker
                      else work / "matched")


@pytest.mark.parametrize("model", list(MODELS))
def test_colmap_triangulates_the_packaged_poses_into_long_tracks_within_a_fraction_of_a_pixel(
        runs: ColmapRuns, model: str) -> None:
    report = runs.fixed(model)
    problems = report.problems(FIXED_POSE)
    assert not problems, (f"{model} model of {SNAPSHOT}: {'; '.join(problems)}\n"
                          f"measured by {runs.matched(model).version}: {report}")


@pytest.mark.parametrize("model", list(MODELS))
def test_colmap_without_the_poses_puts_every_camera_where_the_package_says(runs: ColmapRuns, model: str) -> None:
    report = runs.free(model)
    problems = report.problems(MAX_CENTRE_ERROR_SHARE)
    assert not problems, (f"{model} model of {SNAPSHOT}: {'; '.join(problems)}\n"
                          f"measured by {runs.matched(model).version}: {report}")


def test_the_fixed_pose_check_fails_on_the_session_packaged_with_the_nominal_geometry(
        runs: ColmapRuns, demo: Demo, tmp_path_factory: pytest.TempPathFactory) -> None:
    # Only the geometry differs: the demo's colour calibration gives the same pixels (a signed package's files
    # differ in their embedded manifest only), so the demo package's features and matches serve instead of a
    # minute or more of matching again; the distorted model suffices (undistorting would only cost time).
    colour = demo.package / "data" / "calibration" / "colour.json"
    nominal = tmp_path_factory.mktemp("nominal") / "package"
    capturerig.package_session(demo.session, nominal, geometry=None, colour=colour if colour.is_file() else None,
                               undistort=False)
    images, sparse = runs.layout("distorted", nominal / "data" / "snapshots" / SNAPSHOT)
    try:
        matched = runs.matched("distorted").for_model(images, sparse)
    except ColmapError:  # the images differ after all: match them on their own (slower, same check)
        matched = match(images, sparse, runs.work / "nominal", runs.colmap)
    report = triangulate_fixed(matched, runs.work / "nominal")
    problems = report.problems(FIXED_POSE)
    assert problems, f"the nominal geometry passed the fixed-pose check: {report}"
    assert any("reprojection" in p or "track" in p for p in problems), problems
