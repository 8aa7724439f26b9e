"""What a multihost chaos run checks after each session: the journal, the agents' spools and the sim ledger.

- No file lost: every file a sim camera delivered whole to an agent is in the session (journalled, on disk,
  same hash) or still in that agent's spool as stored and not acknowledged (on disk, same hash); a file
  delivered to an agent SIGKILLed before it spooled it is counted apart (a real card keeps it; the sim card
  dies with the agent's process). Every file erased from a card, and every file an agent's ledger calls
  acknowledged, is in the session.
- No duplicate: no file (hash) journalled more often than the cameras delivered it (two exposures can give
  the same bytes: see below), no spool file acknowledged twice.
- No verified take re-shot; every take verified or listed with the reason the journal gives.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from capturerig.packaging import sha256_file
from capturerig_sim._chaos_checks import JOURNAL_NAME, _reshot

__all__ = ["MultihostCheck", "check_multihost_session", "read_spool_ledger"]


@dataclass
class MultihostCheck:
    """The verdict on one multihost chaos session."""

    takes: int = 0
    verified: int = 0
    files: int = 0
    delivered: int = 0  # whole files the sim cameras handed to agents
    left_in_spools: int = 0  # stored, not acknowledged, still on the agent's disk (resume would pull them)
    in_flight_at_agent_kill: int = 0
    damaged_in_transit: int = 0
    lost: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    reshot: list[str] = field(default_factory=list)
    incomplete: dict[str, str] = field(default_factory=dict)  # take id -> reason the journal gives
    unreported: list[str] = field(default_factory=list)  # takes not verified with no reason recorded


def read_spool_ledger(path: Path) -> tuple[dict[str, dict[str, Any]], Counter[str]]:
    """A spool ledger's stored files (file id -> entry) and how many times each file id was acknowledged."""
    stored: dict[str, dict[str, Any]] = {}
    acked: Counter[str] = Counter()
    if not path.is_file():
        return stored, acked
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue  # a torn last line after a SIGKILL
        if entry.get("op") == "stored":
            stored[entry["file"]["file_id"]] = entry["file"]
        elif entry.get("op") == "acked":
            acked.update(entry["file_ids"])
    return stored, acked


def check_multihost_session(session_dir: Path, planned: Collection[str], ledger: list[dict[str, Any]],
                            spools: dict[str, Path], killed_agent_pids: Collection[int]) -> MultihostCheck:
    """Check one session against the plan's take ids, the sim ledger and each host's spool folder."""
    check = MultihostCheck(takes=len(planned))
    journal = session_dir / JOURNAL_NAME
    takes: dict[str, tuple[str, str | None]] = {}
    files: list[tuple[str, str, int]] = []
    events: list[tuple[str, str]] = []
    if journal.is_file():
        with sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=10) as db:
            takes = {r[0]: (r[1], r[2]) for r in db.execute("SELECT take_id, status, error FROM takes")}
            files = db.execute("SELECT path, sha256, size FROM files").fetchall()
            events = db.execute("SELECT kind, payload FROM events WHERE kind IN ('TakeStarted', 'TakeVerified') "
                                "ORDER BY id").fetchall()
    # The sim camera's noise is seeded by (serial, exposure number) and an agent's process numbers from 1 again
    # after a restart, while its studio does not see the lights: two exposures may give the same bytes. So a
    # duplicate is a hash journalled more often than the cameras delivered it.
    made = Counter(r["sha256"] for r in ledger if r.get("event") == "delivered" and r["sha256"] == r["card_sha256"])
    kept: dict[str, list[str]] = {}  # sha256 -> paths
    for path, sha256, size in files:
        on_disk = session_dir / path
        if not on_disk.is_file() or on_disk.stat().st_size != size or sha256_file(on_disk) != sha256:
            check.lost.append(f"{path}: journalled but missing or changed on disk")
        else:
            kept.setdefault(sha256, []).append(path)
    for sha256, paths in kept.items():
        if len(paths) > max(1, made[sha256]):
            check.duplicates.append(f"{', '.join(paths)}: one file (sha256 {sha256[:12]}) journalled {len(paths)} "
                                    f"times, delivered {made[sha256]} times by the cameras")
    journalled = {row[0] for row in files}
    images = session_dir / "images"
    for image in sorted(images.iterdir()) if images.is_dir() else ():
        if str(image.relative_to(session_dir)) not in journalled:
            check.lost.append(f"{image.relative_to(session_dir)}: on disk but never journalled")
    check.files = sum(len(paths) for paths in kept.values())
    pending: set[str] = set()  # sha256 of files still held, whole, in a spool
    for host, folder in sorted(spools.items()):
        stored, acked = read_spool_ledger(folder / "ledger.jsonl")
        for file_id, times in acked.items():
            entry = stored.get(file_id)
            if times > 1:
                check.duplicates.append(f"{host} {file_id}: acknowledged {times} times")
            if entry is not None and entry["sha256"] not in kept:
                check.lost.append(f"{host} {entry['camera_id']} {entry['card_name']}: acknowledged by the "
                                  "controller but not in the session")
        for file_id, entry in stored.items():
            if file_id in acked:
                continue
            on_disk = folder / "files" / file_id
            if on_disk.is_file() and sha256_file(on_disk) == entry["sha256"]:
                pending.add(entry["sha256"])
                check.left_in_spools += 1
            elif entry["sha256"] not in kept:
                check.lost.append(f"{host} {entry['camera_id']} {entry['card_name']}: stored in the spool, "
                                  "not acknowledged, gone from the spool and not in the session")
    for record in ledger:
        if record.get("event") == "erased" and record["card_sha256"] not in kept:
            check.lost.append(f"{record['camera']} {record['card_name']}: erased from the card but not in the "
                              "session")
        elif record.get("event") == "delivered":
            if record["sha256"] != record["card_sha256"]:
                check.damaged_in_transit += 1
                continue
            check.delivered += 1
            if record["sha256"] in kept or record["sha256"] in pending:
                continue
            if record.get("pid") in killed_agent_pids:
                check.in_flight_at_agent_kill += 1
            else:
                check.lost.append(f"{record['camera']} {record['card_name']} (pid {record.get('pid')}): delivered "
                                  "whole to an agent that was not killed, but neither in the session nor in a "
                                  "spool")
    check.reshot = _reshot(events)
    for take_id in planned:
        status, error = takes.get(take_id, ("never started", None))
        if status == "verified":
            check.verified += 1
            continue
        check.incomplete[take_id] = f"{status}: {error or 'no reason recorded'}"
        if not error and status != "never started":
            check.unreported.append(take_id)
    return check
