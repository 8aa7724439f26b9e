"""Plan expansion gives ordered takes with stable ids; estimates come from the same expansion."""

from __future__ import annotations

from pathlib import Path

import pytest

from capturerig.config import Consistency, default_plan_path, default_rig_path, load_body_profile, load_plan, load_rig
from capturerig.engine import bracket_shutter
from capturerig.plan import ENGINE_OVERHEAD_S, LIGHT_FRAME_S, burst_refusal, estimate_plan, expand_plan, shutter_seconds


def _plan_with_brackets(tmp_path: Path) -> Path:
    text = default_plan_path().read_text().replace("  - {id: b0, ev: 0}", "  - {id: b0, ev: 0}\n  - {id: b1, ev: 1}")
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    return path


def test_demo_plan_expands_to_8_takes_in_shooting_order() -> None:
    rig = load_rig(default_rig_path())
    takes = expand_plan(rig.config, load_plan(default_plan_path(), rig).config)
    assert [t.id for t in takes] == [f"p00/{s}/{light}/b0" for s in ("s00", "s01")
                                     for light in ("l00", "l01", "l02", "l03")]
    assert [t.ordinal for t in takes] == list(range(8))
    assert all(len(t.cameras) == 16 for t in takes)
    assert takes[3].file_name("cam07", "jpg") == "cam07_p00_s00_l03.jpg"
    assert takes[3].file_name("cam07", "jpg", attempt=2) == "cam07_p00_s00_l03_a2.jpg"


def test_take_ids_are_stable_across_expansions_and_names_carry_bracket_only_when_bracketing(tmp_path: Path) -> None:
    rig = load_rig(default_rig_path())
    plan = load_plan(_plan_with_brackets(tmp_path), rig).config
    first = [t.id for t in expand_plan(rig.config, plan)]
    assert first == [t.id for t in expand_plan(rig.config, plan)]
    assert len(first) == 16
    take = expand_plan(rig.config, plan)[1]
    assert take.id == "p00/s00/l00/b1"
    assert take.file_name("cam00", "jpg") == "cam00_p00_s00_l00_b1.jpg"


def test_estimate_counts_images_disk_and_turntable_time() -> None:
    rig = load_rig(default_rig_path())
    plan = load_plan(default_plan_path(), rig).config
    estimate = estimate_plan(rig.config, plan)
    assert estimate.takes == 8
    assert estimate.images == 128
    assert estimate.disk_bytes == 128 * 90_000  # sim-studio body: 90 kB per JPEG
    # One 90-degree turn at 60 deg/s plus settle is part of the pose's hold time.
    assert estimate.hold_s_by_pose["p00"] > 90 / 60 + plan.settle.turntable_s
    assert estimate.session_s == pytest.approx(sum(estimate.hold_s_by_pose.values()))


@pytest.mark.parametrize(("base", "ev", "expected"), [("1/125", 0, "1/125"), ("1/125", 1, "1/62"),
                                                      ("1/125", -1, "1/250"), ("1/2", 2, "2")])
def test_bracket_shutter_moves_by_whole_stops(base: str, ev: float, expected: str) -> None:
    assert bracket_shutter(base, ev) == expected


def test_bad_shutter_string_is_named() -> None:
    with pytest.raises(ValueError, match="not a shutter speed: 'fast'"):
        shutter_seconds("fast")


