"""Fixture profiles in Open Fixture Library JSON: the shipped ones, and clear errors for broken ones."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capturerig.config import ConfigError, ConfigProblem, available_profiles, load_fixture_profile, load_rig

SCHEMA = "https://raw.githubusercontent.com/OpenLightingProject/open-fixture-library/master/schemas/fixture.json"
INTRINSICS = "{width: 480, height: 640, fx: 700.0, fy: 700.0, cx: 239.5, cy: 319.5}"


def ofl(**overrides: Any) -> dict[str, Any]:
    """A valid OFL fixture (a 16-bit dimmer), with top-level fields replaced by ``overrides``."""
    fixture: dict[str, Any] = {
        "$schema": SCHEMA, "name": "Test Dimmer", "categories": ["Dimmer"],
        "meta": {"authors": ["test"], "createDate": "2026-01-01", "lastModifyDate": "2026-01-01"},
        "availableChannels": {"Dimmer": {"fineChannelAliases": ["Dimmer fine"], "capability": {"type": "Intensity"}}},
        "modes": [{"name": "8-bit", "shortName": "1ch", "channels": ["Dimmer"]},
                  {"name": "16-bit", "shortName": "2ch", "channels": ["Dimmer", "Dimmer fine"]}],
    }
    fixture.update(overrides)
    return fixture


def write_profile(folder: Path, data: dict[str, Any] | str, name: str = "test-dimmer.json") -> Path:
    path = folder / name
    path.write_text(data if isinstance(data, str) else json.dumps(data, indent=2), encoding="utf-8")
    return path


def profile_error(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as excinfo:
        load_fixture_profile(str(path))
    return excinfo.value


def test_the_shipped_studio_fixtures() -> None:
    assert available_profiles("fixtures") == ["generic-bicolour", "generic-dimmer", "generic-rgbw", "generic-strobe"]
    rgbw = load_fixture_profile("generic-rgbw")
    assert rgbw.name == "Generic RGBW Panel"
    assert list(rgbw.modes) == ["8ch", "5ch", "4ch", "7ch"]
    # The default rig's layout: intensity, R, G, B, W, strobe, two unused channels.
    assert rgbw.modes["8ch"].roles == ("intensity", "red", "green", "blue", "white", "strobe", "unused", "unused")
    assert rgbw.modes["7ch"].footprint == 7  # 16-bit dimmer: its fine byte is a channel of its own
    dimmer = load_fixture_profile("generic-dimmer")
    assert {k: m.footprint for k, m in dimmer.modes.items()} == {"1ch": 1, "2ch": 2}
    assert [(c.part, c.parts) for c in dimmer.modes["2ch"].channels] == [(0, 2), (1, 2)]
    bicolour = load_fixture_profile("generic-bicolour")
    assert bicolour.modes["3ch"].roles == ("intensity", "cct")
    cct = bicolour.modes["3ch"].channels[2].capabilities[0]
    assert cct.kelvin == (2700.0, 6500.0)
    assert bicolour.settle_s == pytest.approx(0.02)
    strobe = load_fixture_profile("generic-strobe")
    rate = strobe.modes["2ch"].channels[1].capabilities
    assert [(c.shutter, c.lo, c.hi, c.hz) for c in rate] == [("Closed", 0, 4, None), ("Strobe", 5, 255, (1.0, 20.0))]


def test_malformed_json_names_file_line_and_column(tmp_path: Path) -> None:
    text = json.dumps(ofl(), indent=2).replace('"Test Dimmer",', '"Test Dimmer",,', 1)
    path = write_profile(tmp_path, text)
    error = profile_error(path)
    (problem,) = error.problems
    line = text.splitlines().index('  "name": "Test Dimmer",,') + 1
    assert problem.line == line
    assert problem.file == str(path.resolve())
    assert f"not valid JSON: Expecting property name enclosed in double quotes (line {line}, column 25)" in str(error)


def test_schema_problems_name_the_field_and_its_line(tmp_path: Path) -> None:
    data = ofl()
    data["availableChannels"]["Dimmer"]["capability"]["type"] = "Brightness"
    path = write_profile(tmp_path, data)
    line = path.read_text(encoding="utf-8").splitlines().index('        "type": "Brightness"') + 1
    (problem,) = profile_error(path).problems
    assert str(problem).startswith(f"{path.resolve()}:{line} availableChannels.Dimmer.capability.type: ")
    assert "'Brightness' is not allowed" in problem.message
    assert "'Intensity'" in problem.message


def test_a_mode_naming_a_missing_channel(tmp_path: Path) -> None:
    path = write_profile(tmp_path, ofl(modes=[{"name": "2ch", "channels": ["Dimmer", "Dimer fine"]}]))
    (problem,) = profile_error(path).problems
    assert problem.field == ("modes", 0, "channels", 1)
    assert problem.line is not None
    assert "'Dimer fine'" in problem.message
    assert "known: Dimmer, Dimmer fine" in problem.message


def test_a_duplicate_key_and_an_empty_file(tmp_path: Path) -> None:
    path = write_profile(tmp_path, '{"name": "a", "name": "b"}')
    assert "key 'name' appears twice" in str(profile_error(path))
    path = write_profile(tmp_path, "  \n")
    assert "the file is empty" in str(profile_error(path))


def test_a_yaml_profile_is_refused_with_a_hint(tmp_path: Path) -> None:
    (tmp_path / "old.yaml").write_text("name: old\n", encoding="utf-8")
    with pytest.raises(FileNotFoundError, match=r"Open Fixture Library JSON files \(\.json\)"):
        load_fixture_profile("old.yaml", tmp_path)


def _rig_with(tmp_path: Path, fixture: str) -> Path:
    path = tmp_path / "rig.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: mini
        cameras:
          - {{id: cam0, driver: sim, serial: S0, body: sim-studio, group: ring, intrinsics: {INTRINSICS},
             pose: {{position: [2.0, 0.0, 1.0]}}}}
        light_outputs:
          - {{id: dmx0, driver: sim, universes: [1]}}
        fixtures:
          - {fixture}
        """), encoding="utf-8")
    return path


