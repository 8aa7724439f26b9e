"""The fault proxy's control endpoint, for a chaos runner in another process: JSON lines over loopback TCP.

Each request is one JSON object on one line, ``{"op": NAME, ...keyword arguments}``, answered by one line,
``{"ok": true, "result": ...}`` or ``{"ok": false, "error": "what was wrong"}``. The ops are FaultProxy's
methods of the same names (see its docstrings). The endpoint has no authentication, so it binds loopback only.
"""

from __future__ import annotations

import asyncio
import inspect
import ipaddress
import json
import socket
from dataclasses import asdict, is_dataclass
from typing import Any

from capturerig_sim._proxy_core import ProxyCore

__all__ = ["CONTROL_OPS", "FaultProxyError", "ProxyControl", "serve_control"]

CONTROL_OPS = ("set_latency", "set_bandwidth", "set_slice", "reset_after", "reset", "partition", "heal", "down",
               "up", "clear", "counters", "faults")


class FaultProxyError(RuntimeError):
    """The control endpoint refused a request, or could not be reached."""


def _require_loopback(host: str) -> None:
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"the fault proxy's control endpoint has no authentication and binds loopback only "
                         f"(127.0.0.0/8, ::1 or localhost), not {host!r}")


async def serve_control(core: ProxyCore, address: tuple[str, int]) -> asyncio.Server:
    """Start the control endpoint on ``address`` (port 0 = any free port) inside the proxy's loop."""
    _require_loopback(address[0])

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                writer.write(json.dumps(await _answer(core, line)).encode() + b"\n")
                await writer.drain()
        except (OSError, ValueError):  # a vanished client or a line over the reader's limit ends the session
            writer.transport.abort()
            return
        writer.close()

    return await asyncio.start_server(session, *address)


async def _answer(core: ProxyCore, line: bytes) -> dict[str, Any]:
    try:
        request = json.loads(line)
        if not isinstance(request, dict) or not isinstance(request.get("op"), str):
            raise ValueError('a request is one JSON object with a string "op"')
        op = request.pop("op")
        if op not in CONTROL_OPS:
            raise ValueError(f"unknown op {op!r}; known: {', '.join(CONTROL_OPS)}")
        result = core.faults if op == "faults" else getattr(core, op)(**request)
        if inspect.isawaitable(result):
            result = await result
    except (TypeError, ValueError, RuntimeError) as error:  # bad JSON, unknown or wrong arguments, up() failed
        return {"ok": False, "error": str(error)}
    return {"ok": True, "result": asdict(result) if is_dataclass(result) else result}  # type: ignore[arg-type]


class ProxyControl:
    """A client of the control endpoint: ``ProxyControl(("127.0.0.1", port)).call("set_latency", delay=0.05)``."""

    def __init__(self, address: tuple[str, int], timeout: float = 5.0) -> None:
        self.address = address
        self.timeout = timeout

    def call(self, op: str, **arguments: Any) -> Any:
        """Run ``op`` on the proxy; returns its result (counters and faults as dicts).

        Raises
        ------
        FaultProxyError
            The proxy refused the request (the message says why) or did not answer within ``timeout``.
        """
        try:
            with socket.create_connection(self.address, self.timeout) as sock:
                sock.sendall(json.dumps({"op": op, **arguments}).encode() + b"\n")
                reply = sock.makefile("rb").readline()
        except OSError as error:
            raise FaultProxyError(f"fault proxy control at {self.address[0]}:{self.address[1]} did not answer "
                                  f"{op}: {error}") from error
        if not reply:
            raise FaultProxyError(f"fault proxy control at {self.address[0]}:{self.address[1]} closed without "
                                  f"answering {op}")
        answer = json.loads(reply)
        if not answer["ok"]:
            raise FaultProxyError(f"fault proxy refused {op}: {answer['error']}")
        return answer["result"]
