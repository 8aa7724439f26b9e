"""Fuzzed rig and plan files: every edit gives a valid config or an error naming the file, line and field.

Nothing else may come out of a loader: no crash (any exception but ConfigError), no hang, and no silent
acceptance (a number written into a field is either refused at that field's line or loaded exactly).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from capturerig.config import ConfigError, LoadedRig, load_plan, load_rig
from tests.conftest import EXAMPLES

RIG_TEXT = (EXAMPLES / "rig.yaml").read_text(encoding="utf-8")
PLAN_TEXT = (EXAMPLES / "plan.yaml").read_text(encoding="utf-8")
# Bounded: a fixed number of examples and no shrinking (a long YAML text shrinks for minutes).
FUZZ = settings(max_examples=60, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
                suppress_health_check=[HealthCheck.function_scoped_fixture])

NASTY = st.sampled_from([
    "", "~", "-1", "0", "1e400", "-1e400", ".nan", ".inf", "null", "true", "0x1F", "[", "]", "{", "{a: 1}",
    "[1, 2", "'unterminated", '"\\x00"', "!!python/object:os.system ls", "&anchor", "*nowhere", "? key",
    "x" * 5000, "ÿþ", "- - -", ": :", "%YAML 9.9", "---", "...", "\t", "🙂", "1:2:3", "2026-13-45",
])


@st.composite
def edited(draw: st.DrawFn, text: str) -> str:
    """``text`` with one line edited: its value replaced, the line deleted or doubled, junk inserted, or cut."""
    lines = text.splitlines(keepends=True)
    index = draw(st.integers(0, len(lines) - 1))
    line = lines[index]
    how = draw(st.sampled_from(["value", "delete", "double", "junk", "cut", "indent"]))
    if how == "value" and ":" in line:
        key = line.split(":", 1)[0]
        value = draw(st.one_of(NASTY, st.text(max_size=30)))
        lines[index] = f"{key}: {value}\n"
    elif how == "delete":
        del lines[index]
    elif how == "double":
        lines.insert(index, line)
    elif how == "junk":
        lines.insert(index, draw(st.text(max_size=60)) + "\n")
    elif how == "cut":
        return "".join(lines)[: draw(st.integers(0, len(text)))]
    else:
        lines[index] = " " * draw(st.integers(1, 5)) + line
    return "".join(lines)


def _assert_located(error: ConfigError, path: Path, text: str) -> None:
    assert error.problems, "a ConfigError must list at least one problem"
    last_line = text.count("\n") + 2
    for problem in error.problems:
        assert problem.file in (str(path), path.name), str(problem)  # the loader names files as it was given them
        assert problem.message.strip(), str(problem)
        assert problem.line is None or 1 <= problem.line <= last_line, str(problem)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    return path


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> LoadedRig:
    return load_rig(_write(tmp_path_factory.mktemp("rig"), "rig.yaml", RIG_TEXT))


@FUZZ
@given(text=edited(RIG_TEXT))
def test_an_edited_rig_loads_or_says_where_it_is_wrong(tmp_path: Path, text: str) -> None:
    path = _write(tmp_path, "rig.yaml", text)
    try:
        loaded = load_rig(path)
    except ConfigError as error:
        _assert_located(error, path, text)
    else:
        assert loaded.config.cameras  # a rig that loads is a whole rig


@FUZZ
@given(text=edited(PLAN_TEXT))
def test_an_edited_plan_loads_or_says_where_it_is_wrong(tmp_path: Path, rig: LoadedRig, text: str) -> None:
    path = _write(tmp_path, "plan.yaml", text)
    try:
        loaded = load_plan(path, rig)
    except ConfigError as error:
        _assert_located(error, path, text)
    else:
        assert loaded.config.poses


NUMBERS = st.one_of(st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from(["1/2", "12abc", "'7'", "1_000", "0o17", "+3", "1e3"]))
RIG_FIELDS = {  # the first line that starts so, and how to read the loaded value back
    "      fx: ": lambda rig: rig.cameras[0].intrinsics.fx,
    "    address: ": lambda rig: rig.fixtures[0].address,
    "  min_free_bytes: ": lambda rig: rig.storage.min_free_bytes,
    "  speed_deg_per_s: ": lambda rig: rig.turntable.speed_deg_per_s,
}


@FUZZ
@given(prefix=st.sampled_from(sorted(RIG_FIELDS)), value=NUMBERS)
def test_a_number_in_a_rig_field_is_loaded_exactly_or_refused_at_its_line(
        tmp_path: Path, prefix: str, value: object) -> None:
    lines = RIG_TEXT.splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if line.startswith(prefix))
    written = repr(value) if isinstance(value, float) and math.isfinite(value) else str(value)
    if isinstance(value, float) and not math.isfinite(value):
        written = ".nan" if math.isnan(value) else (".inf" if value > 0 else "-.inf")
    lines[index] = f"{prefix}{written}\n"
    path = _write(tmp_path, "rig.yaml", "".join(lines))
    try:
        loaded = load_rig(path)
    except ConfigError as error:
        refused: ConfigError | None = error
    else:
        refused = None
    if refused is not None:
        _assert_located(refused, path, "".join(lines))
        field = prefix.strip().rstrip(":")  # at that line, or at the field it clashes with (DMX overlap)
        assert any(problem.line == index + 1 or problem.field[-1:] == (field,) for problem in refused.problems), (
            str(refused))
        return
    got = RIG_FIELDS[prefix](loaded.config)
    assert isinstance(got, int | float)
    assert math.isfinite(got)
    assert got == _meaning(value), f"{written} was loaded as {got}"


def _meaning(value: object) -> float | None:
    """The number a written value means to a reader ('7' and 1_000 are numbers; 1/2 and 12abc are not)."""
    if isinstance(value, int | float):
        return value
    try:
        return float(str(value).strip("'").replace("_", ""))
    except ValueError:
        return None


def test_an_impossible_date_is_a_located_error_not_a_crash(tmp_path: Path, rig: LoadedRig) -> None:
    # Found by the fuzzer: PyYAML reads 2026-13-45 as a date and raised a bare ValueError out of the loader.
    path = _write(tmp_path, "plan.yaml", PLAN_TEXT.replace("name: sim-demo", "name: 2026-13-45", 1))
    with pytest.raises(ConfigError) as raised:
        load_plan(path, rig)
    assert str(raised.value).startswith("plan.yaml:4 name: cannot read '2026-13-45' as a timestamp: month must be")
