"""The last line of light safety: every open rig goes to its safe state on SIGTERM and at process exit.

The runner already makes the lights safe when a run ends, fails or is aborted; this covers the process
being told to stop (SIGTERM with no handler of the application's own) and the interpreter exiting with a
rig still open. The work is done on a helper thread so a signal arriving while the main thread holds a
driver's lock cannot deadlock.
"""

from __future__ import annotations

import atexit
import logging
import signal
import threading
import weakref
from types import FrameType
from typing import Protocol

__all__ = ["SafeStateHolder", "all_lights_safe", "install_exit_safety", "register", "unregister"]

log = logging.getLogger(__name__)
SIGNAL_SAFE_TIMEOUT_S = 0.5  # how long a SIGTERM waits for the lights before the process goes on exiting


class SafeStateHolder(Protocol):
    def latch_safe(self) -> list[str]:
        """Put the lights in the safe state and keep them there; returns outputs that failed."""


_open: weakref.WeakSet[SafeStateHolder] = weakref.WeakSet()
_lock = threading.Lock()
_installed = False


def register(holder: SafeStateHolder) -> None:
    """Track an open rig until :func:`unregister` (its close)."""
    with _lock:
        _open.add(holder)
    install_exit_safety()


def unregister(holder: SafeStateHolder) -> None:
    with _lock:
        _open.discard(holder)


def all_lights_safe() -> None:
    """Latch every open rig's lights in the safe state; never raises."""
    with _lock:
        holders = list(_open)
    for holder in holders:
        try:
            holder.latch_safe()
        except Exception:
            log.exception("could not put the lights of %r in the safe state", holder)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    worker = threading.Thread(target=all_lights_safe, name="capturerig-safe-state", daemon=True)
    worker.start()
    worker.join(SIGNAL_SAFE_TIMEOUT_S)
    raise SystemExit(128 + signum)


def install_exit_safety() -> None:
    """Once per process: lights safe at exit, and on SIGTERM unless the application handles SIGTERM itself."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    atexit.register(all_lights_safe)
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) in (
            signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, _on_sigterm)
