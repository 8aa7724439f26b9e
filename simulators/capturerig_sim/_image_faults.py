"""Faults a camera's pictures show while every file arrives whole: the faults the per-image checks must catch.

Each is a fault kind of :class:`capturerig_sim._faults.FaultInjector`, scheduled on a camera like any other
and consumed once per exposure (every exposure is one opportunity for each kind, so ``after=k`` lands on the
camera's exposure k + 1), and recorded in the sim ledger when it fires.

- ``defocus``: the lens is out of focus: a Gaussian blur of sigma 2 px at full size, before the sensor noise.
- ``motion_blur``: the subject moved during the exposure: a 9 px directional blur, before the noise.
- ``wrong_shutter``: the body used another shutter: 2 EV over or under (the light x4 or /4, in linear light).
- ``stale_file``: the body hands over its previous exposure's files again (the shutter did not fire).
- ``silent_fixture``: the light this camera saw did not change for the take: the previous lighting state's.
- ``late_fire``: the camera fired after the light changed: the next lighting state's light where the studio
  has already shown it (a burst), else the fixtures dark (a flash already over; the room light stays).
- ``lens_cap``: the cap is on: black plus the sensor's read noise.
- ``bumped``: the camera was knocked: its image shifted by 6 px and turned by 0.6 deg.

The optical faults act on the noiseless render, and the sensor noise is added after them, so a blurred image
is as noisy as a sharp one (blurring the noise too would make defocus easier to see than it is).
:func:`faulty_image` renders one exposure with the faults that act on its pixels (the shutter and the optics);
the ones that choose what is rendered (a stale file, another lighting state's frames) are the caller's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, get_args

import cv2
import numpy as np
import numpy.typing as npt

from capturerig_sim._faults import FaultKind

if TYPE_CHECKING:
    from capturerig.config import CameraConfig, RigConfig
    from capturerig.lighting import UniverseKey
    from capturerig_sim._props import PlanarProp
    from capturerig_sim._scene import SubjectPose

__all__ = [
    "BUMP_ANGLE_DEG",
    "BUMP_SHIFT_PX",
    "DEFOCUS_SIGMA_PX",
    "IMAGE_FAULT_KINDS",
    "MOTION_LENGTH_PX",
    "OPTICAL_FAULTS",
    "SHUTTER_EV",
    "ImageFaultKind",
    "add_sensor_noise",
    "apply_optical_faults",
    "faulty_image",
    "shutter_settings",
    "take_picture_faults",
]

ImageFaultKind = Literal["defocus", "motion_blur", "wrong_shutter", "stale_file", "silent_fixture", "late_fire",
                         "lens_cap", "bumped"]
IMAGE_FAULT_KINDS: tuple[ImageFaultKind, ...] = get_args(ImageFaultKind)
OPTICAL_FAULTS = frozenset({"defocus", "motion_blur", "lens_cap", "bumped"})  # act on the rendered pixels
DEFOCUS_SIGMA_PX = 2.0
MOTION_LENGTH_PX = 9
SHUTTER_EV = 2.0
BUMP_SHIFT_PX = 6.0
BUMP_ANGLE_DEG = 0.6


def shutter_settings(settings: Mapping[str, str], seed: int, default_shutter_s: float) -> dict[str, str]:
    """``settings`` with the shutter 2 EV longer or shorter (which one: ``seed``'s lowest bit)."""
    from capturerig_sim._response import ExposureSettings  # the parser the renderer uses

    merged = dict(settings)
    try:
        shutter_s = ExposureSettings.from_settings(merged).shutter_s
    except (KeyError, ValueError):
        shutter_s = default_shutter_s
    factor = 2.0 ** SHUTTER_EV if seed & 1 else 2.0 ** -SHUTTER_EV
    merged["shutter"] = f"{min(30.0, max(1 / 8000, shutter_s * factor)):.6g}"
    return merged


def apply_optical_faults(image: npt.NDArray[np.uint8], kinds: frozenset[str], seed: int) -> npt.NDArray[np.float32]:
    """The noiseless 8-bit BGR ``image`` as the faulty optics deliver it (float, 0..255, before noise)."""
    out = image.astype(np.float32)
    if "lens_cap" in kinds:
        return np.zeros_like(out)
    if "bumped" in kinds:
        height, width = out.shape[:2]
        rng = np.random.default_rng(seed)
        angle = BUMP_ANGLE_DEG * (1 if rng.random() < 0.5 else -1)
        direction = rng.uniform(0.0, 2.0 * np.pi)
        matrix = cv2.getRotationMatrix2D((width / 2.0, height / 2.0), angle, 1.0)
        matrix = np.asarray(matrix, dtype=np.float64)
        matrix[:, 2] = matrix[:, 2] + BUMP_SHIFT_PX * np.array([np.cos(direction), np.sin(direction)])
        out = np.asarray(cv2.warpAffine(out, matrix, (width, height), flags=cv2.INTER_LINEAR,
                                        borderMode=cv2.BORDER_REPLICATE), dtype=np.float32)
    if "defocus" in kinds:
        out = np.asarray(cv2.GaussianBlur(out, (0, 0), DEFOCUS_SIGMA_PX), dtype=np.float32)
    if "motion_blur" in kinds:
        angle = np.random.default_rng(seed + 1).uniform(0.0, 180.0)
        kernel = np.zeros((MOTION_LENGTH_PX, MOTION_LENGTH_PX), dtype=np.float32)
        kernel[MOTION_LENGTH_PX // 2, :] = 1.0
        centre = (MOTION_LENGTH_PX / 2.0 - 0.5, MOTION_LENGTH_PX / 2.0 - 0.5)
        turned = np.asarray(cv2.warpAffine(kernel, cv2.getRotationMatrix2D(centre, angle, 1.0),
                                           (MOTION_LENGTH_PX, MOTION_LENGTH_PX)), dtype=np.float32)
        out = np.asarray(cv2.filter2D(out, -1, turned / turned.sum(), borderType=cv2.BORDER_REPLICATE),
                         dtype=np.float32)
    return out


def add_sensor_noise(levels: npt.NDArray[np.float32], sigma: float, seed: int) -> npt.NDArray[np.uint8]:
    """``levels`` (float 0..255) with Gaussian noise of ``sigma`` 8-bit levels, rounded to 8 bits."""
    noisy = levels + np.random.default_rng(seed).standard_normal(levels.shape, dtype=np.float32) * np.float32(sigma)
    return np.clip(np.rint(noisy), 0.0, 255.0).astype(np.uint8)


class _FaultSource(Protocol):
    def take_fault(self, device_id: str, kind: FaultKind) -> bool: ...


def take_picture_faults(studio: _FaultSource, camera_id: str, has_previous: bool) -> frozenset[ImageFaultKind]:
    """The picture faults due on ``camera_id``'s exposure now (one opportunity for each kind; ``stale_file``
    only counts once the camera has a previous exposure to hand over again)."""
    return frozenset(kind for kind in IMAGE_FAULT_KINDS
                     if (has_previous or kind != "stale_file") and studio.take_fault(camera_id, kind))


def faulty_image(camera: CameraConfig, rig: RigConfig, frames: Mapping[UniverseKey, bytes], turntable_deg: float,
                 settings: Mapping[str, str], base_dir: Path | None, noise_seed: int, faults: frozenset[str], *,
                 props: Sequence[PlanarProp] = (), subject_present: bool = True, room_light: float = 0.0,
                 subject_pose: SubjectPose | None = None) -> npt.NDArray[np.uint8]:
    """What ``camera`` records of one exposure (8-bit BGR) with the picture ``faults`` that act on its pixels:
    ``wrong_shutter`` (the settings' shutter 2 EV off) and the :data:`OPTICAL_FAULTS` (on the noiseless render,
    then the sensor noise). Parameters as :func:`capturerig_sim.render.render_image`; ``frames`` already those
    a ``silent_fixture`` or ``late_fire`` shows, and a ``stale_file`` is not rendered at all (the caller hands
    over the previous files)."""
    from capturerig_sim._response import DEFAULT_SETTINGS, ExposureSettings
    from capturerig_sim.render import noise_sigma, render_image

    if "wrong_shutter" in faults:
        settings = shutter_settings(settings, noise_seed, 1 / 125)
    optical = faults & OPTICAL_FAULTS
    image = render_image(camera, rig, frames, turntable_deg, settings, base_dir,
                         noise_seed=None if optical else noise_seed, props=props, subject_present=subject_present,
                         room_light=room_light, subject_pose=subject_pose)
    if not optical:
        return image
    iso = ExposureSettings.from_settings({**DEFAULT_SETTINGS, **camera.settings, **settings}).iso
    return add_sensor_noise(apply_optical_faults(image, optical, noise_seed), noise_sigma(iso), noise_seed)
