"""The agent's spool: every downloaded file on the agent's own disk until the controller holds it.

A file is written under a temporary name and renamed; its SHA-256 is taken from the bytes as they are
written. Then one line goes into the append-only ledger (``ledger.jsonl``): ``stored``, and the file, its name
and the line are made durable together, before the file is offered: one ``syncfs`` of the spool's disk for all
the files stored at once (one journal commit, where sixteen cameras' fsyncs queued behind each other's), or,
where the platform has none, an fsync of each file, of the folder and of the ledger. The controller pulls it, verifies
the hash and journals it, and acknowledges: a ledger line ``acked``, and only then may the file be deleted,
here and from the camera's card. After a restart the ledger says what is still to offer; a file the ledger
calls stored but which is missing or altered on disk is reported, never offered.

With ``keep_acknowledged`` an acknowledged file stays on disk as a local copy ("kept", never offered again), so
post-capture work on this host can read it instead of the session's copy; kept files are deleted oldest first
only when the disk reserve needs the room (a file to store, or free space found under the reserve), with a
ledger line ``dropped``. A kept file is not re-hashed at a restart (there may be a disk of them): whoever reads
one checks it against the journal's SHA-256.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import logging
import os
import shutil
import threading
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import cast

from capturerig.devices import CameraFile
from capturerig.devices.remote import Coalescer, SpooledFile, SpoolSummary
from capturerig.files import fsync_dir, fsync_file, sync_filesystem

__all__ = ["Spool", "SpoolError"]

log = logging.getLogger(__name__)
LEDGER = "ledger.jsonl"
FILES = "files"
_CHUNK = 1 << 20


class SpoolError(RuntimeError):
    """The spool could not keep a file (disk full, I/O error); the message names the file."""


def _disk_free(folder: Path) -> int:
    return shutil.disk_usage(folder).free


class Spool:
    """A folder of files not yet acknowledged (and, with ``keep_acknowledged``, of acknowledged ones kept while
    the disk has room), and the ledger that says which are which.

    ``disk_free`` measures the free bytes of the spool's disk (default: ``shutil.disk_usage``).
    """

    def __init__(self, folder: Path, reserve_bytes: int, keep_acknowledged: bool = False,
                 disk_free: Callable[[Path], int] = _disk_free) -> None:
        self.folder = folder
        self.reserve_bytes = reserve_bytes
        self.keep_acknowledged = keep_acknowledged
        self._disk_free = disk_free
        (folder / FILES).mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._room_lock = threading.Lock()  # one eviction at a time: two stores must not both count the same room
        self._files: dict[str, SpooledFile] = {}  # unacknowledged, oldest first
        self._kept: dict[str, SpooledFile] = {}  # acknowledged and still on disk
        self._kept_bytes = 0
        self._kept_order: list[tuple[int, str]] = []  # heap of (stored ordinal, file id): the oldest kept first
        self._ordinal: dict[str, int] = {}  # file id -> its place in storing order
        self._stored = 0
        self.problems: list[str] = []  # ledger entries whose file is gone or altered (said at start)
        self._replay()
        self._ledger = (folder / LEDGER).open("a", encoding="utf-8")
        self._ledger_lock = threading.Lock()
        self._ledger_lines: Coalescer[dict[str, object], None] = Coalescer(self._append, (SpoolError,))

    def _replay(self) -> None:
        path = self.folder / LEDGER
        acked: dict[str, SpooledFile] = {}  # oldest first
        if path.exists():
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
                if not line.strip():
                    continue
                try:
                    entry = json.loads(line)
                    if entry["op"] == "stored":
                        spooled = SpooledFile.model_validate(entry["file"])
                        self._files[spooled.file_id] = spooled
                        self._ordinal[spooled.file_id] = self._next_ordinal()
                    elif entry["op"] == "acked":
                        for file_id in entry["file_ids"]:
                            if file_id in self._files:
                                acked[file_id] = self._files.pop(file_id)
                    elif entry["op"] == "dropped":
                        for file_id in entry["file_ids"]:
                            acked.pop(file_id, None)
                            self.path(file_id).unlink(missing_ok=True)  # a crash between the line and the delete
                except (ValueError, KeyError, TypeError) as exc:  # a torn last line after a crash: the file stays
                    log.warning("%s:%d unreadable (%s); skipped", path, number, exc)
        for file_id, spooled in list(self._files.items()):
            problem = self._check(spooled)
            if problem is not None:
                self.problems.append(problem)
                del self._files[file_id]
        for file_id, spooled in acked.items():
            on_disk = self.path(file_id)
            if not self.keep_acknowledged:  # an ack cut short by a crash, or kept by an earlier boot: the room back
                on_disk.unlink(missing_ok=True)
            elif on_disk.is_file() and on_disk.stat().st_size == spooled.size:  # the hash is the reader's to check
                self._keep(spooled)
        self._ordinal = {f: n for f, n in self._ordinal.items() if f in self._files or f in self._kept}

    def _next_ordinal(self) -> int:
        self._stored += 1
        return self._stored

    def _keep(self, spooled: SpooledFile) -> None:
        """(Under the lock, or before any thread runs.)"""
        self._kept[spooled.file_id] = spooled
        self._kept_bytes += spooled.size
        heapq.heappush(self._kept_order, (self._ordinal.get(spooled.file_id, 0), spooled.file_id))

    def _oldest_kept(self) -> SpooledFile | None:
        """Take the oldest kept file off the books (under the lock); None when nothing is kept."""
        while self._kept_order:
            _, file_id = heapq.heappop(self._kept_order)
            spooled = self._kept.pop(file_id, None)
            if spooled is not None:
                self._kept_bytes -= spooled.size
                self._ordinal.pop(file_id, None)
                return spooled
        return None

    def make_room(self, size: int = 0) -> list[SpooledFile]:
        """Delete kept files, oldest first, until ``size`` more bytes leave the reserve free (or none is kept);
        returns the ones deleted. Unacknowledged files are never touched."""
        dropped: list[SpooledFile] = []
        with self._room_lock:
            free = self._disk_free(self.folder)
            while free - size < self.reserve_bytes:
                with self._lock:
                    oldest = self._oldest_kept()
                if oldest is None:
                    break
                try:
                    self.path(oldest.file_id).unlink(missing_ok=True)
                except OSError as exc:  # off the books all the same: never offered, never counted as room again
                    log.warning("could not delete the kept copy %s: %s", self.path(oldest.file_id), exc)
                dropped.append(oldest)
                free = self._disk_free(self.folder)
        if dropped:
            try:
                self._ledger_lines.submit({"op": "dropped", "file_ids": [f.file_id for f in dropped]})
            except SpoolError as exc:  # harmless: a restart finds them gone from disk and keeps them no more
                log.warning("kept copies deleted, not ledgered: %s", exc)
        return dropped

    def _check(self, spooled: SpooledFile) -> str | None:
        path = self.path(spooled.file_id)
        if not path.is_file():
            return f"{spooled.file_id} ({spooled.camera_id} {spooled.card_name}): in the ledger, missing on disk"
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
        if digest.hexdigest() != spooled.sha256:
            return f"{spooled.file_id} ({spooled.camera_id} {spooled.card_name}): altered on disk (hash differs)"
        return None

    @property
    def files_dir(self) -> Path:
        """The folder holding each spooled file under its id."""
        return self.folder / FILES

    def path(self, file_id: str) -> Path:
        return self.folder / FILES / file_id

    def store(self, camera_file: CameraFile, camera_id: str, arm_id: str, exposure: int,
              label: tuple[str, str, int] | None = None) -> SpooledFile:
        """Keep one downloaded file durably (``label``: the session, take and attempt it is for); returns its
        ledger entry. Raises SpoolError."""
        if self._ledger.closed:  # before writing: a file the ledger cannot name would be an orphan
            raise SpoolError(f"the spool {self.folder} is closed (the agent is stopping)")
        if self.keep_acknowledged:
            self.make_room(len(camera_file.data))
        file_id = uuid.uuid4().hex
        final = self.path(file_id)
        partial = final.with_suffix(".part")
        digest = hashlib.sha256()
        view = memoryview(camera_file.data)
        try:
            with partial.open("wb") as out:
                for start in range(0, len(view), _CHUNK):
                    chunk = view[start:start + _CHUNK]
                    digest.update(chunk)
                    out.write(chunk)
            spooled = SpooledFile(file_id=file_id, camera_id=camera_id, card_name=camera_file.name,
                                  format=camera_file.format, size=len(view), sha256=digest.hexdigest(),
                                  exposed_at=camera_file.exposed_at, arm_id=arm_id, exposure=exposure,
                                  session_id=label[0] if label else None, take_id=label[1] if label else None,
                                  attempt=label[2] if label else None)
            partial.rename(final)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            final.unlink(missing_ok=True)
            raise SpoolError(f"could not spool {camera_id}'s {camera_file.name} as {final}: {exc}") from exc
        # Durable with its ledger line (see _append). A crash before that can leave a line whose file is short or
        # missing (the next start drops it: _check) or a file no line names (never offered); neither was offered.
        try:
            self._ledger_lines.submit({"op": "stored", "file": spooled.model_dump()})
        except SpoolError:
            final.unlink(missing_ok=True)
            raise
        with self._lock:
            self._files[file_id] = spooled
            self._ordinal[file_id] = self._next_ordinal()
        return spooled

    def acknowledge(self, file_ids: Iterable[str]) -> list[SpooledFile]:
        """The controller holds these: ledger them acknowledged, then delete them (or keep them, with
        ``keep_acknowledged``). Returns the ones that were here (an unknown or already acknowledged id is not
        an error: an ack may be retried)."""
        with self._lock:
            known = [self._files[f] for f in file_ids if f in self._files]
        if not known:
            return []
        self._ledger_lines.submit({"op": "acked", "file_ids": [f.file_id for f in known]})
        with self._lock:
            known = [spooled for spooled in known if self._files.pop(spooled.file_id, None) is not None]
            if self.keep_acknowledged:
                for spooled in known:
                    self._keep(spooled)
            else:
                for spooled in known:
                    self._ordinal.pop(spooled.file_id, None)
        if not self.keep_acknowledged:
            for spooled in known:
                self.path(spooled.file_id).unlink(missing_ok=True)
        return known

    def get(self, file_id: str) -> SpooledFile | None:
        """An unacknowledged file (a kept one is the controller's already: never offered again)."""
        with self._lock:
            return self._files.get(file_id)

    def unacknowledged(self) -> list[SpooledFile]:
        with self._lock:
            return list(self._files.values())

    def kept(self) -> list[SpooledFile]:
        """Acknowledged files still on disk, oldest first."""
        with self._lock:
            return [self._kept[f] for _, f in sorted(self._kept_order) if f in self._kept]

    def summary(self) -> SpoolSummary:
        """The files to offer and the disk's free space, after making room when it was under the reserve."""
        if self.keep_acknowledged:
            self.make_room()
        with self._lock:
            files = list(self._files.values())
        return SpoolSummary(files=len(files), bytes=sum(f.size for f in files),
                            free_bytes=self._disk_free(self.folder), reserve_bytes=self.reserve_bytes)

    def room_for(self, size: int) -> bool:
        """Whether ``size`` more bytes leave the reserve free, counting kept files as room (they are deleted
        when a file needs their place)."""
        with self._lock:
            freeable = self._kept_bytes
        return self._disk_free(self.folder) + freeable - size >= self.reserve_bytes

    def _append(self, entries: Sequence[dict[str, object]]) -> list[None]:
        """Write ledger lines durably, with the files they name: one flush of the spool's disk for all the lines
        asked for while the last write was in flight (sixteen cameras storing at once)."""
        with self._ledger_lock:
            if self._ledger.closed:
                raise SpoolError(f"the spool {self.folder} is closed (the agent is stopping)")
            try:
                self._ledger.write("".join(json.dumps(e, separators=(",", ":")) + "\n" for e in entries))
                self._ledger.flush()
                if not sync_filesystem(self._ledger.fileno()):
                    self._sync_each(entries)
            except OSError as exc:
                raise SpoolError(f"could not write the spool's ledger {self.folder / LEDGER}: {exc}") from exc
        return [None] * len(entries)

    def _sync_each(self, entries: Sequence[dict[str, object]]) -> None:
        """Where there is no syncfs: each stored file, the folder of their names, then the lines."""
        stored = [cast(dict[str, str], entry["file"])["file_id"] for entry in entries if entry["op"] == "stored"]
        for file_id in stored:
            fsync_file(self.path(file_id))
        if stored:
            fsync_dir(self.folder / FILES)
        os.fsync(self._ledger.fileno())

    def close(self) -> None:
        with self._ledger_lock:
            self._ledger.close()
