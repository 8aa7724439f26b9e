"""The checks: each looks at one image's figures against the camera's own history and the take's other cameras,
and returns a verdict with a reason a technician acts on, and the figures behind it."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from capturerig.config import QcThresholds
from capturerig.qc._history import CameraHistory, Seen
from capturerig.qc._measure import ImageStats

__all__ = ["CHECKS", "MIN_OUTSIDE", "CheckResult", "Subject", "Verdict", "check_black", "check_exposure", "check_light",
           "check_moved", "check_sharpness", "check_stale", "take_level"]

Array = npt.NDArray[np.floating[Any]]
Spectrum = npt.NDArray[np.complex128]
BoolArray = npt.NDArray[np.bool_]
CHECKS = ("black", "stale", "sharpness", "exposure", "light", "moved")
OTHER_STATION_SLACK = 2.0  # thresholds widened (EV and colour x2, sharpness ratios squared) against other stations
MIN_OUTSIDE = 0.15  # "moved" needs this share of the frame outside the subject region, or it says so
TILES = 3  # "moved" measures the view in TILES x TILES parts: a bump turns the view as well as shifting it
_MIN_MATCH = 0.7  # a part whose best correlation is below this has nothing to match (noise only peaks at 0.5-0.6)
_MIN_CELLS = 24  # a part with fewer still cells than this is not measured
_MIN_OVERLAP = 0.3  # shifts at which the two parts overlap in less than this share of the most are not tried


class Verdict(StrEnum):
    """A check's outcome, worst last."""

    OK = "ok"
    WARN = "warn"
    FAIL = "fail"

    @property
    def rank(self) -> int:
        return ("ok", "warn", "fail").index(self.value)


@dataclass(frozen=True)
class CheckResult:
    """One check of one image: ``reason`` is what to do, ``figures`` what it measured."""

    check: str
    verdict: Verdict
    reason: str
    figures: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"check": self.check, "verdict": self.verdict.value, "reason": self.reason, "figures": self.figures}


@dataclass(frozen=True)
class Subject:
    """The image being checked: where it is from and its figures."""

    camera_id: str
    path: str
    take_id: str
    light_id: str | None
    station: str | None
    stats: ImageStats
    plate: bool = False  # a clean plate (the empty rig): judged against the camera's plates only


def _graded(value: float, warn: float, fail: float, above: bool = True) -> Verdict:
    if (value > fail) if above else (value < fail):
        return Verdict.FAIL
    if (value > warn) if above else (value < warn):
        return Verdict.WARN
    return Verdict.OK


def _ok(check: str, reason: str, **figures: Any) -> CheckResult:
    return CheckResult(check, Verdict.OK, reason, figures)


def check_black(image: Subject, limits: QcThresholds) -> CheckResult:
    """A black or near-uniform frame: a lens cap, a shutter that did not open, a sensor that read nothing."""
    stats = image.stats
    figures = {"top": round(stats.top, 2), "spread": round(stats.spread, 2)}
    if stats.top < limits.black_level:
        return CheckResult("black", Verdict.FAIL, f"{image.camera_id} delivered a black frame (its brightest "
                           f"1 % at {stats.top:.0f}/255): check the lens cap and that the shutter fires", figures)
    if stats.spread < limits.uniform_std:
        return CheckResult("black", Verdict.FAIL, f"{image.camera_id} delivered a near-uniform frame (spread "
                           f"{stats.spread:.1f} levels): nothing in view -- check the lens cap, the lens and the "
                           "shutter", figures)
    return _ok("black", "a picture", **figures)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0.0 else 10.0 * math.log10(255.0 ** 2 / mse)


