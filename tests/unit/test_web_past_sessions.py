"""Past sessions read back for the panel: the list's order, and one session's takes, status and files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from capturerig.web._past_sessions import session_order, session_view
from capturerig.web._problems import PanelProblem
from tests.conftest import copy_unversioned_session


def test_sessions_are_listed_newest_start_first_and_the_order_never_jumps() -> None:
    rows = [{"name": "b", "created_at": 100.0}, {"name": "broken", "created_at": None},
            {"name": "a", "created_at": 300}, {"name": "c", "created_at": 100.0},
            {"name": "garbled", "created_at": "yesterday"}]  # a session.json edited by hand
    assert [r["name"] for r in session_order(rows)] == ["a", "c", "b", "garbled", "broken"]
    assert session_order(list(reversed(rows))) == session_order(rows)  # ties broken by name, not by reading order


def test_a_past_session_reads_back_its_takes_status_and_files(tmp_path: Path) -> None:
    folder = copy_unversioned_session(tmp_path / "old-session")
    view = session_view(folder)
    session = view["session"]
    assert session["name"] == "old-session"
    assert (session["subject"], session["plan"], session["state"]) == ("mannequin", "tiny-journal-v0", "aborted")
    assert session["cameras"] == ["cam00", "cam01"]
    assert (session["takes_planned"], session["takes_verified"]) == (4, 1)
    assert [t["id"] for t in view["takes"]] == ["p00/s00/l00/b0", "p00/s00/l01/b0", "p00/s01/l00/b0", "p00/s01/l01/b0"]
    assert view["status"]["p00/s00/l00/b0"] == {"status": "verified", "attempt": 1, "error": None, "files": {
        "cam00": "images/cam00_p00_s00_l00.jpg", "cam01": "images/cam01_p00_s00_l00.jpg"}}
    assert view["status"]["p00/s00/l01/b0"]["status"] == "failed"
    assert "p00/s01/l00/b0" not in view["status"]  # never shot: the sheet shows it empty
    assert len(view["files"]) == 4
    for record in view["files"]:
        data = (folder / record["path"]).read_bytes()
        assert (record["size"], record["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())


def test_a_session_whose_journal_is_damaged_is_named_with_what_to_do(tmp_path: Path) -> None:
    folder = copy_unversioned_session(tmp_path / "damaged")
    (folder / "journal.sqlite").write_bytes(b"this is not a database" * 100)
    with pytest.raises(PanelProblem) as refused:
        session_view(folder)
    problem = refused.value
    assert problem.what.startswith("session damaged cannot be read: its journal is damaged")
    assert problem.where == str(folder / "journal.sqlite")  # the very file, for the technician to restore
    assert "restore journal.sqlite" in problem.todo
