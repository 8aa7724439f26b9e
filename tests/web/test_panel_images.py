"""Images in the panel: the demo's whole contact sheet on one screen, the image viewer, past sessions read-only.

At both of a technician's screens (laptop 1280x800, desk 1920x1080), in Debian's Chromium.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from typing import Any

import requests
from playwright.sync_api import Page, expect

from capturerig_sim import VirtualStudio
from tests.conftest import copy_unversioned_session
from tests.web.conftest import SUBJECT, LivePanel, shot

SESSION_TIMEOUT_MS = 120_000  # a loaded 2-core machine; the fast simulator needs ~10 s
CAMERAS, TAKES = 16, 8
READABLE_PX = 96  # a thumbnail's long side a technician can judge framing and focus from

# Where the sheet and every thumbnail are on the screen as drawn now (no scrolling: the page's own offsets).
_SHEET_GEOMETRY = """(selector) => {
  const table = document.querySelector(selector);
  const r = table.getBoundingClientRect();
  const thumbs = Array.from(table.querySelectorAll('td img')).map((img) => {
    const b = img.getBoundingClientRect();
    // object-fit: contain: the picture drawn inside the element's box
    const scale = Math.min(b.width / img.naturalWidth, b.height / img.naturalHeight);
    const x = b.left + b.width / 2, y = b.top + b.height / 2;
    const natural = Math.max(img.naturalWidth, img.naturalHeight);
    return { long: natural * scale, natural, loaded: img.complete && img.naturalWidth > 0,
             onTop: document.elementFromPoint(x, y) === img };
  });
  return { left: r.left, top: r.top, right: r.right, bottom: r.bottom, width: innerWidth, height: innerHeight,
           scrollX: scrollX, scrollY: scrollY, thumbs };
}"""


def _label(page: Page) -> str:
    size = page.viewport_size
    assert size is not None
    return f"{size['width']}x{size['height']}"


def _shoot_the_demo_fitted(screens: dict[str, Page], live: LivePanel) -> str:
    """The demo from the panel, watched in fit mode at both screens (the laptop starts it, the desk answers the
    pose question): each page's compact cue says what its hold cue says."""
    for page in screens.values():
        page.goto(f"{live.url}/#session")
        page.fill("#subject", SUBJECT)
        page.select_option("#session-plan", "sim-demo")
    screens["laptop"].click("#start")
    for page in screens.values():
        expect(page.locator("#pose-confirm")).to_be_visible(timeout=SESSION_TIMEOUT_MS)
        page.click("#sheet-fit")  # refused while the operator is asked: the fitted sheet would cover the question
        expect(page.locator("#toast")).to_contain_text("answer the pose question first")
        expect(page.locator("#sheet-panel")).not_to_have_class("sheet-panel fit")
    screens["desk"].click("#pose-yes")
    # Both pages fitted first, then checked: the hold lasts seconds, and both are checked inside it.
    for page in screens.values():
        expect(page.locator("#hold-cue")).to_have_class("cue hold", timeout=SESSION_TIMEOUT_MS)
        page.click("#sheet-fit")
    for page in screens.values():
        expect(page.locator("#sheet-panel")).to_contain_class("fit")
        # HOLD while the pose's takes are shot (the studio's real timing: seconds), in the frame's colour too.
        expect(page.locator("#sheet-cue-word")).to_contain_text("HOLD p00")
        expect(page.locator("#sheet-panel")).to_have_class("sheet-panel fit hold")
    for page in screens.values():
        shot(page, f"images-sheet-fit-hold-{_label(page)}")
    names: set[str] = set()
    for page in screens.values():
        expect(page.locator("#sheet-cue-state")).to_have_text(f"done · {TAKES}/{TAKES}", timeout=SESSION_TIMEOUT_MS)
        expect(page.locator("#sheet-cue-word")).to_have_text("RELAX")
        expect(page.locator("#sheet-panel")).to_have_class("sheet-panel fit")  # the frame is the relax colour again
        page.click("#sheet-unfit")
        expect(page.locator("#run-state")).to_have_text("done", timeout=SESSION_TIMEOUT_MS)
        page.wait_for_function(f"Array.from(document.querySelectorAll('#contact-sheet td img'))"
                               f".filter(i => i.complete && i.naturalWidth > 0).length === {TAKES * CAMERAS}",
                               timeout=SESSION_TIMEOUT_MS)
        names.add(page.evaluate("() => S.run.session.name"))
    assert len(names) == 1, f"the two screens show different sessions: {names}"
    return names.pop()


