"""A simulated technician who walks a ChArUco board through the studio for a geometry calibration.

Good practice, as calibration guides teach it: sweep the whole capture volume at several heights, facing the
board round the rings and tilting it, so that many cameras see each position at once (that ties the rig
together); and bring the board close to every camera in turn, tilted, so it fills that camera's image out to
the corners (that pins its lens). The technician aims with the cameras' true lenses and poses, as a person
aims by looking at the live view.

In the studio: :class:`CalibrationOperator` moves the board to its next position before a trigger whenever a
camera about to expose has already seen the current one (one position per take, whatever the trigger mode).
A rig enables it with ``simulation: {stage: calibration, operator: {board: studio-charuco, frames: 40,
seed: 0}}``, or the environment variable ``CAPTURERIG_SIM_STAGE=calibration`` does for any sim rig.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from capturerig.calibration import BoardSpec, load_board
from capturerig.config import RigConfig
from capturerig_sim._props import PlanarProp
from capturerig_sim._scene import CameraTruth, camera_truth
from capturerig_sim.studio import VirtualStudio

__all__ = [
    "BOARD_BLACK",
    "BOARD_WHITE",
    "ROOM_LIGHT",
    "STAGES",
    "STAGE_ENV",
    "BoardPose",
    "CalibrationOperator",
    "board_in_view",
    "board_prop",
    "close_up_rounds",
    "configure_stage",
    "plan_board_poses",
    "stage_of",
    "stage_settings",
]

STAGE_ENV = "CAPTURERIG_SIM_STAGE"
# The house lights a technician switches on to calibrate: a board held close to a camera faces away from the
# fixtures (they stand between the cameras and the subject) and would otherwise be lit by spill alone.
ROOM_LIGHT = 0.45
BOARD_WHITE = 0.70  # albedo of the print's white (matte paper under the studio's lights)
BOARD_BLACK = 0.04  # and of its black: printed black still reflects a little
DEFAULT_BOARD = "studio-charuco"
_PIXELS_PER_SQUARE = 96  # texture: several texels per image pixel even when the board fills an image
_SWEEP_HEIGHTS = (0.5, 1.45, 0.85, 1.75, 1.15)  # board centre heights (m) the sweep visits in turn
# How far from the turntable axis the sweep carries the board centre (m): far enough that the board also
# reaches the edges and corners of the cameras' images, not only their middle.
_SWEEP_REACH_M = 0.5
_MIN_SWEEP_VIEWERS = 3
_MAX_VIEW_ANGLE_DEG = 65.0
# A close-up keeps the whole board this share of the image size inside the image's edges (a person framing
# the board in the live view leaves a little room).
_CLOSE_UP_MARGIN = 0.01  # beyond this a board is too oblique for a person to call it "seen"

Float64Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class BoardPose:
    """Where the board is for one frame: ``x_world = rotation @ x_board + translation``.

    ``kind`` is ``"sweep"`` (in the capture volume, for many cameras) or ``"close-up"`` (filling the image
    of ``camera``).
    """

    rotation: Float64Array
    translation: Float64Array
    kind: str
    camera: str | None = None


def board_prop(board: BoardSpec, pixels_per_square: int = _PIXELS_PER_SQUARE) -> PlanarProp:
    """``board`` as a studio prop (at the world origin; move it with :meth:`PlanarProp.moved_to`)."""
    grey = board.render(pixels_per_square).astype(np.float32) / np.float32(255.0)
    albedo = np.float32(BOARD_BLACK) + np.float32(BOARD_WHITE - BOARD_BLACK) * grey
    width, height = board.size_m
    return PlanarProp(board.name, np.repeat(albedo[..., None], 3, axis=2), width, height, np.eye(3), np.zeros(3))


def _seeded(seed: int, what: str) -> np.random.Generator:
    digest = hashlib.sha256(f"operator:{seed}:{what}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _facing(towards: Float64Array, roll_rad: float) -> Float64Array:
    """Board rotation whose printed face (normal -z) looks along ``towards``, top edge up, then rolled."""
    z_axis = -towards / np.linalg.norm(towards)
    down = np.array([0.0, 0.0, -1.0])
    y_axis = down - (down @ z_axis) * z_axis
    if np.linalg.norm(y_axis) < 1e-6:  # facing straight up or down: any "down" in the plane will do
        y_axis = np.cross(z_axis, [1.0, 0.0, 0.0])
    y_axis /= np.linalg.norm(y_axis)
    x_axis = np.cross(y_axis, z_axis)
    rotation = np.column_stack([x_axis, y_axis, z_axis])
    roll, _ = cv2.Rodrigues(z_axis * roll_rad)
    return np.asarray(roll @ rotation, dtype=np.float64)


def _centred(board: BoardSpec, rotation: Float64Array, centre: Float64Array) -> BoardPose:
    width, height = board.size_m
    return BoardPose(rotation, centre - rotation @ np.array([width / 2.0, height / 2.0, 0.0]), "sweep")


def board_in_view(board: BoardSpec, pose: BoardPose, truth: CameraTruth) -> bool:
    """Whether the camera ``truth`` sees the whole board from its printed side, not too obliquely."""
    width, height = board.size_m
    outline = np.array([[0, 0, 0], [width, 0, 0], [width, height, 0], [0, height, 0]], dtype=np.float64)
    corners = outline @ pose.rotation.T + pose.translation
    towards = truth.centre - corners.mean(axis=0)
    cosine = -pose.rotation[:, 2] @ towards / np.linalg.norm(towards)
    if cosine < math.cos(math.radians(_MAX_VIEW_ANGLE_DEG)):
        return False
    in_camera = corners @ truth.rotation.T + truth.translation
    if np.any(in_camera[:, 2] < 0.2):
        return False
    intr = truth.intrinsics
    pixels, _ = cv2.projectPoints(in_camera, np.zeros(3), np.zeros(3), intr.matrix(), intr.distortion())
    u, v = pixels.reshape(-1, 2).T
    return bool(np.all((u > 0) & (u < intr.width - 1) & (v > 0) & (v < intr.height - 1)))


def _viewers(board: BoardSpec, pose: BoardPose, truths: Sequence[CameraTruth]) -> int:
    return sum(board_in_view(board, pose, truth) for truth in truths)


def _sweep(board: BoardSpec, truths: Sequence[CameraTruth], count: int, seed: int) -> list[BoardPose]:
    """Positions in the capture volume, facing round the rings, at several heights and tilts."""
    rng = _seeded(seed, "sweep")
    poses: list[BoardPose] = []
    for index in range(count):
        azimuth_base = 2.0 * math.pi * index / max(count, 1) + (index % 2) * math.pi / 8.0
        best: tuple[int, BoardPose] | None = None
        for _ in range(40):  # a person tries again when too few cameras can see the board
            azimuth = azimuth_base + rng.uniform(-0.25, 0.25)
            elevation = math.radians(rng.uniform(-20.0, 30.0))
            towards = np.array([math.cos(azimuth) * math.cos(elevation), math.sin(azimuth) * math.cos(elevation),
                                math.sin(elevation)])
            yaw = rng.uniform(-0.35, 0.35)  # the board turned a little about the vertical, as held
            turn, _ = cv2.Rodrigues(np.array([0.0, 0.0, yaw]))
            centre = np.array([rng.uniform(-_SWEEP_REACH_M, _SWEEP_REACH_M),
                               rng.uniform(-_SWEEP_REACH_M, _SWEEP_REACH_M),
                               _SWEEP_HEIGHTS[index % len(_SWEEP_HEIGHTS)] + rng.uniform(-0.1, 0.1)])
            pose = _centred(board, _facing(turn @ towards, math.radians(rng.uniform(-30.0, 30.0))), centre)
            seen = _viewers(board, pose, truths)
            if best is None or seen > best[0]:
                best = (seen, pose)
            if seen >= _MIN_SWEEP_VIEWERS:
                break
        assert best is not None
        poses.append(best[1])
    return poses


def _inside_image(board: BoardSpec, truth: CameraTruth, rotation_cam: Float64Array, on_axis: Float64Array,
                  distance: float) -> bool:
    """Whether the whole board, its point ``on_axis`` at ``distance`` on the axis, is inside the image."""
    intr = truth.intrinsics
    width, height = board.size_m
    steps = np.linspace(0.0, 1.0, 9)
    # Sample the outline, not just its corners: the lens bends the straight edges.
    zeros, ones = np.zeros(9), np.ones(9)
    outline = np.concatenate([np.stack([steps, zeros], 1), np.stack([ones, steps], 1), np.stack([steps, ones], 1),
                              np.stack([zeros, steps], 1)]) * [width, height]
    points = (np.column_stack([outline, np.zeros(len(outline))]) - on_axis) @ rotation_cam.T + [0.0, 0.0, distance]
    if np.any(points[:, 2] < 0.1):
        return False
    pixels, _ = cv2.projectPoints(points, np.zeros(3), np.zeros(3), intr.matrix(), intr.distortion())
    u, v = pixels.reshape(-1, 2).T
    margin = _CLOSE_UP_MARGIN * min(intr.width, intr.height)
    return bool(np.all((u > margin) & (u < intr.width - 1 - margin) & (v > margin) & (v < intr.height - 1 - margin)))


def _nearest_inside(board: BoardSpec, truth: CameraTruth, rotation_cam: Float64Array, on_axis: Float64Array) -> float:
    """The smallest distance at which the whole board still fits in the image (inf when it never does)."""
    near, far = 0.15, 4.0
    if not _inside_image(board, truth, rotation_cam, on_axis, far):
        return math.inf
    for _ in range(16):  # bisection, to a fraction of a millimetre
        middle = 0.5 * (near + far)
        near, far = (near, middle) if _inside_image(board, truth, rotation_cam, on_axis, middle) else (middle, far)
    return far


# The image corners a close-up is slid towards, in turn: (-1, -1) is the top left (u and v both small).
_CORNERS = ((-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0))
# Close-ups tilt this far (deg) about a diagonal of the image, so about both board axes at once: the
# foreshortening along both image axes is what separates the principal point from the camera's rotation.
_CLOSE_UP_TILT_DEG = (31.0, 38.0)
# A close-up's board covers at least this share of the image (a person fills the live view with it).
_CLOSE_UP_MIN_FILL = 0.52
# A sweep of this many positions ties the rig together; frames beyond it go to further close-up rounds.
_SWEEP_FRAMES = 24


def _outline_pixels(board: BoardSpec, truth: CameraTruth, rotation_cam: Float64Array,
                    position_cam: Float64Array) -> Float64Array:
    """The board's corners in the image, its origin at ``position_cam`` in the camera frame."""
    width, height = board.size_m
    outline = np.array([[0, 0, 0], [width, 0, 0], [width, height, 0], [0, height, 0]], dtype=np.float64)
    intr = truth.intrinsics
    pixels, _ = cv2.projectPoints(outline @ rotation_cam.T + position_cam, np.zeros(3), np.zeros(3), intr.matrix(),
                                  intr.distortion())
    return np.asarray(pixels.reshape(-1, 2), dtype=np.float64)


