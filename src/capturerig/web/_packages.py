"""The packages page: list, build (from a session), verify with its report, download as one zip stream."""

from __future__ import annotations

import io
import json
import re
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import capturerig
from capturerig.web._calibration_backends import current_calibration
from capturerig.web._runs import SessionNotFound

__all__ = ["PackageNotFound", "PackageShelf", "zip_stream"]

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


class PackageShelf:
    """Packages below ``packages_dir``; builds and verifications run one at a time."""

    def __init__(self, packages_dir: Path, calibration_dir: Path) -> None:
        self.packages_dir = packages_dir
        self.calibration_dir = calibration_dir
        self.reports: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

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

    def build(self, session_dir: Path) -> dict[str, Any]:
        """Package a finished session as ``<packages>/<session name>``; raises IncompleteSession, FileExistsError."""
        if not (session_dir / "session.json").is_file():
            raise SessionNotFound(f"{session_dir.name} is not a session")
        target = self.packages_dir / session_dir.name
        if target.exists():
            raise FileExistsError(f"package {target.name} already exists; verify or download it instead")
        self.packages_dir.mkdir(parents=True, exist_ok=True)
        rig_name = str(json.loads((session_dir / "session.json").read_text(encoding="utf-8")).get("rig_name", ""))
        current = current_calibration(self.calibration_dir, rig_name) if rig_name else {}
        with self._lock:
            started = time.monotonic()
            summary = capturerig.package_session(session_dir, target, geometry=current.get("geometry"),
                                                 colour=current.get("colour"))
        return {"name": target.name, "seconds": round(time.monotonic() - started, 2),
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