def _assert_whole_sheet_on_screen(page: Page, selector: str) -> dict[str, Any]:
    g: dict[str, Any] = page.evaluate(_SHEET_GEOMETRY, selector)
    where = json.dumps({k: v for k, v in g.items() if k != "thumbs"})
    assert (g["scrollX"], g["scrollY"]) == (0, 0), f"the page was scrolled: {where}"
    inside = g["left"] >= 0 and g["top"] >= 0 and g["right"] <= g["width"] and g["bottom"] <= g["height"]
    assert inside, f"the sheet does not fit the {g['width']}x{g['height']} screen: {where}"
    assert len(g["thumbs"]) == TAKES * CAMERAS
    assert all(t["loaded"] for t in g["thumbs"])
    smallest = min(t["long"] for t in g["thumbs"])
    assert smallest >= READABLE_PX, f"thumbnails of {smallest:.1f} px on their long side"
    assert all(t["natural"] >= t["long"] for t in g["thumbs"]), "a thumbnail is drawn larger than the server made it"
    assert all(t["onTop"] for t in g["thumbs"]), "a thumbnail is covered by something else on the page"
    return g


def test_the_demos_whole_contact_sheet_fits_the_screen_and_a_cell_opens_the_image_viewer(
        live: LivePanel, screens: dict[str, Page], studio: VirtualStudio) -> None:
    # Rendered images, not test cards: identical cards fail every take's checks ("the same file again"), and the
    # sheet and viewer would show a failed session. One session, watched at both screens (laptop 1280x800, desk
    # 1920x1080): the session is the same for both, only the screen differs, so it is shot (and rendered) once.
    studio.time_scale = 1.0  # the modelled hardware timing: a pose is held for seconds, as in the studio
    session = _shoot_the_demo_fitted(screens, live)
    for page in screens.values():
        size = page.viewport_size
        assert size is not None
        label = _label(page)
        page.evaluate("() => window.scrollTo(0, 0)")

        if size["width"] >= 1920:  # a desk monitor has room for the sheet beside the controls and the hold cue
            expect(page.locator("#session")).to_have_class("page sheet-side")
            _assert_whole_sheet_on_screen(page, "#contact-sheet")
            expect(page.locator("#hold-cue")).to_be_in_viewport()
            shot(page, f"images-sheet-beside-controls-{label}")

        # Fit to screen: the sheet alone over the window, the hold cue its frame and a compact word.
        page.click("#sheet-fit")
        expect(page.locator("#sheet-panel")).to_have_class("sheet-panel fit")
        expect(page.locator("#sheet-cue-word")).to_have_text("RELAX")
        expect(page.locator("#sheet-cue-state")).to_have_text(f"done · {TAKES}/{TAKES}")
        geometry = _assert_whole_sheet_on_screen(page, "#contact-sheet")
        print(f"{label}: smallest thumbnail {min(t['long'] for t in geometry['thumbs']):.0f} px")
        shot(page, f"images-sheet-fit-{label}")

        # A cell opens the viewer: the image, its 100 % crop and its histogram.
        take = page.evaluate("() => S.run.takes[2].id")
        page.locator(f'#contact-sheet td[data-take="{take}"][data-camera="cam05"] img').click()
        viewer = page.locator("#image-viewer")
        expect(viewer).to_be_visible()
        expect(page.locator("#viewer-title")).to_have_text(f"cam05 · take {take} · {session}")
        expect(page.locator("#viewer-status")).to_have_text(f"camera 6/{CAMERAS} · take 3/{TAKES} · verified")
        page.wait_for_function("() => document.querySelector('#viewer-image').naturalWidth > 0")
        natural = page.evaluate("() => [document.querySelector('#viewer-image').naturalWidth, "
                                "document.querySelector('#viewer-image').naturalHeight]")
        assert natural == [480, 640]
        crop = page.locator("#viewer-crop img")
        assert crop.evaluate("(img) => img.getBoundingClientRect().width") == natural[0], "the crop is not at 100 %"
        expect(page.locator("#viewer-histogram")).to_have_attribute("data-ready", "true")
        expect(page.locator("#viewer-highlights")).to_contain_text("clipped highlights")
        expect(page.locator("#viewer-shadows")).to_contain_text("crushed shadows")
        expect(page.locator('#viewer-checks li[data-check="sharpness"]')).to_be_visible()  # each check, its verdict
        before = page.locator("#viewer-crop-at").text_content()
        frame = page.locator("#viewer-image").bounding_box()
        assert frame is not None
        page.mouse.click(frame["x"] + frame["width"] * 0.1, frame["y"] + frame["height"] * 0.9)  # the crop goes there
        expect(page.locator("#viewer-crop-at")).not_to_have_text(before or "")
        at = re.fullmatch(r"\((\d+)x(\d+) px from (\d+), (\d+) of 480x640\)",
                          page.locator("#viewer-crop-at").text_content() or "")
        assert at, "the crop says where it is"
        _, crop_h, crop_left, crop_top = map(int, at.groups())
        assert (crop_left, crop_top + crop_h) == (0, 640), "bottom-left, held inside the frame"
        pane = page.locator("#viewer-crop").bounding_box()
        assert pane is not None
        page.mouse.move(pane["x"] + 200, pane["y"] + 100)  # drag the picture in the crop 50 px left and 30 px down
        page.mouse.down()
        page.mouse.move(pane["x"] + 175, pane["y"] + 115)
        page.mouse.move(pane["x"] + 150, pane["y"] + 130)
        page.mouse.up()
        expect(page.locator("#viewer-crop-at")).to_contain_text(f"from 50, {crop_top - 30} of 480x640")
        shot(page, f"images-viewer-{label}")

        # Arrows step through cameras and takes; Z shows the stage at 100 %; Esc closes the viewer, then the fit.
        page.keyboard.press("ArrowRight")
        expect(page.locator("#viewer-title")).to_contain_text("cam06 · take")
        page.keyboard.press("ArrowDown")
        next_take = page.evaluate("() => S.run.takes[3].id")
        expect(page.locator("#viewer-title")).to_have_text(f"cam06 · take {next_take} · {session}")
        expect(page.locator("#viewer-histogram")).to_have_attribute("data-ready", "true")
        page.keyboard.press("z")
        expect(page.locator("#viewer-stage")).to_have_class("viewer-stage zoomed")
        # At 100 % once the next take's image has loaded (Z pressed while it loads keeps the fit until then).
        page.wait_for_function("(w) => document.querySelector('#viewer-image').getBoundingClientRect().width === w",
                               arg=natural[0], timeout=5000)
        page.keyboard.press("Escape")
        expect(viewer).to_be_hidden()
        expect(page.locator("#sheet-panel")).to_have_class("sheet-panel fit")
        page.keyboard.press("Escape")
        expect(page.locator("#sheet-panel")).not_to_have_class("sheet-panel fit")


