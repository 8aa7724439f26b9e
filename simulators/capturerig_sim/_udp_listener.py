"""Lifecycle shared by the UDP simulators (Art-Net node, sACN receiver): one listening thread per socket."""

from __future__ import annotations

import socket
import threading
from types import TracebackType
from typing import Self

__all__ = ["UdpListener"]


class UdpListener:
    """Base of a simulator that reads datagrams from ``_sock`` in ``_thread`` until :meth:`close`.

    Subclasses bind ``_sock``, create ``_thread`` (target: their receive loop, which must stop when
    ``_stop`` is set) and ``_stop`` in their ``__init__``.
    """

    _sock: socket.socket
    _thread: threading.Thread
    _stop: threading.Event

    def start(self) -> Self:
        """Start listening (returns self)."""
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop listening and release the port."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)
        self._sock.close()

    def __enter__(self) -> Self:
        return self.start() if not self._thread.is_alive() else self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()
