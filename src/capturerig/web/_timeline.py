"""A session's timeline: every event its journal holds, oldest first, each as a sentence a technician reads.

Besides the engine's events, the panel journals two records of its own (never sent on the socket, where the
panel's messages already say the same): the operator's answer to a pose confirmation (:class:`PoseConfirmation`,
so the wait is on the timeline and not counted as the rig's time) and the panel's server stopping during a run
(:class:`PanelStopped`, so an interrupted session is told from one the operator aborted).

An entry is ``{"t": epoch seconds, "kind", "text", "take_id" (or None), "level": info | warning | error}``;
``GET /api/sessions/{name}/timeline`` answers them and ``static/js/timeline.js:renderTimeline`` draws them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from capturerig.config import PLATE_POSE_ID
from capturerig.engine import Event, Journal
from capturerig.web._qc_view import take_qc

__all__ = ["PANEL_STOPPED", "POSE_CONFIRMATION", "PanelStopped", "PoseConfirmation", "session_timeline"]


@dataclass(frozen=True, kw_only=True)
class PoseConfirmation(Event):
    """The operator answered whether the subject holds ``pose_id`` (asked at ``asked_at``, answered at ``at``)."""

    pose_id: str
    confirmed: bool
    asked_at: float


@dataclass(frozen=True, kw_only=True)
class PanelStopped(Event):
    """The panel's server stopped while this session ran: the session stops at the take boundary, lights safe."""

    reason: str


POSE_CONFIRMATION = PoseConfirmation.__name__
PANEL_STOPPED = PanelStopped.__name__

Entry = dict[str, Any]
_REASONS_SHOWN = 4  # a failed check's entry names this many images' reasons at most


def _entry(event: dict[str, Any], kind: str, text: str, level: str = "info") -> Entry:
    return {"t": float(event["at"]), "kind": kind, "text": text, "take_id": event.get("take_id"), "level": level}


def _state(event: dict[str, Any]) -> Entry:
    state, reason = event["state"], event.get("reason") or ""
    if state == "preflight":
        return _entry(event, "preflight", "Preflight started: every device is checked before the first take.")
    if state == "running":
        if reason == "resumed":
            return _entry(event, "resume", "Resumed by the operator.")
        return _entry(event, "running", "Preflight passed: shooting.")
    if state == "paused":
        return _entry(event, "pause", "Paused at a take boundary; the lights are safe.")
    if state == "aborting":
        return _entry(event, "abort", "Abort: stopping at the take boundary; the lights are safe.", "warning")
    if state == "aborted":
        return _entry(event, "aborted", f"Stopped before the end{f' ({reason})' if reason else ''}.", "warning")
    if state == "done":
        return _entry(event, "finish", "Finished: every take verified.")
    if state == "failed":
        return _entry(event, "failed", f"Failed{f': {reason}' if reason else ''}.", "error")
    return _entry(event, state, f"State: {state}{f' ({reason})' if reason else ''}.")


def _preflight(event: dict[str, Any]) -> Entry:
    if event["ok"]:
        return _entry(event, "preflight-check", f"Preflight: {event['device_id']} ok ({event['detail']}).")
    return _entry(event, "preflight-check", f"Preflight: {event['device_id']} failed: {event['detail']}.", "error")


def _confirmation(event: dict[str, Any]) -> Entry:
    waited = float(event["at"]) - float(event["asked_at"])
    if event["confirmed"] and event["pose_id"] == PLATE_POSE_ID:
        return _entry(event, "confirmation", f"The operator confirmed the rig is clear for the clean plates "
                      f"({waited:.1f} s after being asked).")
    if event["confirmed"]:
        return _entry(event, "confirmation", f"The operator confirmed pose {event['pose_id']} ({waited:.1f} s after "
                      "being asked).")
    return _entry(event, "confirmation", f"Pose {event['pose_id']} was not confirmed ({waited:.1f} s after being "
                  "asked): the session stops.", "warning")


def _pose_started(event: dict[str, Any]) -> Entry:
    if event["pose_id"] == PLATE_POSE_ID:
        return _entry(event, "plate", "Clean plates: the empty rig is shot (nobody and nothing in it).")
    described = f" ({d})" if (d := event.get("description")) else ""
    return _entry(event, "pose", f"Pose {event['pose_id']}: the subject is told to hold{described}.")


def _take_failed(event: dict[str, Any]) -> Entry:
    what = f"Take {event['take_id']} failed (attempt {event['attempt']}): {event['error']}"
    if event["will_retry"]:
        return _entry(event, "take-retried", f"{what}; shooting it again.", "warning")
    return _entry(event, "take-failed", f"{what}.", "error")


