"""The simulator's own record of what its cameras handed over and erased, kept outside the controller.

The chaos runner checks the controller against it: every file a sim camera delivered must be in the session
with its hash, and above all every file erased from a card. A record is one JSON line appended and fsynced
before the driver call returns, so a SIGKILL of the controller (which hosts the sim devices) cannot lose a
delivery the controller may have seen. Writing happens only when ``$CAPTURERIG_SIM_LEDGER`` names a file.

Lines (``pid`` is the process, ``at`` the ``time.time()``)::

    {"event": "delivered", "camera": ..., "card_name": ..., "sha256": <bytes handed over>,
     "card_sha256": <bytes on the card>, "size": ..., "seq": <exposure>}
    {"event": "erased", "camera": ..., "card_name": ..., "card_sha256": ...}
    {"event": "fault", "device": ..., "kind": ...}
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["LEDGER_ENV", "read_ledger", "record_delivered", "record_erased", "record_fault"]

LEDGER_ENV = "CAPTURERIG_SIM_LEDGER"
_lock = threading.Lock()


def _ledger_path() -> str:
    return os.environ.get(LEDGER_ENV, "").strip()


def _append(record: dict[str, Any]) -> None:
    path = _ledger_path()
    if not path:
        return
    record.update(pid=os.getpid(), at=time.time())
    line = (json.dumps(record, sort_keys=True) + "\n").encode()
    with _lock:
        descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(descriptor, line)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def record_delivered(camera_id: str, card_name: str, delivered: bytes | bytearray | memoryview,
                     on_card: bytes | bytearray | memoryview, seq: int) -> None:
    """A camera handed ``delivered`` (the card holds ``on_card``) to the controller."""
    if not _ledger_path():
        return  # no hashing either: 64 cameras at once make it count
    _append({"event": "delivered", "camera": camera_id, "card_name": card_name,
             "sha256": hashlib.sha256(delivered).hexdigest(), "card_sha256": hashlib.sha256(on_card).hexdigest(),
             "size": len(delivered), "seq": seq})


def record_erased(camera_id: str, card_name: str, on_card: bytes) -> None:
    """A camera erased ``card_name`` (holding ``on_card``) from its card: from now on only the host has it."""
    if not _ledger_path():
        return
    _append({"event": "erased", "camera": camera_id, "card_name": card_name,
             "card_sha256": hashlib.sha256(on_card).hexdigest()})


def record_fault(device_id: str, kind: str) -> None:
    """An injected fault fired."""
    _append({"event": "fault", "device": device_id, "kind": kind})


def read_ledger(path: Path) -> list[dict[str, Any]]:
    """Every complete record of a ledger file (a line cut short by a kill is skipped), oldest first."""
    if not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # the one line a SIGKILL may have cut: its call never returned to the controller
        if isinstance(record, dict):
            records.append(record)
    return records
