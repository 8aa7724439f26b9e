"""Per-camera colour correction: per-channel linearisation from the grey patches, gains, then a colour model.

The pipeline applied to a camera's code values ``v`` (0..1, RGB):

1. Linearisation, channel by channel: ``log Y = p_c(log v)``, a polynomial fitted on the six neutral patches
   against their reference luminance Y (what ``cv2.ccm``'s grey log-polynomial linearisation does). Degree 1
   is a per-channel gamma; degree 2 bends for a toe or shoulder. It is split into a shape that is 1 at full
   scale and a gain ``k_c = exp(p_c(0))``: the white-balance gains are ``k / k_g`` and the exposure gain is
   ``k_g``. RAW input skips the shape (degree 0): gains only.
2. A colour model on ``x = k * shape(v)``: a 3x3 matrix, or a degree-2 root-polynomial (Finlayson, Mackiewicz
   and Hurlbert 2015, "Color Correction Using Root-Polynomial Regression", IEEE TIP 24(5)): terms
   ``r, g, b, sqrt(rg), sqrt(gb), sqrt(rb)``, which scale with exposure as the matrix does. Least squares in
   linear working-space RGB against the reference.

Which model and which linearisation degree a camera gets is chosen by leave-one-out mean CIEDE2000 over the
chart's patches: each patch is predicted by a fit that never saw it (the linearisation too, when the patch
is a neutral one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from capturerig.calibration.colour._ciede2000 import delta_e_2000
from capturerig.calibration.colour._reference import NEUTRAL_PATCHES, ChartReference, linear_to_lab

__all__ = [
    "LINEARISATION_DEGREES",
    "MODELS",
    "Candidate",
    "ColourModel",
    "FitResult",
    "Linearisation",
    "fit_camera_colour",
    "fit_colour_model",
    "model_terms",
]

FloatArray = npt.NDArray[np.float64]
ModelName = Literal["matrix", "root-polynomial-2"]
MODELS: tuple[ModelName, ...] = ("matrix", "root-polynomial-2")
LINEARISATION_DEGREES: tuple[int, ...] = (1, 2)
_MIN_CODE = 1e-4  # log of a zero code would be -inf; this is far below one 16-bit step
_MIN_PATCHES = 12
_MIN_NEUTRALS = 3
_REFINEMENTS = 2
_GRID = np.linspace(1.0, 0.0, 64)[:, None]  # where the tone curve's slope is checked, darkest patch to white


def model_terms(rgb: FloatArray, model: str) -> FloatArray:
    """Regression terms (..., n) of linear camera RGB (..., 3) for ``model``."""
    if model == "matrix":
        return rgb
    if model == "root-polynomial-2":
        positive = np.maximum(rgb, 0.0)
        r, g, b = positive[..., 0], positive[..., 1], positive[..., 2]
        return np.concatenate([rgb, np.stack([np.sqrt(r * g), np.sqrt(g * b), np.sqrt(r * b)], axis=-1)], axis=-1)
    raise ValueError(f"unknown colour model '{model}' (known: {', '.join(MODELS)})")


@dataclass(frozen=True)
class Linearisation:
    """A camera's per-channel tone curve, undone: code value (0..1) to camera-linear (1 at full scale).

    Attributes
    ----------
    coefficients
        (3, degree + 1) polynomial in log code value, highest power first, constant term 0 (the gain is kept
        apart). Degree 0 (a single zero) is the identity, for RAW input.
    lower_log
        (3,) log code value of the darkest neutral patch in the fit; below it the curve continues as the
        tangent power law, so it stays monotonic where the chart gave no evidence.
    """

    coefficients: FloatArray
    lower_log: FloatArray

    @property
    def degree(self) -> int:
        """0 for RAW (identity), 1 for a per-channel gamma, 2 for a bent tone curve."""
        return int(self.coefficients.shape[1] - 1)

    def apply(self, code: npt.ArrayLike) -> FloatArray:
        """Camera-linear values of code values (..., 3) in 0..1."""
        values = np.asarray(code, dtype=np.float64)
        if self.degree == 0:
            return values
        logs = np.log(np.maximum(values, _MIN_CODE))
        inside = _horner(self.coefficients, np.maximum(logs, self.lower_log))
        slope = _horner(_derivative(self.coefficients), self.lower_log)
        out = inside + slope * np.minimum(logs - self.lower_log, 0.0)
        return np.asarray(np.where(values <= 0.0, 0.0, np.exp(out)), dtype=np.float64)


def _horner(coefficients: FloatArray, x: FloatArray) -> FloatArray:
    """Per-channel polynomials (3, degree + 1), highest power first, at x (..., 3)."""
    result = np.broadcast_to(coefficients[:, 0], np.shape(x)).astype(np.float64)
    for power in range(1, coefficients.shape[1]):
        result = result * x + coefficients[:, power]
    return result


def _derivative(coefficients: FloatArray) -> FloatArray:
    degree = coefficients.shape[1] - 1
    if degree == 0:
        return np.zeros((coefficients.shape[0], 1))
    return np.asarray(coefficients[:, :-1] * np.arange(degree, 0, -1), dtype=np.float64)


def _fit_linearisation(neutral_code: FloatArray,
                       neutral_linear: FloatArray, degree: int) -> tuple[Linearisation, FloatArray] | None:
    """Linearisation and per-channel gains from neutral patches' codes (n, 3) and linear values (n, 3).

    None when the fitted curve does not rise monotonically from the darkest patch to full scale.
    """
    if degree == 0:
        gains = (neutral_code * neutral_linear).sum(axis=0) / (neutral_code**2).sum(axis=0)
        return Linearisation(np.zeros((3, 1)), np.zeros(3)), np.asarray(gains, dtype=np.float64)
    logs = np.log(np.maximum(neutral_code, _MIN_CODE))
    log_targets = np.log(np.maximum(neutral_linear, _MIN_CODE))
    # Least squares for the three channels at once (normal equations: a handful of points, degree <= 2).
    design = logs[:, :, None] ** np.arange(degree, -1, -1)  # (n, 3, degree + 1)
    normal = np.einsum("ncd,nce->cde", design, design)
    right = np.einsum("ncd,nc->cd", design, log_targets)
    try:
        coefficients = np.linalg.solve(normal, right[..., None])[..., 0]
    except np.linalg.LinAlgError:
        return None  # the neutral patches' codes coincide: no curve through them
    lower = logs.min(axis=0)
    # Must rise everywhere between the darkest patch and full scale, or colours would fold over.
    grid = lower * _GRID
    if np.any(_horner(_derivative(coefficients), grid) <= 0.0):
        return None
    gains = np.exp(coefficients[:, -1])
    coefficients[:, -1] = 0.0
    return Linearisation(coefficients, lower), np.asarray(gains, dtype=np.float64)


@dataclass(frozen=True)
class ColourModel:
    """One camera's fitted correction: code values to linear working-space RGB.

    Attributes
    ----------
    linearisation
        The per-channel tone curve, undone.
    gains
        (3,) per-channel gains from camera-linear to the reference's scale (white balance times exposure).
    model
        ``"matrix"`` or ``"root-polynomial-2"``.
    coefficients
        (terms, 3) so that ``working = model_terms(gains * linear) @ coefficients``.
    """

    linearisation: Linearisation
    gains: FloatArray
    model: str
    coefficients: FloatArray

    @property
    def white_balance(self) -> FloatArray:
        """Per-channel white-balance gains (red, green, blue), green = 1."""
        return np.asarray(self.gains / self.gains[1], dtype=np.float64)

    @property
    def exposure_gain(self) -> float:
        """The linear gain that brings the camera's green channel to the reference (2.0: one stop under)."""
        return float(self.gains[1])

    def camera_linear(self, code: npt.ArrayLike) -> FloatArray:
        """Linearised, white-balanced and exposure-scaled camera RGB (..., 3) of code values (..., 3)."""
        return np.asarray(self.linearisation.apply(code) * self.gains, dtype=np.float64)

    def apply(self, code: npt.ArrayLike) -> FloatArray:
        """Linear working-space RGB (..., 3) of code values (..., 3) in 0..1."""
        return np.asarray(model_terms(self.camera_linear(code), self.model) @ self.coefficients, dtype=np.float64)


