"""Sync measurements kept beside the rig (from `capturerig trigger test`) and per session (from its takes).

Preflight shows the rig's last measurement, so the technician sees how far apart the cameras fire before the
subject steps in; every session stores the spread its own takes actually had, for the training pipeline.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from capturerig.engine._journal import Journal
from capturerig.engine._trigger import SyncReport, sync_statistics

__all__ = ["describe_rig_sync", "rig_sync_path", "save_rig_sync", "session_sync", "sync_summary"]


def rig_sync_path(rig_path: Path) -> Path:
    """Where a rig's sync measurement lives: ``studio/rig.yaml`` -> ``studio/rig.sync.json``."""
    return rig_path.with_name(rig_path.stem + ".sync.json")


def sync_summary(report: SyncReport, mode: str) -> dict[str, Any]:
    """The JSON form of a sync report (seconds), as stored beside the rig and in the session journal."""
    return {"mode": mode, "fires": report.fires, "measured_at": time.time(),
            "spread_p50_s": report.spread_p50_s, "spread_p99_s": report.spread_p99_s,
            "mean_latency_s": dict(report.mean_latency_s), "jitter_s": dict(report.jitter_s),
            "suggested_delays_us": dict(report.suggested_delays_us), "missing": dict(report.missing)}


def save_rig_sync(rig_path: Path, report: SyncReport, mode: str) -> Path:
    path = rig_sync_path(rig_path)
    path.write_text(json.dumps(sync_summary(report, mode), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


SYNC_CHECK = "sync"  # the preflight row of the rig's last sync measurement
NOT_MEASURED = "not measured"
_NOTHING_MEASURED = (NOT_MEASURED, "is unreadable")  # how describe_rig_sync words a missing or unreadable one


def preflight_verdict(device_id: str, ok: bool, detail: str) -> str:
    """``ok``, ``failed`` or ``not measured``: the sync row is information (never a failure), but one that
    measured nothing must not read as a measurement that passed."""
    if not ok:
        return "failed"
    if device_id == SYNC_CHECK and any(words in detail for words in _NOTHING_MEASURED):
        return NOT_MEASURED
    return "ok"


def describe_rig_sync(rig_path: Path) -> str:
    """One line for preflight: the last measured spread, or how to measure it."""
    path = rig_sync_path(rig_path)
    if not path.is_file():
        return f"{NOT_MEASURED} yet: run `capturerig trigger test --rig {rig_path}`"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(float(data["measured_at"])))
        return (f"exposure spread p50 {data['spread_p50_s'] * 1e3:.2f} ms, p99 {data['spread_p99_s'] * 1e3:.2f} ms "
                f"over {data['fires']} fires ({data['mode']}, {when}; {path.name})")
    except (ValueError, KeyError, TypeError) as exc:
        return f"{path} is unreadable ({exc}); run `capturerig trigger test --rig {rig_path}` again"


def session_sync(journal: Journal) -> SyncReport | None:
    """Sync statistics over every take the session triggered (latency per camera per take)."""
    fires = [dict(event["latency_s"]) for event in journal.events("TriggerDispatched") if event.get("latency_s")]
    return sync_statistics(fires) if fires else None
