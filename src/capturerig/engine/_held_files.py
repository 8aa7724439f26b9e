"""Files a capture host still holds for this session: the controller died before it acknowledged them.

On resume every camera whose host keeps files until the controller holds them (``HeldFiles``: a camera on a
capture agent) is asked for this session's files. Each is pulled (checked against the host's hash), stored
under the name the controller gives every file (take / camera / attempt) and journalled for its take, then
acknowledged, so the host may delete it. A file already in the session (stored before the crash, then
hashed by recovery) is only acknowledged. Nothing is lost and nothing is stored twice; a take whose files came
back this way is still shot again unless the journal proves it done.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Sequence

from capturerig.devices import DeviceError, HeldFile, HeldFiles
from capturerig.engine._events import Event, FileStored, SessionMessage
from capturerig.engine._shooter import TakeParts
from capturerig.engine._verifier import IMAGES_DIR
from capturerig.files import fsync_dir, sha256_file
from capturerig.plan import Take

__all__ = ["recover_held_files"]

HELD_TIMEOUT_S = 60.0


def recover_held_files(session_id: str, takes: Sequence[Take], parts: TakeParts,
                       publish: Callable[[Event], None], why: str, journalled: Collection[str] = ()) -> int:
    """Bring this session's held files home; returns how many were stored now. ``why`` the hosts held them,
    for the message (the controller stopped before it acknowledged them; they came after their take gave up).
    ``journalled``: the SHA-256 of every file the session's journal already has (a file with one of them is
    only acknowledged: its bytes are in the session, if under a crash's partial name)."""
    by_id = {take.id: take for take in takes}
    stored = 0
    cameras = [c for c in parts.firing.devices.cameras.values() if isinstance(c, HeldFiles)]

    def ask(camera: HeldFiles) -> list[HeldFile] | DeviceError:
        try:
            return camera.held_files(session_id, HELD_TIMEOUT_S)
        except DeviceError as exc:
            return exc

    for camera, held in zip(cameras, parts.firing.pool.map(ask, cameras), strict=True):  # every host at once
        if isinstance(held, DeviceError):  # its host is away: the files stay there, asked for again next resume
            publish(SessionMessage(level="warning", text=f"{camera.id}: could not ask its host for the files it "
                                                         f"still holds: {held}"))
            continue
        events: list[FileStored] = []
        done: list[str] = []
        for item in held:
            take = by_id.get(item.take_id)
            if take is None:
                publish(SessionMessage(level="warning", text=f"{camera.id}: its host holds {item.file.name} for a "
                                                             f"take this plan does not have ({item.take_id}); kept"))
                continue
            body = parts.firing.body(camera.id)
            name = take.file_name(camera.id, body.formats[item.file.format].extension, item.attempt)
            path = parts.verifier.session_dir / IMAGES_DIR / name
            digest = item.file.sha256 or _sha256(item.file.data)
            if digest in journalled or (path.is_file() and sha256_file(path) == digest):
                done.append(item.file.name)  # stored before the crash (recovery hashed it): acknowledge only
                continue
            files, error = parts.verifier.store(take, item.attempt, camera.id, [item.file])
            if error is not None and not files:
                publish(SessionMessage(level="error", text=f"{camera.id}: could not store {item.file.name} "
                                                           f"held by its host: {error}; it stays there"))
                continue
            events += files
            done.append(item.file.name)
        if events:
            fsync_dir(parts.verifier.session_dir / IMAGES_DIR)
            parts.publish_many(events)
            stored += len(events)
        if done:
            try:
                camera.delete_files(done, HELD_TIMEOUT_S)
            except DeviceError as exc:  # journalled here already: the host deletes them at the next ack
                publish(SessionMessage(level="warning", text=f"{camera.id}: could not acknowledge {len(done)} "
                                                             f"files to its host: {exc}"))
    if stored:
        publish(SessionMessage(level="info", text=f"{stored} files the capture hosts held ({why}) were brought "
                                                  "into the session"))
    return stored


def _sha256(data: bytes | bytearray | memoryview) -> str:
    return hashlib.sha256(data).hexdigest()
