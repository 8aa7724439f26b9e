"""The panel's views, reduced once on the server: the hold/relax cue for the subject, failed takes with their
reasons, the tiles, and what a page holds (the snapshot plus the patches) replaying a recorded session."""

from __future__ import annotations

import json
from typing import Any

from capturerig.web._views import DeviceBoard, PanelViews, RunView, apply_changes
from tests.web._stream import CAMERAS, LIGHTS, POSES, load_stream

TAKES = [{"id": f"p00/s00/l0{i}/b0", "ordinal": i, "pose": "p00", "station": "s00", "lighting": f"l0{i}",
          "lighting_name": f"l0{i}", "bracket": "b0", "cameras": ["cam00", "cam01"]} for i in range(2)]


def _started(view: RunView) -> None:
    view.apply({"kind": "RunStarted", "session": "s", "at": 1.0, "takes": TAKES, "status": {},
                "info": {"name": "s", "subject": "S-1", "hold_expected_s": {"p00": 3.5},
                         "cameras": ["cam00", "cam01"]}})


def _m(kind: str, at: float, **fields: Any) -> dict[str, Any]:
    return {"kind": kind, "session": "s", "at": at, **fields}


def test_the_subject_holds_from_the_pose_start_until_its_last_take_is_verified() -> None:
    view = RunView()
    _started(view)
    assert view.hold["state"] == "relax"
    view.apply(_m("StateChanged", 2.0, state="running"))
    view.apply(_m("PoseStarted", 3.0, pose_id="p00", description="A-pose"))
    assert view.hold == {"state": "hold", "pose_id": "p00", "since": 3.0, "expected_s": 3.5, "description": "A-pose"}
    view.apply(_m("TakeStarted", 3.1, take_id=TAKES[0]["id"], ordinal=0, total=2, attempt=1))
    view.apply(_m("FileStored", 3.2, take_id=TAKES[0]["id"], camera_id="cam01", path="images/a.jpg"))
    assert view.arrivals == {"cam01": "images/a.jpg"}
    view.apply(_m("TakeVerified", 3.3, take_id=TAKES[0]["id"], ordinal=0, total=2, attempt=1))
    assert view.hold["state"] == "hold"  # one take of the pose is still to come
    view.apply(_m("TakeStarted", 3.4, take_id=TAKES[1]["id"], ordinal=1, total=2, attempt=1))
    assert view.arrivals == {"cam01": "images/a.jpg"}  # shown until the next take's files land
    view.apply(_m("FileStored", 3.5, take_id=TAKES[1]["id"], camera_id="cam00", path="images/b.jpg"))
    assert view.arrivals == {"cam00": "images/b.jpg"}
    assert view.snapshot()["arrivals_take"] == TAKES[1]["id"]
    view.apply(_m("TakeVerified", 3.9, take_id=TAKES[1]["id"], ordinal=1, total=2, attempt=1))
    assert view.hold["state"] == "relax"
    assert view.hold["since"] == 3.9


def test_pausing_tells_the_subject_to_relax_and_a_failed_take_keeps_its_reason() -> None:
    view = RunView()
    _started(view)
    view.apply(_m("PoseStarted", 3.0, pose_id="p00", description=""))
    view.apply(_m("TakeStarted", 3.1, take_id=TAKES[0]["id"], ordinal=0, total=2, attempt=1))
    view.apply(_m("TakeFailed", 3.2, take_id=TAKES[0]["id"], attempt=1, error="take x: cam01: corrupt",
                  will_retry=True))
    assert view.status[TAKES[0]["id"]]["status"] == "retrying"
    view.apply(_m("StateChanged", 3.3, state="paused"))
    assert view.hold["state"] == "relax"
    view.apply(_m("TakeFailed", 3.4, take_id=TAKES[0]["id"], attempt=3, error="take x: cam01: corrupt",
                  will_retry=False))
    assert view.status[TAKES[0]["id"]] | {"files": {}} == {"status": "failed", "attempt": 3, "ordinal": 0,
                                                          "error": "take x: cam01: corrupt", "files": {}}
    view.apply({"kind": "TakeStarted", "session": "other", "take_id": "x", "ordinal": 0, "attempt": 1})
    assert view.current_take == TAKES[0]["id"]  # another session's events do not touch this view


def test_a_failed_take_names_its_camera_on_the_camera_tile() -> None:
    board = DeviceBoard()
    for camera in ("cam01", "cam11"):
        board.apply({"kind": "DeviceStatus", "id": camera, "connected": True})
    board.apply({"kind": "TakeFailed", "take_id": "p00/s00/l00/b0",
                 "error": "take p00/s00/l00/b0: cam11: download timed out; cam01x: other"})
    assert board.tiles["cam11"]["last_error"] == "p00/s00/l00/b0: download timed out"
    assert board.tiles["cam01"]["last_error"] is None