def _older_copy(live: LivePanel, name: str, hours_before: float) -> str:
    """A copy of session ``name`` that started ``hours_before`` earlier, its folder the newest on disk (a session
    restored from a backup): the list must not put it first."""
    sessions = live.root / "sessions"
    copy = f"{name}-restored"
    shutil.copytree(sessions / name, sessions / copy)
    info = json.loads((sessions / copy / "session.json").read_text())
    info["created_at"] -= hours_before * 3600
    (sessions / copy / "session.json").write_text(json.dumps(info))
    return copy


def test_a_past_session_opens_read_only_with_its_sheet_timeline_and_files(live_cards: LivePanel,
                                                                          screen_page: Page) -> None:
    live = live_cards  # the sheet, timeline and files are checked (sizes, hashes), not what the images show
    page, size = screen_page, screen_page.viewport_size
    assert size is not None
    label = f"{size['width']}x{size['height']}"
    started = requests.post(f"{live.url}/api/sessions", timeout=30,
                            json={"subject": SUBJECT, "plan": "sim-demo", "confirm_poses": False},
                            headers={"Origin": live.url})  # as the panel's own page: the same origin
    assert started.status_code == 202, started.text
    name = started.json()["session"]
    assert live.panel.runs.wait(SESSION_TIMEOUT_MS / 1000)
    restored = _older_copy(live, name, hours_before=2)
    damaged = copy_unversioned_session(live.root / "sessions" / "damaged")
    (damaged / "journal.sqlite").write_bytes(b"this is not a database" * 100)
    order = [name, restored, "damaged"]  # newest start first; one whose start cannot be read, last

    page.goto(f"{live.url}/#session")
    rows = page.locator("#sessions-list tbody tr")
    expect(rows).to_have_count(3, timeout=30_000)  # each row reads its session's journal: slow on a loaded machine
    assert [rows.nth(i).get_attribute("data-session") for i in range(3)] == order
    page.reload()  # read again: the same order, it never jumps
    expect(rows).to_have_count(3, timeout=30_000)
    assert [rows.nth(i).get_attribute("data-session") for i in range(3)] == order

    # The damaged one says so in the list, and opening it gives a problem panel naming its folder.
    expect(rows.nth(2)).to_contain_text("unreadable")
    rows.nth(2).click()
    problem = page.locator("#problems .problem").first
    expect(problem).to_contain_text("session damaged cannot be read")
    expect(problem).to_contain_text(str(damaged))
    expect(page.locator("#past-session")).to_be_hidden()
    problem.locator("button.dismiss").click()

    rows.nth(1).click()
    past = page.locator("#past-session")
    expect(past).to_be_visible()
    expect(page.locator("#past-title")).to_have_text(restored)
    expect(page.locator("#past-facts")).to_contain_text(f"subject {SUBJECT}")
    expect(page.locator("#past-facts")).to_contain_text(f"done · {TAKES}/{TAKES} takes verified · read-only")
    page.wait_for_function(f"Array.from(document.querySelectorAll('#past-sheet td img'))"
                           f".filter(i => i.complete && i.naturalWidth > 0).length === {TAKES * CAMERAS}",
                           timeout=SESSION_TIMEOUT_MS)
    expect(page.locator("#past-sheet th.verified")).to_have_count(TAKES)
    expect(past.locator("button.reshoot")).to_have_count(0)  # read-only
    geometry = page.evaluate(_SHEET_GEOMETRY, "#past-sheet")
    assert geometry["bottom"] <= geometry["height"], "the whole sheet shows"
    assert geometry["right"] <= geometry["width"], "the whole sheet shows"

    # Its timeline, from the journal.
    timeline = page.locator("#past-timeline")
    expect(timeline).not_to_contain_text("reading the timeline")
    expect(timeline).to_contain_text("p00/s00/l00/b0")

    # Its files: every image with size and hash; a link serves the very bytes the journal hashed.
    files = page.locator("#past-files tbody tr")
    expect(files).to_have_count(TAKES * CAMERAS)
    expect(page.locator("#past-files-sum")).to_contain_text(f"{TAKES * CAMERAS} files")
    first = files.first
    digest = first.locator("td.hash").text_content() or ""
    assert len(digest) == 64
    href = first.locator("a").get_attribute("href")
    body = page.request.get(f"{live.url}{href}").body()
    assert hashlib.sha256(body).hexdigest() == digest
    shot(page, f"images-past-session-{label}")

    # A cell of the past sheet opens the viewer on that session's image.
    page.locator('#past-sheet td[data-camera="cam00"] img').first.click()
    expect(page.locator("#viewer-title")).to_contain_text(f"cam00 · take p00/s00/l00/b0 · {restored}")
    expect(page.locator("#viewer-histogram")).to_have_attribute("data-ready", "true")
    page.keyboard.press("ArrowDown")
    expect(page.locator("#viewer-status")).to_contain_text(f"take 2/{TAKES} · verified")
    shot(page, f"images-past-session-viewer-{label}")
    page.keyboard.press("Escape")
    expect(page.locator("#image-viewer")).to_be_hidden()
    expect(past).to_be_visible()
    page.keyboard.press("Escape")
    expect(past).to_be_hidden()


