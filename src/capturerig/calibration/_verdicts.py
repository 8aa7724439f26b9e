"""Quality gates with plain verdicts: each says pass or fail, the camera, the number and the likely cause."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from capturerig.calibration._geometry_file import CameraGeometry, Verdict
from capturerig.calibration._model import CameraParams
from capturerig.calibration._split import SplitCheck

__all__ = ["GateLimits", "quality_verdicts"]


@dataclass(frozen=True)
class GateLimits:
    """Thresholds of the quality gates (pixels unless named otherwise)."""

    max_rms_px: float = 0.5
    max_view_rms_px: float = 1.0
    # Good data sits well under this, bad data far over it: in rendered studio captures 2-3 % of the corners
    # of far sweep views (squares ~25 px) snap off by > 0.5 px, and a camera with many such views reached
    # 5-6 %, while a knocked camera or a wrong board loses tens of per cent.
    max_outlier_share: float = 0.08
    min_coverage: float = 0.5
    max_split_px: float = 0.5
    split_significance: float = 3.0
    # The halves' common excess over their predicted gap is allowed for up to this factor: weak halves of a
    # good rendered capture reached about 4 (first/second half, 40 frames); a camera knocked by 0.5 deg
    # shows 20-40 times its predicted gap.
    max_split_excess: float = 5.0
    max_projection_sigma_px: float = 0.25
    max_scale_error: float = 0.02
    max_position_offset_m: float = 0.2


def _per_camera(geometry: Mapping[str, CameraGeometry], per_view: Mapping[tuple[str, str], float],
                grid: Mapping[str, np.ndarray], limits: GateLimits) -> list[Verdict]:
    verdicts = []
    for camera, result in geometry.items():
        rms_ok = result.rms_px <= limits.max_rms_px
        verdicts.append(Verdict(
            check="rms", camera=camera, passed=rms_ok, value=result.rms_px, limit=limits.max_rms_px,
            reason=f"{camera}: reprojection RMS {result.rms_px:.3f} px" + (
                "" if rms_ok else f" is above {limits.max_rms_px:g} px: blurred or soft images, a board that is "
                                  "not flat, or a lens the OPENCV model does not fit")))
        views = {frame: rms for (cam, frame), rms in per_view.items() if cam == camera}
        if views:
            frame, worst = max(views.items(), key=lambda item: item[1])
            ok = worst <= limits.max_view_rms_px
            verdicts.append(Verdict(
                check="worst view", camera=camera, passed=ok, value=worst, limit=limits.max_view_rms_px,
                reason=f"{camera}: worst view is frame {frame} at {worst:.3f} px" + (
                    "" if ok else f" (limit {limits.max_view_rms_px:g} px): motion blur, a bent board or a wrong "
                                  "detection in that frame; delete it or recapture")))
        share = result.outlier_share
        ok = share <= limits.max_outlier_share
        verdicts.append(Verdict(
            check="outliers", camera=camera, passed=ok, value=share, limit=limits.max_outlier_share,
            reason=f"{camera}: {100 * share:.1f} % of its corners rejected as outliers" + (
                "" if ok else f" (limit {100 * limits.max_outlier_share:g} %): the camera moved during the capture, "
                              "or its detections are wrong (reflections, a bent board)")))
        covered = float((grid[camera] > 0).mean()) if camera in grid else 0.0
        ok = covered >= limits.min_coverage
        verdicts.append(Verdict(
            check="coverage", camera=camera, passed=ok, value=covered, limit=limits.min_coverage,
            reason=f"{camera}: board corners reached {100 * covered:.0f} % of the image" + (
                "" if ok else f" (needs {100 * limits.min_coverage:g} %): bring the board close to this camera so it "
                              "fills the image out to the corners, so its lens distortion is measured")))
    return verdicts


def _typical_excess(split: SplitCheck, cap: float) -> float:
    """How far the halves of this split disagree beyond their predicted uncertainty, for a typical camera.

    The halves of a capture are weaker than the whole (first/second half: each sweeps only part of the
    volume, and a camera may lack its close-ups in one of them), and their linear sigmas can then fall
    short by a common factor for every camera. The median camera's ratio of gap to prediction measures
    that factor (one moved camera cannot shift a median); at least 1, and at most ``cap`` so that the
    whole rig disagreeing wildly still fails.
    """
    ratios = [gap / split.predicted_px[camera] for camera, gap in split.difference_px.items()
              if split.predicted_px.get(camera, 0.0) > 0.0]
    if len(ratios) < 4:  # too few cameras to tell "typical" from "this one"
        return 1.0
    return float(np.clip(np.median(ratios), 1.0, cap))


def _split_verdicts(splits: list[SplitCheck], limits: GateLimits) -> list[Verdict]:
    causes = {"odd/even": "the result is not reproducible: too few or too similar views of this camera; capture "
                          "more views, near and far, tilted",
              "first/second half": "the camera moved during the capture (bumped, or a loose mount or lens); "
                                   "fix it and capture again"}
    verdicts = []
    for split in splits:
        excess = _typical_excess(split, limits.max_split_excess)
        for camera, gap in split.difference_px.items():
            expected = split.predicted_px.get(camera, 0.0)
            # Halves of few views differ by chance: only a gap beyond what their uncertainty allows fails,
            # judged against how far the halves of the other cameras differ (a moved camera stands out).
            allowed = max(limits.max_split_px, limits.split_significance * expected * excess)
            ok = gap <= allowed
            typical = "" if excess == 1.0 else f", x{excess:.1f} as the halves of the other cameras differ"
            verdicts.append(Verdict(
                check=f"cross-validation {split.name}", camera=camera, passed=ok, value=gap, limit=allowed,
                reason=f"{camera}: calibrations from the {split.halves[0]} and the {split.halves[1]} project "
                       f"{gap:.3f} px apart (their uncertainty allows ±{expected:.3f} px{typical})"
                       + ("" if ok else f"; limit {allowed:.2f} px: {causes.get(split.name, '')}")))
        for camera, why in split.unchecked.items():
            verdicts.append(Verdict(check=f"cross-validation {split.name}", camera=camera, passed=True,
                                    reason=f"{camera}: not checked by the {split.name} split ({why})"))
    return verdicts


def _rig_verdicts(scale: float | None, cameras: Mapping[str, CameraParams], nominal: Mapping[str, np.ndarray],
                  square_length_m: float, limits: GateLimits) -> list[Verdict]:
    if scale is None:
        return []
    verdicts = []
    offsets = {c: float(np.linalg.norm(cameras[c].centre - nominal[c])) for c in nominal if c in cameras}
    error = 1.0 / scale - 1.0  # calibrated size relative to the rig file's
    ok = abs(error) <= limits.max_scale_error
    worst = max(offsets, key=lambda c: offsets[c])
    radius = float(np.linalg.norm(cameras[worst].centre[:2]))
    nominal_radius = float(np.linalg.norm(nominal[worst][:2]))
    bigger = "larger" if error > 0 else "smaller"
    verdicts.append(Verdict(
        check="scale", passed=ok, value=scale, limit=limits.max_scale_error, camera=None if ok else worst,
        reason=(f"the calibrated rig matches the rig file's size to {100 * abs(error):.2f} %" if ok else
                f"the calibrated rig is {100 * abs(error):.1f} % {bigger} than the rig file says (e.g. {worst} is "
                f"{radius:.3f} m from the rig axis, the rig file says {nominal_radius:.3f} m): the board's "
                f"square_length_m ({square_length_m:g} m) is probably wrong; measure the printed squares and "
                "correct the board file (or the rig file's camera positions are wrong)")))
    for camera, offset in offsets.items():
        ok = offset <= limits.max_position_offset_m
        verdicts.append(Verdict(
            check="position", camera=camera, passed=ok, value=offset, limit=limits.max_position_offset_m,
            reason=f"{camera}: {100 * offset:.1f} cm from where the rig file puts it" + (
                "" if ok else f" (limit {100 * limits.max_position_offset_m:g} cm): cameras swapped (cables or "
                              "ids), the rig file is out of date, or the board's size is wrong")))
    return verdicts


def quality_verdicts(geometry: Mapping[str, CameraGeometry], per_view: Mapping[tuple[str, str], float],
                     grid: Mapping[str, np.ndarray], splits: list[SplitCheck], scale: float | None,
                     cameras: Mapping[str, CameraParams], nominal: Mapping[str, np.ndarray],
                     square_length_m: float, limits: GateLimits,
                     precision: Mapping[str, float] | None = None) -> list[Verdict]:
    """Every gate for every calibrated camera (views and connection gates are made earlier).

    ``precision[camera]`` is the one-sigma image displacement (px, RMS over its corners) that the
    camera's reported uncertainty allows.
    """
    return (_per_camera(geometry, per_view, grid, limits) + _precision_verdicts(precision or {}, limits)
            + _split_verdicts(splits, limits) + _rig_verdicts(scale, cameras, nominal, square_length_m, limits))


def _precision_verdicts(precision: Mapping[str, float], limits: GateLimits) -> list[Verdict]:
    verdicts = []
    for camera, sigma in precision.items():
        ok = sigma <= limits.max_projection_sigma_px
        verdicts.append(Verdict(
            check="precision", camera=camera, passed=ok, value=sigma, limit=limits.max_projection_sigma_px,
            reason=f"{camera}: its lens and pose are known to ±{sigma:.3f} px in the image" + (
                "" if ok else f" (limit {limits.max_projection_sigma_px:g} px): too few or too similar views of "
                              "this camera; capture more, near and far, tilted towards each image corner")))
    return verdicts
