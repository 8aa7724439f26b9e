"""A sim camera's sensor as a RAW file records it: a Bayer mosaic of 14-bit counts, before any camera processing.

The same light the JPEG path renders (:func:`capturerig_sim.render.render_linear`, scene-linear BT.2020 with
D65 white) reaches the sensor through the camera's own colour mix (:mod:`capturerig_sim._response`) and its
channel sensitivities, the inverse of its daylight white-balance gains (so daylight grey reads as the camera's
as-shot neutral, as a real sensor's green is the most sensitive). The lens darkens the corners (cos^4 falloff
of a lens of the camera's own field of view, scaled by ``vignetting``); the DNG states the gain that undoes it
(:func:`vignetting_correction`, its FixVignetteRadial opcode), as a camera's lens profile does. Counts:
``black + signal`` with the signal in the white level's units, photon (shot) noise from a full well of
``full_well_e`` electrons at base ISO and a read noise in counts, rounded and clipped at the white level as a
sensor's ADC does.

``sensor_counts`` without a seed is the noiseless truth the linearity tests compare against.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from capturerig_sim._response import CameraResponse

__all__ = ["BT2020_TO_XYZ", "CFA_PATTERNS", "SensorModel", "mosaic", "sensor_counts", "vignetting_correction",
           "vignetting_map"]

# ITU-R BT.2020 primaries, D65 white: linear RGB to CIE XYZ (Y of white = 1).
BT2020_TO_XYZ = np.array([[0.6369580, 0.1446169, 0.1688810],
                          [0.2627002, 0.6779981, 0.0593017],
                          [0.0000000, 0.0280727, 1.0609851]])
# Colour index (0 red, 1 green, 2 blue) of the 2x2 repeat's pixels, row by row.
CFA_PATTERNS: dict[str, tuple[int, int, int, int]] = {
    "RGGB": (0, 1, 1, 2), "BGGR": (2, 1, 1, 0), "GRBG": (1, 0, 2, 1), "GBRG": (1, 2, 0, 1)}


@dataclass(frozen=True)
class SensorModel:
    """What a sim body's sensor and lens add to the light (defaults: a full-frame 14-bit sensor)."""

    pattern: str = "RGGB"
    black_level: int = 512
    white_level: int = 16383  # 14 bits
    full_well_e: float = 40000.0  # electrons at the white level at base ISO (shot noise)
    read_noise_counts: float = 2.5
    vignetting: float = 1.0  # 1: the lens's cos^4 falloff; 0: none
    half_fov_deg: float = 30.0  # half the diagonal field of view, for the falloff

    def __post_init__(self) -> None:
        if self.pattern not in CFA_PATTERNS:
            raise ValueError(f"pattern: {self.pattern!r} is not one of {', '.join(CFA_PATTERNS)}")
        if not 0 <= self.black_level < self.white_level <= 65535:
            raise ValueError(f"levels: black {self.black_level} and white {self.white_level} must satisfy "
                             "0 <= black < white <= 65535")

    def sensitivities(self, response: CameraResponse) -> npt.NDArray[np.float64]:
        """Per channel (R, G, B): the sensor's gain, green = 1 (the inverse of the daylight balance)."""
        gains = np.asarray(response.wb_gains, dtype=np.float64)
        return np.asarray(gains[1] / gains, dtype=np.float64)

    def camera_from_scene(self, response: CameraResponse) -> npt.NDArray[np.float64]:
        """3x3: scene-linear BT.2020 RGB to the sensor's native RGB (before the mosaic)."""
        return np.diag(self.sensitivities(response)) @ np.asarray(response.mix, dtype=np.float64)

    def colour_matrix(self, response: CameraResponse) -> npt.NDArray[np.float64]:
        """DNG ColorMatrix1 (XYZ to camera native, D65): D65 white maps to a camera vector of maximum 1."""
        matrix = self.camera_from_scene(response) @ np.linalg.inv(BT2020_TO_XYZ)
        white = matrix @ (BT2020_TO_XYZ @ np.ones(3))
        return np.asarray(matrix / white.max(), dtype=np.float64)

    def as_shot_neutral(self, response: CameraResponse) -> npt.NDArray[np.float64]:
        """DNG AsShotNeutral: the camera's reading of D65 grey, maximum 1."""
        neutral = self.camera_from_scene(response) @ np.ones(3)
        return np.asarray(neutral / neutral.max(), dtype=np.float64)