def check_stale(image: Subject, history: CameraHistory, limits: QcThresholds) -> CheckResult:
    """The camera handed over a file it had delivered before, or the same picture under another light/station
    (a second exposure of the same scene is near-identical by nature and is not compared; so is a clean plate
    at another station under the same light: the empty rig may look the same whichever way the table turned)."""
    stats = image.stats
    earlier = history.delivered(stats.sha256)
    if earlier is not None:
        return CheckResult("stale", Verdict.FAIL, f"{image.camera_id} handed over the same file again (identical "
                           f"to {earlier}): it did not expose -- check its trigger cable and reshoot",
                           {"identical_to": earlier})
    for seen in reversed(list(history)):
        if seen.light_id == image.light_id and (seen.station == image.station or image.plate):
            continue
        bits = (seen.stats.phash ^ stats.phash).bit_count()
        if bits > limits.near_identical_bits:
            continue
        psnr = _psnr(seen.stats.thumb, stats.thumb)
        if psnr >= limits.near_identical_psnr_db:
            return CheckResult("stale", Verdict.FAIL, f"{image.camera_id} delivered the same picture as {seen.path} "
                               f"({psnr:.0f} dB alike) although the light or station changed: it did not expose "
                               "anew -- check its trigger and reshoot",
                               {"near_identical_to": seen.path, "hash_bits": bits, "psnr_db": round(psnr, 1)})
    return _ok("stale", "a new picture")


def check_sharpness(image: Subject, history: CameraHistory, limits: QcThresholds) -> CheckResult:
    """Sharpness against the camera's own earlier images of the same lighting state (and station), never an
    absolute figure."""
    base, exact = history.like(image.light_id, image.station)
    if not base:
        return _ok("sharpness", "no earlier image of this camera in this light to compare with")
    lap = statistics.median(seen.stats.laplacian for seen in base)
    ten = statistics.median(seen.stats.tenengrad for seen in base)
    if lap <= 0.0 or ten <= 0.0:
        return _ok("sharpness", "the camera's earlier images have no detail to compare with")
    ratio = math.sqrt(image.stats.laplacian / lap * image.stats.tenengrad / ten)
    figures = {"ratio": round(ratio, 3), "laplacian_ratio": round(image.stats.laplacian / lap, 3),
               "tenengrad_ratio": round(image.stats.tenengrad / ten, 3), "baseline_images": len(base),
               "same_station": exact}
    slack = 1.0 if exact else OTHER_STATION_SLACK  # another station shows the subject turned: other detail
    verdict = _graded(ratio, limits.sharpness_warn ** slack, limits.sharpness_fail ** slack, above=False)
    if verdict is Verdict.OK:
        return CheckResult("sharpness", verdict, f"as sharp as its own images ({ratio:.0%})", figures)
    return CheckResult("sharpness", verdict, f"{image.camera_id} is {1 - ratio:.0%} softer than its own takes: "
                       "check focus (or the subject moved during the exposure)", figures)


def _expected(values: list[float], others: list[float]) -> float:
    if values:
        return statistics.median(values)
    return statistics.median(others) if others else 0.0


def check_exposure(image: Subject, history: CameraHistory, others: list[Subject],
                   limits: QcThresholds) -> CheckResult:
    """Clipped and crushed shares of the subject region against what this lighting state gives the camera
    (its own earlier images in it, else the take's other cameras)."""
    base, _ = history.like(image.light_id, image.station)
    stats = image.stats
    clipped_expected = _expected([s.stats.clipped for s in base], [o.stats.clipped for o in others])
    crushed_expected = _expected([s.stats.crushed for s in base], [o.stats.crushed for o in others])
    over, under = stats.clipped - clipped_expected, stats.crushed - crushed_expected
    figures = {"clipped": round(stats.clipped, 5), "clipped_expected": round(clipped_expected, 5),
               "crushed": round(stats.crushed, 5), "crushed_expected": round(crushed_expected, 5)}
    clip = _graded(over, limits.clipped_warn, limits.clipped_fail)
    crush = _graded(under, limits.crushed_warn, limits.crushed_fail)
    if clip.rank >= crush.rank and clip is not Verdict.OK:
        return CheckResult("exposure", clip, f"{image.camera_id}: {stats.clipped:.1%} of the subject is clipped "
                           f"(about {clipped_expected:.1%} expected in this light): overexposed -- check its "
                           "shutter, ISO and aperture", figures)
    if crush is not Verdict.OK:
        return CheckResult("exposure", crush, f"{image.camera_id}: {stats.crushed:.1%} of the subject is black "
                           f"(about {crushed_expected:.1%} expected in this light): underexposed -- check its "
                           "shutter, ISO and aperture, and that the light fired", figures)
    return _ok("exposure", "clipping and shadows as expected", **figures)


