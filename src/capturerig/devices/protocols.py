"""What the engine needs from each kind of device, named by capability.

Every call that waits takes a finite ``timeout_s`` and raises :class:`DeviceTimeout` when it runs out;
any other failure raises :class:`DeviceError`. Both carry the device id and what the operator should do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = [
    "CAPABILITIES",
    "KIND_PROTOCOLS",
    "AlarmUnlock",
    "Camera",
    "CameraFile",
    "CameraStatus",
    "DeviceError",
    "DeviceTimeout",
    "ExposureLabels",
    "GroupArming",
    "GroupSetup",
    "HeldFile",
    "HeldFiles",
    "LightOutput",
    "PreparedTrigger",
    "SyncReadBack",
    "TriggerBox",
    "TriggerDelays",
    "TriggerOutputs",
    "Turntable",
]


class DeviceError(RuntimeError):
    """A device failed; ``device_id`` says which, ``hint`` what to do next."""

    def __init__(self, device_id: str, message: str, hint: str = "") -> None:
        self.device_id = device_id
        self.message = message
        self.hint = hint
        text = f"{device_id}: {message}"
        super().__init__(f"{text} ({hint})" if hint else text)


class DeviceTimeout(DeviceError):
    """A device did not answer within its timeout."""


@dataclass(frozen=True)
class CameraStatus:
    """What a camera reports about itself when connected."""

    serial: str
    model: str
    battery_percent: float | None = None
    free_bytes: int | None = None


@dataclass(frozen=True)
class CameraFile:
    """One file a camera produced for one exposure (``name`` is its name on the card)."""

    name: str
    format: str
    data: bytes | bytearray | memoryview  # a buffer when received straight into one of the file's size (no copy)
    exposed_at: float  # time.time() of the exposure
    sha256: str | None = None  # taken where the bytes were first kept (a capture host's spool): checked on storing


@runtime_checkable
class Camera(Protocol):
    """A tethered camera."""

    @property
    def id(self) -> str: ...

    def connect(self, timeout_s: float) -> CameraStatus:
        """Open the camera; raises DeviceError if absent or claimed by another process."""

    def apply_settings(self, settings: Mapping[str, str], timeout_s: float) -> dict[str, str]:
        """Write settings (``iso``, ``shutter``, ``aperture``, ``whitebalance`` ...) and return them as read back.

        Unknown settings raise DeviceError; the read-back lets preflight detect silent refusals.
        """

    def arm(self, timeout_s: float, exposures: int = 1) -> None:
        """Make the camera ready to expose on the next hardware trigger, or on each of the next ``exposures``
        (a burst: the body buffers them and ``wait_for_files`` then delivers one exposure per call, oldest
        first)."""

    def trigger_capture(self, timeout_s: float) -> None:
        """Expose now by software (rigs without a trigger box); files then come from ``wait_for_files``."""

    def wait_for_files(self, timeout_s: float) -> list[CameraFile]:
        """Block until the files of the oldest exposure not yet delivered are downloaded (one per configured
        format): after a single shot, its files."""

    def delete_files(self, names: Sequence[str], timeout_s: float) -> None:
        """Delete files from the card; the engine calls this only after they are fsynced and hashed."""

    def close(self) -> None:
        """Release the camera; never raises."""


@runtime_checkable
class PreparedTrigger(Protocol):
    """A camera whose software trigger splits into a slow prepare and an instant fire.

    The engine prepares every camera (in parallel: this may talk to a worker, check the card, encode a
    message), then calls the returned fire functions one after another from one thread, so the spread
    between cameras is a few microseconds per camera instead of a thread wake-up each.
    """

    def prepare_trigger(self, timeout_s: float) -> Callable[[], None]:
        """Get ready to expose; return a call that exposes at once without blocking.

        The returned call may raise DeviceError (e.g. the worker is gone); files then come from
        ``wait_for_files`` as after ``trigger_capture``.
        """


@runtime_checkable
class LightOutput(Protocol):
    """A DMX (or serial) light output carrying one or more universes."""

    @property
    def id(self) -> str: ...

    def open(self, timeout_s: float) -> None:
        """Open the port or socket; raises DeviceError when the interface is missing."""

    def set_universe(self, universe: int, levels: bytes) -> None:
        """Replace the whole frame of ``universe`` (512 levels, 0..255) atomically; returns at once."""

    def wait_sent(self, timeout_s: float) -> None:
        """Block until every universe's current frame has gone out on the wire at least once."""

    def close(self) -> None:
        """Stop sending and release the interface; never raises."""


@runtime_checkable
class TriggerBox(Protocol):
    """A hardware trigger that fires a set of cameras together."""

    @property
    def id(self) -> str: ...

    def open(self, timeout_s: float) -> None: ...

    def fire(self, camera_ids: Sequence[str], timeout_s: float) -> float:
        """Fire the cameras' shutters together; returns ``time.time()`` of the pulse."""

    def close(self) -> None: ...


