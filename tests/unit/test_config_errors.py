"""Every bad rig or plan file is rejected with a message naming the file, the line and the field.

Each test writes a small YAML file (line 1 is the first line of the dedented string) and checks the
exact ``file:line field: message`` that str(ConfigError) shows, plus the key words of the message.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from pydantic import BaseModel

from capturerig.config import (
    ConfigError,
    ConfigProblem,
    DriverCatalog,
    LoadedRig,
    default_rig_path,
    load_plan,
    load_rig,
)
from capturerig.devices import installed_drivers

# One-line values for the parts of a camera that most tests do not care about; $REST is everything of a
# flow-style camera after its serial.
INTRINSICS = "{width: 480, height: 640, fx: 700.0, fy: 700.0, cx: 239.5, cy: 319.5}"
POSE = "{position: [2.0, 0.0, 1.0], look_at: [0.0, 0.0, 1.0]}"
REST = f"body: sim-studio, group: ring, intrinsics: {INTRINSICS}, pose: {POSE}"


class SimDriversOnly:
    """The installed sim drivers and no other (so the 'installed:' lists below stay put)."""

    def names(self, kind: str) -> list[str]:
        return ["sim"]

    def params_model(self, kind: str, name: str) -> type[BaseModel]:
        return installed_drivers().params_model(kind, name)


SIM_DRIVERS = SimDriversOnly()


def write(folder: Path, name: str, text: str) -> Path:
    """Write dedented ``text`` ($REST, $INTRINSICS and $POSE filled in) to ``folder/name``; line 1 is its first."""
    body = textwrap.dedent(text).lstrip("\n")
    body = body.replace("$REST", REST).replace("$INTRINSICS", INTRINSICS).replace("$POSE", POSE)
    path = folder / name
    path.write_text(body, encoding="utf-8")
    return path


def rig_error(folder: Path, text: str, drivers: DriverCatalog | None = None) -> ConfigError:
    path = write(folder, "rig.yaml", text)
    with pytest.raises(ConfigError) as excinfo:
        load_rig(path, drivers=drivers)
    return excinfo.value


def plan_error(folder: Path, text: str, rig: LoadedRig) -> ConfigError:
    path = write(folder, "plan.yaml", text)
    with pytest.raises(ConfigError) as excinfo:
        load_plan(path, rig)
    return excinfo.value


def expect(error: ConfigError, file: str, line: int, field: str, *words: str) -> ConfigProblem:
    """The one problem at ``field``: in ``file`` at ``line``, shown as its own line of str(error)."""
    prefix = f"{file}:{line} {field}: "
    matches = [p for p in error.problems if str(p).startswith(prefix)]
    assert len(matches) == 1, f"expected one problem starting {prefix!r}; got:\n{error}"
    problem = matches[0]
    assert (problem.file, problem.line) == (file, line)
    assert str(problem) in str(error).splitlines()
    for word in words:
        assert word in problem.message, f"{word!r} missing from {problem.message!r}"
    return problem


def expect_only(error: ConfigError, file: str, line: int, field: str, *words: str) -> ConfigProblem:
    """Like expect(), and nothing else is reported (no follow-on noise)."""
    assert len(error.problems) == 1, f"expected a single problem; got:\n{error}"
    return expect(error, file, line, field, *words)


@pytest.fixture(scope="module")
def default_rig() -> LoadedRig:
    return load_rig(default_rig_path())


# --- rig: DMX ----------------------------------------------------------------------------------------------

FIXTURE_RIG_HEAD = """
    name: mini
    cameras:
      - {id: cam0, driver: sim, serial: S0, $REST}
    light_outputs:
      - {id: dmx0, driver: sim, universes: [1, 2]}
    fixtures:
