"""Where the subject can be in each camera's picture: the capture volume (a vertical cylinder on the stage)
projected through the camera's geometry, distortion included, and widened by a margin.

At capture time there is no alpha, but there is geometry: the accepted calibration when there is one, else the
rig file's nominal intrinsics and poses. The exposure checks judge the subject inside this region; "moved"
measures the view outside it (the rig, the stage, the backdrop stand still; a person does not).

The child process that runs the checks imports this module too (without the ``capturerig`` package's heavy
``__init__``): nothing here imports packaging or calibration (the camera model is the light
:mod:`capturerig.geometry`); :func:`camera_views` reads a
``capturerig.geometry/1``-style camera entry and :func:`session_views` (parent side) loads the geometry.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np
import numpy.typing as npt

from capturerig.geometry import CameraGeometry
from capturerig.qc._measure import centre_region

__all__ = ["DEFAULT_VOLUME", "MARGIN_PX", "CaptureVolume", "SubjectRegion", "camera_views",
           "project_volume", "regions_document", "regions_from_document", "rig_volume", "session_views",
           "subject_regions"]

BoolMask = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]

MARGIN_PX = 24.0  # full-size px: nominal-vs-true pose and lens (~0.3 deg is ~4 px here) and the edge operator
_SAMPLES = 96  # points per circle: the inscribed polygon falls short of the circle by < 0.1 %
_GRID_SIDE = 320  # the region is worked out on a grid of at most this many cells along the longer side (the checks
# read it at half size and "moved" at 160 cells across: finer costs every session's checks ~1 s of undistortion)
_NEAR_M = 0.05  # the volume is cut this far in front of the camera (what is nearer projects off the frame)


@dataclass(frozen=True)
class CaptureVolume:
    """The capture volume in the rig frame (metres, z up, origin at the turntable centre on the floor): a vertical
    cylinder on the stage that holds the subject whichever way the table turns and however it sways, narrower
    where the subject stands (``base_radius_m`` up to ``base_top_m``) than where it reaches (``radius_m`` up to
    ``top_m``). ``base_radius_m == radius_m`` makes it one plain cylinder.

    Why the narrower base: what stands still in the picture, for "moved" to measure against, is the stage
    around the subject's feet. A plain cylinder wide enough for the hands covers the whole stage from every
    camera (the demo rig: 7-10 % of each frame left outside, the backdrop only, so a bumped camera goes unseen).
    The default fits the demo studio's person -- 1.78 m tall, the hands of an A-pose 0.55 m from the axis but
    no lower than 0.76 m, the feet within 0.23 m -- plus 4 cm of sway and of stepping elsewhere at a new pose
    (``simulation.live_subject``).
    """

    radius_m: float = 0.6
    top_m: float = 1.85
    base_radius_m: float = 0.3
    base_top_m: float = 0.6
    floor_m: float = 0.0  # the stage's top
    centre_xy: tuple[float, float] = (0.0, 0.0)

    def __post_init__(self) -> None:
        if not (0 < self.base_radius_m <= self.radius_m and self.floor_m <= self.base_top_m < self.top_m):
            raise ValueError(f"capture volume: want 0 < base_radius_m ({self.base_radius_m}) <= radius_m "
                             f"({self.radius_m}) and floor_m ({self.floor_m}) <= base_top_m ({self.base_top_m}) "
                             f"< top_m ({self.top_m})")

    def tiers(self) -> list[FloatArray]:
        """Each cylinder's two rims, sampled (rig frame, (2 * _SAMPLES, 3) each): the hull of a cylinder's
        projection is the projection of the whole cylinder (a pinhole maps a convex body in front of it to a
        convex region), and the volume's is the union of its cylinders'."""
        angles = np.linspace(0.0, 2.0 * math.pi, _SAMPLES, endpoint=False)
        tiers = []
        for radius, bottom, top in ((self.base_radius_m, self.floor_m, self.base_top_m),
                                    (self.radius_m, self.base_top_m, self.top_m)):
            ring = np.stack([self.centre_xy[0] + radius * np.cos(angles),
                             self.centre_xy[1] + radius * np.sin(angles)], axis=1)
            tiers.append(np.concatenate([np.column_stack([ring, np.full(_SAMPLES, z)]) for z in (bottom, top)]))
        return tiers

    def to_json(self) -> dict[str, Any]:
        return {"radius_m": self.radius_m, "top_m": self.top_m, "base_radius_m": self.base_radius_m,
                "base_top_m": self.base_top_m, "floor_m": self.floor_m, "centre_xy": list(self.centre_xy)}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> CaptureVolume:
        centre = raw.get("centre_xy", (0.0, 0.0))
        return cls(float(raw["radius_m"]), float(raw["top_m"]), float(raw["base_radius_m"]),
                   float(raw["base_top_m"]), float(raw.get("floor_m", 0.0)), (float(centre[0]), float(centre[1])))


DEFAULT_VOLUME = CaptureVolume()


def rig_volume(rig: Any) -> CaptureVolume:
    """The rig file's capture volume (``stage.volume``, validated by the rig model; its defaults are
    :data:`DEFAULT_VOLUME`'s)."""
    volume = rig.stage.volume
    return CaptureVolume(float(volume.radius_m), float(volume.top_m), float(volume.base_radius_m),
                         float(volume.base_top_m), float(volume.floor_m),
                         (float(volume.centre_xy[0]), float(volume.centre_xy[1])))


