"""Calibration from the panel alone, in a real browser: shoot a board plan with live coverage coaching, solve it
with a progress bar, read the report (verdict table first, plots at full width, the raw report behind "details"),
accept it; and a colour calibration asked of the wrong session is a short problem that says what to do.

The studio is the simulated one cut to its lower ring (8 cameras) with a 24-position board plan: the smallest
capture whose solve passes every quality gate here (fewer cameras or positions fail the precision gate), so a
shoot takes about 10-30 s on a loaded machine. So the board is shot and solved once, with the technician's two
screens (laptop and desk monitor) both on the page: one starts each job, the other follows it as a second screen
opened meanwhile does, and each page is checked against it.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml
from playwright.sync_api import Page, expect

from capturerig_sim import TIME_SCALE_ENV, reset_studios
from tests.conftest import EXAMPLES
from tests.web.conftest import LivePanel, shot, start_panel

SHOOT_TIMEOUT_MS = 180_000  # 192 rendered images and their board search on a loaded 2-core machine
SOLVE_TIMEOUT_MS = 120_000
BOARD_POSITIONS = 24
CAMERAS = [f"cam{i:02d}" for i in range(8)]

# Records what the page showed while a job ran: the progress line and the coaching tiles, at each change.
WATCH = """(box) => {
  window.__seen = [];
  new MutationObserver(() => {
    const stage = document.querySelector(box + ' .stage');
    window.__seen.push({stage: stage ? stage.textContent : null,
                        running: document.querySelector(box).classList.contains('running'),
                        tiles: document.querySelectorAll('#calib-coaching .coach-cam').length,
                        todo: Array.from(document.querySelectorAll('#calib-coaching .todo')).map(t => t.textContent)});
  }).observe(document.querySelector('#calibration'), {subtree: true, childList: true, characterData: true});
}"""


def _small_studio(folder: Path) -> Path:
    """The example studio with its lower ring only, a 24-position board plan and the chart plan for that ring."""
    shutil.copytree(EXAMPLES, folder)
    rig = yaml.safe_load((folder / "rig.yaml").read_text(encoding="utf-8"))
    rig["cameras"] = [camera for camera in rig["cameras"] if camera["id"] in CAMERAS]
    (folder / "rig.yaml").write_text(yaml.safe_dump(rig, sort_keys=False), encoding="utf-8")
    for name, old, new in (("calibration-plan.yaml", "frames: 40\n  min_views: 8", f"frames: {BOARD_POSITIONS}\n  "
                            "min_views: 5"), ("colour-chart-plan.yaml", "", "")):
        text = (folder / name).read_text(encoding="utf-8").replace("[ring-low, ring-high]", "[ring-low]")
        assert not old or old in text, f"{name} changed: update this test's edit"
        (folder / name).write_text(text.replace(old, new) if old else text, encoding="utf-8")
    return folder / "rig.yaml"


@pytest.fixture(scope="module")
def calib_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LivePanel]:
    """A panel over the small simulated studio, for the whole module (its shot sessions are shared)."""
    root = tmp_path_factory.mktemp("calibration-panel")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(TIME_SCALE_ENV, "0")
        reset_studios()
        handle = start_panel(root, rig=_small_studio(root / "studio"))
        try:
            yield handle
        finally:
            handle.server.stop()
            assert handle.panel.runs.wait(60.0), "a calibration shoot was still running after the server stopped"
            reset_studios()


def _size(page: Page) -> str:
    size = page.viewport_size
    return "laptop" if size is not None and size["width"] == 1280 else "desk"


def _open(page: Page, live: LivePanel) -> None:
    page.goto(f"{live.url}/#calibration")
    expect(page.locator("#calib-plan option")).to_have_count(1)
    expect(page.locator("#calib-current")).to_contain_text("Rig sim-studio uses")


def _follow(page: Page) -> None:
    """Leave the calibration tab and come back, as a technician at a second screen does: the page then finds the
    job another screen started and follows it."""
    page.click('#tabs a[data-tab="session"]')
    page.click('#tabs a[data-tab="calibration"]')


def _shoot_board(pages: dict[str, Page]) -> str:
    """Shoot the board plan from the laptop's page while the desk's follows; checks the coaching and the progress
    each page showed on the way."""
    for page in pages.values():
        page.select_option("#calib-target", "board")
        expect(page.locator("#calib-plan-note")).to_contain_text(f"{BOARD_POSITIONS} positions")
        page.evaluate(WATCH, "#calib-shoot-progress")
    pages["laptop"].click("#calib-shoot")
    expect(pages["laptop"].locator("#calib-shoot-progress")).to_contain_text(f"of {BOARD_POSITIONS}")
    _follow(pages["desk"])

    # Live: a progress bar that counts board positions, and per camera a coverage grid, bars and what to do.
    for page in pages.values():
        expect(page.locator("#calib-shoot-progress")).to_contain_text(f"of {BOARD_POSITIONS}")
        expect(page.locator("#calib-coaching .coach-cam")).to_have_count(len(CAMERAS))
        expect(page.locator("#calib-coaching .coach-cam .regions span")).to_have_count(9 * len(CAMERAS))
    for size, page in pages.items():
        progress = page.locator("#calib-shoot-progress")
        page.wait_for_function("() => /board position ([3-9]|1[0-9])/.test("
                               "document.querySelector('#calib-shoot-progress .stage').textContent)",
                               timeout=SHOOT_TIMEOUT_MS)
        expect(progress).to_have_class("calib-progress running")
        expect(progress.locator(".timing")).to_contain_text("left")  # an ETA once a few positions are shot
        expect(page.locator("#calib-coaching-summary")).to_contain_text("board positions shot")
        shot(page, f"calibration-shoot-coaching-{size}")

    sessions = set()
    for page in pages.values():
        expect(page.locator("#calib-shoot-progress")).to_have_class("calib-progress done", timeout=SHOOT_TIMEOUT_MS)
        seen = page.evaluate("() => window.__seen")
        stages = [s["stage"] for s in seen if s["running"] and s["stage"]]
        # The progress line moved on while the board was shot (a busy page may draw two positions as one).
        shown = {int(m.group(1)) for s in stages if (m := re.search(rf"board position (\d+) of {BOARD_POSITIONS}", s))}
        assert len(shown) >= 3, stages[:5]
        todos = [t for s in seen if s["running"] for t in s["todo"]]
        # Mid-run the coach names each camera and what the technician should do for it.
        assert any("tilted toward" in t or "hold the board in the" in t for t in todos), todos[:8]
        assert all(t.startswith(("cam0", "show cam0", "hold the board", "bring the board")) for t in todos), todos[:8]
        expect(page.locator("#calib-coaching-summary")).to_contain_text(f"{BOARD_POSITIONS} of {BOARD_POSITIONS}")
        session = page.input_value("#calib-session")
        assert "board-studio-charuco" in session
        assert page.input_value("#calib-kind") == "geometry"
        sessions.add(session)
    assert len(sessions) == 1, f"the two screens offer different sessions to solve: {sessions}"
    return sessions.pop()


def _check_report(page: Page, size: str) -> None:
    """The report reads top-down: verdict table, accept, plots at the page's width; the raw report stays folded."""
    report = page.locator("#calib-report")
    expect(report).to_be_visible()
    expect(page.locator("#calib-report-verdict")).to_have_text("every quality check passed")
    rows = page.locator("#calib-verdicts tbody tr")
    expect(rows).to_have_count(len(CAMERAS) + 1)  # and the whole rig's scale check
    for row in range(len(CAMERAS)):
        expect(rows.nth(row).locator(".verdict-word")).to_have_text("pass")
        expect(rows.nth(row).locator(".reason")).to_have_text("all 8 checks passed")
    table_box = page.locator("#calib-verdicts").bounding_box()
    plots = page.locator("#calib-plots img")
    expect(plots.first).to_be_visible()
    assert plots.count() >= 2
    plot_box = plots.first.bounding_box()
    assert table_box is not None
    assert plot_box is not None
    assert table_box["y"] + table_box["height"] <= plot_box["y"], "the verdict table comes before the plots"
    natural = plots.first.evaluate("img => img.naturalWidth")
    # A wide plot takes the report's whole width, or its own full size where that is less (not blown up).
    assert plot_box["width"] >= min(0.9 * table_box["width"], natural - 1), (size, plot_box, natural)
    viewport = page.viewport_size
    assert viewport is not None
    for index in range(plots.count()):  # and a square one the window's height: each is read whole
        box = plots.nth(index).bounding_box()
        assert box is not None
        assert box["height"] <= viewport["height"], (size, box)
        assert box["width"] >= 400, (size, box)
    expect(page.locator("#calib-details pre")).not_to_be_visible()
    shot(page, f"calibration-report-{size}")

    plots.first.click()
    expect(page.locator("#calib-zoom")).to_be_visible()
    shot(page, f"calibration-plot-enlarged-{size}")
    page.locator("#calib-zoom").click()
    expect(page.locator("#calib-zoom")).to_be_hidden()
    page.click("#calib-details summary")
    expect(page.locator("#calib-details pre")).to_contain_text('"seconds_solver"')