def _slid_to_corner(board: BoardSpec, truth: CameraTruth, rotation_cam: Float64Array, on_axis: Float64Array,
                    distance: float, corner: tuple[float, float]) -> Float64Array:
    """The board's origin (camera frame) with the board slid from the axis as far towards ``corner`` as fits."""
    intr = truth.intrinsics
    # One unit of slide moves the board's axis point to the image corner's direction at ``distance``.
    step = np.array([corner[0] * intr.width / (2.0 * intr.fx), corner[1] * intr.height / (2.0 * intr.fy), 0.0])
    base = np.array([0.0, 0.0, distance]) - rotation_cam @ on_axis

    def fits(amount: float) -> bool:
        shift = base + amount * distance * step
        return _inside_image(board, truth, rotation_cam, on_axis - rotation_cam.T @ (shift - base), distance)

    low, high = 0.0, 1.0
    if not fits(low):
        return base
    for _ in range(12):
        middle = 0.5 * (low + high)
        low, high = (middle, high) if fits(middle) else (low, middle)
    return np.asarray(base + low * distance * step, dtype=np.float64)


def _framed(board: BoardSpec, truth: CameraTruth, camera_id: str, axis_angle: float, tilt: float,
            roll_matrix: Float64Array, corner: tuple[float, float],
            factor: float) -> tuple[Float64Array, Float64Array, float]:
    """Board axes and origin in the camera frame, and the image share it covers, for one tilt."""
    width, height = board.size_m
    tilt_matrix, _ = cv2.Rodrigues(np.array([math.cos(axis_angle), math.sin(axis_angle), 0.0]) * tilt)
    rotation_cam = np.asarray(tilt_matrix @ roll_matrix, dtype=np.float64)  # board axes in the camera frame
    best_distance, best_point = math.inf, np.array([width / 2.0, height / 2.0, 0.0])
    for fx in np.linspace(0.35, 0.65, 3):
        for fy in np.linspace(0.35, 0.65, 3):
            point = np.array([fx * width, fy * height, 0.0])
            distance = _nearest_inside(board, truth, rotation_cam, point)
            if distance < best_distance:
                best_distance, best_point = distance, point
    if not math.isfinite(best_distance):
        raise ValueError(f"{camera_id}: the board {board.name} never fits in this camera's image")
    image_area = truth.intrinsics.width * truth.intrinsics.height
    # A little farther than the closest fit leaves room to slide towards the corner; step back in when the
    # board would cover too little of the image (and, failing that, keep the fullest view).
    best_fill, position = -1.0, np.array([0.0, 0.0, best_distance]) - rotation_cam @ best_point
    for scale in (factor, 1.0):
        candidate = _slid_to_corner(board, truth, rotation_cam, best_point, best_distance * scale, corner)
        outline = _outline_pixels(board, truth, rotation_cam, candidate).astype(np.float32)
        fill = cv2.contourArea(outline) / image_area
        if fill > best_fill:
            best_fill, position = fill, candidate
        if fill >= _CLOSE_UP_MIN_FILL:
            break
    return rotation_cam, position, best_fill


