"""OLAT and spherical-gradient generators: states with stable ids, levels from fixture positions."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import pytest

from capturerig.config import ConfigError, FixtureConfig, LoadedRig, RigConfig, load_plan
from capturerig.lighting import expand_lighting, gradient_levels
from capturerig.plan import expand_plan

PLAN_HEAD = """\
name: t
subject: {kind: object}
poses: [{id: p0}]
stations: [{id: s0, angle_deg: 0}]
camera_groups: [ring-low]
"""


def plan_file(folder: Path, lighting: str) -> Path:
    path = folder / "plan.yaml"
    entries = textwrap.indent(textwrap.dedent(lighting).lstrip("\n"), "  ")
    path.write_text(PLAN_HEAD + "lighting:\n" + entries, encoding="utf-8")
    return path


def six_dimmers(rig: RigConfig) -> RigConfig:
    """The default rig with six dimmers on the axes around the subject centre (0, 0, 1)."""
    positions = {"px": (2.0, 0.0, 1.0), "nx": (-2.0, 0.0, 1.0), "py": (0.0, 3.0, 1.0), "ny": (0.0, -1.0, 1.0),
                 "top": (0.0, 0.0, 3.0), "diag": (1.0, 1.0, 1.0 + math.sqrt(2.0))}
    fixtures = tuple(FixtureConfig(id=name, profile="generic-dimmer", mode="1ch", output="dmx0", universe=1,
                                   address=index + 1, position=position)
                     for index, (name, position) in enumerate(positions.items()))
    return rig.model_copy(update={"fixtures": fixtures})


def test_gradient_levels_follow_the_light_stage_formula(loaded: LoadedRig) -> None:
    rig = six_dimmers(loaded.config)
    names = [f.id for f in rig.fixtures]
    centre = (0.0, 0.0, 1.0)
    assert gradient_levels(rig, names, "x", centre) == pytest.approx(
        {"px": 1.0, "nx": 0.0, "py": 0.5, "ny": 0.5, "top": 0.5, "diag": 0.75})
    assert gradient_levels(rig, names, "y", centre) == pytest.approx(
        {"px": 0.5, "nx": 0.5, "py": 1.0, "ny": 0.0, "top": 0.5, "diag": 0.75})
    diag_z = (1.0 + math.sqrt(2.0) / 2.0) / 2.0
    assert gradient_levels(rig, names, "z", centre) == pytest.approx(
        {"px": 0.5, "nx": 0.5, "py": 0.5, "ny": 0.5, "top": 1.0, "diag": diag_z})
    assert set(gradient_levels(rig, names, "full", centre).values()) == {1.0}


def test_gradient_states_put_the_levels_on_the_wire(loaded: LoadedRig) -> None:
    from capturerig.config import LightingCondition
    from capturerig.lighting import frames_for_condition

    rig = six_dimmers(loaded.config)
    entry = LightingCondition.model_validate({"generator": "gradient", "polarisation": "cross"})
    states = expand_lighting(rig, [entry])
    assert [s.id for s in states] == ["grad-x", "grad-y", "grad-z", "grad-full"]
    assert {s.polarisation for s in states} == {"cross"}
    frame = frames_for_condition(rig, states[0])[("dmx0", 1)]
    assert list(frame[:6]) == [255, 0, 128, 128, 128, 191]  # x: (1 + d.x) / 2 of each dimmer, 8 bit


def test_a_plan_with_olat_gradient_and_a_plain_state(tmp_path: Path, loaded: LoadedRig) -> None:
    path = plan_file(tmp_path, """
        - {generator: olat, fixtures: '*', polarisation: parallel}
        - {generator: gradient, axes: [x, full], id: g}
        - id: key
          levels: {fx0: {intensity: 1, white: 1}}
    """)
    plan = load_plan(path, loaded).config
    takes = expand_plan(loaded.config, plan)
    ids = [t.lighting.id for t in takes]
    assert ids == [f"olat-fx{i}" for i in range(8)] + ["g-x", "g-full", "key"]
    assert [t.id for t in takes][:2] == ["p0/s0/olat-fx0/b0", "p0/s0/olat-fx1/b0"]
    assert takes[0].file_name("cam00", "jpg") == "cam00_p0_s0_olat-fx0.jpg"
    olat = takes[3].lighting
    assert list(olat.levels) == ["fx3"]
    assert olat.polarisation == "parallel"
    assert expand_plan(loaded.config, plan) == takes  # stable: the same plan gives the same states


def test_olat_over_some_fixtures_with_ids_that_need_cleaning(loaded: LoadedRig) -> None:
    from capturerig.config import LightingCondition

    rig = loaded.config
    renamed = tuple(f.model_copy(update={"id": f"key_light_{i}"}) for i, f in enumerate(rig.fixtures))
    rig = rig.model_copy(update={"fixtures": renamed})
    entry = LightingCondition.model_validate({"generator": "olat", "fixtures": ["key_light_5", "key_light_2"]})
    assert [s.id for s in expand_lighting(rig, [entry])] == ["olat-key-light-2", "olat-key-light-5"]


def test_generator_mistakes_are_reported_with_their_line(tmp_path: Path, loaded: LoadedRig) -> None:
    path = plan_file(tmp_path, """
        - {generator: olat, fixtures: [fx1, fx9]}
        - {id: olat-fx1}
        - {generator: olat, fixtures: fx9}
    """)
    with pytest.raises(ConfigError) as excinfo:
        load_plan(path, loaded)
    assert str(excinfo.value).splitlines() == [
        "plan.yaml:7 lighting[0].fixtures[1]: rig 'sim-studio' in rig.yaml has no fixture 'fx9' (fixtures: fx0, "
        "fx1, fx2, fx3, fx4, fx5, fx6, fx7; '*' means every fixture)",
        "plan.yaml:8 lighting[1].id: duplicate lighting condition id 'olat-fx1' (first at lighting[0], line 7); "
        "ids must be unique",
        "plan.yaml:9 lighting[2].fixtures: rig 'sim-studio' in rig.yaml has no fixture 'fx9' (fixtures: fx0, fx1, "
        "fx2, fx3, fx4, fx5, fx6, fx7; '*' means every fixture)",
        "plan.yaml:9 lighting[2].fixtures: the olat generator selects no fixture of rig 'sim-studio' in rig.yaml",
    ]


def test_a_generator_with_levels_or_a_state_without_id(tmp_path: Path, loaded: LoadedRig) -> None:
    path = plan_file(tmp_path, """
        - {generator: gradient, levels: {fx0: {intensity: 1}}}
        - {name: no id}
    """)
    with pytest.raises(ConfigError) as excinfo:
        load_plan(path, loaded)
    assert str(excinfo.value).splitlines() == [
        "plan.yaml:7 lighting[0]: a gradient generator makes its own levels; remove 'levels'",
        "plan.yaml:8 lighting[1]: needs an id (or generator: olat | gradient to generate lighting states)",
    ]