class CameraModel(Protocol):
    """What a region needs of a camera (``capturerig.geometry.CameraGeometry`` has it, and calibration's models)."""

    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def k(self) -> FloatArray: ...
    @property
    def dist(self) -> FloatArray: ...
    @property
    def rotation(self) -> FloatArray: ...
    @property
    def translation(self) -> FloatArray: ...


def _array(entry: Mapping[str, Any], key: str, shape: tuple[int, ...], where: str) -> FloatArray:
    try:
        value = np.asarray(entry[key], dtype=np.float64)
    except KeyError as exc:
        raise ValueError(f"{where}.{key}: missing") from exc
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}.{key}: not numbers ({exc})") from exc
    if value.shape != shape or not np.all(np.isfinite(value)):
        raise ValueError(f"{where}.{key}: want {shape} finite numbers, got shape {value.shape}")
    return value


def camera_views(cameras: Mapping[str, Any], where: str = "geometry") -> dict[str, CameraGeometry]:
    """Camera models by id from :class:`CameraModel` objects or ``geometry.json`` entries (``width, height, K,
    dist, R, t``); raises ValueError naming ``where``, the camera and the field."""
    views = {}
    for camera_id, entry in cameras.items():
        if isinstance(entry, Mapping):
            name = f"{where}: cameras.{camera_id}"
            width, height = entry.get("width"), entry.get("height")
            if not (isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0):
                raise ValueError(f"{name}: width and height must be positive integers, got {width!r}, {height!r}")
            dist = np.asarray(entry.get("dist", [0.0] * 5), dtype=np.float64)
            if dist.shape not in ((4,), (5,), (8,)):
                raise ValueError(f"{name}.dist: want 4, 5 or 8 coefficients, got {dist.size}")
            views[camera_id] = CameraGeometry(width, height, _array(entry, "K", (3, 3), name), dist,
                                          _array(entry, "R", (3, 3), name), _array(entry, "t", (3,), name))
        else:
            views[camera_id] = CameraGeometry(int(entry.width), int(entry.height), np.asarray(entry.k, np.float64),
                                          np.asarray(entry.dist, np.float64), np.asarray(entry.rotation, np.float64),
                                          np.asarray(entry.translation, np.float64))
    return views


