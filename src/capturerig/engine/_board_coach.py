"""Coverage coaching while a board plan is shot: per camera, good views, corners and where in its image the
board has been; the CLI (``calibrate capture``) and the panel's calibration page say it each their way.

Subscribe a :class:`BoardCoach` to the session: it collects each take's stored files and, once the take is
verified, searches them for the board in its own thread (the capture never waits for it). The coverage grid is
9 x 9 cells; the advice speaks of the 3 x 3 regions they form (:data:`REGIONS`).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from capturerig.calibration import BoardSpec, coverage, detect_board
from capturerig.config import RigConfig
from capturerig.engine._events import Event, FileStored, RunState, StateChanged, TakeFailed, TakeVerified

__all__ = ["COVERAGE_CELLS", "REGIONS", "BoardCoach", "BoardTally", "missing_regions", "region_shares"]

COVERAGE_CELLS = 9
REGIONS = (("top-left", "top", "top-right"), ("left", "centre", "right"), ("bottom-left", "bottom", "bottom-right"))
_FINAL = (RunState.DONE, RunState.FAILED, RunState.ABORTED)


def region_shares(grid: npt.NDArray[np.float64]) -> list[list[float]]:
    """Share of each 3 x 3 region's cells of ``grid`` the board's corners have reached (0..1), top row first."""
    rows, columns = grid.shape
    return [[round(float((grid[i * rows // 3:(i + 1) * rows // 3, j * columns // 3:(j + 1) * columns // 3] > 0)
                         .mean()), 2) for j in range(3)] for i in range(3)]


def missing_regions(grid: npt.NDArray[np.float64]) -> list[str]:
    """The regions of an image (top-left ... bottom-right) where no board corner has been found yet."""
    return [name for row, names in zip(region_shares(grid), REGIONS, strict=True)
            for share, name in zip(row, names, strict=True) if share == 0.0]


@dataclass
class BoardTally:
    """One camera's count so far."""

    width: int
    height: int
    views: int = 0
    corners: int = 0
    last_seen: str | None = None  # the board position (pose id) it last found the board in
    grid: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros((COVERAGE_CELLS, COVERAGE_CELLS)))

    @property
    def covered(self) -> float:
        """Share of the image's cells the board's corners have reached."""
        return float((self.grid > 0).mean())


class BoardCoach:
    """Counts good board views and image coverage per camera of ``cameras`` (default: all) from a session's
    events; ``on_searched(position, found)`` (corners found per camera) is called from the worker after each
    verified take is searched."""

    def __init__(self, session_dir: Path, board: BoardSpec, rig: RigConfig, min_views: int,
                 cameras: Iterable[str] | None = None, takes_total: int = 0,
                 on_searched: Callable[[str, dict[str, int]], None] | None = None) -> None:
        wanted = None if cameras is None else set(cameras)
        self.session_dir = session_dir
        self.board = board
        self.min_views = min_views
        self.takes_total = takes_total
        self.takes_done = 0
        self.takes_failed = 0
        self.searched = 0
        self.tally = {c.id: BoardTally(c.intrinsics.width, c.intrinsics.height)
                      for c in rig.cameras if wanted is None or c.id in wanted}
        self._on_searched = on_searched
        self._files: dict[tuple[str, int], list[FileStored]] = {}
        self.lock = threading.Lock()  # held while reading ``tally`` and the counts from another thread
        self._queue: queue.Queue[tuple[str, list[FileStored]] | None] = queue.Queue()  # None: stop
        self._worker = threading.Thread(target=self._work, name="capturerig-board-coach", daemon=True)
        self._worker.start()

    def __call__(self, event: Event) -> None:
        """Session subscriber: cheap; the board search runs in the worker."""
        if isinstance(event, FileStored):
            self._files.setdefault((event.take_id, event.attempt), []).append(event)
        elif isinstance(event, TakeVerified):
            with self.lock:
                self.takes_done += 1
            self._queue.put((event.take_id, self._files.pop((event.take_id, event.attempt), [])))
        elif isinstance(event, TakeFailed) and not event.will_retry:
            with self.lock:
                self.takes_failed += 1
        elif isinstance(event, StateChanged) and event.state in _FINAL:
            self.close(wait=False)  # after the takes already queued: nobody need poll for the worker to end

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            take_id, files = item
            found: dict[str, int] = {}
            for stored in files:
                if stored.camera_id not in self.tally:
                    continue
                image = cv2.imread(str(self.session_dir / stored.path), cv2.IMREAD_GRAYSCALE)
                detection = None if image is None else detect_board(image, self.board)
                if detection is None:
                    continue
                with self.lock:
                    tally = self.tally[stored.camera_id]
                    tally.views += 1
                    tally.corners += len(detection)
                    tally.last_seen = take_id.split("/")[0]
                    tally.grid += coverage([detection], tally.width, tally.height, COVERAGE_CELLS)
                found[stored.camera_id] = len(detection)
            with self.lock:
                self.searched += 1
            if self._on_searched is not None:
                self._on_searched(take_id.split("/")[0], found)

    @property
    def searching(self) -> bool:
        """Verified takes whose images are still being searched for the board."""
        with self.lock:
            return self.searched < self.takes_done

    def close(self, wait: bool = True) -> None:
        """Stop the worker after the takes already queued; ``wait`` until it has searched them. Closing twice
        is harmless: the worker reads only the first stop (a daemon: a stuck image cannot hold a server)."""
        self._queue.put(None)
        if wait:
            self._worker.join()
