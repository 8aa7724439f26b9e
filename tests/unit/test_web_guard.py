"""The panel's guard decides on every request before any route runs: token, Host, Origin."""

from __future__ import annotations

import pytest

from capturerig.web import PanelGuard, is_loopback

TOKEN = "guard-token-0123456789abcdef"


async def _app(scope: object, receive: object, send: object) -> None:  # never reached in these tests
    raise AssertionError("the guard should decide without calling the app")


def _scope(method: str = "GET", path: str = "/api/state", host: str = "127.0.0.1:8765", kind: str = "http",
           query: bytes = b"", **headers: str) -> dict[str, object]:
    pairs = [(b"host", host.encode())] + [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
    return {"type": kind, "method": method, "path": path, "headers": pairs, "query_string": query}


@pytest.mark.parametrize(("host", "local"), [("127.0.0.1", True), ("127.9.9.9", True), ("::1", True),
                                              ("[::1]", True), ("localhost", True), ("0.0.0.0", False),
                                              ("192.168.1.20", False), ("example.org", False)])
def test_loopback_addresses(host: str, local: bool) -> None:
    assert is_loopback(host) is local


def test_without_a_token_reads_pass_and_changes_need_the_same_origin() -> None:
    guard = PanelGuard(_app, token=None)
    assert guard.verdict(_scope()) is None
    assert guard.verdict(_scope(host="[::1]:8765")) is None
    assert guard.verdict(_scope(host="localhost:8765")) is None
    assert guard.verdict(_scope(host="rebind.example:8765"))[0] == 403  # type: ignore[index]
    assert guard.verdict(_scope("POST"))[0] == 403  # type: ignore[index]
    assert guard.verdict(_scope("POST", origin="http://127.0.0.1:8765")) is None
    assert guard.verdict(_scope("POST", origin="http://127.0.0.1:9999"))[0] == 403  # type: ignore[index]
    assert guard.verdict(_scope("DELETE", origin="https://evil.example"))[0] == 403  # type: ignore[index]
    assert guard.verdict(_scope(kind="websocket", path="/ws"))[0] == 403  # type: ignore[index]
    assert guard.verdict(_scope(kind="websocket", path="/ws", origin="http://127.0.0.1:8765")) is None


def test_with_a_token_everything_but_the_assets_needs_it() -> None:
    guard = PanelGuard(_app, token=TOKEN)
    assert guard.verdict(_scope(host="studio-pc:8765"))[0] == 401  # type: ignore[index]
    assert guard.verdict(_scope(path="/static/panel.js", host="studio-pc:8765")) is None
    assert guard.verdict(_scope(host="studio-pc:8765", authorization=f"Bearer {TOKEN}")) is None
    assert guard.verdict(_scope(host="studio-pc:8765", query=f"token={TOKEN}".encode())) is None
    assert guard.verdict(_scope(host="studio-pc:8765", query=b"token=nope"))[0] == 401  # type: ignore[index]
    cookie = f"capturerig_token={TOKEN}"
    assert guard.verdict(_scope(host="studio-pc:8765", cookie=cookie)) is None
    assert guard.verdict(_scope("POST", host="studio-pc:8765", cookie=cookie))[0] == 403  # type: ignore[index]
    assert guard.verdict(_scope("POST", host="studio-pc:8765", cookie=cookie,
                                origin="http://studio-pc:8765")) is None
    assert guard.verdict(_scope("POST", host="studio-pc:8765", x_capturerig_token=TOKEN)) is None
    assert guard.verdict(_scope(host="studio-pc:8765", cookie="garbage;;=\x7f"))[0] == 401  # type: ignore[index]
