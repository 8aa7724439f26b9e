"""What the panel answers when a request cannot be served: the domain's refusals keep their 4xx and their
message; a bug inside a handler is a 500 in the server's log, never a "not found"."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import NoReturn

import pytest
import requests

from capturerig.lighting import StrobeOutOfRange, UnknownScene
from capturerig.web._app import _STATUS
from capturerig.web._calibration_backends import CalibrationRefused
from capturerig.web._catalog import UnknownChoice
from tests.conftest import EXAMPLES, UNVERSIONED_SESSION, copy_unversioned_session
from tests.web.conftest import LivePanel


def _missing_key(*_: object) -> NoReturn:
    settings: dict[str, str] = {}
    settings["rig"]  # the slip: a key the code assumed
    raise AssertionError("unreachable")


def _bad_number(*_: object) -> NoReturn:
    int("twelve")  # the slip: a conversion the code assumed would work
    raise AssertionError("unreachable")


def _logged_errors(caplog: pytest.LogCaptureFixture, count: int) -> list[BaseException]:
    """The exceptions the server logged, once there are ``count`` (it logs just after it answered)."""
    deadline = time.monotonic() + 10.0
    while True:
        logged = [r.exc_info[1] for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info and r.exc_info[1]]
        if len(logged) >= count or time.monotonic() > deadline:
            return logged
        time.sleep(0.05)


def test_a_bug_in_a_handler_is_a_logged_server_error_not_a_not_found(
        live: LivePanel, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(live.panel.runs, "estimate", _missing_key)
    response = requests.get(f"{live.url}/api/estimate", timeout=30)
    assert response.status_code == 500, response.text
    assert response.json()["detail"].startswith("internal error in the panel (KeyError: rig)")

    monkeypatch.setattr(live.panel.packages, "path", _bad_number)
    response = requests.get(f"{live.url}/api/packages/p1/download", timeout=30)
    assert response.status_code == 500, response.text
    assert "ValueError" in response.json()["detail"]

    # A plain KeyError where the domain says "no such scene" with its own error is a bug too, not a 404.
    monkeypatch.setattr(live.panel.lights, "scene", _missing_key)
    response = requests.post(f"{live.url}/api/lights/blackout", headers={"Origin": live.url}, timeout=30)
    assert response.status_code == 500, response.text

    logged = _logged_errors(caplog, 3)
    assert [type(error) for error in logged] == [KeyError, ValueError, KeyError]  # each with its traceback


def test_only_the_domains_own_errors_map_to_a_4xx() -> None:
    mapped = {exc_type for exc_type, _ in _STATUS}
    assert KeyError not in mapped
    assert ValueError not in mapped
    assert LookupError not in mapped
    statuses = dict(_STATUS)
    assert statuses[UnknownScene] == statuses[UnknownChoice] == 404
    assert statuses[StrobeOutOfRange] == statuses[CalibrationRefused] == 422


def test_what_does_not_exist_is_still_not_found_and_says_what_does(live: LivePanel) -> None:
    response = requests.get(f"{live.url}/api/sessions/no-such-session/files/images/cam00.jpg", timeout=30)
    assert response.status_code == 404
    assert "no session 'no-such-session'" in response.json()["detail"]

    origin = {"Origin": live.url}  # the panel's own page: state changes need the same origin
    response = requests.post(f"{live.url}/api/lights/scene", json={"name": "disco"}, headers=origin, timeout=30)
    assert response.status_code == 404
    assert "no scene 'disco'" in response.json()["detail"]
    response = requests.post(f"{live.url}/api/lights/fixtures", json={"levels": {"fx99": {"intensity": 0.5}}},
                             headers=origin, timeout=30)
    assert response.status_code == 404
    assert "has no fixture fx99" in response.json()["detail"]


def test_a_strobe_the_fixture_cannot_make_is_refused_with_what_it_can_not_do(live: LivePanel) -> None:
    response = requests.post(f"{live.url}/api/lights/fixtures", headers={"Origin": live.url}, timeout=30,
                             json={"levels": {"fx0": {"intensity": 1.0, "white": 1.0, "strobe_hz": 30}}})
    assert response.status_code == 422, response.text
    assert response.json()["detail"] == "fixture 'fx0' cannot strobe at 30 Hz (its profile has no strobe range for it)"


def _session_folder(live: LivePanel, name: str) -> Path:
    """A capture session's folder in the panel's storage root: its record and the demo plan it was shot with."""
    folder = live.panel.sessions_dir / name
    folder.mkdir(parents=True)
    shutil.copy(UNVERSIONED_SESSION / "session.json", folder / "session.json")
    shutil.copy(EXAMPLES / "plan.yaml", folder / "plan.yaml")
    return folder


def test_a_session_that_cannot_give_a_calibration_is_refused_saying_why(live: LivePanel) -> None:
    origin = {"Origin": live.url}
    _session_folder(live, "capture-1")
    response = requests.post(f"{live.url}/api/calibration/geometry/capture-1", headers=origin, timeout=60)
    assert response.status_code == 422, response.text
    assert "shot with plan 'sim-demo' (capture); geometry needs a calibration session" in response.json()["detail"]

    # A real session (written by an earlier release) whose images hold no colour chart.
    copy_unversioned_session(live.panel.sessions_dir / "object-1")
    response = requests.post(f"{live.url}/api/calibration/colour/object-1", headers=origin, timeout=120)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail.startswith("no camera of session object-1 could be colour-calibrated: cam00: no chart found")
