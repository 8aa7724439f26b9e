"""Session folders the panel cannot read, as problems a technician can act on: which file of which session,
what is wrong with it, and what to do, so the sessions list shows the folder as a row with its problem (the
others listed as usual) and opening it answers that problem instead of a 500.

A session folder holds ``session.json`` (who, what, when), ``rig.yaml`` and ``plan.yaml`` (the snapshots it
was shot with), ``journal.sqlite`` (what was shot and proved) and ``images/``; any of them can be missing,
damaged or unreadable to the panel's user.
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from capturerig.config import ConfigError
from capturerig.engine import JournalError, Session
from capturerig.web._problems import PanelProblem, config_problem

__all__ = ["READ_ERRORS", "diagnose", "looks_like_session", "require_readable", "session_folders",
           "session_problem", "session_row"]

SESSION_FILE = "session.json"  # the engine's names for a session folder's files
JOURNAL_FILE = "journal.sqlite"
_SESSION_FILES = (SESSION_FILE, JOURNAL_FILE)
# What reading a session folder raises when the folder, not the panel, is at fault.
READ_ERRORS: tuple[type[Exception], ...] = (OSError, TypeError, ValueError, KeyError, sqlite3.Error, ConfigError,
                                            JournalError)
_KEEP_SAFE = "copy the session folder somewhere safe first (its images are intact files)"


def looks_like_session(path: Path) -> bool:
    """A folder the panel lists as a session: it holds ``session.json`` or a journal (one of them may be the
    file that went missing). A folder the panel may not even look into counts too: its row says so."""
    try:
        return path.is_dir() and not path.is_symlink() and any((path / name).exists() for name in _SESSION_FILES)
    except PermissionError:
        return True


def session_folders(sessions_dir: Path) -> list[Path]:
    """The folders of ``sessions_dir`` the list shows; a PanelProblem when the panel cannot list the folder."""
    try:
        return [path for path in sessions_dir.iterdir() if looks_like_session(path)]
    except OSError as exc:
        raise PanelProblem(f"the sessions folder cannot be read: {exc.strerror or exc}", str(sessions_dir),
                           "give the user the panel runs as read access to it, or serve another studio folder "
                           "(`capturerig serve DIR`)", status=503) from exc


def _journal_reason(exc: Exception, journal: Path) -> str:
    """The short reason out of a journal error (whose message also names the path and what to do)."""
    text = str(exc).removeprefix(f"{journal}: ")
    return text.split("; nothing was changed")[0]


def session_problem(folder: Path, exc: BaseException) -> PanelProblem:
    """What ``exc``, raised reading session folder ``folder``, means for the technician."""
    name = folder.name
    if isinstance(exc, PanelProblem):
        return exc
    if isinstance(exc, PermissionError):
        where = exc.filename or str(folder)
        return PanelProblem(f"session {name} cannot be read: the panel may not read {Path(where).name}", str(where),
                            f"give the user the panel runs as read access to the folder (as its owner: "
                            f"`chmod -R u+rwX,g+rX {folder}`), or move the folder out of the sessions folder",
                            status=403)
    if isinstance(exc, FileNotFoundError):
        missing = Path(exc.filename) if exc.filename else folder / SESSION_FILE
        todo = f"{_KEEP_SAFE}, then put {missing.name} back from the studio's backup"
        if missing.name == SESSION_FILE:
            todo += (f"; the journal keeps a copy of its fields (`sqlite3 {folder / JOURNAL_FILE} \"SELECT value "
                     "FROM meta WHERE key='session'\"`)")
        elif missing.name == JOURNAL_FILE:
            todo += "; until then the panel cannot tell which takes were shot and proved"
        return PanelProblem(f"session {name} cannot be read: {missing.name} is missing", str(missing), todo)
    if isinstance(exc, json.JSONDecodeError):
        return PanelProblem(f"session {name} cannot be read: {SESSION_FILE} is not valid JSON ({exc.msg})",
                            f"{folder / SESSION_FILE}:{exc.lineno}",
                            f"{_KEEP_SAFE}, then restore {SESSION_FILE} from the studio's backup (the journal keeps "
                            f"a copy of its fields in its meta row 'session')")
    if isinstance(exc, ConfigError):
        snapshot = folder / Path(exc.problems[0].file).name if exc.problems else folder
        return config_problem(exc, f"session {name} cannot be read: its snapshot {snapshot.name} has an error",
                              snapshot, f"{_KEEP_SAFE}, then restore {snapshot.name} from the studio's backup: it "
                                        "must be the rig or plan the session was shot with")
    if isinstance(exc, JournalError | sqlite3.Error):
        journal = folder / JOURNAL_FILE
        return PanelProblem(f"session {name} cannot be read: its journal is damaged or unreadable "
                            f"({_journal_reason(exc, journal)})", str(journal),
                            f"{_KEEP_SAFE}, then restore {JOURNAL_FILE} from the studio's backup (or re-shoot "
                            "into a new session); the panel changed nothing in it")
    if isinstance(exc, OSError):
        where = exc.filename or str(folder)
        return PanelProblem(f"session {name} cannot be read: {exc.strerror or exc}", str(where),
                            f"check the disk and the folder ({_KEEP_SAFE}); the other sessions are not affected")
    # TypeError, KeyError, ValueError: session.json parses but is not a session record
    return PanelProblem(f"session {name} cannot be read: {SESSION_FILE} is not a capturerig session record "
                        f"({exc})", str(folder / SESSION_FILE),
                        f"{_KEEP_SAFE}, then restore {SESSION_FILE} from the studio's backup")


def _missing_journal(folder: Path) -> PanelProblem | None:
    """A session record without its journal: opening it would start an empty journal and show nothing shot."""
    journal = folder / JOURNAL_FILE
    try:
        missing = (folder / SESSION_FILE).is_file() and not journal.exists()
    except PermissionError as exc:
        return session_problem(folder, exc)
    if missing:
        return session_problem(folder, FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(journal)))
    return None


def _problem_row(folder: Path, problem: PanelProblem) -> dict[str, Any]:
    return {"name": folder.name, "subject": "?", "rig": "?", "plan": "?", "created_at": None, "state": "unreadable",
            "error": problem.one_line(), "takes_planned": 0, "takes_verified": 0, "takes_failed": [],
            "problem": problem.as_dict()}


def diagnose(folder: Path) -> PanelProblem | None:
    """Open ``folder`` as the engine does and say what stops it; None when it opens. A missing journal is a
    problem found before opening (which would start an empty one)."""
    missing = _missing_journal(folder)
    if missing is not None:
        return missing
    try:
        opened = Session.open(folder)
    except READ_ERRORS as exc:
        return session_problem(folder, exc)
    opened.close()
    return None


def session_row(describe: Callable[[Path], dict[str, Any]], folder: Path) -> dict[str, Any]:
    """The sessions list's row of ``folder`` (``describe`` makes it); an unreadable folder's row carries
    ``problem`` (what, where, todo), and ``error`` is its one line."""
    missing = _missing_journal(folder)
    if missing is not None:
        return _problem_row(folder, missing)
    try:
        row = describe(folder)
    except READ_ERRORS as exc:  # an error describe did not expect (a damaged journal): still a row
        return _problem_row(folder, session_problem(folder, exc))
    if row.get("state") == "unreadable":
        found = diagnose(folder) or PanelProblem(f"session {folder.name} cannot be read: {row.get('error')}",
                                                 str(folder), _KEEP_SAFE)
        row.update(error=found.one_line(), problem=found.as_dict())
    return row


def require_readable(folder: Path) -> None:
    """Raise the :func:`session_problem` that stops session ``folder`` from opening, if any (before acting on it)."""
    problem = diagnose(folder)
    if problem is not None:
        raise problem