def fit_colour_model(code: FloatArray, target: FloatArray, use: npt.NDArray[np.bool_], model: str,
                     degree: int) -> ColourModel | None:
    """Fit one candidate on the patches ``use`` marks; None when its linearisation would not be monotonic.

    The grey patches are not perfectly grey (the white is slightly yellow, the black slightly blue), so each
    channel's tone curve is fitted against that channel's own linear value of each neutral patch, not their
    luminance; the values the camera's channels should see are not known before the colour model is, so the
    two are fitted in turn: working-space values first, then the neutral patches taken back through the
    fitted model's linear part, twice (enough for the changes to fall below the noise).

    Parameters
    ----------
    code
        (24, 3) mean code values of the patches, 0..1.
    target
        (24, 3) reference in linear working-space RGB.
    use
        (24,) which patches the fit may use.
    model, degree
        Colour model name and linearisation degree (0 for RAW).
    """
    neutral_index = np.array(NEUTRAL_PATCHES)[use[list(NEUTRAL_PATCHES)]]
    if neutral_index.size < max(_MIN_NEUTRALS, degree + 2):
        return None
    neutral_linear = target[neutral_index]
    result = None
    for _ in range(_REFINEMENTS + 1):
        fitted = _fit_linearisation(code[neutral_index], neutral_linear, degree)
        if fitted is None:
            return result
        linearisation, gains = fitted
        camera = linearisation.apply(code[use]) * gains
        coefficients, *_ = np.linalg.lstsq(model_terms(camera, model), target[use], rcond=None)
        result = ColourModel(linearisation, gains, model, np.asarray(coefficients, dtype=np.float64))
        # What the camera's linear channels must have been for the neutral patches, through the linear part.
        linear_part, *_ = np.linalg.lstsq(camera, target[use], rcond=None)
        neutral_linear = target[neutral_index] @ np.linalg.inv(linear_part)
        if np.any(neutral_linear <= 0.0):
            return result
    return result


