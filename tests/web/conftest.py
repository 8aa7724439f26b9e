"""A live panel on 127.0.0.1 (uvicorn in a thread, fast simulated studio) and Debian's Chromium driving it.

Screenshots go to ``tests/web/artifacts/`` (git-ignored); each test prints where it put them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from capturerig.config import LoadedRig, default_rig_path
from capturerig.subjects import DEMO_PURPOSE, enrol_demo_subject
from capturerig.web import Panel, PanelServer, WebSettings, create_app
from capturerig_sim import VirtualStudio
from tests.conftest import with_test_card_images

ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM = "/usr/bin/chromium"  # Debian's; never a downloaded browser
SUBJECT = "demo-subject"


@dataclass
class LivePanel:
    url: str
    panel: Panel
    server: PanelServer
    root: Path
    token: str | None
    rig: Path | None = None  # the rig file it serves (None: the embedded studio); a restart passes it again


def start_panel(root: Path, token: str | None = None, queue_size: int = 256, rig: Path | None = None,
                port: int = 0) -> LivePanel:
    """A panel server on a loopback port (0: a free one) over ``root`` (sessions/, packages/, a demo subject
    registry). Started again over the same ``root`` and ``port``, it is the same panel restarted."""
    registry = enrol_demo_subject(root / "subjects.sqlite", SUBJECT).registry_path
    settings = WebSettings(rigs=(rig,), sessions_dir=root / "sessions", packages_dir=root / "packages",
                           port=0, token=token, registry=registry, purpose=DEMO_PURPOSE, cache_dir=root / "thumbs",
                           client_queue_size=queue_size)
    app = create_app(settings)
    server = PanelServer(app, "127.0.0.1", port)
    server.start()
    return LivePanel(server.url, app.state.panel, server, root, token, rig)


@pytest.fixture
def live(tmp_path: Path, studio: VirtualStudio) -> Iterator[LivePanel]:
    """The panel over a fresh fast simulated studio (``studio`` is the world its sim devices share)."""
    handle = start_panel(tmp_path)
    try:
        yield handle
    finally:
        handle.server.stop()
        assert handle.panel.runs.wait(30.0), "a panel session was still running after the server stopped"


def card_rig(folder: Path, lights_s: float | None = None) -> Path:
    """A copy in ``folder`` of the embedded studio ``live`` serves (its rig and the plans beside it), its cameras
    delivering a fixed test card instead of a rendered image (rendering is most of a session's time).

    ``lights_s`` raises the demo plan's light settle (0.05 s): a take then lasts at least that long, for tests that
    stop, pause or abort a session mid-run, which a session of test cards could otherwise finish first."""
    folder.mkdir(parents=True)
    for path in default_rig_path().parent.glob("*.yaml"):
        shutil.copy(path, folder / path.name)
    if lights_s is not None:
        plan = folder / "plan.yaml"
        text = plan.read_text(encoding="utf-8")
        assert "  lights_s: 0.05\n" in text, f"{plan} no longer settles its lights for 0.05 s"
        plan.write_text(text.replace("  lights_s: 0.05\n", f"  lights_s: {lights_s}\n"), encoding="utf-8")
    return with_test_card_images(folder / default_rig_path().name)


@pytest.fixture
def live_cards(tmp_path: Path, studio: VirtualStudio) -> Iterator[LivePanel]:
    """``live`` with test-card images (:func:`card_rig`): for the panel tests that do not look at image content
    (sessions' events, counts and state, the socket, the lights); tests that judge pixels (QC, calibration,
    masks and plates) keep ``live``."""
    yield from _serving(start_panel(tmp_path, rig=card_rig(tmp_path / "studio")))


@pytest.fixture
def paced_cards(tmp_path: Path, studio: VirtualStudio) -> Iterator[LivePanel]:
    """``live_cards`` whose demo takes last at least 0.6 s each (their light settle): for tests that stop, pause or
    abort a session mid-run, so it is still running when they do, as it is with rendered images."""
    yield from _serving(start_panel(tmp_path, rig=card_rig(tmp_path / "studio", lights_s=0.6)))


@pytest.fixture
def slow_cards(tmp_path: Path, studio: VirtualStudio) -> Iterator[LivePanel]:
    """``paced_cards`` at 1 s a take: for a test that checks and shoots two screens while the run goes on and must
    still stop it mid-session."""
    yield from _serving(start_panel(tmp_path, rig=card_rig(tmp_path / "studio", lights_s=1.0)))


def _serving(handle: LivePanel) -> Iterator[LivePanel]:
    try:
        yield handle
    finally:
        handle.server.stop()
        assert handle.panel.runs.wait(30.0), "a panel session was still running after the server stopped"


@pytest.fixture(scope="module")  # per module: Playwright's sync API keeps an event loop in this thread
def playwright_session() -> Iterator[Playwright]:
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="module")
def browser(playwright_session: Playwright) -> Iterator[Browser]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (scripts/bootstrap.sh does)")
    browser = playwright_session.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
    yield browser
    browser.close()


# The screens a technician has: a 1280x800 laptop beside the rig, a 1920x1080 desk monitor.
VIEWPORTS = {"laptop": (1280, 800), "desk": (1920, 1080)}


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    with open_page(browser, request.node.name, (1400, 1000)) as page:
        yield page


@pytest.fixture(params=sorted(VIEWPORTS))
def screen_page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A page at each of the technician's screens (``laptop`` 1280x800, ``desk`` 1920x1080): a test using it runs
    at both; ``request.param`` (also ``page.viewport_size``) says which."""
    with open_page(browser, request.node.name, VIEWPORTS[request.param]) as page:
        yield page


@pytest.fixture
def screens(browser: Browser, request: pytest.FixtureRequest) -> Iterator[dict[str, Page]]:
    """A page at each of the technician's screens at once (``laptop``, ``desk``), on the same panel: for a test
    whose costly part (a shoot, a session) both screens can watch, so it runs once and each page is checked."""
    with ExitStack() as stack:
        yield {name: stack.enter_context(open_page(browser, f"{request.node.name}-{name}", size))
               for name, size in sorted(VIEWPORTS.items())}


@contextmanager
def open_page(browser: Browser, name: str, size: tuple[int, int]) -> Iterator[Page]:
    """A page of ``size`` in a context of its own; on leaving, its final screenshot ``{name}-final.png`` and a
    check that it logged no script error."""
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}-final.png"), full_page=True)
    context.close()
    # A refused request (4xx) is shown to the technician as a message; a script error is a bug.
    # The page retrying its live connection while a test has the server stopped is expected, not a bug.
    expected = ("Failed to load resource", "WebSocket connection to")
    assert not [e for e in errors if not e.startswith(expected)], f"browser errors ({name}): {errors}"


def shot(page: Page, name: str) -> Path:
    """Keep a screenshot as a test artefact and say where it is."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def rig_of(live: LivePanel) -> LoadedRig:
    return live.panel.catalog.default_rig.loaded
