"""What the virtual studio records and who may act on it: exposures, camera bodies, the time scale, and the
protocols of the operator on the stage and of the studio bus's ends (re-exported by
:mod:`capturerig_sim.studio`)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

from capturerig.devices import CameraFile
from capturerig.lighting import UniverseKey
from capturerig_sim._props import PlanarProp
from capturerig_sim._response import DEFAULT_SETTINGS

if TYPE_CHECKING:
    from capturerig_sim.studio import VirtualStudio

__all__ = [
    "DEFAULT_CARD_BYTES",
    "TIME_SCALE_ENV",
    "BusLink",
    "CameraState",
    "ExposureRecord",
    "ExposureTiming",
    "StudioOperator",
    "StudioPublisher",
    "StudioRole",
    "time_scale_from_env",
]

TIME_SCALE_ENV = "CAPTURERIG_SIM_TIME_SCALE"
DEFAULT_CARD_BYTES = 32_000_000_000


def time_scale_from_env(default: float = 1.0) -> float:
    """The time scale named by ``CAPTURERIG_SIM_TIME_SCALE`` (0 = never sleep), else ``default``.

    Raises
    ------
    ValueError
        When the variable is set but is not a number >= 0.
    """
    text = os.environ.get(TIME_SCALE_ENV, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{TIME_SCALE_ENV}={text!r} is not a number (use e.g. 1, 0.1 or 0)") from None
    if not value >= 0.0 or math.isinf(value):
        raise ValueError(f"{TIME_SCALE_ENV}={text!r} must be a finite number >= 0")
    return value


@dataclass(frozen=True)
class ExposureRecord:
    """One camera exposed by one trigger: everything its image depends on, frozen at that instant."""

    seq: int  # unique per studio, in firing order
    camera_id: str
    fired_at: float  # time.time() of the trigger pulse
    fired_monotonic: float  # time.monotonic() of the same pulse, for modelled latencies
    frames: Mapping[UniverseKey, bytes]  # the DMX frames held on the wire when it fired
    turntable_deg: float
    settings: Mapping[str, str]  # the camera's settings when armed
    error: str | None = None  # set when the exposure failed (card full)
    props: tuple[PlanarProp, ...] = ()  # what stood on the stage, where, at that instant
    subject_present: bool = True
    room_light: float = 0.0  # the house lights' irradiance then
    # time.monotonic() when the shutter opened and closed (the pulse + the body's latency, + the shutter):
    # the light that counts is the light in this window (see VirtualStudio.exposure_light).
    exposure_start: float = 0.0
    exposure_end: float = 0.0
    take_id: str | None = None  # the take the engine armed it for (ExposureLabels), when it said


StudioRole = Literal["local", "publisher", "mirror"]  # see capturerig_sim.studio_bus


class StudioPublisher(Protocol):
    """Tells the studios of the other capture hosts what happened here (a publisher's studio bus)."""

    def pulse(self, camera_ids: Sequence[str], at: float, angle_deg: float, subject: bool, room: float) -> None:
        """A trigger pulse at ``at`` (time.time()) on the cables of ``camera_ids``, and the stage then."""

    def motion(self, start_deg: float, target_deg: float, start: float, duration_s: float) -> None:
        """The table turns from ``start_deg`` at ``start`` (time.time()) to ``target_deg`` in ``duration_s``."""

    def scene(self, subject: bool, room: float) -> None:
        """The subject's presence or the house lights changed."""

    def close(self) -> None: ...


class BusLink(Protocol):
    """A studio's end of the studio bus (a publisher or a mirror)."""

    def close(self) -> None: ...


class StudioOperator(Protocol):
    """Someone on the simulated stage who acts between exposures (e.g. moves a calibration board)."""

    def before_fire(self, studio: VirtualStudio, camera_ids: Sequence[str]) -> None:
        """Called under the studio lock just before ``camera_ids`` expose; may change the props."""


@dataclass
class CameraState:
    """What lives in a camera body across reconnects: its settings and its card. Guarded by the studio lock."""

    capacity_bytes: int
    settings: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_SETTINGS))
    files: dict[str, bytes] = field(default_factory=dict)  # the card, in write order
    counter: int = 0  # last file number used
    written_seq: int = -1  # the exposure whose files were last written to the card
    written: tuple[CameraFile, ...] = ()  # and those files (so a retried download does not re-render)
    card_busy_until: float = 0.0  # time.monotonic() when the card finishes writing what it was given
    usb_busy_until: float = 0.0  # and when the USB link finishes the downloads under way
    ready: tuple[int, float] = (-1, 0.0)  # (exposure seq, when its download completes): a retry waits no more

    @property
    def used_bytes(self) -> int:
        """Bytes the files on the card take."""
        return sum(len(data) for data in self.files.values())

    @property
    def free_bytes(self) -> int:
        """Bytes left on the card."""
        return max(0, self.capacity_bytes - self.used_bytes)


@dataclass(frozen=True)
class ExposureTiming:
    """How a body answers a trigger pulse (modelled seconds): what the studio needs to place its exposures."""

    latency_s: float = 0.0  # pulse to shutter open
    shutter_s: float = 0.0
    min_interval_s: float = 0.0  # 1 / the body's burst rate: a pulse sooner than this after the last is missed
    buffer: int = 1  # exposures it holds undelivered; one more fails (buffer full)
