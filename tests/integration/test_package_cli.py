"""`capturerig package` on a whole simulated session, read by the tools trainers use; `capturerig verify`.

Debian's COLMAP 3.8 (`colmap model_analyzer`) reads every sparse model with the right camera and image
counts, the Library of Congress `bagit` validates the bag, and damage anywhere makes `verify` fail naming
the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import bagit
import cv2
import numpy as np
import pycolmap
import pytest
from typer.testing import CliRunner

from capturerig import Session, load_plan, load_rig
from capturerig.calibration.colour import (
    CameraColour,
    ColourCalibration,
    fit_camera_colour,
    lab_to_linear,
    load_colour,
    load_reference,
    save_colour,
)
from capturerig.cli import app
from capturerig.engine import RunState
from capturerig.packaging import nominal_geometry
from capturerig_sim import TIME_SCALE_ENV, reset_studios
from tests.conftest import EXAMPLES

runner = CliRunner()


PLAN = """\
name: package-test
consistency: take
poses: [{id: p00, description: standing}]
stations: [{id: s00, angle_deg: 0}, {id: s01, angle_deg: 90}]
lighting:
  - {id: l00, name: all white, levels: {"*": {intensity: 1.0, white: 1.0}}}
  - {generator: olat, fixtures: [fx2], polarisation: cross}
camera_groups: [ring-low]
coverage: {min_cameras: 8}
"""


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished session on the ring of 8 low cameras: 2 stations x 2 lighting states (32 images)."""
    base = tmp_path_factory.mktemp("package-cli")
    shutil.copytree(EXAMPLES, base / "studio")
    (base / "studio" / "plan.yaml").write_text(PLAN)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(TIME_SCALE_ENV, "0")
        reset_studios()
        rig = load_rig(base / "studio" / "rig.yaml")
        created = Session.create(rig, load_plan(base / "studio" / "plan.yaml", rig), "S-package", base / "session")
        try:
            assert created.run().state == RunState.DONE
        finally:
            created.close()
            reset_studios()
    return base / "session"


@pytest.fixture(scope="module")
def geometry_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A calibration: the nominal rig with every camera's focal length 0.5 % longer."""
    document = nominal_geometry(load_rig(EXAMPLES / "rig.yaml").config).document
    for entry in document["cameras"].values():
        entry["K"][0][0] *= 1.005
        entry["K"][1][1] *= 1.005
    path = tmp_path_factory.mktemp("calibration") / "geometry.json"
    path.write_text(json.dumps({**document, "source": "calibration"}))
    return path


@pytest.fixture(scope="module")
def package(session: Path, geometry_file: Path) -> tuple[Path, str]:
    out = session.parent / "package"
    result = runner.invoke(app, ["package", str(session), "--out", str(out), "--geometry", str(geometry_file)])
    assert result.exit_code == 0, result.output
    return out, " ".join(result.output.split())


