"""Planar props in the virtual studio: textured rectangles (a ChArUco board, a colour chart) held in the scene.

A prop is z-tested against the subject and the table top, lit like every other surface (Lambertian, from
every fixture, plus ambient) and anti-aliased: each pixel the prop touches is traced at 16 sub-pixel samples
through the camera's lens model, so the edges and corners of its texture land where the true camera puts
them to a few hundredths of a pixel (what geometry calibration needs to be checked against).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import cv2
import numpy as np
import numpy.typing as npt

from capturerig_sim._scene import CameraTruth, Hits, normalised_grid

__all__ = ["BACK_ALBEDO", "SAMPLES_PER_PIXEL", "PlanarProp", "PropLayer", "prop_layer"]

BACK_ALBEDO = 0.30  # the unprinted back of a mounted board
SAMPLES_PER_PIXEL = 16
_CHUNK_PIXELS = 16_384  # bounds the (pixels x samples) work arrays to a few tens of MB

Float32Array = npt.NDArray[np.float32]
Float64Array = npt.NDArray[np.float64]

# Sixteen samples, each in its own column and its own row of a 16 x 16 sub-grid (a "rooks" pattern): an edge
# that runs along the pixel grid still sees 16 coverage levels, not the 4 of a 4 x 4 grid.
_RANKS = np.arange(SAMPLES_PER_PIXEL)
_SAMPLE_DU = (_RANKS + 0.5) / SAMPLES_PER_PIXEL - 0.5
_SAMPLE_DV = ((_RANKS * 5 + 3) % SAMPLES_PER_PIXEL + 0.5) / SAMPLES_PER_PIXEL - 0.5


def _read_only(array: npt.NDArray[np.generic]) -> npt.NDArray[np.generic]:
    view = array.view()
    view.flags.writeable = False
    return view


@dataclass(frozen=True, eq=False)
class PlanarProp:
    """A flat textured rectangle somewhere in the studio.

    Prop frame = OpenCV board frame: origin at the texture's top-left corner, x along its columns, y along its
    rows, z into the prop; metres. ``x_world = rotation @ x_prop + translation``. The printed front is the
    face whose normal (-z) points at the viewer; from behind a camera sees a plain grey back.

    Attributes
    ----------
    name
        A label (reports, error messages).
    texture
        Scene-linear albedo, float32 (height, width, 3), row 0 at the prop's top edge (y = 0). Texel (i, j)
        covers x in [j, j + 1] * width_m / W and y in [i, i + 1] * height_m / H.
    width_m, height_m
        The rectangle's size along x and y.
    rotation, translation
        The prop's pose in the world, (3, 3) and (3,).
    """

    name: str
    texture: Float32Array
    width_m: float
    height_m: float
    rotation: Float64Array
    translation: Float64Array

    def __post_init__(self) -> None:
        texture = np.asarray(self.texture)
        if texture.ndim != 3 or texture.shape[2] != 3 or texture.shape[0] < 1 or texture.shape[1] < 1:
            raise ValueError(f"prop '{self.name}': texture must be (height, width, 3), got {texture.shape}")
        if texture.dtype != np.float32:
            texture = texture.astype(np.float32)
        rotation = np.asarray(self.rotation, dtype=np.float64)
        translation = np.asarray(self.translation, dtype=np.float64).reshape(-1)
        if rotation.shape != (3, 3) or not np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-6) \
                or np.linalg.det(rotation) < 0:
            raise ValueError(f"prop '{self.name}': rotation must be a 3 x 3 rotation matrix")
        if translation.shape != (3,) or not np.all(np.isfinite(translation)):
            raise ValueError(f"prop '{self.name}': translation must be 3 finite numbers")
        if not (self.width_m > 0 and self.height_m > 0):
            raise ValueError(f"prop '{self.name}': width_m and height_m must be > 0")
        object.__setattr__(self, "texture", _read_only(texture))
        object.__setattr__(self, "rotation", _read_only(rotation))
        object.__setattr__(self, "translation", _read_only(translation))

    def moved_to(self, rotation: npt.ArrayLike, translation: npt.ArrayLike) -> PlanarProp:
        """The same prop (sharing its texture) at another pose."""
        return replace(self, rotation=np.asarray(rotation, dtype=np.float64),
                       translation=np.asarray(translation, dtype=np.float64))

    def world_points(self, prop_points: npt.ArrayLike) -> Float64Array:
        """Prop-frame points (N, 3) in the world frame."""
        points = np.asarray(prop_points, dtype=np.float64).reshape(-1, 3)
        return np.asarray(points @ self.rotation.T + self.translation, dtype=np.float64)


@dataclass(frozen=True)
class PropLayer:
    """What the props add to one camera's image: the touched pixels and their prop light, pre-multiplied.

    The pixel's scene-linear colour is ``scene * (1 - coverage) + radiance``.
    """

    index: npt.NDArray[np.intp]  # flat pixel indices
    coverage: Float32Array  # (K,) share of the pixel's samples that see a prop in front of the scene
    radiance: Float32Array  # (K, 3) prop light reaching the pixel, already times its coverage


def _scene_depth(truth: CameraTruth, hits: Hits, pixels: npt.NDArray[np.intp]) -> Float64Array:
    """Camera z of what the scene shows at ``pixels`` (inf on the backdrop)."""
    rows = np.full(truth.intrinsics.width * truth.intrinsics.height, -1, dtype=np.intp)
    rows[hits.index] = np.arange(hits.index.size)
    found = rows[pixels]
    depth = np.full(pixels.size, np.inf)
    seen = found >= 0
    points = hits.points[found[seen]].astype(np.float64)
    depth[seen] = points @ truth.rotation[2] + truth.translation[2]
    return depth


def _irradiance(points: Float64Array, normal: Float64Array, light_positions: Float64Array,
                light_colours: Float64Array, ambient: float) -> Float64Array:
    """Irradiance (K, 3) at world ``points`` on a surface facing ``normal``: ambient plus cos / d^2 per light."""
    result = np.full((points.shape[0], 3), ambient)
    if light_positions.size and points.size:
        # n.(p - x) and |p - x|^2 for every (point, light) pair from matrix products, as the renderer does.
        facing = np.maximum((light_positions @ normal)[None, :] - (points @ normal)[:, None], 0.0)
        dist2 = (np.einsum("ij,ij->i", points, points)[:, None] - 2.0 * points @ light_positions.T
                 + np.einsum("ij,ij->i", light_positions, light_positions)[None, :])
        result += (facing / (dist2 * np.sqrt(dist2))) @ light_colours
    return result


@dataclass(frozen=True)
class _PropView:
    """One prop as one camera sees it: the homography from normalised image points to prop coordinates."""

    prop: PlanarProp
    image_to_prop: Float64Array  # (3, 3): (X, Y, 1) ~ H (x, y, 1); 1 / w[2] is the camera z
    front: bool
    normal_world: Float64Array


def _views(truth: CameraTruth, props: Sequence[PlanarProp]) -> list[_PropView]:
    views = []
    for prop in props:
        rotation = truth.rotation @ prop.rotation
        offset = truth.rotation @ prop.translation + truth.translation
        plane = np.column_stack([rotation[:, 0], rotation[:, 1], offset])
        if abs(np.linalg.det(plane)) < 1e-12:
            continue  # the camera centre lies in the prop's plane: it sees the prop edge-on
        camera_in_prop = prop.rotation.T @ (truth.centre - prop.translation)
        front = bool(camera_in_prop[2] < 0.0)
        normal = -prop.rotation[:, 2] if front else prop.rotation[:, 2]
        image_to_prop = np.asarray(np.linalg.inv(plane), dtype=np.float64)
        views.append(_PropView(prop, image_to_prop, front, np.asarray(normal, dtype=np.float64)))
    return views


def _candidates(view: _PropView, x: Float64Array, y: Float64Array, pixel_size: float) -> npt.NDArray[np.intp]:
    """Pixels (flat indices) whose centre ray might meet the prop: inside the bounding box of its outline."""
    prop = view.prop
    outline = np.array([[0.0, 0.0, 1.0], [prop.width_m, 0.0, 1.0], [prop.width_m, prop.height_m, 1.0],
                        [0.0, prop.height_m, 1.0]])
    image = outline @ np.linalg.inv(view.image_to_prop).T  # (X, Y, 1) -> (x, y, 1) times the camera z
    if np.any(image[:, 2] <= 1e-9):  # a corner at or behind the camera: no finite outline, test every pixel
        return np.arange(x.size)
    corners_x, corners_y = image[:, 0] / image[:, 2], image[:, 1] / image[:, 2]
    margin = 2.0 * pixel_size
    return np.flatnonzero((x >= corners_x.min() - margin) & (x <= corners_x.max() + margin)
                          & (y >= corners_y.min() - margin) & (y <= corners_y.max() + margin))


def _covered_pixels(views: list[_PropView], grid: Float64Array, pixel_size: float) -> npt.NDArray[np.intp]:
    """Pixels whose area may show a prop: centres on a prop, grown by one pixel for the partly covered rim."""
    height, width = grid.shape[:2]
    x, y = grid[..., 0].ravel(), grid[..., 1].ravel()
    mask = np.zeros(height * width, dtype=np.uint8)
    for view in views:
        candidates = _candidates(view, x, y, pixel_size)
        if candidates.size == 0:
            continue
        h = view.image_to_prop
        cx, cy = x[candidates], y[candidates]
        w = h[:, 0:1] * cx + h[:, 1:2] * cy + h[:, 2:3]
        ahead = w[2] > 0.0
        with np.errstate(divide="ignore", invalid="ignore"):
            px, py = w[0] / w[2], w[1] / w[2]
        inside = ahead & (px >= 0.0) & (px <= view.prop.width_m) & (py >= 0.0) & (py <= view.prop.height_m)
        mask[candidates[inside]] = 1
    if not mask.any():
        return np.zeros(0, dtype=np.intp)
    grown = cv2.dilate(mask.reshape(height, width), np.ones((3, 3), np.uint8))
    return np.flatnonzero(grown.ravel())


def _bilinear_weights() -> Float64Array:
    """(S, 9): each sample as a fixed blend of the pixel's 3 x 3 neighbourhood of pixel centres."""
    weights = np.zeros((SAMPLES_PER_PIXEL, 3, 3))
    for k, (du, dv) in enumerate(zip(_SAMPLE_DU, _SAMPLE_DV, strict=True)):
        u0, v0 = int(np.floor(du)), int(np.floor(dv))  # -1 or 0
        a, b = du - u0, dv - v0
        weights[k, v0 + 1, u0 + 1] += (1 - a) * (1 - b)
        weights[k, v0 + 1, u0 + 2] += a * (1 - b)
        weights[k, v0 + 2, u0 + 1] += (1 - a) * b
        weights[k, v0 + 2, u0 + 2] += a * b
    return weights.reshape(SAMPLES_PER_PIXEL, 9)


