"""What the panel shows, kept current from the message stream (engine events plus the panel's own).

Both views are updated only on the server's event loop (as the hub's reducers), so a snapshot taken there
and the messages queued after it never disagree.
"""

from __future__ import annotations

import re
import time
from collections import deque
from typing import Any

__all__ = ["DeviceBoard", "RunView"]

_RELAXED = frozenset({"paused", "aborting", "aborted", "done", "failed", "idle", "preflight"})
_MESSAGES_KEPT = 40


class RunView:
    """The session being shot (or last shot): its takes, their files, the hold cue and the messages."""

    def __init__(self) -> None:
        self.session: dict[str, Any] | None = None
        self.takes: list[dict[str, Any]] = []
        self.status: dict[str, dict[str, Any]] = {}
        self.state = "idle"
        self.reason = ""
        self.current_take: str | None = None
        # camera -> file of the take whose files are landing now (the engine stores one take while it shoots the
        # next, so that is often the take before current_take)
        self.arrivals: dict[str, str] = {}
        self.arrivals_take: str | None = None
        self.hold: dict[str, Any] = {"state": "relax", "pose_id": None, "since": None, "expected_s": None}
        self.awaiting_pose: dict[str, Any] | None = None
        self.preflight: list[dict[str, Any]] = []
        self.lights: dict[str, Any] | None = None
        self.messages: deque[dict[str, Any]] = deque(maxlen=_MESSAGES_KEPT)
        self.result: dict[str, Any] | None = None

    def _relax(self, at: float) -> None:
        if self.hold["state"] == "hold":
            self.hold = {**self.hold, "state": "relax", "since": at}

    def _pose_finished(self, pose_id: str) -> bool:
        return all(self.status.get(t["id"], {}).get("status") in ("verified", "skipped")
                   for t in self.takes if t["pose"] == pose_id)

    def apply(self, message: dict[str, Any]) -> None:
        kind = message.get("kind")
        at = float(message.get("at", time.time()))
        if kind == "RunStarted":
            self.session = dict(message["info"])
            self.takes = list(message["takes"])
            self.status = {take_id: dict(entry) for take_id, entry in message.get("status", {}).items()}
            self.state, self.reason, self.current_take, self.result = "idle", "", None, None
            self.arrivals, self.arrivals_take, self.preflight, self.awaiting_pose = {}, None, [], None
            self.hold = {"state": "relax", "pose_id": None, "since": at, "expected_s": None}
            self.messages.clear()
            return
        if self.session is None or message.get("session") != self.session.get("name"):
            return
        if kind == "StateChanged":
            self.state, self.reason = message["state"], message.get("reason", "")
            if self.state in _RELAXED:
                self._relax(at)
                self.awaiting_pose = None
        elif kind == "PreflightResult":
            self.preflight.append({k: message[k] for k in ("device_id", "ok", "detail")})
        elif kind == "PoseStarted":
            expected = self.session.get("hold_expected_s", {}).get(message["pose_id"])
            self.hold = {"state": "hold", "pose_id": message["pose_id"], "since": at, "expected_s": expected,
                         "description": message.get("description", "")}
            self.awaiting_pose = None
        elif kind == "PoseConfirmRequest":
            self.awaiting_pose = {"pose_id": message["pose_id"], "description": message.get("description", "")}
        elif kind == "PoseConfirmAnswered":
            self.awaiting_pose = None
        elif kind == "TakeStarted":
            self.current_take = message["take_id"]
            if message["take_id"] == self.arrivals_take:  # shot again: its arrivals start afresh
                self.arrivals = {}
            entry = self.status.setdefault(message["take_id"], {})
            entry.update(status="running", attempt=message["attempt"], ordinal=message["ordinal"])
            entry.setdefault("files", {})
        elif kind == "FileStored":
            entry = self.status.setdefault(message["take_id"], {"files": {}})
            entry.setdefault("files", {})[message["camera_id"]] = message["path"]
            if message["take_id"] != self.arrivals_take:
                self.arrivals, self.arrivals_take = {}, message["take_id"]
            self.arrivals[message["camera_id"]] = message["path"]
        elif kind in ("TakeVerified", "TakeSkipped"):
            entry = self.status.setdefault(message["take_id"], {"files": {}})
            entry.update(status="verified" if kind == "TakeVerified" else "skipped", error=None)
            pose = next((t["pose"] for t in self.takes if t["id"] == message["take_id"]), None)
            if pose is not None and pose == self.hold.get("pose_id") and self._pose_finished(pose):
                self._relax(at)
        elif kind == "TakeFailed":
            entry = self.status.setdefault(message["take_id"], {"files": {}})
            entry.update(status="retrying" if message["will_retry"] else "failed", error=message["error"],
                         attempt=message["attempt"])
        elif kind == "LightsApplied":
            self.lights = {k: message[k] for k in ("take_id", "lighting_id", "governor_wait_s")}
        elif kind == "SessionMessage":
            self.messages.append({"level": message["level"], "text": message["text"], "at": at})
        elif kind == "RunFinished":
            self.result = {k: v for k, v in message.items() if k not in ("kind", "session")}
            self.state = message["state"]
            self._relax(at)
            self.current_take = None
            self.awaiting_pose = None

    def snapshot(self) -> dict[str, Any]:
        return {"session": self.session, "takes": self.takes, "status": self.status, "state": self.state,
                "reason": self.reason, "current_take": self.current_take, "arrivals": self.arrivals,
                "arrivals_take": self.arrivals_take,
                "hold": self.hold, "awaiting_pose": self.awaiting_pose, "preflight": self.preflight,
                "lights": self.lights, "messages": list(self.messages), "result": self.result,
                "running": self.session is not None and self.result is None}