def _model_analyzer(path: Path) -> dict[str, int]:
    result = subprocess.run(["colmap", "model_analyzer", "--path", str(path)], capture_output=True, text=True,
                            timeout=60, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode == 0, result.stdout + result.stderr
    text = result.stdout + result.stderr
    return {key: int(re.search(rf"{key}: (\d+)", text).group(1)) for key in ("Cameras", "Images")}  # type: ignore[union-attr]


def test_the_command_says_where_the_training_roots_are(package: tuple[Path, str]) -> None:
    out, output = package
    assert f"package: {out} (32 images from 8 cameras, 2 snapshots" in output
    assert f"nerfstudio: {out}/data/snapshots/p00_l00/transforms.json" in output
    assert "geometry: calibrated" in output


def test_colmap_3_8_and_pycolmap_read_every_model_with_the_right_counts(package: tuple[Path, str],
                                                                        geometry_file: Path) -> None:
    data = package[0] / "data"
    models = [data / "calibration" / "colmap"]
    for snapshot in sorted((data / "snapshots").iterdir()):
        models += [snapshot / "colmap" / "sparse" / "0", snapshot / "undistorted" / "sparse" / "0"]
    assert len(models) == 5
    focal = json.loads(geometry_file.read_text())["cameras"]["cam00"]["K"][0][0]
    for model_dir in models:
        assert _model_analyzer(model_dir) == {"Cameras": 8, "Images": 16}, model_dir
        model = pycolmap.Reconstruction(str(model_dir))
        assert (model.num_rigs(), model.num_frames()) == (1, 2)
        kinds = {camera.model.name for camera in model.cameras.values()}
        assert kinds == ({"PINHOLE"} if "undistorted" in model_dir.parts else {"OPENCV"}), model_dir
        assert np.isclose(model.camera(1).params[0], focal)
        if "snapshots" in model_dir.parts:
            # <snapshot>/undistorted/sparse/0 pairs with undistorted/images, colmap/sparse/0 with images/
            images = model_dir.parents[1 if "undistorted" in model_dir.parts else 2] / "images"
            assert sorted(p.name for p in images.iterdir()) == sorted(i.name for i in model.images.values())


def test_the_bag_carries_the_subjects_consent_provenance(package: tuple[Path, str]) -> None:
    data = package[0] / "data"
    consent = json.loads((data / "provenance" / "consent.json").read_text())
    assert consent["subject_id"] == "S-package"
    assert (data / "provenance" / "lineage.json").is_file()
    document = json.loads((data / "package.json").read_text())
    assert document["metadata"]["consent_id"] == consent["consent_id"]
    sidecar = (data / "snapshots" / "p00_l00" / "xmp" / "cam00_p00_s00_l00.jpg.xmp").read_text()
    assert f"<plus:ModelReleaseID><rdf:Bag><rdf:li>{consent['consent_id']}</rdf:li>" in sidecar


def test_bagit_validates_and_one_flipped_byte_fails_verify_naming_the_file(package: tuple[Path, str]) -> None:
    out = package[0]
    bagit.Bag(str(out)).validate()
    result = runner.invoke(app, ["verify", str(out)])
    assert result.exit_code == 0, result.output
    flat = " ".join(result.output.split())
    assert "4/4 planned takes complete, geometry calibration, consent C-" in flat
    assert "holds" in flat
    victim = out / "data" / "snapshots" / "p00_olat-fx2" / "images" / "cam05_p00_s01_olat-fx2.jpg"
    damaged = bytearray(victim.read_bytes())
    damaged[1000] ^= 0x40
    victim.unlink()  # keep the session's hard-linked original intact
    victim.write_bytes(bytes(damaged))
    result = runner.invoke(app, ["verify", str(out)])
    assert result.exit_code == 1
    failing = [line for line in result.output.splitlines() if line.startswith("FAIL")]
    assert len(failing) == 2
    assert all("data/snapshots/p00_olat-fx2/images/cam05_p00_s01_olat-fx2.jpg: sha" in line for line in failing)


@pytest.fixture(scope="module")
def colour_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A colour.json (``capturerig.colour/1``) for the 8 low-ring cameras: one fitted correction each."""
    reference = load_reference()
    scene = lab_to_linear(reference.lab_d50, "linear-rec2020")
    codes = np.asarray(np.clip(scene * np.array([1.08, 1.0, 0.9]) * 0.85, 0, 1) ** (1 / np.array([2.3, 2.1, 2.2])))
    fit = fit_camera_colour(codes, reference, np.ones(24, dtype=bool), "linear-srgb")
    cameras = {f"cam{i:02d}": CameraColour(f"cam{i:02d}", fit.chosen, "linear-srgb", fit.candidate.in_sample_de,
                                           fit.candidate.loo_de, fit.candidates, (), (), ())
               for i in range(8)}
    return save_colour(ColourCalibration(cameras, "linear-srgb", {"source": "test"}),
                       tmp_path_factory.mktemp("colour") / "colour.json")


def test_colour_correction_from_colour_json_with_originals_referenced(session: Path, colour_file: Path) -> None:
    out = session.parent / "package-colour"
    result = runner.invoke(app, ["package", str(session), "--out", str(out), "--colour", str(colour_file),
                                 "--originals", "reference", "--no-undistorted"])
    assert result.exit_code == 0, result.output
    assert "colour corrected" in result.output
    calibration = load_colour(colour_file)
    data = out / "data"
    assert (data / "calibration" / "colour.json").read_bytes() == colour_file.read_bytes()
    assert not (data / "originals").exists()
    assert not (data / "snapshots" / "p00_l00" / "undistorted").exists()
    frames = {f["name"]: f for f in json.loads((data / "package.json").read_text())["frames"]}
    for name in ("cam00_p00_s00_l00.jpg", "cam07_p00_s01_olat-fx2.jpg"):
        entry = frames[name]
        original = Path(entry["original_reference"]["path"])
        assert original.is_relative_to(session.resolve())
        assert hashlib.sha256(original.read_bytes()).hexdigest() == entry["sha256"]
        expected = calibration.correct(entry["camera_id"], cv2.imread(str(original))).astype(float)
        packaged = cv2.imread(str(data / entry["file_path"])).astype(float)
        assert np.abs(packaged - expected).mean() < 1.5, name
    assert runner.invoke(app, ["verify", str(out)]).exit_code == 0


def test_a_colour_file_missing_a_camera_is_refused_naming_it(session: Path, colour_file: Path,
                                                            tmp_path: Path) -> None:
    document = json.loads(colour_file.read_text())
    del document["cameras"]["cam03"]
    partial = tmp_path / "colour.json"
    partial.write_text(json.dumps(document))
    result = runner.invoke(app, ["package", str(session), "--out", str(tmp_path / "p"), "--colour", str(partial)])
    assert result.exit_code == 2
    assert "no colour calibration for camera cam03" in " ".join(result.output.split())
    assert not (tmp_path / "p").exists()