def _checked(event: dict[str, Any]) -> Entry | None:
    """A take's per-image checks: the ones that warned or failed, with each camera's reason and what follows; a
    take that passed only when it was shot again (its first attempts' verdicts are on the timeline already)."""
    take, attempt, verdict = event["take_id"], event["attempt"], event["verdict"]
    if event.get("error"):
        return _entry(event, "check-error", f"Take {take} (attempt {attempt}) could not be checked: {event['error']}.",
                      "warning")
    if verdict == "ok":
        if int(attempt) < 2:
            return None  # dozens a session: the sheet shows them; only a failure and its cure belong here
        return _entry(event, "check-passed", f"Take {take} attempt {attempt}: every image passed its checks.")
    # each reason names its camera already ("cam07 is 40 % softer than its own takes: check focus")
    reasons = [reason for camera, entry in take_qc(event)["cameras"].items() if entry["verdict"] != "ok"
               for reason in entry["reasons"] or [f"{camera}: {entry['verdict']}"]]
    follows = {"reshoot": " It is shot again now.", "awaiting_operator": " Re-shoot it from the panel, or keep it.",
               "retries_spent": " The plan's re-shoots are spent: re-shoot it from the panel, or keep it.",
               "reported": " Reported only (the plan's qc.on_fail)."}.get(str(event.get("action")), "")
    if len(reasons) > _REASONS_SHOWN:  # a whole ring failing at once: the sheet and the viewer have every one
        reasons = [*reasons[:_REASONS_SHOWN], f"and {len(reasons) - _REASONS_SHOWN} more"]
    word = "failed" if verdict == "fail" else "warned"
    return _entry(event, f"check-{verdict}", f"Take {take} (attempt {attempt}) {word} its checks: "
                  f"{' | '.join(reasons)}.{follows}", "error" if verdict == "fail" else "warning")


def _reshoot(event: dict[str, Any]) -> Entry:
    when = "in this run, while the subject is in the rig" if event["queued"] else "by the next run of the session"
    return _entry(event, "reshoot-requested", f"Take {event['take_id']} is to be shot again ({event['reason']}): "
                  f"{when}.", "warning")


def _message(event: dict[str, Any]) -> Entry:
    level = event.get("level") if event.get("level") in ("warning", "error") else "info"
    text = str(event["text"]).rstrip()
    return _entry(event, "message", text if text.endswith((".", "!", "?")) else f"{text}.", str(level))


# Journal kind -> its entry. Files stored, light changes and turntable stations are left out: dozens per take,
# they are on the contact sheet and in the session's sync record.
_READERS: dict[str, Callable[[dict[str, Any]], Entry | None]] = {
    "StateChanged": _state,
    "PreflightResult": _preflight,
    "PhotosensitivityOverrideUsed": lambda e: _entry(
        e, "photosensitivity-override", f"Flash limit raised to {e['max_flashes_per_s']}/s after a screening by "
        f"{e['screened_by']} on {e['screened_on']}.", "warning"),
    POSE_CONFIRMATION: _confirmation,
    "PoseStarted": _pose_started,
    "TakeStarted": lambda e: _entry(e, "take-started", f"Take {e['take_id']} started ({int(e['ordinal']) + 1}/"
                                    f"{e['total']}, attempt {e['attempt']})."),
    "TakeVerified": lambda e: _entry(e, "take-verified", f"Take {e['take_id']} verified: {e['files']} files "
                                     f"({int(e['ordinal']) + 1}/{e['total']})."),
    "TakeSkipped": lambda e: _entry(e, "take-skipped", f"Take {e['take_id']} was already verified in the journal: "
                                    "not shot again."),
    "TakeFailed": _take_failed,
    "TakeChecked": _checked,
    "ReshootRequested": _reshoot,
    "SessionMessage": _message,
    PANEL_STOPPED: lambda e: _entry(e, "server-stopped", f"{str(e['reason']).capitalize()}: the session stops at "
                                    "the take boundary, lights safe.", "warning"),
}


def session_timeline(journal: Journal) -> list[Entry]:
    """Every journalled event a technician follows, as timeline entries, oldest first.

    Raises JournalError when the journal is damaged (what :class:`capturerig.engine.Journal` says of it).
    """
    read_all = (read(event) for read_kind, read in _READERS.items() for event in journal.events(read_kind))
    entries = [entry for entry in read_all if entry is not None]
    entries.sort(key=lambda entry: entry["t"])  # stable: same-instant entries keep the order above
    # The engine words every stop at a take boundary "aborted by the operator"; after the server stopped, it
    # was not the operator.
    stopped = False
    for entry in entries:
        if entry["kind"] in ("server-stopped", "preflight"):
            stopped = entry["kind"] == "server-stopped"
        elif stopped and entry["kind"] == "abort":
            entry["text"] = "The server is stopping: the session stops at the take boundary; the lights are safe."
        elif stopped and entry["kind"] == "aborted":
            entry.update(kind="interrupted", text="Interrupted: the panel's server stopped before the end.")
    return entries
