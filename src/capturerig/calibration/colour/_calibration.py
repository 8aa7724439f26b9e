"""A studio's colour calibration (every camera's correction) and its file, ``colour.json``.

Schema ``capturerig.colour/1``: a JSON object with ``schema``, ``created``, ``reference`` (source and
adaptation), ``working_space`` and ``cameras``, one entry per camera id with ``model``, ``coefficients``
(terms x 3), ``working_space``, ``linearisation`` (``degree``, ``coefficients`` per channel in log-log,
``lower_log``), ``gains`` (``white_balance`` red/green/blue with green 1, ``exposure``), ``dE00``
(``in_sample`` and ``leave_one_out``: ``mean``, ``max``, ``patches`` with null for patches not used),
``candidates``, ``excluded_patches``, ``warnings`` and ``images``; plus an optional ``consistency`` summary.
"""

from __future__ import annotations

import datetime
import json
import math
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from capturerig.calibration.colour._fit import MODELS, Candidate, ColourModel, Linearisation, model_terms
from capturerig.calibration.colour._reference import WORKING_SPACES, srgb_encode, working_space_matrix

__all__ = ["SCHEMA", "CameraColour", "ColourCalibration", "ExcludedPatch", "load_colour", "save_colour"]

SCHEMA = "capturerig.colour/1"
# Lists of numbers on one line each: a person reads the file, and 24 patches one per line hide the rest.
# What a fit was made from (colour.json cameras.<id>.input): apply it to the same kind of file.
_SOURCES = {
    "raw": "RAW files developed linearly by LibRaw (no white balance, gamma 1, camera colour space)",
    "linear": "linear images (developed without a tone curve)",
    "image": "images with the camera's tone curve, undone per channel from the chart's neutral patches",
}
_NUMBER_LIST = re.compile(r"\[\s+((?:-?[0-9.eE+-]+|null)(?:,\s+(?:-?[0-9.eE+-]+|null))*)\s+\]")
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class ExcludedPatch:
    """A patch left out of a camera's fit, and why."""

    index: int  # 0-based
    name: str
    reason: str

    def __str__(self) -> str:
        return f"patch {self.index + 1} ({self.name}): {self.reason}"


def _stats(values: FloatArray) -> dict[str, Any]:
    used = values[np.isfinite(values)]
    return {"mean": round(float(used.mean()), 4) if used.size else None,
            "max": round(float(used.max()), 4) if used.size else None,
            "patches": [None if not math.isfinite(v) else round(float(v), 4) for v in values]}


