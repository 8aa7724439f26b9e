"""The rig map: where each device of a rig is, seen from above and from the side, for the dashboard.

Positions come from the rig file (camera poses, fixture positions) and, for cameras, from the rig's accepted
geometry calibration when there is one in the rig frame. The rig frame is the rig file's: metres, z up, origin
at the turntable centre on the floor, so the turntable sits at the origin. The rig file gives no position to
the trigger box, the light outputs or the capture hosts: they are drawn in a row in front of the rig (on the
-y side), in rig file order, and each says so (``placed`` / ``note``), so nobody reads a made-up position as a
measured one. The side view leaves them out (the rig file gives them no height either).

Views: ``top`` looks down the z axis (x to the right, y up the screen); ``side`` looks along +y (x to the
right, z up). Each item carries its projection in both and, for a camera, its viewing direction projected
the same way (shorter when the camera looks across the view's depth).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from capturerig.calibration import Geometry, load_geometry
from capturerig.config import ConfigError, LoadedRig
from capturerig.web._calibration_backends import current_calibration

__all__ = ["MapItem", "RigMap", "build_rig_map", "row_positions"]

Vector = tuple[float, float, float]

FROM_RIG_FILE = "rig file"
FROM_CALIBRATION = "calibration"
AT_ORIGIN = "rig frame origin"
NOT_IN_RIG_FILE = "not in the rig file"
MARGIN_M = 0.35  # room around the outermost item so its symbol and label stay inside the view
ROW_DISTANCE = 1.3  # the row of unplaced devices sits this many times the rig's reach in front of its centre
MIN_REACH_M = 1.0


@dataclass(frozen=True)
class MapItem:
    """One device on the map: where it is (rig frame, metres), which way it looks, and where that came from."""

    id: str
    kind: str  # camera, fixture, turntable, trigger, output, host
    position: Vector
    placed: str  # FROM_RIG_FILE, FROM_CALIBRATION, AT_ORIGIN or NOT_IN_RIG_FILE
    note: str = ""
    facing: Vector | None = None  # unit vector: a camera's optical axis
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        x, y, z = (round(c, 4) for c in self.position)  # a tenth of a millimetre: past any rig's accuracy
        # An unplaced device has no height either: the side view leaves it out rather than put it on the floor.
        side = None if self.placed == NOT_IN_RIG_FILE else [x, z]
        item: dict[str, Any] = {"id": self.id, "kind": self.kind, "position": [x, y, z], "placed": self.placed,
                                "note": self.note, "top": [x, y], "side": side, "facing": None, "top_dir": None,
                                "side_dir": None, **self.details}
        if self.facing is not None:
            fx, fy, fz = (round(c, 4) for c in self.facing)
            item.update(facing=[fx, fy, fz], top_dir=[fx, fy], side_dir=[fx, fz])
        return item


@dataclass(frozen=True)
class RigMap:
    """Everything the dashboard draws; ``problem`` (what / where / todo) when the calibration could not be used."""

    rig: str
    items: tuple[MapItem, ...]
    calibration: dict[str, Any]
    problem: dict[str, str] | None = None

    def bounds(self, view: str) -> list[float]:
        """[min_u, min_v, max_u, max_v] of every item in ``view`` (top or side), with a margin, in metres."""
        points = [p for p in (item.as_dict()[view] for item in self.items) if p is not None] or [[0.0, 0.0]]
        us, vs = [p[0] for p in points], [p[1] for p in points]
        return [min(us) - MARGIN_M, min(vs) - MARGIN_M, max(us) + MARGIN_M, max(vs) + MARGIN_M]

    def as_dict(self) -> dict[str, Any]:
        return {
            "rig": self.rig,
            "frame": "rig frame: metres, z up, origin at the turntable centre on the floor",
            "views": {"top": {"axes": ["x", "y"], "looking": "down from above", "bounds": self.bounds("top")},
                      "side": {"axes": ["x", "z"], "looking": "from -y, along +y", "bounds": self.bounds("side")}},
            "calibration": self.calibration,
            "problem": self.problem,
            "items": [item.as_dict() for item in self.items],
        }


def _unit(vector: np.ndarray) -> Vector:
    norm = float(np.linalg.norm(vector))
    if norm < 1e-12:
        return (0.0, 0.0, 0.0)
    x, y, z = (float(c) / norm for c in vector)
    return (x, y, z)


def _vector(values: Iterable[float]) -> Vector:
    x, y, z = (float(c) for c in values)
    return (x, y, z)


def row_positions(count: int, reach: float) -> list[Vector]:
    """``count`` floor points in a row in front of a rig of horizontal ``reach`` (metres from its centre): at
    y = -ROW_DISTANCE * reach, spread evenly across x from -reach to +reach (one alone at x = 0)."""
    y = -ROW_DISTANCE * reach
    if count == 1:
        return [(0.0, y, 0.0)]
    return [(-reach + 2 * reach * i / (count - 1), y, 0.0) for i in range(count)]


def _accepted_geometry(loaded: LoadedRig, calibration_dir: Path | None
                       ) -> tuple[Geometry | None, dict[str, Any], dict[str, str] | None]:
    """The accepted geometry when the map can use it, what the map says about it, and a problem if unreadable."""
    name = loaded.config.name
    path = current_calibration(calibration_dir, name).get("geometry") if calibration_dir else None
    if path is None:
        return None, {"used": False, "note": "no geometry calibration accepted for this rig: poses from the rig "
                                             "file"}, None
    try:
        geometry = load_geometry(path)
    except ConfigError as exc:
        problem = {"what": "the rig's accepted geometry calibration cannot be read", "where": str(exc),
                   "todo": "accept a geometry calibration again on the Calibration page (or move the file away); "
                           "until then the map shows the rig file's poses"}
        return None, {"used": False, "file": str(path), "note": "unreadable: poses from the rig file"}, problem
    if geometry.gauge != "rig":
        return None, {"used": False, "file": str(path), "id": geometry.id,
                      "note": f"the accepted calibration is in the frame of {geometry.gauge}, not the rig frame: "
                              "poses from the rig file"}, None
    if geometry.rig not in (None, name):
        return None, {"used": False, "file": str(path), "id": geometry.id,
                      "note": f"the accepted calibration is of rig {geometry.rig}, not {name}: poses from the rig "
                              "file"}, None
    return geometry, {"used": True, "file": str(path), "id": geometry.id, "created": geometry.created,
                      "note": f"camera poses from the accepted calibration {geometry.id or path.name}"}, None


def _cameras(loaded: LoadedRig, geometry: Geometry | None) -> list[MapItem]:
    rig = loaded.config
    items = []
    for camera in rig.cameras:
        host = rig.host_of(camera.id)
        details = {"group": camera.group, "host": host.name if host else None}
        solved = geometry.cameras.get(camera.id) if geometry else None
        if solved is not None:
            centre = solved.centre()
            forward = solved.rotation()[2]  # the camera's z axis (its view) in the world: third row of R
            items.append(MapItem(camera.id, "camera", _vector(centre), FROM_CALIBRATION,
                                 f"calibrated pose ({solved.rms_px:.2f} px rms)", _unit(forward), details))
            continue
        pose = camera.pose
        forward = np.asarray(pose.look_at, dtype=float) - np.asarray(pose.position, dtype=float)
        note = "nominal pose" if geometry is None else "nominal pose (not in the accepted calibration)"
        items.append(MapItem(camera.id, "camera", _vector(pose.position), FROM_RIG_FILE, note, _unit(forward),
                             details))
    return items


def build_rig_map(loaded: LoadedRig, rig_id: str, calibration_dir: Path | None = None) -> RigMap:
    """The map of ``loaded``: cameras (calibrated where accepted), fixtures, turntable, then the devices the rig
    file does not place (trigger box, light outputs, capture hosts) in a row in front of the rig."""
    rig = loaded.config
    geometry, calibration, problem = _accepted_geometry(loaded, calibration_dir)
    items = _cameras(loaded, geometry)
    items += [MapItem(f.id, "fixture", _vector(f.position), FROM_RIG_FILE, "",
                      details={"output": f.output, "universe": f.universe, "address": f.address})
              for f in rig.fixtures]
    if rig.turntable is not None:
        items.append(MapItem(rig.turntable.id, "turntable", (0.0, 0.0, 0.0), AT_ORIGIN,
                             "the rig frame's origin is the turntable centre"))
    unplaced: list[tuple[str, str, dict[str, Any]]] = []
    if rig.trigger is not None:
        unplaced.append((rig.trigger.id, "trigger", {"driver": rig.trigger.driver}))
    unplaced += [(o.id, "output", {"driver": o.driver}) for o in rig.light_outputs]
    unplaced += [(h.name, "host", {"cameras": list(h.cameras)}) for h in rig.hosts]
    reach = max([MIN_REACH_M, *(math.hypot(item.position[0], item.position[1]) for item in items)])
    for (device_id, kind, details), position in zip(unplaced, row_positions(len(unplaced), reach), strict=True):
        items.append(MapItem(device_id, kind, position, NOT_IN_RIG_FILE,
                             "position not in the rig file: drawn in the row in front of the rig", details=details))
    return RigMap(rig_id, tuple(items), calibration, problem)
