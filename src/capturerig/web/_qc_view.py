"""The per-image checks as the panel shows them: a take's ``TakeChecked`` folded per camera.

The engine journals and publishes one ``TakeChecked`` per checked attempt of a take (``capturerig.engine``):
per file its verdict, its checks and the reasons in words. The contact sheet shows one cell per camera and take,
so :func:`take_qc` folds the files of a camera (RAW and JPEG) into one verdict, the worst, with every reason; the
live run view (``RunView``), a past session read from its journal (``_past_sessions``) and a re-shoot's
``RunStarted`` all use it, so the page draws a badge the same way wherever the verdict came from.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["camera_checks", "journal_qc", "take_qc", "verdict_rank"]

_RANK = {"ok": 0, "warn": 1, "fail": 2}


def verdict_rank(verdict: str | None) -> int:
    """ok < warn < fail; an unknown word counts as a warning (never hidden as ok)."""
    return _RANK.get(verdict or "ok", 1)


def _worst(verdicts: Iterable[str]) -> str:
    return max(verdicts, key=verdict_rank, default="ok")


def take_qc(event: Mapping[str, Any]) -> dict[str, Any]:
    """A ``TakeChecked`` (as its fields) as the views keep it: the take's verdict, what it led to, and per camera
    ``{verdict, reasons, files: [{path, format, verdict, checks: [{check, verdict, reason}]}]}``."""
    cameras: dict[str, dict[str, Any]] = {}
    for item in event.get("files") or []:
        camera = str(item.get("camera") or "?")
        entry = cameras.setdefault(camera, {"verdict": "ok", "reasons": [], "files": []})
        verdict = str(item.get("verdict") or "ok")
        entry["verdict"] = _worst((entry["verdict"], verdict))
        for reason in item.get("reasons") or []:
            if reason not in entry["reasons"]:  # RAW and JPEG of one exposure often say the same
                entry["reasons"].append(reason)
        entry["files"].append({"path": item.get("path"), "format": item.get("format"), "verdict": verdict,
                               "checks": [{"check": c.get("check"), "verdict": c.get("verdict"),
                                           "reason": c.get("reason")} for c in item.get("checks") or []]})
    return {"attempt": event.get("attempt"), "verdict": event.get("verdict", "ok"), "action": event.get("action"),
            "on_fail": event.get("on_fail"), "error": event.get("error"), "at": event.get("at"),
            "cameras": cameras}


def camera_checks(event: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Per camera, its last check as a device tile shows it: take, attempt, verdict, reasons, session, time."""
    qc = take_qc(event)
    return {camera: {"take": event.get("take_id"), "attempt": event.get("attempt"), "verdict": entry["verdict"],
                     "reasons": entry["reasons"], "session": event.get("session"), "at": event.get("at")}
            for camera, entry in qc["cameras"].items()}


def journal_qc(events: Iterable[Mapping[str, Any]], attempts: Mapping[str, int | None]) -> dict[str, dict[str, Any]]:
    """Per take, the check of the attempt the sheet shows (``attempts``: take id -> attempt), from a journal's
    ``TakeChecked`` events, oldest first; a take whose shown attempt was never checked has none."""
    found: dict[str, dict[str, Any]] = {}
    for event in events:
        take_id = str(event.get("take_id"))
        if take_id in attempts and event.get("attempt") == attempts[take_id]:
            found[take_id] = take_qc(event)  # a later check of the same attempt (a resumed run) wins
    return found
