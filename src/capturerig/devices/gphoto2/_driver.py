"""The ``gphoto2`` camera driver (entry point ``camera.gphoto2``): one worker process per camera.

Rig params (all optional): :class:`GPhoto2Params`.

``vcameradir`` runs libgphoto2's virtual camera (a Nikon D750 through the ptp2 driver) on the JPEG images of
a folder. It captures JPEG only (libgphoto2 2.5.34's vcamera makes each shot a ``GPH_nnnn.JPG`` copy of a JPEG
in the folder and announces nothing else), so a RAW or RAW+JPEG virtual camera fails each shot with the
missing-format error (libgphoto2 does list the folder's DNG files and serve them byte for byte, never as a
capture).

Every virtual camera reports serial ``0.1``, so the camera's identity is the folder's name: the rig's
``serial`` must equal it, and ``expect_serial`` (if given) is checked against the serial libgphoto2 reads
from the device. ``min_battery_percent`` and ``min_free_shots`` are checked by ``connect`` (so by
preflight) when the camera reports battery level and free card space.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import Field

from capturerig.config import CameraBodyProfile, CameraConfig, load_body_profile
from capturerig.devices._params import DriverParams
from capturerig.devices._registry import DriverContext
from capturerig.devices.gphoto2._fire import FireGroup, fire_group
from capturerig.devices.gphoto2._process import WorkerFailed, WorkerProcess
from capturerig.devices.protocols import CameraFile, CameraStatus, DeviceError

__all__ = ["GPhoto2Camera", "GPhoto2Params"]

log = logging.getLogger(__name__)
START_TIMEOUT_S = 20.0  # a fresh interpreter plus libgphoto2's camlibs, on a loaded machine
DEFAULT_CAPTURE_TIMEOUT_S = 30.0
DEFAULT_COMPANION_TIMEOUT_S = 10.0  # a RAW's USB download (~50 MB at USB 2 speed) plus the card write of its JPEG
DEFAULT_MIN_BATTERY_PERCENT = 15.0
DEFAULT_MIN_FREE_SHOTS = 20


class GPhoto2Params(DriverParams):
    """A gphoto2 camera's rig params (``driver: gphoto2``)."""

    port: str | None = Field(None, description="a libgphoto2 port (usb:001,005) tried first; the serial number "
                                               "decides which camera binds, so one that moves port is found again")
    vcameradir: str | None = Field(None, description="run libgphoto2's virtual camera on the JPEG images of this "
                                                     "folder (relative to the rig file; ~ expands)")
    expect_serial: str | None = Field(None, description="with vcameradir: the serial libgphoto2 must read from the "
                                                        "device, in quotes")
    capture_timeout_s: float = Field(DEFAULT_CAPTURE_TIMEOUT_S, gt=0.0, le=3600.0,
                                     description="how long a worker waits for a shot's files, seconds")
    companion_timeout_s: float = Field(DEFAULT_COMPANION_TIMEOUT_S, gt=0.0, le=600.0,
                                       description="with several formats (RAW+JPEG): how long after a shot's "
                                                   "first file the others may take to arrive, seconds")
    capturetarget: str = Field("card", description="where shots are written, in our terms (card: to the card, then "
                                                   "downloaded); the body profile maps it to the widget's value")
    min_battery_percent: float = Field(DEFAULT_MIN_BATTERY_PERCENT, ge=0.0, le=100.0,
                                       description="connect (so preflight) refuses a camera below this battery level")
    min_free_shots: int = Field(DEFAULT_MIN_FREE_SHOTS, ge=0,
                                description="connect refuses a card with room for fewer shots of the configured "
                                            "formats (at the body profile's size estimates)")


def _body(config: CameraConfig, context: DriverContext) -> CameraBodyProfile:
    try:
        body = load_body_profile(config.body, context.base_dir)
    except FileNotFoundError as exc:
        raise DeviceError(config.id, str(exc), "fix the camera's 'body' in the rig file") from exc
    unknown = [fmt for fmt in config.formats if fmt not in body.formats]
    if unknown:
        raise DeviceError(config.id, f"body profile {body.name} has no format {', '.join(unknown)} "
                                     f"(it has: {', '.join(body.formats)})", "fix the camera's formats in the rig")
    return body


