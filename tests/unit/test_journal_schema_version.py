"""The journal's schema version: new journals carry it, older ones are stamped, newer or foreign ones refused.

What the operator sees: a session from a newer capturerig is refused with both versions, the file and
"use a newer capturerig"; a file that is no capturerig journal is refused with the way out; in both cases
nothing in the session folder changes. Journals written before versions existed keep opening.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from capturerig.cli import app
from capturerig.engine import JOURNAL_SCHEMA_VERSION, Journal, JournalError
from tests.conftest import copy_unversioned_session

JOURNAL = "journal.sqlite"


def _sql(session_dir: Path, *statements: str | tuple[str, tuple[Any, ...]]) -> list[list[Any]]:
    """Run statements on the session's journal as another program would, then close it; their rows."""
    with closing(sqlite3.connect(session_dir / JOURNAL, isolation_level=None)) as db:
        return [db.execute(*((s,) if isinstance(s, str) else s)).fetchall() for s in statements]


def _user_version(session_dir: Path) -> int:
    return int(_sql(session_dir, "PRAGMA user_version")[0][0][0])


def _folder_digest(folder: Path) -> dict[str, str]:
    """Every file in the folder by its hash: what 'nothing was changed' means."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def unversioned(tmp_path: Path) -> Path:
    """A copy of a session folder written (and interrupted) by the release before journals had a version."""
    return copy_unversioned_session(tmp_path / "unversioned")


def _written_by_a_newer_release(session_dir: Path, version: int) -> None:
    """What a future release leaves: a new column, and the version in the header and in the meta row."""
    Journal(session_dir).close()
    _sql(session_dir, "ALTER TABLE files ADD COLUMN thumbnail TEXT",
         ("INSERT OR REPLACE INTO meta VALUES ('journal_schema', ?)", (str(version),)),
         f"PRAGMA user_version={version}")


def test_this_release_writes_journal_schema_version_1() -> None:
    # Bumping it means a migration, a fixture of the previous version and a test that resumes it.
    assert JOURNAL_SCHEMA_VERSION == 1


def test_a_new_journal_carries_the_schema_version_in_its_header_and_its_meta_row(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    assert journal.meta("journal_schema") == JOURNAL_SCHEMA_VERSION
    journal.close()
    assert _user_version(tmp_path) == JOURNAL_SCHEMA_VERSION
    reopened = Journal(tmp_path)  # and this release reads what it wrote
    assert reopened.takes() == {}
    reopened.close()


def test_a_journal_from_a_newer_capturerig_is_refused_naming_both_versions_and_changing_nothing(
        tmp_path: Path) -> None:
    _written_by_a_newer_release(tmp_path, JOURNAL_SCHEMA_VERSION + 1)
    before = _folder_digest(tmp_path)
    with pytest.raises(JournalError) as refused:
        Journal(tmp_path)
    message = str(refused.value)
    assert message.startswith(f"{tmp_path / JOURNAL}: the session journal is schema version "
                              f"{JOURNAL_SCHEMA_VERSION + 1}, newer than this capturerig")
    assert f"(schema version {JOURNAL_SCHEMA_VERSION} and older)" in message
    assert "nothing was changed" in message
    assert "use a newer capturerig" in message
    assert _folder_digest(tmp_path) == before
    assert _user_version(tmp_path) == JOURNAL_SCHEMA_VERSION + 1


def test_resume_of_a_session_from_a_newer_capturerig_says_to_use_a_newer_one(unversioned: Path) -> None:
    _written_by_a_newer_release(unversioned, 7)
    before = _folder_digest(unversioned)
    result = CliRunner().invoke(app, ["resume", str(unversioned), "--yes"], terminal_width=400)
    assert result.exit_code == 2, result.output
    assert f"{unversioned / JOURNAL}: the session journal is schema version 7" in result.output
    assert f"schema version {JOURNAL_SCHEMA_VERSION} and older" in result.output
    assert "use a newer capturerig" in result.output
    assert _folder_digest(unversioned) == before


@pytest.mark.parametrize(("header", "row"), [(2, "1"), (0, "1"), (-1, None), (1, None)],
                         ids=["header-newer-than-row", "header-zeroed", "header-negative", "row-missing"])
def test_a_header_version_its_meta_row_does_not_confirm_is_reported_as_damage(
        tmp_path: Path, header: int, row: str | None) -> None:
    # The header's four bytes have no checksum: a damaged one must not send the operator off to upgrade.
    Journal(tmp_path).close()
    _sql(tmp_path, ("DELETE FROM meta WHERE key='journal_schema'", ()) if row is None else
         ("UPDATE meta SET value=? WHERE key='journal_schema'", (row,)), f"PRAGMA user_version={header}")
    with pytest.raises(JournalError) as refused:
        Journal(tmp_path)
    message = str(refused.value)
    assert message.startswith(f"{tmp_path / JOURNAL}: the session journal is damaged (its header says schema "
                              f"version {header}, its meta table ")
    assert "copy the session folder somewhere safe" in message


def test_a_journal_of_this_version_missing_a_column_is_reported_as_damage(tmp_path: Path) -> None:
    Journal(tmp_path).close()
    _sql(tmp_path, "ALTER TABLE files DROP COLUMN card_name")
    with pytest.raises(JournalError, match=r"the session journal is damaged \(it says schema version 1 but "
                                           r"table files lacks column 'card_name TEXT'\)"):
        Journal(tmp_path)


def test_an_unversioned_journal_of_the_releases_before_is_stamped_in_place_and_keeps_every_row(
        unversioned: Path) -> None:
    assert _user_version(unversioned) == 0
    every_row = ("SELECT * FROM takes ORDER BY 1", "SELECT * FROM files ORDER BY 1", "SELECT * FROM events ORDER BY 1")
    rows_before = _sql(unversioned, *every_row)
    journal = Journal(unversioned)
    assert journal.meta("journal_schema") == JOURNAL_SCHEMA_VERSION
    assert {take.status for take in journal.takes().values()} == {"verified", "failed"}
    journal.close()
    assert _user_version(unversioned) == JOURNAL_SCHEMA_VERSION
    assert _sql(unversioned, *every_row) == rows_before


def _another_apps_database(session_dir: Path) -> None:
    """Some other program's SQLite file copied over the journal (rollback mode, as SQLite makes files)."""
    (session_dir / JOURNAL).unlink()
    _sql(session_dir, "CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)",
         "INSERT INTO photos (name) VALUES ('holiday.jpg')")


