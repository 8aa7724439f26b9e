"""The lights page's fixture swatches (display colour from the channels sent, or from a CCT) and the problems
the panel makes of a session folder it may not read and of a rig file with an error."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

import capturerig
from capturerig.config import ConfigError, load_fixture_profile
from capturerig.lighting import fixture_mode
from capturerig.web._lights_view import LightsHistory, fixture_swatch
from capturerig.web._problems import config_problem
from capturerig.web._session_problems import session_problem


@pytest.fixture(scope="module")
def rgbw() -> capturerig.config.FixtureMode:
    loaded = capturerig.load_rig(None)
    return fixture_mode(loaded.config.fixtures[0], loaded.path.parent)


@pytest.mark.parametrize(("levels", "hex_code", "text"), [
    ({"intensity": 1.0, "red": 1.0}, "#ff0000", "red 100 %"),
    ({"intensity": 1.0, "blue": 1.0}, "#0000ff", "blue 100 %"),
    ({"intensity": 1.0, "red": 1.0, "green": 1.0, "blue": 1.0, "white": 1.0}, None, "white 100 %"),
    ({"intensity": 0.5, "red": 1.0, "green": 1.0, "blue": 1.0, "white": 1.0}, None, "white 50 %"),
    ({"intensity": 1.0, "red": 1.0, "green": 0.5}, None, "orange 100 %"),
    ({"intensity": 0.0, "red": 1.0}, "#000000", "off"),
    ({"intensity": 1.0}, "#000000", "off"),  # the dimmer open, no emitter on: dark
])
def test_an_rgbw_fixtures_swatch_is_the_colour_its_channels_mix(
        rgbw: capturerig.config.FixtureMode, levels: dict[str, float], hex_code: str | None, text: str) -> None:
    swatch = fixture_swatch(rgbw, levels)
    assert swatch["text"] == text
    if hex_code is not None:
        assert swatch["hex"] == hex_code


def test_a_white_led_reads_white_not_orange_and_half_is_darker(rgbw: capturerig.config.FixtureMode) -> None:
    full = fixture_swatch(rgbw, {"intensity": 1.0, "white": 1.0})
    half = fixture_swatch(rgbw, {"intensity": 0.5, "white": 1.0})
    assert full["text"] == "white 100 %"
    assert half["text"] == "white 50 %"
    assert int(half["hex"][1:3], 16) < int(full["hex"][1:3], 16)


def test_a_bicolour_panels_swatch_follows_its_colour_temperature() -> None:
    mode = next(iter(load_fixture_profile("generic-bicolour").modes.values()))
    warm = fixture_swatch(mode, {"intensity": 1.0, "cct": 3200.0})
    cool = fixture_swatch(mode, {"intensity": 1.0, "cct": 6500.0})
    assert warm["text"] == "white 3200 K 100 %"
    assert warm["cct"] == 3200.0
    red, blue = (int(warm["hex"][i:i + 2], 16) for i in (1, 5))
    assert red == 255
    assert blue < 160  # tungsten-ish: clearly warm
    assert int(cool["hex"][5:7], 16) > 230  # daylight: near neutral


def test_the_history_keeps_the_latest_changes_newest_first() -> None:
    history = LightsHistory(length=3)
    for i in range(5):
        entries = history.add(1000.0 + i, f"l0{i}", f"state {i}", {"waited_s": 0.25 * (i % 2), "text": "ok"})
    assert [e["scene"] for e in entries] == ["l04", "l03", "l02"]
    assert entries[1] == {"at": 1003.0, "scene": "l03", "name": "state 3", "waited_s": 0.25, "verdict": "ok"}


def test_a_session_folder_the_panel_may_not_read_says_which_file_and_how_to_let_it(tmp_path: Path) -> None:
    folder = tmp_path / "sessions" / "s-1"
    denied = PermissionError(errno.EACCES, "Permission denied", str(folder / "journal.sqlite"))
    problem = session_problem(folder, denied)
    assert problem.what == "session s-1 cannot be read: the panel may not read journal.sqlite"
    assert problem.where == str(folder / "journal.sqlite")
    assert f"chmod -R u+rwX,g+rX {folder}" in problem.todo
    assert problem.status == 403


def test_a_config_error_becomes_file_line_and_field(tmp_path: Path) -> None:
    rig = tmp_path / "rig.yaml"
    rig.write_text(capturerig.load_rig(None).text.replace("name: sim-studio\n", "name: x\nbogus: 1\n"))
    with pytest.raises(ConfigError) as caught:
        capturerig.load_rig(rig)
    problem = config_problem(caught.value, "rig file rig.yaml cannot be used", rig)
    assert problem.where.startswith(f"{rig}:")
    assert problem.where.endswith(", field bogus")
    assert problem.what.startswith("rig file rig.yaml cannot be used: bogus: is not a known field")
