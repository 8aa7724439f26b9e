"""Bad input the panel meets on a studio day: a session folder it cannot read, a rig file with an error, a missing
or unreadable subject registry. Each is a structured problem (what, which file, what to do) on the page it
concerns and in the API's JSON, and the rest of the panel stays usable: the other sessions are listed, the good
rigs are served, the lights still answer."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Page, expect

from capturerig.cli._serve import panel_settings
from capturerig.subjects import DEMO_PURPOSE, enrol_demo_subject
from capturerig.web import PanelServer, WebSettings, create_app
from capturerig_sim import VirtualStudio
from tests.conftest import copy_unversioned_session
from tests.web.conftest import SUBJECT, LivePanel, shot

TIMEOUT_MS = 60_000

# A rig file with an error, three ways: (how the file is spoiled, the line and field the problem names after the
# file, words of its what)
RIG_DEFECTS = {
    "unknown-field": (lambda text: text.replace("name: sim-studio\n", "name: studio-b\nbogus_field: 3\n"),
                      ":6, field bogus_field", "is not a known field"),
    "bad-value": (lambda text: text.replace("name: sim-studio\n", "name: studio-b\n")
                  .replace("    address: 9\n", "    address: 0\n", 1), ":332, field fixtures[1].address",
                  "greater than or equal to 1 (got 0)"),
    "yaml-syntax": (lambda text: text.replace("name: sim-studio\n", "name: [studio-b\n"), None, "not valid YAML"),
}


@dataclass
class BrokenStudio:
    url: str
    root: Path
    broken_rig: Path
    registry: Path


def _start(root: Path, rigs: tuple[Path, ...], registry: Path) -> tuple[str, PanelServer]:
    settings = WebSettings(rigs=rigs, sessions_dir=root / "sessions", packages_dir=root / "packages", port=0,
                           registry=registry, purpose=DEMO_PURPOSE, cache_dir=root / "thumbs")
    server = PanelServer(create_app(settings), "127.0.0.1", 0)
    server.start()
    return server.url, server


def _broken_sessions(sessions: Path) -> None:
    """A readable session beside four the panel cannot read: a damaged journal, the journal gone, session.json
    gone, and a session.json that is not JSON."""
    copy_unversioned_session(sessions / "object-1")
    damaged = copy_unversioned_session(sessions / "damaged-1")
    (damaged / "journal.sqlite").write_bytes(b"overwritten by a bad copy " * 200)
    (copy_unversioned_session(sessions / "no-journal-1") / "journal.sqlite").unlink()
    (copy_unversioned_session(sessions / "no-record-1") / "session.json").unlink()
    (copy_unversioned_session(sessions / "garbled-1") / "session.json").write_text('{"session_id": "garbled-1",\n')


def _broken_studio(tmp_path: Path, studio_files: Path, defect: str, registry: Path) -> tuple[BrokenStudio, PanelServer]:
    spoil = RIG_DEFECTS[defect][0]
    broken = tmp_path / "rigs-b" / "studio-b.yaml"
    broken.parent.mkdir()
    broken.write_text(spoil((studio_files / "rig.yaml").read_text()))
    root = tmp_path / "root"
    _broken_sessions(root / "sessions")
    url, server = _start(root, (studio_files / "rig.yaml", broken), registry)
    return BrokenStudio(url, root, broken, registry), server


@pytest.fixture
def broken_studio(tmp_path: Path, studio_files: Path, studio: VirtualStudio) -> Iterator[BrokenStudio]:
    """The panel over a studio folder made broken on purpose: a rig file with an unknown field beside the good
    one, unreadable session folders beside a good one, and no subject registry at all."""
    handle, server = _broken_studio(tmp_path, studio_files, "unknown-field", tmp_path / "root" / "subjects.sqlite")
    try:
        yield handle
    finally:
        server.stop()


def test_a_broken_studio_folder_shows_each_problem_where_it_matters_and_the_rest_works(
        broken_studio: BrokenStudio, screen_page: Page) -> None:
    page = screen_page
    size = page.viewport_size
    assert size is not None
    page.goto(f"{broken_studio.url}/#dashboard")
    rig_problem = page.locator('#standing-problems .problem[data-key="rig:studio-b"]')
    expect(rig_problem.locator(".what")).to_contain_text("rig file studio-b.yaml cannot be used")
    expect(rig_problem.locator(".what")).to_contain_text("bogus_field")
    expect(rig_problem.locator(".where")).to_have_text(f"{broken_studio.broken_rig}:6, field bogus_field")
    expect(rig_problem.locator(".todo")).to_contain_text("restart the panel")
    expect(page.locator("#dash-rig option")).to_have_text(["sim-studio"])  # the rig selects skip the broken one
    expect(page.locator("#camera-tiles .tile")).to_have_count(16)  # the good rig is served as usual
    shot(page, f"bad-input-rig-file-{size['width']}x{size['height']}")

    page.click('#tabs a[data-tab="session"]')
    expect(page.locator('#standing-problems .problem[data-key="rig:studio-b"]')).to_have_count(0)
    registry_problem = page.locator('#standing-problems .problem[data-key="registry"]')
    expect(registry_problem.locator(".what")).to_contain_text("no subject registry at")
    expect(registry_problem.locator(".where")).to_have_text(str(broken_studio.registry))
    expect(registry_problem.locator(".todo")).to_contain_text("capturerig subjects add SUBJECT_ID")
    for name in ("object-1", "damaged-1", "no-journal-1", "no-record-1", "garbled-1"):  # the good one, each broken
        expect(page.locator(f'#sessions-list tr[data-session="{name}"]')).to_have_count(1, timeout=TIMEOUT_MS)

    page.fill("#subject", SUBJECT)
    page.click("#start")
    refused = page.locator('#problems .problem').filter(has_text="there is no subject registry")
    expect(refused.locator(".where")).to_have_text(str(broken_studio.registry))
    expect(refused.locator(".todo")).to_contain_text(f"--registry {broken_studio.registry}")
    shot(page, f"bad-input-registry-{size['width']}x{size['height']}")
    refused.locator(".dismiss").click()
    expect(refused).to_have_count(0)

    page.click('#tabs a[data-tab="lights"]')  # the rest of the panel: the lights answer
    page.select_option("#lights-plan", "sim-demo")
    page.click('#plan-states button[data-scene="l03"]')
    expect(page.locator('#plan-states button[data-scene="l03"]')).to_have_class(re.compile(r"\bactive\b"),
                                                                                 timeout=TIMEOUT_MS)


@pytest.mark.parametrize("defect", sorted(RIG_DEFECTS))
def test_a_rig_file_with_an_error_is_listed_with_its_line_and_the_good_rig_is_served(
        tmp_path: Path, studio_files: Path, studio: VirtualStudio, defect: str) -> None:
    registry = enrol_demo_subject(tmp_path / "subjects.sqlite", SUBJECT).registry_path
    handle, server = _broken_studio(tmp_path, studio_files, defect, registry)
    try:
        rigs = requests.get(f"{handle.url}/api/rigs", timeout=30).json()
        assert [r["id"] for r in rigs] == ["sim-studio", "studio-b"]
        assert len(rigs[0]["cameras"]) == 16
        assert "problem" not in rigs[0]
        problem = rigs[1]["problem"]
        _, at, words = RIG_DEFECTS[defect]
        assert problem["what"].startswith("rig file studio-b.yaml cannot be used: ")
        assert words in problem["what"]
        assert problem["where"].startswith(f"{handle.broken_rig}:")
        if at is not None:
            assert problem["where"] == f"{handle.broken_rig}{at}"
        assert "fix the file, then restart the panel" in problem["todo"]

        # asked for by name, the broken rig answers its problem; the good one works
        response = requests.get(f"{handle.url}/api/lights", params={"rig": "studio-b"}, timeout=30)
        assert response.status_code == 422, response.text
        assert response.json()["problem"] == problem
        assert requests.get(f"{handle.url}/api/lights", params={"rig": "sim-studio"}, timeout=30).status_code == 200
    finally:
        server.stop()


def test_a_panel_whose_only_rig_file_has_an_error_still_starts_and_says_why(
        tmp_path: Path, studio_files: Path) -> None:
    broken = studio_files / "rig.yaml"
    broken.write_text(broken.read_text().replace("name: sim-studio\n", "name: sim-studio\nbogus_field: 3\n"))
    url, server = _start(tmp_path / "root", (broken,), tmp_path / "root" / "subjects.sqlite")
    try:
        rigs = requests.get(f"{url}/api/rigs", timeout=30).json()
        assert [r["problem"]["where"] for r in rigs] == [f"{broken}:6, field bogus_field"]
        response = requests.get(f"{url}/api/lights", timeout=30)
        assert response.status_code == 503, response.text
        assert response.json()["problem"] == {
            "what": "no rig this panel can drive: every rig file it was given has a problem", "where": str(broken),
            "todo": "fix the rig files (each one's problem is on the dashboard), then restart the panel"}
        assert requests.get(f"{url}/api/sessions", timeout=30).json() == []  # the storage side still answers
    finally:
        server.stop()


def test_serve_starts_when_its_first_rig_file_has_an_error(tmp_path: Path, studio_files: Path) -> None:
    broken = tmp_path / "rigs-b" / "studio-b.yaml"
    broken.parent.mkdir()
    broken.write_text("name: [studio-b\n")
    settings = panel_settings(None, (broken, studio_files / "rig.yaml"), sessions=tmp_path / "sessions")
    assert settings.rigs == (broken, studio_files / "rig.yaml")  # the panel lists the broken one with its problem
    settings = panel_settings(None, (broken, studio_files / "rig.yaml"))
    assert settings.sessions_dir.name == "sessions"  # the storage root of the first rig that loads


def test_unreadable_session_folders_are_listed_with_which_file_and_opening_one_says_so(
        broken_studio: BrokenStudio) -> None:
    url, sessions = broken_studio.url, broken_studio.root / "sessions"
    response = requests.get(f"{url}/api/sessions", timeout=60)
    assert response.status_code == 200, response.text
    rows = {row["name"]: row for row in response.json()}
    assert set(rows) == {"object-1", "damaged-1", "no-journal-1", "no-record-1", "garbled-1"}
    assert rows["object-1"]["state"] != "unreadable"
    assert "problem" not in rows["object-1"]
    expected = {  # session: (file the problem names, words of what, words of what to do)
        "damaged-1": (f"{sessions / 'damaged-1' / 'journal.sqlite'}", "its journal is damaged or unreadable",
                      "restore journal.sqlite from the studio's backup"),
        "no-journal-1": (f"{sessions / 'no-journal-1' / 'journal.sqlite'}", "journal.sqlite is missing",
                         "cannot tell which takes were shot and proved"),
        "no-record-1": (f"{sessions / 'no-record-1' / 'session.json'}", "session.json is missing",
                        "SELECT value FROM meta WHERE key='session'"),
        "garbled-1": (f"{sessions / 'garbled-1' / 'session.json'}:2", "session.json is not valid JSON",
                      "restore session.json from the studio's backup"),
    }
    for name, (where, what, todo) in expected.items():
        row = rows[name]
        assert row["state"] == "unreadable"
        assert row["problem"]["what"].startswith(f"session {name} cannot be read: {what}")
        assert row["problem"]["where"] == where
        assert todo in row["problem"]["todo"]
        assert row["problem"]["todo"].startswith("copy the session folder somewhere safe first")

    # Opening or acting on one answers its problem, never a 500.
    origin = {"Origin": url}
    response = requests.post(f"{url}/api/sessions/damaged-1/reshoot", json={"confirm_poses": False},
                              headers=origin, timeout=60)
    assert response.status_code == 422, response.text
    assert response.json()["problem"] == rows["damaged-1"]["problem"]
    response = requests.get(f"{url}/api/sessions/no-record-1/files/session.json", timeout=30)
    assert response.status_code == 404, response.text
    assert response.json()["problem"] == rows["no-record-1"]["problem"]
    assert response.json()["detail"].startswith("session no-record-1 cannot be read: session.json is missing")
    response = requests.get(f"{url}/api/sessions/garbled-1/view", timeout=30)
    assert response.status_code == 422, response.text
    assert response.json()["problem"]["where"].startswith(str(sessions / "garbled-1"))
    response = requests.post(f"{url}/api/sessions/no-journal-1/reshoot", json={"confirm_poses": False},
                             headers=origin, timeout=60)
    assert response.status_code == 422, response.text
    assert response.json()["problem"] == rows["no-journal-1"]["problem"]
    for view in ("view", "timeline"):  # reading it back, too, says what is missing and makes nothing up
        response = requests.get(f"{url}/api/sessions/no-journal-1/{view}", timeout=30)
        assert response.status_code in (404, 422), response.text
        assert response.json()["problem"] == rows["no-journal-1"]["problem"]
    interrupted = requests.get(f"{url}/api/sessions/interrupted", timeout=30)
    assert interrupted.status_code == 200, interrupted.text
    assert not (sessions / "no-journal-1" / "journal.sqlite").exists()  # no empty journal made in its place
    assert "journal.sqlite" in {p.name for p in (sessions / "damaged-1").iterdir()}  # nothing was deleted


def test_a_missing_or_unreadable_registry_is_a_problem_naming_the_file_and_the_command(
        tmp_path: Path, studio: VirtualStudio) -> None:
    root = tmp_path / "root"
    missing = root / "subjects.sqlite"
    url, server = _start(root, (None,), missing)
    try:
        subjects = requests.get(f"{url}/api/subjects", timeout=30).json()
        assert subjects["subjects"] == []
        assert subjects["problem"]["where"] == str(missing)
        assert f"`capturerig subjects add SUBJECT_ID --age-band 25-34 --registry {missing}`" in \
            subjects["problem"]["todo"]
        response = requests.post(f"{url}/api/sessions", json={"subject": SUBJECT, "confirm_poses": False},
                                 headers={"Origin": url}, timeout=60)
        assert response.status_code == 403, response.text
        body = response.json()
        assert body["detail"].startswith(f"no capture of subject '{SUBJECT}': there is no subject registry")
        assert body["problem"] == {"what": f"no capture of subject '{SUBJECT}': there is no subject registry at "
                                           f"{missing}", "where": str(missing),
                                   "todo": subjects["problem"]["todo"]}
        assert requests.get(f"{url}/api/rigs", timeout=30).status_code == 200  # the rest answers
    finally:
        server.stop()

    missing.parent.mkdir(parents=True, exist_ok=True)
    missing.write_bytes(b"not a registry " * 100)  # a bad copy over the registry
    url, server = _start(root, (None,), missing)
    try:
        subjects = requests.get(f"{url}/api/subjects", timeout=30).json()
        assert subjects["problem"]["what"].startswith("the subject registry cannot be read: ")
        assert subjects["problem"]["where"] == str(missing)
        assert "restore the registry file from the studio's backup" in subjects["problem"]["todo"]
        response = requests.post(f"{url}/api/sessions", json={"subject": SUBJECT, "confirm_poses": False},
                                 headers={"Origin": url}, timeout=60)
        assert response.status_code == 403, response.text
        assert response.json()["problem"]["where"] == str(missing)
    finally:
        server.stop()
    assert missing.read_bytes() == b"not a registry " * 100  # the panel changed nothing in it


def test_a_subject_without_a_record_or_consent_is_refused_with_the_command_that_records_it(
        live: LivePanel) -> None:
    origin = {"Origin": live.url}
    registry = live.panel.consent.registry
    response = requests.post(f"{live.url}/api/sessions", json={"subject": "S-unknown", "confirm_poses": False},
                             headers=origin, timeout=60)
    assert response.status_code == 403, response.text
    problem = response.json()["problem"]
    assert problem["what"] == f"no capture: subject 'S-unknown' is not in the registry {registry}"
    assert problem["where"] == f"subject registry {registry}"
    assert problem["todo"].startswith(f"add them with `capturerig subjects add S-unknown --age-band BAND "
                                      f"--registry {registry}`")
    assert response.json()["detail"].startswith("no capture: subject 'S-unknown' is not in the registry")


def test_a_device_error_names_the_device_and_a_plan_error_its_line(
        tmp_path: Path, studio_files: Path, studio: VirtualStudio) -> None:
    registry = enrol_demo_subject(tmp_path / "subjects.sqlite", SUBJECT).registry_path
    url, server = _start(tmp_path / "root", (studio_files / "rig.yaml",), registry)
    try:
        studio.inject_fault("dmx0", "disconnect")  # the DMX interface unplugged
        response = requests.post(f"{url}/api/lights/blackout", headers={"Origin": url}, timeout=60)
        assert response.status_code == 502, response.text
        body = response.json()
        assert body["detail"].startswith("dmx0: ")  # the one line API clients read is unchanged
        assert body["problem"]["where"] == "device dmx0"
        assert body["problem"]["todo"]

        # The plan file is edited (badly) while the panel runs: the estimate names its line and field.
        plan = studio_files / "plan.yaml"
        plan.write_text(plan.read_text().replace("retries: 2", "retries: many"))
        response = requests.get(f"{url}/api/estimate", params={"plan": "sim-demo"}, timeout=30)
        assert response.status_code == 422, response.text
        problem = response.json()["problem"]
        line = plan.read_text().splitlines().index("retries: many") + 1
        assert problem["where"] == f"plan.yaml:{line}, field retries"
        assert problem["what"].startswith("a rig or plan file cannot be used: ")
    finally:
        server.stop()
