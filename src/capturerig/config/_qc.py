"""A plan's ``qc:`` section: the per-image checks' thresholds and what a failed check does during a capture.

Data layer (config): the plan holds it; ``capturerig.qc`` (domain) reads it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from capturerig.config._base import FrozenModel

__all__ = ["QcSettings", "QcThresholds"]


class QcThresholds(FrozenModel):
    """When a check warns and when it fails. Ratios are against the camera's own earlier images (its baseline),
    never absolute: a focus figure depends on resolution and content."""

    sharpness_warn: float = Field(0.75, gt=0.0, le=1.0, description="warn below this share of the camera's own "
                                                                     "sharpness (variance of Laplacian and Tenengrad)")
    sharpness_fail: float = Field(0.6, gt=0.0, le=1.0, description="fail below this share of its own sharpness")
    clipped_warn: float = Field(0.001, ge=0.0, le=1.0, description="warn when the clipped share of the subject "
                                                                    "region exceeds what is expected by this much")
    clipped_fail: float = Field(0.02, ge=0.0, le=1.0, description="fail when it exceeds the expectation by this much")
    crushed_warn: float = Field(0.01, ge=0.0, le=1.0, description="warn when the crushed (black) share of the "
                                                                   "subject region exceeds the expectation by this")
    crushed_fail: float = Field(0.05, ge=0.0, le=1.0, description="fail when it exceeds the expectation by this much")
    light_warn_ev: float = Field(0.35, gt=0.0, description="warn when the level differs from what the lighting "
                                                            "state gives this camera by more (EV, log2)")
    light_fail_ev: float = Field(0.6, gt=0.0, description="fail beyond this many EV")
    colour_warn: float = Field(0.03, gt=0.0, description="warn when the chromaticity (r, g, b shares) moves by more "
                                                          "(largest share difference)")
    colour_fail: float = Field(0.06, gt=0.0, description="fail beyond this chromaticity change")
    pattern_warn: float = Field(0.06, gt=0.0, description="warn when where the light falls (an 8x6 thumbnail "
                                                           "relative to its mean) moves by more, against the camera's "
                                                           "earlier images of the same state and station")
    pattern_fail: float = Field(0.12, gt=0.0, description="fail beyond this change of the light's pattern")
    black_level: float = Field(8.0, ge=0.0, le=255.0, description="an image whose brightest 1 % is below this "
                                                                   "8-bit level is black (lens cap, shutter)")
    uniform_std: float = Field(2.0, ge=0.0, description="an image whose spread is below this (8-bit levels) is "
                                                         "uniform (no picture)")
    near_identical_bits: int = Field(4, ge=0, le=64, description="perceptual-hash bits within which two images "
                                                                  "may be the same picture")
    near_identical_psnr_db: float = Field(40.0, gt=0.0, description="thumbnail PSNR above which they are")
    moved_warn_px: float = Field(1.5, gt=0.0, description="warn when the view shifted by more (full-size px) "
                                                           "against the camera's earlier images of the same scene")
    moved_fail_px: float = Field(3.0, gt=0.0, description="fail beyond this shift (full-size px)")
    history: int = Field(48, ge=4, le=1000, description="earlier images kept per camera and format")

    @model_validator(mode="after")
    def _ordered(self) -> QcThresholds:
        pairs = (("sharpness_fail", "sharpness_warn", self.sharpness_fail > self.sharpness_warn),
                 ("clipped_warn", "clipped_fail", self.clipped_warn > self.clipped_fail),
                 ("crushed_warn", "crushed_fail", self.crushed_warn > self.crushed_fail),
                 ("light_warn_ev", "light_fail_ev", self.light_warn_ev > self.light_fail_ev),
                 ("colour_warn", "colour_fail", self.colour_warn > self.colour_fail),
                 ("pattern_warn", "pattern_fail", self.pattern_warn > self.pattern_fail),
                 ("moved_warn_px", "moved_fail_px", self.moved_warn_px > self.moved_fail_px))
        for first, second, wrong in pairs:
            if wrong:
                raise ValueError(f"{first} must not be stricter than {second} "
                                 f"({getattr(self, first)} vs {getattr(self, second)})")
        return self


class QcSettings(FrozenModel):
    """The checks of a session (a plan's ``qc:`` section).

    ``on_fail``: what a failed check does during a capture -- ``ask`` the operator (the panel offers the
    re-shoot), ``reshoot`` the take at once, or only ``report`` it.
    """

    enabled: bool = Field(True, description="run the checks on every take")
    on_fail: Literal["ask", "reshoot", "report"] = Field("ask", description="what a failed check does")
    thresholds: QcThresholds = Field(default_factory=QcThresholds, description="when a check warns or fails")