@dataclass(frozen=True)
class _Expected:
    """What the camera's own earlier images in this lighting state (and station) look like."""

    ratio: float  # this image's linear light against theirs
    chroma: tuple[float, float, float]
    thumb: np.ndarray  # their median thumbnail
    exact: bool  # the same station


_DARK = 1e-4  # linear light under which a region counts as black (ratios would be noise)


def _expectation(image: Subject, history: CameraHistory) -> _Expected | None:
    base, exact = history.like(image.light_id, image.station)
    if not base:
        return None
    light = statistics.median(seen.stats.light for seen in base)
    chroma = tuple(statistics.median(seen.stats.chroma[i] for seen in base) for i in range(3))
    thumb = np.median(np.stack([seen.stats.thumb for seen in base]), axis=0)
    return _Expected(max(image.stats.light, _DARK) / max(light, _DARK), (chroma[0], chroma[1], chroma[2]), thumb,
                     exact)


_PATTERN_SIZE = (8, 6)  # width, height: where the light falls, not where a swaying person's outline stands


def _pattern(thumb: np.ndarray, expected: np.ndarray) -> float:
    """How differently the light falls: mean difference of the two thumbnails, each relative to its mean, at
    8x6 (at the thumbnail's 32x24 a person standing a few centimetres elsewhere reads as light falling otherwise:
    bench/qc --live)."""
    thumb = cv2.resize(thumb, _PATTERN_SIZE, interpolation=cv2.INTER_AREA)
    expected = cv2.resize(expected, _PATTERN_SIZE, interpolation=cv2.INTER_AREA)
    a, b = float(thumb.mean()), float(expected.mean())
    if a <= 0.5 or b <= 0.5:
        return 0.0
    return float(np.abs(thumb / a - expected / b).mean())


def take_level(images: list[tuple[Subject, CameraHistory]]) -> float:
    """The take's cameras' median level against their own history in this state (1: as always)."""
    ratios = [found.ratio for image, history in images if (found := _expectation(image, history)) is not None]
    return statistics.median(ratios) if ratios else 1.0