def _close_up(board: BoardSpec, truth: CameraTruth, camera_id: str, rng: np.random.Generator,
              round_index: int, corner_index: int) -> BoardPose:
    """The board close in front of ``truth``, strongly tilted, slid towards one corner of its image.

    Whole, every marker is found; close, it covers more than half the image; slid towards the corner
    ``corner_index`` (of :data:`_CORNERS`), its outer corners reach that corner of the image and the two
    edges beside it, where the lens distortion is strongest. It is tilted 31-38 deg about an image
    diagonal (less when so tilted it would cover too little of the image); the far side then looks
    smaller, so the technician first slides the board along it: the board point on the optical axis is
    chosen (from a small grid) to let it come closest. Successive rounds tilt it towards each diagonal.
    """
    portrait = truth.intrinsics.height > truth.intrinsics.width
    width, height = board.size_m
    roll = (math.pi / 2.0 if portrait == (width > height) else 0.0) + rng.uniform(-0.1, 0.1)
    # The tilt axis runs along a diagonal; round by round it turns a quarter, so each camera is seen tilted
    # each way, and it differs from the corner's diagonal (a board tilted away from the corner it reaches).
    diagonal = (corner_index + 1 + 2 * (round_index % 2)) % 4
    axis_angle = math.pi / 4.0 + diagonal * math.pi / 2.0 + rng.uniform(-0.2, 0.2)
    tilt = math.radians(rng.uniform(*_CLOSE_UP_TILT_DEG))
    roll_matrix = np.asarray(cv2.Rodrigues(np.array([0.0, 0.0, roll]))[0], dtype=np.float64)
    corner = _CORNERS[corner_index % len(_CORNERS)]
    factor = rng.uniform(1.03, 1.10)
    # Some tilts foreshorten the board so much that it cannot cover enough of the image: tilt a little less.
    for tilt_scale in (1.0, 0.9, 0.8):
        rotation_cam, position, fill = _framed(board, truth, camera_id, axis_angle, tilt * tilt_scale,
                                               roll_matrix, corner, factor)
        if fill >= _CLOSE_UP_MIN_FILL:
            break
    rotation = truth.rotation.T @ rotation_cam
    translation = truth.rotation.T @ (position - truth.translation)
    return BoardPose(np.asarray(rotation, dtype=np.float64), np.asarray(translation, dtype=np.float64), "close-up",
                     camera_id)


