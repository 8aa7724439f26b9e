"""A camera worker process seen from the controller: requests with timeouts, and the watchdog.

A request either gets its reply within its timeout or the worker is treated as hung: it is killed
(SIGKILL; a stopped or spinning libgphoto2 cannot be asked nicely) and the request fails with
DeviceTimeout. A worker that dies (segfault, SIGKILL, out of memory) is noticed the moment its pipe
closes, and the request fails with DeviceError naming the signal. Either way the controller stays up
and the next request starts a fresh worker (see ``GPhoto2Camera``).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import IO, Any

from capturerig.devices.gphoto2._wire import WorkerGone, encode_message, read_message, write_bytes
from capturerig.devices.protocols import DeviceError, DeviceTimeout

__all__ = ["WorkerFailed", "WorkerProcess"]

log = logging.getLogger(__name__)

# The worker imports only this subpackage's stdlib modules: capturerig's own __init__ pulls in OpenCV
# and pycolmap (over a second per start), so bare package modules stand in for the parents.
_BOOT = """
import sys, types
root = sys.argv.pop(1)
for name in ("capturerig", "capturerig.devices", "capturerig.devices.gphoto2"):
    module = types.ModuleType(name)
    module.__path__ = [root + "/" + name.replace(".", "/")]
    sys.modules[name] = module
from capturerig.devices.gphoto2._worker import main
main()
"""
_SRC_ROOT = str(Path(__file__).resolve().parents[3])
_STDERR_LINES = 30


class WorkerFailed(DeviceError):
    """The worker answered with an error; ``code`` is the libgphoto2 code, ``fatal`` asks for a restart."""

    def __init__(self, device_id: str, message: str, hint: str, code: int | None, fatal: bool,
                 setting: str | None) -> None:
        super().__init__(device_id, message, hint)
        self.code = code
        self.fatal = fatal
        self.setting = setting


def _describe_exit(returncode: int | None) -> str:
    if returncode is None:
        return "stopped answering"
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"died (killed by {name})"
    return f"exited with status {returncode}"


class WorkerProcess:
    """One running worker (a fresh interpreter); not thread-safe: the camera driver serialises calls."""

    def __init__(self, device_id: str, vcameradir: str | None) -> None:
        self.device_id = device_id
        self._ids = itertools.count(1)
        self._stderr: deque[str] = deque(maxlen=_STDERR_LINES)
        env = dict(os.environ)
        env.setdefault("PYTHONUNBUFFERED", "1")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _BOOT, _SRC_ROOT, vcameradir or ""],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
            start_new_session=True)  # Ctrl-C at the terminal reaches the controller, not mid-take workers
        if self.proc.stdin is None or self.proc.stdout is None or self.proc.stderr is None:
            raise RuntimeError("Popen without pipes")  # cannot happen with PIPE: satisfies the type checker
        self._in = self.proc.stdin.fileno()
        self._out = self.proc.stdout.fileno()
        self.dead = False
        threading.Thread(target=self._drain_stderr, args=(self.proc.stderr,), daemon=True,
                         name=f"gphoto2-stderr-{device_id}").start()

    @property
    def pid(self) -> int:
        """The worker's process id."""
        return self.proc.pid

    def alive(self) -> bool:
        """False once the worker died or was killed."""
        return not self.dead and self.proc.poll() is None

    def _drain_stderr(self, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip()
            self._stderr.append(line)
            log.debug("%s worker: %s", self.device_id, line)

    def stderr_tail(self) -> str:
        """The last lines the worker (or libgphoto2) wrote to stderr."""
        return " | ".join(list(self._stderr)[-3:])

    def prepare(self, op: str, **args: Any) -> tuple[int, bytes]:
        """A request encoded for :meth:`send_prepared`, and its id."""
        request_id = next(self._ids)
        return request_id, encode_message({"op": op, "id": request_id, **args})

    def send_prepared(self, op: str, data: bytes) -> None:
        """Write an encoded request (one pipe write); raises DeviceError if the worker is gone."""
        try:
            write_bytes(self._in, data)
        except OSError as exc:  # BrokenPipeError: it died since the last request
            raise self._gone(op, "") from exc

    def send(self, op: str, **args: Any) -> int:
        """Send a request without waiting; returns its id. Raises DeviceError if the worker is gone."""
        request_id, data = self.prepare(op, **args)
        self.send_prepared(op, data)
        return request_id

    def wait(self, request_id: int, op: str, timeout_s: float) -> Any:
        """The result of request ``request_id``; the watchdog acts when it does not come in time."""
        deadline = time.monotonic() + max(0.0, timeout_s)
        try:
            reply = read_message(self._out, deadline)
        except TimeoutError:
            pid = self.proc.pid
            self.kill()
            raise DeviceTimeout(self.device_id, f"{op} got no answer within {timeout_s:g} s: the camera worker "
                                f"(pid {pid}) hung and was killed", "the worker restarts on the next request; "
                                "if it repeats, power-cycle the camera") from None
        except (WorkerGone, OSError) as exc:
            raise self._gone(op, f" during {op}") from exc
        if reply.get("id") != request_id:  # cannot happen with one request at a time: refuse to guess
            self.kill()
            raise DeviceError(self.device_id, f"camera worker answered request {reply.get('id')} instead of "
                                              f"{request_id}", "the worker was restarted; retry")
        if not reply["ok"]:
            raise WorkerFailed(self.device_id, reply["message"], reply.get("hint", ""), reply.get("code"),
                               bool(reply.get("fatal")), reply.get("setting"))
        return reply["result"]

    def call(self, op: str, timeout_s: float, **args: Any) -> Any:
        """Send a request and wait for its result."""
        return self.wait(self.send(op, **args), op, timeout_s)

    def _gone(self, op: str, during: str) -> DeviceError:
        pid = self.proc.pid
        try:
            returncode: int | None = self.proc.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            returncode = None
        self.kill()
        tail = self.stderr_tail()
        return DeviceError(self.device_id, f"the camera worker (pid {pid}) {_describe_exit(returncode)}{during}"
                           + (f"; its last words: {tail}" if tail else ""),
                           "the worker restarts on the next request; the take is retried")

    def kill(self) -> None:
        """SIGKILL the worker and reap it (never raises)."""
        self.dead = True
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5.0)
        for stream in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()

    def stop(self, timeout_s: float = 2.0) -> None:
        """Ask the worker to release the camera and exit; kill it if it does not (never raises)."""
        if self.alive():
            with contextlib.suppress(DeviceError):
                self.call("exit", timeout_s)
        self.kill()
