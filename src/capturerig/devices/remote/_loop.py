"""One asyncio event loop, on its own thread, that follows every agent's event socket of this process.

A thread per socket (and the synchronous WebSocket client's own reading thread behind each) made two threads per
capture host wake for every event, to hand it from one to the other under the GIL; here one thread reads every
host's socket and takes each event in where it arrives.
"""

from __future__ import annotations

import asyncio
import threading

__all__ = ["link_loop"]

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def link_loop() -> asyncio.AbstractEventLoop:
    """The process's event loop for agent links, started on first use (a daemon thread: it holds nothing that
    must be finished at exit; each link closes its own socket)."""
    global _loop
    with _lock:
        if _loop is None:
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="capturerig-links", daemon=True).start()
            _loop = loop
        return _loop
