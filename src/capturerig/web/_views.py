"""What the panel shows, reduced once on the server from the message stream (engine events plus the panel's own).

:class:`PanelViews` is the hub's reducer. It keeps :class:`RunView` and :class:`DeviceBoard` current and
answers each message that changed them with a ``ViewPatch`` (see :mod:`capturerig.web._messages`), so the
browser renders the server's views and never reduces the stream itself. The views are updated only on the
server's event loop, so a snapshot taken there and the patches queued after it never disagree.

Each view records the paths an update touched; the patch carries the value now at each of them (read from
the view's snapshot), so a path may be touched without checking whether its value really changed.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from capturerig.web._device_tiles import SYNC_DEVICE, RigDeviceIds, is_shown_image, preflight_verdict, trigger_fire
from capturerig.web._messages import PANEL_SESSION, Snapshot, ViewPatch
from capturerig.web._qc_view import camera_checks, take_qc

__all__ = ["DeviceBoard", "HostCameras", "PanelViews", "RunView", "ViewPath", "apply_changes", "hosts_named"]

ViewPath = tuple[str, ...]  # keys from a view's snapshot root; () is the whole view
HostCameras = Mapping[str, Iterable[str]]  # capture host name -> the ids of the cameras on it (a rig's ``hosts:``)

_RELAXED = frozenset({"paused", "aborting", "aborted", "done", "failed", "idle", "preflight"})
_MESSAGES_KEPT = 40


def _camera_named(error: str, camera_id: str) -> re.Match[str] | None:
    """Where a take's error speaks of ``camera_id`` (``take X: cam01: what; cam02: what``): group 1 is what."""
    return re.search(rf"(?:^|[:;] ){re.escape(camera_id)}: ([^;]+)", error)


def _host_pattern(host: str) -> str:
    # how the agent link names a host in a DeviceError: "host agent2: ...", "(on host agent2)", "host agent2's"
    return rf"\bhost {re.escape(host)}(?![\w-])"


def hosts_named(error: str, hosts: HostCameras) -> list[str]:
    """The capture hosts a failure concerns: those it names, and those of the cameras it names (rig order)."""
    return [name for name, cameras in hosts.items()
            if re.search(_host_pattern(name), error) or any(_camera_named(error, c) for c in cameras)]