def check_light(image: Subject, history: CameraHistory, take_ratio: float, limits: QcThresholds) -> CheckResult:
    """Brightness and colour against what the commanded lighting state gives this camera (its own history in
    that state) and what it gives the take's other cameras this time."""
    found = _expectation(image, history)
    if found is None:
        return _ok("light", "no earlier image of this camera in this light to compare with")
    ratio, chroma, exact = found.ratio, found.chroma, found.exact
    slack = 1.0 if exact else OTHER_STATION_SLACK
    # Where the light falls (a key light from one side against an even wash) only compares at one station.
    pattern = _pattern(image.stats.thumb, found.thumb) if exact else 0.0
    own_ev = math.log2(ratio)
    # A take whose cameras all moved together was lit wrongly as a whole: judge each against its own history.
    whole_take = abs(math.log2(take_ratio)) >= limits.light_fail_ev
    ev = own_ev if whole_take else math.log2(ratio / take_ratio)
    shift = max(abs(a - b) for a, b in zip(image.stats.chroma, chroma, strict=True))
    figures = {"ev": round(ev, 3), "own_ev": round(own_ev, 3), "take_ev": round(math.log2(take_ratio), 3),
               "chroma_shift": round(shift, 4), "pattern": round(pattern, 4)}
    level = _graded(abs(ev), limits.light_warn_ev * slack, limits.light_fail_ev * slack)
    colour = _graded(shift, limits.colour_warn * slack, limits.colour_fail * slack)
    shape = _graded(pattern, limits.pattern_warn, limits.pattern_fail)
    state = image.light_id or "this lighting state"
    if level.rank >= colour.rank and level is not Verdict.OK:
        way = "darker" if ev < 0 else "brighter"
        cause = ("the whole take is off: a fixture that did not change or a light that was not steady"
                 if whole_take else "a missed flash, a fixture that did not change, a fire before the light "
                 "settled or after it changed, or a wrong shutter/ISO on this camera")
        return CheckResult("light", level, f"{image.camera_id} is {abs(ev):.1f} EV {way} than {state} gives it: "
                           f"{cause} -- reshoot the take", figures)
    if colour is not Verdict.OK:
        return CheckResult("light", colour, f"{image.camera_id}'s colour is off for {state} (chromaticity moved "
                           f"{shift:.2f}): a fixture showed another colour or did not change -- reshoot the take",
                           figures)
    if shape is not Verdict.OK:
        return CheckResult("light", shape, f"{image.camera_id}: the light falls differently from {state} on its "
                           f"earlier takes (pattern moved {pattern:.2f}): a fixture that did not change, or a fire "
                           "before the light settled or after it changed -- reshoot the take", figures)
    return _ok("light", f"as {state} lights it", **figures)


def _masked_ncc(a: Array, mask_a: BoolArray, b: Array, mask_b: BoolArray) -> tuple[Array, Array]:
    """The normalised correlation of ``b`` against ``a`` at every shift, over only the cells both masks keep where
    they overlap at that shift (Padfield, "Masked object registration in the Fourier domain", IEEE TIP 2012), and
    how many cells that is. Index ``(b.shape - 1)`` of the result is no shift. Unlike phase correlation, a border
    the two images share -- the subject region's, the frame's -- does not take part, so it cannot pin the match
    at no shift."""
    shape = (a.shape[0] + b.shape[0] - 1, a.shape[1] + b.shape[1] - 1)

    def spectrum(x: Array) -> Spectrum:
        return np.fft.rfft2(x, shape)

    def back(x: Spectrum) -> Array:
        return np.asarray(np.fft.irfft2(x, shape), np.float64)

    fixed = np.where(mask_a, a, 0.0).astype(np.float64)
    moving = np.where(mask_b, b, 0.0).astype(np.float64)[::-1, ::-1]  # correlation as a convolution
    fixed_mask, moving_mask = mask_a.astype(np.float64), mask_b[::-1, ::-1].astype(np.float64)
    f_fixed, f_moving = spectrum(fixed), spectrum(moving)
    f_fixed_mask, f_moving_mask = spectrum(fixed_mask), spectrum(moving_mask)
    count = np.maximum(np.rint(back(f_fixed_mask * f_moving_mask)), 1.0)
    sum_fixed, sum_moving = back(f_moving_mask * f_fixed), back(f_fixed_mask * f_moving)
    numerator = back(f_fixed * f_moving) - sum_fixed * sum_moving / count
    var_fixed = np.maximum(back(f_moving_mask * spectrum(fixed * fixed)) - sum_fixed ** 2 / count, 0.0)
    var_moving = np.maximum(back(f_fixed_mask * spectrum(moving * moving)) - sum_moving ** 2 / count, 0.0)
    denominator = np.sqrt(var_fixed * var_moving)
    usable = ((denominator > 1e3 * np.finfo(np.float64).eps * max(float(denominator.max()), 1e-300))
              & (count >= _MIN_OVERLAP * count.max()))
    ncc = np.zeros(shape)
    ncc[usable] = numerator[usable] / denominator[usable]
    return np.clip(ncc, -1.0, 1.0), count


