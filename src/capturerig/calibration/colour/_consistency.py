"""Cross-camera consistency: how differently the cameras see each patch of the same chart under the same light.

For every patch, dE00 between every pair of cameras (16 cameras: 120 pairs x 24 patches); a camera is an
outlier when its mean dE00 to the consensus (the per-patch median L*a*b* of all cameras) is well above the
others' (more than twice their median, and more than :data:`OUTLIER_FLOOR_DE`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from capturerig.calibration.colour._ciede2000 import delta_e_2000

__all__ = ["OUTLIER_FLOOR_DE", "Consistency", "cross_camera_consistency"]

FloatArray = npt.NDArray[np.float64]
OUTLIER_FLOOR_DE = 1.0


@dataclass(frozen=True)
class Consistency:
    """Pairwise cross-camera dE00 over the chart's patches.

    Attributes
    ----------
    camera_ids
        Cameras compared, in order.
    pairwise
        (cameras, cameras, 24) dE00 between each pair for each patch (NaN where a camera lacks the patch).
    to_consensus
        (cameras,) each camera's mean dE00 to the consensus.
    outliers
        Cameras that disagree with the rest.
    """

    camera_ids: tuple[str, ...]
    pairwise: FloatArray
    to_consensus: FloatArray
    outliers: tuple[str, ...]

    def _pairs(self) -> FloatArray:
        upper = np.triu_indices(len(self.camera_ids), k=1)
        values = self.pairwise[upper[0], upper[1]].ravel()
        return values[np.isfinite(values)]

    @property
    def mean(self) -> float:
        """Mean dE00 over every camera pair and patch."""
        pairs = self._pairs()
        return float(pairs.mean()) if pairs.size else 0.0

    @property
    def max(self) -> float:
        """Largest dE00 between any two cameras on any patch."""
        pairs = self._pairs()
        return float(pairs.max()) if pairs.size else 0.0

    def worst(self) -> tuple[str, str, int, float] | None:
        """(camera, camera, 0-based patch, dE00) of the largest difference, None with fewer than two cameras."""
        if len(self.camera_ids) < 2:
            return None
        masked = np.where(np.isfinite(self.pairwise), self.pairwise, -1.0)
        first, second, patch = np.unravel_index(int(np.argmax(masked)), masked.shape)
        return self.camera_ids[first], self.camera_ids[second], int(patch), float(masked[first, second, patch])

    def summary(self) -> dict[str, Any]:
        """Plain data for ``colour.json`` and the report."""
        worst = self.worst()
        return {"mean": round(self.mean, 4), "max": round(self.max, 4),
                "worst": None if worst is None else {"cameras": [worst[0], worst[1]], "patch": worst[2] + 1,
                                                     "dE00": round(worst[3], 4)},
                "to_consensus": {cid: round(float(v), 4) for cid, v in zip(self.camera_ids, self.to_consensus,
                                                                              strict=True)},
                "outliers": list(self.outliers)}


def cross_camera_consistency(lab_by_camera: Mapping[str, npt.ArrayLike]) -> Consistency:
    """Compare cameras' L*a*b* of the same patches.

    Parameters
    ----------
    lab_by_camera
        (24, 3) L*a*b* per camera id; NaN rows for patches a camera could not use.
    """
    camera_ids = tuple(sorted(lab_by_camera))
    if not camera_ids:
        return Consistency((), np.zeros((0, 0, 24)), np.zeros(0), ())
    labs = np.stack([np.asarray(lab_by_camera[cid], dtype=np.float64) for cid in camera_ids])  # (C, P, 3)
    pairwise = delta_e_2000(labs[:, None, :, :], labs[None, :, :, :])
    consensus = np.nanmedian(labs, axis=0)
    to_consensus_patch = delta_e_2000(labs, consensus[None, :, :])
    to_consensus = np.array([np.nanmean(row) if np.any(np.isfinite(row)) else np.nan for row in to_consensus_patch])
    outliers: list[str] = []
    if len(camera_ids) >= 3:
        for index, camera_id in enumerate(camera_ids):
            others = np.delete(to_consensus, index)
            bound = max(OUTLIER_FLOOR_DE, 2.0 * float(np.nanmedian(others)))
            if to_consensus[index] > bound:
                outliers.append(camera_id)
    return Consistency(camera_ids, pairwise, to_consensus, tuple(outliers))
