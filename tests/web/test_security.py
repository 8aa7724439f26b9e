"""The panel never serves outside its storage roots, needs its token when it has one, and refuses
state changes from other origins (a web page elsewhere cannot drive the rig through the operator's browser).
"""

from __future__ import annotations

import http.client
import json
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import websockets.sync.client
from websockets.exceptions import InvalidStatus

from capturerig.web import InsecureBinding, WebSettings, create_app, resolve_inside
from capturerig_sim import VirtualStudio
from tests.web.conftest import LivePanel, start_panel

SECRET = b"TOP-SECRET-OUTSIDE-THE-STORAGE-ROOT"
TOKEN = "t0ken-for-the-security-tests-0123456789"


def _raw(live: LivePanel, method: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """A request with the path sent byte for byte (no client-side normalisation of dots or escapes)."""
    parts = urlsplit(live.url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        connection.putrequest(method, path, skip_host="Host" in (headers or {}), skip_accept_encoding=True)
        for key, value in (headers or {}).items():
            connection.putheader(key, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.fixture
def stocked(tmp_path: Path, studio: VirtualStudio) -> Iterator[LivePanel]:
    """A panel whose roots hold one session and one package, each with a symlink pointing out of the root."""
    live = start_panel(tmp_path / "root")
    (tmp_path / "secret.txt").write_bytes(SECRET)
    session = live.root / "sessions" / "s1"
    (session / "images").mkdir(parents=True)
    (session / "session.json").write_text("{}")
    (session / "images" / "cam00.jpg").write_bytes(b"\xff\xd8not really a jpeg")
    os.symlink(tmp_path / "secret.txt", session / "images" / "escape.jpg")
    os.symlink(tmp_path, session / "up")
    package = live.root / "packages" / "p1"
    package.mkdir(parents=True)
    (package / "bagit.txt").write_text("BagIt-Version: 1.0\n")
    os.symlink(tmp_path / "secret.txt", package / "escape.txt")
    try:
        yield live
    finally:
        live.server.stop()


TRAVERSALS = [
    "../../../secret.txt", "..%2f..%2f..%2fsecret.txt", "%2e%2e/%2e%2e/%2e%2e/secret.txt",
    "%2e%2e%2f%2e%2e%2f%2e%2e%2fsecret.txt", "%252e%252e%252f%252e%252e%252fsecret.txt", "..%5c..%5c..%5csecret.txt",
    "....//....//secret.txt", "images/../../../secret.txt", "images%2f..%2f..%2f..%2fsecret.txt", "%2fetc%2fpasswd",
    "/etc/passwd", "//etc/passwd", "images/escape.jpg", "up/secret.txt", "images/cam00.jpg%00.png",
    "%c0%ae%c0%ae/%c0%ae%c0%ae/secret.txt", "..%252f..%252fsecret.txt",
]


@pytest.mark.parametrize("prefix", ["/api/sessions/s1/files/", "/api/packages/p1/files/"])
def test_path_traversal_in_any_encoding_is_refused(stocked: LivePanel, prefix: str) -> None:
    for attempt in [*TRAVERSALS, "escape.txt"]:
        for thumb in ("", "?thumb=true"):
            status, body = _raw(stocked, "GET", prefix + attempt + thumb)
            assert SECRET not in body, f"{prefix}{attempt} leaked a file outside the storage root"
            assert b"root:" not in body, f"{prefix}{attempt} served /etc/passwd"
            assert status in (400, 403, 404, 422), f"{prefix}{attempt}: {status} {body[:200]!r}"
    status, body = _raw(stocked, "GET", "/api/sessions")
    assert status == 200, body
    assert json.loads(body)[0]["state"] == "unreadable"  # a broken session folder is listed, not a 500
    status, body = _raw(stocked, "GET", "/api/sessions/s1/files/images/cam00.jpg")
    assert status == 200
    assert body.startswith(b"\xff\xd8")


@pytest.mark.parametrize("name", ["..", "%2e%2e", "..%2fsessions", "s1%2f..%2f..", ".", "%00"])
def test_session_and_package_names_cannot_climb(stocked: LivePanel, name: str) -> None:
    for path in (f"/api/sessions/{name}/files/session.json", f"/api/packages/{name}/files/bagit.txt",
                 f"/api/packages/{name}/download"):
        status, body = _raw(stocked, "GET", path)
        assert status in (403, 404, 422), f"{path}: {status}"
        assert SECRET not in body


def test_resolve_inside_refuses_what_leaves_the_root(tmp_path: Path) -> None:
    (tmp_path / "root" / "a").mkdir(parents=True)
    (tmp_path / "root" / "a" / "f.txt").write_text("x")
    (tmp_path / "outside.txt").write_text("x")
    os.symlink(tmp_path / "outside.txt", tmp_path / "root" / "link.txt")
    assert resolve_inside(tmp_path / "root", "a/f.txt") == (tmp_path / "root" / "a" / "f.txt").resolve()
    for bad in ("../outside.txt", "a/../../outside.txt", "/etc/passwd", "link.txt", "a\\..\\..\\outside.txt",
                "a/f.txt\0"):
        with pytest.raises(PermissionError):
            resolve_inside(tmp_path / "root", bad)
    with pytest.raises(FileNotFoundError):
        resolve_inside(tmp_path / "root", "a/missing.txt")


def test_state_changes_need_the_same_origin_and_the_host_must_be_loopback(stocked: LivePanel) -> None:
    origin = stocked.url
    host = urlsplit(stocked.url).netloc
    status, body = _raw(stocked, "POST", "/api/lights/blackout")
    assert status == 403
    assert b"same-origin" in body
    status, body = _raw(stocked, "POST", "/api/lights/blackout", {"Origin": "http://evil.example"})
    assert status == 403
    assert b"cross-origin" in body
    status, _ = _raw(stocked, "POST", "/api/lights/blackout", {"Origin": "null"})
    assert status == 403
    status, _ = _raw(stocked, "POST", "/api/lights/blackout", {"Origin": origin})
    assert status == 200
    status, _ = _raw(stocked, "POST", "/api/lights/blackout", {"Sec-Fetch-Site": "same-origin"})
    assert status == 200
    # DNS rebinding: a page on evil.example resolving to 127.0.0.1 sends Host: evil.example.
    status, body = _raw(stocked, "GET", "/api/state", {"Host": "evil.example"})
    assert status == 403
    assert b"loopback" in body
    status, _ = _raw(stocked, "GET", "/api/state", {"Host": host})
    assert status == 200
    ws_url = stocked.url.replace("http", "ws") + "/ws"
    with pytest.raises(InvalidStatus):
        websockets.sync.client.connect(ws_url, origin="http://evil.example", open_timeout=10)  # type: ignore[arg-type]
    with websockets.sync.client.connect(ws_url, origin=origin, open_timeout=10) as socket:  # type: ignore[arg-type]
        assert json.loads(socket.recv(timeout=10))["kind"] == "Snapshot"


def test_with_a_token_every_request_needs_it(tmp_path: Path, studio: VirtualStudio) -> None:
    live = start_panel(tmp_path, token=TOKEN)
    try:
        status, body = _raw(live, "GET", "/api/state")
        assert status == 401
        assert b"token" in body
        status, _ = _raw(live, "GET", "/api/state", {"Authorization": f"Bearer {TOKEN}"})
        assert status == 200
        status, _ = _raw(live, "GET", "/api/state", {"Authorization": "Bearer wrong-token-wrong-token"})
        assert status == 401
        status, _ = _raw(live, "POST", "/api/lights/blackout", {"X-Capturerig-Token": TOKEN})
        assert status == 200  # a header token is not sent by a foreign page, so it needs no Origin
        status, _ = _raw(live, "POST", "/api/lights/blackout", {"Cookie": f"capturerig_token={TOKEN}"})
        assert status == 403  # the cookie alone is ambient: a state change also needs the same origin
        status, _ = _raw(live, "POST", "/api/lights/blackout", {"Cookie": f"capturerig_token={TOKEN}",
                                                                 "Origin": live.url})
        assert status == 200
        connection = http.client.HTTPConnection("127.0.0.1", live.server.port, timeout=30)
        connection.request("GET", f"/?token={TOKEN}")
        response = connection.getresponse()
        response.read()
        assert response.status == 200
        assert "HttpOnly" in (response.getheader("set-cookie") or "")
        status, _ = _raw(live, "GET", "/static/panel.js")
        assert status == 200  # the page's own assets are public
    finally:
        live.server.stop()


def test_the_server_refuses_to_listen_beyond_loopback_without_a_token(tmp_path: Path) -> None:
    settings = WebSettings(rigs=(None,), sessions_dir=tmp_path, packages_dir=tmp_path, host="0.0.0.0")
    with pytest.raises(InsecureBinding, match="needs a token"):
        create_app(settings)
    with pytest.raises(InsecureBinding, match="16 characters"):
        WebSettings(rigs=(None,), sessions_dir=tmp_path, packages_dir=tmp_path, host="10.0.0.5", token="short").check()
    WebSettings(rigs=(None,), sessions_dir=tmp_path, packages_dir=tmp_path, host="10.0.0.5", token=TOKEN).check()
    WebSettings(rigs=(None,), sessions_dir=tmp_path, packages_dir=tmp_path, host="127.0.0.2").check()


def test_api_docs_are_served_without_any_cdn(stocked: LivePanel) -> None:
    status, body = _raw(stocked, "GET", "/docs")
    assert status == 200
    page = body.decode()
    assert "/static/docs/swagger-ui-bundle.js" in page
    assert "https://" not in page
    assert "cdn" not in page.lower()
    for asset in ("/static/docs/swagger-ui-bundle.js", "/static/docs/swagger-ui.css", "/static/panel.js",
                  "/static/panel.css", "/"):
        status, body = _raw(stocked, "GET", asset)
        assert status == 200, asset
        if asset in ("/", "/static/panel.js", "/static/panel.css"):
            assert b"https://" not in body, f"{asset} refers to another site"
            assert b"http://" not in body, f"{asset} refers to another site"
    status, body = _raw(stocked, "GET", "/openapi.json")
    assert status == 200
    assert "/api/sessions" in json.loads(body)["paths"]
