"""The photosensitivity governor: flash counting, plan refusal with how to override, the run-time wait."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

import capturerig
from capturerig.config import ConfigError, LoadedRig, load_plan, load_rig
from capturerig.lighting import FlashGovernor, FlashLimit, LightChange, change_between, find_flash_violation
from capturerig.plan import LIGHT_FRAME_S, check_plan_photosafety, lighting_timeline

WCAG = FlashLimit(3)


def olat_changes(rate_hz: float, fixtures: int = 8, count: int = 12) -> list[LightChange]:
    """Changes of an OLAT over ``fixtures`` equal fixtures at ``rate_hz``, starting from darkness."""
    changes = []
    before = [0.0] * fixtures
    for step in range(count):
        after = [0.0] * fixtures
        after[step % fixtures] = 1.0 / fixtures
        changes.append(change_between(before, after, step / rate_hz, f"olat-fx{step % fixtures}"))
        before = after
    return changes


def test_an_olat_is_a_flash_per_step_even_though_the_total_light_is_constant() -> None:
    change = olat_changes(5.0)[1]
    assert change.rise == pytest.approx(0.125)
    assert change.fall == pytest.approx(0.125)
    violation = find_flash_violation(olat_changes(5.0), WCAG)
    assert violation is not None
    assert violation.flashes == 4  # changes at 0.2, 0.4, 0.6, 0.8 s each rise and fall (0 s only rises)
    assert "4 flashes in the 1 s from 0.00 s" in violation.describe()
    assert find_flash_violation(olat_changes(3.0), WCAG) is None  # 3 per second is allowed


def test_small_changes_are_not_flashes() -> None:
    # 16 fixtures: each is 6.25% of the rig's light, below the 10% that makes a flash.
    assert find_flash_violation(olat_changes(10.0, fixtures=16, count=30), WCAG) is None
    assert find_flash_violation(olat_changes(10.0, fixtures=16, count=30), FlashLimit(3, threshold=0.05)) is not None


def test_a_strobing_fixture_counts_its_own_rate() -> None:
    violation = find_flash_violation([], WCAG, strobes=[("strobe-on (fx0)", 10.0, 0.5)])
    assert violation is not None
    assert "strobes at 10 Hz" in violation.describe()
    assert find_flash_violation([], WCAG, strobes=[("dim strobe (fx0)", 10.0, 0.05)]) is None


def test_the_governor_holds_back_the_fourth_flash_until_the_window_moves_on() -> None:
    governor = FlashGovernor(WCAG)
    waits = []
    for change in olat_changes(5.0, count=6):
        wait = governor.delay_for(change)
        waits.append(round(wait, 3))
        governor.record(LightChange(change.at + wait, change.rise, change.fall))
    # Flashes at 0.2, 0.4, 0.6 s; the next may come once the 0.2 s one has left the 1 s window by one DMX
    # frame (a state reaches the fixtures up to a frame after its command).
    assert waits[:4] == [0.0, 0.0, 0.0, 0.0]
    assert waits[4] == pytest.approx(0.4 + LIGHT_FRAME_S, abs=0.002)  # 0.8 s change waits until 1.2 s + a frame


def _olat_plan(folder: Path, subject: str = "") -> Path:
    path = folder / "plan.yaml"
    path.write_text(textwrap.dedent("""\
        name: olat
        poses: [{id: p0}]
        stations: [{id: s0, angle_deg: 0}]
        lighting:
          - {generator: olat, fixtures: '*'}
        camera_groups: [ring-low, ring-high]
        """) + subject, encoding="utf-8")
    return path


def test_a_5_hz_olat_for_a_person_is_refused_saying_why_and_how_to_override(tmp_path: Path,
                                                                              loaded: LoadedRig) -> None:
    timeline = lighting_timeline(loaded.config, load_plan(_olat_plan(tmp_path), loaded).config)
    steps = [s.at for s in timeline if s.condition is not None]
    assert 4.0 < (len(steps) - 1) / (steps[-1] - steps[0]) < 5.5  # the sim studio shoots 4-5 takes a second
    with pytest.raises(ConfigError) as excinfo:
        capturerig.load_plan(_olat_plan(tmp_path), loaded)
    (problem,) = excinfo.value.problems
    assert (problem.file, problem.line, problem.field) == ("plan.yaml", 4, ("lighting",))
    message = problem.message
    assert message.startswith("refused for a person in the rig: the lighting sequence makes 4 flashes in the 1 s")
    assert "above the limit of 3 in any 1 s set by the WCAG general flash threshold" in message
    assert "olat-fx1 -> olat-fx2" in message
    assert "subject: {kind: object}" in message
    assert "photosensitivity_override: {screened_by: NAME, screened_on: YYYY-MM-DD, max_flashes_per_s: N}" in message


def test_an_object_or_a_screened_person_may_have_the_olat(tmp_path: Path, loaded: LoadedRig) -> None:
    assert capturerig.load_plan(_olat_plan(tmp_path, "subject: {kind: object}\n"), loaded).config.subject.kind == \
        "object"
    screened = _olat_plan(tmp_path, textwrap.dedent("""\
        subject:
          kind: person
          photosensitivity_override: {screened_by: Dr. A. Neurologist, screened_on: 2026-11-20, max_flashes_per_s: 6}
        """))
    plan = capturerig.load_plan(screened, loaded).config
    limit = check_plan_photosafety(loaded.config, plan)
    assert limit is not None
    assert limit.max_flashes == 6
    assert limit.source == "the photosensitivity screening by Dr. A. Neurologist on 2026-11-20"


def test_the_studio_may_lower_the_limit_but_not_raise_it(studio_files: Path) -> None:
    rig_path = studio_files / "rig.yaml"
    text = rig_path.read_text(encoding="utf-8")
    rig_path.write_text(text + "light_safety: {max_flashes_per_s: 0}\n", encoding="utf-8")
    strict = load_rig(rig_path)
    with pytest.raises(ConfigError, match="set by the studio's light_safety"):
        capturerig.load_plan(studio_files / "plan.yaml", strict)  # the demo's light changes are flashes now
    rig_path.write_text(text + "light_safety: {max_flashes_per_s: 4}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"light_safety.max_flashes_per_s: .*less than or equal to 3"):
        load_rig(rig_path)


def test_the_demo_plan_is_safe_for_a_person(loaded: LoadedRig) -> None:
    plan = capturerig.load_plan(None, loaded).config
    assert plan.subject.kind == "person"
    assert check_plan_photosafety(loaded.config, plan) == WCAG
