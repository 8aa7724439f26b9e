"""The dashboard's rig map (where each device is, from the rig file and the accepted calibration) and what the
device board keeps for the map and the tiles: trigger box and turntable, the sync verdict, each camera's last
image."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from capturerig.calibration import CameraGeometry, Geometry
from capturerig.calibration._board import BoardSpec
from capturerig.config import LoadedRig
from capturerig.web._rigmap import MARGIN_M, NOT_IN_RIG_FILE, build_rig_map, row_positions
from capturerig.web._views import DeviceBoard

RIG_ID = "sim-studio"


def _items(loaded: LoadedRig, calibration_dir: Path | None = None) -> dict[str, dict[str, Any]]:
    return {item["id"]: item for item in build_rig_map(loaded, RIG_ID, calibration_dir).as_dict()["items"]}


def test_cameras_and_lights_stand_where_the_rig_file_puts_them_and_cameras_look_at_their_look_at(
        loaded: LoadedRig) -> None:
    items = _items(loaded)
    for camera in loaded.config.cameras:
        item = items[camera.id]
        assert item["placed"] == "rig file"
        assert item["position"] == pytest.approx(camera.pose.position, abs=1e-4)
        assert (item["top"], item["side"]) == ([item["position"][0], item["position"][1]],
                                               [item["position"][0], item["position"][2]])
        wanted = np.subtract(camera.pose.look_at, camera.pose.position)
        assert item["facing"] == pytest.approx(wanted / np.linalg.norm(wanted), abs=1e-4)
        assert item["top_dir"] == item["facing"][:2]
        assert item["side_dir"] == [item["facing"][0], item["facing"][2]]
        assert item["group"] == camera.group
    for fixture in loaded.config.fixtures:
        assert items[fixture.id]["position"] == pytest.approx(fixture.position, abs=1e-4)
        assert items[fixture.id]["facing"] is None
    assert loaded.config.turntable is not None
    table = items[loaded.config.turntable.id]
    assert (table["position"], table["placed"]) == ([0.0, 0.0, 0.0], "rig frame origin")


def test_devices_the_rig_file_does_not_place_stand_in_a_row_in_front_and_say_so(loaded: LoadedRig) -> None:
    items = _items(loaded)
    assert loaded.config.trigger is not None
    unplaced = [items[loaded.config.trigger.id]] + [items[o.id] for o in loaded.config.light_outputs]
    reach = max(np.hypot(*items[c.id]["top"]) for c in loaded.config.cameras)
    for item in unplaced:
        assert item["placed"] == NOT_IN_RIG_FILE
        assert "position not in the rig file" in item["note"]
        assert item["top"][1] < -reach  # in front of every camera, never among them
        assert item["side"] is None  # no height in the rig file either: the side view leaves it out
    assert len({tuple(item["top"]) for item in unplaced}) == len(unplaced)
    assert row_positions(1, 2.0) == [(0.0, -2.6, 0.0)]
    assert row_positions(3, 2.0) == [(-2.0, -2.6, 0.0), (0.0, -2.6, 0.0), (2.0, -2.6, 0.0)]


def test_each_view_s_bounds_hold_every_item_with_a_margin(loaded: LoadedRig) -> None:
    rig_map = build_rig_map(loaded, RIG_ID).as_dict()
    for view in ("top", "side"):
        low_u, low_v, high_u, high_v = rig_map["views"][view]["bounds"]
        points = [item[view] for item in rig_map["items"] if item[view] is not None]
        assert min(p[0] for p in points) - low_u == pytest.approx(MARGIN_M)
        assert high_v - max(p[1] for p in points) == pytest.approx(MARGIN_M)
        assert all(low_u < u < high_u and low_v < v < high_v for u, v in points)


def shifted_geometry(loaded: LoadedRig, gauge: str = "rig") -> Geometry:
    """cam00 calibrated 5 cm off its nominal centre, looking 10 degrees further up; no other camera solved."""
    nominal = loaded.config.camera("cam00").pose
    forward = np.subtract(nominal.look_at, nominal.position)
    forward /= np.linalg.norm(forward)
    tilt = np.radians(10.0)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    forward = np.cos(tilt) * forward + np.sin(tilt) * up
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    rotation = np.stack([right, np.cross(forward, right), forward])
    centre = np.add(nominal.position, [0.0, 0.05, 0.0])
    t = -rotation @ centre
    camera = CameraGeometry.model_validate({
        "width": 480, "height": 640, "K": [[700.0, 0.0, 240.0], [0.0, 700.0, 320.0], [0.0, 0.0, 1.0]],
        "dist": [0.0] * 5, "R": rotation.tolist(), "t": t.tolist(), "rms_px": 0.31, "views_used": 12})
    board = BoardSpec(squares_x=7, squares_y=5, square_length_m=0.04, marker_length_m=0.03)
    return Geometry(rig=loaded.config.name, id="sim-studio-test", board=board, created="2026-12-06T10:00:00Z",
                    gauge=gauge, passed=True, verdicts=(), cameras={"cam00": camera})


def _accept(calibration_dir: Path, loaded: LoadedRig, text: str) -> None:
    folder = calibration_dir / loaded.config.name
    folder.mkdir(parents=True)
    (folder / "geometry.json").write_text(text, encoding="utf-8")


def test_an_accepted_calibration_moves_its_cameras_to_their_calibrated_poses(loaded: LoadedRig,
                                                                             tmp_path: Path) -> None:
    geometry = shifted_geometry(loaded)
    _accept(tmp_path, loaded, geometry.to_json())
    rig_map = build_rig_map(loaded, RIG_ID, tmp_path).as_dict()
    assert rig_map["calibration"]["used"]
    assert rig_map["calibration"]["id"] == "sim-studio-test"
    assert rig_map["problem"] is None
    items = {item["id"]: item for item in rig_map["items"]}
    solved = items["cam00"]
    assert solved["placed"] == "calibration"
    assert "0.31 px" in solved["note"]
    assert solved["position"] == pytest.approx(np.add(loaded.config.camera("cam00").pose.position, [0, 0.05, 0]),
                                               abs=1e-4)
    assert solved["facing"] == pytest.approx(geometry.cameras["cam00"].rotation()[2], abs=1e-4)
    assert solved["facing"][2] > _items(loaded)["cam00"]["facing"][2]  # looks further up than its nominal pose
    assert items["cam01"]["placed"] == "rig file"
    assert "not in the accepted calibration" in items["cam01"]["note"]


def test_a_calibration_in_a_camera_s_frame_is_not_drawn_in_the_rig_frame(loaded: LoadedRig, tmp_path: Path) -> None:
    _accept(tmp_path, loaded, shifted_geometry(loaded, gauge="camera:cam00").to_json())
    rig_map = build_rig_map(loaded, RIG_ID, tmp_path).as_dict()
    assert not rig_map["calibration"]["used"]
    assert "camera:cam00, not the rig frame" in rig_map["calibration"]["note"]
    assert {item["placed"] for item in rig_map["items"] if item["kind"] == "camera"} == {"rig file"}


def test_an_unreadable_calibration_is_a_problem_naming_the_file_and_the_map_still_draws(
        loaded: LoadedRig, tmp_path: Path) -> None:
    _accept(tmp_path, loaded, json.dumps({"schema": "capturerig.geometry/1", "cameras": "?"}))
    rig_map = build_rig_map(loaded, RIG_ID, tmp_path).as_dict()
    problem = rig_map["problem"]
    assert problem["what"] == "the rig's accepted geometry calibration cannot be read"
    assert str(tmp_path / loaded.config.name / "geometry.json") in problem["where"]
    assert "Calibration page" in problem["todo"]
    assert len([i for i in rig_map["items"] if i["kind"] == "camera"]) == len(loaded.config.cameras)


def test_the_board_keeps_trigger_box_and_turntable_tiles_from_preflight_and_the_session() -> None:
    board = DeviceBoard(rigs={"studio": {"trigger": "trig0", "turntable": "tt0"}})
    assert (board.tiles["trig0"]["device"], board.tiles["trig0"]["state"], board.tiles["trig0"]["link"]) == (
        "trigger", "unknown", None)
    board.apply({"kind": "PreflightResult", "session": "panel", "device_id": "trig0", "ok": True, "detail": "open",
                 "at": 5.0})
    board.apply({"kind": "PreflightResult", "session": "panel", "device_id": "tt0", "ok": True, "detail": "homed",
                 "at": 6.0})
    assert (board.tiles["trig0"]["link"], board.tiles["trig0"]["checked_at"]) == ("open", 5.0)
    assert {k: board.tiles["tt0"][k] for k in ("link", "homed", "angle_deg", "state")} == {
        "link": "open", "homed": True, "angle_deg": 0.0, "state": "ok"}

    board.apply({"kind": "RunStarted", "session": "s1", "info": {"rig": "studio"}, "takes": [], "status": {}})
    touched = board.apply({"kind": "StationReached", "session": "s1", "station_id": "s01", "angle_deg": 89.98,
                           "reached_at": 7.0, "at": 7.0})
    assert touched == [("tiles", "tt0")]
    assert (board.tiles["tt0"]["station"], board.tiles["tt0"]["angle_deg"]) == ("s01", 89.98)
    board.apply({"kind": "TriggerDispatched", "session": "s1", "take_id": "p00/s01/l00/b0", "attempt": 1,
                 "mode": "box", "fired_at": 8.0, "spread_s": 0.0, "per_camera": {"cam00": 0.0, "cam01": 0.0},
                 "latency_s": {"cam00": 0.0500, "cam01": 0.0512}, "at": 8.0})
    fire = board.tiles["trig0"]["last_fire"]
    assert (fire["take"], fire["mode"], fire["cameras"], fire["measured"]) == ("p00/s01/l00/b0", "box", 2, 2)
    assert fire["exposure_spread_ms"] == pytest.approx(1.2)
    assert fire["slowest"] == "cam01"


def test_a_sync_row_that_measured_nothing_is_not_measured_never_ok() -> None:
    board = DeviceBoard()
    board.apply({"kind": "PreflightResult", "session": "panel", "device_id": "sync", "ok": True, "at": 3.0,
                 "detail": "not measured yet: run `capturerig trigger test --rig rig.yaml`"})
    assert board.preflight["results"][-1]["verdict"] == "not measured"
    assert board.sync["verdict"] == "not measured"
    assert board.tiles["sync"]["state"] == "unknown"
    board.apply({"kind": "PreflightResult", "session": "panel", "device_id": "sync", "ok": True, "at": 4.0,
                 "detail": "exposure spread p50 0.12 ms, p99 0.40 ms over 20 fires (box, 2026-12-06 10:00)"})
    assert board.preflight["results"][-1]["verdict"] == "ok"
    assert board.sync["verdict"] == "ok"
    board.apply({"kind": "PreflightResult", "session": "panel", "device_id": "cam00", "ok": False, "at": 4.0,
                 "detail": "cam00: no answer"})
    assert board.preflight["results"][-1]["verdict"] == "failed"


def test_each_camera_keeps_its_last_shown_image_its_settings_and_when_it_was_checked() -> None:
    board = DeviceBoard()
    board.apply({"kind": "FileStored", "session": "s1", "take_id": "p00/s00/l00/b0", "camera_id": "cam00",
                 "path": "images/p00/cam00_a.jpg", "at": 9.0})
    board.apply({"kind": "FileStored", "session": "s1", "take_id": "p00/s00/l00/b0", "camera_id": "cam00",
                 "path": "images/p00/cam00_a.dng", "at": 9.5})  # RAW: kept as the last file, not shown
    tile = board.tiles["cam00"]
    assert tile["last_image"] == {"session": "s1", "path": "images/p00/cam00_a.jpg", "take": "p00/s00/l00/b0",
                                  "at": 9.0}
    assert tile["last_file"] == "images/p00/cam00_a.dng"
    board.apply({"kind": "DeviceStatus", "session": "panel", "id": "cam00", "connected": True, "at": 12.0,
                 "settings": {"iso": "100", "shutter": "1/125"}, "battery_percent": 80.0})
    assert (tile["settings"], tile["checked_at"], tile["state"]) == ({"iso": "100", "shutter": "1/125"}, 12.0, "ok")
    assert tile["last_image"]["path"] == "images/p00/cam00_a.jpg"  # a check shoots nothing: the image stays