class RunView:
    """The session being shot (or last shot): its takes, their files, the hold cue and the messages.

    A take's status entry carries ``qc``, the per-image checks of the attempt shown (``_qc_view.take_qc``), from
    its ``TakeChecked`` until the take is shot again, and ``reshoot`` once the operator asked for that.

    ``hosts`` (capture host -> its cameras) lets a failed take's entry name the hosts it concerns (``hosts``).
    """

    def __init__(self, hosts: HostCameras | None = None) -> None:
        self.hosts = {name: tuple(cameras) for name, cameras in (hosts or {}).items()}
        self.session: dict[str, Any] | None = None
        self.takes: list[dict[str, Any]] = []
        self.pose_of: dict[str, str] = {}  # take id -> pose id
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
        self._touched: list[ViewPath] = []

    def _touch(self, *paths: ViewPath) -> None:
        self._touched.extend(paths)

    def _relax(self, at: float) -> None:
        if self.hold["state"] == "hold":
            self.hold = {**self.hold, "state": "relax", "since": at}
            self._touch(("hold",))

    def _hold(self, pose_id: str, at: float, description: str) -> None:
        expected = (self.session or {}).get("hold_expected_s", {}).get(pose_id)
        self.hold = {"state": "hold", "pose_id": pose_id, "since": at, "expected_s": expected,
                     "description": description}
        self._touch(("hold",))

    def _pose_finished(self, pose_id: str) -> bool:
        return all(self.status.get(t["id"], {}).get("status") in ("verified", "skipped")
                   for t in self.takes if t["pose"] == pose_id)

    def _entry(self, take_id: str) -> tuple[dict[str, Any], bool]:
        """The status entry of ``take_id`` and whether this call created it."""
        entry = self.status.get(take_id)
        if entry is None:
            entry = self.status[take_id] = {"files": {}}
            return entry, True
        entry.setdefault("files", {})
        return entry, False

    def apply(self, message: dict[str, Any]) -> list[ViewPath]:
        """Update from ``message``; returns the paths it touched (none: the view did not change)."""
        self._touched = []
        self._apply(message)
        return self._touched

    def _apply(self, message: dict[str, Any]) -> None:
        kind = message.get("kind")
        at = float(message.get("at", time.time()))
        if kind == "RunStarted":
            self.session = dict(message["info"])
            self.takes = list(message["takes"])
            self.pose_of = {t["id"]: t["pose"] for t in self.takes}
            self.status = {take_id: dict(entry) for take_id, entry in message.get("status", {}).items()}
            self.state, self.reason, self.current_take, self.result = "idle", "", None, None
            self.arrivals, self.arrivals_take, self.preflight, self.awaiting_pose = {}, None, [], None
            self.hold = {"state": "relax", "pose_id": None, "since": at, "expected_s": None}
            self.lights = None
            self.messages.clear()
            self._touch(())
            return
        if self.session is None or message.get("session") != self.session.get("name"):
            return
        if kind == "StateChanged":
            self.state, self.reason = message["state"], message.get("reason", "")
            self._touch(("state",), ("reason",))
            if self.state in _RELAXED:
                self._relax(at)
                self.awaiting_pose = None
                self._touch(("awaiting_pose",))
        elif kind == "PreflightResult":
            self.preflight.append({k: message[k] for k in ("device_id", "ok", "detail")})
            self._touch(("preflight",))
        elif kind == "PoseStarted":  # also when the engine announces the same pose again (after a pause)
            self._hold(message["pose_id"], at, message.get("description", ""))
            self.awaiting_pose = None
            self._touch(("awaiting_pose",))
        elif kind == "PoseConfirmRequest":
            # prompt_kind: pose, plate (clear the rig) or subject_back; a recorded stream from before says none
            self.awaiting_pose = {"pose_id": message["pose_id"], "description": message.get("description", ""),
                                  "kind": message.get("prompt_kind", "pose"), "title": message.get("title", ""),
                                  "question": message.get("question", "")}
            self._touch(("awaiting_pose",))
        elif kind == "PoseConfirmAnswered":
            self.awaiting_pose = None
            self._touch(("awaiting_pose",))
        elif kind == "TakeStarted":
            self._take_started(message, at)
        elif kind == "FileStored":
            take_id, camera_id = message["take_id"], message["camera_id"]
            entry, created = self._entry(take_id)
            entry["files"][camera_id] = message["path"]
            self._touch(("status", take_id) if created else ("status", take_id, "files", camera_id))
            if take_id != self.arrivals_take:
                self.arrivals, self.arrivals_take = {}, take_id
                self._touch(("arrivals",), ("arrivals_take",))
            self.arrivals[camera_id] = message["path"]
            self._touch(("arrivals", camera_id))
        elif kind in ("TakeVerified", "TakeSkipped"):
            entry, _ = self._entry(message["take_id"])
            entry.update(status="verified" if kind == "TakeVerified" else "skipped", error=None)
            entry.pop("hosts", None)
            self._touch(("status", message["take_id"]))
            pose = self.pose_of.get(message["take_id"])
            if pose is not None and pose == self.hold.get("pose_id") and self._pose_finished(pose):
                self._relax(at)
        elif kind == "TakeFailed":
            entry, _ = self._entry(message["take_id"])
            entry.update(status="retrying" if message["will_retry"] else "failed", error=message["error"],
                         attempt=message["attempt"])
            named = hosts_named(message["error"], self.hosts)
            if named:
                entry["hosts"] = named
            else:
                entry.pop("hosts", None)
            self._touch(("status", message["take_id"]))
        elif kind == "TakeChecked":
            entry, _ = self._entry(message["take_id"])
            if int(message["attempt"]) < int(entry.get("attempt") or 0):
                return  # an older attempt's check, arriving after the take was shot again: not what is shown
            entry["qc"] = take_qc(message)
            entry.pop("reshoot", None)
            self._touch(("status", message["take_id"]))
        elif kind == "ReshootRequested":
            entry, _ = self._entry(message["take_id"])
            entry["reshoot"] = {"reason": message["reason"], "queued": message["queued"], "at": at}
            self._touch(("status", message["take_id"]))
        elif kind == "LightsApplied":
            self.lights = {k: message[k] for k in ("take_id", "lighting_id", "governor_wait_s")}
            self._touch(("lights",))
        elif kind == "SessionMessage":
            self.messages.append({"level": message["level"], "text": message["text"], "at": at})
            self._touch(("messages",))
        elif kind == "RunFinished":
            self.result = {k: v for k, v in message.items() if k not in ("kind", "session")}
            self.state = message["state"]
            self._relax(at)
            self.current_take = None
            self.awaiting_pose = None
            self._touch(("result",), ("state",), ("current_take",), ("awaiting_pose",), ("running",))

    def _take_started(self, message: dict[str, Any], at: float) -> None:
        take_id = message["take_id"]
        self.current_take = take_id
        self._touch(("current_take",))
        if take_id == self.arrivals_take:  # shot again: its arrivals start afresh
            self.arrivals = {}
            self._touch(("arrivals",))
        entry, _ = self._entry(take_id)
        if (entry.get("qc") or {}).get("attempt") != message["attempt"]:  # shot again: the old verdict goes
            entry.pop("qc", None)
            entry.pop("reshoot", None)
        entry.update(status="running", attempt=message["attempt"], ordinal=message["ordinal"])
        self._touch(("status", take_id))
        # An exposure never shows RELAX: the engine announces each pose (PoseStarted) before its takes, and
        # again after a pause; should a take of the pose start without that, the cue is HOLD all the same.
        pose = self.pose_of.get(take_id)
        if pose is not None and self.hold["state"] != "hold" and self.state not in _RELAXED:
            same = self.hold.get("pose_id") == pose
            self._hold(pose, at, self.hold.get("description", "") if same else "")

    def snapshot(self) -> dict[str, Any]:
        return {"session": self.session, "takes": self.takes, "status": self.status, "state": self.state,
                "reason": self.reason, "current_take": self.current_take, "arrivals": self.arrivals,
                "arrivals_take": self.arrivals_take,
                "hold": self.hold, "awaiting_pose": self.awaiting_pose, "preflight": self.preflight,
                "lights": self.lights, "messages": list(self.messages), "result": self.result,
                "running": self.session is not None and self.result is None}


