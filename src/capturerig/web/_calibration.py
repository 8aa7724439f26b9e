"""The calibration page's seam: geometry and colour calibration run from a session's captured frames.

The work is the calibration packages' (see :mod:`capturerig.web._calibration_backends`); this desk runs it
in the panel's terms: a session in, a report (JSON-ready dict) and plot images written below the session
folder (``<session>/calibration/<kind>/``) out, and "accept" to make a report's file the rig's current
calibration. Other backends (tests, a future calibration) plug in as :class:`CalibrationBackend`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from capturerig.config import LoadedRig
from capturerig.web._calibration_backends import (
    Progress,
    accept_file,
    colour_from_session,
    current_calibration,
    geometry_from_session,
)

__all__ = ["CALIBRATION_KINDS", "CalibrationBackend", "CalibrationDesk", "CalibrationUnavailable",
           "default_backends"]

CALIBRATION_KINDS = ("geometry", "colour")
REPORTS_DIR = "calibration"

RunFn = Callable[[Path, LoadedRig, Path, Progress], dict[str, Any]]


class CalibrationUnavailable(LookupError):
    """No calibration of that kind, or no report yet to show or accept."""


@dataclass(frozen=True)
class CalibrationBackend:
    """One kind of calibration: ``run(session_dir, rig, out_dir, progress)`` returns the report (with ``file``,
    ``ok``, and ``table``: the verdict rows the page shows first); ``progress(stage, fraction)`` as it goes."""

    kind: str
    title: str
    run: RunFn


def default_backends() -> dict[str, CalibrationBackend]:
    return {"geometry": CalibrationBackend("geometry", "Geometry (ChArUco board, joint bundle adjustment)",
                                           geometry_from_session),
            "colour": CalibrationBackend("colour", "Colour (ColorChecker 24, CIEDE2000)", colour_from_session)}


class CalibrationDesk:
    """Runs calibrations for the panel (one at a time) and installs accepted ones under ``calibration_dir``."""

    def __init__(self, calibration_dir: Path, backends: dict[str, CalibrationBackend] | None = None) -> None:
        self.calibration_dir = calibration_dir
        self.backends = default_backends() if backends is None else backends
        self._lock = threading.Lock()

    def describe(self, rig: LoadedRig) -> dict[str, Any]:
        """The kinds on offer and the rig's accepted ones: which session each came from and when (no server
        paths: the technician acts on sessions, not on the server's folders)."""
        current = current_calibration(self.calibration_dir, rig.config.name)
        accepted: dict[str, dict[str, Any]] = {}
        for kind, path in current.items():
            record = path.with_name(f"{kind}.accepted.json")
            try:
                origin = json.loads(record.read_text(encoding="utf-8")) if record.is_file() else {}
            except (OSError, ValueError):
                origin = {}  # installed by hand: still the rig's calibration, only its origin is unknown
            accepted[kind] = {"session": origin.get("session"), "accepted_at": origin.get("accepted_at")}
        return {"rig": rig.config.name, "current": accepted,
                "kinds": [{"kind": kind, "available": kind in self.backends,
                           "title": self.backends[kind].title if kind in self.backends else kind.title()}
                          for kind in CALIBRATION_KINDS]}

    def _backend(self, kind: str) -> CalibrationBackend:
        backend = self.backends.get(kind)
        if backend is None:
            raise CalibrationUnavailable(f"no calibration of kind '{kind}' (kinds: {', '.join(self.backends)})")
        return backend

    def report_dir(self, session_dir: Path, kind: str) -> Path:
        return session_dir / REPORTS_DIR / kind

    def run(self, kind: str, session_dir: Path, rig: LoadedRig, progress: Progress | None = None) -> dict[str, Any]:
        """Calibrate from ``session_dir``'s frames; every run keeps its own folder, the report names the last."""
        backend = self._backend(kind)
        report_progress = progress or (lambda stage, fraction: None)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        started = time.monotonic()
        with self._lock:
            out_dir = self.report_dir(session_dir, kind) / stamp
            for again in range(2, 100):  # a second run in the same second (a quick refusal, then a retry)
                if not out_dir.exists():
                    break
                out_dir = out_dir.with_name(f"{stamp}-{again}")
            out_dir.mkdir(parents=True, exist_ok=False)
            report = dict(backend.run(session_dir, rig, out_dir, report_progress))
        report.update(kind=kind, session=session_dir.name, rig=rig.config.name,
                      seconds=round(time.monotonic() - started, 2), made_at=time.time())
        text = json.dumps(report, indent=2, default=str) + "\n"
        (out_dir / "report.json").write_text(text, encoding="utf-8")
        (self.report_dir(session_dir, kind) / "report.json").write_text(text, encoding="utf-8")
        return report

    def report(self, kind: str, session_dir: Path) -> dict[str, Any]:
        self._backend(kind)
        path = self.report_dir(session_dir, kind) / "report.json"
        if not path.is_file():
            raise CalibrationUnavailable(f"session {session_dir.name} has no {kind} calibration report yet")
        report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return report

    def accept(self, kind: str, session_dir: Path, rig: LoadedRig) -> dict[str, Any]:
        """Make the session's last ``kind`` report the rig's current calibration (packages then use it)."""
        report = self.report(kind, session_dir)
        with self._lock:
            installed = accept_file(kind, report, session_dir, self.calibration_dir, rig.config.name)
        return {"kind": kind, "session": session_dir.name, "installed_at": str(installed)}
