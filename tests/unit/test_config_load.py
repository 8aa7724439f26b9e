"""The embedded defaults load, the demo example is the same rig and plan, and nominal poses are proper.

Bad input is covered in test_config_errors.py; this file covers what loads and what it gives back.
"""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import numpy as np
import pytest

from capturerig.config import (
    DMX_UNIVERSE_SIZE,
    ConfigError,
    LoadedPlan,
    LoadedRig,
    NominalPose,
    default_plan_path,
    default_rig_path,
    load_fixture_profile,
    load_plan,
    load_rig,
    selected_cameras,
)
from capturerig.devices import installed_drivers

REPO = Path(__file__).resolve().parents[2]


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def rig() -> LoadedRig:
    return load_rig(default_rig_path(), drivers=installed_drivers())


@pytest.fixture(scope="module")
def plan(rig: LoadedRig) -> LoadedPlan:
    return load_plan(default_plan_path(), rig)


# --- the embedded defaults ---------------------------------------------------------------------------------


def test_default_rig_has_16_cameras_in_two_groups_of_8(rig: LoadedRig) -> None:
    config = rig.config
    assert config.name == "sim-studio"
    assert len(config.cameras) == 16
    assert {name: len(ids) for name, ids in config.groups().items()} == {"ring-low": 8, "ring-high": 8}
    assert len({c.id for c in config.cameras}) == 16
    assert len({c.serial for c in config.cameras}) == 16
    assert config.turntable is not None
    assert (config.turntable.min_deg, config.turntable.max_deg) == (0.0, 360.0)
    assert config.trigger is not None


def test_default_rig_has_8_fixtures_on_non_overlapping_addresses(rig: LoadedRig) -> None:
    config = rig.config
    assert len(config.fixtures) == 8
    used: dict[tuple[str, int], set[int]] = {}
    for fixture in config.fixtures:
        footprint = load_fixture_profile(fixture.profile).modes[fixture.mode].footprint
        channels = set(range(fixture.address, fixture.address + footprint))
        assert max(channels) <= DMX_UNIVERSE_SIZE
        taken = used.setdefault((fixture.output, fixture.universe), set())
        assert not taken & channels, f"{fixture.id} overlaps another fixture"
        taken |= channels
    assert sum(len(c) for c in used.values()) == 8 * 8


def test_default_plan_loads_against_the_default_rig(rig: LoadedRig, plan: LoadedPlan) -> None:
    config = plan.config
    assert [p.id for p in config.poses] == ["p00"]
    assert [(s.id, s.angle_deg) for s in config.stations] == [("s00", 0.0), ("s01", 90.0)]
    assert [c.id for c in config.lighting] == ["l00", "l01", "l02", "l03"]
    assert len(selected_cameras(rig.config, config)) == 16
    assert config.coverage.min_cameras == 16


def test_loaded_files_keep_their_path_and_text(rig: LoadedRig, plan: LoadedPlan) -> None:
    assert rig.path == default_rig_path()
    assert rig.text == default_rig_path().read_text(encoding="utf-8")
    assert plan.text == default_plan_path().read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["rig.yaml", "plan.yaml"])
def test_example_is_the_embedded_default(name: str) -> None:
    """Users start from examples/sim-studio/, so it must be exactly what `capturerig demo` runs."""
    example = REPO / "examples" / "sim-studio" / name
    embedded = default_rig_path() if name == "rig.yaml" else default_plan_path()
    assert example.read_bytes() == embedded.read_bytes(), f"{example} differs from {embedded}"


def test_example_rig_and_plan_load(tmp_path: Path) -> None:
    example = REPO / "examples" / "sim-studio"
    rig = load_rig(example / "rig.yaml", drivers=installed_drivers())
    assert len(load_plan(example / "plan.yaml", rig).config.lighting) == 4


# --- loader features ---------------------------------------------------------------------------------------


def test_yaml_anchors_and_merge_keys(tmp_path: Path) -> None:
    path = write(tmp_path, "rig.yaml", """
        name: merged
        cameras:
          - &cam
            id: cam0
            driver: sim
            serial: S0
            body: sim-studio
            group: ring
            intrinsics: &intr {width: 480, height: 640, fx: 700.0, fy: 700.0, cx: 239.5, cy: 319.5}
            pose: {position: [2.0, 0.0, 1.0]}
          - <<: *cam
            id: cam1
            serial: S1
            pose: {position: [-2.0, 0.0, 1.0]}
          - id: cam2
            driver: sim
            serial: S2
            body: sim-studio
            group: ring
            intrinsics: {<<: *intr, fx: 705.0}
            pose: {position: [0.0, 2.0, 1.0]}
    """)
    cameras = load_rig(path).config.cameras
    assert [c.id for c in cameras] == ["cam0", "cam1", "cam2"]
    assert cameras[1].intrinsics == cameras[0].intrinsics
    assert cameras[1].pose.position == (-2.0, 0.0, 1.0)
    assert (cameras[2].intrinsics.fx, cameras[2].intrinsics.fy) == (705.0, 700.0)


def test_problem_in_a_merged_value_points_at_the_merge(tmp_path: Path) -> None:
    path = write(tmp_path, "rig.yaml", """
        name: merged
        cameras:
          - &cam
            id: cam0
            driver: sim
            serial: S0
            body: sim-studio
            group: ring
            intrinsics: {width: 480, height: 640, fx: 700.0, fy: 700.0, cx: 239.5, cy: 319.5}
            pose: {position: [2.0, 0.0, 1.0]}
          - <<: *cam
            id: cam1
    """)
    with pytest.raises(ConfigError) as excinfo:
        load_rig(path)
    assert str(excinfo.value) == (
        "rig.yaml:11 cameras[1].serial: duplicate serial 'S0': cameras[0] 'cam0' has it too; "
        "each camera body has its own serial"
    )


