"""The sim cameras' render cache (rig ``simulation.render_cache``): rendered once, then served from disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from capturerig.config import LightingCondition, LoadedRig, RigConfig
from capturerig.devices import (
    CameraFile,
    DeviceError,
    DriverContext,
    create_camera,
    create_light_output,
    create_trigger,
    create_turntable,
)
from capturerig.lighting import frames_for_condition
from capturerig_sim import reset_studios
from capturerig_sim.render_cache import render_cache_folder

FULL_WHITE = {"intensity": 1.0, "red": 1.0, "green": 1.0, "blue": 1.0, "white": 1.0}
RED = {"intensity": 1.0, "red": 1.0}

pytestmark = pytest.mark.usefixtures("fast_sim")


def cached_rig(loaded: LoadedRig, cache: object) -> RigConfig:
    return loaded.config.model_copy(update={"simulation": {**loaded.config.simulation, "render_cache": cache}})


def one_shot(rig: RigConfig, base_dir: Path, levels: dict[str, float], angle_deg: float = 0.0,
             formats: tuple[str, ...] = ("jpeg",)) -> list[CameraFile]:
    """cam00's first exposure in a fresh studio (as each session of a benchmark has it) under ``levels``."""
    reset_studios()
    context = DriverContext(rig, base_dir)
    output = create_light_output(rig.light_outputs[0], context)
    output.open(timeout_s=1)
    condition = LightingCondition.model_validate({"id": "t", "levels": {"*": levels}})
    for (_, universe), frame in frames_for_condition(rig, condition).items():
        output.set_universe(universe, frame)
    output.wait_sent(timeout_s=1)
    assert rig.turntable is not None
    assert rig.trigger is not None
    table = create_turntable(rig.turntable, context)
    table.open(timeout_s=1)
    table.move_to(angle_deg, timeout_s=10)
    camera = create_camera(rig.camera("cam00").model_copy(update={"formats": formats}), context)
    camera.connect(timeout_s=5)
    camera.arm(timeout_s=1)
    box = create_trigger(rig.trigger, context)
    box.open(timeout_s=1)
    box.fire([camera.id], timeout_s=1)
    return camera.wait_for_files(timeout_s=5)


def stored(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in folder.iterdir()}


def test_an_exposure_is_rendered_once_then_served_from_the_cache_folder(loaded: LoadedRig, tmp_path: Path) -> None:
    folder = tmp_path / "renders"
    rig = cached_rig(loaded, str(folder))
    base_dir = loaded.path.parent
    first = one_shot(rig, base_dir, FULL_WHITE, formats=("raw", "jpeg"))
    after_first = stored(folder)
    assert sorted(Path(name).suffix for name in after_first) == [".jpeg", ".raw"]  # one key, both files
    assert sorted(after_first.values()) == sorted(f.data for f in first)  # no temporary file left behind

    second = one_shot(rig, base_dir, FULL_WHITE, formats=("raw", "jpeg"))
    assert [f.data for f in second] == [f.data for f in first]
    assert stored(folder) == after_first  # nothing rendered, nothing written

    # What the camera delivers is what the folder holds: a file changed on disk is what the next shot hands over.
    jpeg = next(name for name in after_first if name.endswith(".jpeg"))
    (folder / jpeg).write_bytes(b"from the cache")
    third = one_shot(rig, base_dir, FULL_WHITE, formats=("raw", "jpeg"))
    assert [f.data for f in third] == [first[0].data, b"from the cache"]


def test_another_light_state_or_table_angle_is_another_render(loaded: LoadedRig, tmp_path: Path) -> None:
    folder = tmp_path / "renders"
    rig = cached_rig(loaded, str(folder))
    base_dir = loaded.path.parent
    white = one_shot(rig, base_dir, FULL_WHITE)[0].data
    red = one_shot(rig, base_dir, RED)[0].data
    turned = one_shot(rig, base_dir, FULL_WHITE, angle_deg=90.0)[0].data
    assert len({white, red, turned}) == 3
    assert sorted(stored(folder).values()) == sorted([white, red, turned])
    assert one_shot(rig, base_dir, RED)[0].data == red  # and the same state again is a hit
    assert len(stored(folder)) == 3


def test_a_relative_cache_folder_is_resolved_against_the_rig_files_folder(loaded: LoadedRig, tmp_path: Path) -> None:
    assert render_cache_folder(cached_rig(loaded, "cache/renders"), tmp_path) == tmp_path / "cache" / "renders"
    assert render_cache_folder(loaded.config, tmp_path) is None


@pytest.mark.parametrize("cache", [42, "", ["renders"]])
def test_a_malformed_render_cache_is_refused_naming_the_key(loaded: LoadedRig, cache: object) -> None:
    context = DriverContext(cached_rig(loaded, cache), loaded.path.parent)
    with pytest.raises(DeviceError, match=r"simulation\.render_cache: must be a folder path"):
        create_camera(context.rig.camera("cam00"), context)
