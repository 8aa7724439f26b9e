"""The panel's message vocabulary: every ``kind`` a panel client receives over ``/ws``.

Two families travel on the socket. The engine's events (:class:`capturerig.engine.Event` and its subclasses,
sent as :func:`capturerig.web.event_message` makes them) say what the rig did. The messages below are the
panel's own: what the web layer adds around a run (``RunStarted``, the pose confirmation, ``RunFinished``),
what its device work finds (``DeviceStatus``, ``HostStatus``, the preflight button, ``LightsSet``), and the
three that carry the views to the browser (``Snapshot``, ``ViewPatch``, ``ClientLagged``).
:func:`message_kinds` names them all; a test holds the server and ``static/panel.js`` to it.

The views are reduced once, on the server (:class:`capturerig.web._views.PanelViews`). A client gets a
``Snapshot`` of them when it connects (and again after it lost messages), then one ``ViewPatch`` after each
message that changed them. A patch carries the next sequence number and a list of ``[path, value]`` pairs:
set the value at that path (a list of keys from the snapshot's root, creating missing objects on the way).
A client applies a patch whose ``seq`` is one more than the last it has, ignores one it already has (its
snapshot included it), and reconnects on a gap (the server's queue dropped it). The page connects with
``/ws?events=false`` and gets the views only; other clients (tools, bench/web.py) get every message.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from capturerig import engine
from capturerig.engine import Event

__all__ = [
    "ENGINE_EVENTS",
    "PANEL_MESSAGES",
    "PANEL_SESSION",
    "ClientLagged",
    "DeviceStatus",
    "HostStatus",
    "LightsSet",
    "PanelMessage",
    "PoseConfirmAnswered",
    "PoseConfirmRequest",
    "PreflightFinished",
    "PreflightStarted",
    "RunFinished",
    "RunStarted",
    "Snapshot",
    "ViewPatch",
    "message_kinds",
]

PANEL_SESSION = "panel"  # the ``session`` of what the panel does outside a run (checks, preflight, lights)


@dataclass(frozen=True, kw_only=True)
class PanelMessage:
    """A message of the panel's own (not an engine event); :meth:`message` is what a client receives."""

    at: float = field(default_factory=time.time)

    @property
    def kind(self) -> str:
        return type(self).__name__

    def message(self) -> dict[str, Any]:
        """The JSON-ready message: ``kind`` and every field."""
        return {"kind": self.kind, **asdict(self)}


# -- around a run (web/_runs.py) ---------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class RunStarted(PanelMessage):
    """A run begins: what the contact sheet needs before the first file lands.

    ``status`` holds, for a re-shoot, what the journal already says of each take (status, attempt, error, files).
    """

    session: str
    info: dict[str, Any]
    takes: list[dict[str, Any]]
    status: dict[str, dict[str, Any]]


@dataclass(frozen=True, kw_only=True)
class PoseConfirmRequest(PanelMessage):
    """The run waits for the operator to confirm the subject holds ``pose_id`` -- or, for the clean plates
    (``prompt_kind`` ``plate``), that the rig is clear; ``subject_back``: the subject back in after the plates.
    ``title`` and ``question`` are the words to show (``capturerig.engine.pose_prompt``)."""

    session: str
    pose_id: str
    description: str
    prompt_kind: str = "pose"
    title: str = ""
    question: str = ""


@dataclass(frozen=True, kw_only=True)
class PoseConfirmAnswered(PanelMessage):
    """The operator answered (or the wait ended): ``confirmed`` False aborts the run."""

    session: str
    pose_id: str
    confirmed: bool


@dataclass(frozen=True, kw_only=True)
class RunFinished(PanelMessage):
    """The run's thread ended: its final state and counts, ``error`` when it did not end done."""

    session: str
    state: str
    takes_total: int
    takes_verified: int
    takes_shot_now: int
    error: str | None