@runtime_checkable
class Turntable(Protocol):
    """A motorised turntable (GRBL); angles in degrees."""

    @property
    def id(self) -> str: ...

    def open(self, timeout_s: float) -> None: ...

    def home(self, timeout_s: float) -> None:
        """Run the homing cycle; the angle is 0 afterwards."""

    def move_to(self, angle_deg: float, timeout_s: float) -> float:
        """Move and return the angle reported once the table is idle at the target."""

    def close(self) -> None: ...


# Optional capabilities: a driver has one when it implements every member; the engine and the CLI test for them
# with isinstance (runtime-checkable protocols), never by probing attribute names.


@runtime_checkable
class TriggerDelays(Protocol):
    """A trigger box that delays each output by its own amount (to line up bodies of different shutter lags)."""

    @property
    def delays_us(self) -> Mapping[str, int]:
        """Camera id -> the delay its output holds, microseconds."""


@runtime_checkable
class SyncReadBack(Protocol):
    """A trigger box that reports when each camera's flash-sync contact closed after a fire."""

    def read_sync(self, timeout_s: float, wait_for_all: bool = True) -> dict[str, float]:
        """Camera id -> seconds after the pulse; polls until every fired output reported or the time ran out
        (``wait_for_all=False``: asks once)."""


@runtime_checkable
class TriggerOutputs(Protocol):
    """A trigger box whose cameras are wired to numbered outputs."""

    @property
    def outputs(self) -> Mapping[str, int]:
        """Camera id -> output number."""


@runtime_checkable
class AlarmUnlock(Protocol):
    """A turntable that can leave an alarm state on the operator's say-so (the position may then be off)."""

    def unlock(self, timeout_s: float) -> None:
        """Clear the alarm; raises DeviceError when the controller refuses."""


@dataclass(frozen=True)
class HeldFile:
    """A file a camera's host still holds for a session (not yet acknowledged), and the take it belongs to."""

    file: CameraFile
    take_id: str
    attempt: int


@runtime_checkable
class ExposureLabels(Protocol):
    """A camera whose host keeps, with each exposure's files, the session and take they belong to (a camera on
    a capture agent: should the controller die, ``capturerig resume`` asks for them by session)."""

    def label_exposures(self, session_id: str, takes: Sequence[tuple[str, int]]) -> None:
        """The next arm's exposures, in order, are for these (take id, attempt)."""


@runtime_checkable
class GroupArming(Protocol):
    """A camera that arms more cheaply together with the others of its group: the cameras of one capture host,
    armed in one request to its agent, not one request each (sixteen engine threads reaching the link at
    different moments made three or four)."""

    @property
    def arm_group(self) -> str:
        """The group's name: cameras with the same one are armed by one ``arm_together``."""

    def arm_together(self, cameras: Sequence[Camera], timeout_s: float,
                     exposures: int) -> dict[str, DeviceError | None]:
        """Arm ``cameras`` (this one's group, this one among them) as ``Camera.arm`` would each; per camera id,
        the error that kept it unarmed (None: armed)."""


@runtime_checkable
class GroupSetup(Protocol):
    """A camera that connects and takes its settings more cheaply together with the others of its group: the
    cameras of one capture host, one request to its agent for all their connects and one for all their settings
    (preflight's threads reaching the link one camera at a time made a dozen per host)."""

    @property
    def setup_group(self) -> str:
        """The group's name: cameras with the same one are set up by one ``connect_together``."""

    def connect_together(self, cameras: Sequence[Camera], timeout_s: float) -> dict[str, CameraStatus | DeviceError]:
        """Connect ``cameras`` (this one's group, this one among them) as ``Camera.connect`` would each; per
        camera id its status, or the error that kept it unconnected."""

    def apply_settings_together(self, settings: Sequence[tuple[Camera, Mapping[str, str]]],
                                timeout_s: float) -> dict[str, dict[str, str] | DeviceError]:
        """Apply each camera's settings as ``Camera.apply_settings`` would; per camera id what it reads back, or
        the error."""


@runtime_checkable
class HeldFiles(Protocol):
    """A camera whose host holds files until the controller acknowledges them (``delete_files``)."""

    def held_files(self, session_id: str, timeout_s: float) -> list[HeldFile]:
        """Every file of ``session_id`` the host still holds for this camera, pulled and checked."""


# The protocol every driver of a kind (the ``kind`` in a ``capturerig.drivers`` entry point name) satisfies,
# and the optional capabilities a driver of that kind may add.
KIND_PROTOCOLS: Mapping[str, type] = {"camera": Camera, "light": LightOutput, "trigger": TriggerBox,
                                      "turntable": Turntable}
CAPABILITIES: Mapping[str, tuple[type, ...]] = {
    "camera": (PreparedTrigger, ExposureLabels, GroupArming, GroupSetup, HeldFiles),
    "light": (),
    "trigger": (TriggerDelays, SyncReadBack, TriggerOutputs),
    "turntable": (AlarmUnlock,),
}
