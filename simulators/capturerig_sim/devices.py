"""Sim drivers at the device-protocol level: cameras that render the virtual studio, lights, trigger, table.

Registered as the ``sim`` driver of every device kind (entry points ``capturerig.drivers``); a rig selects
them with ``driver: sim`` and ``params: {studio: NAME}`` (default ``default``). Every modelled latency is
multiplied by the studio's time scale; timeouts are wall-clock seconds, as the engine gives them.

Driver params (all optional): :class:`SimCameraParams` for a camera, :class:`SimParams` (``studio``) for a
light output, trigger or turntable.
"""

from __future__ import annotations

import functools
import hashlib
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pydantic import Field

from capturerig.config import (
    CameraConfig,
    DeviceConfig,
    LightOutputConfig,
    RigConfig,
    TurntableConfig,
    load_body_profile,
)
from capturerig.devices import CameraFile, CameraStatus, DeviceError, DeviceTimeout, DriverContext, DriverParams
from capturerig.lighting import UniverseKey
from capturerig_sim._faults import SLOW_USB_FACTOR, SLOW_USB_STALL_S
from capturerig_sim._image_faults import (
    OPTICAL_FAULTS,
    add_sensor_noise,
    apply_optical_faults,
    shutter_settings,
    take_picture_faults,
)
from capturerig_sim._latency import trigger_latency_ms
from capturerig_sim._ledger import record_delivered, record_erased
from capturerig_sim._props import PlanarProp
from capturerig_sim._response import DEFAULT_SETTINGS, SETTING_KEYS, ExposureSettings
from capturerig_sim.raw_render import encode_raw_card, render_raw
from capturerig_sim.render import encode_jpeg, noise_sigma, render_image
from capturerig_sim.render_cache import render_cache_for, render_key
from capturerig_sim.studio import (
    DEFAULT_CARD_BYTES,
    CameraState,
    ExposureRecord,
    ExposureTiming,
    StudioRole,
    VirtualStudio,
    get_studio,
)
from capturerig_sim.vcamera import make_test_card

__all__ = [
    "DMX_FRAME_PERIOD_S",
    "SIM_CAMERA_MODEL",
    "SimCamera",
    "SimCameraParams",
    "SimLightOutput",
    "SimParams",
    "SimTrigger",
    "SimTurntable",
    "garble",
]

SIM_CAMERA_MODEL = "capturerig-sim"
DMX_FRAME_PERIOD_S = 1.0 / 44.0  # a full 512-channel DMX512 frame at the fastest standard refresh
_ENCODERS: Mapping[str, Callable[[npt.NDArray[np.uint8]], bytes]] = {"jpeg": encode_jpeg}
RAW_FORMATS = frozenset({"raw"})  # DNG, rendered from the linear light, not from the 8-bit image
SIM_FORMATS = (*_ENCODERS, *sorted(RAW_FORMATS))


_repeat_cards: dict[tuple[int, int, str, str], bytes] = {}
_repeat_lock = threading.Lock()


def _repeat_card(camera: CameraConfig, file_format: str) -> bytes:
    width, height = camera.intrinsics.width, camera.intrinsics.height
    with _repeat_lock:  # 64 cameras fire at once: make the card once, not 64 times
        # A RAW card carries its camera's colour (from the serial); an encoded image is the same for all.
        key = (width, height, file_format, camera.serial if file_format in RAW_FORMATS else "")
        if key not in _repeat_cards:
            card = make_test_card("simulation.images: repeat", 0, (width, height))
            _repeat_cards[key] = (encode_raw_card(card, camera) if file_format in RAW_FORMATS
                                  else _ENCODERS[file_format](card))
        return _repeat_cards[key]


def _repeat_files(camera: CameraConfig) -> list[tuple[str, bytes]]:
    """What ``simulation.images: repeat`` delivers: one test card per image size, encoded once per process."""
    return [(fmt, _repeat_card(camera, fmt)) for fmt in camera.formats]