@dataclass(frozen=True)
class CameraColour:
    """One camera's colour correction and how well it fits the chart.

    Attributes
    ----------
    camera_id
        The camera's id in the rig.
    model
        The fitted correction (code values to linear working-space RGB).
    working_space
        The correction's output space (``linear-srgb`` or ``linear-rec2020``).
    in_sample_de, loo_de
        (24,) dE00 per patch of the chosen fit, in-sample and leave-one-out; NaN for patches not used.
    candidates
        Every candidate tried, with its errors (the chosen one has the lowest leave-one-out mean).
    excluded
        Patches left out of the fit (clipped, noisy).
    warnings
        Things the operator should know (under-exposure, a noisy chart).
    images
        The chart images the fit came from.
    source
        What they were: ``raw`` (RAW files developed linearly), ``linear`` (linear images) or ``image``
        (8-bit or 16-bit images with the camera's tone curve, undone per channel by the fit).
    """

    camera_id: str
    model: ColourModel
    working_space: str
    in_sample_de: FloatArray
    loo_de: FloatArray
    candidates: tuple[Candidate, ...] = ()
    excluded: tuple[ExcludedPatch, ...] = ()
    warnings: tuple[str, ...] = ()
    images: tuple[str, ...] = ()
    source: str = "image"

    @property
    def loo_mean(self) -> float:
        """Leave-one-out mean dE00 of the chosen fit."""
        return float(np.nanmean(self.loo_de))

    @property
    def in_sample_mean(self) -> float:
        """In-sample mean dE00 of the chosen fit."""
        return float(np.nanmean(self.in_sample_de))

    def to_json(self) -> dict[str, Any]:
        """The camera's entry in ``colour.json``."""
        model = self.model
        return {
            "model": model.model,
            "coefficients": model.coefficients.round(8).tolist(),
            "working_space": self.working_space,
            "linearisation": {"degree": model.linearisation.degree,
                              "coefficients": model.linearisation.coefficients.round(8).tolist(),
                              "lower_log": model.linearisation.lower_log.round(8).tolist()},
            "gains": {"white_balance": model.white_balance.round(6).tolist(),
                      "exposure": round(model.exposure_gain, 6)},
            "dE00": {"in_sample": _stats(self.in_sample_de), "leave_one_out": _stats(self.loo_de)},
            "candidates": [{"model": c.model, "linearisation_degree": c.degree,
                            "leave_one_out_mean": round(c.loo_mean, 4) if math.isfinite(c.loo_mean) else None,
                            "in_sample_mean": round(float(np.nanmean(c.in_sample_de)), 4)}
                           for c in self.candidates],
            "excluded_patches": [{"patch": p.index + 1, "name": p.name, "reason": p.reason} for p in self.excluded],
            "warnings": list(self.warnings),
            "images": list(self.images),
            "input": {"source": self.source, "how": _SOURCES[self.source]},
        }

    @classmethod
    def from_json(cls, camera_id: str, entry: Mapping[str, Any], where: str) -> CameraColour:
        """Read a camera entry; ``where`` names the file in errors.

        Raises
        ------
        ValueError
            Naming the file, the camera and the field that is missing or malformed.
        """
        def field_error(name: str, problem: str) -> ValueError:
            return ValueError(f"{where}: cameras.{camera_id}.{name}: {problem}")

        try:
            model_name = str(entry["model"])
            if model_name not in MODELS:
                raise field_error("model", f"'{model_name}' is not one of {', '.join(MODELS)}")
            space = str(entry["working_space"])
            if space not in WORKING_SPACES:
                raise field_error("working_space", f"'{space}' is not one of {', '.join(WORKING_SPACES)}")
            coefficients = np.asarray(entry["coefficients"], dtype=np.float64)
            terms = model_terms(np.ones((1, 3)), model_name).shape[1]
            if coefficients.shape != (terms, 3):
                raise field_error("coefficients", f"{model_name} needs {terms} x 3 numbers, got shape "
                                  f"{coefficients.shape}")
            lin = entry["linearisation"]
            degree = int(lin["degree"])
            lin_coefficients = np.asarray(lin["coefficients"], dtype=np.float64)
            if lin_coefficients.shape != (3, degree + 1):
                raise field_error("linearisation.coefficients", f"degree {degree} needs 3 x {degree + 1} numbers")
            lower_log = np.asarray(lin["lower_log"], dtype=np.float64).reshape(3)
            gains_entry = entry["gains"]
            gains = np.asarray(gains_entry["white_balance"], dtype=np.float64).reshape(3) * float(
                gains_entry["exposure"])
            de = entry.get("dE00", {})

            def patches(kind: str) -> FloatArray:
                values = de.get(kind, {}).get("patches") or [None] * 24
                return np.array([np.nan if v is None else float(v) for v in values])

            model = ColourModel(Linearisation(lin_coefficients, lower_log), gains, model_name, coefficients)
            excluded = tuple(ExcludedPatch(int(p["patch"]) - 1, str(p["name"]), str(p["reason"]))
                             for p in entry.get("excluded_patches", []))
            source = str(entry.get("input", {}).get("source", "image"))  # files before RAW input were images
            if source not in _SOURCES:
                raise field_error("input.source", f"'{source}' is not one of {', '.join(_SOURCES)}")
            return cls(camera_id, model, space, patches("in_sample"), patches("leave_one_out"), (), excluded,
                       tuple(str(w) for w in entry.get("warnings", [])), tuple(str(i) for i in entry.get("images", [])),
                       source)
        except KeyError as exc:
            raise field_error(str(exc.args[0]), "missing") from None
        except (TypeError, ValueError) as exc:
            if isinstance(exc, ValueError) and str(exc).startswith(where):
                raise
            raise ValueError(f"{where}: cameras.{camera_id}: malformed entry ({exc})") from None