def test_a_board_plan_is_shot_solved_with_progress_and_accepted_from_the_panel_alone(
        calib_live: LivePanel, screens: dict[str, Page]) -> None:
    live = calib_live
    for page in screens.values():
        _open(page, live)
    session = _shoot_board(screens)

    for page in screens.values():
        page.evaluate(WATCH, "#calib-solve-progress")
    screens["desk"].click("#calib-solve")  # the desk starts this job, the laptop follows it
    expect(screens["desk"].locator("#calib-solve-progress")).to_have_class("calib-progress running")
    _follow(screens["laptop"])
    for size, page in screens.items():
        solve = page.locator("#calib-solve-progress")
        expect(solve).to_have_class("calib-progress done", timeout=SOLVE_TIMEOUT_MS)
        seen = [s["stage"] for s in page.evaluate("() => window.__seen") if s["running"] and s["stage"]]
        assert seen, f"no progress was shown on the {size} screen while the solve ran"
        # However fast a stage went by the page's polls, the finished job lists every stage with its time.
        steps = solve.locator("ol.stages li").all_text_contents()
        assert any(s.startswith("finding the board") for s in steps), steps
        assert any(s.startswith("solving") for s in steps), steps
        _check_report(page, size)

    installed = live.panel.calibration_dir / "sim-studio" / "geometry.json"
    for page in screens.values():  # either screen accepts it; accepting it again installs the same file
        page.click("#calib-accept")
        expect(page.locator("#calib-current")).to_contain_text(f"geometry from session {session}")
        assert installed.is_file()
        assert installed.read_bytes() == (live.panel.sessions_dir / session / requests.get(
            f"{live.url}/api/calibration/geometry/{session}", timeout=30).json()["file"]).read_bytes()


