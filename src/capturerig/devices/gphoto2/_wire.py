"""Framing between the controller and a camera worker: length-prefixed pickles over a pipe.

Both ends are our own code in processes we started, so pickle is safe here. stdlib only: the worker
imports this module without importing capturerig.
"""

from __future__ import annotations

import os
import pickle
import select
import struct
import time
from typing import Any

__all__ = ["WorkerGone", "encode_message", "read_message", "write_bytes", "write_message"]

_HEADER = struct.Struct(">I")
MAX_MESSAGE = 1 << 31


class WorkerGone(EOFError):
    """The other end closed the pipe (the worker exited or was killed)."""


def encode_message(message: Any) -> bytes:
    """One message as it goes on the pipe (length prefix and pickle)."""
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _HEADER.pack(len(body)) + body


def write_bytes(fd: int, data: bytes) -> None:
    """Write an encoded message (a single write unless the pipe is full)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def write_message(fd: int, message: Any) -> None:
    """Encode and write one message."""
    write_bytes(fd, encode_message(message))


def _read_exact(fd: int, count: int, deadline: float | None) -> bytes:
    chunks: list[bytes] = []
    remaining = count
    while remaining:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                raise TimeoutError
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            raise WorkerGone
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_message(fd: int, deadline: float | None = None) -> Any:
    """Read one message; ``deadline`` is a ``time.monotonic()`` value (None: wait forever).

    Raises TimeoutError when the deadline passes (the pipe may then hold half a message: the caller
    must not read from it again) and WorkerGone when the other end is closed.
    """
    (length,) = _HEADER.unpack(_read_exact(fd, _HEADER.size, deadline))
    if length > MAX_MESSAGE:
        raise WorkerGone
    return pickle.loads(_read_exact(fd, length, deadline))