@dataclass
class ColourCalibration:
    """Every camera's colour correction: what ``colour.json`` holds.

    Attributes
    ----------
    cameras
        Correction by camera id (iterate it for the calibrated camera ids).
    working_space
        The space the corrections fit in.
    reference
        Where the chart reference came from and how it was adapted.
    consistency
        Cross-camera dE00 before and after correction (plain data, as written to the file), if computed.
    created
        ISO 8601 UTC time of the calibration.
    """

    cameras: dict[str, CameraColour]
    working_space: str = "linear-srgb"
    reference: dict[str, str] = field(default_factory=dict)
    consistency: dict[str, Any] | None = None
    created: str = field(default_factory=lambda: datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"))
    _luts: dict[tuple[str, int], FloatArray] = field(default_factory=dict, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled (to a Dask worker) from its public fields: the lookup-table cache and its lock stay behind.
        return ColourCalibration, (self.cameras, self.working_space, self.reference, self.consistency, self.created)

    def camera(self, camera_id: str) -> CameraColour:
        """The correction of ``camera_id``.

        Raises
        ------
        KeyError
            Naming the camera and the calibrated ones.
        """
        try:
            return self.cameras[camera_id]
        except KeyError:
            raise KeyError(f"camera '{camera_id}' has no colour calibration (calibrated: "
                           f"{', '.join(sorted(self.cameras)) or 'none'})") from None

    def _lut(self, camera_id: str, levels: int) -> FloatArray:
        """(levels, 3) camera-linear, gained value of every code value, per channel."""
        key = (camera_id, levels)
        with self._lock:
            lut = self._luts.get(key)
            if lut is None:
                codes = np.linspace(0.0, 1.0, levels)[:, None].repeat(3, axis=1)
                lut = self._luts[key] = self.camera(camera_id).model.camera_linear(codes).astype(np.float32)
            return lut

    def to_linear(self, camera_id: str, image_bgr: npt.NDArray[np.generic]) -> npt.NDArray[np.float32]:
        """Corrected linear RGB (height, width, 3) in the camera's working space, RGB order, float32.

        Raises
        ------
        KeyError
            When ``camera_id`` is not calibrated.
        ValueError
            When the image is not 8- or 16-bit BGR.
        """
        if image_bgr.ndim != 3 or image_bgr.shape[2] != 3 or image_bgr.dtype not in (np.uint8, np.uint16):
            raise ValueError(f"{camera_id}: expected an 8- or 16-bit BGR image, got {image_bgr.dtype} "
                             f"{image_bgr.shape}")
        entry = self.camera(camera_id)
        lut = self._lut(camera_id, 256 if image_bgr.dtype == np.uint8 else 65536)
        pixels = image_bgr.reshape(-1, 3)
        camera = np.stack([lut[pixels[:, 2], 0], lut[pixels[:, 1], 1], lut[pixels[:, 0], 2]], axis=1)
        coefficients = entry.model.coefficients.astype(np.float32)
        linear = model_terms(camera, entry.model.model) @ coefficients
        return np.asarray(linear, dtype=np.float32).reshape(image_bgr.shape)

    def correct(self, camera_id: str, image_bgr_uint8: npt.NDArray[np.generic], bits: int = 8) -> npt.NDArray[Any]:
        """Colour-correct one camera's image: sRGB-encoded BGR, 8-bit (uint8) or 16-bit (uint16).

        Parameters
        ----------
        camera_id
            The camera that took the image.
        image_bgr_uint8
            The camera's image as decoded (8-bit BGR; 16-bit BGR is accepted too).
        bits
            8 or 16: the output's depth. Colours outside sRGB are clipped.

        Raises
        ------
        KeyError
            When ``camera_id`` is not calibrated (naming it and the calibrated ones).
        ValueError
            For another ``bits`` or an image that is not 8/16-bit BGR.
        """
        if bits not in (8, 16):
            raise ValueError(f"bits must be 8 or 16, got {bits}")
        linear = self.to_linear(camera_id, image_bgr_uint8)
        space = self.camera(camera_id).working_space
        if space != "linear-srgb":
            linear = (linear @ working_space_matrix(space, "linear-srgb").T.astype(np.float32)).astype(np.float32)
        encoded = srgb_encode(linear[..., ::-1])
        full = 255.0 if bits == 8 else 65535.0
        return np.rint(encoded * full).astype(np.uint8 if bits == 8 else np.uint16)

    def to_json(self) -> dict[str, Any]:
        """The whole calibration as ``colour.json`` data."""
        data: dict[str, Any] = {"schema": SCHEMA, "created": self.created, "reference": dict(self.reference),
                                "working_space": self.working_space,
                                "cameras": {cid: cam.to_json() for cid, cam in sorted(self.cameras.items())}}
        if self.consistency is not None:
            data["consistency"] = self.consistency
        return data


def save_colour(calibration: ColourCalibration, path: Path) -> Path:
    """Write ``colour.json`` (atomically: a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    text = _NUMBER_LIST.sub(lambda m: "[" + ", ".join(re.split(r",\s*", m.group(1))) + "]",
                            json.dumps(calibration.to_json(), indent=2))
    temporary.write_text(text + "\n", encoding="utf-8")
    temporary.replace(path)
    return path


def load_colour(path: str | Path) -> ColourCalibration:
    """Read a ``colour.json`` written by ``capturerig calibrate colour``.

    Raises
    ------
    ValueError
        Naming the file (and camera and field) when it is not JSON, has another schema, or an entry is
        malformed.
    FileNotFoundError
        When the file does not exist.
    """
    file = Path(path)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{file}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        found = data.get("schema") if isinstance(data, dict) else type(data).__name__
        raise ValueError(f"{file}: schema: expected '{SCHEMA}', found {found!r}")
    cameras_data = data.get("cameras")
    if not isinstance(cameras_data, dict):
        raise ValueError(f"{file}: cameras: expected an object of camera entries")
    cameras = {str(cid): CameraColour.from_json(str(cid), entry, str(file)) for cid, entry in cameras_data.items()}
    return ColourCalibration(cameras, str(data.get("working_space", "linear-srgb")), dict(data.get("reference", {})),
                             data.get("consistency"), str(data.get("created", "")))