@pytest.fixture(scope="module")
def board_session(calib_live: LivePanel) -> str:
    """A board session for checks about the page, not the shoot: the board plan started from the API and
    aborted at once (a second or two instead of a whole shoot)."""
    live = calib_live
    origin = {"Origin": live.url}
    response = requests.post(f"{live.url}/api/calibration/shoot", headers=origin, timeout=30,
                             json={"target": "board", "plan": "sim-calibration"})
    assert response.status_code == 202, response.text
    job = response.json()
    assert requests.post(f"{live.url}/api/run/abort", headers=origin, timeout=30).ok
    deadline = time.monotonic() + SHOOT_TIMEOUT_MS / 1000
    while job["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.1)  # a job is only polled; its run stops at the next take boundary
        job = requests.get(f"{live.url}/api/calibration/jobs/{job['id']}", timeout=30).json()
    assert job["state"] != "running", f"the aborted board shoot did not stop: {job}"
    assert live.panel.runs.wait(30.0)
    return str(job["session"])


def test_a_colour_calibration_of_the_board_session_is_a_short_problem_saying_what_to_do(
        calib_live: LivePanel, board_session: str, screen_page: Page) -> None:
    page, live, session = screen_page, calib_live, board_session
    _open(page, live)
    page.select_option("#calib-session", session)
    page.select_option("#calib-kind", "colour")
    page.click("#calib-solve")

    problem = page.locator("#problems .problem")
    expect(problem).to_have_count(1, timeout=SOLVE_TIMEOUT_MS)
    expect(problem.locator(".what")).to_contain_text(f"session {session} is a board (geometry) session")
    expect(problem.locator(".where")).to_contain_text(f"session {session}")
    expect(problem.locator(".todo")).to_contain_text("shoot the chart from this page (Shoot the chart)")
    text = problem.inner_text()
    assert len(text) < 400, text  # not a wall of text
    assert "--" not in text, text  # no CLI flags
    assert str(live.root) not in text, text  # no server paths
    expect(page.locator("#calib-solve-progress")).to_have_class("calib-progress failed")
    shot(page, f"calibration-problem-{_size(page)}")
    page.wait_for_timeout(1_000)
    expect(problem).to_have_count(1)  # it stays until dismissed
    problem.locator(".dismiss").click()
    expect(problem).to_have_count(0)


def test_a_shoot_while_the_rig_is_in_use_is_a_problem_naming_who_uses_it(calib_live: LivePanel) -> None:
    live = calib_live
    live.panel.hardware.claim("session for S-web")
    try:
        response = requests.post(f"{live.url}/api/calibration/shoot", headers={"Origin": live.url}, timeout=30,
                                 json={"target": "board", "plan": "sim-calibration"})
    finally:
        live.panel.hardware.release("session for S-web")
    assert response.status_code == 409, response.text
    problem = response.json()["problem"]
    assert problem["what"] == "the rig is in use: session for S-web"
    assert "then shoot" in problem["todo"]
    response = requests.post(f"{live.url}/api/calibration/shoot", headers={"Origin": live.url}, timeout=30,
                             json={"target": "chart", "plan": "sim-calibration"})
    assert response.status_code == 422
    assert response.json()["problem"]["what"] == "plan 'sim-calibration' is a board plan, not a chart plan"


def test_a_shoot_that_waits_for_the_technician_asks_on_this_page_and_stops_when_told(
        calib_live: LivePanel, page: Page) -> None:
    _open(page, calib_live)
    page.check("#calib-confirm")
    page.click("#calib-shoot")
    asking = page.locator("#calib-awaiting")
    expect(asking).to_be_visible(timeout=SHOOT_TIMEOUT_MS)
    expect(page.locator("#calib-awaiting-pose")).to_have_text("f000")
    expect(asking).to_contain_text(f"board position 1 of {BOARD_POSITIONS}: hold the board still")
    expect(page.locator("#calib-abort")).to_be_visible()
    shot(page, "calibration-waits-for-the-board")

    # A page opened again (a reload, another screen) finds the running shoot: its prompt, progress and coaching.
    page.reload()
    expect(asking).to_be_visible()
    expect(page.locator("#calib-shoot-progress")).to_contain_text(f"board position 1 of {BOARD_POSITIONS}")
    expect(page.locator("#calib-coaching .coach-cam")).to_have_count(len(CAMERAS))

    page.click("#calib-awaiting-no")
    expect(asking).to_be_hidden()
    problem = page.locator("#problems .problem")
    expect(problem.locator(".what")).to_contain_text("the board shoot stopped at position 1 of 24",
                                                     timeout=SHOOT_TIMEOUT_MS)
    expect(problem.locator(".todo")).to_contain_text("Re-shoot")
    expect(page.locator("#calib-shoot-progress")).to_have_class("calib-progress failed")
    expect(page.locator("#calib-abort")).to_be_hidden()
    expect(page.locator("#busy")).to_have_text("rig free")
