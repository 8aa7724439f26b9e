"""The session estimate counts what sessions really cost on this rig: measured from the journals of earlier
sessions (run by the panel's RunManager on the simulated studio), modelled when there are none, and says which."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from capturerig.engine import Journal
from capturerig.plan import estimate_plan
from tests.unit._web_runs import RUN_TIMEOUT_S, SUBJECT, run_manager, run_session, verified, wait_for

pytestmark = pytest.mark.usefixtures("fast_sim")


def _states(session: Path) -> list[dict[str, object]]:
    journal = Journal(session)
    try:
        return journal.events("StateChanged")
    finally:
        journal.close()


def _wall_s(session: Path) -> float:
    """Preflight to done, as the journal saw it."""
    states = _states(session)
    return float(states[-1]["at"]) - float(states[0]["at"])  # type: ignore[arg-type]


def test_with_no_earlier_session_the_estimate_is_the_model_and_says_so(studio_files: Path, tmp_path: Path) -> None:
    runs, _ = run_manager(studio_files, tmp_path / "sessions")
    estimate = runs.estimate(None, "sim-demo")
    rig, plan = runs.catalog.plan(None, "sim-demo")
    model = estimate_plan(rig.loaded.config, plan.config, rig.loaded.path.parent)
    assert estimate["source"] == "modelled"
    assert estimate["basis"].startswith("modelled: no session on this rig yet")
    assert estimate["session_s"] == pytest.approx(model.session_s)
    assert estimate["hold_s_by_pose"] == pytest.approx(model.hold_s_by_pose)
    assert (estimate["takes"], estimate["images"]) == (8, 128)


def test_after_sessions_the_estimate_is_what_they_took_on_this_rig(studio_files: Path, tmp_path: Path) -> None:
    runs, _ = run_manager(studio_files, tmp_path / "sessions")
    first = run_session(runs)
    one = runs.estimate(None, "sim-demo")
    assert one["source"] == "measured"
    assert one["basis"] == "from 1 earlier session on this rig"
    assert one["measured_from"] == [first]
    # One session measured: the estimate is its own time, preflight to done, split into before, per take, after.
    assert one["session_s"] == pytest.approx(_wall_s(tmp_path / "sessions" / first), abs=1e-6)
    assert one["head_s"] > 0
    assert one["tail_s"] >= 0
    assert len(one["take_s"]) == 8
    assert all(s > 0 for s in one["take_s"].values())
    assert one["hold_s_by_pose"]["p00"] == pytest.approx(sum(one["take_s"].values()))

    second = run_session(runs)
    two = runs.estimate(None, "sim-demo")
    assert two["basis"] == "from 2 earlier sessions on this rig"
    assert set(two["measured_from"]) == {first, second}
    walls = sorted(_wall_s(tmp_path / "sessions" / name) for name in (first, second))
    assert walls[0] - 1e-6 <= two["session_s"] <= walls[1] + 1e-6  # medians per part, between the two runs


def test_the_operators_wait_and_a_pause_are_not_the_rigs_time(studio_files: Path, tmp_path: Path) -> None:
    runs, views = run_manager(studio_files, tmp_path / "sessions")
    name = runs.start(None, "sim-demo", SUBJECT, confirm_poses=True)
    wait_for(lambda: views.run.awaiting_pose is not None, "the pose question")
    time.sleep(1.5)  # the operator looks at the subject before answering
    runs.confirm_pose(True)
    wait_for(lambda: verified(runs) >= 2, "two takes verified")
    runs.pause()
    wait_for(lambda: views.run.state == "paused", "the pause")
    time.sleep(1.5)
    runs.resume()
    wait_for(lambda: views.run.awaiting_pose is not None, "the pose asked again (the subject relaxed)")
    runs.confirm_pose(True)
    assert runs.wait(RUN_TIMEOUT_S)
    assert views.run.state == "done"
    wall = _wall_s(tmp_path / "sessions" / name)
    estimate = runs.estimate(None, "sim-demo")
    assert estimate["source"] == "measured"
    # Both waits are left out, to within the time the engine needs to notice an answer or a resume (~0.2 s).
    assert wall - 3.0 - 0.5 < estimate["session_s"] < wall - 3.0 + 0.05


def test_a_plan_never_shot_here_is_estimated_from_other_plans_time_per_take_of_each_kind(studio_files: Path,
                                                                                         tmp_path: Path) -> None:
    plan = studio_files / "plan.yaml"
    text = plan.read_text(encoding="utf-8")
    assert "name: sim-demo" in text
    assert "  - {id: s01, angle_deg: 90}\n" in text
    # Three stations, one lighting state less: never shot, but made of the same kinds of take as the demo.
    (studio_files / "three-stations.yaml").write_text(
        text.replace("name: sim-demo", "name: three-stations").replace(
            "  - {id: s01, angle_deg: 90}\n", "  - {id: s01, angle_deg: 90}\n  - {id: s02, angle_deg: 180}\n"),
        encoding="utf-8")
    runs, _ = run_manager(studio_files, tmp_path / "sessions")
    name = run_session(runs)
    estimate = runs.estimate(None, "three-stations")
    assert estimate["source"] == "similar"
    assert estimate["basis"] == "from 1 earlier session of other plans on this rig (their time per take of each kind)"
    assert estimate["takes"] == 12
    assert estimate["measured_from"] == [name]
    demo = runs.estimate(None, "sim-demo")["take_s"]
    # The demo's first take (everything new), its turntable move (s01/l00) and its light changes, each by kind.
    light_changes = sorted(demo[f"p00/{s}/{light}/b0"] for s in ("s00", "s01") for light in ("l01", "l02", "l03"))
    expected = {"p00/s00/l00/b0": demo["p00/s00/l00/b0"], "p00/s01/l00/b0": demo["p00/s01/l00/b0"],
                "p00/s02/l00/b0": demo["p00/s01/l00/b0"]}
    expected.update({f"p00/{s}/{light}/b0": (light_changes[2] + light_changes[3]) / 2
                     for s in ("s00", "s01", "s02") for light in ("l01", "l02", "l03")})
    assert estimate["take_s"] == pytest.approx(expected)
    assert estimate["session_s"] == pytest.approx(estimate["head_s"] + sum(expected.values()) + estimate["tail_s"])


def test_a_session_that_did_not_run_through_is_not_a_measure(studio_files: Path, tmp_path: Path) -> None:
    runs, views = run_manager(studio_files, tmp_path / "sessions")
    runs.start(None, "sim-demo", SUBJECT, confirm_poses=False)
    wait_for(lambda: verified(runs) >= 1, "a take verified")
    runs.abort()
    assert runs.wait(RUN_TIMEOUT_S)
    assert views.run.state == "aborted"
    assert runs.estimate(None, "sim-demo")["source"] == "modelled"
