"""A RAW+JPEG session: both files of every exposure are stored, hashed and journalled under one take."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import capturerig
from capturerig.develop import develop_linear
from capturerig.engine import RunState, Session
from capturerig.plan import expand_plan
from tests.conftest import with_test_card_images


def test_every_camera_delivers_its_dng_and_its_jpeg_to_each_take(studio_files: Path, tmp_path: Path) -> None:
    rig_path = with_test_card_images(studio_files / "rig.yaml")  # the pairs matter here, not the pixels
    text = rig_path.read_text(encoding="utf-8")
    assert text.count("formats: [jpeg]") == 16
    rig_path.write_text(text.replace("formats: [jpeg]", "formats: [raw, jpeg]"), encoding="utf-8")
    rig = capturerig.load_rig(rig_path)
    plan = capturerig.load_plan(studio_files / "plan.yaml", rig)
    session = Session.create(rig, plan, subject="S-test", out=tmp_path / "session")
    assert session.run().state == RunState.DONE
    takes = expand_plan(rig.config, plan.config)
    stored = list(session.folder.journal.events("FileStored"))
    per_take = Counter((e["take_id"], e["file_format"]) for e in stored)
    assert per_take == Counter({(t.id, f): 16 for t in takes for f in ("raw", "jpeg")})
    pairs = {(e["take_id"], e["camera_id"]): e for e in stored if e["file_format"] == "raw"}
    first = next(iter(pairs.values()))
    assert first["path"].endswith(".dng")
    assert first["card_name"].endswith(".DNG")
    developed = develop_linear(session.folder.path / first["path"], half_size=True)
    assert 0.0 < float(developed.rgb.mean()) < 1.0  # a real exposure, not black or clipped