def close_up_rounds(frames: int, cameras: int) -> int:
    """How many close-ups each camera gets in a capture of ``frames`` frames.

    A short capture spends about 40 % of its frames on close-ups (at least one per camera); a longer one
    keeps a sweep of at least 24 positions and spends the rest on more close-ups, each tilted another way and
    slid to another corner of the image: those pin the lens, chiefly the principal point.
    """
    return max(1, round(0.4 * frames / max(cameras, 1)), (frames - _SWEEP_FRAMES) // max(cameras, 1))


def plan_board_poses(rig: RigConfig, board: BoardSpec, frames: int = 40, seed: int = 0,
                     cameras: Sequence[str] | None = None) -> list[BoardPose]:
    """The technician's board positions for ``frames`` frames, in the order they are shot.

    Close-ups go round the cameras (:func:`close_up_rounds` rounds as fit), the rest of the frames sweep the
    capture volume; close-ups are spread among the sweep positions, so each half of the capture has both.
    In round ``r`` camera ``k`` of the rig gets the board slid towards image corner ``(r + k) % 4``.

    Raises
    ------
    ValueError
        For fewer than 1 frame or a camera the rig does not have.
    """
    if frames < 1:
        raise ValueError(f"a calibration capture needs at least 1 frame, got {frames}")
    chosen = [rig.camera(camera_id) for camera_id in cameras] if cameras is not None else list(rig.cameras)
    truths = [camera_truth(camera, rig) for camera in rig.cameras]
    rounds = close_up_rounds(frames, len(chosen))
    close_count = min(frames - min(frames // 2, _SWEEP_FRAMES), rounds * len(chosen))
    rng = _seeded(seed, "close-up")
    close = []
    for k in range(close_count):
        camera, round_index = chosen[k % len(chosen)], k // len(chosen)
        close.append(_close_up(board, camera_truth(camera, rig), camera.id, rng, round_index,
                               (round_index + k % len(chosen)) % len(_CORNERS)))
    sweep = _sweep(board, truths, frames - close_count, seed)
    ordered: list[BoardPose] = []
    for index in range(frames):
        # Bresenham-style interleaving: close-ups land evenly among the sweep positions.
        due = (index + 1) * close_count // frames - index * close_count // frames
        ordered.append(close.pop(0) if due and close else sweep.pop(0) if sweep else close.pop(0))
    return ordered


class CalibrationOperator:
    """Moves a board through :func:`plan_board_poses` in a studio, one position per take.

    Before a trigger, if any camera about to expose has already seen the current position, the board moves
    to the next one first (so a box trigger firing 16 cameras together and 16 software triggers one after the
    other both give one position per take). After the last position the technician starts over.
    """

    def __init__(self, rig: RigConfig, board: BoardSpec, frames: int = 40, seed: int = 0) -> None:
        self.board = board
        self.poses = plan_board_poses(rig, board, frames, seed)
        self._prop = board_prop(board)
        self._lock = threading.Lock()
        self._position = -1
        self._seen: set[str] = set()

    @property
    def position(self) -> int:
        """Index into :attr:`poses` of the board now (-1 before the first exposure)."""
        with self._lock:
            return self._position

    def prop_at(self, index: int) -> PlanarProp:
        """The board as a prop at position ``index`` (modulo the number of positions)."""
        pose = self.poses[index % len(self.poses)]
        return self._prop.moved_to(pose.rotation, pose.translation)

    def before_fire(self, studio: VirtualStudio, camera_ids: Sequence[str]) -> None:
        """Move the board on when a camera about to expose has seen this position already."""
        with self._lock:
            if self._position < 0 or self._seen.intersection(camera_ids):
                self._position += 1
                self._seen.clear()
                studio.set_props([self.prop_at(self._position)])
            self._seen.update(camera_ids)


def _operator_settings(rig: RigConfig) -> dict[str, Any]:
    raw: Any = rig.simulation.get("operator", {}) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"rig '{rig.name}' simulation.operator: must be a mapping (board, frames, seed), got {raw!r}")
    unknown = sorted(set(raw) - {"board", "frames", "seed"})
    if unknown:
        raise ValueError(f"rig '{rig.name}' simulation.operator: unknown key {', '.join(map(repr, unknown))} "
                         "(known: board, frames, seed)")
    return dict(raw)


STAGES = ("subject", "calibration", "colour-chart")


def stage_of(rig: RigConfig) -> str:
    """The stage ``rig`` asks for: ``CAPTURERIG_SIM_STAGE``, else ``simulation.stage``, else ``subject``."""
    return os.environ.get(STAGE_ENV, "").strip() or str(rig.simulation.get("stage", "subject"))


def stage_settings(rig: RigConfig) -> tuple[object, object]:
    """What a rig says of its stage (``simulation.stage`` and ``simulation.operator``)."""
    return rig.simulation.get("stage"), rig.simulation.get("operator")


def configure_stage(studio: VirtualStudio) -> None:
    """Set the studio's stage from its rig: the mannequin; an empty stage and a board-carrying operator; or a
    colour chart on a stand in front of every camera under the house lights.

    ``CAPTURERIG_SIM_STAGE`` (one of :data:`STAGES`) wins over the rig's ``simulation.stage``. Whatever the
    stage before, the studio is left holding exactly this one (a studio day shoots them in turn).

    Raises
    ------
    ValueError
        For an unknown stage or malformed ``simulation.operator`` settings (naming the rig and key).
    """
    rig = studio.rig
    stage = stage_of(rig)
    if stage not in STAGES:
        raise ValueError(f"rig '{rig.name}': simulation stage '{stage}' is unknown (use {', '.join(STAGES)})")
    operator: CalibrationOperator | None = None
    props: list[PlanarProp] = []
    room_light = 0.0
    if stage == "calibration":
        settings = _operator_settings(rig)
        board_name = str(settings.get("board", DEFAULT_BOARD))
        board_path = Path(board_name)
        if board_path.suffix and not board_path.is_absolute():
            board_path = studio.base_dir / board_path
        board = load_board(board_path)
        operator = CalibrationOperator(rig, board, int(settings.get("frames", 40)), int(settings.get("seed", 0)))
        room_light = ROOM_LIGHT
    elif stage == "colour-chart":
        from capturerig_sim.colour_chart import CHART_STAGE_ROOM_LIGHT, chart_stands  # imports the renderer

        props, room_light = chart_stands(rig), CHART_STAGE_ROOM_LIGHT
    studio.subject_present = stage == "subject"
    studio.room_light = room_light
    studio.set_props(props)
    studio.set_operator(operator)
