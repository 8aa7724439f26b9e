"""The virtual studio's renderer: what each camera records, shaded by what the DMX frames actually say.

Geometry comes from :mod:`capturerig_sim._scene` (a textured person in an A-pose, a union of ellipsoids, on a
textured turntable top) and :mod:`capturerig_sim._props` (flat textured props such as a calibration board,
anti-aliased). Behind them is a constant dark-grey backdrop that no light changes (a painted cyclorama: nothing
that stays still while the table turns may carry features, see :mod:`capturerig_sim._scene`). Shading is
Lambertian from every fixture as a point light (no shadows yet) plus a small ambient term; then each camera
applies its own colour mix, white balance, exposure, per-channel tone curve and noise.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

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
    SUBJECT_CENTRE,
    CameraTruth,
    Hits,
    camera_truth,
    clear_scene_caches,
    scene_hits,
)

__all__ = [
    "AMBIENT",
    "BACKGROUND_LINEAR",
    "BODY_PARTS",
    "EXPOSURE_CALIBRATION",
    "FLOOR_RADIUS_M",
    "JPEG_QUALITY",
    "SUBJECT_CENTRE",
    "CameraResponse",
    "CameraTruth",
    "Ellipsoid",
    "ExposureSettings",
    "Light",
    "PlanarProp",
    "camera_response",
    "camera_truth",
    "clear_render_caches",
    "encode_jpeg",
    "expected_image",
    "fixture_lights",
    "floor_mask",
    "noise_sigma",
    "render_image",
    "render_linear",
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


def _radiance(hits: Hits, lights: tuple[Light, ...], room_light: float = 0.0) -> Float32Array:
    """Scene-linear RGB leaving each hit point towards the camera, (M, 3)."""
    irradiance = np.full((hits.index.size, 3), AMBIENT + room_light, dtype=np.float32)
    lit = [light for light in lights if any(channel > 0.0 for channel in light.rgb)]
    if lit and hits.index.size:
        positions = np.array([light.position for light in lit], dtype=np.float32)
        colours = np.array([light.rgb for light in lit], dtype=np.float32)
        # Every (point, fixture) pair at once: n.(p - x) and |p - x|^2 from two matrix products.
        towards = hits.points @ positions.T
        facing = hits.normals @ positions.T - hits.normal_dot_point[:, None]
        dist2 = hits.point_norm2[:, None] - 2.0 * towards + np.einsum("ij,ij->i", positions, positions)[None, :]
        weight = np.maximum(facing, 0.0) / (dist2 * np.sqrt(dist2))  # cos(theta) / d^2
        irradiance += weight @ colours
    return np.asarray(hits.albedo * irradiance, dtype=np.float32)


def _props_of(truth: CameraTruth, props: Sequence[PlanarProp], hits: Hits,
              lights: tuple[Light, ...], room_light: float) -> PropLayer | None:
    if not props:
        return None
    positions = np.array([light.position for light in lights], dtype=np.float64).reshape(-1, 3)
    colours = np.array([light.rgb for light in lights], dtype=np.float64).reshape(-1, 3)
    return prop_layer(truth, props, hits, positions, colours, AMBIENT + room_light)


def _with_props(layer: PropLayer, hits: Hits, surface_linear: Float32Array, pixel_count: int) -> Float32Array:
    """Scene-linear colour of the prop layer's pixels: the scene behind, blended with the props in front."""
    rows = np.full(pixel_count, -1, dtype=np.intp)
    rows[hits.index] = np.arange(hits.index.size)
    found = rows[layer.index]
    behind = np.full((layer.index.size, 3), BACKGROUND_LINEAR, dtype=np.float32)
    behind[found >= 0] = surface_linear[found[found >= 0]]
    return np.asarray(behind * (1.0 - layer.coverage)[:, None] + layer.radiance, dtype=np.float32)


