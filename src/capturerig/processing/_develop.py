"""Developing a session's RAW files on the cluster: one task per file, results as they come.

A file shot on a capture host whose agent keeps acknowledged files is still on that host's disk (its spool,
under the file's spool id, which the journal has as the file's ``card_name``; the host's spool folder is in its
preflight result). Its task prefers that host's workers (those offering the ``host-<name>`` resource) and is
handed the host's copy to read first; ``allow_other_workers`` keeps a dead or absent host from blocking the
run (another worker reads the session's copy).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from distributed import Client, as_completed

from capturerig.config import ConfigError, load_rig
from capturerig.engine import Journal
from capturerig.files import remove_temporaries
from capturerig.processing._cluster import MEMORY_RESOURCE
from capturerig.processing._tasks import HOST_RESOURCE_PREFIX, DevelopedFile, develop_near

__all__ = ["DevelopReport", "HeldCopy", "develop_session", "held_copies", "host_workers", "raw_files"]

log = logging.getLogger(__name__)
RAW_FORMAT = "raw"
RIG_SNAPSHOT = "rig.yaml"  # the session folder's copy of the rig it was shot with
# A developed frame in memory: 16-bit mosaic, 3 x float32 RGB, 16-bit BGR, the 8-bit and linear outputs; about
# 30 bytes per pixel, over the RAW file's ~2 bytes per pixel.
_WORKING_BYTES_PER_FILE_BYTE = 16
_TASK_RETRIES = 2


@dataclass(frozen=True)
class HeldCopy:
    """Where a capture host still holds a session file: the host and the path on that host's disk."""

    host: str
    path: str


@dataclass(frozen=True)
class RawFile:
    path: Path
    camera_id: str
    sha256: str
    size: int
    held: HeldCopy | None = None  # the capture host's kept copy (it may have been deleted for room since)


@dataclass
class DevelopReport:
    """What a run wrote (sha256 by output path), which files failed and why, and for each file developed which
    copy was read on which worker (by the session path)."""

    outputs: dict[str, str] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    developed: dict[str, DevelopedFile] = field(default_factory=dict)

    @property
    def read_on_host(self) -> int:
        """Files developed from a capture host's kept copy, on that host."""
        return sum(1 for d in self.developed.values() if d.read == "host")


def _camera_hosts(session_dir: Path) -> dict[str, str]:
    """Camera id -> capture host, from the session's rig snapshot ({} for a rig without hosts)."""
    try:
        rig = load_rig(session_dir / RIG_SNAPSHOT)
    except (ConfigError, OSError) as exc:  # the session's own copies still develop: only locality is lost
        log.warning("%s: cannot read the rig snapshot (%s); every file is read from the session", session_dir, exc)
        return {}
    return {camera: host.name for host in rig.config.hosts for camera in host.cameras}


def held_copies(session_dir: Path) -> dict[str, HeldCopy]:
    """For each journalled file of a session shot on capture hosts (by its path in the session folder): the
    host whose agent spooled it and the path of the copy that agent keeps, when its preflight said it keeps
    acknowledged files (the newest preflight result of the host counts). A copy may since have been deleted
    for room or altered: whoever reads it checks it against the journal's sha256."""
    hosts = _camera_hosts(session_dir)
    if not hosts:
        return {}
    journal = Journal(session_dir)
    try:
        folders: dict[str, str | None] = {}
        for result in journal.events("PreflightResult"):
            if result["device_id"] in hosts.values():
                folders[result["device_id"]] = result.get("kept_files_dir")
        stored = journal.events("FileStored")
    finally:
        journal.close()
    held = {}
    for event in stored:
        host = hosts.get(event["camera_id"])
        folder = folders.get(host) if host is not None else None
        if host is not None and folder:
            held[event["path"]] = HeldCopy(host, str(PurePosixPath(folder) / event["card_name"]))
    return held


def raw_files(session_dir: Path) -> list[RawFile]:
    """The RAW files of a session's verified takes, from its journal (path, camera, journalled sha256, and the
    capture host's kept copy where there is one)."""
    journal = Journal(session_dir)
    try:
        records = [f for f in journal.verified_files() if f.format == RAW_FORMAT]
    finally:
        journal.close()
    held = held_copies(session_dir) if records else {}
    return [RawFile(session_dir / f.path, f.camera_id or "", f.sha256, f.size, held.get(f.path)) for f in records]


def host_workers(client: Client) -> dict[str, list[str]]:
    """Capture host name -> addresses of the workers on it (those offering the ``host-<name>`` resource)."""
    on_host: dict[str, list[str]] = {}
    for address, info in client.scheduler_info(n_workers=-1)["workers"].items():
        for resource, amount in info.get("resources", {}).items():
            if resource.startswith(HOST_RESOURCE_PREFIX) and amount > 0:
                on_host.setdefault(resource[len(HOST_RESOURCE_PREFIX):], []).append(address)
    return on_host


def develop_session(session_dir: Path, out_dir: Path, client: Client, colour_json: Path | None = None,
                    linear: bool = False, progress: Callable[[int, int], None] | None = None) -> DevelopReport:
    """Develop every RAW file of ``session_dir`` to ``out_dir/<camera>/<name>.png`` (and ``.tif`` with
    ``linear``); ``progress(done, total)`` after each file. Files that fail are reported, the others kept.

    A file a capture host keeps goes to that host's workers when it has any, and reads the kept copy there.
    """
    files = raw_files(session_dir)
    colour = str(colour_json.resolve()) if colour_json else None
    near = host_workers(client)
    futures = {}
    for raw in files:
        stem = out_dir / raw.camera_id / raw.path.stem
        memory_mb = max(1, raw.size * _WORKING_BYTES_PER_FILE_BYTE // 1_000_000)
        workers = near.get(raw.held.host, []) if raw.held is not None else []
        # A preference, not a restriction: a host whose worker is gone must not hold the run up.
        placement: dict[str, object] = {"workers": workers, "allow_other_workers": True} if workers else {}
        future = client.submit(develop_near, str(raw.path), raw.sha256, raw.camera_id, str(stem) + ".png",
                               str(stem) + ".tif" if linear else None, colour,
                               raw.held.host if raw.held else None, raw.held.path if raw.held else None,
                               key=f"develop-{raw.sha256}-{linear}-{colour or ''}-{stem}",
                               resources={MEMORY_RESOURCE: memory_mb}, retries=_TASK_RETRIES, **placement)
        futures[future] = raw
    report = DevelopReport()
    # On this client's own loop: a process may hold more than one client (a local cluster and a studio's).
    for done, future in enumerate(as_completed(list(futures), loop=client.loop), start=1):
        raw = futures[future]
        try:
            developed: DevelopedFile = future.result()
        except (ValueError, OSError) as exc:  # the task's own refusal, carried over from the worker
            report.failed[str(raw.path)] = str(exc)
        else:
            report.outputs.update(developed.outputs)
            report.developed[str(raw.path)] = developed
        if progress is not None:
            progress(done, len(files))
    if out_dir.is_dir():  # a worker killed mid-write left its temporary file; its file was developed again since
        remove_temporaries(out_dir)
    return report