# -- the views reduced once: what a page holds is the server's snapshot plus its patches -------------------------
def _wire(message: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(json.dumps(message, default=str))
    return result


def _shown(views: dict[str, Any]) -> dict[str, Any]:
    """What a page renders of a snapshot (not when it was taken, nor how many pages are open)."""
    return {key: value for key, value in views.items() if key not in ("kind", "at", "clients")}


class _Page:
    """An open page: the snapshot it got on connecting, then each patch applied as static/panel.js applies it."""

    def __init__(self, views: PanelViews) -> None:
        self.views = _wire(views.snapshot())
        self.seq: int = self.views["seq"]

    def receive(self, patch: dict[str, Any] | None) -> None:
        if patch is None:
            return
        patch = _wire(patch)
        assert patch["kind"] == "ViewPatch"
        assert patch["seq"] == self.seq + 1, "patches are numbered one after another"
        apply_changes(self.views, patch["changes"])
        self.seq = self.views["seq"] = patch["seq"]

    @property
    def run(self) -> dict[str, Any]:
        run: dict[str, Any] = self.views["run"]
        return run


def test_a_recorded_session_replayed_through_the_server_shows_the_page_each_cue_take_and_tile() -> None:
    stream = load_stream()
    views = PanelViews()
    page = _Page(views)
    cues: list[tuple[str, str, str | None]] = []  # (message, cue, pose awaiting confirmation) as the page shows
    hold_changes: list[tuple[float, str]] = []  # (since, hold/relax) as the page shows
    fired: list[tuple[str, float]] = []
    statuses: dict[str, list[str]] = {}
    for message in stream:
        page.receive(views.apply(message))
        assert _shown(page.views) == _shown(_wire(views.snapshot())), f"after {message['kind']}"
        run, kind = page.run, message["kind"]
        if not hold_changes or hold_changes[-1] != (run["hold"]["since"], run["hold"]["state"]):
            hold_changes.append((run["hold"]["since"], run["hold"]["state"]))
        if kind in ("StateChanged", "PoseConfirmRequest", "PoseStarted", "TakeStarted", "TakeFailed", "TakeVerified"):
            subject = message.get("take_id") or message.get("pose_id") or message.get("state")
            cues.append((f"{kind} {subject}", f"{run['hold']['state']} {run['hold']['pose_id']}",
                         (run["awaiting_pose"] or {}).get("pose_id")))
        if kind == "TakeStarted":
            assert run["current_take"] == message["take_id"]
        if kind in ("TakeStarted", "TakeFailed", "TakeVerified"):
            statuses.setdefault(message["take_id"], []).append(run["status"][message["take_id"]]["status"])
        if kind == "TriggerDispatched":
            fired.append((message["take_id"], message["fired_at"]))

    assert cues == [
        ("StateChanged preflight", "relax None", None),
        ("StateChanged running", "relax None", None),
        ("PoseConfirmRequest p00", "relax None", "p00"),  # the operator is asked first; the subject relaxes
        ("PoseStarted p00", "hold p00", None),
        ("TakeStarted p00/s00/l00/b0", "hold p00", None),
        ("TakeStarted p00/s00/l01/b0", "hold p00", None),
        ("TakeFailed p00/s00/l00/b0", "hold p00", None),
        ("TakeStarted p00/s00/l00/b0", "hold p00", None),
        ("TakeVerified p00/s00/l01/b0", "hold p00", None),
        ("StateChanged paused", "relax p00", None),
        ("StateChanged running", "relax p00", None),  # resumed: the pose is confirmed again ...
        ("PoseConfirmRequest p00", "relax p00", "p00"),
        ("PoseStarted p00", "hold p00", None),  # ... and the subject told to hold again before the next exposure
        ("TakeVerified p00/s00/l00/b0", "hold p00", None),
        ("TakeStarted p00/s00/l02/b0", "hold p00", None),
        ("TakeVerified p00/s00/l02/b0", "relax p00", None),  # the pose's last take is proven: relax
        ("PoseConfirmRequest p01", "relax p00", "p01"),
        ("PoseStarted p01", "hold p01", None),
        ("TakeStarted p01/s00/l00/b0", "hold p01", None),
        ("TakeStarted p01/s00/l01/b0", "hold p01", None),
        ("TakeVerified p01/s00/l00/b0", "hold p01", None),
        ("TakeStarted p01/s00/l02/b0", "hold p01", None),
        ("TakeVerified p01/s00/l01/b0", "hold p01", None),
        ("TakeVerified p01/s00/l02/b0", "relax p01", None),
        ("StateChanged done", "relax p01", None),
    ]
    # Every exposure happened while the page said HOLD (the cue as it changed, against the cameras' fire times).
    for take_id, at in fired:
        cue = [state for since, state in hold_changes if since is not None and since <= at][-1]
        assert cue == "hold", f"{take_id} fired at {at} while the page said {cue}"
    assert len(fired) == 7

    run = page.run
    assert statuses["p00/s00/l00/b0"] == ["running", "retrying", "running", "verified"]
    assert statuses["p01/s00/l02/b0"] == ["running", "verified"]
    assert [t["id"] for t in run["takes"]] == [f"{p}/s00/{light}/b0" for p in POSES for light in LIGHTS]
    assert {take_id: (entry["status"], entry["attempt"], len(entry["files"])) for take_id, entry in
            run["status"].items()} == {t["id"]: ("verified", 2 if t["id"] == "p00/s00/l00/b0" else 1, CAMERAS)
                                       for t in run["takes"]}
    assert (run["state"], run["current_take"], run["running"], run["awaiting_pose"]) == ("done", None, False, None)
    assert run["result"]["takes_verified"] == 6
    assert run["arrivals_take"] == "p01/s00/l02/b0"
    assert len(run["arrivals"]) == CAMERAS
    assert run["messages"][-1]["text"].startswith("sync over 7 takes")

    board = page.views["board"]
    assert board["tiles"]["cam05"]["state"] == "ok"  # unplugged at the check, back for the preflight ...
    assert "not found" in board["tiles"]["cam05"]["last_error"]  # ... its error kept as history
    assert board["tiles"]["cam03"]["last_error"].startswith("p00/s00/l00/b0: cam03_p00_s00_l00.jpg")
    assert board["tiles"]["cam00"]["last_file"] == run["status"]["p01/s00/l02/b0"]["files"]["cam00"]
    assert board["preflight"]["ok"] is True
    assert board["lights"]["scene"] == "blackout"


def test_after_a_pause_the_pose_announced_again_shows_hold_before_the_next_exposure() -> None:
    views = PanelViews()
    page = _Page(views)
    for message in (
            {"kind": "RunStarted", "session": "s", "at": 1.0, "takes": TAKES, "status": {},
             "info": {"name": "s", "subject": "S-1", "hold_expected_s": {"p00": 3.5}, "cameras": ["cam00", "cam01"]}},
            _m("StateChanged", 2.0, state="running"),
            _m("PoseStarted", 3.0, pose_id="p00", description="A-pose"),
            _m("TakeStarted", 3.1, take_id=TAKES[0]["id"], ordinal=0, total=2, attempt=1),
            _m("TakeVerified", 3.3, take_id=TAKES[0]["id"], ordinal=0, total=2, attempt=1),
            _m("StateChanged", 4.0, state="paused")):
        page.receive(views.apply(message))
    assert page.run["hold"]["state"] == "relax"
    page.receive(views.apply(_m("StateChanged", 9.0, state="running", reason="resumed")))
    assert page.run["hold"]["state"] == "relax"  # not yet: the engine announces the pose (and asks) first
    page.receive(views.apply(_m("PoseConfirmRequest", 9.1, pose_id="p00", description="A-pose")))
    # A request without prompt fields (a recorded stream from before the clean plates) is a plain pose.
    assert page.run["awaiting_pose"] == {"pose_id": "p00", "description": "A-pose", "kind": "pose", "title": "",
                                         "question": ""}
    page.receive(views.apply(_m("PoseConfirmAnswered", 9.5, pose_id="p00", confirmed=True)))
    page.receive(views.apply(_m("PoseStarted", 9.6, pose_id="p00", description="A-pose")))
    assert page.run["hold"] == {"state": "hold", "pose_id": "p00", "since": 9.6, "expected_s": 3.5,
                                "description": "A-pose"}
    page.receive(views.apply(_m("TakeStarted", 9.7, take_id=TAKES[1]["id"], ordinal=1, total=2, attempt=1)))
    assert page.run["hold"]["state"] == "hold"
    assert page.run["current_take"] == TAKES[1]["id"]
    assert _shown(page.views) == _shown(_wire(views.snapshot()))


def test_a_take_that_starts_after_a_resume_without_its_pose_announced_still_shows_hold() -> None:
    view = RunView()
    _started(view)
    view.apply(_m("StateChanged", 2.0, state="running"))
    view.apply(_m("PoseStarted", 3.0, pose_id="p00", description="A-pose"))
    view.apply(_m("StateChanged", 4.0, state="paused"))
    view.apply(_m("StateChanged", 5.0, state="running", reason="resumed"))
    view.apply(_m("TakeStarted", 5.1, take_id=TAKES[1]["id"], ordinal=1, total=2, attempt=1))
    assert view.hold == {"state": "hold", "pose_id": "p00", "since": 5.1, "expected_s": 3.5, "description": "A-pose"}


def test_a_message_that_changes_no_view_sends_no_patch_and_the_rig_owner_travels_in_one() -> None:
    owner: list[str | None] = [None]
    views = PanelViews(busy=lambda: owner[0])
    page = _Page(views)
    assert views.apply(_m("TakeStarted", 1.0, take_id="x", ordinal=0, total=1, attempt=1)) is None  # no run yet
    assert views.apply({"kind": "TriggerDispatched", "session": "s", "take_id": "x"}) is None
    assert views.seq == 0
    owner[0] = "session for S-1"
    patch = views.apply({"kind": "RunStarted", "session": "s", "at": 1.0, "takes": TAKES, "status": {},
                         "info": {"name": "s", "subject": "S-1", "cameras": []}})
    assert patch is not None
    assert [path for path, _ in patch["changes"]] == [["run"], ["busy"]]
    page.receive(patch)
    assert page.views["busy"] == "session for S-1"
    assert page.run["running"] is True
