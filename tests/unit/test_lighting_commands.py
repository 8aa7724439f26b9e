"""Fixture commands become exact DMX bytes through the OFL profiles (and decode back for the simulator)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capturerig.cli._lights import parse_fixture_setting
from capturerig.config import FixtureCommand, FixtureConfig, LightingCondition, LoadedRig, load_fixture_profile
from capturerig.lighting import cct_to_rgb, decode_mode, encode_fixture, frames_for_condition


def encode(profile: str, mode: str, **command: object) -> list[int]:
    return list(encode_fixture(load_fixture_profile(profile).modes[mode], FixtureCommand.model_validate(command)))


def test_rgbw_8ch_keeps_the_default_rigs_layout_and_strobe_stays_open() -> None:
    assert encode("generic-rgbw", "8ch", intensity=1.0, red=1.0) == [255, 255, 0, 0, 0, 0, 0, 0]
    assert encode("generic-rgbw", "8ch", intensity=0.5, color=[1.0, 0.0, 0.2, 1.0]) == [128, 255, 0, 51, 255, 0, 0, 0]
    assert encode("generic-rgbw", "8ch") == [0] * 8


def test_16_bit_intensity_is_coarse_then_fine() -> None:
    assert encode("generic-rgbw", "7ch", intensity=0.5, white=1.0) == [0x80, 0x00, 0, 0, 0, 255, 0]
    assert encode("generic-dimmer", "2ch", intensity=1 / 3) == [0x55, 0x55]
    assert encode("generic-dimmer", "2ch", intensity=1.0) == [0xFF, 0xFF]
    assert encode("generic-dimmer", "2ch", intensity=0.001) == [0x00, 0x42]  # 65.5 -> 66: finer than 8 bit
    assert encode("generic-dimmer", "1ch", intensity=0.001) == [0]
    assert encode("generic-bicolour", "3ch", intensity=0.25, cct=2700) == [0x40, 0x00, 0]


def test_cct_in_kelvin_is_placed_on_the_profiles_range() -> None:
    assert encode("generic-bicolour", "2ch", intensity=1.0, cct=2700) == [255, 0]
    assert encode("generic-bicolour", "2ch", intensity=1.0, cct=6500) == [255, 255]
    assert encode("generic-bicolour", "2ch", intensity=1.0, cct=4600) == [255, 128]  # halfway: 127.5 rounds up
    assert encode("generic-bicolour", "2ch", intensity=1.0, cct=3650) == [255, 64]  # a quarter: 63.75


def test_strobe_rates_and_the_default_no_flash() -> None:
    assert encode("generic-strobe", "2ch", intensity=1.0) == [255, 0]  # Closed: no flash unless asked
    assert encode("generic-strobe", "2ch", intensity=1.0, strobe_hz=1) == [255, 5]
    assert encode("generic-strobe", "2ch", intensity=1.0, strobe_hz=10.5) == [255, 130]
    assert encode("generic-strobe", "2ch", intensity=1.0, strobe_hz=20) == [255, 255]
    assert encode("generic-rgbw", "8ch", intensity=1.0, white=1.0, strobe_hz=25)[5] == 255
    with pytest.raises(ValueError, match="cannot strobe at 30 Hz"):
        encode("generic-strobe", "2ch", intensity=1.0, strobe_hz=30)


def test_a_mode_without_intensity_channel_scales_its_colours() -> None:
    assert encode("generic-rgbw", "4ch", intensity=0.5, color=[1.0, 0.0, 0.0, 1.0]) == [128, 0, 0, 128]
    assert encode("generic-rgbw", "4ch", red=1.0) == [255, 0, 0, 0]


def test_an_rgb_fixture_mixes_a_colour_temperature() -> None:
    warm = encode("generic-rgbw", "5ch", intensity=1.0, cct=2700)
    assert warm[0] == 255
    assert warm[1] == 255 > warm[2] > warm[3]  # red strongest, blue weakest
    assert cct_to_rgb(6500) == pytest.approx((1.0, 0.97, 0.94), abs=0.04)


def test_decoding_reads_back_what_was_encoded() -> None:
    mode = load_fixture_profile("generic-bicolour").modes["3ch"]
    levels = decode_mode(mode, encode_fixture(mode, FixtureCommand(intensity=0.3, cct=5000)))
    assert levels["intensity"] == pytest.approx(0.3, abs=1 / 65535)
    assert levels["cct"] == pytest.approx(5000, abs=3800 / 255)
    strobe = load_fixture_profile("generic-strobe").modes["2ch"]
    assert decode_mode(strobe, bytes([255, 0])) == {"intensity": 0.0, "strobe": 0.0}  # shutter closed: dark
    assert decode_mode(strobe, bytes([255, 255])) == {"intensity": 1.0, "strobe": 20.0}


def test_a_fixtures_own_entry_overrides_the_star_field_by_field(loaded: LoadedRig) -> None:
    condition = LightingCondition.model_validate({"id": "t", "levels": {
        "*": {"intensity": 1.0, "color": [1.0, 1.0, 1.0, 1.0]},
        "fx2": {"intensity": 0.5},
        "fx3": {"red": 0.2}}})
    frame = frames_for_condition(loaded.config, condition)[("dmx0", 1)]
    fixtures: dict[str, FixtureConfig] = {f.id: f for f in loaded.config.fixtures}

    def at(fixture_id: str) -> list[int]:
        start = fixtures[fixture_id].address - 1
        return list(frame[start:start + 8])

    assert at("fx0") == [255, 255, 255, 255, 255, 0, 0, 0]
    assert at("fx2") == [128, 255, 255, 255, 255, 0, 0, 0]
    assert at("fx3") == [255, 51, 0, 0, 0, 0, 0, 0]  # its own colour replaces the shared one


def test_color_and_a_named_colour_together_are_refused() -> None:
    with pytest.raises(ValueError, match="gives color and red"):
        FixtureCommand.model_validate({"color": [1, 1, 1], "red": 0.5})


def test_the_simulated_studio_lights_a_bicolour_panel_in_its_colour(loaded: LoadedRig) -> None:
    from capturerig_sim.render import fixture_lights

    panel = loaded.config.fixtures[0].model_copy(update={"profile": "generic-bicolour", "mode": "3ch"})
    rig = loaded.config.model_copy(update={"fixtures": (panel,)})
    warm = LightingCondition.model_validate({"id": "w", "levels": {"*": {"intensity": 1.0, "cct": 2700}}})
    cold = LightingCondition.model_validate({"id": "c", "levels": {"*": {"intensity": 0.5, "cct": 6500}}})
    (warm_light,) = fixture_lights(rig, frames_for_condition(rig, warm))
    (cold_light,) = fixture_lights(rig, frames_for_condition(rig, cold))
    assert warm_light.rgb[0] == pytest.approx(1.0)
    assert warm_light.rgb[2] < 0.5 * warm_light.rgb[0]  # warm: much less blue than red
    assert cold_light.rgb == pytest.approx((0.5, 0.5, 0.5), abs=0.04)  # daylight white at half intensity


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_the_cli_fixture_setting_parser_returns_a_command_or_says_what_is_wrong(text: str) -> None:
    try:
        fixture, command = parse_fixture_setting(text)
    except ValueError as exc:
        message = str(exc)
        assert message.startswith(f"'{text}'")
        return
    assert fixture
    assert isinstance(command, FixtureCommand)


def test_cli_fixture_settings() -> None:
    assert parse_fixture_setting("fx0=0.5") == ("fx0", FixtureCommand(intensity=0.5, color=(1.0, 1.0, 1.0, 1.0)))
    assert parse_fixture_setting("*=intensity:1,cct:3200") == ("*", FixtureCommand(intensity=1.0, cct=3200))