def _fill(normal: npt.NDArray[np.float32], hulls: list[FloatArray]) -> BoolMask:
    """Which grid cells (their undistorted normalised coordinates ``normal``, (rows, cols, 2)) lie in any of the
    convex ``hulls``: each hull, clipped to the frame's field of view, is filled on a raster over that field
    (twice as fine as the grid) and every cell looks its own coordinates up there."""
    rows, cols = normal.shape[:2]
    lo = normal.reshape(-1, 2).min(axis=0).astype(np.float64)
    hi = normal.reshape(-1, 2).max(axis=0).astype(np.float64)
    width, height = 2 * cols, 2 * rows
    scale = np.array([(width - 1) / max(hi[0] - lo[0], 1e-12), (height - 1) / max(hi[1] - lo[1], 1e-12)])
    pad = 2.0 / scale
    box = np.array([[lo[0] - pad[0], lo[1] - pad[1]], [hi[0] + pad[0], lo[1] - pad[1]],
                    [hi[0] + pad[0], hi[1] + pad[1]], [lo[0] - pad[0], hi[1] + pad[1]]], dtype=np.float32)
    raster = np.zeros((height, width), dtype=np.uint8)
    for hull in hulls:
        # Clipped first: a hull reaching far outside the view would overflow the raster's integer coordinates.
        area, clipped = cv2.intersectConvexConvex(hull.astype(np.float32), box)
        if clipped is None or area <= 0.0:
            continue
        corners = np.rint((clipped.reshape(-1, 2) - lo) * scale * 16.0).astype(np.int32)  # 4 bits of sub-cell
        cv2.fillConvexPoly(raster, corners, 1, lineType=cv2.LINE_8, shift=4)
    where = ((normal - lo.astype(np.float32)) * scale.astype(np.float32)).astype(np.float32)
    found = cv2.remap(raster, where[..., 0], where[..., 1], cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT,
                      borderValue=0)
    return np.asarray(found > 0)


def _in_front(cam: FloatArray) -> FloatArray:
    """The part of a sampled cylinder (its two rims in camera coordinates) in front of the camera: the rims'
    samples there and where the cylinder's edges cross the plane :data:`_NEAR_M` ahead (a camera beside or in
    the volume sees it reach the frame's border, not fold back through infinity)."""
    count = len(cam) // 2
    bottom, top = cam[:count], cam[count:]
    starts = np.concatenate([bottom, top, bottom])
    ends = np.concatenate([np.roll(bottom, -1, axis=0), np.roll(top, -1, axis=0), top])
    crossing = (starts[:, 2] - _NEAR_M) * (ends[:, 2] - _NEAR_M) < 0.0
    share = (_NEAR_M - starts[crossing, 2]) / (ends[crossing, 2] - starts[crossing, 2])
    cuts = starts[crossing] + share[:, None] * (ends[crossing] - starts[crossing])
    return np.concatenate([cam[cam[:, 2] >= _NEAR_M], cuts])


