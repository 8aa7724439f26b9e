"""`capturerig qc` over a simulated session: it names exactly the files the simulator spoiled, with the check
that sees each fault, and exits 1; a clean session exits 0; the JSON report is written."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import capturerig
from capturerig.cli import app
from capturerig.packaging import nominal_geometry
from capturerig.plan import expand_plan
from capturerig.subjects import DEMO_PURPOSE, enrol_demo_subject
from capturerig_sim import get_studio, reset_studios

PLAN = """\
name: qc-test
consistency: take
retries: 1
subject: {kind: object}
poses:
  - {id: p00, description: first hold}
  - {id: p01, description: second hold}
stations:
  - {id: s00, angle_deg: 0}
lighting:
  - {id: l00, levels: {"*": {intensity: 1.0, red: 1.0, green: 1.0, blue: 1.0, white: 1.0}}}
  - {id: l01, levels: {"*": {intensity: 0.5, red: 1.0, green: 1.0, blue: 1.0, white: 1.0}}}
brackets:
  - {id: b0, ev: 0}
camera_groups: [ring-low]
settle: {lights_s: 0.0, turntable_s: 0.0}
"""


def shoot(tmp_path: Path, faults: list[tuple[str, str, int]]) -> Path:
    """A 4 takes x 4 cameras session; ``faults``: (camera, kind, take index) picture faults."""
    reset_studios()
    base = capturerig.load_rig()
    document = base.config.model_dump(mode="json", exclude_defaults=True)
    document["cameras"] = document["cameras"][:4]
    (tmp_path / "rig.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    (tmp_path / "plan.yaml").write_text(PLAN)
    rig = capturerig.load_rig(tmp_path / "rig.yaml")
    plan = capturerig.load_plan(tmp_path / "plan.yaml", rig)
    assert len(expand_plan(rig.config, plan.config)) == 4
    studio = get_studio("default", rig.config, rig.path.parent)
    studio.time_scale = 0.0
    for camera, kind, index in faults:  # each exposure is one opportunity; stale counts from the second
        studio.faults.schedule(camera, kind, index - 1 if kind == "stale_file" else index)
    registry = enrol_demo_subject(tmp_path / "subjects.sqlite", "qc").registry_path
    session = capturerig.Session.create(rig, plan, subject="qc", out=tmp_path / "session", purpose=DEMO_PURPOSE,
                                        registry=registry)
    result = session.run()
    session.close()
    assert result.state == capturerig.RunState.DONE, result.error
    assert not studio.pending_faults()
    assert not studio.faults.scheduled()
    return session.path


def failed_files(report: dict) -> dict[str, set[str]]:
    return {Path(f["path"]).name: {c["check"] for c in f["checks"] if c["verdict"] == "fail"}
            for take in report["takes"] for f in take["files"] if f["verdict"] == "fail"}


def test_qc_names_exactly_the_spoiled_files_with_the_check_that_sees_each(tmp_path: Path) -> None:
    session = shoot(tmp_path, [("cam01", "defocus", 2), ("cam02", "lens_cap", 3), ("cam03", "stale_file", 3)])
    out = tmp_path / "qc.json"
    result = CliRunner().invoke(app, ["qc", str(session), "--json", str(out)])
    assert result.exit_code == 1, result.output
    report = json.loads(out.read_text())
    failed = failed_files(report)
    assert set(failed) == {"cam01_p01_s00_l00.jpg", "cam02_p01_s00_l01.jpg", "cam03_p01_s00_l01.jpg"}, failed
    assert "sharpness" in failed["cam01_p01_s00_l00.jpg"]
    assert "black" in failed["cam02_p01_s00_l01.jpg"]
    assert "stale" in failed["cam03_p01_s00_l01.jpg"]
    reasons = [c["reason"] for take in report["takes"] for f in take["files"] for c in f["checks"]
               if Path(f["path"]).name == "cam01_p01_s00_l00.jpg" and c["check"] == "sharpness"]
    assert reasons
    assert reasons[0].startswith("cam01 is")
    assert "softer than its own takes: check focus" in reasons[0]
    assert "cam01" in result.output
    assert "sharpness" in result.output
    assert "3 fail" in result.output
    assert report["summary"]["fail"] == 3
    assert len(report["takes"]) == 4


def test_a_clean_session_passes_and_exits_0(tmp_path: Path) -> None:
    session = shoot(tmp_path, [])
    out = tmp_path / "qc.json"
    result = CliRunner().invoke(app, ["qc", str(session), "--json", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["summary"] == {"ok": 16, "warn": 0, "fail": 0}
    assert "every image passed every check" in result.output
    assert "subject region: the capture volume through the nominal geometry" in result.output
    # With a geometry calibration the region is projected through it; a file that does not fit is bad input.
    rig = capturerig.load_rig(tmp_path / "rig.yaml").config
    geometry = tmp_path / "geometry.json"
    geometry.write_text(json.dumps({**nominal_geometry(rig).document, "source": "calibration"}))
    result = CliRunner().invoke(app, ["qc", str(session), "--geometry", str(geometry)])
    assert result.exit_code == 0, result.output
    assert "through the calibration geometry" in result.output
    geometry.write_text(json.dumps({**nominal_geometry(rig).document, "cameras": {}}))
    result = CliRunner().invoke(app, ["qc", str(session), "--geometry", str(geometry)])
    assert result.exit_code == 2
    assert "geometry.json" in result.output
    assert "is not calibrated" in result.output


def test_a_folder_that_is_not_a_session_is_bad_input(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["qc", str(tmp_path)])
    assert result.exit_code == 2
    assert str(tmp_path.name) in result.output


@pytest.fixture(autouse=True)
def _fresh_studios() -> Iterator[None]:
    reset_studios()
    yield
    reset_studios()


def test_picture_faults_are_scheduled_from_the_env_file_and_recorded_in_the_ledger(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from capturerig_sim._faults import FAULTS_ENV
    from capturerig_sim._image_faults import IMAGE_FAULT_KINDS, take_picture_faults
    from capturerig_sim._ledger import LEDGER_ENV, read_ledger

    schedule = tmp_path / "faults.json"
    schedule.write_text(json.dumps({"faults": [{"device": "cam01", "kind": kind, "after": index}
                                               for index, kind in enumerate(IMAGE_FAULT_KINDS)]}))
    monkeypatch.setenv(FAULTS_ENV, str(schedule))
    monkeypatch.setenv(LEDGER_ENV, str(tmp_path / "ledger.jsonl"))
    rig = capturerig.load_rig()
    studio = get_studio("default", rig.config, rig.path.parent)  # a new studio reads the schedule
    seen = [take_picture_faults(studio, "cam01", has_previous=True) for _ in IMAGE_FAULT_KINDS]
    assert seen == [frozenset({kind}) for kind in IMAGE_FAULT_KINDS]  # exposure k gets the fault after=k
    fired = [r["kind"] for r in read_ledger(tmp_path / "ledger.jsonl") if r["event"] == "fault"]
    assert fired == list(IMAGE_FAULT_KINDS)
