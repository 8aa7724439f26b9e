"""Board files, printable board images, detection and image coverage."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from capturerig.calibration import BoardSpec, coverage, detect_board, load_board
from capturerig.cli import app
from capturerig.config import ConfigError


def test_the_studio_board_loads_and_fits_an_a1_sheet() -> None:
    board = load_board("studio-charuco")
    assert board.type == "charuco"
    width, height = board.size_m
    assert width <= 0.841
    assert height <= 0.594
    assert board.cv_board().getChessboardSize() == (board.squares_x, board.squares_y)


def test_a_bad_board_file_names_the_file_the_line_and_the_field(tmp_path: Path) -> None:
    path = tmp_path / "board.yaml"
    path.write_text("type: charuco\nsquares_x: 10\nsquares_y: 7\nsquare_length_m: 0.04\n"
                    "marker_length_m: 0.05\ndictionary: DICT_5X5_100\n")
    with pytest.raises(ConfigError, match=r"board\.yaml:1 .*marker_length_m \(0\.05\) must be smaller"):
        load_board(path)
    path.write_text("type: charuco\nsquares_x: 10\nsquares_y: 7\nsquare_length_m: 0.04\n"
                    "marker_length_m: 0.03\ndictionary: DICT_5X5_100\nsquare_lenght: 1\n")
    with pytest.raises(ConfigError, match=r"board\.yaml:7 square_lenght: is not a known field"):
        load_board(path)
    with pytest.raises(ConfigError, match="no such board file"):
        load_board(tmp_path / "missing.yaml")


def test_a_board_needing_more_markers_than_its_dictionary_has_is_refused() -> None:
    with pytest.raises(ValueError, match="needs 60 markers but DICT_4X4_50 has only 50"):
        BoardSpec(squares_x=12, squares_y=10, square_length_m=0.04, marker_length_m=0.03, dictionary="DICT_4X4_50")


def test_the_rendered_board_is_exactly_the_board_with_the_top_left_corner_at_the_origin() -> None:
    board = load_board("desk-charuco")
    image = board.render(40)
    assert image.shape == (board.squares_y * 40, board.squares_x * 40)
    framed = np.pad(image, 30, constant_values=255)
    detection = detect_board(framed, board)
    assert detection is not None
    assert len(detection) == board.corner_count
    # Pixel (u, v) shows the board point ((u + 0.5) s, (v + 0.5) s): a corner at x lies at x / s - 0.5 px.
    expected = detection.object_points[:, :2] / board.square_length_m * 40 - 0.5 + 30
    assert np.abs(detection.corners - expected).max() < 0.05


def test_a_tilted_board_is_found_and_coverage_tells_where_corners_are_missing() -> None:
    board = load_board("desk-charuco")
    image = board.render(30)
    h, w = image.shape
    target = np.float32([[60, 40], [420, 80], [400, 330], [80, 300]])
    homography = cv2.getPerspectiveTransform(np.float32([[0, 0], [w, 0], [w, h], [0, h]]), target)
    warped = cv2.warpPerspective(image, homography, (640, 480), borderValue=255)
    detection = detect_board(warped, board)
    assert detection is not None
    assert len(detection) == board.corner_count
    grid = coverage([detection], 640, 480, cells=4)
    assert grid.shape == (4, 4)
    assert grid.sum() == board.corner_count
    assert grid[:, 3].sum() == 0  # the right quarter of the image has no corner yet
    assert detect_board(np.full((480, 640), 255, np.uint8), board) is None


def test_board_image_cli_writes_a_png_and_a_pdf_at_true_size(tmp_path: Path) -> None:
    runner = CliRunner()
    png, pdf = tmp_path / "board.png", tmp_path / "board.pdf"
    result = runner.invoke(app, ["calibrate", "board-image", "--board", "desk-charuco", "--dpi", "100", "--out",
                                 str(png)])
    assert result.exit_code == 0, result.output
    assert "9 x 6 squares of 40 mm" in result.output
    with Image.open(png) as image:
        dpi = image.info["dpi"][0]
        squares_px = image.size[0] - 2 * round(10 / 25.4 * dpi)
    # 9 squares of 40 mm print at 360 mm whatever rounding the pixels per square needed.
    assert squares_px / dpi * 25.4 == pytest.approx(360.0, abs=0.3)
    result = runner.invoke(app, ["calibrate", "board-image", "--board", "desk-charuco", "--out", str(pdf)])
    assert result.exit_code == 0, result.output
    assert pdf.read_bytes().startswith(b"%PDF")
    result = runner.invoke(app, ["calibrate", "board-image", "--board", "desk-charuco",
                                 "--out", str(tmp_path / "b.svg")])
    assert result.exit_code == 2
    assert "use a .png or .pdf" in result.output