def garble(data: bytes | bytearray | memoryview) -> bytes:
    """What a broken transfer delivers: the first half of the file with its start-of-image marker lost.

    Truncation alone is not enough: decoders fill a cut-off JPEG with grey and still return an image.
    """
    return b"\x00\x00" + bytes(data[2 : max(2, len(data) // 2)])


def _noise_seed(serial: str, seq: int) -> int:
    # hashlib, not hash(): str hashes are salted per process and a rerun must give the same pixels.
    return int.from_bytes(hashlib.sha256(f"noise:{serial}:{seq}".encode()).digest()[:8], "little")


@dataclass(frozen=True)
class _RenderInputs:
    """Everything one exposure's render reads besides the rig: the render cache's key is made of these."""

    camera: CameraConfig
    frames: Mapping[UniverseKey, bytes]
    turntable_deg: float
    settings: Mapping[str, str]
    faults: frozenset[str]
    noise_seed: int
    props: Sequence[PlanarProp]
    subject_present: bool
    room_light: float


def _render_files(rig: RigConfig, base_dir: Path, inputs: _RenderInputs) -> list[tuple[str, bytes]]:
    """One exposure's files as (format, bytes), rendered from ``inputs`` alone (and the rig)."""
    camera, frames, turntable_deg, settings = inputs.camera, inputs.frames, inputs.turntable_deg, inputs.settings
    faults, noise_seed, props = inputs.faults, inputs.noise_seed, inputs.props
    subject_present, room_light = inputs.subject_present, inputs.room_light
    optical = faults & OPTICAL_FAULTS
    files: list[tuple[str, bytes]] = []
    image: npt.NDArray[np.uint8] | None = None
    for fmt in camera.formats:  # RAW+JPEG: both files of one exposure, as the body writes them
        if fmt in RAW_FORMATS:  # (the optical faults act on the JPEG only)
            files.append((fmt, render_raw(camera, rig, frames, turntable_deg, settings, base_dir,
                                          noise_seed=noise_seed, props=props, subject_present=subject_present,
                                          room_light=room_light)))
            continue
        if image is None:
            image = render_image(camera, rig, frames, turntable_deg, settings, base_dir,
                                 noise_seed=None if optical else noise_seed, props=props,
                                 subject_present=subject_present, room_light=room_light)
            if optical:  # optics first, then the sensor's noise on top, as a body records it
                iso = ExposureSettings.from_settings({**DEFAULT_SETTINGS, **camera.settings, **settings}).iso
                image = add_sensor_noise(apply_optical_faults(image, optical, noise_seed), noise_sigma(iso),
                                         noise_seed)
        files.append((fmt, _ENCODERS[fmt](image)))
    return files


class SimParams(DriverParams):
    """A sim light output's, trigger's or turntable's rig params (``driver: sim``)."""

    studio: str = Field("default", min_length=1, description="the virtual studio the device lives in, by name")


class SimCameraParams(SimParams):
    """A sim camera's rig params (``driver: sim``)."""

    serial_reported: str | None = Field(None, description="what connect reports instead of the rig's serial "
                                                          "(for preflight's serial check)")
    stuck_settings: dict[str, str] = Field(
        default_factory=dict, description="settings the camera silently keeps whatever is written (for "
                                          "preflight's read-back check), e.g. {iso: '800'}")
    card_bytes: int = Field(DEFAULT_CARD_BYTES, ge=0, description="the card's capacity, bytes")
    battery_percent: float = Field(100.0, ge=0.0, le=100.0, description="the battery level connect reports")


def _studio_role(context: DriverContext) -> StudioRole:
    """An agent's device mirrors the studio bus; the controller's publishes it when the rig has hosts (the
    rules: :mod:`capturerig_sim.studio_bus`)."""
    if context.host is not None:
        return "mirror"
    return "publisher" if context.rig.hosts else "local"  # a rig without hosts: one host, one studio


class _SimDevice:
    """What every sim driver shares: its config, its studio and the injected ``disconnect`` fault."""

    _what = "device"
    Params = SimParams

    def __init__(self, config: DeviceConfig, context: DriverContext, params: SimParams | None = None) -> None:
        self._config = config
        self._context = context
        studio = (params if params is not None else SimParams.of(config, context.rig)).studio
        self._studio: VirtualStudio = get_studio(studio, context.rig, context.base_dir, _studio_role(context))
        self._open = False

    @property
    def id(self) -> str:
        """The device id from the rig file."""
        return self._config.id

    @property
    def studio(self) -> VirtualStudio:
        """The virtual studio this device lives in."""
        return self._studio

    def _check_connection(self) -> None:
        if self._studio.take_fault(self.id, "disconnect"):
            raise DeviceError(self.id, f"the {self._what} stopped answering (disconnected)",
                              "check its cable and power, then retry")

    def _require_open(self, action: str) -> None:
        if not self._open:
            raise DeviceError(self.id, f"cannot {action}: the {self._what} is not open",
                              "open (connect) it first")
        self._check_connection()

    def _sleep_or_timeout(self, studio_seconds: float, timeout_s: float, what: str, hint: str) -> None:
        """Take ``studio_seconds`` of modelled time; past ``timeout_s`` (wall) sleep that long and time out."""
        wall = self._studio.wall_seconds(studio_seconds)
        if wall > timeout_s:
            time.sleep(max(0.0, timeout_s))
            raise DeviceTimeout(self.id, f"{what} did not finish within {timeout_s:g} s", hint)
        if wall > 0.0:
            time.sleep(wall)


class SimCamera(_SimDevice):
    """A tethered camera that renders the virtual studio (params: :class:`SimCameraParams`)."""

    _what = "camera"
    Params = SimCameraParams

    def __init__(self, config: CameraConfig, context: DriverContext) -> None:
        params = SimCameraParams.of(config, context.rig)
        super().__init__(config, context, params)
        self._camera = config
        self._params = params
        self._body = load_body_profile(config.body, context.base_dir)
        capacity = params.card_bytes
        self._state: CameraState = self._studio.camera_state(config.id, capacity)
        with self._studio.lock:
            self._state.capacity_bytes = capacity  # the card the rig now describes (files on it stay)
        self._stuck = dict(params.stuck_settings)
        try:  # a malformed simulation.render_cache is refused when the camera is made, not at its first shot
            render_cache_for(self._studio.rig, self._studio.base_dir)
        except ValueError as exc:
            raise DeviceError(self.id, str(exc), "fix the rig file") from exc
        self._previous_files: list[tuple[str, bytes]] | None = None  # what a ``stale_file`` fault hands over

    def connect(self, timeout_s: float) -> CameraStatus:
        """Open the camera; raises DeviceError when it is 'unplugged' or asks for a format it cannot make."""
        if self._studio.take_fault(self.id, "disconnect"):
            raise DeviceError(self.id, "camera not found on USB", "check the cable, the hub and that it is on")
        unsupported = [fmt for fmt in self._camera.formats if fmt not in SIM_FORMATS]
        if unsupported:
            raise DeviceError(self.id, f"the sim camera cannot record {', '.join(unsupported)}",
                              f"use formats: {', '.join(SIM_FORMATS)}")
        self._open = True
        with self._studio.lock:
            free = self._state.free_bytes
        reported = self._params.serial_reported
        return CameraStatus(serial=self._camera.serial if reported is None else reported,
                            model=SIM_CAMERA_MODEL, battery_percent=self._params.battery_percent,
                            free_bytes=free)

    def apply_settings(self, settings: Mapping[str, str], timeout_s: float) -> dict[str, str]:
        """Write settings and return them as read back (a stuck setting reads back its stuck value)."""
        self._require_open("apply settings")
        unknown = [key for key in settings if key not in SETTING_KEYS]
        if unknown:
            raise DeviceError(self.id, f"unknown setting {', '.join(repr(k) for k in unknown)} "
                                       f"(this camera has: {', '.join(SETTING_KEYS)})",
                              "fix the camera settings in the rig or plan")
        with self._studio.lock:
            candidate = dict(self._state.settings)
            candidate.update({key: str(value).strip() for key, value in settings.items()})
            candidate.update({key: value for key, value in self._stuck.items() if key in settings})
            problem = "imageformat: cannot be empty" if not candidate["imageformat"] else None
            try:
                ExposureSettings.from_settings(candidate)
            except ValueError as exc:
                problem = str(exc)
            if problem:
                raise DeviceError(self.id, f"refused setting {problem}", "use a value this camera offers")
            self._state.settings = candidate
            return {key: candidate[key] for key in settings}

    def _bytes_needed(self) -> int:
        return sum(self._body.formats[fmt].bytes_estimate for fmt in self._camera.formats
                   if fmt in self._body.formats)

    def _check_busy(self, action: str) -> None:
        if self._studio.take_fault(self.id, "busy"):
            raise DeviceError(self.id, f"camera busy, cannot {action} (still processing the last shot)",
                              "wait a moment and retry")

    def _timing(self, settings: Mapping[str, str]) -> ExposureTiming:
        body = self._body
        return ExposureTiming(latency_s=trigger_latency_ms(self._camera.serial, body.trigger_latency_ms) / 1000.0,
                              shutter_s=ExposureSettings.from_settings(settings).shutter_s,
                              min_interval_s=0.0 if body.burst_fps is None else 1.0 / body.burst_fps,
                              buffer=body.burst_frames)

    def arm(self, timeout_s: float, exposures: int = 1) -> None:
        """Expose on each of the next ``exposures`` trigger pulses naming this camera (a burst: the body
        buffers them, ``wait_for_files`` delivers one exposure per call, oldest first)."""
        self._require_open("arm")
        self._check_busy("arm")
        with self._studio.lock:
            settings = dict(self._state.settings)
        self._studio.arm(self.id, settings, self._bytes_needed(), exposures, self._timing(settings))

    def label_exposures(self, session_id: str, takes: Sequence[tuple[str, int]]) -> None:
        """The next arm's exposures, in order, are for these (take id, attempt): the studio records each
        exposure's take (and its technician clears the rig for the clean plates)."""
        self._studio.label_exposures(self.id, [take_id for take_id, _ in takes])

    def trigger_capture(self, timeout_s: float) -> None:
        """Expose now by software (armed or not); a full card raises DeviceError here."""
        self.prepare_trigger(timeout_s)()

    def prepare_trigger(self, timeout_s: float) -> Callable[[], None]:
        """Check the camera can capture and arm it; the returned call exposes it now (the engine's fan-out)."""
        self._require_open("capture")
        self._check_busy("capture")
        settings = dict(self._state.settings)
        self._studio.arm(self.id, settings, self._bytes_needed(), 1, self._timing(settings))
        return self._expose_now

    def _expose_now(self) -> None:
        with self._studio.lock:
            self._studio.fire([self.id])
            record = self._studio.pending_exposure(self.id)
        if record is not None and record.error:
            self._studio.complete_exposure(record)
            raise DeviceError(self.id, f"capture failed: {record.error}", "download and delete files, or swap the card")

    def _write_to_card(self, record: ExposureRecord) -> tuple[CameraFile, ...]:
        """Render the exposure and write its files to the card, once per exposure."""
        with self._studio.lock:
            if self._state.written_seq == record.seq:
                return self._state.written
        encoded = self._encoded_exposure(record)
        latency_ms = trigger_latency_ms(self._camera.serial, self._body.trigger_latency_ms)  # per-body spread
        exposed_at = record.fired_at + self._studio.wall_seconds(latency_ms / 1000.0)
        files = []
        extensions = [self._body.formats[fmt].extension.upper() if fmt in self._body.formats else fmt
                      for fmt, _ in encoded]
        with self._studio.lock:
            state = self._state
            # One number per exposure, as a body names a RAW+JPEG pair (IMG_0007.DNG, IMG_0007.JPG); numbers
            # wrap after 9999, as on a real body, skipping numbers whose names are in use.
            for _ in range(9999):
                state.counter = state.counter % 9999 + 1
                names = [f"IMG_{state.counter:04d}.{extension}" for extension in extensions]
                if not any(name in state.files for name in names):
                    break
            else:
                raise DeviceError(self.id, "every file number is in use on the card",
                                  "download and delete files from the card")
            for (fmt, data), name in zip(encoded, names, strict=True):
                state.files[name] = data
                files.append(CameraFile(name=name, format=fmt, data=data, exposed_at=exposed_at))
            state.written_seq, state.written = record.seq, tuple(files)
        return tuple(files)

    def _encoded_exposure(self, record: ExposureRecord) -> list[tuple[str, bytes]]:
        """The exposure's files as (format, bytes): rendered, or a fixed test card when the rig's
        ``simulation.images`` is ``repeat`` (engine benchmarks at 64-128 cameras, where ray-casting every
        image on the host's cores would hide the engine's own cost: a real camera renders nothing there).
        Picture faults (:mod:`capturerig_sim._image_faults`) are taken once per exposure here. With the rig's
        ``simulation.render_cache`` a render is looked up on disk first (:mod:`capturerig_sim.render_cache`)."""
        if self._studio.rig.simulation.get("images", "rendered") == "repeat":
            return _repeat_files(self._camera)
        faults = take_picture_faults(self._studio, self.id, self._previous_files is not None)
        if "stale_file" in faults and self._previous_files is not None:
            return list(self._previous_files)  # the body handed over its last files again: same bytes
        try:
            files = self._render_exposure(record, faults)
        except ValueError as exc:
            raise DeviceError(self.id, f"cannot expose: {exc}", "fix the camera settings") from exc
        self._previous_files = files
        return files

    def _render_exposure(self, record: ExposureRecord, faults: frozenset[str]) -> list[tuple[str, bytes]]:
        frames, _ = self._studio.exposure_light(record)
        if "silent_fixture" in faults:
            frames = self._studio.neighbour_light(record, -1) or frames
        if "late_fire" in faults:  # the next state's light, or the fixtures dark when none came yet
            frames = self._studio.neighbour_light(record, +1) or {key: bytes(len(frame))
                                                                  for key, frame in frames.items()}
        noise_seed = _noise_seed(self._camera.serial, record.seq)
        settings: Mapping[str, str] = record.settings
        if "wrong_shutter" in faults:
            settings = shutter_settings(settings, noise_seed, 1 / 125)
        rig, base_dir = self._studio.rig, self._studio.base_dir
        inputs = _RenderInputs(self._camera, frames, record.turntable_deg, settings, faults, noise_seed,
                               record.props, record.subject_present, record.room_light)
        render = functools.partial(_render_files, rig, base_dir, inputs)
        cache = render_cache_for(rig, base_dir)
        if cache is None:
            return render()
        try:
            return cache.files(render_key(rig, base_dir, self.id, inputs), self._camera.formats, render)
        except OSError as exc:
            raise DeviceError(self.id, f"simulation.render_cache {cache.folder}: {exc}",
                              "check the render cache folder exists and is writable") from exc

    def wait_for_files(self, timeout_s: float) -> list[CameraFile]:
        """The files of the last exposure, after the modelled trigger, exposure, card-write and USB time.

        Raises DeviceError when the camera was not armed and fired (or the exposure failed), DeviceTimeout
        when the modelled time runs past ``timeout_s`` (the files then stay on the card and pending).
        """
        self._require_open("download")
        record = self._studio.wait_for_exposure(self.id, timeout_s)
        if record is None:
            if self.id in self._studio.armed():
                raise DeviceTimeout(self.id, f"armed but not triggered within {timeout_s:g} s",
                                    "check the trigger cable and that the trigger fired this camera")
            raise DeviceError(self.id, "no exposure to download: the camera was not armed and triggered",
                              "arm it before the trigger fires")
        if record.error:
            self._studio.complete_exposure(record)
            raise DeviceError(self.id, f"exposure failed: {record.error}",
                              "download and delete files, or swap the card")
        files = self._write_to_card(record)
        if self._studio.take_fault(self.id, "disconnect_mid_download"):
            raise DeviceError(self.id, "the camera dropped off USB during the download",
                              "check its cable and hub; the files are still on the card")
        if self._studio.take_fault(self.id, "slow_download"):
            if self._studio.time_scale > 0.0:
                time.sleep(max(0.0, timeout_s))
            raise DeviceTimeout(self.id, f"download did not finish within {timeout_s:g} s",
                                "check the USB cable and hub; the files are still on the card")
        total_bytes = sum(len(f.data) for f in files)
        if self._studio.take_fault(self.id, "slow_usb"):  # a fraction of the bandwidth, after a re-enumeration
            total_bytes = int(total_bytes * SLOW_USB_FACTOR + SLOW_USB_STALL_S * self._body.download_mbytes_per_s * 1e6)
        ready_at = self._ready_at(record, total_bytes)
        remaining = ready_at - time.monotonic()
        if remaining > timeout_s:
            time.sleep(max(0.0, timeout_s))
            raise DeviceTimeout(self.id, f"download did not finish within {timeout_s:g} s "
                                         f"(needs about {remaining:.2f} s more)",
                                "give the camera a longer timeout; the files are still on the card")
        if remaining > 0.0:
            time.sleep(remaining)
        delivered = [CameraFile(f.name, f.format, garble(f.data), f.exposed_at)
                     if self._studio.take_fault(self.id, "corrupt_download") else f for f in files]
        if self._studio.take_fault(self.id, "truncated_download"):
            delivered = [CameraFile(f.name, f.format, f.data[: len(f.data) * 2 // 3], f.exposed_at)
                         for f in delivered]
        for handed, on_card in zip(delivered, files, strict=True):  # the sim's own record, for chaos checks
            record_delivered(self.id, handed.name, handed.data, on_card.data, record.seq)
        self._studio.complete_exposure(record)
        return delivered

    def _ready_at(self, record: ExposureRecord, total_bytes: int) -> float:
        """When ``record``'s files are downloaded (time.monotonic()): the card writes one exposure after the
        other once the shutter closed, and the USB link carries one download after the other."""
        studio, body = self._studio, self._body
        closed = record.exposure_end
        if closed <= 0.0:  # a record without its window: the body's nominal latency and the set shutter
            shutter = ExposureSettings.from_settings(record.settings).shutter_s
            closed = record.fired_monotonic + studio.wall_seconds(body.trigger_latency_ms / 1000.0 + shutter)
        with studio.lock:  # USB bandwidth is per camera here; sharing it per hub is a later refinement
            state = self._state
            if state.ready[0] == record.seq:
                return state.ready[1]
            written = max(closed, state.card_busy_until) + studio.wall_seconds(body.card_write_ms / 1000.0)
            delivered = max(written, state.usb_busy_until) + studio.wall_seconds(
                total_bytes / (body.download_mbytes_per_s * 1e6))
            state.card_busy_until, state.usb_busy_until = written, delivered
            state.ready = (record.seq, delivered)
        return delivered

    def delete_files(self, names: Sequence[str], timeout_s: float) -> None:
        """Delete files from the card; all or nothing (a name not on the card raises DeviceError)."""
        self._require_open("delete files")
        with self._studio.lock:
            missing = [name for name in names if name not in self._state.files]
            if missing:
                raise DeviceError(self.id, f"no such file on the card: {', '.join(missing)}",
                                  "list the card; the file may be deleted already")
            for name in names:
                record_erased(self.id, name, self._state.files.pop(name))

    def card_files(self) -> dict[str, int]:
        """Files on the simulated card: name -> size in bytes (for tests and the devices panel)."""
        with self._studio.lock:
            return {name: len(data) for name, data in self._state.files.items()}

    def close(self) -> None:
        """Release the camera (disarming it); never raises."""
        self._open = False
        self._studio.disarm(self.id)


class SimLightOutput(_SimDevice):
    """A DMX output whose frames the studio's fixtures (and so the rendered images) obey."""

    _what = "light output"

    def __init__(self, config: LightOutputConfig, context: DriverContext) -> None:
        super().__init__(config, context)
        self._universes = config.universes
        self._dropped = False  # a frame the silent node never passed on (``light_silent``)
        self._on_wire_at = 0.0  # time.monotonic() when the last frame handed over is out on the wire

    def open(self, timeout_s: float) -> None:
        """Open the output; raises DeviceError when a ``disconnect`` fault is pending."""
        self._check_connection()
        self._open = True

    def set_universe(self, universe: int, levels: bytes) -> None:
        """Replace the frame of ``universe``; it is on the wire within one frame period.

        Raises ValueError for a universe this output does not carry or a frame that is not 512 levels.
        """
        if universe not in self._universes:
            raise ValueError(f"{self.id}: universe {universe} is not carried by this output "
                             f"(carries {', '.join(map(str, self._universes))})")
        if len(levels) != 512:
            raise ValueError(f"{self.id}: universe {universe} needs exactly 512 levels, got {len(levels)}")
        self._require_open("send")
        if self._studio.take_fault(self.id, "light_silent"):
            self._dropped = True
            return
        self._studio.set_frame(self.id, universe, bytes(levels), on_wire_after_s=DMX_FRAME_PERIOD_S)
        self._on_wire_at = time.monotonic() + self._studio.wall_seconds(DMX_FRAME_PERIOD_S)

    def wait_sent(self, timeout_s: float) -> None:
        """Block until the frames handed over are on the wire (one frame period after the last of them)."""
        self._require_open("wait for frames")
        if self._dropped:
            self._dropped = False
            raise DeviceTimeout(self.id, "the light node stopped acknowledging frames (silent node)",
                                "check the node's power and network link")
        left = self._on_wire_at - time.monotonic()
        if left > timeout_s:
            time.sleep(max(0.0, timeout_s))
            raise DeviceTimeout(self.id, f"sending the DMX frame did not finish within {timeout_s:g} s",
                                "check the DMX interface")
        if left > 0.0:
            time.sleep(left)

    def close(self) -> None:
        """Stop sending; fixtures hold their last look (the common DMX-loss setting). Never raises."""
        self._open = False


class SimTrigger(_SimDevice):
    """A trigger box wired to every camera of the studio's rig."""

    _what = "trigger box"

    def open(self, timeout_s: float) -> None:
        """Open the trigger box; raises DeviceError when a ``disconnect`` fault is pending."""
        self._check_connection()
        self._open = True

    def fire(self, camera_ids: Sequence[str], timeout_s: float) -> float:
        """Pulse the cameras' shutters together; unarmed cameras ignore it. Returns the pulse time.

        Raises DeviceError for a camera id this studio's rig does not have (no port is wired to it).
        """
        self._require_open("fire")
        known = {camera.id for camera in self._studio.rig.cameras}
        unknown = [camera_id for camera_id in camera_ids if camera_id not in known]
        if unknown:
            raise DeviceError(self.id, f"no trigger port wired to {', '.join(unknown)}",
                              "fix the camera ids or the rig file")
        if self._studio.take_fault(self.id, "trigger_reset"):
            raise DeviceError(self.id, "the trigger box reset instead of firing (it rebooted)",
                              "check its power supply; the cameras are still armed")
        fired_at, _ = self._studio.pulse(camera_ids)  # on a multihost rig, other hosts' cameras too
        return fired_at

    def close(self) -> None:
        """Release the trigger box; never raises."""
        self._open = False


class SimTurntable(_SimDevice):
    """A turntable that turns the studio's subject; moves take |delta| / speed of modelled time."""

    _what = "turntable"

    def __init__(self, config: TurntableConfig, context: DriverContext) -> None:
        super().__init__(config, context)
        self._table = config

    def open(self, timeout_s: float) -> None:
        """Open the table's port; raises DeviceError when a ``disconnect`` fault is pending."""
        self._check_connection()
        self._open = True

    def _move(self, target_deg: float, timeout_s: float) -> float:
        duration = abs(target_deg - self._studio.turntable_deg) / self._table.speed_deg_per_s
        # The table keeps turning after a timeout (a motion controller finishes its move), so start the motion
        # first and only then wait for it.
        self._studio.start_turntable_motion(target_deg, self._studio.wall_seconds(duration))
        self._sleep_or_timeout(duration, timeout_s, f"the move to {target_deg:g} deg",
                               "give the move a longer timeout, or check the table is free to turn")
        return target_deg

    def home(self, timeout_s: float) -> None:
        """Return to 0 degrees."""
        self._require_open("home")
        self._move(0.0, timeout_s)

    def move_to(self, angle_deg: float, timeout_s: float) -> float:
        """Turn to ``angle_deg`` and return it once idle there; outside min..max raises DeviceError."""
        self._require_open("move")
        if not self._table.min_deg <= angle_deg <= self._table.max_deg:
            raise DeviceError(self.id, f"{angle_deg:g} deg is outside the travel "
                                       f"{self._table.min_deg:g}..{self._table.max_deg:g} deg",
                              "fix the station angle in the plan")
        return self._move(angle_deg, timeout_s)

    def close(self) -> None:
        """Release the table (a move under way still finishes); never raises."""
        self._open = False
