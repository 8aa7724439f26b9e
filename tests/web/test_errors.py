"""What the panel answers when a request cannot be served: the domain's refusals keep their 4xx and their
message; a bug inside a handler is a 500 in the server's log, never a "not found"."""

from __future__ import annotations

import importlib
import logging
import time
from typing import NoReturn

import pytest
import requests

from capturerig.web._app import _BARE_ANSWERS
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
    monkeypatch.setattr(live.panel.catalog, "estimate", _missing_key)
    response = requests.get(f"{live.url}/api/estimate", timeout=30)
    assert response.status_code == 500, response.text
    assert response.json()["detail"].startswith("internal error in the panel (KeyError: rig)")

    monkeypatch.setattr(live.panel.packages, "path", _bad_number)
    response = requests.get(f"{live.url}/api/packages/p1/download", timeout=30)
    assert response.status_code == 500, response.text
    assert "ValueError" in response.json()["detail"]

    logged = _logged_errors(caplog, 2)
    assert [type(error) for error in logged] == [KeyError, ValueError]  # each with its traceback


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


@pytest.mark.parametrize(("module", "qualname"), sorted(_BARE_ANSWERS))
def test_every_function_whose_bare_error_the_panel_answers_still_exists(module: str, qualname: str) -> None:
    # The panel recognises these answers by where they were raised: a function that moved or was renamed
    # would turn its answer into a 500, so the move must fail here first.
    found: object = importlib.import_module(module)
    for part in qualname.split("."):
        found = getattr(found, part)
    assert callable(found)
