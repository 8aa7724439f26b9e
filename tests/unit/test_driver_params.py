"""A bad driver param fails the rig load at its line, naming the field, for every installed driver.

Each driver declares its params as a model (its ``Params``); ``capturerig.load_rig`` validates every
device's ``params`` against it, so a misspelt name or a value of the wrong type is reported like any other
rig problem (``rig.yaml:14 light_outputs[0].params.port: ...``), not when the device opens. The drivers are
found as the engine finds them, through the ``capturerig.drivers`` entry points, so a new driver (ours or a
plug-in's) is covered the day it is installed.
"""

from __future__ import annotations

import json
import types
import typing
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

import annotated_types
import pytest
from pydantic.fields import FieldInfo

import capturerig
from capturerig.config import ConfigError, load_rig
from capturerig.devices import DriverParams, installed_drivers

REPO = Path(__file__).resolve().parents[2]
DRIVERS = sorted(entry_points(group="capturerig.drivers"), key=lambda entry: entry.name)
INTRINSICS = "{width: 480, height: 640, fx: 700.0, fy: 700.0, cx: 239.5, cy: 319.5}"
POSE = "{position: [2.0, 0.0, 1.0], look_at: [0.0, 0.0, 1.0]}"
WHERE = {"camera": "cameras[0]", "light": "light_outputs[0]", "trigger": "trigger", "turntable": "turntable"}
# A value of the wrong type for each kind of scalar param, and what the message says about it.
WRONG: dict[type, list[tuple[Any, str]]] = {
    int: [("one", "should be a whole number, got 'one'"), (512.0, "should be a whole number, got 512.0"),
          ("512", "should be a whole number, got '512'"), (True, "should be a whole number, got true")],
    float: [("fast", "should be a number, got 'fast'"), (True, "should be a number, got true")],
    bool: [("yes", "should be true or false, got 'yes'"), (1, "should be true or false, got 1")],
    str: [(12, "should be text, got the number 12: write it in quotes ('12')")],
}


def _params_model(entry: EntryPoint) -> type[DriverParams]:
    kind, _, name = entry.name.partition(".")
    return installed_drivers().params_model(kind, name)


