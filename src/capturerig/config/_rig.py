"""The rig: cameras, light outputs, fixtures, trigger box, turntable and storage (frozen pydantic)."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field, field_validator, model_validator

from capturerig.config._base import FrozenModel
from capturerig.config._hosts import AgentLinkSettings, HostConfig
from capturerig.config._lighting import LightingCondition, LightSafety
from capturerig.config._validation import RIG_ID_PATTERN

__all__ = [
    "CameraConfig",
    "CaptureVolumeConfig",
    "DeviceConfig",
    "FixtureConfig",
    "Intrinsics",
    "LightOutputConfig",
    "NominalPose",
    "ProcessingSettings",
    "RigConfig",
    "StageConfig",
    "StorageConfig",
    "TurntableConfig",
]

_ID_PATTERN = RIG_ID_PATTERN


class Intrinsics(FrozenModel):
    """OpenCV pinhole model with distortion (k1, k2, p1, p2[, k3]); pixels."""

    # Bounds well past any sensor and lens (200 MP, a 1000 mm lens on small pixels), so a typo is refused at
    # its line rather than loaded as a number nothing can use.
    width: int = Field(gt=0, le=100_000)
    height: int = Field(gt=0, le=100_000)
    fx: float = Field(gt=0, le=1e6)
    fy: float = Field(gt=0, le=1e6)
    cx: float
    cy: float
    dist: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0, 0.0)

    @field_validator("dist")
    @classmethod
    def _dist_length(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if len(value) not in (4, 5):
            raise ValueError(f"needs 4 or 5 coefficients (k1, k2, p1, p2[, k3]), got {len(value)}")
        return value

    def matrix(self) -> np.ndarray:
        return np.array([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]])

    def distortion(self) -> np.ndarray:
        """Five OpenCV coefficients (k3 = 0 when only four were given)."""
        return np.array([*self.dist, 0.0][:5], dtype=float)


def _xyz(point: tuple[float, float, float]) -> str:
    return "(" + ", ".join(f"{c:g}" for c in point) + ")"


class NominalPose(FrozenModel):
    """Where a camera sits in the rig frame (metres, z up) and what it looks at."""

    position: tuple[float, float, float]
    look_at: tuple[float, float, float] = (0.0, 0.0, 1.0)
    up: tuple[float, float, float] = (0.0, 0.0, 1.0)

    def cam_from_world(self) -> tuple[np.ndarray, np.ndarray]:
        """Rotation R and translation t with x_cam = R x_world + t.

        OpenCV axes: x right, y down, z forward. Raises ValueError when the pose defines no view direction
        (position equals look_at) or no roll (the view runs along ``up``).
        """
        centre = np.asarray(self.position, dtype=float)
        forward = np.asarray(self.look_at, dtype=float) - centre
        norm = np.linalg.norm(forward)
        if norm < 1e-9:
            raise ValueError(f"position {_xyz(self.position)} equals look_at {_xyz(self.look_at)}: "
                             "the camera needs a look_at point away from itself to have a view direction")
        forward /= norm
        up = np.asarray(self.up, dtype=float)
        if np.linalg.norm(up) < 1e-9:
            raise ValueError(f"up {_xyz(self.up)} has no direction; give the rig's up, usually (0, 0, 1)")
        right = np.cross(forward, up / np.linalg.norm(up))
        if np.linalg.norm(right) < 1e-9:
            raise ValueError(f"the view from {_xyz(self.position)} to {_xyz(self.look_at)} runs along "
                             f"up {_xyz(self.up)}, so the image roll is undefined; give an 'up' that is "
                             "not parallel to the view")
        right /= np.linalg.norm(right)
        down = np.cross(forward, right)
        rotation = np.stack([right, down, forward])
        return rotation, -rotation @ centre


class DeviceConfig(FrozenModel):
    """Any device: an id, the driver that runs it and that driver's own parameters."""

    id: str = Field(pattern=_ID_PATTERN)
    driver: str = Field(description="the driver that runs it, by name (sim, gphoto2, artnet, grbl ...)")
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="the driver's own settings; each driver declares them as a model (its Params), checked at load")


class CameraConfig(DeviceConfig):
    serial: str
    body: str
    group: str
    formats: tuple[str, ...] = Field(default=("jpeg",), min_length=1)
    settings: dict[str, str] = Field(default_factory=dict)
    intrinsics: Intrinsics
    pose: NominalPose