def _vertex(before: float, peak: float, after: float) -> float:
    """Where a parabola through three neighbouring samples peaks, from the middle one (-0.5 .. 0.5)."""
    curvature = before - 2.0 * peak + after
    return 0.0 if curvature >= 0.0 else max(-0.5, min(0.5, 0.5 * (before - after) / curvature))


def _part_shift(a: Array, mask_a: BoolArray, b: Array, mask_b: BoolArray) -> tuple[float, float, float] | None:
    """How far ``b``'s view moved against ``a``'s (cells, x and y, sub-cell) and the match's correlation; None
    when there is nothing to match."""
    if min(int(mask_a.sum()), int(mask_b.sum())) < _MIN_CELLS:
        return None
    ncc, _ = _masked_ncc(a, mask_a, b, mask_b)
    row, col = np.unravel_index(int(np.argmax(ncc)), ncc.shape)
    peak = float(ncc[row, col])
    if peak < _MIN_MATCH:
        return None
    dy = _vertex(ncc[row - 1, col], peak, ncc[row + 1, col]) if 0 < row < ncc.shape[0] - 1 else 0.0
    dx = _vertex(ncc[row, col - 1], peak, ncc[row, col + 1]) if 0 < col < ncc.shape[1] - 1 else 0.0
    return b.shape[1] - 1 - (col + dx), b.shape[0] - 1 - (row + dy), peak


def _shift(reference: Seen, image: Subject) -> tuple[float, float, int] | None:
    """The view's largest shift against ``reference`` over its parts (full-size px), that part's correlation
    and how many parts had something to match; None when none had.

    Each part on its own: a bump turns the view as well as shifting it, so the parts move apart, and a part whose
    only detail is an edge (the stage's rim) shows only the shift across it -- two such parts side by side can
    agree on no shift at all although each moved (bench/qc --live: a camera whose stage corners moved 3-4 px read
    0.4 px when the whole view was correlated at once).
    """
    a, b = reference.stats.view, image.stats.view
    if a.shape != b.shape:  # another frame size (a setting changed): nothing to compare with
        return None
    found = []
    height, width = a.shape
    for row in range(TILES):
        for col in range(TILES):
            part = np.s_[row * height // TILES : (row + 1) * height // TILES,
                         col * width // TILES : (col + 1) * width // TILES]
            moved = _part_shift(a[part], reference.stats.still[part], b[part], image.stats.still[part])
            if moved is not None:
                found.append((math.hypot(moved[0], moved[1]) * image.stats.scale, moved[2]))
    if not found:
        return None
    shift, response = max(found)
    return shift, response, len(found)


def check_moved(image: Subject, history: CameraHistory, limits: QcThresholds) -> CheckResult:
    """The view shifted against the camera's earlier images of the same scene -- the same station and lighting
    state (the rig stands as it stood and is lit alike) -- measured by masked normalised correlation of reduced
    gray views, part by part, outside the subject region (a person sways; the rig, stage and backdrop do not)."""
    outside = image.stats.outside
    if outside < MIN_OUTSIDE:
        return _ok("moved", f"nothing to compare outside the subject ({outside:.0%} of the frame is outside "
                   "the capture volume)", outside=round(outside, 3))
    for seen in history.at_station(image.station):
        if seen.light_id != image.light_id:
            continue
        measured = _shift(seen, image)
        if measured is None:
            continue
        shift, response, parts = measured
        figures = {"shift_px": round(shift, 2), "response": round(response, 3), "parts": parts,
                   "against": seen.path, "outside": round(outside, 3)}
        verdict = _graded(shift, limits.moved_warn_px, limits.moved_fail_px)
        if verdict is Verdict.OK:
            return CheckResult("moved", verdict, "the view is where it was", figures)
        return CheckResult("moved", verdict, f"{image.camera_id}'s view moved {shift:.1f} px since {seen.path}: "
                           "the camera was bumped -- check its mount, then recalibrate geometry", figures)
    return _ok("moved", "no earlier image of this scene in this light to compare with", outside=round(outside, 3))
