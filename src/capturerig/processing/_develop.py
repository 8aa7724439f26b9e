"""Developing a session's RAW files on the cluster: one task per file, results as they come."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from distributed import Client, as_completed

from capturerig.engine import Journal
from capturerig.processing._cluster import MEMORY_RESOURCE
from capturerig.processing._tasks import develop_file

__all__ = ["DevelopReport", "develop_session", "raw_files"]

RAW_FORMAT = "raw"
# A developed frame in memory: 16-bit mosaic, 3 x float32 RGB, 16-bit BGR, the 8-bit and linear outputs; about
# 30 bytes per pixel, over the RAW file's ~2 bytes per pixel.
_WORKING_BYTES_PER_FILE_BYTE = 16
_TASK_RETRIES = 2


@dataclass(frozen=True)
class RawFile:
    path: Path
    camera_id: str
    sha256: str
    size: int


@dataclass
class DevelopReport:
    """What a run wrote (sha256 by output path) and which files failed, and why."""

    outputs: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


def raw_files(session_dir: Path) -> list[RawFile]:
    """The RAW files of a session's verified takes, from its journal (path, camera, journalled sha256)."""
    journal = Journal(session_dir)
    try:
        return [RawFile(session_dir / f.path, f.camera_id or "", f.sha256, f.size)
                for f in journal.verified_files() if f.format == RAW_FORMAT]
    finally:
        journal.close()


def develop_session(session_dir: Path, out_dir: Path, client: Client, colour_json: Path | None = None,
                    linear: bool = False, progress: Callable[[int, int], None] | None = None) -> DevelopReport:
    """Develop every RAW file of ``session_dir`` to ``out_dir/<camera>/<name>.png`` (and ``.tif`` with
    ``linear``); ``progress(done, total)`` after each file. Files that fail are reported, the others kept."""
    files = raw_files(session_dir)
    colour = str(colour_json.resolve()) if colour_json else None
    futures = {}
    for raw in files:
        stem = out_dir / raw.camera_id / raw.path.stem
        memory_mb = max(1, raw.size * _WORKING_BYTES_PER_FILE_BYTE // 1_000_000)
        future = client.submit(develop_file, str(raw.path), raw.sha256, raw.camera_id, str(stem) + ".png",
                               str(stem) + ".tif" if linear else None, colour,
                               key=f"develop-{raw.sha256}-{linear}-{colour or ''}-{stem}",
                               resources={MEMORY_RESOURCE: memory_mb}, retries=_TASK_RETRIES)
        futures[future] = raw
    report = DevelopReport()
    # On this client's own loop: a process may hold more than one client (a local cluster and a studio's).
    for done, future in enumerate(as_completed(list(futures), loop=client.loop), start=1):
        raw = futures[future]
        try:
            report.outputs.update(future.result())
        except (ValueError, OSError) as exc:  # the task's own refusal, carried over from the worker
            report.failed[str(raw.path)] = str(exc)
        if progress is not None:
            progress(done, len(files))
    return report
