"""Building a package from the panel is a job the page follows: its stage, bytes of images done, time left, then
the package in the list; a build that cannot finish says why in the problem panel and leaves nothing behind."""

from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path

import requests
from playwright.sync_api import Page, expect

from capturerig.engine import FileRecord, Journal
from tests.web.conftest import SUBJECT, LivePanel, shot

SESSION_TIMEOUT_S = 120.0  # a loaded 2-core machine; the fast simulator needs ~10 s


def _shoot(live: LivePanel) -> str:
    started = requests.post(f"{live.url}/api/sessions", timeout=30, headers={"Origin": live.url},
                            json={"subject": SUBJECT, "plan": "sim-demo", "confirm_poses": False})
    assert started.status_code == 202, started.text
    assert live.panel.runs.wait(SESSION_TIMEOUT_S)
    return str(started.json()["session"])


def _verified_files(session_dir: Path) -> list[FileRecord]:
    journal = Journal(session_dir)
    try:
        return list(journal.verified_files())
    finally:
        journal.close()


def _job(live: LivePanel, job_id: str) -> dict[str, object]:
    response = requests.get(f"{live.url}/api/packages/jobs/{job_id}", timeout=30)
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_a_build_shows_its_progress_or_why_it_stopped_and_lists_the_package(live_cards: LivePanel,
                                                                           page: Page) -> None:
    live = live_cards  # the build's progress, refusals and byte counts are checked, not what the images show
    name = _shoot(live)
    # A changed image stops the build: the problem panel names it, nothing is left in packages/.
    image = live.root / "sessions" / name / _verified_files(live.root / "sessions" / name)[0].path
    original = image.read_bytes()
    damaged = bytearray(original)
    damaged[len(damaged) // 2] ^= 0xFF
    image.write_bytes(bytes(damaged))

    page.goto(f"{live.url}/#packages")
    expect(page.locator("#package-session option")).not_to_have_count(0)
    page.select_option("#package-session", name)
    page.click("#build-package")
    problem = page.locator("#problems .problem").first
    expect(problem).to_contain_text("changed after it was verified", timeout=SESSION_TIMEOUT_S * 1000)
    expect(problem).to_contain_text(str(image))
    expect(page.locator("#package-progress")).to_contain_text("stopped")
    packages = live.root / "packages"
    assert not (packages / name).exists()
    assert not [p for p in packages.iterdir() if p.name.startswith(".")], "a partial package was left behind"
    shot(page, "package-refused")

    shelf = live.panel.packages
    # Put right, the same session packages; held at its start (the build waits for the shelf's lock), the job
    # shows as running on the page.
    image.write_bytes(original)
    problem.locator("button.dismiss").click()
    with shelf._lock:
        page.click("#build-package")
        progress = page.locator("#package-progress")
        expect(progress).to_be_visible()
        expect(progress).to_contain_text(f"packaging {name}: reading the session's journal")
        expect(page.locator("#build-package")).to_be_disabled()
        running = requests.get(f"{live.url}/api/packages/jobs", timeout=30).json()
        assert [job["session"] for job in running] == [name]
        assert running[0]["state"] == "running"
        # A second build while one runs: refused with the reason, nothing started.
        again = requests.post(f"{live.url}/api/packages", json={"session": name}, headers={"Origin": live.url},
                              timeout=30)
        assert again.status_code == 409, again.text
        assert again.json()["problem"]["what"] == f"the package of session {name} is being built"
        shot(page, "package-building")

    expect(progress).to_contain_text("finished after", timeout=SESSION_TIMEOUT_S * 1000)
    row = page.locator(f'#packages-list tbody tr[data-package="{name}"]')
    expect(row).to_be_visible()
    job = _job(live, running[0]["id"])
    assert job["state"] == "done"
    assert job["fraction"] == 1.0
    files = _verified_files(live.root / "sessions" / name)
    assert job["bytes_done"] == job["bytes_total"] == sum(f.size for f in files)  # every image was read once
    assert job["result"] == {**job["result"], "name": name, "images": len(files)}  # type: ignore[dict-item]
    expect(page.locator("#toast")).to_contain_text(f"package {name}: {len(files)} images")
    shot(page, "package-built")



    # A rig whose processing.scheduler cannot be reached: the build stops saying so, and nothing is left.
    copy = f"{name}-on-cluster"
    shutil.copytree(live.root / "sessions" / name, live.root / "sessions" / copy)
    with (live.root / "sessions" / copy / "rig.yaml").open("a", encoding="utf-8") as rig:
        rig.write(f"\nprocessing:\n  scheduler: tcp://127.0.0.1:{_closed_port()}\n")
    started = requests.post(f"{live.url}/api/packages", json={"session": copy}, headers={"Origin": live.url},
                            timeout=30)
    assert started.status_code == 202, started.text
    job = _job(live, started.json()["id"])
    deadline = time.monotonic() + SESSION_TIMEOUT_S
    while job["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.2)
        job = _job(live, started.json()["id"])
    assert job["state"] == "failed"
    problem_dict = job["problem"]
    assert isinstance(problem_dict, dict)
    assert "cannot reach the Dask scheduler" in problem_dict["what"]
    assert problem_dict["where"].startswith("the rig's processing.scheduler")
    assert not (live.root / "packages" / copy).exists()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again when the probe is: nothing listens there
