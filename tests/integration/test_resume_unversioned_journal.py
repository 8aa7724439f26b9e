"""A session interrupted under the release before journals had a schema version resumes to the end today.

The fixture (tests/fixtures/session-journal-v0, see tests/fixtures/README.md) is what that release wrote for
a tiny object plan of four takes aborted after the first: take 1 verified, take 2 failed by the abort with
its files stored, takes 3 and 4 never started.
"""

from __future__ import annotations

import hashlib
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
from typer.testing import CliRunner

from capturerig.cli import app
from capturerig.engine import JOURNAL_SCHEMA_VERSION, Event, RunState, Session, TakeStarted, TakeStatus
from tests.conftest import copy_unversioned_session

pytestmark = pytest.mark.usefixtures("fast_sim")

TAKES = ["p00/s00/l00/b0", "p00/s00/l01/b0", "p00/s01/l00/b0", "p00/s01/l01/b0"]
CAMERAS = 2


@pytest.fixture
def interrupted(tmp_path: Path) -> Path:
    target = copy_unversioned_session(tmp_path / "session")
    with closing(sqlite3.connect(target / "journal.sqlite")) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 0  # as the release before wrote it
        assert dict(db.execute("SELECT take_id, status FROM takes").fetchall()) == {
            TAKES[0]: TakeStatus.VERIFIED, TAKES[1]: TakeStatus.FAILED}
    return target


def _every_file_on_disk_is_journalled_with_its_hash(session: Session) -> None:
    journalled = {record.path: record.sha256 for record in session.folder.journal.files()}
    on_disk = {str(p.relative_to(session.path)): p for p in (session.path / "images").iterdir()}
    assert set(on_disk) == set(journalled)
    for relative, path in on_disk.items():
        assert hashlib.sha256(path.read_bytes()).hexdigest() == journalled[relative], relative


def test_a_session_interrupted_before_journals_had_a_version_resumes_to_the_end(interrupted: Path) -> None:
    session = Session.open(interrupted)
    with closing(sqlite3.connect(interrupted / "journal.sqlite")) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == JOURNAL_SCHEMA_VERSION
    started: list[Event] = []
    session.subscribe(started.append)
    result = session.run()
    assert result.state == RunState.DONE
    assert (result.takes_total, result.takes_verified, result.takes_shot_now) == (4, 4, 3)
    # The take verified before the interruption is not shot again; the one the abort failed is.
    assert [e.take_id for e in started if isinstance(e, TakeStarted)] == TAKES[1:]
    journal = session.folder.journal
    takes = journal.takes()
    assert list(takes) == TAKES
    assert {take.status for take in takes.values()} == {TakeStatus.VERIFIED}
    assert takes[TAKES[1]].verified_attempt == 2
    assert len(journal.verified_files()) == len(TAKES) * CAMERAS
    assert len(journal.files(TAKES[1], 1)) == CAMERAS  # the interrupted attempt's images are kept
    _every_file_on_disk_is_journalled_with_its_hash(session)
    session.close()


def test_capturerig_resume_finishes_an_unversioned_session(interrupted: Path) -> None:
    result = CliRunner().invoke(app, ["resume", str(interrupted), "--yes"], terminal_width=400)
    assert result.exit_code == 0, result.output
    assert "4/4 takes verified" in result.output
    session = Session.open(interrupted)  # and the stamped journal opens again as this version's own
    assert session.folder.journal.meta("journal_schema") == JOURNAL_SCHEMA_VERSION
    _every_file_on_disk_is_journalled_with_its_hash(session)
    session.close()
