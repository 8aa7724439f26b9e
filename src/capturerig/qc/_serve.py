"""The checks in a child process: JSON lines in on stdin, JSON lines out on stdout.

A session runs its checks here (``python SERVE_SCRIPT``, which loads this module without the package's heavy
``__init__``) rather than on a thread of the controller:
a thread would share the controller's GIL with the capture's threads (a lower-priority thread that holds the
GIL makes them wait for it), and a decoder crash on a strange file would take the controller down. The child
runs at the lowest CPU priority and stops when its stdin closes (the controller ended, however it ended).

Protocol, one JSON object per line:

- first line in: ``{"cameras": [...], "settings": {...}, "regions": {...}}`` (the plan's ``qc`` section; the
  geometry the subject regions are projected through, :func:`capturerig.qc.regions_document`, optional),
  answered ``{"ok": true}``;
- ``{"op": "check", "take": ID, "light": ID|null, "station": ID|null, "plate": bool (optional, default false),
  "files": [[path, camera, format], ...]}``
  -> ``{"ok": true, "result": TakeQc.to_json()}``, or ``{"ok": false, "error": "..."}`` (a file it cannot read);
- ``{"op": "reference", ...the same fields}`` -> ``{"ok": true}`` (a camera's history, not judged).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from capturerig.config import QcSettings
from capturerig.qc._measure import QcError
from capturerig.qc._region import regions_from_document
from capturerig.qc._runner import QcFile, QcRunner

__all__ = ["CHILD_NICE", "SERVE_SCRIPT", "main", "serve"]

CHILD_NICE = 19  # the capture's processes and threads always come first
SERVE_SCRIPT = Path(__file__).with_name("_serve_main.py")  # the child: python SERVE_SCRIPT


def _files(request: dict[str, Any]) -> list[QcFile]:
    return [QcFile(Path(path), camera, fmt) for path, camera, fmt in request["files"]]


def _answer(request: dict[str, Any], runner: QcRunner) -> dict[str, Any]:
    files = _files(request)
    try:
        if request.get("op") == "reference":
            runner.add_reference(request["take"], request.get("light"), files, station=request.get("station"),
                                 plate=bool(request.get("plate", False)))
            return {"ok": True}
        result = runner.check_take(request["take"], request.get("light"), files, station=request.get("station"),
                                   plate=bool(request.get("plate", False)))
    except QcError as exc:
        return {"ok": False, "error": str(exc)}
    return {"ok": True, "result": result.to_json()}


def serve(lines_in: TextIO, lines_out: TextIO) -> None:
    """Answer requests until ``lines_in`` ends."""
    first = json.loads(lines_in.readline() or "null")
    if not isinstance(first, dict):
        raise SystemExit("capturerig.qc._serve: the first line must name the cameras and settings")
    regions = first.get("regions")
    runner = QcRunner(first["cameras"], QcSettings.model_validate(first["settings"]),
                      masks=regions_from_document(regions) if regions else None)
    lines_out.write('{"ok": true}\n')
    lines_out.flush()
    for line in lines_in:
        lines_out.write(json.dumps(_answer(json.loads(line), runner)) + "\n")
        lines_out.flush()


def main() -> None:
    """The child's entry: lowest priority; the protocol on the original stdout, anything a library prints to
    stdout (C or Python) sent to stderr instead."""
    if hasattr(os, "nice"):
        os.nice(CHILD_NICE)
    protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    serve(sys.stdin, protocol)


if __name__ == "__main__":
    main()
