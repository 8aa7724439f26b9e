"""Damaged journals: a truncated or overwritten journal gives a clear error, or a journal that tells the truth.

The truth is what is on disk: a take the reopened journal calls verified must have every one of its files
listed, present and with the journalled hash. A crash's write-ahead log cut short must fall back to an
earlier commit, never to a mix.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import capturerig
from capturerig.cli import app
from capturerig.engine import Journal, JournalError, RunState, Session, TakeStatus
from capturerig.engine._recovery import proven_done
from capturerig.packaging import sha256_file
from tests.conftest import EXAMPLES

FUZZ = settings(max_examples=40, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
                suppress_health_check=[HealthCheck.function_scoped_fixture])
JOURNAL = "journal.sqlite"


@pytest.fixture(scope="module")
def shot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished session (2 takes of 4 cameras) and, beside it, a copy taken mid-run with a live WAL."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CAPTURERIG_SIM_TIME_SCALE", "0")
        studio = tmp_path_factory.mktemp("studio")
        shutil.copytree(EXAMPLES, studio, dirs_exist_ok=True)
        plan = (studio / "plan.yaml").read_text()
        for old, new in (("  - {id: s01, angle_deg: 90}\n", ""), ("min_cameras: 16", "min_cameras: 4"),
                         ("camera_groups: [ring-low, ring-high]", "camera_groups: [ring-low]")):
            plan = plan.replace(old, new, 1)
        plan = plan.split("  - id: l02")[0] + plan[plan.index("brackets:"):]  # lighting l00 and l01 only
        (studio / "plan.yaml").write_text(plan)
        rig = capturerig.load_rig(studio / "rig.yaml")
        out = tmp_path_factory.mktemp("session") / "s"
        session = Session.create(rig, capturerig.load_plan(studio / "plan.yaml", rig), "S-test", out)
        assert session.run().state == RunState.DONE
        # A crash leaves the last commits in the WAL: copy the folder while a second writer holds it open.
        holder = sqlite3.connect(out / JOURNAL)
        holder.execute("PRAGMA wal_autocheckpoint=0")
        session.folder.journal.set_meta("after_checkpoint", "last commit, only in the WAL")
        shutil.copytree(out, out.parent / "crashed")
        holder.close()
        session.close()
    return out


def _truthful(session_dir: Path) -> None:
    """Reopen the journal as resume does: every take it would skip as done is whole on disk."""
    journal = Journal(session_dir)
    try:
        for take in journal.takes().values():
            if not proven_done(session_dir, journal, take.take_id):
                continue  # resume shoots it again: safe whatever the journal says
            assert take.status == TakeStatus.VERIFIED
            assert take.verified_attempt is not None
            for record in journal.files(take.take_id, take.verified_attempt):
                path = session_dir / record.path
                assert path.is_file(), record.path
                assert sha256_file(path) == record.sha256, record.path
        journal.events("TakeStarted")
        journal.meta("state")
        journal.verified_files()
    finally:
        journal.close()


def _damage(tmp_path: Path, source: Path, name: str, cut: int | None, writes: list[tuple[int, bytes]]) -> Path:
    target = tmp_path / "copy"
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    path = target / name
    data = bytearray(path.read_bytes())
    for offset, chunk in writes:
        where = offset % max(1, len(data))
        data[where: where + len(chunk)] = chunk
    if cut is not None:
        del data[cut % (len(data) + 1):]
    path.chmod(0o644)
    path.write_bytes(bytes(data))
    return target


WRITES = st.lists(st.tuples(st.integers(0, 2**20), st.binary(min_size=1, max_size=64)), max_size=4)


@FUZZ
@given(cut=st.one_of(st.none(), st.integers(0, 2**20)), writes=WRITES)
def test_a_damaged_journal_is_refused_clearly_or_still_tells_the_truth(
        shot: Path, tmp_path: Path, cut: int | None, writes: list[tuple[int, bytes]]) -> None:
    damaged = _damage(tmp_path, shot, JOURNAL, cut, writes)
    try:
        _truthful(damaged)
    except JournalError as error:
        refused: JournalError | None = error
    else:
        refused = None
    if refused is not None:
        assert str(refused).startswith(f"{damaged / JOURNAL}: the session journal is damaged")


@FUZZ
@given(cut=st.one_of(st.none(), st.integers(0, 2**16)), writes=WRITES)
def test_a_crashed_write_ahead_log_cut_short_falls_back_to_an_earlier_commit(
        shot: Path, tmp_path: Path, cut: int | None, writes: list[tuple[int, bytes]]) -> None:
    crashed = shot.parent / "crashed"
    assert (crashed / f"{JOURNAL}-wal").stat().st_size > 0
    damaged = _damage(tmp_path, crashed, f"{JOURNAL}-wal", cut, writes)
    try:
        _truthful(damaged)
    except JournalError as error:
        refused: JournalError | None = error
    else:
        refused = None
    if refused is not None:
        assert "the session journal is damaged" in str(refused)


def test_resume_on_a_journal_that_is_not_a_database_says_so_and_changes_nothing(shot: Path, tmp_path: Path) -> None:
    damaged = _damage(tmp_path, shot, JOURNAL, None, [(0, b"this is not SQLite " * 8)])
    before = (damaged / JOURNAL).read_bytes()
    result = CliRunner().invoke(app, ["resume", str(damaged), "--yes"], terminal_width=400)
    assert result.exit_code == 2
    assert f"{damaged / JOURNAL}: the session journal is damaged" in result.output
    assert "copy the session folder somewhere safe" in result.output
    assert (damaged / JOURNAL).read_bytes() == before


def test_a_record_overwritten_with_bytes_that_are_not_text_is_refused_clearly(shot: Path, tmp_path: Path) -> None:
    # Found by the fuzzer: such a record surfaced as a bare sqlite3/UnicodeDecodeError from a read.
    journal = Journal(shot)
    sha256 = journal.files()[0].sha256
    journal.close()
    offset = (shot / JOURNAL).read_bytes().index(sha256.encode())
    damaged = _damage(tmp_path, shot, JOURNAL, None, [(offset, b"\x89" * 8)])
    with pytest.raises(JournalError, match="the session journal is damaged"):
        _truthful(damaged)