"""  # fixtures[0] is on line 7, fixtures[1] on line 8, ...


def fixture_rig(*fixtures: str) -> str:
    return textwrap.dedent(FIXTURE_RIG_HEAD).lstrip("\n") + "".join(f"  - {f}\n" for f in fixtures)


def fixture_line(fixture_id: str, address: int, mode: str = "8ch", universe: int = 1, output: str = "dmx0",
            profile: str = "generic-rgbw") -> str:
    """A one-line (flow-style) fixture."""
    return (f"{{id: {fixture_id}, profile: {profile}, mode: {mode}, output: {output}, universe: {universe}, "
            f"address: {address}, position: [0, 0, 2]}}")


def test_fixture_overflowing_the_universe(tmp_path: Path) -> None:
    error = rig_error(tmp_path, fixture_rig(
        fixture_line("fx0", 1),
        fixture_line("fx1", 9),
        fixture_line("fx2", 510),
    ))
    problem = expect_only(error, "rig.yaml", 9, "fixtures[2].address", "505")
    assert problem.message.startswith("510 + 8 channels overflows universe 1 (512 channels)")
    assert problem.field == ("fixtures", 2, "address")


def test_fixture_ending_on_the_last_channel_fits(tmp_path: Path) -> None:
    path = write(tmp_path, "rig.yaml", fixture_rig(
        fixture_line("fx0", 505),
    ))
    assert load_rig(path).config.fixtures[0].address == 505


def test_overlapping_fixtures_on_one_universe(tmp_path: Path) -> None:
    error = rig_error(tmp_path, fixture_rig(
        fixture_line("fx0", 1),
        fixture_line("fx1", 8, mode="5ch"),
    ))
    expect_only(error, "rig.yaml", 8, "fixtures[1].address",
                "channels 8-12", "overlap", "fixtures[0] 'fx0'", "channels 1-8", "dmx0 universe 1")


def test_same_addresses_on_different_universes_do_not_overlap(tmp_path: Path) -> None:
    path = write(tmp_path, "rig.yaml", fixture_rig(
        fixture_line("fx0", 1),
        fixture_line("fx1", 1, universe=2),
    ))
    assert [f.universe for f in load_rig(path).config.fixtures] == [1, 2]


def test_duplicate_fixture_ids(tmp_path: Path) -> None:
    error = rig_error(tmp_path, fixture_rig(
        fixture_line("fx0", 1),
        fixture_line("fx0", 9),
    ))
    expect_only(error, "rig.yaml", 8, "fixtures[1].id", "duplicate fixture id 'fx0'", "fixtures[0]", "line 7")


def test_unknown_fixture_profile(tmp_path: Path) -> None:
    error = rig_error(tmp_path, fixture_rig(
        fixture_line("fx0", 1, profile="generic-rgbx"),
    ))
    expect_only(error, "rig.yaml", 7, "fixtures[0].profile",
                "no fixture profile 'generic-rgbx'",
                "available: generic-bicolour, generic-dimmer, generic-rgbw, generic-strobe")


def test_unknown_mode_of_a_profile(tmp_path: Path) -> None:
    error = rig_error(tmp_path, fixture_rig(
        fixture_line("fx0", 1, mode="6ch"),
    ))
    expect_only(error, "rig.yaml", 7, "fixtures[0].mode",
                "profile 'generic-rgbw' has no mode '6ch'", "has: 8ch, 5ch, 4ch")


def test_fixture_on_a_missing_light_output(tmp_path: Path) -> None:
    error = rig_error(tmp_path, fixture_rig(
        fixture_line("fx0", 1, output="dmx1"),
    ))
    expect_only(error, "rig.yaml", 7, "fixtures[0].output", "no light output 'dmx1'", "light_outputs: dmx0")


def test_fixture_on_a_universe_its_output_does_not_carry(tmp_path: Path) -> None:
    error = rig_error(tmp_path, fixture_rig(
        fixture_line("fx0", 1, universe=3),
    ))
    expect_only(error, "rig.yaml", 7, "fixtures[0].universe",
                "light output 'dmx0' does not carry universe 3", "carries 1, 2")


def test_broken_fixture_profile_reports_the_profile_file_too(tmp_path: Path) -> None:
    write(tmp_path, "my-par.json", """
        {
          "$schema": "https://raw.githubusercontent.com/OpenLightingProject/open-fixture-library/master/schemas/fixture.json",
          "name": "My PAR",
          "categories": ["Color Changer"],
          "meta": {"authors": ["me"], "createDate": "2026-01-01", "lastModifyDate": "2026-01-01"},
          "availableChannels": {
            "Red": {"capability": {"type": "ColorIntensity", "color": "Red"}},
            "Blue": {"capability": {"type": "ColorIntensity", "color": "Blu"}}
          },
          "modes": [{"name": "3ch", "channels": ["Red", "Blue"]}]
        }
    """)
    error = rig_error(tmp_path, fixture_rig(
        fixture_line("fx0", 1, mode="3ch", profile="./my-par.json"),
    ))
    expect(error, "rig.yaml", 7, "fixtures[0].profile", "fixture profile './my-par.json' is not valid")
    profile_file = str((tmp_path / "my-par.json").resolve())
    expect(error, profile_file, 8, "availableChannels.Blue.capability.color", "'Blu' is not allowed", "'Blue'")
    assert len(error.problems) == 2


# --- rig: cameras ------------------------------------------------------------------------------------------


def test_duplicate_camera_ids(tmp_path: Path) -> None:
    error = rig_error(tmp_path, """
        name: mini
        cameras:
          - {id: cam0, driver: sim, serial: S0, $REST}
          - {id: cam1, driver: sim, serial: S1, $REST}
          - {id: cam0, driver: sim, serial: S2, $REST}
    """)
    expect_only(error, "rig.yaml", 5, "cameras[2].id", "duplicate camera id 'cam0'", "cameras[0]", "line 3")


def test_duplicate_serials(tmp_path: Path) -> None:
    error = rig_error(tmp_path, """
        name: mini
        cameras:
          - {id: cam0, driver: sim, serial: S0, $REST}
          - {id: cam1, driver: sim, serial: S0, $REST}
    """)
    expect_only(error, "rig.yaml", 4, "cameras[1].serial", "duplicate serial 'S0'", "cameras[0] 'cam0'")


def test_unknown_camera_driver(tmp_path: Path) -> None:
    text = """
        name: mini
        cameras:
          - {id: cam0, driver: sim, serial: S0, $REST}
          - id: cam1
            driver: gphot2
            serial: S1
            body: sim-studio
            group: ring
            intrinsics: $INTRINSICS
            pose: $POSE
    """
    error = rig_error(tmp_path, text, drivers=SIM_DRIVERS)
    expect_only(error, "rig.yaml", 5, "cameras[1].driver", "unknown camera driver 'gphot2'", "installed: sim")
    # Without drivers the driver is not checked (the registry reports it when the rig is opened).
    assert len(load_rig(tmp_path / "rig.yaml").config.cameras) == 2


def test_unknown_turntable_driver(tmp_path: Path) -> None:
    error = rig_error(tmp_path, """
        name: mini
        cameras:
          - {id: cam0, driver: sim, serial: S0, $REST}
        turntable:
          id: tt0
          driver: stepper
    """, drivers=SIM_DRIVERS)
    expect_only(error, "rig.yaml", 6, "turntable.driver", "unknown turntable driver 'stepper'", "installed: sim")


def test_unknown_body_profile(tmp_path: Path) -> None:
    error = rig_error(tmp_path, """
        name: mini
        cameras:
          - id: cam0
            driver: sim
            serial: S0
            body: nikon-d751
            group: ring
            intrinsics: $INTRINSICS
            pose: $POSE
    """)
    expect_only(error, "rig.yaml", 6, "cameras[0].body",
                "no camera body profile 'nikon-d751'",
                "available: canon-eos-5d-mark-iv, nikon-d750, sim-studio, sony-alpha-7r-iii")


def test_format_the_body_does_not_have(tmp_path: Path) -> None:
    error = rig_error(tmp_path, """
        name: mini
        cameras:
          - id: cam0
            driver: sim
            serial: S0
            body: sim-studio
            group: ring
            formats:
              - jpeg
              - heif
            intrinsics: $INTRINSICS
            pose: $POSE
    """)
    expect_only(error, "rig.yaml", 10, "cameras[0].formats[1]", "body 'sim-studio' has no format 'heif'",
                "has: jpeg, raw")


def test_missing_required_field_points_at_its_parent_item(tmp_path: Path) -> None:
    error = rig_error(tmp_path, """
        name: mini
        cameras:
          - {id: cam0, driver: sim, serial: S0, $REST}
          - id: cam1
            driver: sim
            body: sim-studio
            group: ring
            intrinsics: $INTRINSICS
            pose: $POSE
    """)
    expect_only(error, "rig.yaml", 4, "cameras[1].serial", "required", "missing")


def test_missing_nested_field_points_at_its_mapping(tmp_path: Path) -> None:
    error = rig_error(tmp_path, """
        name: mini
        cameras:
          - id: cam0
            driver: sim
            serial: S0
            body: sim-studio
            group: ring
            intrinsics:
              width: 480
              height: 640
              fx: 700.0
              cx: 239.5
              cy: 319.5
            pose: $POSE
    """)
    expect_only(error, "rig.yaml", 8, "cameras[0].intrinsics.fy", "required")


def test_misspelt_field_points_at_its_own_line(tmp_path: Path) -> None:
    error = rig_error(tmp_path, """
        name: mini
        cameras:
          - id: cam0
            driver: sim
            serial: S0
            body: sim-studio
            group: ring
            intrinsics: $INTRINSICS
            pose: $POSE
            setings: {iso: '100'}
    """)
    expect_only(error, "rig.yaml", 10, "cameras[0].setings",
                "not a known field", "did you mean 'settings'", "allowed here:", "serial")


def test_wrong_type(tmp_path: Path) -> None:
    error = rig_error(tmp_path, """
        name: mini
        cameras:
          - id: cam0
            driver: sim
            serial: S0
            body: sim-studio
            group: ring
            intrinsics:
              width: 480
              height: 640
              fx: "abc"
              fy: 700.0
              cx: 239.5
              cy: 319.5
            pose: $POSE
    """)
    # A single error: pydantic's follow-on "cameras needs at least 1 item" must not be reported.
    expect_only(error, "rig.yaml", 11, "cameras[0].intrinsics.fx", "should be a number", "'abc'")


def test_number_where_text_is_expected_says_to_quote_it(tmp_path: Path) -> None:
    error = rig_error(tmp_path, """
        name: mini
        cameras:
          - id: cam0
            driver: sim
            serial: 1234
            body: sim-studio
            group: ring
            intrinsics: $INTRINSICS
            pose: $POSE
    """)
    expect_only(error, "rig.yaml", 5, "cameras[0].serial", "should be text", "in quotes ('1234')")


def test_not_a_number_is_rejected(tmp_path: Path) -> None:
    error = rig_error(tmp_path, """
        name: mini
        cameras:
          - id: cam0
            driver: sim
            serial: S0
            body: sim-studio
            group: ring
            intrinsics: $INTRINSICS
            pose:
              position: [2.0, .nan, 1.0]
    """)
    expect_only(error, "rig.yaml", 10, "cameras[0].pose.position[1]", "finite number")


def test_position_with_two_coordinates(tmp_path: Path) -> None:
    error = rig_error(tmp_path, """
        name: mini
        cameras:
          - id: cam0
            driver: sim
            serial: S0
            body: sim-studio
            group: ring
            intrinsics: $INTRINSICS
            pose:
              position: [2.0, 0.0]
    """)
    expect_only(error, "rig.yaml", 10, "cameras[0].pose.position", "needs 3 values, got 2")


def test_dist_with_wrong_coefficient_count(tmp_path: Path) -> None:
    error = rig_error(tmp_path, """
        name: mini
        cameras:
          - id: cam0
            driver: sim
            serial: S0
            body: sim-studio
            group: ring
            intrinsics:
              width: 480
              height: 640
              fx: 700.0
              fy: 700.0
              cx: 239.5
              cy: 319.5
              dist: [-0.05, 0.02, 0.0]
            pose: $POSE
    """)
    expect_only(error, "rig.yaml", 15, "cameras[0].intrinsics.dist", "4 or 5 coefficients", "got 3")


def test_camera_looking_at_its_own_position(tmp_path: Path) -> None:
    error = rig_error(tmp_path, """
        name: mini
        cameras:
          - {id: cam0, driver: sim, serial: S0, $REST}
          - id: cam1
            driver: sim
            serial: S1
            body: sim-studio
            group: ring
            intrinsics: $INTRINSICS
            pose:
              position: [0.0, 0.0, 1.0]
              look_at: [0.0, 0.0, 1.0]
    """)
    expect_only(error, "rig.yaml", 10, "cameras[1].pose", "position (0, 0, 1) equals look_at (0, 0, 1)")


def test_camera_looking_along_its_up_vector(tmp_path: Path) -> None:
    error = rig_error(tmp_path, """
        name: mini
        cameras:
          - id: cam0
            driver: sim
            serial: S0
            body: sim-studio
            group: ring
            intrinsics: $INTRINSICS
            pose: {position: [0.0, 0.0, 3.0], look_at: [0.0, 0.0, 1.0]}
    """)
    expect_only(error, "rig.yaml", 9, "cameras[0].pose", "up (0, 0, 1)", "not parallel")


def test_bad_id(tmp_path: Path) -> None:
    error = rig_error(tmp_path, """
        name: mini
        cameras:
          - {id: cam 0, driver: sim, serial: S0, $REST}
    """)
    expect_only(error, "rig.yaml", 3, "cameras[0].id", "'cam 0' is not valid", "letters, digits, '_' or '-'")


def test_turntable_travel_must_be_a_range(tmp_path: Path) -> None:
    error = rig_error(tmp_path, """
        name: mini
        cameras:
          - {id: cam0, driver: sim, serial: S0, $REST}
        turntable:
          id: tt0
          driver: sim
          min_deg: 90
          max_deg: -90
    """)
    expect_only(error, "rig.yaml", 4, "turntable", "min_deg (90) must be below max_deg (-90)")


def test_several_rig_problems_are_all_reported_in_line_order(tmp_path: Path) -> None:
    error = rig_error(tmp_path, """
        name: mini
        cameras:
          - {id: cam0, driver: sim, serial: S0, $REST}
          - {id: cam0, driver: sim, serial: S0, $REST}
        light_outputs:
          - {id: dmx0, driver: sim, universes: [1]}
        fixtures:
          - {id: fx0, profile: generic-rgbw, mode: 9ch, output: dmx0, universe: 1, address: 1, position: [0, 0, 2]}
    """)
    expect(error, "rig.yaml", 4, "cameras[1].id", "duplicate camera id")
    expect(error, "rig.yaml", 4, "cameras[1].serial", "duplicate serial")
    expect(error, "rig.yaml", 8, "fixtures[0].mode", "no mode '9ch'")
    assert len(error.problems) == 3
    assert [p.line for p in error.problems] == [4, 4, 8]


# --- rig: the file itself ----------------------------------------------------------------------------------


def test_invalid_yaml_syntax(tmp_path: Path) -> None:
    error = rig_error(tmp_path, """
        name: mini
        cameras:
          - id: cam0
            driver: sim
            serial: [S0
            body: sim-studio
    """)
    # The unclosed '[' is only noticed where the next key starts; the message points back at it.
    problem = expect_only(error, "rig.yaml", 6, "(top level)", "not valid YAML", "flow sequence (from line 5)",
                          "expected ',' or ']'")
    assert problem.field == ()


def test_tab_indentation(tmp_path: Path) -> None:
    error = rig_error(tmp_path, "name: mini\ncameras:\n  - id: cam0\n\tdriver: sim\n")
    expect_only(error, "rig.yaml", 4, "(top level)", "not valid YAML", "indent with spaces, not tabs")


def test_bad_indentation(tmp_path: Path) -> None:
    error = rig_error(tmp_path, """
        name: mini
          cameras: []
    """)
    expect_only(error, "rig.yaml", 2, "(top level)", "not valid YAML", "mapping values are not allowed")


def test_duplicated_yaml_key(tmp_path: Path) -> None:
    error = rig_error(tmp_path, """
        name: mini
        cameras:
          - id: cam0
            driver: sim
            serial: S0
            body: sim-studio
            group: ring
            serial: S1
            intrinsics: $INTRINSICS
            pose: $POSE
    """)
    expect_only(error, "rig.yaml", 8, "cameras[0].serial", "key 'serial' appears twice", "first at line 5")


def test_list_as_a_key(tmp_path: Path) -> None:
    error = rig_error(tmp_path, """
        name: mini
        ? [a, b]
        : 1
    """)
    expect_only(error, "rig.yaml", 2, "(top level)", "key must be a plain name")


def test_alias_inside_itself(tmp_path: Path) -> None:
    error = rig_error(tmp_path, """
        name: mini
        cameras: &loop
          - *loop
    """)
    expect_only(error, "rig.yaml", 3, "cameras[0]", "refers to the value that contains it")


def test_empty_file(tmp_path: Path) -> None:
    error = rig_error(tmp_path, "# nothing here yet\n")
    expect_only(error, "rig.yaml", 1, "(top level)", "the file is empty", "name, cameras")


def test_top_level_list(tmp_path: Path) -> None:
    error = rig_error(tmp_path, """
        # cameras only
        - id: cam0
        - id: cam1
    """)
    expect_only(error, "rig.yaml", 2, "(top level)", "should be a mapping of fields", "got a list", "name, cameras")


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "rig.yaml"
    path.write_bytes(b"name: mini\ncameras:\n  - id: cam\xe9\n")
    with pytest.raises(ConfigError) as excinfo:
        load_rig(path)
    expect_only(excinfo.value, "rig.yaml", 3, "(top level)", "not UTF-8")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as excinfo:
        load_rig(tmp_path / "rig.yaml")
    problem = excinfo.value.problems[0]
    assert (problem.file, problem.line) == ("rig.yaml", None)
    assert str(excinfo.value) == "rig.yaml (top level): cannot read file: No such file or directory"


# --- plan, checked against the default rig (turntable 0..360, groups ring-low/ring-high, fixtures fx0..fx7) --


def test_station_outside_the_turntable_travel(tmp_path: Path, default_rig: LoadedRig) -> None:
    error = plan_error(tmp_path, """
        name: t
        poses: [{id: p0}]
        stations:
          - {id: s0, angle_deg: 0}
          - {id: s1, angle_deg: 400}
        lighting: [{id: l0}]
        camera_groups: [ring-low]
    """, default_rig)
    expect_only(error, "plan.yaml", 5, "stations[1].angle_deg",
                "400 degrees", "outside the travel 0..360", "turntable 'tt0'")


def test_station_angle_on_a_rig_without_turntable(tmp_path: Path) -> None:
    rig = load_rig(write(tmp_path, "fixed-rig.yaml", """
        name: fixed
        cameras:
          - {id: cam0, driver: sim, serial: S0, $REST}
    """))
    error = plan_error(tmp_path, """
        name: t
        poses: [{id: p0}]
        stations:
          - {id: front, position: front}
          - {id: s1, angle_deg: 90}
        lighting: [{id: l0}]
        camera_groups: [ring]
    """, rig)
    expect_only(error, "plan.yaml", 5, "stations[1].angle_deg",
                "rig 'fixed' in fixed-rig.yaml has no turntable", "90 degrees", "position")


def test_station_with_both_angle_and_position(tmp_path: Path, default_rig: LoadedRig) -> None:
    error = plan_error(tmp_path, """
        name: t
        poses: [{id: p0}]
        stations:
          - {id: s0, angle_deg: 0}
          - id: s1
            angle_deg: 90
            position: left
        lighting: [{id: l0}]
        camera_groups: [ring-low]
    """, default_rig)
    expect_only(error, "plan.yaml", 5, "stations[1]", "both angle_deg and position", "exactly one")


def test_station_with_neither_angle_nor_position(tmp_path: Path, default_rig: LoadedRig) -> None:
    error = plan_error(tmp_path, """
        name: t
        poses: [{id: p0}]
        stations:
          - {id: s0}
        lighting: [{id: l0}]
        camera_groups: [ring-low]
    """, default_rig)
    expect_only(error, "plan.yaml", 4, "stations[0]", "needs angle_deg", "or position")


def test_camera_groups_naming_an_unknown_group(tmp_path: Path, default_rig: LoadedRig) -> None:
    error = plan_error(tmp_path, """
        name: t
        poses: [{id: p0}]
        stations: [{id: s0, angle_deg: 0}]
        lighting: [{id: l0}]
        camera_groups:
          - ring-low
          - ring-middle
    """, default_rig)
    expect_only(error, "plan.yaml", 7, "camera_groups[1]",
                "'ring-middle' is neither a camera group (ring-low, ring-high) nor a camera id", "sim-studio")


def test_camera_groups_may_name_single_cameras(tmp_path: Path, default_rig: LoadedRig) -> None:
    path = write(tmp_path, "plan.yaml", """
        name: t
        poses: [{id: p0}]
        stations: [{id: s0, angle_deg: 0}]
        lighting: [{id: l0}]
        camera_groups: [cam03, cam12]
    """)
    assert load_plan(path, default_rig).config.camera_groups == ("cam03", "cam12")


def test_camera_groups_naming_an_unknown_camera(tmp_path: Path, default_rig: LoadedRig) -> None:
    error = plan_error(tmp_path, """
        name: t
        poses: [{id: p0}]
        stations: [{id: s0, angle_deg: 0}]
        lighting: [{id: l0}]
        camera_groups: [cam03, cam16]
    """, default_rig)
    expect_only(error, "plan.yaml", 5, "camera_groups[1]", "'cam16' is neither")


def test_lighting_naming_an_unknown_fixture(tmp_path: Path, default_rig: LoadedRig) -> None:
    error = plan_error(tmp_path, """
        name: t
        poses: [{id: p0}]
        stations: [{id: s0, angle_deg: 0}]
        lighting:
          - id: l0
            levels:
              fx0: {intensity: 1.0}
              fx8: {intensity: 1.0}
        camera_groups: [ring-low]
    """, default_rig)
    expect_only(error, "plan.yaml", 8, "lighting[0].levels.fx8",
                "has no fixture 'fx8'", "fx0, fx1", "fx7", "'*' means every fixture")


@pytest.mark.parametrize(("level", "shown"), [("1.5", "1.5"), ("-0.2", "-0.2")])
def test_level_outside_0_to_1(tmp_path: Path, default_rig: LoadedRig, level: str, shown: str) -> None:
    error = plan_error(tmp_path, f"""
        name: t
        poses: [{{id: p0}}]
        stations: [{{id: s0, angle_deg: 0}}]
        lighting:
          - id: l0
            levels:
              fx0:
                intensity: 1.0
                red: {level}
        camera_groups: [ring-low]
    """, default_rig)
    expect_only(error, "plan.yaml", 9, "lighting[0].levels.fx0.red", f"level {shown} is outside 0..1")


def test_unknown_channel_role(tmp_path: Path, default_rig: LoadedRig) -> None:
    error = plan_error(tmp_path, """
        name: t
        poses: [{id: p0}]
        stations: [{id: s0, angle_deg: 0}]
        lighting:
          - id: l0
            levels:
              "*": {intensity: 1.0, magenta: 1.0}
        camera_groups: [ring-low]
    """, default_rig)
    expect_only(error, "plan.yaml", 7, "lighting[0].levels.*.magenta",
                "is not a known field", "intensity, red, green, blue, white, amber, uv, color, cct, strobe_hz")


@pytest.mark.parametrize(
    ("section", "what", "text"),
    [
        ("poses", "pose", """
            name: t
            poses:
              - {id: p0}
              - {id: p0}
            stations: [{id: s0, angle_deg: 0}]
            lighting: [{id: l0}]
            camera_groups: [ring-low]
        """),
        ("stations", "station", """
            name: t
            stations:
              - {id: s0, angle_deg: 0}
              - {id: s0, angle_deg: 90}
            poses: [{id: p0}]
            lighting: [{id: l0}]
            camera_groups: [ring-low]
        """),
        ("lighting", "lighting condition", """
            name: t
            lighting:
              - {id: l0}
              - {id: l0}
            poses: [{id: p0}]
            stations: [{id: s0, angle_deg: 0}]
            camera_groups: [ring-low]
        """),
    ],
)
def test_duplicate_plan_ids(tmp_path: Path, default_rig: LoadedRig, section: str, what: str, text: str) -> None:
    error = plan_error(tmp_path, text, default_rig)
    expect_only(error, "plan.yaml", 4, f"{section}[1].id", f"duplicate {what} id", f"{section}[0]", "line 3")


def test_plan_id_with_underscore(tmp_path: Path, default_rig: LoadedRig) -> None:
    error = plan_error(tmp_path, """
        name: t
        poses: [{id: p_0}]
        stations: [{id: s0, angle_deg: 0}]
        lighting: [{id: l0}]
        camera_groups: [ring-low]
    """, default_rig)
    expect_only(error, "plan.yaml", 2, "poses[0].id", "'p_0' is not valid", "no '_'")


def test_min_cameras_larger_than_the_selection(tmp_path: Path, default_rig: LoadedRig) -> None:
    error = plan_error(tmp_path, """
        name: t
        poses: [{id: p0}]
        stations: [{id: s0, angle_deg: 0}]
        lighting: [{id: l0}]
        camera_groups: [ring-low]
        coverage:
          min_cameras: 9
    """, default_rig)
    expect_only(error, "plan.yaml", 7, "coverage.min_cameras", "9 cameras required", "select only 8")


def test_consistency_not_take_or_pose(tmp_path: Path, default_rig: LoadedRig) -> None:
    error = plan_error(tmp_path, """
        name: t
        consistency: session
        poses: [{id: p0}]
        stations: [{id: s0, angle_deg: 0}]
        lighting: [{id: l0}]
        camera_groups: [ring-low]
    """, default_rig)
    expect_only(error, "plan.yaml", 2, "consistency", "'session' is not allowed", "'take' or 'pose'")


def test_several_plan_problems_are_all_reported(tmp_path: Path, default_rig: LoadedRig) -> None:
    error = plan_error(tmp_path, """
        name: t
        poses: [{id: p0}]
        stations:
          - {id: s0, angle_deg: -10}
          - {id: s0, angle_deg: 90}
        lighting:
          - id: l0
            levels: {spot: {intensity: 1.0}}
        camera_groups: [ring-low, ring-top]
        coverage: {min_cameras: 12}
    """, default_rig)
    expect(error, "plan.yaml", 4, "stations[0].angle_deg", "outside the travel 0..360")
    expect(error, "plan.yaml", 5, "stations[1].id", "duplicate station id 's0'")
    expect(error, "plan.yaml", 8, "lighting[0].levels.spot", "no fixture 'spot'")
    expect(error, "plan.yaml", 9, "camera_groups[1]", "'ring-top'")
    expect(error, "plan.yaml", 10, "coverage.min_cameras", "12 cameras required", "select only 8")
    assert len(error.problems) == 5
    assert len(str(error).splitlines()) == 5


def test_several_field_errors_are_all_reported(tmp_path: Path, default_rig: LoadedRig) -> None:
    error = plan_error(tmp_path, """
        name: t
        consistency: always
        retries: many
        poses: [{id: p0, descripton: front}]
        stations: [{id: s0, angle_deg: 0}]
        lighting: [{id: l0}]
    """, default_rig)
    expect(error, "plan.yaml", 2, "consistency", "'take' or 'pose'")
    expect(error, "plan.yaml", 3, "retries", "should be a whole number", "'many'")
    expect(error, "plan.yaml", 4, "poses[0].descripton", "did you mean 'description'")
    expect(error, "plan.yaml", 1, "camera_groups", "required")
    assert len(error.problems) == 4
