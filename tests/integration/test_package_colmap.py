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
indexes built per pair), about 40-60 s a model.
"""

from __future__ import annotations

import os
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
    """The module's COLMAP work on one package, each step run once, on first use."""

    def __init__(self, package: Path, colmap: str, work: Path) -> None:
        self.snapshot = package / "data" / "snapshots" / SNAPSHOT
        self.colmap = colmap
        self.work = work
        self._matched: dict[str, Matched] = {}
        self._fixed: dict[str, FixedPoseReport] = {}
        self._free: dict[str, PoseFreeReport] = {}

    def layout(self, model: str, snapshot: Path | None = None) -> tuple[Path, Path]:
        images, sparse = MODELS[model]
        return (snapshot or self.snapshot) / images, (snapshot or self.snapshot) / sparse

    def matched(self, model: str) -> Matched:
        if model not in self._matched:
            self._matched[model] = match(*self.layout(model), self.work / model, self.colmap)
        return self._matched[model]

    def fixed(self, model: str) -> FixedPoseReport:
        if model not in self._fixed:
            self._fixed[model] = triangulate_fixed(self.matched(model), self.work / model)
        return self._fixed[model]

    def free(self, model: str) -> PoseFreeReport:
        if model not in self._free:
            self._free[model] = map_free(self.matched(model), self.work / model)
        return self._free[model]


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
    return ColmapRuns(demo.package, colmap, tmp_path_factory.mktemp("colmap"))


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
    # Only the geometry differs: the demo's colour calibration gives byte-identical images, so the demo
    # package's features and matches serve; the distorted model suffices (undistorting would only cost time).
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
