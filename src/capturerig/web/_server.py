"""Serving the panel with uvicorn: in the foreground (``capturerig serve``) or in a thread (tests, bench)."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn
from fastapi import FastAPI

from capturerig.web._settings import is_loopback

__all__ = ["PanelServer"]

START_TIMEOUT_S = 20.0


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: a free one), so the address is known before serving."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


class PanelServer:
    """A uvicorn server for ``app`` bound to ``host:port``; :attr:`url` is its address.

    Raises OSError at construction when the address is taken or not local.
    """

    def __init__(self, app: FastAPI, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning") -> None:
        self.app = app
        self.host = host
        self.socket = _bind(host, port)
        self.port = int(self.socket.getsockname()[1])
        self.server = uvicorn.Server(uvicorn.Config(app, log_level=log_level, lifespan="on", ws_ping_interval=None))
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        shown = self.host if ":" not in self.host else f"[{self.host}]"
        if self.host in ("0.0.0.0", "::"):
            shown = socket.gethostname()
        return f"http://{shown}:{self.port}"

    @property
    def local_only(self) -> bool:
        return is_loopback(self.host)

    def run(self) -> None:
        """Serve in this thread until interrupted (Ctrl-C, SIGTERM)."""
        self.server.run(sockets=[self.socket])

    def start(self) -> None:
        """Serve from a background thread; returns once the server accepts connections."""
        self._thread = threading.Thread(target=self.run, name="capturerig-panel-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the panel server did not start on {self.url}")
            time.sleep(0.02)

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop serving (a running session is aborted with the lights safe) and wait for the thread."""
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout_s)
        self.socket.close()