def ofl_rgb_par(extra_mode: bool = False) -> str:
    """A small Open Fixture Library profile: an RGB PAR (mode 3ch, and 1ch red only if ``extra_mode``)."""
    modes = [{"name": "3ch", "channels": ["Red", "Green", "Blue"]}]
    if extra_mode:
        modes.append({"name": "1ch", "channels": ["Red"]})
    return json.dumps({
        "$schema": "https://raw.githubusercontent.com/OpenLightingProject/open-fixture-library/master/schemas/"
                   "fixture.json",
        "name": "My PAR", "categories": ["Color Changer"],
        "meta": {"authors": ["test"], "createDate": "2026-01-01", "lastModifyDate": "2026-01-01"},
        "availableChannels": {c: {"capability": {"type": "ColorIntensity", "color": c}}
                              for c in ("Red", "Green", "Blue")},
        "modes": modes}, indent=2)


def test_profile_by_path_relative_to_the_rig(tmp_path: Path) -> None:
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "par.json").write_text(ofl_rgb_par(), encoding="utf-8")
    path = write(tmp_path, "rig.yaml", """
        name: mini
        cameras:
          - id: cam0
            driver: sim
            serial: S0
            body: sim-studio
            group: ring
            intrinsics: {width: 480, height: 640, fx: 700.0, fy: 700.0, cx: 239.5, cy: 319.5}
            pose: {position: [2.0, 0.0, 1.0]}
        light_outputs:
          - {id: dmx0, driver: sim, universes: [1]}
        fixtures:
          - {id: fx0, profile: profiles/par.json, mode: 3ch, output: dmx0, universe: 1, address: 510,
             position: [0, 0, 2]}
    """)
    assert load_rig(path).config.fixtures[0].address == 510


def test_edited_profile_is_read_again(tmp_path: Path) -> None:
    profile = tmp_path / "par.json"
    profile.write_text(ofl_rgb_par(), encoding="utf-8")
    assert list(load_fixture_profile(str(profile)).modes) == ["3ch"]
    profile.write_text(ofl_rgb_par(extra_mode=True), encoding="utf-8")
    stat = profile.stat()
    os.utime(profile, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert list(load_fixture_profile(str(profile)).modes) == ["3ch", "1ch"]


# --- nominal pose geometry ---------------------------------------------------------------------------------


def test_every_default_camera_has_a_proper_rotation(rig: LoadedRig) -> None:
    for camera in rig.config.cameras:
        rotation, _ = camera.pose.cam_from_world()
        np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(rotation) == pytest.approx(1.0)


def test_look_at_point_lies_on_the_optical_axis(rig: LoadedRig) -> None:
    for camera in rig.config.cameras:
        rotation, translation = camera.pose.cam_from_world()
        in_camera = rotation @ np.asarray(camera.pose.look_at) + translation
        distance = np.linalg.norm(np.subtract(camera.pose.look_at, camera.pose.position))
        np.testing.assert_allclose(in_camera, [0.0, 0.0, distance], atol=1e-9)
        # ... so it projects onto the principal point
        pixel = camera.intrinsics.matrix() @ (in_camera / in_camera[2])
        np.testing.assert_allclose(pixel[:2], [camera.intrinsics.cx, camera.intrinsics.cy], atol=1e-6)
        # and the camera centre is the origin of the camera frame
        np.testing.assert_allclose(rotation @ np.asarray(camera.pose.position) + translation, 0.0, atol=1e-9)


def test_image_down_points_down_for_a_level_camera() -> None:
    # At +x, looking level towards the axis: right is +y, down is -z, forward is -x.
    rotation, translation = NominalPose(position=(2.0, 0.0, 1.0), look_at=(0.0, 0.0, 1.0)).cam_from_world()
    np.testing.assert_allclose(rotation, [[0.0, 1.0, 0.0], [0.0, 0.0, -1.0], [-1.0, 0.0, 0.0]], atol=1e-12)
    np.testing.assert_allclose(translation, [0.0, 1.0, 2.0], atol=1e-12)
    # a point above the look_at point is higher in the image (smaller y)
    above = rotation @ np.array([0.0, 0.0, 1.5]) + translation
    assert above[1] < 0.0


def test_image_down_has_a_downward_component_for_every_default_camera(rig: LoadedRig) -> None:
    for camera in rig.config.cameras:
        rotation, _ = camera.pose.cam_from_world()
        down_in_world = rotation[1]
        assert down_in_world[2] < -0.9, camera.id  # the rings look at the subject from at most ~20 degrees


def test_degenerate_poses_raise() -> None:
    with pytest.raises(ValueError, match="equals look_at"):
        NominalPose(position=(0.0, 0.0, 1.0), look_at=(0.0, 0.0, 1.0)).cam_from_world()
    with pytest.raises(ValueError, match="not parallel"):
        NominalPose(position=(0.0, 0.0, 3.0), look_at=(0.0, 0.0, 1.0)).cam_from_world()
    # looking straight down works once 'up' says where the top of the image is
    rotation, _ = NominalPose(position=(0.0, 0.0, 3.0), look_at=(0.0, 0.0, 1.0), up=(1.0, 0.0, 0.0)).cam_from_world()
    np.testing.assert_allclose(rotation[2], [0.0, 0.0, -1.0], atol=1e-12)
    np.testing.assert_allclose(rotation[1], [-1.0, 0.0, 0.0], atol=1e-12)