def vignetting_map(height: int, width: int, sensor: SensorModel) -> npt.NDArray[np.float32]:
    """Relative illumination (1 at the centre) of each pixel: cos^4 of its angle off the axis."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    half_diagonal = np.hypot((width - 1) / 2, (height - 1) / 2) or 1.0
    radius = np.hypot(xs - (width - 1) / 2, ys - (height - 1) / 2) / half_diagonal
    return np.asarray(_falloff(radius, sensor), dtype=np.float32)


def _falloff(radius: npt.NDArray[np.float64], sensor: SensorModel) -> npt.NDArray[np.float64]:
    angle = np.arctan(radius * np.tan(np.radians(sensor.half_fov_deg)))
    return np.asarray(1.0 - sensor.vignetting * (1.0 - np.cos(angle) ** 4), dtype=np.float64)


def vignetting_correction(sensor: SensorModel) -> tuple[float, float, float, float, float]:
    """DNG FixVignetteRadial k0..k4: the gain ``1 + k0 r^2 + ... + k4 r^10`` (r = 1 at the farthest corner)
    that undoes the lens's falloff, fitted to it (within 0.05 % over the frame for the default lens)."""
    radius = np.linspace(0.0, 1.0, 201)
    powers = np.stack([radius ** (2 * (k + 1)) for k in range(5)], axis=1)
    coefficients, *_ = np.linalg.lstsq(powers, 1.0 / _falloff(radius, sensor) - 1.0, rcond=None)
    k0, k1, k2, k3, k4 = (float(c) for c in coefficients)
    return k0, k1, k2, k3, k4


def mosaic(camera_rgb: npt.NDArray[np.float32], pattern: str) -> npt.NDArray[np.float32]:
    """Each pixel keeps the one channel its colour filter passes: (height, width, 3) -> (height, width)."""
    height, width = camera_rgb.shape[:2]
    if height % 2 or width % 2:
        raise ValueError(f"a Bayer mosaic needs even dimensions, not {width}x{height}")
    colours = CFA_PATTERNS[pattern]
    out = np.empty((height, width), dtype=np.float32)
    for k, (dy, dx) in enumerate(((0, 0), (0, 1), (1, 0), (1, 1))):
        out[dy::2, dx::2] = camera_rgb[dy::2, dx::2, colours[k]]
    return out


def sensor_counts(scene_linear: npt.NDArray[np.float32], response: CameraResponse, exposure_gain: float,
                  sensor: SensorModel, noise_seed: int | None = None, iso: float = 100.0) -> npt.NDArray[np.uint16]:
    """The CFA counts (height, width) uint16 for ``scene_linear`` (height, width, 3) at ``exposure_gain``
    (linear, 1 = the reference exposure maps scene 1.0 to the white level); noiseless without a seed."""
    native = scene_linear.astype(np.float32) @ sensor.camera_from_scene(response).T.astype(np.float32)
    native *= np.float32(exposure_gain)
    native *= vignetting_map(scene_linear.shape[0], scene_linear.shape[1], sensor)[..., None]
    signal = mosaic(native, sensor.pattern)  # in units of the white level
    span = float(sensor.white_level - sensor.black_level)
    counts = signal * np.float32(span)
    if noise_seed is not None:
        rng = np.random.default_rng(noise_seed)
        # Photon noise: electrons ~ Poisson; a count is full_well / span / (iso / 100) electrons. Normal approx.
        electrons_per_count = sensor.full_well_e / span / (iso / 100.0)
        shot_sigma = np.sqrt(np.maximum(counts, 0.0) / np.float32(electrons_per_count))
        counts += rng.standard_normal(counts.shape, dtype=np.float32) * shot_sigma
        counts += rng.standard_normal(counts.shape, dtype=np.float32) * np.float32(sensor.read_noise_counts)
    counts += np.float32(sensor.black_level)
    np.rint(counts, out=counts)
    np.clip(counts, 0, sensor.white_level, out=counts)
    return counts.astype(np.uint16)