class DeviceBoard:
    """A tile per camera, per light output and per capture host: what the last check, preflight or take said.

    ``hosts`` (capture host -> its cameras, from the rigs' ``hosts:``) gives each host a tile from the start
    (state ``unknown`` until a ``HostStatus`` or the host's ``PreflightResult``); a ``HostStatus`` of a host not
    named there adds one. A host tile counts its cameras whose tiles say ok, and a camera tile names its host.

    ``rigs`` (rig id -> its trigger box and turntable ids) gives those a tile from the start (``device`` trigger
    or turntable): link, homed, angle and station from preflight and ``StationReached``, the last fire's
    measured sync from ``TriggerDispatched`` of a session on that rig. A camera tile keeps its settings as
    read back and the time of its last check, and its ``last_image`` (session, path, take) as files land, and
    ``last_check``, the per-image checks' verdict on its latest checked picture (``TakeChecked``).
    ``sync`` is the rig's last sync measurement as preflight read it, with its verdict.
    """

    def __init__(self, hosts: HostCameras | None = None, rigs: RigDeviceIds | None = None) -> None:
        self.tiles: dict[str, dict[str, Any]] = {}
        self.hosts: dict[str, dict[str, Any]] = {}
        self.host_of: dict[str, str] = {}  # camera id -> host name
        self.lights: dict[str, Any] = {"levels": {}, "verdict": None, "scene": None}
        self.preflight: dict[str, Any] = {"at": None, "results": [], "ok": None, "running": False}
        self.sync: dict[str, Any] = {"verdict": None, "detail": None, "at": None}
        self.rigs = {rig: dict(ids) for rig, ids in (rigs or {}).items()}
        self.session_rig: str | None = None  # the rig of the session shooting now (whose trigger fires)
        for name, cameras in (hosts or {}).items():
            self._host(name, cameras)
        for ids in self.rigs.values():
            for kind in ("trigger", "turntable"):
                if ids.get(kind):
                    self._motion_tile(str(ids[kind]), kind)

    def _motion_tile(self, device_id: str, kind: str) -> dict[str, Any]:
        """The tile of a trigger box or turntable: what a camera tile has, and its own fields."""
        tile = self._tile(device_id)
        fields = {"trigger": {"link": None, "last_fire": None, "checked_at": None},
                  "turntable": {"link": None, "homed": None, "angle_deg": None, "station": None,
                                "reached_at": None, "checked_at": None}}[kind]
        for key, value in {"device": kind, "state": "unknown", **fields}.items():
            tile.setdefault(key, value)
        return tile

    def _session_device(self, kind: str) -> str | None:
        return (self.rigs.get(self.session_rig or "") or {}).get(kind)

    def _tile(self, device_id: str) -> dict[str, Any]:
        tile = self.tiles.setdefault(device_id, {"id": device_id, "last_error": None})
        if device_id in self.host_of:
            tile["host"] = self.host_of[device_id]
        return tile

    def _host(self, name: str, cameras: Iterable[str] = ()) -> dict[str, Any]:
        tile = self.hosts.setdefault(name, {
            "id": name, "state": "unknown", "url": None, "cameras": [], "cameras_ok": 0, "problem": None,
            "last_error": None, "failed_take": None, "preflight": None, "checked_at": None, "capturerig_version": None,
            "clock_offset_ms": None, "round_trip_ms": None, "spool_files": None, "spool_bytes": None,
            "free_bytes": None, "reserve_bytes": None})
        for camera_id in cameras:
            if camera_id not in tile["cameras"]:
                tile["cameras"].append(camera_id)
            self.host_of[camera_id] = name
            if camera_id in self.tiles:
                self.tiles[camera_id]["host"] = name
        self._count(name)
        return tile

    def _count(self, name: str) -> None:
        tile = self.hosts[name]
        tile["cameras_ok"] = sum(self.tiles.get(c, {}).get("state") == "ok" for c in tile["cameras"])

    def _camera_paths(self, camera_id: str) -> list[ViewPath]:
        """A camera tile changed: its path, and its host's (whose count of ok cameras may have changed)."""
        host = self.host_of.get(camera_id)
        if host is None:
            return [("tiles", camera_id)]
        self._count(host)
        return [("tiles", camera_id), ("hosts", host)]

    def apply(self, message: dict[str, Any]) -> list[ViewPath]:
        """Update from ``message``; returns the paths it touched (none: the board did not change)."""
        kind = message.get("kind")
        # ``state`` is what the latest word on the device says (ok/bad); ``last_error`` stays as history.
        if kind == "DeviceStatus":
            tile = self._tile(message["id"])
            tile.update({k: v for k, v in message.items() if k not in ("kind", "session")})
            tile["checked_at"] = message.get("at")
            tile["state"] = "ok" if message.get("connected") and not message.get("last_error") and not message.get(
                "drift") else "bad"
            return self._camera_paths(message["id"])
        if kind == "HostStatus":
            host = self._host(message["host"], message.get("cameras", ()))
            host.update({k: v for k, v in message.items() if k not in ("kind", "session", "host", "cameras", "at")})
            host["checked_at"] = message.get("at")
            host["state"] = "bad" if message.get("problem") else "ok"
            if message.get("problem"):
                host["last_error"] = message["problem"]
            return [("hosts", message["host"])]
        if kind == "PreflightResult" and message["device_id"] in self.hosts:
            host = self.hosts[message["device_id"]]
            host["preflight"] = {"ok": message["ok"], "detail": message["detail"]}
            host["state"] = "ok" if message["ok"] else "bad"
            host["problem"] = None if message["ok"] else message["detail"]
            if not message["ok"]:
                host["last_error"] = message["detail"]
            if message.get("session") != PANEL_SESSION:
                return [("hosts", message["device_id"])]
            self.preflight["results"].append({"device_id": message["device_id"], "ok": message["ok"],
                                              "detail": message["detail"],
                                              "verdict": "ok" if message["ok"] else "failed"})
            return [("hosts", message["device_id"]), ("preflight", "results")]
        if kind == "PreflightResult":
            return self._preflight_result(message)
        if kind == "PreflightStarted":
            self.preflight = {"at": message["at"], "results": [], "ok": None, "running": True}
            return [("preflight",)]
        if kind == "PreflightFinished":
            self.preflight.update(ok=message["ok"], running=False, problems=message.get("problems", []))
            return [("preflight",)]
        if kind == "FileStored":
            tile = self._tile(message["camera_id"])
            tile.update(connected=True, last_file=message["path"], last_file_at=message["at"], state="ok")
            if is_shown_image(message["path"]):
                tile["last_image"] = {"session": message.get("session"), "path": message["path"],
                                      "take": message.get("take_id"), "at": message["at"]}
            return self._camera_paths(message["camera_id"])
        if kind == "RunStarted":
            self.session_rig = message["info"].get("rig")
            return []
        if kind == "TriggerDispatched" and (trigger := self._session_device("trigger")):
            tile = self._motion_tile(trigger, "trigger")
            tile.update(last_fire=trigger_fire(message), link="open", state="ok")
            return [("tiles", trigger)]
        if kind == "StationReached" and (table := self._session_device("turntable")):
            tile = self._motion_tile(table, "turntable")
            tile.update(angle_deg=message["angle_deg"], station=message["station_id"],
                        reached_at=message["reached_at"], link="open", state="ok")
            return [("tiles", table)]
        if kind == "TakeFailed":
            return self._take_failed(message["take_id"], message["error"])
        if kind == "TakeChecked":  # a camera's last check: a verdict on its picture, not on the device's state
            touched: list[ViewPath] = []
            for camera_id, check in camera_checks(message).items():
                self._tile(camera_id)["last_check"] = check
                touched += self._camera_paths(camera_id)
            return touched
        if kind == "LightsSet":
            self.lights = {k: v for k, v in message.items() if k not in ("kind", "session")}
            return [("lights",)]
        return []

    def _preflight_result(self, message: dict[str, Any]) -> list[ViewPath]:
        device_id, ok, detail = message["device_id"], message["ok"], message["detail"]
        verdict = preflight_verdict(device_id, ok, detail)
        tile = self._tile(device_id)
        tile["preflight"] = {"ok": ok, "detail": detail, "verdict": verdict}
        tile["state"] = {"ok": "ok", "failed": "bad"}.get(verdict, "unknown")
        tile["checked_at"] = message.get("at")
        if not ok:
            tile["last_error"] = detail
        if tile.get("device") == "trigger":
            tile["link"] = "open" if ok else "failed"
        elif tile.get("device") == "turntable":  # preflight opens and homes the table: at 0 degrees after
            tile.update(link="open" if ok else "failed", homed=ok, angle_deg=0.0 if ok else tile.get("angle_deg"),
                        station=None)
        paths: list[ViewPath] = self._camera_paths(device_id)
        if device_id == SYNC_DEVICE:
            self.sync = {"verdict": verdict, "detail": detail, "at": message.get("at")}
            paths.append(("sync",))
        if message.get("session") != PANEL_SESSION:
            return paths
        self.preflight["results"].append({"device_id": device_id, "ok": ok, "detail": detail, "verdict": verdict})
        return [*paths, ("preflight", "results")]

    def _take_failed(self, take_id: str, error: str) -> list[ViewPath]:
        touched: list[ViewPath] = []
        for device_id in list(self.tiles):
            found = _camera_named(error, device_id)
            if found:
                self.tiles[device_id]["last_error"] = f"{take_id}: {found.group(1).strip()}"
                self.tiles[device_id]["state"] = "bad"
                touched += self._camera_paths(device_id)
        for name, host in self.hosts.items():
            parts = [p for p in error.split("; ") if re.search(_host_pattern(name), p)]
            if parts:  # the host itself failed (link down, agent restarted, clock ...), not just one camera
                what = re.sub(rf"^take {re.escape(take_id)}: ", "", parts[0]).strip()
                host.update(state="bad", last_error=f"{take_id}: {what}", failed_take=take_id)
                touched.append(("hosts", name))
        return touched

    def snapshot(self) -> dict[str, Any]:
        return {"tiles": self.tiles, "hosts": self.hosts, "lights": self.lights, "preflight": self.preflight,
                "sync": self.sync}


