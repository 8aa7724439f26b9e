"""The packages page: list, build (from a session, a background job the page follows), verify with its report,
download as one zip stream."""

from __future__ import annotations

import builtins
import io
import json
import logging
import re
import threading
import time
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import capturerig
from capturerig.config import ConfigError
from capturerig.engine import IncompleteSession
from capturerig.packaging import PackageIntegrityError
from capturerig.subjects import ConsentRefused
from capturerig.web._calibration_backends import current_calibration
from capturerig.web._problems import PanelProblem, config_problem
from capturerig.web._runs import SessionNotFound

__all__ = ["PackageJob", "PackageNotFound", "PackageShelf", "zip_stream"]

log = logging.getLogger(__name__)

_PACKAGE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_MARKERS = ("bagit.txt", "manifest-sha256.txt", "package.json")
_CHUNK = 1 << 20


class PackageNotFound(LookupError):
    """No package of that name in the packages root."""


class _Sink(io.RawIOBase):
    """A write-only stream that hands out what was written since the last :meth:`take` (for zipfile)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self._position += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._position

    def take(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        return out


def zip_stream(root: Path, prefix: str) -> Iterator[bytes]:
    """The files below ``root`` as a zip (stored, zip64), produced piece by piece with bounded memory.

    Symlinks are left out: a package holds real files (images are hard links), and a link could point
    outside the storage root.
    """
    sink = _Sink()
    base = root.resolve()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for path in sorted(base.rglob("*")):
            if path.is_symlink() or not path.is_file():
                continue
            name = f"{prefix}/{path.relative_to(base).as_posix()}"
            info = zipfile.ZipInfo.from_file(path, name)
            with archive.open(info, "w", force_zip64=True) as entry, path.open("rb") as source:
                while chunk := source.read(_CHUNK):
                    entry.write(chunk)
                    yield sink.take()
            yield sink.take()
    yield sink.take()


def _problems_of(report: object) -> list[str]:
    """The problems a ``verify_package`` report lists (a list of strings, or an object carrying them)."""
    if isinstance(report, list | tuple):
        return [str(p) for p in report]
    problems = getattr(report, "problems", None)
    if problems is not None:
        return [str(p) for p in problems]
    return [] if getattr(report, "ok", True) else [str(report)]


# Reading, developing, correcting and writing the frames is nearly all of a build; the models, manifests and
# the fsync before the package is published take the rest.
_FRAMES_SHARE = 0.95
KEEP_JOBS = 20


@dataclass
class PackageJob:
    """One package build as the page follows it: stage, bytes of the session's images done, ETA, result."""

    id: str
    session: str
    started: float = field(default_factory=time.monotonic)
    state: Literal["running", "done", "failed"] = "running"
    bytes_done: int = 0
    bytes_total: int = 0
    result: dict[str, Any] | None = None
    problem: dict[str, str] | None = None
    finished: float | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def progress(self, done: int, total: int) -> None:
        """Packaging's ``(bytes done, bytes total)`` of the source images, from its worker threads."""
        with self._lock:
            self.bytes_done, self.bytes_total = max(self.bytes_done, done), total

    def finish(self, result: dict[str, Any] | None = None, problem: PanelProblem | None = None) -> None:
        with self._lock:
            self.finished = time.monotonic()
            self.result = result
            self.problem = None if problem is None else problem.as_dict()
            self.state = "failed" if problem is not None else "done"

    def view(self) -> dict[str, Any]:
        with self._lock:
            elapsed = (self.finished or time.monotonic()) - self.started
            frames_done = self.bytes_total > 0 and self.bytes_done >= self.bytes_total
            if self.state != "running":
                stage = "finished" if self.state == "done" else "stopped"
                fraction = 1.0 if self.state == "done" else None
            elif self.bytes_total == 0:
                stage, fraction = "reading the session's journal", 0.0
            elif not frames_done:
                stage = "placing the images (read, checked, developed, corrected, undistorted)"
                fraction = _FRAMES_SHARE * self.bytes_done / self.bytes_total
            else:
                stage, fraction = "writing the models and manifests, then publishing", _FRAMES_SHARE
            eta = None
            if self.state == "running" and fraction is not None and 0.03 <= fraction < 1.0:
                eta = round(elapsed / fraction * (1.0 - fraction), 1)
            return {"id": self.id, "session": self.session, "state": self.state, "stage": stage,
                    "fraction": None if fraction is None else round(fraction, 3), "bytes_done": self.bytes_done,
                    "bytes_total": self.bytes_total, "elapsed_s": round(elapsed, 1), "eta_s": eta,
                    "result": self.result, "problem": self.problem}