def render_linear(truth: CameraTruth, lights: tuple[Light, ...], turntable_deg: float,
                  props: Sequence[PlanarProp] = (), subject_present: bool = True,
                  room_light: float = 0.0) -> Float32Array:
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
    """
    hits = scene_hits(truth, turntable_deg, subject_present)
    intr = truth.intrinsics
    image = np.full((intr.width * intr.height, 3), BACKGROUND_LINEAR, dtype=np.float32)
    surface = _radiance(hits, lights, room_light)
    image[hits.index] = surface
    layer = _props_of(truth, props, hits, lights, room_light)
    if layer is not None:
        image[layer.index] = _with_props(layer, hits, surface, image.shape[0])
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
                 truth: CameraTruth | None = None, room_light: float = 0.0) -> npt.NDArray[np.uint8]:
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

    Raises
    ------
    ValueError
        When a setting cannot be used (naming it), or the rig's ``simulation.truth`` is malformed.
    """
    merged = {**DEFAULT_SETTINGS, **camera.settings, **(settings or {})}
    exposure = ExposureSettings.from_settings(merged)
    truth = camera_truth(camera, rig) if truth is None else truth
    hits = scene_hits(truth, turntable_deg, subject_present)
    response = camera_response(truth.serial)
    gain = EXPOSURE_CALIBRATION * exposure.gain
    lights = fixture_lights(rig, frames, base_dir)
    # The camera pipeline runs on the pixels that see something; the backdrop is one colour, done once.
    surface_linear = _radiance(hits, lights, room_light)
    surface = response.apply(surface_linear, gain, exposure.whitebalance)
    backdrop = response.apply(np.full((1, 3), BACKGROUND_LINEAR, dtype=np.float32), gain, exposure.whitebalance)
    intr = truth.intrinsics
    levels = np.empty((intr.width * intr.height, 3), dtype=np.float32)
    levels[:] = backdrop[:, ::-1] * np.float32(255.0)  # BGR from here on
    levels[hits.index] = surface[:, ::-1] * np.float32(255.0)
    layer = _props_of(truth, props, hits, lights, room_light)
    if layer is not None:
        blended = _with_props(layer, hits, surface_linear, levels.shape[0])
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
                   subject_present: bool = True, room_light: float = 0.0) -> npt.NDArray[np.uint8]:
    """The noiseless image ``camera`` should record (what a sim camera's JPEG decodes to, within noise).

    Same parameters as :func:`render_image`; pass an exposure record's ``frames``, ``turntable_deg``,
    ``settings``, ``props``, ``subject_present`` and ``room_light`` to check a downloaded file.
    """
    return render_image(camera, rig, frames, turntable_deg, settings, base_dir, noise_seed=None, props=props,
                        subject_present=subject_present, room_light=room_light)


def _mask(camera: CameraConfig, turntable_deg: float, subject: bool, rig: RigConfig | None) -> npt.NDArray[np.bool_]:
    truth = camera_truth(camera, rig)
    hits = scene_hits(truth, turntable_deg)
    mask = np.zeros(truth.intrinsics.width * truth.intrinsics.height, dtype=bool)
    mask[hits.index[hits.subject == subject]] = True
    return mask.reshape(truth.intrinsics.height, truth.intrinsics.width)


def subject_mask(camera: CameraConfig, turntable_deg: float = 0.0,
                 rig: RigConfig | None = None) -> npt.NDArray[np.bool_]:
    """Pixels of ``camera`` that see the subject (height, width), bool.

    Pass the ``rig`` to get the mask of the true camera (``simulation.truth``); without it, the nominal one.
    """
    return _mask(camera, turntable_deg, True, rig)


def floor_mask(camera: CameraConfig, turntable_deg: float = 0.0,
               rig: RigConfig | None = None) -> npt.NDArray[np.bool_]:
    """Pixels of ``camera`` that see the turntable top and not the subject (height, width), bool."""
    return _mask(camera, turntable_deg, False, rig)


def encode_jpeg(image_bgr: npt.NDArray[np.uint8], quality: int = JPEG_QUALITY) -> bytes:
    """Encode an 8-bit BGR image as a baseline JPEG, as the sim camera writes it to its card."""
    ok, buffer = cv2.imencode(".jpg", np.ascontiguousarray(image_bgr), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise ValueError(f"JPEG encoding failed for an image of shape {image_bgr.shape}")
    return bytes(np.asarray(buffer).tobytes())
