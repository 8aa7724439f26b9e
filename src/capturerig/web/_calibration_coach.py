"""Live coverage coaching while the panel shoots a board plan, said for a page: per camera, a coverage grid to
draw and one sentence on what the technician should do next. The counting is the engine's
(:class:`capturerig.engine.BoardCoach`, as ``capturerig calibrate capture`` uses it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from capturerig.calibration import BoardSpec, GateLimits
from capturerig.config import RigConfig
from capturerig.engine import BoardCoach as EngineCoach
from capturerig.engine import BoardTally, missing_regions, region_shares

__all__ = ["BoardCoach"]

MIN_COVERAGE = GateLimits().min_coverage  # the solver's coverage gate: coach toward what it will accept


def _advice(camera_id: str, tally: BoardTally, min_views: int) -> tuple[str, str]:
    """(status, what to do) for one camera: ``none`` never saw the board, ``more`` needs more, ``good``."""
    if tally.views == 0:
        return "none", f"{camera_id} has not seen the board yet: hold it close to {camera_id}, tilted toward it"
    missing = missing_regions(tally.grid)
    needs = []
    if tally.views < min_views:
        needs.append(f"show {camera_id} the board more often, tilted toward it ({tally.views} of {min_views} "
                     "good views)")
    if missing:
        needs.append(f"hold the board in the {', '.join(missing)} of {camera_id}'s image")
    elif tally.covered < MIN_COVERAGE:
        needs.append(f"bring the board closer to {camera_id} so it fills more of the image")
    if not needs:
        return "good", f"{camera_id} has enough views and its image is covered"
    return "more", "; ".join(needs)


class BoardCoach(EngineCoach):
    """The engine's coach for a panel shoot; :meth:`snapshot` is what the page shows."""

    def __init__(self, session_dir: Path, board: BoardSpec, rig: RigConfig, cameras: list[str], min_views: int,
                 takes_total: int) -> None:
        super().__init__(session_dir, board, rig, min_views, cameras, takes_total)

    def close(self, wait: bool = False) -> None:
        """Stop the worker after the takes already queued, without waiting (a server thread calls it)."""
        super().close(wait)

    def snapshot(self) -> dict[str, Any]:
        """Per camera: views, corners, coverage (whole image and 3 x 3 regions), status and what to do next."""
        with self.lock:
            cameras = []
            for camera_id, tally in self.tally.items():
                status, todo = _advice(camera_id, tally, self.min_views)
                cameras.append({"camera": camera_id, "views": tally.views, "min_views": self.min_views,
                                "corners": tally.corners, "covered": round(tally.covered, 3),
                                "regions": region_shares(tally.grid), "last_seen": tally.last_seen,
                                "status": status, "todo": todo})
            return {"takes_total": self.takes_total, "takes_done": self.takes_done,
                    "takes_failed": self.takes_failed, "searched": self.searched,
                    "min_coverage": MIN_COVERAGE, "cameras": cameras,
                    "ready": all(c["status"] == "good" for c in cameras)}
