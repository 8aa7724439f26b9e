"""A capture host's process for the studio-bus tests: its sim cameras, made as an agent makes them.

Run as ``python -m tests.integration._studio_bus_agent RIG HOST CAMERA...``. It prints one JSON line when its
cameras are connected, then answers one JSON line per command read from stdin:

- ``arm``: arm every camera for one exposure.
- ``exposures TIMEOUT``: per camera, the exposure the trigger made (pulse time, table angle) and how many
  files the camera delivered, or the error it raised.
- ``light OUTPUT UNIVERSE TIMEOUT``: the first 8 levels of the frame this process's studio received, once
  any level is non-zero (or the blackout at the timeout).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import capturerig
from capturerig.devices import Camera, DeviceError, DriverContext, create_camera
from capturerig_sim import SimCamera, VirtualStudio


def _exposures(cameras: dict[str, Camera], studio: VirtualStudio, timeout_s: float) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for camera_id, camera in cameras.items():
        record = studio.wait_for_exposure(camera_id, timeout_s)
        try:
            files = camera.wait_for_files(timeout_s)
        except DeviceError as exc:  # DeviceTimeout too: the test shows what the camera said
            result[camera_id] = {"error": str(exc)}
            continue
        assert record is not None
        result[camera_id] = {"fired_at": record.fired_at, "deg": record.turntable_deg, "files": len(files)}
    return result


def _light(studio: VirtualStudio, output_id: str, universe: int, timeout_s: float) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while True:
        levels = studio.held_frame(output_id, universe)
        if any(levels) or time.monotonic() > deadline:
            return list(levels[:8])
        time.sleep(0.02)


def main(argv: list[str]) -> None:
    rig_path, host, *camera_ids = argv
    rig = capturerig.load_rig(rig_path)
    context = DriverContext(rig.config, rig.path.parent, host=host)
    cameras = {camera_id: create_camera(rig.config.camera(camera_id), context) for camera_id in camera_ids}
    first = next(iter(cameras.values()))
    assert isinstance(first, SimCamera)
    studio = first.studio
    for camera in cameras.values():
        camera.connect(5.0)
    print(json.dumps({"ready": host, "role": studio.bus_role}), flush=True)
    for line in sys.stdin:
        command, *args = line.split()
        if command == "arm":
            for camera in cameras.values():
                camera.arm(5.0)
            answer: Any = {"armed": list(cameras)}
        elif command == "exposures":
            answer = _exposures(cameras, studio, float(args[0]))
        elif command == "light":
            answer = {"levels": _light(studio, args[0], int(args[1]), float(args[2]))}
        else:
            answer = {"error": f"unknown command {command!r}"}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
