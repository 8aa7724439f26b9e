"""The virtual studio's renderer: what each camera records, shaded by what the DMX frames actually say.

Geometry comes from :mod:`capturerig_sim._scene` (a textured person in an A-pose, a union of ellipsoids, on a
textured turntable top) and :mod:`capturerig_sim._props` (flat textured props such as a calibration board,
anti-aliased). Behind them is a constant dark-grey backdrop that no light changes (a painted cyclorama: nothing
that stays still while the table turns may carry features, see :mod:`capturerig_sim._scene`). Shading is
Lambertian from every fixture as a point light plus a small ambient term; then each camera applies its own
colour mix, white balance, exposure, per-channel tone curve and noise.

What a real stage adds and foreground masks must survive is asked for in the rig, ``simulation: {look:
{shadows: true, light_radius_m: 0.15, spill: 0.3, backdrop: [0.01, 0.03, 0.015]}}`` (:class:`StageLook`; off
by default, so earlier renders keep their pixels): soft shadows of the subject on the table top (each fixture a
sphere the body occludes, and less ambient light round the feet), the backdrop's colour, and that colour
spilling onto the subject's edge (a grazing-angle sheen). :func:`clean_plate` renders the empty rig under any
lighting state, and :func:`subject_alpha` is the true alpha a mask is scored against.

A live subject (a person who sways between exposures and stands a little elsewhere at each pose, rig
``simulation: {live_subject: {}}``) is placed per exposure by ``subject_pose`` (:func:`live_subject_pose` of
the exposure's take and time); the true alpha of that exposure takes the same pose.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from capturerig.config import CameraConfig, FixtureConfig, RigConfig
from capturerig.lighting import UniverseKey, cct_to_rgb, decode_fixture
from capturerig_sim._body import Ellipsoid
from capturerig_sim._props import PlanarProp, PropLayer, prop_layer
from capturerig_sim._response import (
    DEFAULT_SETTINGS,
    CameraResponse,
    ExposureSettings,
    camera_response,
)
from capturerig_sim._scene import (
    BODY_PARTS,
    FLOOR_RADIUS_M,
    STILL,
    SUBJECT_CENTRE,
    CameraTruth,
    Hits,
    SubjectPose,
    camera_truth,
    clear_scene_caches,
    floor_shading,
    live_subject_pose,
    scene_hits,
)

__all__ = [
    "AMBIENT",
    "BACKGROUND_LINEAR",
    "BODY_PARTS",
    "EXPOSURE_CALIBRATION",
    "FLOOR_RADIUS_M",
    "JPEG_QUALITY",
    "STILL",
    "SUBJECT_CENTRE",
    "CameraResponse",
    "CameraTruth",
    "Ellipsoid",
    "ExposureSettings",
    "Light",
    "PlanarProp",
    "StageLook",
    "SubjectPose",
    "camera_response",
    "camera_truth",
    "clean_plate",
    "clear_render_caches",
    "encode_jpeg",
    "expected_image",
    "fixture_lights",
    "floor_mask",
    "live_subject_pose",
    "noise_sigma",
    "render_image",
    "render_linear",
    "stage_look",
    "subject_alpha",
    "subject_mask",
]

BACKGROUND_LINEAR = 0.02  # backdrop radiance, scene-linear (lit by nothing, so lights never change it)
AMBIENT = 0.02  # irradiance that reaches every surface even with all fixtures dark (room spill)
# Scene-linear to camera-linear at the reference exposure: chosen so that every fixture at full white puts
# the brightest subject patches just under clipping with the rig's default settings.
EXPOSURE_CALIBRATION = 0.85
JPEG_QUALITY = 92
_NOISE_SIGMA_8BIT = 1.0  # at ISO 100; grows with the square root of ISO
# Drawing a million normals per image costs more than the rest of the render, so images take a seeded
# window of one shared bank instead: still deterministic, and neighbouring exposures look independent.
_NOISE_BANK_SIZE = 1 << 22
_noise_bank: list[npt.NDArray[np.float32]] = []

Float32Array = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Light:
    """A fixture as a point light: position (m) and linear colour (already times intensity and power)."""

    fixture_id: str
    position: tuple[float, float, float]
    rgb: tuple[float, float, float]


@dataclass(frozen=True)
class StageLook:
    """What the stage adds to the plain render (rig ``simulation.look``); the defaults change nothing.

    Attributes
    ----------
    shadows
        The subject shadows the table top: each fixture is a sphere of ``light_radius_m`` the body occludes
        (soft edges, sharper near the feet), and the ambient light is occluded round the feet.
    light_radius_m
        Radius of each fixture's emitting sphere (a soft box), metres.
    spill
        The backdrop's colour mixed into the subject's radiance at grazing angles, up to this share at the
        silhouette: ``spill * (1 - |n.v|)^4`` (what a lit cyclorama bounces onto a subject's edge).
    backdrop
        The backdrop's scene-linear RGB radiance (lit by nothing, so the same in every lighting state).
    """

    shadows: bool = False
    light_radius_m: float = 0.15
    spill: float = 0.0
    backdrop: tuple[float, float, float] = (BACKGROUND_LINEAR, BACKGROUND_LINEAR, BACKGROUND_LINEAR)


_LOOK_KEYS = {"shadows": "true or false", "light_radius_m": "a number > 0 (metres)",
              "spill": "a number in 0..1", "backdrop": "three numbers in 0..1 (scene-linear RGB)"}
PLAIN_LOOK = StageLook()


def stage_look(rig: RigConfig | None) -> StageLook:
    """The rig's ``simulation.look`` checked (:class:`StageLook`); the plain look when it has none.

    Raises
    ------
    ValueError
        Naming the rig and the key that is malformed.
    """
    raw: Any = None if rig is None else rig.simulation.get("look")
    if raw is None:
        return PLAIN_LOOK
    where = f"rig '{rig.name if rig else ''}' simulation.look"
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: must be a mapping of {', '.join(_LOOK_KEYS)}, got {raw!r}")
    unknown = sorted(set(raw) - set(_LOOK_KEYS))
    if unknown:
        raise ValueError(f"{where}: unknown key {', '.join(map(repr, unknown))} (known: {', '.join(_LOOK_KEYS)})")

    def number(key: str, value: Any, low: float, high: float, low_open: bool = False) -> float:
        good = not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)
        if not good or value > high or value < low or (low_open and value <= low):
            raise ValueError(f"{where}.{key}: must be {_LOOK_KEYS[key]}, got {value!r}")
        return float(value)

    shadows = raw.get("shadows", PLAIN_LOOK.shadows)
    if not isinstance(shadows, bool):
        raise ValueError(f"{where}.shadows: must be {_LOOK_KEYS['shadows']}, got {shadows!r}")
    backdrop = raw.get("backdrop", list(PLAIN_LOOK.backdrop))
    if not isinstance(backdrop, list | tuple) or len(backdrop) != 3:
        raise ValueError(f"{where}.backdrop: must be {_LOOK_KEYS['backdrop']}, got {backdrop!r}")
    rgb = tuple(number("backdrop", value, 0.0, 1.0) for value in backdrop)
    return StageLook(shadows=shadows,
                     light_radius_m=number("light_radius_m", raw.get("light_radius_m", PLAIN_LOOK.light_radius_m),
                                           0.0, 10.0, low_open=True),
                     spill=number("spill", raw.get("spill", PLAIN_LOOK.spill), 0.0, 1.0),
                     backdrop=(rgb[0], rgb[1], rgb[2]))


def fixture_lights(rig: RigConfig, frames: Mapping[UniverseKey, bytes],
                   base_dir: Path | None = None) -> tuple[Light, ...]:
    """Decode every fixture of ``rig`` from the DMX ``frames`` its output holds.

    Linear colour = intensity * (red, green, blue) + intensity * white, times the fixture's power; a mode
    without an intensity channel runs at intensity 1, and a mode with no colour channel at all (a dimmer) is
    white, and one with a CCT channel has the colour of that temperature. A closed shutter decodes as
    intensity 0; a strobing fixture renders as steady light.
    """
    return _fixture_lights(rig.fixtures, tuple(sorted(frames.items())), base_dir)


# A session shoots the same few lighting states over and over; decoding them means profile look-ups on disk.
@functools.lru_cache(maxsize=256)
def _fixture_lights(fixtures: tuple[FixtureConfig, ...], frames: tuple[tuple[UniverseKey, bytes], ...],
                    base_dir: Path | None) -> tuple[Light, ...]:
    held = dict(frames)
    lights = []
    for fixture in fixtures:
        levels = decode_fixture(fixture, held, base_dir)
        intensity = levels.get("intensity", 1.0)
        if any(role in levels for role in ("red", "green", "blue", "white")):
            white = levels.get("white", 0.0)
            rgb = [levels.get(role, 0.0) + white for role in ("red", "green", "blue")]
        elif "cct" in levels:  # a bi-colour panel: white of its colour temperature
            rgb = list(cct_to_rgb(levels["cct"]))
        else:
            rgb = [1.0, 1.0, 1.0]
        scale = intensity * fixture.power
        lights.append(Light(fixture.id, fixture.position, (rgb[0] * scale, rgb[1] * scale, rgb[2] * scale)))
    return tuple(lights)


def clear_render_caches() -> None:
    """Forget cached ray grids, hit maps and decoded lights (tests; a process rendering many rigs)."""
    clear_scene_caches()
    _fixture_lights.cache_clear()


def _radiance(hits: Hits, lights: tuple[Light, ...], room_light: float = 0.0, truth: CameraTruth | None = None,
              turntable_deg: float = 0.0, look: StageLook = PLAIN_LOOK, pose: SubjectPose = STILL) -> Float32Array:
    """Scene-linear RGB leaving each hit point towards the camera, (M, 3).

    ``truth``, ``turntable_deg`` and ``pose`` (where the subject stands) are needed only by a ``look`` with
    shadows or spill.
    """
    shading = None
    # No subject (a plate): nothing casts a shadow.
    if look.shadows and truth is not None and lights and hits.subject.any() and not hits.subject.all():
        all_positions = np.array([light.position for light in lights], dtype=np.float64)
        shading = floor_shading(truth, turntable_deg, hits, all_positions, look.light_radius_m, pose)
    ambient = np.full((hits.index.size, 1), AMBIENT + room_light, dtype=np.float32)
    irradiance = ambient * shading[1][:, None] if shading is not None else np.repeat(ambient, 3, axis=1)
    irradiance = np.broadcast_to(irradiance, (hits.index.size, 3)).copy()
    lit_index = [i for i, light in enumerate(lights) if any(channel > 0.0 for channel in light.rgb)]
    if lit_index and hits.index.size:
        lit = [lights[i] for i in lit_index]
        positions = np.array([light.position for light in lit], dtype=np.float32)
        colours = np.array([light.rgb for light in lit], dtype=np.float32)
        # Every (point, fixture) pair at once: n.(p - x) and |p - x|^2 from two matrix products.
        towards = hits.points @ positions.T
        facing = hits.normals @ positions.T - hits.normal_dot_point[:, None]
        dist2 = hits.point_norm2[:, None] - 2.0 * towards + np.einsum("ij,ij->i", positions, positions)[None, :]
        weight = np.maximum(facing, 0.0) / (dist2 * np.sqrt(dist2))  # cos(theta) / d^2
        if shading is not None:
            weight = weight * shading[0][:, lit_index]
        irradiance += weight @ colours
    radiance = np.asarray(hits.albedo * irradiance, dtype=np.float32)
    if look.spill > 0.0 and truth is not None and hits.subject.any():
        radiance = _with_spill(radiance, hits, truth, look)
    return radiance


def _with_spill(radiance: Float32Array, hits: Hits, truth: CameraTruth, look: StageLook) -> Float32Array:
    """The backdrop's colour mixed into the subject's edge, by how grazing the view of the surface is."""
    subject = np.flatnonzero(hits.subject)
    view = truth.centre.astype(np.float32)[None, :] - hits.points[subject]
    view /= np.linalg.norm(view, axis=1, keepdims=True)
    cosine = np.abs(np.einsum("ij,ij->i", hits.normals[subject], view))
    share = (np.float32(look.spill) * (1.0 - cosine) ** 4)[:, None]
    backdrop = np.array(look.backdrop, dtype=np.float32)[None, :]
    radiance[subject] = radiance[subject] * (1.0 - share) + backdrop * share
    return radiance


def _props_of(truth: CameraTruth, props: Sequence[PlanarProp], hits: Hits,
              lights: tuple[Light, ...], room_light: float) -> PropLayer | None:
    if not props:
        return None
    positions = np.array([light.position for light in lights], dtype=np.float64).reshape(-1, 3)
    colours = np.array([light.rgb for light in lights], dtype=np.float64).reshape(-1, 3)
    return prop_layer(truth, props, hits, positions, colours, AMBIENT + room_light)


def _with_props(layer: PropLayer, hits: Hits, surface_linear: Float32Array, pixel_count: int,
                backdrop: tuple[float, float, float] = PLAIN_LOOK.backdrop) -> Float32Array:
    """Scene-linear colour of the prop layer's pixels: the scene behind, blended with the props in front."""
    rows = np.full(pixel_count, -1, dtype=np.intp)
    rows[hits.index] = np.arange(hits.index.size)
    found = rows[layer.index]
    behind = np.empty((layer.index.size, 3), dtype=np.float32)
    behind[:] = np.array(backdrop, dtype=np.float32)
    behind[found >= 0] = surface_linear[found[found >= 0]]
    return np.asarray(behind * (1.0 - layer.coverage)[:, None] + layer.radiance, dtype=np.float32)


def render_linear(truth: CameraTruth, lights: tuple[Light, ...], turntable_deg: float,
                  props: Sequence[PlanarProp] = (), subject_present: bool = True,
                  room_light: float = 0.0, look: StageLook = PLAIN_LOOK,
                  subject_pose: SubjectPose = STILL) -> Float32Array:
    """Scene-linear RGB radiance seen by each pixel, shape (height, width, 3), float32.

    Parameters
    ----------
    truth
        The camera's true geometry (:func:`camera_truth`).
    lights
        Fixtures as decoded from the held DMX frames (:func:`fixture_lights`).
    turntable_deg
        Table angle; the subject and the table top turn with it about the world z axis.
    props
        Planar props in the studio (a calibration board ...), in front of or behind the subject.
    subject_present
        False leaves the subject out.
    room_light
        Extra irradiance on every surface from the studio's house lights (0: off).
    look
        Shadows, spill and the backdrop's colour (:func:`stage_look` of the rig).
    subject_pose
        Where a live subject stands for this exposure (:func:`live_subject_pose`); default still.
    """
    hits = scene_hits(truth, turntable_deg, subject_present, subject_pose)
    intr = truth.intrinsics
    image = np.empty((intr.width * intr.height, 3), dtype=np.float32)
    image[:] = np.array(look.backdrop, dtype=np.float32)
    surface = _radiance(hits, lights, room_light, truth, turntable_deg, look, subject_pose)
    image[hits.index] = surface
    layer = _props_of(truth, props, hits, lights, room_light)
    if layer is not None:
        image[layer.index] = _with_props(layer, hits, surface, image.shape[0], look.backdrop)
    return image.reshape(intr.height, intr.width, 3)


def _noise(count: int, seed: int) -> npt.NDArray[np.float32]:
    """``count`` standard normal values, a window of the shared bank chosen by ``seed``."""
    if not _noise_bank:
        _noise_bank.append(np.random.default_rng(0x5EED).standard_normal(_NOISE_BANK_SIZE, dtype=np.float32))
    bank = _noise_bank[0]
    if count > bank.size:
        return np.random.default_rng(seed).standard_normal(count, dtype=np.float32)
    start = int(np.random.default_rng(seed).integers(0, bank.size - count + 1))
    return bank[start : start + count]


def noise_sigma(iso: float) -> float:
    """Standard deviation of the sim's sensor noise in 8-bit levels at ``iso``."""
    return _NOISE_SIGMA_8BIT * math.sqrt(iso / 100.0)


def render_image(camera: CameraConfig, rig: RigConfig, frames: Mapping[UniverseKey, bytes],
                 turntable_deg: float = 0.0, settings: Mapping[str, str] | None = None,
                 base_dir: Path | None = None, noise_seed: int | None = None,
                 props: Sequence[PlanarProp] = (), subject_present: bool = True,
                 truth: CameraTruth | None = None, room_light: float = 0.0,
                 subject_pose: SubjectPose | None = None) -> npt.NDArray[np.uint8]:
    """What ``camera`` records: an 8-bit BGR image (height, width, 3).

    Parameters
    ----------
    camera
        The camera (its ground truth comes from :func:`camera_truth`, its response from its serial).
    rig
        The rig whose fixtures are lit by ``frames``.
    frames
        DMX frames by (light output id, universe), as a light output holds them.
    turntable_deg
        Table angle in degrees.
    settings
        Camera settings (``iso``, ``shutter``, ``aperture``, ``whitebalance``); missing keys fall back to
        the rig's settings for this camera, then to the power-on defaults.
    base_dir
        Where relative fixture-profile paths of the rig are resolved.
    noise_seed
        Seed of the sensor noise; None renders without noise.
    props
        Planar props in the studio at this exposure (:class:`PlanarProp`).
    subject_present
        False leaves the subject out (a calibration capture).
    truth
        The camera's true geometry when it is not :func:`camera_truth` (a camera knocked mid-capture).
    room_light
        Extra irradiance on every surface from the studio's house lights (0: off), as the fixtures'
        light is measured (a full white fixture gives about 0.6 at 1.8 m).
    subject_pose
        Where a live subject stands for this exposure (:func:`live_subject_pose` of its take and time: every
        camera of one trigger gets the same); None: still, where the table puts it.

    Raises
    ------
    ValueError
        When a setting cannot be used (naming it), or the rig's ``simulation.truth`` is malformed.
    """
    merged = {**DEFAULT_SETTINGS, **camera.settings, **(settings or {})}
    exposure = ExposureSettings.from_settings(merged)
    truth = camera_truth(camera, rig) if truth is None else truth
    look = stage_look(rig)
    pose = STILL if subject_pose is None else subject_pose
    hits = scene_hits(truth, turntable_deg, subject_present, pose)
    response = camera_response(truth.serial)
    gain = EXPOSURE_CALIBRATION * exposure.gain
    lights = fixture_lights(rig, frames, base_dir)
    # The camera pipeline runs on the pixels that see something; the backdrop is one colour, done once.
    surface_linear = _radiance(hits, lights, room_light, truth, turntable_deg, look, pose)
    surface = response.apply(surface_linear, gain, exposure.whitebalance)
    backdrop = response.apply(np.array([look.backdrop], dtype=np.float32), gain, exposure.whitebalance)
    intr = truth.intrinsics
    levels = np.empty((intr.width * intr.height, 3), dtype=np.float32)
    levels[:] = backdrop[:, ::-1] * np.float32(255.0)  # BGR from here on
    levels[hits.index] = surface[:, ::-1] * np.float32(255.0)
    layer = _props_of(truth, props, hits, lights, room_light)
    if layer is not None:
        blended = _with_props(layer, hits, surface_linear, levels.shape[0], look.backdrop)
        levels[layer.index] = response.apply(blended, gain, exposure.whitebalance)[:, ::-1] * np.float32(255.0)
    if noise_seed is not None:
        flat = levels.reshape(-1)
        flat += _noise(flat.size, noise_seed) * np.float32(noise_sigma(exposure.iso))
    np.rint(levels, out=levels)
    np.clip(levels, 0.0, 255.0, out=levels)
    return levels.astype(np.uint8).reshape(intr.height, intr.width, 3)


def expected_image(camera: CameraConfig, rig: RigConfig, frames: Mapping[UniverseKey, bytes],
                   turntable_deg: float = 0.0, settings: Mapping[str, str] | None = None,
                   base_dir: Path | None = None, props: Sequence[PlanarProp] = (),
                   subject_present: bool = True, room_light: float = 0.0,
                   subject_pose: SubjectPose | None = None) -> npt.NDArray[np.uint8]:
    """The noiseless image ``camera`` should record (what a sim camera's JPEG decodes to, within noise).

    Same parameters as :func:`render_image`; pass an exposure record's ``frames``, ``turntable_deg``,
    ``settings``, ``props``, ``subject_present`` and ``room_light`` (and a live subject's pose) to check a
    downloaded file.
    """
    return render_image(camera, rig, frames, turntable_deg, settings, base_dir, noise_seed=None, props=props,
                        subject_present=subject_present, room_light=room_light, subject_pose=subject_pose)


def clean_plate(camera: CameraConfig, rig: RigConfig, frames: Mapping[UniverseKey, bytes],
                turntable_deg: float = 0.0, settings: Mapping[str, str] | None = None,
                base_dir: Path | None = None, noise_seed: int | None = None,
                room_light: float = 0.0) -> npt.NDArray[np.uint8]:
    """What ``camera`` records of the empty rig (no subject, so no shadow) under the lighting ``frames`` hold.

    Same parameters as :func:`render_image`; a plate for a turntable station is rendered at its angle (the
    table top turns with it). Masks are made by differencing a take against its plate.
    """
    return render_image(camera, rig, frames, turntable_deg, settings, base_dir, noise_seed=noise_seed,
                        subject_present=False, room_light=room_light)


def subject_alpha(camera: CameraConfig, turntable_deg: float = 0.0,
                  rig: RigConfig | None = None, subject_pose: SubjectPose = STILL) -> npt.NDArray[np.float32]:
    """The true alpha of the subject in ``camera``'s image (height, width), float32 in 0..1.

    The renderer traces one ray through each pixel centre, so a pixel is all subject or all not: the alpha is
    exactly 0 or 1, the same coverage every rendered image of this camera, angle and subject pose has (with or
    without shadows and spill, which change colours, never coverage). Pass the ``rig`` for its true cameras,
    and a live subject's ``subject_pose`` of the exposure (the one its image was rendered with).
    """
    return subject_mask(camera, turntable_deg, rig, subject_pose).astype(np.float32)


def _mask(camera: CameraConfig, turntable_deg: float, subject: bool, rig: RigConfig | None,
          pose: SubjectPose = STILL) -> npt.NDArray[np.bool_]:
    truth = camera_truth(camera, rig)
    hits = scene_hits(truth, turntable_deg, pose=pose)
    mask = np.zeros(truth.intrinsics.width * truth.intrinsics.height, dtype=bool)
    mask[hits.index[hits.subject == subject]] = True
    return mask.reshape(truth.intrinsics.height, truth.intrinsics.width)


def subject_mask(camera: CameraConfig, turntable_deg: float = 0.0,
                 rig: RigConfig | None = None, subject_pose: SubjectPose = STILL) -> npt.NDArray[np.bool_]:
    """Pixels of ``camera`` that see the subject (height, width), bool.

    Pass the ``rig`` to get the mask of the true camera (``simulation.truth``); without it, the nominal one.
    ``subject_pose``: where a live subject stood for the exposure (default still).
    """
    return _mask(camera, turntable_deg, True, rig, subject_pose)


def floor_mask(camera: CameraConfig, turntable_deg: float = 0.0,
               rig: RigConfig | None = None, subject_pose: SubjectPose = STILL) -> npt.NDArray[np.bool_]:
    """Pixels of ``camera`` that see the turntable top and not the subject (height, width), bool."""
    return _mask(camera, turntable_deg, False, rig, subject_pose)


def encode_jpeg(image_bgr: npt.NDArray[np.uint8], quality: int = JPEG_QUALITY) -> bytes:
    """Encode an 8-bit BGR image as a baseline JPEG, as the sim camera writes it to its card."""
    ok, buffer = cv2.imencode(".jpg", np.ascontiguousarray(image_bgr), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"JPEG encoding failed for an image of shape {image_bgr.shape}")
    return bytes(np.asarray(buffer).tobytes())
