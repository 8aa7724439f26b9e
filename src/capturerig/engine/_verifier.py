"""The file verifier: store a take's files, hash and journal them, verify the take, clear the cards.

A file counts only once it is fsynced, hashed and journalled. A take is verified (``TakeVerified``) when the
cameras its coverage needs each delivered every configured format; every good file is kept and journalled
even when the take fails. This runs for one take while the next is shot (``verify_later``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from capturerig.config import CameraBodyProfile
from capturerig.devices import CameraFile, DeviceError
from capturerig.engine._events import Event, FileStored, SessionMessage, TakeVerified
from capturerig.engine._rigdevices import RigDevices
from capturerig.engine._shot import Shot, Stored, TakeAttemptFailed
from capturerig.engine._storage import StorageError, store_bytes
from capturerig.files import fsync_dir
from capturerig.plan import Take

__all__ = ["DELETE_TIMEOUT_S", "IMAGES_DIR", "FileVerifier"]

IMAGES_DIR = "images"
DELETE_TIMEOUT_S = 10.0


class FileVerifier:
    """Stores, journals and verifies shot takes in the order they were shot."""

    def __init__(self, devices: RigDevices, bodies: Callable[[str], CameraBodyProfile], session_dir: Path,
                 publish: Callable[[Event], None], publish_many: Callable[[Sequence[Event]], None],
                 pool: ThreadPoolExecutor) -> None:
        self.devices = devices
        self.body = bodies
        self.session_dir = session_dir
        self.publish = publish
        self.publish_many = publish_many
        self.pool = pool  # the device pool: clearing cards runs one camera per thread
        self._verify_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="capturerig-verify")
        # Two storing threads per core: one decodes while the other waits for its fsync. More only queue on
        # the filesystem's journal and the GIL (16 threads stored 64 files in 90 ms on 2 cores, 4 in 55 ms).
        self._store_pool = ThreadPoolExecutor(max_workers=2 * (os.cpu_count() or 2),
                                              thread_name_prefix="capturerig-store")
        # Called on the verify thread once a take is verified, with its stored files (the per-image checks queue
        # them here: never waited for, so they stay off the capture's critical path).
        self.on_verified: Callable[[Take, int, list[FileStored]], None] | None = None
        (session_dir / IMAGES_DIR).mkdir(exist_ok=True)

    def store_soon(self, take: Take, attempt: int, camera_id: str, files: list[CameraFile]) -> Future[Stored]:
        """Start storing a camera's files now, beside the other cameras' downloads."""
        return self._store_pool.submit(self.store, take, attempt, camera_id, files)

    def store(self, take: Take, attempt: int, camera_id: str, files: list[CameraFile]) -> Stored:
        """Store a camera's files; returns the stored ones (to journal) and an error, if any file failed."""
        config = self.devices.rig.camera(camera_id)
        stored: list[FileStored] = []
        seen_formats = set()
        body = self.body(camera_id)
        for camera_file in files:
            fmt = body.formats.get(camera_file.format)
            if fmt is None:
                return stored, f"sent a {camera_file.format} file this body profile does not know"
            path = self.session_dir / IMAGES_DIR / take.file_name(camera_id, fmt.extension, attempt)
            try:
                kept = store_bytes(camera_file.data, path, camera_file.format, sync_folder=False,
                                   expected_sha256=camera_file.sha256)
            except StorageError as exc:
                return stored, str(exc)
            stored.append(FileStored(take_id=take.id, attempt=attempt, camera_id=camera_id,
                                     file_format=camera_file.format, path=str(path.relative_to(self.session_dir)),
                                     size=kept.size, sha256=kept.sha256, exposed_at=camera_file.exposed_at,
                                     card_name=camera_file.name))
            seen_formats.add(camera_file.format)
        missing = set(config.formats) - seen_formats
        if missing:
            return stored, f"no {', '.join(sorted(missing))} file arrived"
        return stored, None

    def verify_later(self, shot: Shot) -> Future[dict[str, list[str]]]:
        """``verify(shot)`` on the verify thread, in order; the caller must collect every result."""
        return self._verify_thread.submit(self.verify, shot)

    def verify(self, shot: Shot) -> dict[str, list[str]]:
        """Store, journal and verify a shot take; raises TakeAttemptFailed if incomplete.

        Returns, per camera, the card names now safe to delete: the caller clears them (``clear_cards``)
        between two takes, so a camera never serves a delete while it is armed or downloading for the next.
        """
        take, attempt = shot.take, shot.attempt
        downloaded = [r for r in shot.results.values() if r.files]  # a camera that failed the take keeps its files
        storing = [r.storing or self.store_soon(take, attempt, r.camera_id, r.files) for r in downloaded]
        stores = {r.camera_id: future.result() for r, future in zip(downloaded, storing, strict=True)}
        # The take's new names made durable with one folder fsync, then every stored file journalled in one
        # transaction: only now do they count (a crash before this leaves them to recovery, never lost).
        stored = [event for events, _ in stores.values() for event in events]
        if stored:
            fsync_dir(self.session_dir / IMAGES_DIR)
        self.publish_many([*([shot.triggered] if shot.triggered is not None else []), *stored])
        errors = {camera_id: r.error for camera_id, r in shot.results.items() if r.error}
        errors.update({camera_id: error for camera_id, (_, error) in stores.items() if error})
        deletable = {camera_id: [event.card_name for event in events] for camera_id, (events, _) in stores.items()}
        if shot.lights_dropped:  # the light changed under the exposure: keep the files, not the take
            raise TakeAttemptFailed(take.id, {"lights": "went to the safe state during the take (abort or shutdown)"},
                                    deletable)
        delivered = len(take.cameras) - len(errors)
        if delivered < shot.needed:
            raise TakeAttemptFailed(take.id, errors, deletable)
        if errors:
            self.publish(SessionMessage(level="warning", text=f"take {take.id}: {delivered}/{len(take.cameras)} "
                                        f"cameras delivered (coverage needs {shot.needed}): {errors}"))
        self.publish(TakeVerified(take_id=take.id, ordinal=take.ordinal, total=shot.total, attempt=attempt,
                                  files=sum(len(v) for v in deletable.values()),
                                  seconds=time.monotonic() - shot.started))
        if self.on_verified is not None:
            self.on_verified(take, attempt, stored)
        return deletable

    def clear_cards(self, deletable: dict[str, list[str]]) -> None:
        """Delete stored files from the cards (a failure is a warning: the files are safe on disk)."""
        def delete(item: tuple[str, list[str]]) -> None:
            camera_id, names = item
            if not names:
                return
            try:
                self.devices.cameras[camera_id].delete_files(names, DELETE_TIMEOUT_S)
            except DeviceError as exc:  # the files are safe on disk; a full card is the only cost
                self.publish(SessionMessage(level="warning", text=f"could not clear {camera_id}'s card: {exc}"))

        list(self.pool.map(delete, deletable.items()))

    def close(self) -> None:
        """Finish storing any take under way (the runner has collected, or will collect, every result)."""
        self._verify_thread.shutdown(wait=True)
        self._store_pool.shutdown(wait=True)
