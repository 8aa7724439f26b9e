"""The agent link's own HTTP client: a kept-alive connection the agent closed while idle costs nothing.

uvicorn closes a kept-alive connection after 5 s of quiet (its keep-alive timeout); the next command must go out
at once on a new connection, not fail, nor wait for the link's retry pause.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from capturerig.devices.remote._http import Connections


class _ClosingServer:
    """Answers each request on a connection with 200 (kept alive by its headers), then closes that connection
    once ``close_after`` requests were answered on it, as a server whose keep-alive ran out does."""

    def __init__(self, close_after: int) -> None:
        self.close_after = close_after
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:  # the listener was closed: the test is over
                return
            self.connections += 1
            with conn:
                for _ in range(self.close_after):
                    request = b""
                    while b"\r\n\r\n" not in request:
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        request += chunk
                    if not request:
                        break
                    body = b'{"ok": true}'
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                 b"Content-Length: %d\r\n\r\n%s" % (len(body), body))

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def server() -> Iterator[_ClosingServer]:
    running = _ClosingServer(close_after=1)
    yield running
    running.close()


def test_a_connection_the_agent_closed_while_idle_is_replaced_and_the_request_answered_at_once(
        server: _ClosingServer) -> None:
    connections = Connections(f"http://127.0.0.1:{server.port}", {"Authorization": "Bearer t"})
    try:
        assert connections.exchange("GET", "/v1/hello", 2.0) == (200, b'{"ok": true}')
        time.sleep(0.1)  # the server has closed the kept-alive connection by now
        started = time.monotonic()
        assert connections.exchange("POST", "/v1/commands/batch", 2.0, b"{}") == (200, b'{"ok": true}')
        assert time.monotonic() - started < 0.5  # sent again at once, not after a retry pause
    finally:
        connections.close()
    assert server.connections == 2


def test_an_agent_that_is_not_there_raises_for_the_caller_to_retry() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    connections = Connections(f"http://127.0.0.1:{port}", {})
    with pytest.raises(ConnectionRefusedError):
        connections.exchange("GET", "/v1/hello", 1.0)
