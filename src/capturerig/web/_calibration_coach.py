"""Live coverage coaching while the panel shoots a board plan: per camera, how many good views it has, how
much of its image the board's corners have reached, and what the technician should do next.

The same counting as ``capturerig calibrate capture`` (board search per verified take, a 9 x 9 coverage grid
whose 3 x 3 regions the advice names), said for a page: a coverage grid to draw and one sentence per camera.
The search runs in a worker thread so the capture never waits for it.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from capturerig.calibration import BoardSpec, GateLimits, coverage, detect_board
from capturerig.config import RigConfig
from capturerig.engine import Event, FileStored, RunState, StateChanged, TakeFailed, TakeVerified

__all__ = ["BoardCoach"]

CELLS = 9  # 9 x 9 cells; the advice speaks of the 3 x 3 regions they form
REGIONS = (("top-left", "top", "top-right"), ("left", "centre", "right"), ("bottom-left", "bottom", "bottom-right"))
_FINAL = (RunState.DONE, RunState.FAILED, RunState.ABORTED)
MIN_COVERAGE = GateLimits().min_coverage  # the solver's coverage gate: coach toward what it will accept


@dataclass
class _Tally:
    width: int
    height: int
    views: int = 0
    corners: int = 0
    last_seen: str | None = None
    grid: np.ndarray = field(default_factory=lambda: np.zeros((CELLS, CELLS)))

    def regions(self) -> list[list[float]]:
        """Share of each 3 x 3 region's cells the board's corners have reached (0..1), rows top to bottom."""
        step = CELLS // 3
        return [[round(float((self.grid[i * step:(i + 1) * step, j * step:(j + 1) * step] > 0).mean()), 2)
                 for j in range(3)] for i in range(3)]


def _advice(camera_id: str, tally: _Tally, min_views: int) -> tuple[str, str]:
    """(status, what to do) for one camera: ``none`` never saw the board, ``more`` needs more, ``good``."""
    if tally.views == 0:
        return "none", f"{camera_id} has not seen the board yet: hold it close to {camera_id}, tilted toward it"
    covered = float((tally.grid > 0).mean())
    missing = [name for row, names in zip(tally.regions(), REGIONS, strict=True)
               for share, name in zip(row, names, strict=True) if share == 0.0]
    needs = []
    if tally.views < min_views:
        needs.append(f"show {camera_id} the board more often, tilted toward it ({tally.views} of {min_views} "
                     "good views)")
    if missing:
        needs.append(f"hold the board in the {', '.join(missing)} of {camera_id}'s image")
    elif covered < MIN_COVERAGE:
        needs.append(f"bring the board closer to {camera_id} so it fills more of the image")
    if not needs:
        return "good", f"{camera_id} has enough views and its image is covered"
    return "more", "; ".join(needs)


class BoardCoach:
    """Counts good board views and image coverage per camera from a session's events.

    Subscribe it to the session; :meth:`snapshot` is what the page shows. :meth:`close` stops the worker
    once the last verified take has been searched.
    """

    def __init__(self, session_dir: Path, board: BoardSpec, rig: RigConfig, cameras: list[str], min_views: int,
                 takes_total: int) -> None:
        self.session_dir = session_dir
        self.board = board
        self.min_views = min_views
        self.takes_total = takes_total
        self.takes_done = 0
        self.takes_failed = 0
        self.searched = 0
        self.tally = {c.id: _Tally(c.intrinsics.width, c.intrinsics.height) for c in rig.cameras if c.id in cameras}
        self._files: dict[tuple[str, int], list[FileStored]] = {}
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[str, list[FileStored]] | None] = queue.Queue()  # None: stop
        self._worker = threading.Thread(target=self._work, name="capturerig-panel-board-coach", daemon=True)
        self._worker.start()

    def __call__(self, event: Event) -> None:
        """Session subscriber: cheap; the board search runs in the worker."""
        if isinstance(event, FileStored):
            self._files.setdefault((event.take_id, event.attempt), []).append(event)
        elif isinstance(event, TakeVerified):
            with self._lock:
                self.takes_done += 1
            self._queue.put((event.take_id, self._files.pop((event.take_id, event.attempt), [])))
        elif isinstance(event, TakeFailed) and not event.will_retry:
            with self._lock:
                self.takes_failed += 1
        elif isinstance(event, StateChanged) and event.state in _FINAL:
            self.close()  # after the takes already queued: nobody need poll for the worker to end

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            take_id, files = item
            for stored in files:
                if stored.camera_id not in self.tally:
                    continue
                image = cv2.imread(str(self.session_dir / stored.path), cv2.IMREAD_GRAYSCALE)
                detection = None if image is None else detect_board(image, self.board)
                if detection is None:
                    continue
                with self._lock:
                    tally = self.tally[stored.camera_id]
                    tally.views += 1
                    tally.corners += len(detection)
                    tally.last_seen = take_id.split("/")[0]
                    tally.grid += coverage([detection], tally.width, tally.height, CELLS)
            with self._lock:
                self.searched += 1

    @property
    def searching(self) -> bool:
        """Verified takes whose images are still being searched for the board."""
        with self._lock:
            return self.searched < self.takes_done

    def close(self) -> None:
        """Stop the worker after the takes already queued (it is a daemon: a stuck image cannot hold the server).
        Closing twice is harmless: the worker reads only the first stop."""
        self._queue.put(None)

    def snapshot(self) -> dict[str, Any]:
        """Per camera: views, corners, coverage (whole image and 3 x 3 regions), status and what to do next."""
        with self._lock:
            cameras = []
            for camera_id, tally in self.tally.items():
                status, todo = _advice(camera_id, tally, self.min_views)
                cameras.append({"camera": camera_id, "views": tally.views, "min_views": self.min_views,
                                "corners": tally.corners, "covered": round(float((tally.grid > 0).mean()), 3),
                                "regions": tally.regions(), "last_seen": tally.last_seen, "status": status,
                                "todo": todo})
            return {"takes_total": self.takes_total, "takes_done": self.takes_done,
                    "takes_failed": self.takes_failed, "searched": self.searched,
                    "min_coverage": MIN_COVERAGE, "cameras": cameras,
                    "ready": all(c["status"] == "good" for c in cameras)}
