"""One worker per camera on this host: its commands in order, its downloads into the spool.

Commands run one at a time on the camera's command thread; after an arm the exposures are downloaded on its
download thread (after the fire, for a software trigger, so a driver never serves both at once) and each is
spooled and announced as an ``exposure`` event, or an ``exposure_failed`` one saying why.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from capturerig.agent._events import EventLog
from capturerig.agent._spool import Spool, SpoolError
from capturerig.devices import Camera, DeviceError
from capturerig.devices.remote import CameraView, Command, CommandReply

__all__ = ["CameraWorker"]

log = logging.getLogger(__name__)
_Download = tuple[str, int, float, str | None, int | None]  # arm id, exposures, wait per exposure, take, attempt


class CameraWorker:
    """Runs one camera's commands and downloads."""

    def __init__(self, camera: Camera, spool: Spool, events: EventLog) -> None:
        self.camera = camera
        self.spool = spool
        self.events = events
        self._commands = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"agent-{camera.id}")
        # A daemon thread, not a pool: a download blocked on a camera that never fired must not hold up the
        # agent's exit (what it waits for is on the card, and the controller re-shoots the take).
        self._downloads: queue.Queue[_Download | None] = queue.Queue()
        threading.Thread(target=self._download_loop, name=f"agent-{camera.id}-dl", daemon=True).start()
        self._lock = threading.Lock()
        self._connected = False
        self._armed_for = 0
        self._last_error: str | None = None
        self._pending: _Download | None = None  # a software arm's download, started by the fire

    def view(self) -> CameraView:
        with self._lock:
            return CameraView(connected=self._connected, armed_for=self._armed_for, last_error=self._last_error)

    def run(self, command: Command) -> CommandReply:
        """Run ``command`` on the camera's command thread; its answer (a failure is an answer, not a raise)."""
        return self._commands.submit(self._run, command).result()

    def _run(self, command: Command) -> CommandReply:
        handlers: dict[str, Callable[[Command], dict[str, Any]]] = {
            "connect": self._connect, "apply_settings": self._apply_settings, "arm": self._arm,
            "fire": self._fire, "close": self._close}
        try:
            result = handlers[command.name](command)
        except DeviceError as exc:
            with self._lock:
                self._last_error = str(exc)
            return CommandReply(cmd_id=command.cmd_id, ok=False, error=exc.message, hint=exc.hint)
        return CommandReply(cmd_id=command.cmd_id, ok=True, result=result)

    def _connect(self, command: Command) -> dict[str, Any]:
        status = self.camera.connect(command.timeout_s)
        with self._lock:
            self._connected, self._last_error = True, None
        return {"serial": status.serial, "model": status.model, "battery_percent": status.battery_percent,
                "free_bytes": status.free_bytes}

    def _apply_settings(self, command: Command) -> dict[str, Any]:
        settings = {str(k): str(v) for k, v in dict(command.args.get("settings", {})).items()}
        return {"settings": self.camera.apply_settings(settings, command.timeout_s)}

    def _arm(self, command: Command) -> dict[str, Any]:
        args = command.args
        exposures = int(args.get("exposures", 1))
        needed = int(args.get("bytes_needed", 0))
        if not self.spool.room_for(needed):
            summary = self.spool.summary()
            raise DeviceError(self.camera.id, f"spool disk low on this host: {summary.free_bytes} bytes free, "
                                              f"{summary.reserve_bytes} kept in reserve; refusing to arm",
                              "free disk space on the capture host (the controller has not yet pulled "
                              f"{summary.files} files)")
        self.camera.arm(command.timeout_s, exposures)
        download = (command.cmd_id, exposures, float(args.get("wait_s", 30.0)), args.get("take_id"),
                    args.get("attempt"))
        with self._lock:
            self._armed_for = exposures
        if args.get("software"):
            self._pending = download  # downloaded once fired
        else:
            self._downloads.put(download)
        return {"arm_id": command.cmd_id}

    def _fire(self, command: Command) -> dict[str, Any]:
        fire_at = float(command.args.get("fire_at", 0.0))
        delay = fire_at - time.time()
        if delay > command.timeout_s:
            raise DeviceError(self.camera.id, f"fire_at is {delay:.1f} s ahead, beyond the command's timeout")
        if delay > 0:
            time.sleep(delay)
        fired_at = time.time()
        try:
            self.camera.trigger_capture(command.timeout_s)
        finally:
            pending, self._pending = self._pending, None
            if pending is not None:
                self._downloads.put(pending)
        return {"fired_at": fired_at, "late_s": max(0.0, fired_at - fire_at) if fire_at else 0.0}

    def _close(self, command: Command) -> dict[str, Any]:
        self.camera.close()
        with self._lock:
            self._connected = False
        return {}

    def _download_loop(self) -> None:
        while (job := self._downloads.get()) is not None:
            self._download(*job)

    def _download(self, arm_id: str, exposures: int, wait_s: float, take_id: str | None,
                  attempt: int | None) -> None:
        for exposure in range(exposures):
            try:
                files = self.camera.wait_for_files(wait_s)
                spooled = [self.spool.store(f, self.camera.id, arm_id, exposure, take_id, attempt) for f in files]
            except (DeviceError, SpoolError) as exc:
                with self._lock:
                    self._last_error = str(exc)
                    self._armed_for = max(0, self._armed_for - 1)
                self.events.publish(kind="exposure_failed", camera_id=self.camera.id, arm_id=arm_id,
                                    exposure=exposure, error=str(exc))
                continue
            with self._lock:
                self._armed_for = max(0, self._armed_for - 1)
            self.events.publish(kind="exposure", camera_id=self.camera.id, arm_id=arm_id, exposure=exposure,
                                files=spooled)

    def clear_card(self, card_names: list[str], timeout_s: float) -> None:
        """Delete acknowledged files from the camera's card (queued behind its commands)."""
        def delete() -> None:
            try:
                self.camera.delete_files(card_names, timeout_s)
            except DeviceError as exc:  # the files are safe at the controller; a full card is the only cost
                log.warning("could not clear %s's card: %s", self.camera.id, exc)
        self._commands.submit(delete)

    def close(self) -> None:
        self._commands.shutdown(wait=True)
        self._downloads.put(None)
        try:
            self.camera.close()
        except Exception:  # close never raises by protocol; a driver that does must not stop the others
            log.exception("closing %s", self.camera.id)
