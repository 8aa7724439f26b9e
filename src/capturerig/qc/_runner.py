"""The plain API: ``QcRunner(camera_ids, settings).check_take(take_id, light_id, files) -> TakeQc``."""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from capturerig.config import QcSettings
from capturerig.qc._checks import (
    CheckResult,
    Subject,
    Verdict,
    check_black,
    check_exposure,
    check_light,
    check_moved,
    check_sharpness,
    check_stale,
    take_level,
)
from capturerig.qc._history import CameraHistory, Seen
from capturerig.qc._measure import ImageStats, QcError, measure_image
from capturerig.qc._region import SubjectRegion

__all__ = ["FileQc", "QcFile", "QcRunner", "TakeQc"]

_MEASURED_KEPT = 64  # measurements remembered by content (a 160-px edge image and a thumbnail each)


@dataclass(frozen=True)
class QcFile:
    """A file of a take to check: its path, the camera and the format (``jpeg``, ``raw`` ...)."""

    path: Path
    camera_id: str
    format: str = "jpeg"


@dataclass(frozen=True)
class FileQc:
    """One file's checks; ``verdict`` is the worst of them."""

    path: str
    camera_id: str
    format: str
    verdict: Verdict
    checks: tuple[CheckResult, ...]
    seconds: float  # decoding, measuring and checking this file (one core)
    figures: dict[str, Any] = field(default_factory=dict)

    def problems(self) -> list[CheckResult]:
        """The checks that warned or failed, worst first."""
        return sorted((c for c in self.checks if c.verdict is not Verdict.OK), key=lambda c: -c.verdict.rank)

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "camera": self.camera_id, "format": self.format, "verdict": self.verdict.value,
                "seconds": round(self.seconds, 4), "figures": self.figures,
                "checks": [check.to_json() for check in self.checks]}


@dataclass(frozen=True)
class TakeQc:
    """A take's checks, per file; ``verdict`` is the worst of them."""

    take_id: str
    light_id: str | None
    station: str | None
    files: tuple[FileQc, ...]

    @property
    def verdict(self) -> Verdict:
        return max((f.verdict for f in self.files), key=lambda v: v.rank, default=Verdict.OK)

    def to_json(self) -> dict[str, Any]:
        return {"take": self.take_id, "light": self.light_id, "station": self.station, "verdict": self.verdict.value,
                "files": [f.to_json() for f in self.files]}


def _worst(checks: Iterable[CheckResult]) -> Verdict:
    return max((c.verdict for c in checks), key=lambda v: v.rank, default=Verdict.OK)


