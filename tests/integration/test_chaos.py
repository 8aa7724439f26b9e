"""A short chaos run (CI): faults and SIGKILLs of the real controller, then resume; nothing lost or re-shot.

The acceptance run (``capturerig sim chaos --seed N --sessions 50``) is the long form of this test.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from capturerig.cli import app
from capturerig_sim._chaos_checks import check_session
from capturerig_sim._ledger import read_ledger
from capturerig_sim.chaos import ChaosSettings, ChaosSummary, run_chaos
from capturerig_sim.cli import print_summary

# Small and quick: 2 sessions of 4 takes on 4 small cameras, no modelled latency (a slow download gives up
# at once instead of after its timeout); every first run is killed mid-session.
SETTINGS = ChaosSettings(seed=3, sessions=2, stations=2, lights=2, cameras=4, time_scale=0.0, kill_probability=1.0,
                         disk_full_probability=0.5, max_runs=3, faults_per_run=(2, 4))


@pytest.fixture(scope="module")
def chaos(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ChaosSummary]:
    work = tmp_path_factory.mktemp("chaos") / "work"
    return work, run_chaos(SETTINGS, work)


def test_a_short_chaos_run_loses_nothing_and_reshoots_no_verified_take(
        chaos: tuple[Path, ChaosSummary], capsys: pytest.CaptureFixture[str]) -> None:
    _, summary = chaos
    assert summary.kills >= 2
    assert sum(summary.faults.values()) >= 1
    assert summary.lost == []
    assert summary.reshot == []
    for outcome in summary.outcomes:
        check = outcome.check
        assert check.verified + len(check.incomplete) == check.takes == 4
        assert all(reason for reason in check.incomplete.values())  # every missing take says why
        assert check.files >= 4 * check.verified  # every verified take kept all four cameras' files
    print_summary(summary)
    printed = capsys.readouterr().out
    for row in ("SIGKILLs", "lost files", "re-shot verified takes", "incomplete takes (reported)", "fault: "):
        assert row in printed


def test_the_checks_see_a_lost_file_and_an_erased_file_missing_from_the_session(
        chaos: tuple[Path, ChaosSummary]) -> None:
    work, _ = chaos
    session = work / "sessions" / "s000"
    ledger = read_ledger(work / "ledgers" / "s000.jsonl")
    victim = sorted((session / "images").iterdir())[0]
    victim.unlink()  # the file a broken disk would lose
    ledger.append({"event": "erased", "camera": "cam00", "card_name": "IMG_9999.JPG", "card_sha256": "0" * 64})
    check = check_session(session, [f"p00/s0{s}/l0{light}/b0" for s in range(2) for light in range(2)], ledger, ())
    assert any(line.startswith(f"images/{victim.name}: journalled but missing") for line in check.lost)
    assert "cam00 IMG_9999.JPG: erased from the card but not in the session" in check.lost


def test_a_verified_take_started_again_is_reported_as_reshot(tmp_path: Path, chaos: tuple[Path, ChaosSummary]) -> None:
    work, _ = chaos
    session = work / "sessions" / "s001"
    copy = tmp_path / "s001"
    shutil.copytree(session, copy)
    with sqlite3.connect(copy / "journal.sqlite") as db:
        db.execute("INSERT INTO events (at, kind, payload) VALUES (0, 'TakeStarted', ?)",
                   (json.dumps({"take_id": "p00/s00/l00/b0", "attempt": 9}),))
    check = check_session(copy, ["p00/s00/l00/b0"], [], ())
    assert check.reshot == ["p00/s00/l00/b0"]


def test_the_sim_commands_are_part_of_the_capturerig_cli() -> None:
    result = CliRunner().invoke(app, ["sim", "chaos", "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert "--seed" in result.output
    assert "--sessions" in result.output