def test_the_histogram_and_past_session_routes_read_only_inside_the_session_and_say_what_they_cannot_read(
        live: LivePanel) -> None:
    sessions = live.root / "sessions"
    sessions.mkdir(exist_ok=True)
    copy_unversioned_session(sessions / "old")
    damaged = copy_unversioned_session(sessions / "damaged")
    (damaged / "journal.sqlite").write_bytes(b"this is not a database" * 100)
    api = f"{live.url}/api/sessions"

    h = requests.get(f"{api}/old/histogram/images/cam00_p00_s00_l00.jpg", timeout=30)
    assert h.status_code == 200, h.text
    body = h.json()
    assert body["pixels"] == sum(body["bins"]["green"]) > 0
    assert set(body["words"]) == {"highlights", "shadows"}

    not_an_image = requests.get(f"{api}/old/histogram/session.json", timeout=30)
    assert not_an_image.status_code == 422
    problem = not_an_image.json()["problem"]
    assert problem["what"].startswith("no histogram for session.json")
    assert problem["where"] == "session old, file session.json"
    assert "RAW files are not decoded" in problem["todo"]
    assert requests.get(f"{api}/old/histogram/images", timeout=30).status_code == 404  # a folder
    assert requests.get(f"{api}/old/histogram/images/nothing.jpg", timeout=30).status_code == 404
    assert requests.get(f"{api}/old/histogram/images/..%2f..%2fdamaged/session.json", timeout=30).status_code == 403
    assert requests.get(f"{api}/nobody/histogram/images/x.jpg", timeout=30).status_code == 404

    view = requests.get(f"{api}/old/view", timeout=30).json()
    on_disk = sorted(f"images/{p.name}" for p in (sessions / "old" / "images").iterdir())
    assert [f["path"] for f in view["files"]] == on_disk
    unreadable = requests.get(f"{api}/damaged/view", timeout=30)
    assert unreadable.status_code == 422
    assert unreadable.json()["problem"]["where"] == str(damaged / "journal.sqlite")
    listed = {row["name"]: row["state"] for row in requests.get(api, timeout=30).json()}
    assert listed == {"old": "aborted", "damaged": "unreadable"}  # the damaged one named, the rest still listed
