"""One worker per camera on this host: its commands in order, its downloads into the spool.

Commands run one at a time on the camera's command thread; after an arm the exposures are downloaded on its
download thread (after the fire, for a software trigger, so a driver never serves both at once) and each is
spooled and announced as an ``exposure`` event, or an ``exposure_failed`` one saying why.

An exposure belongs to the newest arm made before it was taken: when the controller arms again while an older
arm's exposure never came (it gave up, or it died and resumed), that older expectation is superseded, so a
late exposure is never filed under a take it was not shot for.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from capturerig.agent._events import EventLog
from capturerig.agent._spool import Spool, SpoolError
from capturerig.devices import Camera, DeviceError, ExposureLabels
from capturerig.devices.remote import CameraView, Command, CommandReply

__all__ = ["CameraWorker"]

log = logging.getLogger(__name__)
CLOCK_SLACK_S = 0.05  # an exposure stamped this much before its arm still belongs to it (clock granularity)
PUSH_MAX_BYTES = 1 << 20  # a file up to this size goes to the controller on the event socket, ahead of its event


@dataclass(frozen=True)
class _Expected:
    """One exposure an arm asked for, not yet delivered."""

    arm_id: str
    exposure: int
    label: tuple[str, str, int] | None  # (session, take, attempt) it is for
    armed_at: float  # time.time()
    wait_s: float


class CameraWorker:
    """Runs one camera's commands and downloads."""

    def __init__(self, camera: Camera, spool: Spool, events: EventLog) -> None:
        self.camera = camera
        self.spool = spool
        self.events = events
        self._commands = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"agent-{camera.id}")
        self._lock = threading.Condition()
        self._connected = False
        self._last_error: str | None = None
        self._expected: list[_Expected] = []  # oldest first
        self._held_arm: str | None = None  # a software arm: its downloads start once it is fired
        self._closed = False
        # A daemon thread, not a pool: a download blocked on a camera that never fired must not hold up the
        # agent's exit (what it waits for is on the card, and the controller shoots the take again).
        threading.Thread(target=self._download_loop, name=f"agent-{camera.id}-dl", daemon=True).start()

    def view(self) -> CameraView:
        with self._lock:
            return CameraView(connected=self._connected, armed_for=len(self._expected), last_error=self._last_error)

    def submit(self, command: Command) -> Future[CommandReply]:
        """Queue ``command`` on the camera's command thread; its answer (a failure is an answer, not a raise)."""
        return self._commands.submit(self._run, command)

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
        labels = [(str(session), str(take), int(attempt)) for session, take, attempt in args.get("labels", [])]
        if labels and isinstance(self.camera, ExposureLabels):  # as the engine tells a local camera, before arming
            self.camera.label_exposures(labels[0][0], [(take, attempt) for _, take, attempt in labels])
        self.camera.arm(command.timeout_s, exposures)
        armed_at, wait_s = time.time(), float(args.get("wait_s", 30.0))
        with self._lock:
            self._expected += [_Expected(command.cmd_id, k, labels[k] if k < len(labels) else None, armed_at, wait_s)
                               for k in range(exposures)]
            self._held_arm = command.cmd_id if args.get("software") else None
            self._lock.notify_all()
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
            with self._lock:
                self._held_arm = None
                self._lock.notify_all()
        return {"fired_at": fired_at, "late_s": max(0.0, fired_at - fire_at) if fire_at else 0.0}

    def _close(self, command: Command) -> dict[str, Any]:
        self.camera.close()
        with self._lock:
            self._connected = False
        return {}

    def _download_loop(self) -> None:
        while True:
            with self._lock:
                while not self._closed and (not self._expected or self._expected[0].arm_id == self._held_arm):
                    self._lock.wait()
                if self._closed:
                    return
                head = self._expected[0]
            try:
                files = self.camera.wait_for_files(head.wait_s)
            except DeviceError as exc:
                with self._lock:
                    self._last_error = str(exc)
                    failed = head in self._expected
                    self._expected = [e for e in self._expected if e is not head]
                if failed:
                    self._failed(head, exc.message)
                continue
            owner, superseded = self._owner(min((f.exposed_at for f in files), default=time.time()))
            for expected in superseded:
                self._failed(expected, "superseded: the camera was armed again before this exposure came")
            try:
                if owner is None:  # older than every arm waiting: kept on the spool, filed under no take
                    log.warning("%s delivered an exposure no arm waits for; spooled unclaimed", self.camera.id)
                    for camera_file in files:
                        self.spool.store(camera_file, self.camera.id, "unclaimed", 0, None)
                    continue
                spooled = [self.spool.store(f, self.camera.id, owner.arm_id, owner.exposure, owner.label)
                           for f in files]
            except SpoolError as exc:  # the files stay on the card, which is not cleared
                with self._lock:
                    self._last_error = str(exc)
                if owner is not None:
                    self._failed(owner, str(exc))
                continue
            payloads = {s.file_id: f.data for s, f in zip(spooled, files, strict=True) if s.size <= PUSH_MAX_BYTES}
            self.events.publish(payloads, kind="exposure", camera_id=self.camera.id, arm_id=owner.arm_id,
                                exposure=owner.exposure, files=spooled)

    def _owner(self, exposed_at: float) -> tuple[_Expected | None, list[_Expected]]:
        """The expectation an exposure taken at ``exposed_at`` answers (the newest arm made before it), and the
        older arms' expectations it supersedes; both leave the list."""
        with self._lock:
            arms = [e for e in self._expected if e.armed_at <= exposed_at + CLOCK_SLACK_S]
            if not arms:
                return None, []
            newest = arms[-1].arm_id
            owner = next(e for e in self._expected if e.arm_id == newest)
            first_of_newest = self._expected.index(owner)
            superseded = [e for e in self._expected[:first_of_newest] if e.arm_id != newest]
            self._expected = [e for e in self._expected if e is not owner and e not in superseded]
            return owner, superseded

    def _failed(self, expected: _Expected, error: str) -> None:
        self.events.publish(kind="exposure_failed", camera_id=self.camera.id, arm_id=expected.arm_id,
                            exposure=expected.exposure, error=error)

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
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        try:
            self.camera.close()
        except Exception:  # close never raises by protocol; a driver that does must not stop the others
            log.exception("closing %s", self.camera.id)
