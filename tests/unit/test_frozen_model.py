"""One frozen base for every configuration model, and ``replace``: a copy validated like a loaded file."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pydantic
import pytest

import capturerig.config as config
from capturerig.calibration import BoardSpec, CameraGeometry, Geometry, Verdict
from capturerig.config import (
    FrozenModel,
    LoadedRig,
    PlanConfig,
    PlanKind,
    RigConfig,
    default_calibration_plan_path,
    default_chart_plan_path,
    default_plan_path,
    default_rig_path,
    load_plan,
    load_rig,
)

SRC = Path(__file__).resolve().parents[2] / "src" / "capturerig"


@pytest.fixture(scope="module")
def rig() -> LoadedRig:
    return load_rig(default_rig_path())


def _geometry() -> Geometry:
    camera = CameraGeometry(width=640, height=480, K=((500.0, 0.0, 320.0), (0.0, 500.0, 240.0), (0.0, 0.0, 1.0)),
                            dist=(0.0, 0.0, 0.0, 0.0, 0.0), R=((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
                            t=(0.0, 0.0, 1.0), rms_px=0.2, views_used=12)
    board = BoardSpec(squares_x=5, squares_y=7, square_length_m=0.04, marker_length_m=0.03)
    return Geometry(rig="sim", board=board, created="2024-01-01T00:00:00Z", gauge="rig", passed=True,
                    verdicts=(Verdict(check="rms", passed=True, reason="fine"),), cameras={"cam000": camera})


def test_every_config_model_is_frozen_strict_and_finite() -> None:
    models = [v for v in vars(config).values()
              if inspect.isclass(v) and issubclass(v, pydantic.BaseModel) and v.__module__.startswith("capturerig")]
    assert RigConfig in models
    assert PlanConfig in models
    for model in [*models, Geometry, CameraGeometry, BoardSpec]:
        assert issubclass(model, FrozenModel), model
        assert model.model_config.get("frozen") is True, model
        assert model.model_config.get("allow_inf_nan") is False, model
    assert Geometry.model_config.get("populate_by_name") is True  # "schema" in the file, schema_ in code


def test_no_module_defines_its_own_frozen_base() -> None:
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ClassDef):
                assert node.name != "_Frozen", f"{path.relative_to(SRC)}: use capturerig.config.FrozenModel"


def test_a_frozen_model_refuses_edits_unknown_keys_and_infinities(rig: LoadedRig) -> None:
    with pytest.raises(pydantic.ValidationError):
        rig.config.name = "other"  # type: ignore[misc]
    with pytest.raises(pydantic.ValidationError, match="extra"):
        RigConfig.model_validate({**rig.config.model_dump(), "colour": "red"})
    with pytest.raises(pydantic.ValidationError):
        rig.config.fixtures[0].replace(power=float("inf"))  # power > 0 alone would allow it


def test_replace_returns_a_validated_copy_and_leaves_the_original(rig: LoadedRig) -> None:
    renamed = rig.config.replace(name="studio-b")
    assert renamed.name == "studio-b"
    assert rig.config.name != "studio-b"
    assert renamed.cameras == rig.config.cameras
    assert renamed.model_fields_set == rig.config.model_fields_set
    with pytest.raises(pydantic.ValidationError, match="greater than or equal to 1"):
        rig.config.fixtures[0].replace(address=0)
    turntable = rig.config.turntable
    assert turntable is not None
    with pytest.raises(pydantic.ValidationError, match="below max_deg"):
        turntable.replace(min_deg=400.0)
    with pytest.raises(pydantic.ValidationError, match="extra"):
        rig.config.replace(camras=())


@pytest.mark.parametrize("plan_path", [default_plan_path, default_calibration_plan_path, default_chart_plan_path],
                         ids=["capture", "calibration", "chart"])
def test_replace_without_changes_is_the_same_plan(rig: LoadedRig, plan_path: object) -> None:
    plan = load_plan(plan_path(), rig).config  # type: ignore[operator]
    assert plan.replace() == plan
    assert plan.replace().model_fields_set == plan.model_fields_set


def test_a_calibration_plan_remakes_its_board_positions_on_replace(rig: LoadedRig) -> None:
    plan = load_plan(default_calibration_plan_path(), rig).config
    assert plan.kind == PlanKind.CALIBRATION
    assert plan.calibration is not None
    fewer = plan.replace(calibration={**plan.calibration.model_dump(), "frames": 3})
    assert [pose.id for pose in fewer.poses] == ["f000", "f001", "f002"]
    assert fewer.stations == plan.stations


def test_replace_keeps_aliased_fields_by_their_names() -> None:
    geometry = _geometry()
    assert geometry.replace() == geometry
    moved = geometry.replace(rig="studio-b")
    assert moved.rig == "studio-b"
    assert moved.to_json() == geometry.to_json().replace('"sim"', '"studio-b"')
