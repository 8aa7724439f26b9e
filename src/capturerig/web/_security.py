"""The panel's guards: the token, same-origin checks on state changes, and paths that never leave a root.

Rules (see :class:`PanelGuard`):

- With a token configured, every request except the static assets needs it: ``Authorization: Bearer``,
  ``X-Capturerig-Token``, the ``capturerig_token`` cookie (set when the page is opened with ``?token=``) or
  ``?token=``.
- Without a token the server listens on loopback only, and the Host header must name a loopback address
  (a web page on another site cannot reach the panel by DNS rebinding).
- A state-changing request (POST, PUT, PATCH, DELETE) or a WebSocket handshake needs the token in a header,
  or a same-origin Origin header (or ``Sec-Fetch-Site: same-origin``): a page on another site never has
  either, so it cannot drive the rig with the operator's browser.
"""

from __future__ import annotations

import hmac
import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import CookieError, SimpleCookie
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import parse_qs, urlsplit

from capturerig.web._settings import is_loopback

__all__ = ["TOKEN_COOKIE", "PanelGuard", "PathRefused", "resolve_inside"]

TOKEN_COOKIE = "capturerig_token"
TOKEN_HEADER = "x-capturerig-token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_PUBLIC_PREFIXES = ("/static/", "/favicon.ico")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class PathRefused(PermissionError):
    """A requested path would leave its storage root (traversal, absolute path, symlink out) or is malformed."""


def resolve_inside(root: Path, relative: str) -> Path:
    """The existing file or folder ``relative`` below ``root``, with every symlink resolved.

    Raises
    ------
    PathRefused
        For NUL bytes, backslashes, absolute paths, ``..`` parts, or a path (after resolving symlinks)
        outside ``root``.
    FileNotFoundError
        When the path is inside ``root`` but does not exist.
    """
    if "\0" in relative or "\\" in relative:
        raise PathRefused(f"'{relative!r}': malformed path")
    pure = PurePosixPath(relative)
    if pure.is_absolute() or relative.startswith("/") or any(part in ("..", "") for part in relative.split("/")[:-1]):
        raise PathRefused(f"'{relative}': only plain paths below the storage root are served")
    if ".." in pure.parts:
        raise PathRefused(f"'{relative}': only plain paths below the storage root are served")
    base = root.resolve()
    candidate = Path(os.path.realpath(base / pure))
    if candidate != base and base not in candidate.parents:
        raise PathRefused(f"'{relative}' leads outside the storage root")
    if not candidate.exists():
        raise FileNotFoundError(f"'{relative}' does not exist")
    return candidate


def _headers(scope: Scope) -> dict[str, str]:
    return {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope.get("headers", [])}


def _host_name(host: str) -> str:
    """``127.0.0.1:8765`` -> ``127.0.0.1``; ``[::1]:8765`` -> ``::1``."""
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _same_origin(origin: str, host: str) -> bool:
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and bool(host) and parts.netloc.lower() == host.lower()


class PanelGuard:
    """ASGI middleware enforcing the rules in the module docstring for HTTP and WebSocket alike."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token

    def _matches(self, offered: str | None) -> bool:
        return bool(self.token) and offered is not None and hmac.compare_digest(offered.encode(),
                                                                               (self.token or "").encode())

    def _tokens(self, scope: Scope, headers: dict[str, str]) -> tuple[bool, bool]:
        """(a header or query carries the token, the cookie carries it)."""
        bearer = headers.get("authorization", "")
        offered = [bearer[7:].strip() if bearer.lower().startswith("bearer ") else None, headers.get(TOKEN_HEADER)]
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        offered += query.get("token", [])
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except CookieError:  # a malformed cookie header is simply no token
            cookie = SimpleCookie()
        morsel = cookie.get(TOKEN_COOKIE)
        return any(self._matches(t) for t in offered), self._matches(morsel.value if morsel else None)

    def verdict(self, scope: Scope) -> tuple[int, str] | None:
        """None when the request may pass, else (HTTP status, reason)."""
        headers = _headers(scope)
        path: str = scope.get("path", "")
        host = headers.get("host", "")
        if not self.token and not is_loopback(_host_name(host)):
            return 403, f"Host '{host}' is not this machine's loopback address"
        if path.startswith(_PUBLIC_PREFIXES):
            return None
        header_token, cookie_token = self._tokens(scope, headers)
        if self.token and not (header_token or cookie_token):
            return 401, "this panel needs its token: open the address `capturerig serve` printed (with ?token=)"
        changing = scope["type"] == "websocket" or scope.get("method", "GET") not in _SAFE_METHODS
        if not changing or header_token:
            return None
        origin = headers.get("origin")
        if origin is not None:
            if _same_origin(origin, host):
                return None
            return 403, f"cross-origin request refused (Origin {origin} is not {host})"
        if headers.get("sec-fetch-site") == "same-origin":
            return None
        return 403, ("state-changing requests need the token (X-Capturerig-Token or Authorization: Bearer) "
                     "or a same-origin Origin header")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        refused = self.verdict(scope)
        if refused is None:
            await self.app(scope, receive, send)
            return
        status, reason = refused
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": reason[:120]})
            return
        body = json.dumps({"detail": reason}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
