"""ChArUco board definitions: a frozen model loaded from YAML with file:line errors, the OpenCV board, images."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import cv2
import numpy as np
from PIL import Image
from pydantic import Field, model_validator

from capturerig.config import ConfigError, FrozenModel, load_located_yaml, validate_document

__all__ = ["BoardSpec", "boards_dir", "load_board", "write_board_image"]

# OpenCV's predefined ArUco dictionaries by name, with how many markers each holds.
_DICTIONARIES = {name: getattr(cv2.aruco, name) for name in dir(cv2.aruco)
                 if name.startswith("DICT_") and name.upper() == name}


def _dictionary_size(name: str) -> int:
    return int(cv2.aruco.getPredefinedDictionary(_DICTIONARIES[name]).bytesList.shape[0])


class BoardSpec(FrozenModel):
    """A ChArUco board: a chessboard of ``squares_x`` x ``squares_y`` squares with ArUco markers in the white ones.

    Board frame (OpenCV's): origin at the board's top-left outer corner, x along the top edge (right),
    y down the left edge, z into the board; metres. The inner chessboard corners are what is measured.
    """

    name: str = Field(default="board", description="a short label for reports")
    type: Literal["charuco"] = "charuco"
    squares_x: int = Field(ge=3, le=64, description="squares along the board's x axis (its width)")
    squares_y: int = Field(ge=3, le=64, description="squares along the board's y axis (its height)")
    square_length_m: float = Field(gt=0, lt=1, description="side of one chessboard square, metres, as printed")
    marker_length_m: float = Field(gt=0, lt=1, description="side of one ArUco marker, metres, as printed")
    dictionary: str = Field(default="DICT_5X5_100", description="OpenCV predefined ArUco dictionary")
    legacy_pattern: bool = Field(default=False, description="boards printed by OpenCV < 4.6 with an even "
                                                            "number of rows use the old marker layout")

    @model_validator(mode="after")
    def _consistent(self) -> BoardSpec:
        if self.dictionary not in _DICTIONARIES:
            known = ", ".join(n for n in sorted(_DICTIONARIES) if not n.startswith("DICT_APRILTAG_") or "h" in n)
            raise ValueError(f"dictionary '{self.dictionary}' is not an OpenCV dictionary; use one of {known}")
        if self.marker_length_m >= self.square_length_m:
            raise ValueError(f"marker_length_m ({self.marker_length_m:g}) must be smaller than square_length_m "
                             f"({self.square_length_m:g}): a marker sits inside a white square")
        markers = self.squares_x * self.squares_y // 2
        available = _dictionary_size(self.dictionary)
        if markers > available:
            raise ValueError(f"a {self.squares_x} x {self.squares_y} board needs {markers} markers but "
                             f"{self.dictionary} has only {available}; use a larger dictionary")
        return self

    @property
    def size_m(self) -> tuple[float, float]:
        """Width and height of the chessboard area, metres."""
        return self.squares_x * self.square_length_m, self.squares_y * self.square_length_m

    @property
    def corner_count(self) -> int:
        """Inner chessboard corners (what a full view measures)."""
        return (self.squares_x - 1) * (self.squares_y - 1)

    def cv_board(self) -> cv2.aruco.CharucoBoard:
        """A fresh OpenCV board object (they are mutable, so each caller gets its own)."""
        dictionary = cv2.aruco.getPredefinedDictionary(_DICTIONARIES[self.dictionary])
        board = cv2.aruco.CharucoBoard((self.squares_x, self.squares_y), self.square_length_m,
                                       self.marker_length_m, dictionary)
        board.setLegacyPattern(self.legacy_pattern)
        return board

    def corner_points(self) -> np.ndarray:
        """Board-frame positions (N, 3) of the inner corners, indexed by ChArUco corner id."""
        return np.asarray(self.cv_board().getChessboardCorners(), dtype=np.float64).reshape(-1, 3)

    def render(self, pixels_per_square: int) -> np.ndarray:
        """The board as a grey uint8 image covering exactly the board area (no margin).

        Row 0 is the board's top edge and column 0 its left edge, so pixel (u, v) (integer = pixel centre)
        shows the board point ((u + 0.5) s, (v + 0.5) s, 0) with s = square_length_m / pixels_per_square.
        """
        if pixels_per_square < 8:
            raise ValueError(f"pixels_per_square {pixels_per_square} is too small to draw the markers; use 8 or more")
        size = (self.squares_x * pixels_per_square, self.squares_y * pixels_per_square)
        image = self.cv_board().generateImage(size, marginSize=0, borderBits=1)
        return np.asarray(image, dtype=np.uint8)


def boards_dir() -> Path:
    """The board definitions: the repository's calibration/boards/, or the copy a wheel carries."""
    repository = Path(__file__).resolve().parents[3] / "calibration" / "boards"
    if repository.is_dir():
        return repository
    return Path(__file__).resolve().parent.parent / "_calibration_boards"


def load_board(path: str | Path) -> BoardSpec:
    """Load a board file; raises ConfigError naming file, line and field of every problem.

    A bare name without a suffix (``studio-charuco``) is looked up in :func:`boards_dir`.
    """
    path = Path(path)
    if not path.suffix and not path.exists():
        candidate = boards_dir() / f"{path.name}.yaml"
        if candidate.exists():
            path = candidate
    if not path.exists():
        known = ", ".join(sorted(p.stem for p in boards_dir().glob("*.yaml"))) or "none"
        raise ConfigError.single(str(path), f"no such board file (boards in {boards_dir()}: {known})")
    document = load_located_yaml(path)
    return validate_document(BoardSpec, document, "a board")


_MM_PER_INCH = 25.4


def write_board_image(board: BoardSpec, out: str | Path, dpi: int, margin_mm: float = 10.0) -> Path:
    """Write ``board`` as a PNG or PDF that prints at its true size at 100 % scale.

    The pixels per square are rounded to a whole number, and the resolution stored in the file is
    adjusted to match, so the printed square is exactly ``square_length_m``. A white margin of
    ``margin_mm`` surrounds the board (a quiet zone for the detector, room to cut).
    """
    out = Path(out)
    inches_per_square = board.square_length_m * 1000 / _MM_PER_INCH
    pixels_per_square = max(8, round(inches_per_square * dpi))
    exact_dpi = pixels_per_square / inches_per_square
    margin = round(margin_mm / _MM_PER_INCH * exact_dpi)
    image = np.pad(board.render(pixels_per_square), margin, constant_values=255)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image, mode="L").save(out, dpi=(exact_dpi, exact_dpi), resolution=exact_dpi)
    return out
