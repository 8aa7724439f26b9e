"""Seeded procedural textures for the virtual subject and the turntable top, fixed to the surfaces they paint.

Structure from motion matches small image patches between views, so the texture must be distinctive at every
scale a camera resolves and repeat nowhere: a repeating pattern (a checker, sectors) gives matches that look
right and are wrong. Both textures here are sums of value-noise octaves on lattices that are randomly turned
and shifted per octave (no lattice direction shows), each lattice point carrying random values from a seeded
numpy generator (the same in every process; never ``hash()``). The body's texture is solid: it is evaluated
at the 3-D surface point in the subject frame, so it neither stretches over curved parts nor seams where
parts meet. The table's is the 2-D analogue in the table frame.

A pixel is about 3 mm on the subject at the demo rig's 2.2 m, so the octaves run from ~15 cm (what tells one
region of the body from another) down to 8.5 mm lattices, whose features reach down to a few millimetres (the
finest a camera resolves); a finer lattice only aliases.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["body_albedo", "table_albedo"]

Float32Array = npt.NDArray[np.float32]
Float64Array = npt.NDArray[np.float64]

_LATTICE = 1 << 14  # hash period in lattice cells along each axis: over 100 m at the finest scale, never seen
_MASK = _LATTICE - 1


@dataclass(frozen=True)
class _Octave:
    scale_m: float  # lattice spacing
    turn: Float64Array  # (3, 3) random rotation of the lattice
    shift: Float64Array  # (3,) random offset, in cells


@dataclass(frozen=True)
class _Noise:
    """One seeded noise: a permutation hash, lattice values and the octaves that use them."""

    perm: npt.NDArray[np.int32]  # a permutation of the lattice, twice over (indices up to 2 * _LATTICE)
    values: npt.NDArray[np.generic]  # (_LATTICE,) one float32, or four float32 packed as one complex128
    channels: int
    octaves: tuple[_Octave, ...]
    spread: float  # standard deviation of the octave sum (per channel), for normalising
    planar: bool


def _random_turn(rng: np.random.Generator, planar: bool) -> Float64Array:
    if planar:  # a turn about z only, so that the plane stays the plane
        angle = rng.uniform(0.0, 2.0 * np.pi)
        return np.array([[np.cos(angle), -np.sin(angle), 0.0], [np.sin(angle), np.cos(angle), 0.0],
                         [0.0, 0.0, 1.0]])
    q, r = np.linalg.qr(rng.standard_normal((3, 3)))
    q = q * np.sign(np.diag(r))  # a uniformly random rotation (Haar), not biased by the QR's sign convention
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return np.asarray(q, dtype=np.float64)


def _noise(seed: int, scales_m: tuple[float, ...], channels: int, planar: bool) -> _Noise:
    """Equally strong octaves at ``scales_m``, ``channels`` (1 or 4) values per lattice point."""
    rng = np.random.default_rng(seed)
    once = rng.permutation(_LATTICE).astype(np.int32)
    values = rng.uniform(-1.0, 1.0, size=(_LATTICE, channels)).astype(np.float32)
    # Four float32 channels travel as one complex128, so a corner costs one 16-byte gather, not four.
    packed = values.view(np.complex128).reshape(_LATTICE) if channels == 4 else values.reshape(_LATTICE)
    octaves = tuple(_Octave(scale, _random_turn(rng, planar), rng.uniform(0.0, 1000.0, size=3))
                    for scale in scales_m)
    # Quintic-faded value noise of uniform lattice values has a standard deviation of about 0.40 (3-D) or 0.46
    # (2-D) per octave (measured); independent octaves add in quadrature.
    per_octave = 0.46 if planar else 0.40
    spread = float(per_octave * np.sqrt(len(octaves)))
    return _Noise(np.concatenate([once, once]), packed, channels, octaves, spread, planar)


def _fade(t: Float64Array) -> Float64Array:
    """Perlin's quintic: continuous slope and curvature across cell faces, so no lattice lines show."""
    return np.asarray(t * t * t * (t * (t * 6.0 - 15.0) + 10.0), dtype=np.float64)