def _build_problem(exc: Exception, session: str) -> PanelProblem:
    """What stopped a build, where, and what to do, in the page's problem panel."""
    where = f"session {session}"
    if isinstance(exc, IncompleteSession):
        return PanelProblem(f"session {session} is not finished: {str(exc).split('; ')[0]}", where,
                            "Resume it from the Sessions page, then build its package.")
    if isinstance(exc, PackageIntegrityError):
        return PanelProblem(f"frame '{exc.name}' changed after it was verified", str(exc.source),
                            "Re-verify or re-shoot this take before packaging.")
    if isinstance(exc, ConfigError):
        return config_problem(exc, "the calibration or rig the package needs cannot be used")
    if isinstance(exc, ConsentRefused):
        return PanelProblem(str(exc), where, "Check the subject's consent in the registry.")

    return PanelProblem(f"packaging stopped: {str(exc).splitlines()[0][:300]}", where,
                        "Fix what it names and build again; nothing of this package was kept.")


class PackageShelf:
    """Packages below ``packages_dir``; builds (background jobs) and verifications run one at a time."""

    def __init__(self, packages_dir: Path, calibration_dir: Path) -> None:
        self.packages_dir = packages_dir
        self.calibration_dir = calibration_dir
        self.reports: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, PackageJob] = {}
        self._lock = threading.Lock()
        self._jobs_lock = threading.Lock()

    def path(self, name: str) -> Path:
        if not _PACKAGE_NAME.match(name):
            raise PackageNotFound(f"'{name}' is not a package name")
        path = self.packages_dir / name
        if not path.is_dir() or path.is_symlink() or not any((path / m).is_file() for m in _MARKERS):
            raise PackageNotFound(f"no package '{name}' in {self.packages_dir}")
        return path

    def list(self) -> list[dict[str, Any]]:
        if not self.packages_dir.is_dir():
            return []
        packages = []
        for path in sorted(self.packages_dir.iterdir()):
            if path.is_symlink() or not path.is_dir() or not any((path / m).is_file() for m in _MARKERS):
                continue
            files = [p for p in path.rglob("*") if p.is_file() and not p.is_symlink()]
            packages.append({"name": path.name, "files": len(files), "bytes": sum(p.stat().st_size for p in files),
                             "bagit": (path / "bagit.txt").is_file(), "modified_at": path.stat().st_mtime,
                             "verification": self.reports.get(path.name)})
        return packages

    def start_build(self, session_dir: Path) -> PackageJob:
        """Build ``session_dir``'s package in a background thread; the job says how far it is. Raises
        SessionNotFound, FileExistsError, or a PanelProblem (409) while another build runs."""
        self._check_buildable(session_dir)
        with self._jobs_lock:
            running = [j for j in self.jobs.values() if j.state == "running"]
            if running:
                raise PanelProblem(f"the package of session {running[0].session} is being built",
                                   "Packages page", "Wait until it finishes (its progress bar is on this page).",
                                   status=409)
            job = PackageJob(f"package-{uuid.uuid4().hex[:8]}", session_dir.name)
            self.jobs[job.id] = job
            for old in list(self.jobs)[:-KEEP_JOBS]:
                if self.jobs[old].state != "running":
                    del self.jobs[old]
        threading.Thread(target=self._run_build, args=(job, session_dir), daemon=True,
                         name=f"capturerig-panel-package-{session_dir.name}").start()
        return job

    def job(self, job_id: str) -> PackageJob:
        with self._jobs_lock:
            if job_id not in self.jobs:
                raise PackageNotFound(f"no package build '{job_id}' (the panel keeps the last {KEEP_JOBS})")
            return self.jobs[job_id]

    def active(self) -> builtins.list[dict[str, Any]]:
        with self._jobs_lock:
            return [j.view() for j in self.jobs.values() if j.state == "running"]

    def _run_build(self, job: PackageJob, session_dir: Path) -> None:
        try:
            result = self.build(session_dir, job.progress)
        except PanelProblem as problem:
            job.finish(problem=problem)
        except (IncompleteSession, PackageIntegrityError, ConfigError, ConsentRefused, FileExistsError,
                SessionNotFound, ValueError, OSError) as exc:
            job.finish(problem=_build_problem(exc, session_dir.name))
        except Exception as exc:  # a bug: the page says so briefly, the log keeps the traceback
            log.exception("building the package of %s failed", session_dir.name)
            job.finish(problem=PanelProblem(f"packaging failed unexpectedly ({type(exc).__name__})",
                                            f"session {session_dir.name}", "Try again; if it fails again, send "
                                            "the panel server's log to whoever maintains the rig."))
        else:
            job.finish(result=result)

    def _check_buildable(self, session_dir: Path) -> Path:
        if not (session_dir / "session.json").is_file():
            raise SessionNotFound(f"{session_dir.name} is not a session")
        target = self.packages_dir / session_dir.name
        if target.exists():
            raise FileExistsError(f"package {target.name} already exists; verify or download it instead")
        return target

    def build(self, session_dir: Path, progress: Any = None) -> dict[str, Any]:
        """Package a finished session as ``<packages>/<session name>``; raises IncompleteSession, FileExistsError
        and what packaging raises. ``progress(bytes done, bytes total)`` as packaging reports it."""
        target = self._check_buildable(session_dir)
        self.packages_dir.mkdir(parents=True, exist_ok=True)
        rig_name = str(json.loads((session_dir / "session.json").read_text(encoding="utf-8")).get("rig_name", ""))
        current = current_calibration(self.calibration_dir, rig_name) if rig_name else {}
        snapshot = session_dir / "rig.yaml"
        scheduler = capturerig.load_rig(snapshot).config.processing.scheduler if snapshot.is_file() else None
        with self._lock, ExitStack() as stack:
            started = time.monotonic()
            client = None
            if scheduler:  # the studio's cluster, as `capturerig package` uses it; distributed only then
                from capturerig.processing import ProcessingError, open_cluster

                try:
                    client = stack.enter_context(open_cluster(scheduler))
                except ProcessingError as exc:  # unreachable, other package versions, no worker offering memory
                    raise PanelProblem(f"packaging stopped: {exc}", f"the rig's processing.scheduler ({snapshot})",
                                       "Start the studio's Dask scheduler and workers, or remove "
                                       "processing.scheduler from the rig file to package on this computer.") from exc
            summary = capturerig.package_session(session_dir, target, geometry=current.get("geometry"),
                                                 colour=current.get("colour"), progress=progress, client=client)
        return {"name": target.name, "seconds": round(time.monotonic() - started, 2), "scheduler": scheduler,
                "images": getattr(summary, "num_images", None), "cameras": getattr(summary, "num_cameras", None),
                "geometry_source": getattr(summary, "geometry_source", None),
                "calibration": {kind: str(path) for kind, path in current.items()} or "nominal rig values"}

    def verify(self, name: str) -> dict[str, Any]:
        """Check every file against the package's manifests; the report is kept for the list."""
        path = self.path(name)
        started = time.monotonic()
        with self._lock:
            problems = _problems_of(capturerig.verify_package(path))
        report = {"ok": not problems, "problems": problems[:200], "problem_count": len(problems),
                  "checked_at": time.time(), "seconds": round(time.monotonic() - started, 2)}
        self.reports[name] = report
        return report