def test_the_critical_path_changes_the_light_only_with_the_state_and_beside_the_turntable() -> None:
    rig = load_rig(default_rig_path())
    plan = load_plan(default_plan_path(), rig).config
    body = load_body_profile("sim-studio")
    chain = ((body.trigger_latency_ms + body.card_write_ms) / 1000 + 1 / 125
             + body.formats["jpeg"].bytes_estimate / (body.download_mbytes_per_s * 1e6))
    light = max(plan.settle.lights_s, LIGHT_FRAME_S)  # the plan's settle counts from the command: frame included
    turn = 90 / 60 + plan.settle.turntable_s  # longer than the light change it overlaps
    # Station s00: four light changes; station s01: the turn (with the first light change beside it), three more.
    expected = 7 * light + turn + 8 * chain
    hardware = estimate_plan(rig.config, plan, engine_overhead_s=0.0)
    assert hardware.session_s == pytest.approx(expected)
    assert estimate_plan(rig.config, plan).session_s == pytest.approx(expected + 8 * ENGINE_OVERHEAD_S)
    same_light = plan.model_copy(update={"lighting": plan.lighting[:1]})
    assert estimate_plan(rig.config, same_light, engine_overhead_s=0.0).session_s == pytest.approx(
        light + turn + 2 * chain)  # one state: lit once, then only the turn
    # Preflight homed the table just before: the first take (at 0 degrees) waits for what is left of its
    # settle when that is longer than its light change, and only the first take.
    assert estimate_plan(rig.config, plan, engine_overhead_s=0.0, table_settling_s=0.3).session_s == pytest.approx(
        expected - light + 0.3)
    assert estimate_plan(rig.config, plan, engine_overhead_s=0.0, table_settling_s=light / 2).session_s == (
        pytest.approx(expected))


def test_a_held_pose_on_the_trigger_box_is_one_burst_bound_by_settle_and_exposure() -> None:
    rig = load_rig(default_rig_path())
    plan = load_plan(default_plan_path(), rig).config
    one_station = plan.model_copy(update={"consistency": Consistency.POSE, "stations": plan.stations[:1]})
    body = load_body_profile("sim-studio")
    estimate = estimate_plan(rig.config, one_station, engine_overhead_s=0.0)
    # Four states, each its settle then the exposure; the buffered files are written and downloaded after.
    assert estimate.hold_s_by_pose["p00"] == pytest.approx(4 * (plan.settle.lights_s + 1 / 125))
    assert estimate.session_s > estimate.hold_s_by_pose["p00"] + body.card_write_ms / 1000
    bodies = {c.id: body for c in rig.config.cameras}
    takes = expand_plan(rig.config, one_station)
    assert burst_refusal(takes, bodies, has_box=True) is None
    assert burst_refusal(takes, bodies, has_box=False) == "no trigger box"
    small = body.model_copy(update={"burst_frames": 3})
    assert burst_refusal(takes, dict(bodies, cam04=small), has_box=True) == (
        "cam04's buffer holds 3 exposures, the pose has 4")
    assert burst_refusal(expand_plan(rig.config, plan.model_copy(update={"consistency": Consistency.POSE})),
                         bodies, has_box=True) == "the turntable, the bracket or the cameras change within the pose"
    # Without a box it is shot take by take: every take downloads before the next light.
    take_by_take = estimate_plan(rig.config.model_copy(update={"trigger": None}), one_station, engine_overhead_s=0.0)
    assert take_by_take.hold_s_by_pose["p00"] > estimate.hold_s_by_pose["p00"] + 4 * body.card_write_ms / 1000


@pytest.mark.parametrize(("plates", "first", "last"), [("before", "plate", "p00"), ("after", "p00", "plate")])
def test_clean_plates_are_one_more_pose_shot_before_or_after_the_subject(plates: str, first: str, last: str) -> None:
    rig = load_rig(default_rig_path())
    plan = load_plan(default_plan_path(), rig).config.replace(plates=plates)
    takes = expand_plan(rig.config, plan)
    assert len(takes) == 16
    assert (takes[0].pose.id, takes[-1].pose.id) == (first, last)
    plate_takes = [t for t in takes if t.pose.id == "plate"]
    assert {(t.station.id, t.lighting.state_id) for t in plate_takes} == {
        (s, light) for s in ("s00", "s01") for light in ("l00", "l01", "l02", "l03")}
    assert plate_takes[0].pose.operator_confirmed
    assert "clear the rig" in plate_takes[0].pose.description
    assert plate_takes[0].file_name("cam07", "jpg") == "cam07_plate_s00_l00.jpg"


def test_a_subject_pose_named_plate_is_refused_with_the_reason(tmp_path: Path) -> None:
    text = default_plan_path().read_text().replace("id: p00", "id: plate")
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    rig = load_rig(default_rig_path())
    with pytest.raises(Exception, match="pose id 'plate' is reserved for the clean plates"):
        load_plan(path, rig)
