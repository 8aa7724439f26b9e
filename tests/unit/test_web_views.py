"""The panel's run view: the hold/relax cue for the subject, failed takes with their reasons, and the tiles."""

from __future__ import annotations

from typing import Any

from capturerig.web._views import DeviceBoard, RunView

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