class LightOutputConfig(DeviceConfig):
    universes: tuple[int, ...] = Field(min_length=1)

    @field_validator("universes")
    @classmethod
    def _universe_range(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        for universe in value:
            if not 0 <= universe <= 32767:
                raise ValueError(f"universe {universe} is outside 0..32767")
        return value


class FixtureConfig(FrozenModel):
    id: str = Field(pattern=_ID_PATTERN)
    profile: str
    mode: str
    output: str
    universe: int
    address: int = Field(ge=1, le=512, description="first DMX channel, 1-based")
    position: tuple[float, float, float]
    power: float = Field(default=1.0, gt=0, description="relative light output at full level")


class TurntableConfig(DeviceConfig):
    min_deg: float = 0.0
    max_deg: float = 360.0
    speed_deg_per_s: float = Field(default=30.0, gt=0, le=3600)  # ten turns a second: no turntable goes faster

    @model_validator(mode="after")
    def _travel(self) -> TurntableConfig:
        if self.min_deg >= self.max_deg:
            raise ValueError(f"min_deg ({self.min_deg:g}) must be below max_deg ({self.max_deg:g})")
        return self


class CaptureVolumeConfig(FrozenModel):
    """Where the subject can be (rig frame, metres, z up, origin at the turntable centre on the floor): a vertical
    cylinder on the stage, narrower where the subject stands (``base_radius_m`` up to ``base_top_m``) than where
    it reaches (``radius_m`` up to ``top_m``). The per-image checks judge exposure inside its projection and
    "moved" outside it. The defaults fit a standing person in an A-pose with a few centimetres of sway."""

    radius_m: float = Field(default=0.6, gt=0, description="radius where the subject reaches (arms)")
    top_m: float = Field(default=1.85, gt=0, description="the top of the volume (the top of the head, with room)")
    base_radius_m: float = Field(default=0.3, gt=0, description="radius where the subject stands (feet, legs)")
    base_top_m: float = Field(default=0.6, description="how high the narrow base reaches")
    floor_m: float = Field(default=0.0, description="the stage's top")
    centre_xy: tuple[float, float] = Field(default=(0.0, 0.0), description="the volume's axis (the turntable's)")

    @model_validator(mode="after")
    def _shape(self) -> CaptureVolumeConfig:
        if self.base_radius_m > self.radius_m:
            raise ValueError(f"base_radius_m ({self.base_radius_m:g}) must not exceed radius_m ({self.radius_m:g})")
        if not self.floor_m <= self.base_top_m < self.top_m:
            raise ValueError(f"want floor_m ({self.floor_m:g}) <= base_top_m ({self.base_top_m:g}) < top_m "
                             f"({self.top_m:g})")
        return self


class StageConfig(FrozenModel):
    volume: CaptureVolumeConfig = Field(default=CaptureVolumeConfig(),
                                        description="the capture volume: where the subject can be")


class StorageConfig(FrozenModel):
    root: str = "sessions"
    min_free_bytes: int = Field(default=200_000_000, ge=0)
    reserve_bytes: int = Field(
        default=500_000_000, ge=0,
        description="space a session never eats into: it stops cleanly before a take would leave less free")


class ProcessingSettings(FrozenModel):
    scheduler: str | None = Field(
        default=None, min_length=1,
        description="the studio's Dask scheduler (e.g. tcp://10.0.0.5:8786) that post-capture work such as "
                    "packaging runs on; none: in this process")


class RigConfig(FrozenModel):
    name: str = Field(description="the rig's name; its stored calibrations are filed under it")
    cameras: tuple[CameraConfig, ...] = Field(min_length=1, description="every camera, with its group and pose")
    light_outputs: tuple[LightOutputConfig, ...] = Field(
        default=(), description="DMX interfaces (ENTTEC, Open DMX, Art-Net, sACN, serial lights) and their universes")
    fixtures: tuple[FixtureConfig, ...] = Field(
        default=(), description="lights: profile, mode and DMX address on an output's universe, position")
    trigger: DeviceConfig | None = Field(
        default=None, description="the trigger box; without one the cameras are fired in software")
    turntable: TurntableConfig | None = Field(default=None, description="the turntable that plan stations turn")
    stage: StageConfig = Field(default=StageConfig(), description="the stage: where the subject can be")
    storage: StorageConfig = Field(default=StorageConfig(),
                                   description="where sessions go and the disk space they leave free")
    scenes: tuple[LightingCondition, ...] = Field(
        default=(), description="named lighting states of the studio (a work light ...), by id")
    safe_state: str = Field(default="blackout",
                            description="what the lights do on abort, error, SIGTERM and exit: blackout or a scene id")
    light_safety: LightSafety = Field(default=LightSafety(),
                                      description="the studio's flash limit for people in the rig")
    hosts: tuple[HostConfig, ...] = Field(
        default=(), description="capture hosts, each running an agent for the cameras attached to it (none: every "
                                "camera on this controller)")
    agent_link: AgentLinkSettings = Field(default=AgentLinkSettings(),
                                          description="heartbeats, clock bound and spool reserve of the agent link")
    processing: ProcessingSettings = Field(default=ProcessingSettings(),
                                           description="where post-capture work runs (a Dask scheduler)")
    simulation: dict[str, Any] = Field(
        default_factory=dict, description="read only by the simulators (e.g. which wire-level simulators to serve)")

    def camera(self, camera_id: str) -> CameraConfig:
        for camera in self.cameras:
            if camera.id == camera_id:
                return camera
        raise KeyError(f"rig '{self.name}' has no camera '{camera_id}'")

    def host_of(self, camera_id: str) -> HostConfig | None:
        """The host whose agent runs ``camera_id``, or None when the controller runs it (no ``hosts:``)."""
        for host in self.hosts:
            if camera_id in host.cameras:
                return host
        return None

    def host(self, name: str) -> HostConfig:
        """The host called ``name``; KeyError naming the rig and its hosts when there is none."""
        for host in self.hosts:
            if host.name == name:
                return host
        known = ", ".join(h.name for h in self.hosts) or "none: the rig file has no hosts: section"
        raise KeyError(f"rig '{self.name}' has no host '{name}' (hosts: {known})")

    def groups(self) -> dict[str, tuple[str, ...]]:
        """Camera ids by group, in rig order."""
        result: dict[str, list[str]] = {}
        for camera in self.cameras:
            result.setdefault(camera.group, []).append(camera.id)
        return {name: tuple(ids) for name, ids in result.items()}