def _scalar(annotation: Any) -> type | None:
    """The int, float, bool or str a field holds (through Optional and Annotated), or None."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _scalar(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        found = {_scalar(arg) for arg in typing.get_args(annotation) if arg is not type(None)}
        return found.pop() if len(found) == 1 else None
    return annotation if annotation in WRONG else None


def _valid(field: FieldInfo) -> Any:
    """A value a required param accepts (its lower bound for a number)."""
    kind = _scalar(field.annotation)
    low = next((m.ge for m in field.metadata if isinstance(m, annotated_types.Ge)), None)
    above = next((m.gt for m in field.metadata if isinstance(m, annotated_types.Gt)), None)
    if kind in (int, float):
        return low if low is not None else (above + 1 if above is not None else 1)
    samples: dict[type | None, Any] = {str: "/dev/ttyUSB0", bool: False}
    assert kind in samples, f"no sample value for a required param of type {field.annotation}; add one here"
    return samples[kind]


def _required(model: type[DriverParams]) -> dict[str, Any]:
    return {name: _valid(field) for name, field in model.model_fields.items() if field.is_required()}


def write_rig(folder: Path, entry: EntryPoint, params: dict[str, Any]) -> tuple[Path, dict[str, int]]:
    """A one-camera rig whose device of ``entry``'s kind runs ``entry``'s driver with ``params``.

    Returns the file and the line of each param (one per line, values written as JSON, which YAML reads as
    the same value).
    """
    kind, _, driver = entry.name.partition(".")
    camera_driver = driver if kind == "camera" else "sim"
    lines = ["name: params-check", "cameras:", "  - id: cam0", f"    driver: {camera_driver}", "    serial: S0",
             "    body: sim-studio", "    group: ring", f"    intrinsics: {INTRINSICS}", f"    pose: {POSE}"]
    indent = "    "
    if kind == "light":
        lines += ["light_outputs:", "  - id: out0", f"    driver: {driver}", "    universes: [1]"]
    elif kind in ("trigger", "turntable"):
        indent = "  "
        lines += [f"{kind}:", f"  id: {kind[:4]}0", f"  driver: {driver}"]
    lines.append(f"{indent}params:" + ("" if params else " {}"))
    at = {}
    for name, value in params.items():
        lines.append(f"{indent}  {name}: {json.dumps(value)}")
        at[name] = len(lines)
    path = folder / "rig.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path, at


def load_error(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as raised:
        capturerig.load_rig(path)
    return raised.value


def _wrong_values() -> list[Any]:
    cases = []
    for entry in DRIVERS:
        for name, field in _params_model(entry).model_fields.items():
            for value, message in WRONG.get(_scalar(field.annotation) or type(None), []):
                cases.append(pytest.param(entry, name, value, message, id=f"{entry.name}-{name}={json.dumps(value)}"))
    return cases


@pytest.mark.parametrize("entry", DRIVERS, ids=[entry.name for entry in DRIVERS])
def test_every_driver_accepts_a_rig_with_just_its_required_params(entry: EntryPoint, tmp_path: Path) -> None:
    path, _ = write_rig(tmp_path, entry, _required(_params_model(entry)))
    assert capturerig.load_rig(path).config.name == "params-check"


@pytest.mark.parametrize("entry", DRIVERS, ids=[entry.name for entry in DRIVERS])
def test_a_misspelt_param_of_any_driver_fails_the_load_at_its_line(entry: EntryPoint, tmp_path: Path) -> None:
    model = _params_model(entry)
    path, at = write_rig(tmp_path, entry, {**_required(model), "no_such_param": 1})
    error = load_error(path)
    field = f"{WHERE[entry.name.split('.')[0]]}.params.no_such_param"
    assert [str(p) for p in error.problems] == [
        f"rig.yaml:{at['no_such_param']} {field}: is not a known field; allowed here: {', '.join(model.model_fields)}"]


@pytest.mark.parametrize(("entry", "name", "value", "message"), _wrong_values())
def test_a_param_of_the_wrong_type_fails_the_load_naming_file_line_and_field(
        entry: EntryPoint, name: str, value: Any, message: str, tmp_path: Path) -> None:
    path, at = write_rig(tmp_path, entry, {**_required(_params_model(entry)), name: value})
    error = load_error(path)
    field = f"{WHERE[entry.name.split('.')[0]]}.params.{name}"
    assert [str(p) for p in error.problems] == [f"rig.yaml:{at[name]} {field}: {message}"]


def test_every_kind_of_device_is_covered() -> None:
    assert {entry.name.split(".")[0] for entry in DRIVERS} == set(WHERE)
    assert {case.values[0].name.split(".")[0] for case in _wrong_values()} == set(WHERE)


@pytest.mark.parametrize("entry", DRIVERS, ids=[entry.name for entry in DRIVERS])
def test_every_param_says_what_it_means_in_the_schema(entry: EntryPoint) -> None:
    model = _params_model(entry)
    assert issubclass(model, DriverParams)
    properties = model.model_json_schema()["properties"]
    assert properties, f"{entry.name} declares no params; a driver without any still declares an empty model"
    undocumented = [name for name, schema in properties.items() if not schema.get("description")]
    assert undocumented == [], f"{entry.name}: give these a Field(description=...)"


# -- what an operator would type wrong --------------------------------------------------------------------------

def _by_name(name: str) -> EntryPoint:
    return next(entry for entry in DRIVERS if entry.name == name)


def test_a_universe_param_on_an_art_net_output_is_refused_with_the_allowed_names(tmp_path: Path) -> None:
    path, at = write_rig(tmp_path, _by_name("light.artnet"), {"host": "10.0.0.21", "universe": "one"})
    error = load_error(path)
    (problem,) = error.problems
    assert (problem.file, problem.line) == ("rig.yaml", at["universe"])
    assert str(problem).startswith(f"rig.yaml:{at['universe']} light_outputs[0].params.universe: is not a known "
                                   "field; allowed here: host, port, bind_host")


def test_a_quoted_baud_rate_and_a_host_name_are_refused(tmp_path: Path) -> None:
    path, at = write_rig(tmp_path, _by_name("light.serial-lights"), {"port": "/dev/ttyUSB0", "baudrate": "115200"})
    assert [str(p) for p in load_error(path).problems] == [
        f"rig.yaml:{at['baudrate']} light_outputs[0].params.baudrate: should be a whole number, got '115200'"]
    path, at = write_rig(tmp_path, _by_name("light.sacn"), {"host": "node.local"})
    assert [str(p) for p in load_error(path).problems] == [
        f"rig.yaml:{at['host']} light_outputs[0].params.host: 'node.local' is not an IPv4 address such as "
        "10.0.0.21 (host names are not looked up)"]


def test_a_missing_port_says_what_the_port_is(tmp_path: Path) -> None:
    path, _ = write_rig(tmp_path, _by_name("light.enttec-pro"), {"rate_hz": 40})
    line = path.read_text().splitlines().index("    params:") + 1
    (problem,) = load_error(path).problems
    assert str(problem).startswith(f"rig.yaml:{line} light_outputs[0].params.port: is required but missing (the "
                                   "interface's serial device")


def test_a_trigger_output_for_a_camera_the_rig_lacks_is_refused_at_load(tmp_path: Path) -> None:
    path, at = write_rig(tmp_path, _by_name("trigger.serial-box"), {"port": "/dev/ttyACM0", "outputs": {"cam9": 0}})
    assert [str(p) for p in load_error(path).problems] == [
        f"rig.yaml:{at['outputs']} trigger.params.outputs: names camera 'cam9', which the rig does not have "
        "(cameras: cam0)"]


def test_raising_a_person_cap_without_a_reason_is_refused_at_load(tmp_path: Path) -> None:
    params = {"port": "/dev/ttyUSB0", "person_on_platform": True, "person_max_speed_deg_per_s": 45}
    path, at = write_rig(tmp_path, _by_name("turntable.grbl"), params)
    (problem,) = load_error(path).problems
    assert str(problem).startswith(f"rig.yaml:{at['person_max_speed_deg_per_s']} "
                                   "turntable.params.person_max_speed_deg_per_s: 45 deg/s is above the safe limit")


def test_an_unknown_driver_is_refused_at_load_with_the_installed_ones(tmp_path: Path) -> None:
    path, _ = write_rig(tmp_path, _by_name("light.artnet"), {})
    path.write_text(path.read_text().replace("driver: artnet", "driver: artnett"))
    (problem,) = load_error(path).problems
    installed = ", ".join(installed_drivers().names("light"))
    assert str(problem) == (f"rig.yaml:12 light_outputs[0].driver: unknown light driver 'artnett' "
                            f"(installed: {installed})")


def test_without_the_installed_drivers_a_rig_is_read_unchecked(tmp_path: Path) -> None:
    """Tools that only read the rig (the subject registry, calibration from images) load it without drivers."""
    path, _ = write_rig(tmp_path, _by_name("light.artnet"), {"universe": "one"})
    assert load_rig(path).config.light_outputs[0].params == {"universe": "one"}


def test_a_driver_that_cannot_be_loaded_is_reported_at_its_driver_line(tmp_path: Path) -> None:
    class Broken:
        def names(self, kind: str) -> list[str]:
            return ["sim"]

        def params_model(self, kind: str, name: str) -> type[DriverParams]:
            raise ValueError(f"the {kind} driver '{name}' cannot be loaded: No module named 'vendor'")

    path, _ = write_rig(tmp_path, _by_name("camera.sim"), {})
    with pytest.raises(ConfigError) as raised:
        load_rig(path, drivers=Broken())
    assert str(raised.value) == ("rig.yaml:4 cameras[0].driver: the camera driver 'sim' cannot be loaded: "
                                 "No module named 'vendor'")


RIG_FILES = sorted({*REPO.glob("examples/*/rig*.yaml"), *REPO.glob("src/capturerig/config/defaults/rig*.yaml"),
                    *REPO.glob("tests/fixtures/**/rig*.yaml")})


@pytest.mark.parametrize("path", RIG_FILES, ids=[str(p.relative_to(REPO)) for p in RIG_FILES])
def test_every_rig_file_in_the_repository_fits_its_drivers_params(path: Path) -> None:
    assert capturerig.load_rig(path).config.cameras