# -- the panel's device work (web/_devices.py) -------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class DeviceStatus(PanelMessage):
    """What a camera check found; the fields after ``connected`` are None when the camera did not answer."""

    session: str = PANEL_SESSION
    id: str
    device: str
    driver: str
    expected_serial: str
    group: str
    connected: bool
    serial: str | None = None
    model: str | None = None
    battery_percent: float | None = None
    free_bytes: int | None = None
    drift: dict[str, dict[str, Any]] | None = None  # setting -> {"wanted": ..., "reads": ...}
    settings: dict[str, str] | None = None  # every setting as the camera read it back (iso, shutter ...)
    serial_ok: bool | None = None
    last_error: str | None = None


@dataclass(frozen=True, kw_only=True)
class HostStatus(PanelMessage):
    """What a check of one capture host's agent found (``devices.remote.check_hosts``).

    ``problem`` None: the host is good to go. The fields after ``problem`` are None when the agent did not
    answer. ``cameras`` are the rig's cameras on that host; ``agent_cameras`` those its agent serves.
    """

    session: str = PANEL_SESSION
    host: str
    url: str
    cameras: list[str]
    problem: str | None
    capturerig_version: str | None = None
    agent_cameras: list[str] | None = None
    clock_offset_ms: float | None = None
    round_trip_ms: float | None = None
    spool_files: int | None = None
    spool_bytes: int | None = None
    free_bytes: int | None = None
    reserve_bytes: int | None = None


@dataclass(frozen=True, kw_only=True)
class PreflightStarted(PanelMessage):
    """The preflight button: the engine's checks begin (each device's ``PreflightResult`` follows)."""

    session: str = PANEL_SESSION


@dataclass(frozen=True, kw_only=True)
class PreflightFinished(PanelMessage):
    session: str = PANEL_SESSION
    ok: bool
    problems: list[str]


@dataclass(frozen=True, kw_only=True)
class LightsSet(PanelMessage):
    """The lights page changed the lights: the levels now on each fixture and the governor's verdict.

    ``name`` is the scene's or state's name ("all red"), ``swatches`` each fixture's display colour
    (web/_lights_view.py), ``history`` the rig's latest light changes with their times, newest first.
    """

    session: str = PANEL_SESSION
    rig: str
    scene: str
    levels: dict[str, dict[str, float]]
    verdict: dict[str, Any]
    name: str = ""
    swatches: dict[str, dict[str, Any]] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)


# -- the views on the wire (web/_routes_studio.py, web/_views.py) ------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Snapshot(PanelMessage):
    """Everything a page shows, as of view sequence number ``seq``: first on every connection."""

    seq: int
    run: dict[str, Any]
    board: dict[str, Any]
    busy: str | None
    clients: int


@dataclass(frozen=True, kw_only=True)
class ViewPatch(PanelMessage):
    """What the last message changed in the views: set each ``[path, value]`` of ``changes``, in order."""

    seq: int
    changes: list[tuple[list[str], Any]]


@dataclass(frozen=True, kw_only=True)
class ClientLagged(PanelMessage):
    """This client read too slowly and lost ``dropped`` messages so far; a fresh ``Snapshot`` follows."""

    dropped: int


PANEL_MESSAGES: tuple[type[PanelMessage], ...] = (
    RunStarted, PoseConfirmRequest, PoseConfirmAnswered, RunFinished, DeviceStatus, HostStatus, PreflightStarted,
    PreflightFinished, LightsSet, Snapshot, ViewPatch, ClientLagged)

ENGINE_EVENTS: tuple[type[Event], ...] = tuple(
    member for name in engine.__all__ if isinstance(member := getattr(engine, name), type)
    and issubclass(member, Event) and member is not Event)


def message_kinds() -> frozenset[str]:
    """Every ``kind`` a panel client may receive: the engine's events and the panel's own messages."""
    return frozenset(c.__name__ for c in (*ENGINE_EVENTS, *PANEL_MESSAGES))