def test_address_overflow_counts_the_fine_channel_of_a_16_bit_mode(tmp_path: Path) -> None:
    fits = _rig_with(tmp_path, "{id: fx0, profile: generic-dimmer, mode: 2ch, output: dmx0, universe: 1, "
                               "address: 511, position: [0, 0, 2]}")
    assert load_rig(fits).config.fixtures[0].address == 511
    overflows = _rig_with(tmp_path, "{id: fx0, profile: generic-dimmer, mode: 2ch, output: dmx0, universe: 1, "
                                    "address: 512, position: [0, 0, 2]}")
    with pytest.raises(ConfigError) as excinfo:
        load_rig(overflows)
    (problem,) = excinfo.value.problems
    assert str(problem) == ("rig.yaml:8 fixtures[0].address: 512 + 2 channels overflows universe 1 (512 channels); "
                            "mode '2ch' can start at 511 at the latest")


def test_an_unknown_mode_lists_the_modes(tmp_path: Path) -> None:
    path = _rig_with(tmp_path, "{id: fx0, profile: generic-bicolour, mode: 16bit, output: dmx0, universe: 1, "
                               "address: 1, position: [0, 0, 2]}")
    with pytest.raises(ConfigError) as excinfo:
        load_rig(path)
    (problem,) = excinfo.value.problems
    assert str(problem) == "rig.yaml:8 fixtures[0].mode: profile 'generic-bicolour' has no mode '16bit' (has: 2ch, 3ch)"


def load_problems(path: Path) -> list[ConfigProblem]:
    """What loading ``path`` reports: nothing, or the problems of a ConfigError (any other exception fails)."""
    try:
        load_fixture_profile(str(path))
    except ConfigError as exc:
        return exc.problems
    return []


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_any_text_loads_or_fails_with_a_config_error(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "f.json"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    problems = load_problems(path)
    assert all(p.file == str(path.resolve()) and p.message for p in problems)


@settings(max_examples=100, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                    max_leaves=12),
       st.sampled_from(["availableChannels", "modes", "categories", "meta", "capturerig"]))
def test_any_json_in_a_field_loads_or_fails_with_a_config_error(tmp_path_factory: pytest.TempPathFactory,
                                                                 value: Any, field: str) -> None:
    path = write_profile(tmp_path_factory.mktemp("fuzz"), ofl(**{field: value}))
    problems = load_problems(path)
    assert all(p.file == str(path.resolve()) and p.message for p in problems)