class GPhoto2Camera:
    """A tethered camera run by libgphoto2 in its own worker process (params: :class:`GPhoto2Params`)."""

    Params = GPhoto2Params

    def __init__(self, config: CameraConfig, context: DriverContext) -> None:
        self._config = config
        params = GPhoto2Params.of(config, context.rig)
        self._body = _body(config, context)
        self._vcameradir: Path | None = None
        if params.vcameradir is not None:
            path = Path(params.vcameradir).expanduser()
            self._vcameradir = path if path.is_absolute() else context.base_dir / path
        self._bind_serial: str | None = params.expect_serial if self._vcameradir else config.serial
        self._port = params.port or None
        self._capture_timeout_s = params.capture_timeout_s
        self._companion_timeout_s = params.companion_timeout_s
        self._capturetarget = params.capturetarget
        self._min_battery = params.min_battery_percent
        shot_bytes = sum(self._body.formats[fmt].bytes_estimate for fmt in config.formats)
        self._min_free_bytes = int(params.min_free_shots * shot_bytes)
        self._widgets = {name: spec.model_dump() for name, spec in self._body.widgets.items()}
        self._extensions = {fmt: self._body.formats[fmt].extension for fmt in config.formats}
        self._lock = threading.RLock()
        self._worker: WorkerProcess | None = None
        self._connected = False
        self._settings: dict[str, str] = {}
        self._pending_fire: int | None = None
        self._group: FireGroup = fire_group(context)
        self.restarts = 0
        self.last_status: CameraStatus | None = None

    @property
    def id(self) -> str:
        """The camera id from the rig file."""
        return self._config.id

    @property
    def fire_group(self) -> FireGroup:
        """The software-trigger group this camera fires with (dispatch spreads are kept there)."""
        return self._group

    @property
    def worker_pid(self) -> int | None:
        """The current worker's process id (None before connect or after a crash)."""
        worker = self._worker
        return worker.pid if worker is not None and worker.alive() else None

    # -- worker lifecycle ----------------------------------------------------------------------------
    def _check_vcameradir(self) -> None:
        folder = self._vcameradir
        if folder is None:
            return
        images = [p for p in folder.glob("*") if p.suffix.lower() in (".jpg", ".jpeg")] if folder.is_dir() else []
        if not images:
            raise DeviceError(self.id, f"virtual camera folder {folder} has no JPEG images",
                              "fill it first, e.g. python -m capturerig_sim.vcamera RIG_FILE")

    def _start(self, timeout_s: float) -> WorkerProcess:
        """A connected worker: the current one, else a new one bound by serial with the settings re-applied."""
        if self._worker is not None and self._worker.alive():
            return self._worker
        if self._worker is not None:
            self.restarts += 1
            log.warning("%s: restarting its camera worker (restart %d)", self.id, self.restarts)
        self._pending_fire = None
        self._check_vcameradir()
        worker = WorkerProcess(self.id, str(self._vcameradir) if self._vcameradir else None)
        try:
            status = worker.call("connect", max(timeout_s, START_TIMEOUT_S), serial=self._bind_serial,
                                 port=self._port, widgets=self._widgets, extensions=self._extensions,
                                 capturetarget=self._capturetarget)
            if self._settings:
                worker.call("apply", timeout_s, settings=self._settings)
        except DeviceError:
            worker.stop()  # unbound: the next request binds afresh (the camera may be back on another port)
            raise
        self._worker = worker
        for note in status.get("notes", []):
            log.info("%s: %s", self.id, note)
        self.last_status = self._status(status)
        return worker

    def _status(self, raw: Mapping[str, Any]) -> CameraStatus:
        serial = self._vcameradir.name if self._vcameradir is not None else str(raw["serial"])
        return CameraStatus(serial=serial, model=str(raw["model"]), battery_percent=raw.get("battery_percent"),
                            free_bytes=raw.get("free_bytes"))

    def _call(self, op: str, timeout_s: float, **args: Any) -> Any:
        with self._lock:
            if not self._connected:
                raise DeviceError(self.id, f"cannot {op}: the camera is not connected", "connect it first")
            worker = self._start(timeout_s)
            try:
                return worker.call(op, timeout_s, **args)
            except WorkerFailed as exc:
                if exc.fatal:
                    worker.kill()
                raise

    # -- Camera protocol -----------------------------------------------------------------------------
    def connect(self, timeout_s: float) -> CameraStatus:
        """Start the worker and bind the camera by serial number; returns its identity, battery and free card."""
        with self._lock:
            self._connected = True
            try:
                worker = self._start(timeout_s)
                raw = worker.call("status", timeout_s)
            except DeviceError:
                self._connected = False
                raise
            self.last_status = self._status(raw)
        self._check_reserves(self.last_status)
        return self.last_status

    def _check_reserves(self, status: CameraStatus) -> None:
        battery, free = status.battery_percent, status.free_bytes
        if battery is not None and battery < self._min_battery:
            raise DeviceError(self.id, f"battery at {battery:.0f}% (the rig asks for at least "
                                       f"{self._min_battery:.0f}%)", "charge or swap the battery, or use a "
                                                                     "mains adapter (dummy battery)")
        if free is not None and free < self._min_free_bytes:
            raise DeviceError(self.id, f"card has {free / 1e6:.0f} MB free, less than "
                                       f"{self._min_free_bytes / 1e6:.0f} MB (min_free_shots shots)",
                              "download and clear the card, or swap it")

    def apply_settings(self, settings: Mapping[str, str], timeout_s: float) -> dict[str, str]:
        """Write settings and return them as read back; a setting or value the camera lacks raises DeviceError."""
        wanted = {str(k): str(v) for k, v in settings.items()}
        read_back: dict[str, str] = self._call("apply", timeout_s, settings=wanted)
        with self._lock:
            self._settings.update(wanted)
        drift = {k: v for k, v in read_back.items() if v != wanted.get(k)}
        if drift:
            log.warning("%s: settings drift (asked %s, reads back %s)", self.id,
                        {k: wanted[k] for k in drift}, drift)
        return read_back

    def arm(self, timeout_s: float, exposures: int = 1) -> None:
        """Check the worker is up (restarting it if needed), drop stale events, join the next fire batch.

        A burst on hardware triggers needs nothing more: the body announces each exposure's files in order
        and every ``wait_for_files`` collects the next set.
        """
        with self._lock:
            if self._pending_fire is not None:  # a shot nobody collected: its worker state is unknown
                self._abandon("an earlier shot was never collected")
            self._call("arm", timeout_s)
        self._group.arm(self.id, self._dispatch_fire)

    def _dispatch_fire(self) -> Callable[[], None]:
        """Called by the fire group: encode "fire now" and return the write that sends it (no wait)."""
        worker = self._worker
        if worker is None or not worker.alive():
            self._pending_fire = -1  # collected as an error by wait_for_files
            return lambda: None
        request_id, data = worker.prepare("fire", collect_timeout_s=self._capture_timeout_s,
                                          companion_timeout_s=self._companion_timeout_s)

        def send() -> None:
            try:
                worker.send_prepared("fire", data)
                self._pending_fire = request_id
            except DeviceError as exc:
                log.warning("%s: %s", self.id, exc)
                self._pending_fire = -1

        return send

    def prepare_trigger(self, timeout_s: float) -> Callable[[], None]:
        """Start the worker if needed and encode "fire now"; the returned call is one pipe write.

        The engine fires every camera's call back to back from one thread, so this camera leaves the
        driver's own fire group (which batches ``trigger_capture`` calls instead).
        """
        with self._lock:
            if not self._connected:
                raise DeviceError(self.id, "cannot capture: the camera is not connected", "connect it first")
            self._start(timeout_s)
        self._group.withdraw(self.id)
        return self._dispatch_fire()

    def trigger_capture(self, timeout_s: float) -> None:
        """Expose by software: fires together with every other armed camera of the rig (see ``_fire``)."""
        with self._lock:
            if not self._connected:
                raise DeviceError(self.id, "cannot capture: the camera is not connected", "connect it first")
            self._start(timeout_s)
        self._group.trigger(self.id, self._dispatch_fire)

    def _abandon(self, why: str) -> None:
        log.warning("%s: %s; restarting its worker", self.id, why)
        if self._worker is not None:
            self._worker.kill()
        self._pending_fire = None

    def wait_for_files(self, timeout_s: float) -> list[CameraFile]:
        """The files of the last exposure, one per configured format in the rig's order, downloaded in the
        worker as they arrive.

        A RAW+JPEG body announces its second file as an event after the capture: the worker waits for it at
        most ``companion_timeout_s`` after the first, then raises DeviceError naming the file that came and
        the format that did not.
        """
        self._group.flush(self.id)
        with self._lock:
            if not self._connected:
                raise DeviceError(self.id, "cannot download: the camera is not connected", "connect it first")
            worker = self._start(timeout_s) if self._pending_fire is None else self._worker
            request_id, self._pending_fire = self._pending_fire, None
            if request_id == -1 or worker is None:
                raise DeviceError(self.id, "the camera worker was gone when the fire message went out",
                                  "the take is retried with a fresh worker")
            if request_id is None:  # armed for a hardware trigger: listen for what the camera announces
                request_id = worker.send("collect", collect_timeout_s=min(timeout_s, self._capture_timeout_s),
                                         companion_timeout_s=self._companion_timeout_s)
            try:
                result = worker.wait(request_id, "download", timeout_s)
            except WorkerFailed as exc:
                if exc.fatal:
                    worker.kill()
                raise
        if "received_at" in result:
            self._group.received(self.id, float(result["received_at"]))
        for name in result.get("ignored", []):
            log.warning("%s: the camera wrote %s, which is not a configured format (left on the card)", self.id,
                        name)
        return [CameraFile(name=f["name"], format=f["format"], data=f["data"], exposed_at=f["exposed_at"])
                for f in result["files"]]

    def delete_files(self, names: Sequence[str], timeout_s: float) -> None:
        """Delete files from the card (the engine calls this only after they are fsynced, hashed, journalled)."""
        if names:
            self._call("delete", timeout_s, names=list(names))

    def status(self, timeout_s: float) -> CameraStatus:
        """Battery and free card space as the camera reports them now."""
        status = self._status(self._call("status", timeout_s))
        self.last_status = status
        return status

    def close(self) -> None:
        """Release the camera and stop the worker; never raises."""
        self._group.leave(self.id)
        with self._lock:
            self._connected = False
            worker, self._worker = self._worker, None
            self._pending_fire = None
        if worker is not None:
            worker.stop()

    def __repr__(self) -> str:
        return f"GPhoto2Camera({self.id!r}, pid={self.worker_pid}, restarts={self.restarts})"