def _files_without_origin(session_dir: Path) -> None:
    """A layout no release wrote: the unversioned journal with a column gone."""
    _sql(session_dir, "ALTER TABLE files DROP COLUMN origin")


@pytest.mark.parametrize(("make", "problem"), [
    (_another_apps_database, "no table events; no table files; no table meta"),
    (_files_without_origin, "table files lacks column 'origin TEXT NOT NULL DEFAULT 'capture''"),
], ids=["another-apps-database", "files-without-origin"])
def test_an_unversioned_file_that_is_not_a_capturerig_journal_is_refused_with_the_way_out(
        unversioned: Path, make: Callable[[Path], None], problem: str) -> None:
    make(unversioned)
    before = _folder_digest(unversioned)
    result = CliRunner().invoke(app, ["resume", str(unversioned), "--yes"], terminal_width=400)
    assert result.exit_code == 2, result.output
    output = " ".join(result.output.split())
    assert (f"{unversioned / JOURNAL}: the session journal is damaged or not a capturerig journal: it has no "
            f"schema version and its tables are not the ones capturerig writes ({problem}") in output
    assert "nothing was changed" in output
    assert f"The images in {unversioned / 'images'} are intact files" in output
    assert "put back its journal from a backup (or re-shoot into a new session)" in output
    assert _folder_digest(unversioned) == before
