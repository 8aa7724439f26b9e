"""A whole geometry-calibration capture of the virtual studio, rendered to a folder with its ground truth.

``render_calibration_capture`` writes ``out_dir/<camera_id>/<frame>.png`` (the layout ``capturerig calibrate
geometry --images`` reads: the same frame stem across cameras is the same instant) and ``out_dir/truth.json``
with every camera's true lens and pose and every frame's board pose, so a calibration can be scored. It can
also spoil the data on purpose: a camera knocked between the two halves of the capture, or a camera that sees
the board in one frame only.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import multiprocessing
import time
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from capturerig.calibration import BoardSpec
from capturerig.config import Intrinsics, LightingCondition, RigConfig
from capturerig.lighting import UniverseKey, frames_for_condition
from capturerig_sim._props import PlanarProp
from capturerig_sim._scene import CameraTruth, camera_truth
from capturerig_sim.calib_operator import ROOM_LIGHT, BoardPose, board_in_view, board_prop, plan_board_poses
from capturerig_sim.render import render_image

__all__ = [
    "BUMP_CENTRE_MM",
    "BUMP_ROTATION_DEG",
    "CALIBRATION_LIGHT",
    "CalibrationTruth",
    "frame_name",
    "render_calibration_capture",
]

BUMP_ROTATION_DEG = 0.5  # a camera knocked by a passing stand: small, but 20x what calibration must resolve
BUMP_CENTRE_MM = 4.0
# Every fixture white at 30 % with the house lights on (ROOM_LIGHT): a board held close to a camera faces
# away from the fixtures, so the room lights it; the board's white stays below clipping everywhere.
CALIBRATION_LIGHT = LightingCondition.model_validate(
    {"id": "calib", "name": "even white for calibration",
     "levels": {"*": {"intensity": 0.3, "red": 1.0, "green": 1.0, "blue": 1.0, "white": 1.0}}})
TRUTH_FILE = "truth.json"


def frame_name(index: int) -> str:
    """The stem of frame ``index``: ``f000``, ``f001`` ..."""
    return f"f{index:03d}"


def _matrix(values: Any) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)


def _truth_json(truth: CameraTruth) -> dict[str, Any]:
    intr = truth.intrinsics
    return {"serial": truth.serial, "width": intr.width, "height": intr.height, "K": intr.matrix().tolist(),
            "dist": intr.distortion().tolist(), "R": truth.rotation.tolist(), "t": truth.translation.tolist()}


def _truth_from_json(data: Mapping[str, Any]) -> CameraTruth:
    k = _matrix(data["K"])
    intrinsics = Intrinsics(width=int(data["width"]), height=int(data["height"]), fx=float(k[0, 0]),
                            fy=float(k[1, 1]), cx=float(k[0, 2]), cy=float(k[1, 2]),
                            dist=tuple(float(d) for d in data["dist"]))
    return CameraTruth(str(data["serial"]), intrinsics, _matrix(data["R"]), _matrix(data["t"]))


@dataclass(frozen=True)
class CalibrationTruth:
    """What a rendered calibration capture really was (``truth.json``).

    Attributes
    ----------
    board
        The board shown.
    cameras
        Every camera's true geometry at the start (``x_cam = R x_world + t``, rig world frame).
    board_poses
        Per frame stem, the board pose (``x_world = R x_board + t``), its kind and aimed camera.
    bumped_camera, bumped_from, bumped_truth
        A camera knocked before frame ``bumped_from``, and its geometry from then on (or None).
    lone_camera, lone_frame
        A camera that sees the board only in ``lone_frame`` (or None).
    seconds
        Wall time the rendering took.
    """

    board: BoardSpec
    cameras: dict[str, CameraTruth]
    board_poses: dict[str, BoardPose]
    bumped_camera: str | None = None
    bumped_from: str | None = None
    bumped_truth: CameraTruth | None = None
    lone_camera: str | None = None
    lone_frame: str | None = None
    seconds: float = field(default=0.0, compare=False)

    @property
    def frames(self) -> list[str]:
        """Frame stems in shooting order."""
        return list(self.board_poses)

    def camera_at(self, camera_id: str, frame: str) -> CameraTruth:
        """The geometry of ``camera_id`` when ``frame`` was shot (a knocked camera changes half way)."""
        if camera_id == self.bumped_camera and self.bumped_truth is not None and self.bumped_from is not None \
                and self.frames.index(frame) >= self.frames.index(self.bumped_from):
            return self.bumped_truth
        return self.cameras[camera_id]

    def to_json(self) -> dict[str, Any]:
        """The JSON document written as ``truth.json``."""
        return {
            "board": self.board.model_dump(mode="json"),
            "convention": "cameras: x_cam = R x_world + t; board_poses: x_world = R x_board + t; metres",
            "cameras": {camera_id: _truth_json(truth) for camera_id, truth in self.cameras.items()},
            "board_poses": {frame: {"R": pose.rotation.tolist(), "t": pose.translation.tolist(), "kind": pose.kind,
                                    "camera": pose.camera} for frame, pose in self.board_poses.items()},
            "bumped": None if self.bumped_truth is None else {
                "camera": self.bumped_camera, "from_frame": self.bumped_from, **_truth_json(self.bumped_truth)},
            "lone": None if self.lone_camera is None else {"camera": self.lone_camera, "frame": self.lone_frame},
            "seconds": self.seconds,
        }

    @classmethod
    def load(cls, path: str | Path) -> CalibrationTruth:
        """Read a ``truth.json`` (or the folder holding it)."""
        path = Path(path)
        if path.is_dir():
            path = path / TRUTH_FILE
        data = json.loads(path.read_text(encoding="utf-8"))
        bumped, lone = data.get("bumped"), data.get("lone")
        return cls(
            board=BoardSpec.model_validate(data["board"]),
            cameras={camera_id: _truth_from_json(item) for camera_id, item in data["cameras"].items()},
            board_poses={frame: BoardPose(_matrix(item["R"]), _matrix(item["t"]), str(item["kind"]), item["camera"])
                         for frame, item in data["board_poses"].items()},
            bumped_camera=None if bumped is None else str(bumped["camera"]),
            bumped_from=None if bumped is None else str(bumped["from_frame"]),
            bumped_truth=None if bumped is None else _truth_from_json(bumped),
            lone_camera=None if lone is None else str(lone["camera"]),
            lone_frame=None if lone is None else str(lone["frame"]),
            seconds=float(data.get("seconds", 0.0)),
        )


def _bumped(truth: CameraTruth, seed: int) -> CameraTruth:
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(f"bump:{seed}:{truth.serial}".encode()).digest()[:8],
                                               "little"))
    axis = rng.standard_normal(3)
    delta, _ = cv2.Rodrigues(axis / np.linalg.norm(axis) * math.radians(BUMP_ROTATION_DEG))
    direction = rng.standard_normal(3)
    centre = truth.centre + direction / np.linalg.norm(direction) * BUMP_CENTRE_MM / 1000.0
    rotation = np.asarray(delta @ truth.rotation, dtype=np.float64)
    return CameraTruth(truth.serial, truth.intrinsics, rotation, np.asarray(-rotation @ centre, dtype=np.float64))


@functools.lru_cache(maxsize=2)
def _prop(board: BoardSpec) -> PlanarProp:
    return board_prop(board)


@dataclass(frozen=True)
class _FrameJob:
    rig: RigConfig
    board: BoardSpec
    frame: str
    pose: BoardPose
    truths: dict[str, CameraTruth]
    hidden_from: frozenset[str]  # cameras that do not see the board in this frame
    light: dict[UniverseKey, bytes]
    out_dir: Path
    colour: bool


def _noise_seed(serial: str, frame: str) -> int:
    return int.from_bytes(hashlib.sha256(f"calib-noise:{serial}:{frame}".encode()).digest()[:8], "little")


def _render_frame(job: _FrameJob) -> None:
    board = _prop(job.board).moved_to(job.pose.rotation, job.pose.translation)
    for camera in job.rig.cameras:
        props = () if camera.id in job.hidden_from else (board,)
        image = render_image(camera, job.rig, job.light, 0.0, noise_seed=_noise_seed(camera.serial, job.frame),
                             props=props, subject_present=False, truth=job.truths[camera.id], room_light=ROOM_LIGHT)
        written = image if job.colour else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        path = job.out_dir / camera.id / f"{job.frame}.png"
        # Fast PNG compression: the files are big either way, and zlib's default level costs more than the render.
        if not cv2.imwrite(str(path), written, [cv2.IMWRITE_PNG_COMPRESSION, 1]):
            raise OSError(f"{path}: could not write the image")


def render_calibration_capture(rig: RigConfig, board: BoardSpec, out_dir: str | Path, frames: int = 40,
                               seed: int = 0, bumped_camera: str | None = None, lone_camera: str | None = None,
                               *, workers: int = 2, colour: bool = False,
                               base_dir: Path | None = None) -> CalibrationTruth:
    """Render a calibration capture of every camera of ``rig`` with the simulated operator's board.

    Parameters
    ----------
    rig
        The studio; its ``simulation.truth`` makes the true cameras differ from the rig file.
    board
        The ChArUco board the operator carries.
    out_dir
        Folder to fill (created): ``<camera_id>/<frame>.png`` (8-bit grey, or BGR with ``colour``) and
        ``truth.json``.
    frames
        Board positions (see :func:`capturerig_sim.calib_operator.plan_board_poses`).
    seed
        The operator's choice of positions.
    bumped_camera
        A camera knocked (about 0.5 deg and 4 mm) before the second half of the frames.
    lone_camera
        A camera that sees the board in one frame only (something blocks its view the rest of the time).
    workers
        Processes rendering frames in parallel (1: render in this process).
    base_dir
        Where the rig's relative fixture-profile paths resolve.

    Raises
    ------
    ValueError
        For an unknown camera id, too few frames, or a lone camera that never sees the board.
    """
    started = time.perf_counter()
    out = Path(out_dir)
    for camera_id in (bumped_camera, lone_camera):
        if camera_id is not None:
            rig.camera(camera_id)  # raises KeyError naming the rig and the camera
    poses = plan_board_poses(rig, board, frames, seed)
    names = [frame_name(index) for index in range(frames)]
    start_truths = {camera.id: camera_truth(camera, rig) for camera in rig.cameras}
    bump_from = names[frames // 2] if bumped_camera is not None else None
    bump_truth = _bumped(start_truths[bumped_camera], seed) if bumped_camera is not None else None
    lone_frame = None
    if lone_camera is not None:
        seen = [name for name, pose in zip(names, poses, strict=True)
                if pose.kind == "sweep" and board_in_view(board, pose, start_truths[lone_camera])]
        if not seen:
            raise ValueError(f"{lone_camera} never sees the board in these {frames} frames; choose another camera")
        lone_frame = seen[len(seen) // 2]
    light = frames_for_condition(rig, CALIBRATION_LIGHT, base_dir)
    for camera in rig.cameras:
        (out / camera.id).mkdir(parents=True, exist_ok=True)
    jobs = []
    for index, (name, pose) in enumerate(zip(names, poses, strict=True)):
        truths = dict(start_truths)
        if bumped_camera is not None and bump_truth is not None and index >= frames // 2:
            truths[bumped_camera] = bump_truth
        hidden = frozenset({lone_camera}) if lone_camera is not None and name != lone_frame else frozenset()
        jobs.append(_FrameJob(rig, board, name, pose, truths, hidden, light, out, colour))
    if workers <= 1:
        for job in jobs:
            _render_frame(job)
    else:
        # fork: a script calling this needs no ``if __name__ == "__main__"`` guard; the workers only render and
        # write files, touching none of the locks or threads the caller may hold.
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            list(pool.map(_render_frame, jobs))
    truth = CalibrationTruth(board, start_truths, dict(zip(names, poses, strict=True)), bumped_camera, bump_from,
                             bump_truth, lone_camera, lone_frame, time.perf_counter() - started)
    (out / TRUTH_FILE).write_text(json.dumps(truth.to_json(), indent=1) + "\n", encoding="utf-8")
    return truth