def _value_noise(noise: _Noise, cells: Float64Array) -> Float32Array:
    """Interpolated lattice values at (N, 3) lattice coordinates, (N, channels)."""
    base = np.floor(cells)
    weight = _fade(cells - base).astype(np.float32)
    corner = base.astype(np.int32) & _MASK
    perm, values, channels = noise.perm, noise.values, noise.channels
    i, j, k = corner[:, 0], corner[:, 1], corner[:, 2]
    wx, wy, wz = weight[:, 0:1], weight[:, 1:2], weight[:, 2:3]

    def at(index: npt.NDArray[np.int32]) -> Float32Array:
        return values[perm[index]].view(np.float32).reshape(-1, channels)

    # perm holds two periods back to back, so perm[perm[i] + j] needs no masking (every term is < _LATTICE).
    by_x = []
    for dx in (0, 1):
        hx = perm[i + dx]
        by_y = []
        for dy in (0, 1):
            hxy = perm[hx + j + dy] + k
            low = at(hxy)
            by_y.append(low if noise.planar else low + wz * (at(hxy + 1) - low))
        by_x.append(by_y[0] + wy * (by_y[1] - by_y[0]))
    return np.asarray(by_x[0] + wx * (by_x[1] - by_x[0]), dtype=np.float32)


def _octave_sum(noise: _Noise, points: Float64Array) -> Float32Array:
    """Normalised sum of ``noise``'s octaves at (N, 3) points: about unit standard deviation per channel."""
    total = np.zeros((points.shape[0], noise.channels), dtype=np.float32)
    for octave in noise.octaves:
        cells = points @ (octave.turn.T / octave.scale_m) + octave.shift
        total += _value_noise(noise, cells)
    return np.asarray(total / np.float32(noise.spread), dtype=np.float32)


# Body: colour (a brightness and three hue channels) from 15 cm down to 5 cm, where a body has its regions of
# one colour; brightness alone below that (SIFT sees grey), down to 8.5 mm, features of 1-3 pixels at 2.2 m.
# A 6 mm octave was tried: it only aliases at 3 mm pixels, and gave fewer and falser matches between views.
_BODY_COLOUR = _noise(20240611, (0.15, 0.085, 0.048), channels=4, planar=False)
_BODY_DETAIL = _noise(20240612, (0.027, 0.015, 0.0085), channels=1, planar=False)
# Table top: colour at 12 and 6 cm, brightness from 3 cm down to 8.5 mm.
_TABLE_COLOUR = _noise(20240613, (0.12, 0.06), channels=4, planar=True)
_TABLE_DETAIL = _noise(20240614, (0.03, 0.015, 0.0085), channels=1, planar=True)
# Every channel of the body stays in this range: bright enough that a light of any one colour lights every
# point, dark enough that the rig's full white stays under clipping.
_BODY_RANGE = (0.15, 0.80)


def body_albedo(points: Float64Array) -> Float32Array:
    """Linear RGB albedo of the body at (N, 3) subject-frame surface points, (N, 3) float32.

    Brightness and hue both vary (so colour calibration and the eye have something to see); every channel stays
    in 0.15-0.80. The fine octaves weigh more than the coarse ones in the brightness: contrast at the scale of
    a few pixels is what makes a feature distinctive (measured: more, and truer, SIFT matches between views).
    """
    colour = _octave_sum(_BODY_COLOUR, points)
    detail = _octave_sum(_BODY_DETAIL, points)
    brightness = 0.42 + 0.25 * np.tanh(0.6 * colour[:, :1] + 1.2 * detail)
    albedo = brightness * (1.0 + 0.3 * np.tanh(colour[:, 1:]))
    return np.asarray(np.clip(albedo, *_BODY_RANGE), dtype=np.float32)


# A red mark on the rim at 0 deg (table frame +x): an operator sees where the table stands.
_MARK_RADII_M = (0.45, 0.57)
_MARK_HALF_WIDTH_M = 0.015


def table_albedo(x: Float64Array, y: Float64Array) -> Float32Array:
    """Linear RGB albedo of the turntable top at table-frame points (``x``, ``y``), (N, 3) float32.

    Darker and less colourful than the body (a worn, stained top), with a red mark at 0 deg.
    """
    points = np.stack([x, y, np.zeros_like(x)], axis=1)
    colour = _octave_sum(_TABLE_COLOUR, points)
    detail = _octave_sum(_TABLE_DETAIL, points)
    brightness = 0.17 + 0.11 * np.tanh(0.6 * colour[:, :1] + 1.2 * detail)
    tint = np.array([1.0, 0.85, 0.7], dtype=np.float32)  # warm, like stained wood
    albedo = brightness * tint * (1.0 + 0.2 * np.tanh(colour[:, 1:]))
    mark = (np.abs(y) < _MARK_HALF_WIDTH_M) & (x > _MARK_RADII_M[0]) & (x < _MARK_RADII_M[1])
    albedo[mark] = (0.55, 0.08, 0.06)
    return np.asarray(albedo, dtype=np.float32)
