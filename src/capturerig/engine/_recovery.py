"""What the journal can prove done, and files on disk that no event recorded (after a crash)."""

from __future__ import annotations

import time
from pathlib import Path

from capturerig.engine._journal import Journal, TakeStatus
from capturerig.files import sha256_file

__all__ = ["proven_done", "recover_unjournalled_files"]

IMAGES_DIR = "images"


def proven_done(session_dir: Path, journal: Journal, take_id: str) -> bool:
    """A take is done only if the journal says verified AND each of its files is on disk, same size and hash."""
    record = journal.takes().get(take_id)
    if record is None or record.status != TakeStatus.VERIFIED or record.verified_attempt is None:
        return False
    files = journal.files(take_id, record.verified_attempt)
    if not files:
        return False
    for file in files:
        path = session_dir / file.path
        if not path.is_file() or path.stat().st_size != file.size or sha256_file(path) != file.sha256:
            return False
    return True


def recover_unjournalled_files(session_dir: Path, journal: Journal) -> list[str]:
    """Hash and record every file in images/ the journal does not know (written just before a crash).

    Nothing is deleted: a partial ``.part`` file is evidence of what happened and may be the only copy.
    Returns the relative paths recorded.
    """
    images = session_dir / IMAGES_DIR
    if not images.is_dir():
        return []
    known = {f.path for f in journal.files()}
    recovered = []
    for path in sorted(images.iterdir()):
        relative = str(path.relative_to(session_dir))
        if path.is_file() and relative not in known:
            journal.add_recovered_file(relative, path.stat().st_size, sha256_file(path), time.time())
            recovered.append(relative)
    return recovered