_WEIGHTS = _bilinear_weights()


def _sample_rays(padded: Float64Array, pixels: npt.NDArray[np.intp], width: int) -> tuple[Float64Array, Float64Array]:
    """Normalised coordinates (K, S) of the sub-pixel samples, bilinear between pixel centres.

    The sample pattern is the same in every pixel, so each sample is a fixed blend of the 3 x 3 pixel
    centres around it: nine gathers and one small matrix product instead of four gathers per sample.
    """
    u = pixels % width + 1  # +1: the grid is padded by one pixel
    v = pixels // width + 1
    neighbours = np.stack([padded[v + dv, u + du] for dv in (-1, 0, 1) for du in (-1, 0, 1)])  # (9, K, 2)
    samples = np.tensordot(_WEIGHTS, neighbours, axes=(1, 0))  # (S, K, 2)
    return np.ascontiguousarray(samples[..., 0].T), np.ascontiguousarray(samples[..., 1].T)


def _trace(views: list[_PropView], sx: Float64Array, sy: Float64Array, nearest: Float64Array,
           ) -> tuple[npt.NDArray[np.intp], Float32Array]:
    """Which prop (index into ``views``, -1 none) each ray (x, y, 1) meets first, and its albedo there.

    ``nearest`` holds the depth of the scene behind each ray (camera z); it is updated in place.
    """
    albedo = np.zeros((*sx.shape, 3), dtype=np.float32)
    winner = np.full(sx.shape, -1, dtype=np.intp)
    for number, view in enumerate(views):
        h = view.image_to_prop
        w2 = h[2, 0] * sx + h[2, 1] * sy + h[2, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            depth = 1.0 / w2
            px = (h[0, 0] * sx + h[0, 1] * sy + h[0, 2]) * depth
            py = (h[1, 0] * sx + h[1, 1] * sy + h[1, 2]) * depth
        prop = view.prop
        hit = (w2 > 0.0) & (px >= 0.0) & (px < prop.width_m) & (py >= 0.0) & (py < prop.height_m) & (depth < nearest)
        if not hit.any():
            continue
        nearest[hit] = depth[hit]
        winner[hit] = number
        if view.front:
            rows, cols = prop.texture.shape[:2]
            row = np.minimum((py[hit] * (rows / prop.height_m)).astype(np.intp), rows - 1)
            col = np.minimum((px[hit] * (cols / prop.width_m)).astype(np.intp), cols - 1)
            albedo[hit] = prop.texture[row, col]
        else:
            albedo[hit] = BACK_ALBEDO
    return winner, albedo


def _needs_samples(pixels: npt.NDArray[np.intp], key: npt.NDArray[np.int64], height: int,
                   width: int) -> npt.NDArray[np.bool_]:
    """Pixels whose 3 x 3 neighbourhood of centre samples is not uniform (an edge may cross them)."""
    image = np.full(height * width, -1, dtype=np.int64)  # -1: no prop at that pixel centre
    image[pixels] = key
    padded = np.pad(image.reshape(height, width), 1, mode="edge")
    rows, cols = pixels // width + 1, pixels % width + 1
    differs = np.zeros(pixels.size, dtype=bool)
    for dv in (-1, 0, 1):
        for du in (-1, 0, 1):
            if dv or du:
                differs |= padded[rows + dv, cols + du] != key
    return differs


def prop_layer(truth: CameraTruth, props: Sequence[PlanarProp], hits: Hits, light_positions: npt.ArrayLike,
               light_colours: npt.ArrayLike, ambient: float) -> PropLayer | None:
    """What ``props`` add to the image of the camera ``truth``, or None when it sees none of them.

    Each pixel the props touch is first traced at its centre; pixels whose neighbourhood is uniform (same
    prop, same albedo) take that value, the others (edges of the props and of their texture, the subject's
    outline in front of a prop) are traced at :data:`SAMPLES_PER_PIXEL` samples and averaged.

    Parameters
    ----------
    truth
        The camera's true geometry.
    props
        The props in the studio; the nearest one wins where they overlap.
    hits
        The scene the props stand in (subject, table top), for the depth test.
    light_positions, light_colours
        Point lights (L, 3) each: positions (m) and linear colours (times intensity and power).
    ambient
        Irradiance every surface receives.
    """
    views = _views(truth, props)
    if not views:
        return None
    grid = normalised_grid(truth)
    pixels = _covered_pixels(views, grid, 1.0 / min(truth.intrinsics.fx, truth.intrinsics.fy))
    if pixels.size == 0:
        return None
    height, width = grid.shape[:2]
    centre_x, centre_y = grid[..., 0].ravel()[pixels], grid[..., 1].ravel()[pixels]
    scene_depth = _scene_depth(truth, hits, pixels)
    winner, albedo = _trace(views, centre_x, centre_y, scene_depth.copy())
    # One integer per centre sample: which prop and what albedo (to 1/4095), -1 for none.
    levels = np.rint(np.clip(albedo, 0.0, 1.0) * 4095.0).astype(np.int64)
    key = np.where(winner >= 0, winner + 64 * (levels[:, 0] + 4096 * (levels[:, 1] + 4096 * levels[:, 2])), -1)
    edge = _needs_samples(pixels, key, height, width)
    # Per prop, the albedo it shows in each pixel times the share of the pixel it covers.
    share = np.zeros((len(views), pixels.size, 3), dtype=np.float32)
    flat = ~edge & (winner >= 0)
    share[winner[flat], np.flatnonzero(flat)] = albedo[flat]
    coverage = flat.astype(np.float32)
    padded = np.pad(grid, ((1, 1), (1, 1), (0, 0)), mode="reflect", reflect_type="odd")
    sampled = np.flatnonzero(edge)
    for start in range(0, sampled.size, _CHUNK_PIXELS):
        part = sampled[start : start + _CHUNK_PIXELS]
        sx, sy = _sample_rays(padded, pixels[part], width)
        nearest = np.broadcast_to(scene_depth[part, None], sx.shape).copy()
        sample_winner, sample_albedo = _trace(views, sx, sy, nearest)
        coverage[part] = (sample_winner >= 0).mean(axis=1)
        for number in range(len(views)):
            mine = (sample_winner == number).astype(np.float32)
            share[number, part] = np.einsum("ks,ksc->kc", mine, sample_albedo) / np.float32(SAMPLES_PER_PIXEL)
    positions = np.asarray(light_positions, dtype=np.float64).reshape(-1, 3)
    colours = np.asarray(light_colours, dtype=np.float64).reshape(-1, 3)
    radiance = np.zeros((pixels.size, 3), dtype=np.float32)
    for number, view in enumerate(views):
        lit = np.flatnonzero(share[number].any(axis=1))
        if lit.size == 0:
            continue
        # Flat shading per pixel, at the point where the pixel centre's ray meets the prop's plane.
        h = view.image_to_prop
        cx, cy = centre_x[lit], centre_y[lit]
        w2 = h[2, 0] * cx + h[2, 1] * cy + h[2, 2]
        z = np.where(w2 > 0.0, 1.0 / np.maximum(w2, 1e-12), 0.0)
        world_points = (np.stack([cx * z, cy * z, z], axis=1) - truth.translation) @ truth.rotation
        irradiance = _irradiance(world_points, view.normal_world, positions, colours, ambient)
        irradiance[w2 <= 0.0] = ambient
        radiance[lit] += (share[number, lit] * irradiance).astype(np.float32)
    touched = coverage > 0.0
    if not touched.any():
        return None
    return PropLayer(pixels[touched], coverage[touched], radiance[touched])