class QcRunner:
    """The checks of one session: per camera (and format) a small history; thread-safe.

    Parameters
    ----------
    camera_ids
        The rig's cameras; a file from another camera is refused (QcError).
    settings
        Thresholds and policy (:class:`QcSettings`).
    masks
        Optional subject region per camera: a :class:`SubjectRegion` (the capture volume projected, see
        :func:`capturerig.qc.subject_regions`) or a bool mask (any size). The exposure checks judge the subject
        inside it and "moved" measures the view outside it. Without one: the centre of the frame for the
        exposure checks and the whole frame for "moved" (as for a camera that does not see the volume).
    """

    def __init__(self, camera_ids: Iterable[str], settings: QcSettings | None = None,
                 masks: Mapping[str, npt.NDArray[np.bool_] | SubjectRegion] | None = None) -> None:
        self.settings = settings or QcSettings()
        self.camera_ids = frozenset(camera_ids)
        # camera -> (the subject region of the exposure checks, what "moved" leaves out)
        self._masks: dict[str, tuple[npt.NDArray[np.bool_] | None, npt.NDArray[np.bool_] | None]] = {}
        for camera_id, given in (masks or {}).items():
            if isinstance(given, SubjectRegion):
                self._masks[camera_id] = (given.mask, None if given.centre else given.mask)
            else:
                self._masks[camera_id] = (given, given)
        self._lock = threading.Lock()
        # Per (camera, format, plate): a clean plate shows the empty rig, so it has its own baseline and
        # neither softens nor darkens the subject's (nor is judged against it); the delivered hashes are shared.
        self._histories: dict[tuple[str, str, bool], CameraHistory] = {}
        self._hashes: dict[tuple[str, str], dict[str, str]] = {}
        # Identical bytes measure identically: a camera handing over the same file again (stale, or a test
        # card) costs a hash, not a decode. By (camera, sha256): the subject region is per camera.
        self._measured: OrderedDict[tuple[str, str], ImageStats] = OrderedDict()

    def _history(self, camera_id: str, file_format: str, plate: bool) -> CameraHistory:
        key = (camera_id, file_format, plate)
        history = self._histories.get(key)
        if history is None:
            hashes = self._hashes.setdefault((camera_id, file_format), {})
            history = self._histories[key] = CameraHistory(self.settings.thresholds.history, hashes)
        return history

    def _measure(self, take_id: str, light_id: str | None, station: str | None, item: QcFile,
                 plate: bool) -> Subject:
        if item.camera_id not in self.camera_ids:
            raise QcError(f"{item.path}: camera '{item.camera_id}' is not one of the rig's cameras")
        try:
            data = item.path.read_bytes()
        except OSError as exc:
            raise QcError(f"{item.path}: cannot read it ({exc})") from exc
        key = (item.camera_id, hashlib.sha256(data).hexdigest())
        with self._lock:
            stats = self._measured.get(key)
        if stats is None:
            region, exclude = self._masks.get(item.camera_id, (None, None))
            stats = measure_image(data, str(item.path), region, exclude)
            with self._lock:
                self._measured[key] = stats
                while len(self._measured) > _MEASURED_KEPT:
                    self._measured.popitem(last=False)
        return Subject(item.camera_id, str(item.path), take_id, light_id, station, stats, plate)

    def add_reference(self, take_id: str, light_id: str | None, files: Sequence[QcFile],
                      station: str | None = None, plate: bool = False) -> None:
        """Remember ``files`` as good images of their cameras (calibration captures, a take judged by eye);
        ``plate``: clean plates of the empty rig (a baseline of their own)."""
        subjects = [(item, self._measure(take_id, light_id, station, item, plate)) for item in files]
        with self._lock:
            for item, subject in subjects:
                self._history(item.camera_id, item.format, plate).add(
                    Seen(subject.path, take_id, light_id, station, subject.stats))

    def check_take(self, take_id: str, light_id: str | None, files: Sequence[QcFile],
                   station: str | None = None, plate: bool = False) -> TakeQc:
        """Check a take's files against each camera's history and each other, then remember the good ones.

        ``plate``: the take is a clean plate (the empty rig, no subject): its sharpness, exposure, light and
        view are judged against the camera's earlier plates only, and it joins only their baseline; a file the
        camera delivered before (in either) is stale all the same.

        Raises
        ------
        QcError
            A file that cannot be read or decoded, or from a camera not in the rig (naming the file).
        """
        measured: list[tuple[QcFile, Subject, float]] = []
        for item in files:
            started = time.process_time()  # CPU time of this thread: the cost on one core, whatever else runs
            subject = self._measure(take_id, light_id, station, item, plate)
            measured.append((item, subject, time.process_time() - started))
        limits = self.settings.thresholds
        results: list[FileQc] = []
        with self._lock:
            kept: list[tuple[QcFile, Subject, Verdict]] = []
            for file_format in sorted({item.format for item in files}):
                group = [(s, self._history(i.camera_id, i.format, plate)) for i, s, _ in measured
                         if i.format == file_format]
                ratio = take_level(group)
                for item, subject, seconds in measured:
                    if item.format != file_format:
                        continue
                    started = time.process_time()
                    history = self._history(item.camera_id, item.format, plate)
                    others = [s for s, _ in group if s.camera_id != item.camera_id]
                    checks = (check_black(subject, limits), check_stale(subject, history, limits),
                              check_sharpness(subject, history, limits),
                              check_exposure(subject, history, others, limits),
                              check_light(subject, history, ratio, limits), check_moved(subject, history, limits))
                    verdict = _worst(checks)
                    kept.append((item, subject, verdict))
                    results.append(FileQc(str(item.path), item.camera_id, item.format, verdict, checks,
                                          seconds + time.process_time() - started, subject.stats.to_json()))
            for item, subject, verdict in kept:  # after the whole take: no file is its own baseline
                history = self._history(item.camera_id, item.format, plate)
                if verdict is not Verdict.OK:  # a doubtful image stays out of the baselines; its bytes are known
                    history.note_hash(subject.stats.sha256, subject.path)
                else:
                    history.add(Seen(subject.path, take_id, light_id, station, subject.stats))
        return TakeQc(take_id, light_id, station, tuple(results))