def _value_at(root: Any, path: Iterable[str]) -> Any:
    for key in path:
        root = root[key]
    return root


def _outermost(paths: list[ViewPath]) -> list[ViewPath]:
    """``paths`` without repeats and without those inside another one, in first-touched order."""
    kept: list[ViewPath] = []
    for path in dict.fromkeys(paths):
        if any(path[:len(outer)] == outer for outer in kept):
            continue
        kept = [p for p in kept if p[:len(path)] != path]
        kept.append(path)
    return kept


def apply_changes(state: dict[str, Any], changes: Iterable[tuple[list[str], Any] | list[Any]]) -> None:
    """Apply a ``ViewPatch``'s changes to a snapshot, as the browser does (``static/panel.js:applyChanges``)."""
    for path, value in changes:
        node = state
        for key in path[:-1]:
            child = node.get(key)
            if not isinstance(child, dict):
                child = node[key] = {}
            node = child
        node[path[-1]] = value


class PanelViews:
    """The run view, the device board and who holds the rig, with a sequence number over their changes.

    ``hosts`` are the capture hosts of the rigs the panel offers (host -> its cameras); ``rigs`` their trigger
    box and turntable ids (rig id -> {"trigger": id, "turntable": id}).

    ``busy`` says who holds the rig now (:class:`capturerig.web._runs.Hardware`); it is read after each
    message, so the page learns of a claim or release with the message that came with it.
    """

    def __init__(self, busy: Callable[[], str | None] = lambda: None, hosts: HostCameras | None = None,
                 rigs: RigDeviceIds | None = None) -> None:
        hosts = {name: tuple(cameras) for name, cameras in (hosts or {}).items()}
        self.run = RunView(hosts)
        self.board = DeviceBoard(hosts, rigs)
        self.seq = 0
        self._busy = busy
        self._busy_shown = busy()

    def apply(self, message: dict[str, Any]) -> dict[str, Any] | None:
        """Reduce ``message``; returns the ``ViewPatch`` message of what it changed, or None."""
        touched = [("run", *p) for p in self.run.apply(message)] + [("board", *p) for p in self.board.apply(message)]
        busy = self._busy()
        if busy != self._busy_shown:
            self._busy_shown = busy
            touched.append(("busy",))
        if not touched:
            return None
        views = {"run": self.run.snapshot(), "board": self.board.snapshot(), "busy": busy}
        self.seq += 1
        changes = [(list(path), _value_at(views, path)) for path in _outermost(touched)]
        return ViewPatch(seq=self.seq, changes=changes, at=float(message.get("at", time.time()))).message()

    def snapshot(self, clients: int = 0) -> dict[str, Any]:
        """The ``Snapshot`` message of everything the page shows now."""
        return Snapshot(seq=self.seq, run=self.run.snapshot(), board=self.board.snapshot(), busy=self._busy(),
                        clients=clients).message()
