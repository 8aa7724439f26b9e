"""A session holding a RAW from a camera LibRaw does not know (a body newer than this LibRaw, stored whole as
captured: it is the camera's file): packaging and development refuse it by name, maker and model, and leave
nothing half-written."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from capturerig.cli import app
from capturerig.develop import DevelopError
from capturerig.engine import Journal, package_session
from tests._raw_sessions import shoot_small_raw_session
from tests.unit.test_develop_unknown_camera import _unknown_makers_raw

runner = CliRunner()


@pytest.fixture(scope="module")
def session_with_unknown_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A RAW session (cam00 RAW+JPEG) whose first DNG came from an unknown body, journalled as captured."""
    session = shoot_small_raw_session(tmp_path_factory.mktemp("unknown"), cameras=1)
    journal = Journal(session)
    try:
        raw = next(f for f in journal.verified_files() if f.format == "raw")
    finally:
        journal.close()
    data = _unknown_makers_raw()
    (session / raw.path).write_bytes(data)
    with sqlite3.connect(session / "journal.sqlite") as db:  # what storage journals for a whole file
        db.execute("UPDATE files SET sha256 = ?, size = ? WHERE path = ?",
                   (hashlib.sha256(data).hexdigest(), len(data), raw.path))
    return session / raw.path


def test_packaging_refuses_the_unknown_cameras_raw_by_name_and_leaves_no_package(
        session_with_unknown_raw: Path, tmp_path: Path) -> None:
    raw = session_with_unknown_raw
    session = next(p for p in raw.parents if (p / "journal.sqlite").is_file())
    with pytest.raises(DevelopError) as refused:
        package_session(session, tmp_path / "packages" / "p")
    assert str(raw.name) in str(refused.value)
    assert "maker 'Acme Optics', model 'Hyperion X9'" in str(refused.value)
    assert list((tmp_path / "packages").iterdir()) == []  # neither the package nor a partial one


def test_development_names_the_unknown_cameras_raw_and_develops_the_rest(
        session_with_unknown_raw: Path, tmp_path: Path) -> None:
    raw = session_with_unknown_raw
    session = next(p for p in raw.parents if (p / "journal.sqlite").is_file())
    result = runner.invoke(app, ["develop", str(session), "--out", str(tmp_path / "dev"), "--workers", "1"])
    assert result.exit_code == 1, result.output
    assert raw.name in result.output
    assert "Acme Optics" in result.output
    developed = sorted(p.name for p in (tmp_path / "dev").rglob("*.png"))
    assert raw.stem + ".png" not in developed
    assert len(developed) >= 1  # the other RAW files of the camera were developed
    assert not [p for p in (tmp_path / "dev").rglob(".*")], "a temporary file was left behind"
