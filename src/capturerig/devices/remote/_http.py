"""Kept-alive HTTP/1.1 connections to one agent, on the standard library's client.

A fraction of the work per request that a fuller client (httpx) does: what matters where a session's commands,
pulls and acknowledgements cross a machine whose cores are busy with the cameras' files (a command's round trip
under load is mostly CPU queueing, so less CPU per request is a shorter tail).
"""

from __future__ import annotations

import http.client
import threading
from urllib.parse import urlsplit

__all__ = ["Connections", "Transport"]

# What a request fails with when the agent cannot be reached or the connection broke (retried by the callers).
Transport = (OSError, http.client.HTTPException)


class Connections:
    """Kept-alive connections to one agent, each serving one request at a time."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        parsed = urlsplit(url)
        self._address = (parsed.hostname or "127.0.0.1", parsed.port or 80)
        self._headers = headers
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def request(self, method: str, path: str, timeout_s: float, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """Send a request on an idle connection (or a new one); give the connection back once its body is read.
        A kept-alive connection the agent closed while it was idle is replaced and the request sent again at
        once (every request of the link may go twice: a command's id is answered once, the rest are reads or
        idempotent). Raises OSError or http.client.HTTPException."""
        with self._lock:
            connection = self._idle.pop() if self._idle else None
        if connection is not None:
            try:
                return self._send(connection, method, path, timeout_s, body, headers)
            except (ConnectionError, http.client.RemoteDisconnected):  # closed while idle (keep-alive timeout)
                pass
        return self._send(http.client.HTTPConnection(*self._address, timeout=timeout_s), method, path, timeout_s,
                          body, headers)

    def _send(self, connection: http.client.HTTPConnection, method: str, path: str, timeout_s: float,
              body: bytes | None, headers: dict[str, str] | None,
              ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        connection.timeout = timeout_s
        if connection.sock is not None:
            connection.sock.settimeout(timeout_s)
        all_headers = {**self._headers, **(headers or {})}
        if body is not None:
            all_headers["Content-Type"] = "application/json"
        try:
            connection.request(method, path, body=body, headers=all_headers)
            return connection, connection.getresponse()
        except Transport:
            connection.close()
            raise

    def exchange(self, method: str, path: str, timeout_s: float, body: bytes | None = None,
                 headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        """The status and whole body of one request. Raises OSError or http.client.HTTPException."""
        connection, response = self.request(method, path, timeout_s, body, headers)
        try:
            content = response.read()
        except Transport:
            connection.close()
            raise
        self.give_back(connection, response)
        return response.status, content

    def give_back(self, connection: http.client.HTTPConnection, response: http.client.HTTPResponse) -> None:
        """``response``'s body has been read: its connection serves the next request, unless it is closing."""
        response.read()  # nothing is left; this marks the response done, so the connection may send again
        if response.will_close:
            connection.close()
            return
        with self._lock:
            self._idle.append(connection)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()