class DeviceBoard:
    """A tile per camera and per light output: what the last check, preflight or take said about it."""

    def __init__(self) -> None:
        self.tiles: dict[str, dict[str, Any]] = {}
        self.lights: dict[str, Any] = {"levels": {}, "verdict": None, "scene": None}
        self.preflight: dict[str, Any] = {"at": None, "results": [], "ok": None, "running": False}

    def _tile(self, device_id: str) -> dict[str, Any]:
        return self.tiles.setdefault(device_id, {"id": device_id, "last_error": None})

    def apply(self, message: dict[str, Any]) -> None:
        kind = message.get("kind")
        # ``state`` is what the latest word on the device says (ok/bad); ``last_error`` stays as history.
        if kind == "DeviceStatus":
            tile = self._tile(message["id"])
            tile.update({k: v for k, v in message.items() if k not in ("kind", "session")})
            tile["state"] = "ok" if message.get("connected") and not message.get("last_error") and not message.get(
                "drift") else "bad"
        elif kind == "PreflightResult":
            tile = self._tile(message["device_id"])
            tile["preflight"] = {"ok": message["ok"], "detail": message["detail"]}
            tile["state"] = "ok" if message["ok"] else "bad"
            if not message["ok"]:
                tile["last_error"] = message["detail"]
            if message.get("session") == "panel":
                self.preflight["results"].append({k: message[k] for k in ("device_id", "ok", "detail")})
        elif kind == "PreflightStarted":
            self.preflight = {"at": message["at"], "results": [], "ok": None, "running": True}
        elif kind == "PreflightFinished":
            self.preflight.update(ok=message["ok"], running=False, problems=message.get("problems", []))
        elif kind == "FileStored":
            tile = self._tile(message["camera_id"])
            tile.update(connected=True, last_file=message["path"], last_file_at=message["at"], state="ok")
        elif kind == "TakeFailed":
            for device_id in list(self.tiles):
                found = re.search(rf"(?:^|[:;] ){re.escape(device_id)}: ([^;]+)", message["error"])
                if found:
                    self.tiles[device_id]["last_error"] = f"{message['take_id']}: {found.group(1).strip()}"
                    self.tiles[device_id]["state"] = "bad"
        elif kind == "LightsSet":
            self.lights = {k: v for k, v in message.items() if k not in ("kind", "session")}

    def snapshot(self) -> dict[str, Any]:
        return {"tiles": self.tiles, "lights": self.lights, "preflight": self.preflight}