@dataclass(frozen=True)
class Candidate:
    """A model and linearisation degree with its leave-one-out and in-sample errors (NaN: patch not used)."""

    model: str
    degree: int
    loo_de: FloatArray
    in_sample_de: FloatArray

    @property
    def name(self) -> str:
        """E.g. ``root-polynomial-2, linearisation degree 1``."""
        return f"{self.model}, linearisation degree {self.degree}"

    @property
    def loo_mean(self) -> float:
        """Leave-one-out mean dE00 over the patches used (inf when some fold could not be fitted)."""
        used = self.loo_de[~np.isnan(self.loo_de)]
        return float(np.mean(used)) if used.size else float("inf")


@dataclass(frozen=True)
class FitResult:
    """A camera's chosen correction and the evidence for it."""

    chosen: ColourModel
    candidate: Candidate
    candidates: tuple[Candidate, ...]


def _de(model: ColourModel, code: FloatArray, reference_lab: FloatArray, space: str) -> FloatArray:
    return delta_e_2000(linear_to_lab(model.apply(code), space), reference_lab)


def fit_camera_colour(code: FloatArray, reference: ChartReference, use: npt.NDArray[np.bool_],
                      space: str = "linear-srgb", models: tuple[str, ...] = MODELS,
                      degrees: tuple[int, ...] = LINEARISATION_DEGREES) -> FitResult:
    """Fit every candidate, score each by leave-one-out dE00, and keep the best.

    Parameters
    ----------
    code
        (24, 3) mean code values of the patches, 0..1, RGB.
    reference
        The chart reference.
    use
        (24,) patches that may be used (clipped or unusable ones are False).
    space
        Working space of the fit (see :data:`~capturerig.calibration.colour.WORKING_SPACES`).
    models, degrees
        Candidates to try; ``degrees=(0,)`` for RAW (already linear) input.

    Raises
    ------
    ValueError
        When fewer than 12 patches or 3 neutral patches are usable, or no candidate could be fitted.
    """
    use = np.asarray(use, dtype=bool)
    neutral_use = use[list(NEUTRAL_PATCHES)]
    if use.sum() < _MIN_PATCHES or neutral_use.sum() < _MIN_NEUTRALS:
        raise ValueError(f"only {int(use.sum())} usable patches ({int(neutral_use.sum())} neutral); a fit needs "
                         f"at least {_MIN_PATCHES} with {_MIN_NEUTRALS} neutral")
    target = reference.linear(space)
    reference_lab = reference.lab_d50
    candidates = []
    fits = []
    for model in models:
        for degree in degrees:
            full = fit_colour_model(code, target, use, model, degree)
            if full is None:
                continue
            in_sample = np.full(len(code), np.nan)
            in_sample[use] = _de(full, code[use], reference_lab[use], space)
            predicted = np.full(code.shape, np.nan)
            unfitted = np.zeros(len(code), dtype=bool)
            for patch in np.flatnonzero(use):
                without = use.copy()
                without[patch] = False
                fold = fit_colour_model(code, target, without, model, degree)
                if fold is None:
                    unfitted[patch] = True
                else:
                    predicted[patch] = fold.apply(code[patch])
            loo = np.full(len(code), np.nan)
            loo[use] = delta_e_2000(linear_to_lab(predicted[use], space), reference_lab[use])
            loo[unfitted] = np.inf
            candidates.append(Candidate(model, degree, loo, in_sample))
            fits.append(full)
    if not candidates:
        raise ValueError("no colour model could be fitted: the neutral patches do not rise monotonically in every "
                         "channel (wrong chart orientation or corners?)")
    best = int(np.argmin([candidate.loo_mean for candidate in candidates]))
    return FitResult(fits[best], candidates[best], tuple(candidates))
