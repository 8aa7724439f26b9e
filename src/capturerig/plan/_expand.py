"""Plan expansion: the one pure function that turns a plan into ordered takes with stable ids."""

from __future__ import annotations

from dataclasses import dataclass

from capturerig.config import (
    Bracket,
    LightingCondition,
    PlanConfig,
    Pose,
    RigConfig,
    Station,
    selected_cameras,
)
from capturerig.lighting import expand_lighting

__all__ = ["Take", "expand_plan"]


@dataclass(frozen=True)
class Take:
    """One trigger of the plan's cameras under one lighting state at one station, in one pose."""

    ordinal: int
    pose: Pose
    station: Station
    lighting: LightingCondition
    bracket: Bracket
    cameras: tuple[str, ...]
    bracketed: bool  # the plan has more than one bracket, so names carry the bracket id

    @property
    def id(self) -> str:
        """Stable id ``pose/station/light/bracket``; the same plan always gives the same ids."""
        return f"{self.pose.id}/{self.station.id}/{self.lighting.state_id}/{self.bracket.id}"

    @property
    def stem(self) -> str:
        """File-name part, e.g. ``p00_s00_l03`` (``_b1`` appended only when the plan brackets)."""
        parts = [self.pose.id, self.station.id, self.lighting.state_id]
        if self.bracketed:
            parts.append(self.bracket.id)
        return "_".join(parts)

    def file_name(self, camera_id: str, extension: str, attempt: int = 1) -> str:
        """Flat, globally unique image name, e.g. ``cam07_p00_s00_l03.jpg``; retries add ``_a2``..."""
        suffix = "" if attempt == 1 else f"_a{attempt}"
        return f"{camera_id}_{self.stem}{suffix}.{extension}"


def expand_plan(rig: RigConfig, plan: PlanConfig) -> tuple[Take, ...]:
    """Every take of ``plan`` in shooting order.

    Order: pose, then station (the turntable is the slowest device), then lighting, then bracket,
    so a person holds each pose once and the table turns once per station. Lighting generators (OLAT,
    gradients) are expanded into their states first, each with a stable id (``olat-fx3``, ``grad-x``). The
    clean plates (``plates: before|after``) are one more pose, ``plate``, first or last, shot like the others.
    """
    cameras = selected_cameras(rig, plan)
    bracketed = len(plan.brackets) > 1
    lighting_states = expand_lighting(rig, plan.lighting)
    takes: list[Take] = []
    for pose in plan.shooting_poses:
        for station in plan.stations:
            for lighting in lighting_states:
                for bracket in plan.brackets:
                    takes.append(Take(len(takes), pose, station, lighting, bracket, cameras, bracketed))
    return tuple(takes)