def _grid(view: CameraGeometry) -> tuple[int, int, int]:
    step = max(1, math.ceil(max(view.width, view.height) / _GRID_SIDE))
    return step, -(-view.height // step), -(-view.width // step)


def project_volume(view: CameraGeometry, volume: CaptureVolume = DEFAULT_VOLUME,
                   margin_px: float = MARGIN_PX) -> BoolMask | None:
    """The volume's silhouette in ``view``'s full-size image, widened by ``margin_px``; None when it falls
    wholly outside the frame (or behind the camera).

    The hull is taken in undistorted normalised coordinates (where the projection of the cylinder is exactly
    the hull of its rims) and every pixel's own undistorted coordinates are tested against it: points far
    outside the field of view never pass through the distortion polynomial, which folds back there.
    """
    step, rows, cols = _grid(view)
    hulls = []
    for points in volume.tiers():
        cam = _in_front(points @ view.rotation.T + view.translation)
        if len(cam) >= 3:
            hull = cv2.convexHull((cam[:, :2] / cam[:, 2:3]).astype(np.float32))
            hulls.append(hull.reshape(-1, 2).astype(np.float64))
    if not hulls:
        return None
    centres_u = np.arange(cols, dtype=np.float64) * step + (step - 1) / 2.0
    centres_v = np.arange(rows, dtype=np.float64) * step + (step - 1) / 2.0
    u, v = np.meshgrid(centres_u, centres_v)
    pixels = np.stack([u.ravel(), v.ravel()], axis=1).reshape(-1, 1, 2)
    normal = cv2.undistortPoints(pixels, view.k, view.dist).reshape(rows, cols, 2).astype(np.float32)
    inside = _fill(normal, hulls)
    if not inside.any():
        return None
    radius = round(margin_px / step)
    if radius > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
        inside = cv2.dilate(inside.astype(np.uint8), kernel) > 0
    if step > 1:
        inside = cv2.resize(inside.astype(np.uint8), (cols * step, rows * step),
                            interpolation=cv2.INTER_NEAREST)[: view.height, : view.width] > 0
    return np.asarray(inside, dtype=bool)


@dataclass(frozen=True)
class SubjectRegion:
    """One camera's subject region (full-size bool mask) and what it came from."""

    camera_id: str
    mask: BoolMask
    source: str  # "calibration" or "nominal": the geometry projected
    centre: bool  # the volume fell outside the frame: the centre of the frame stands in

    @property
    def share(self) -> float:
        """The share of the frame inside the region."""
        return float(self.mask.mean())

    def figures(self) -> dict[str, Any]:
        return {"region": "centre of the frame (the capture volume is not in view)" if self.centre
                else f"capture volume through the {self.source} geometry", "region_share": round(self.share, 4)}


def subject_regions(cameras: Mapping[str, Any], source: str, volume: CaptureVolume = DEFAULT_VOLUME,
                    margin_px: float = MARGIN_PX) -> dict[str, SubjectRegion]:
    """Every camera's region: ``cameras`` as :func:`camera_views` reads them, ``source`` says whose geometry
    (``calibration`` or ``nominal``)."""
    regions = {}
    for camera_id, view in camera_views(cameras).items():
        mask = project_volume(view, volume, margin_px)
        regions[camera_id] = SubjectRegion(
            camera_id, centre_region(view.height, view.width) if mask is None else mask, source, mask is None)
    return regions


def regions_document(cameras: Mapping[str, Any], source: str, volume: CaptureVolume = DEFAULT_VOLUME,
                     margin_px: float = MARGIN_PX) -> dict[str, Any]:
    """What the checks' child process needs to make the regions itself (geometry, not masks: a few numbers
    per camera instead of a mask of every pixel)."""
    return {"source": source, "volume": volume.to_json(), "margin_px": margin_px,
            "cameras": {camera_id: view.to_document() for camera_id, view in camera_views(cameras).items()}}


def regions_from_document(document: Mapping[str, Any]) -> dict[str, SubjectRegion]:
    """The regions from :func:`regions_document`'s output."""
    volume = CaptureVolume.from_json(document["volume"])
    return subject_regions(document["cameras"], str(document["source"]), volume, float(document["margin_px"]))


def session_views(rig: Any, geometry_file: str | Path | None = None) -> tuple[Mapping[str, Any], str]:
    """The cameras a session's regions are projected through, and their source: the geometry calibration in
    ``geometry_file`` (``capturerig.geometry/1``, checked against ``rig``) when given, else the rig file's
    nominal intrinsics and poses.

    Raises
    ------
    ValueError
        A geometry file that cannot be read or does not fit the rig (naming the file, camera and field).
    """
    # Imported here: the checks' child process imports this module and must not load packaging.
    from capturerig.packaging import geometry_from_document, nominal_geometry

    if geometry_file is None:
        return nominal_geometry(rig).cameras, "nominal"
    path = Path(geometry_file)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the geometry calibration ({exc.strerror or exc})") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON (line {exc.lineno}: {exc.msg})") from exc
    if not isinstance(document, dict):
        raise ValueError(f"{path}: must hold a JSON object (a capturerig.geometry/1 document)")
    return geometry_from_document(document, rig, str(path)).cameras, "calibration"
