"""Acknowledgements sent behind the session's back: a journalled file never waits for its host to hear so.

Once the controller holds a file (fsynced, hashed, journalled) the agent may delete it; when it hears that
does not matter to the take, so acknowledgements leave on their own thread, every one pending in one request.
One that cannot be sent is kept and sent again (the agent keeps the file meanwhile, which costs only disk);
one lost with the controller is harmless: the file is offered again and, found already in the session by its
hash, only acknowledged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from capturerig.devices.protocols import DeviceError

__all__ = ["Acknowledger"]

log = logging.getLogger(__name__)
RETRY_S = 0.5


class Acknowledger:
    """Sends file ids with ``send(ids)`` (which raises DeviceError) from one thread, batching what piles up."""

    def __init__(self, host: str, send: Callable[[list[str]], None]) -> None:
        self._host = host
        self._send = send
        self._state = threading.Condition()
        self._pending: list[str] = []
        self._in_flight = 0  # ids being sent now
        self._closed = False
        self._thread: threading.Thread | None = None

    def soon(self, file_ids: Sequence[str]) -> None:
        with self._state:
            self._pending += file_ids
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=f"capturerig-acks-{self._host}", daemon=True)
                self._thread.start()
            self._state.notify_all()

    def flush(self, timeout_s: float) -> bool:
        """Wait until every acknowledgement asked for so far reached the agent; False when ``timeout_s`` ran out
        first (the host is away: they stay pending)."""
        deadline = time.monotonic() + timeout_s
        with self._state:
            while self._pending or self._in_flight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._state.wait(left)
        return True

    def close(self, timeout_s: float) -> None:
        """Send what is pending (for at most ``timeout_s``), then stop."""
        if not self.flush(timeout_s):
            with self._state:
                log.warning("host %s: %d acknowledgements not sent (the agent offers those files again)",
                            self._host, len(self._pending))
        with self._state:
            self._closed = True
            self._state.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)

    def _run(self) -> None:
        while True:
            with self._state:
                while not self._pending and not self._closed:
                    self._state.wait()
                if self._closed:
                    return
                batch, self._pending = self._pending, []
                self._in_flight = len(batch)
            try:
                self._send(batch)
                sent = True
            except DeviceError as exc:
                log.warning("host %s: %d acknowledgements not sent yet: %s", self._host, len(batch), exc)
                sent = False
            with self._state:
                if not sent:
                    self._pending = batch + self._pending
                self._in_flight = 0
                self._state.notify_all()
                if not sent:
                    self._state.wait(RETRY_S)
