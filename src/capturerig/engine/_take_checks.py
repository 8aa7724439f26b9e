"""The per-image checks during a session: each verified take's files checked on one background thread.

The file verifier hands a take over (``submit``) once its files are stored, hashed and journalled; the checks
(``capturerig.qc``) run in a child process at the lowest CPU priority (``capturerig.qc.SERVE_SCRIPT``: no GIL
shared with the capture's threads, and a decoder crash cannot take the controller down), fed and read by one
thread here, never on the capture's critical path; each take's result is journalled and published as
``TakeChecked``. What a failed check leads to (the plan's ``qc.on_fail``) is the runner's to
decide: it passes ``decide``, called here before the event is published, so the event says it.
"""

from __future__ import annotations

import json
import logging
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from capturerig.config import PLATE_POSE_ID, QcSettings
from capturerig.engine._events import Event, FileStored, QcAction, SessionMessage, TakeChecked
from capturerig.engine._journal import Journal, TakeStatus
from capturerig.plan import Take
from capturerig.qc import SERVE_SCRIPT, QcFile, Verdict

__all__ = ["DRAIN_TIMEOUT_S", "TakeChecks", "checked_attempts"]

log = logging.getLogger(__name__)
# At the end of a run the checks still queued are finished before it reports done; past this they are left
# to `capturerig qc` (a warning says which). ~10 ms per image: 120 s is some 12 000 images behind.
DRAIN_TIMEOUT_S = 120.0
CHILD_START_TIMEOUT_S = 60.0  # the child imports numpy, OpenCV and capturerig before its first answer
Decide = Callable[[Take, int, Verdict], QcAction]


@dataclass(frozen=True)
class _Job:
    take: Take
    attempt: int
    files: tuple[QcFile, ...]


def checked_attempts(journal: Journal) -> dict[str, dict[str, Any]]:
    """Per take, the latest ``TakeChecked`` the journal holds (as its fields)."""
    return {event["take_id"]: event for event in journal.events("TakeChecked")}


def _file_json(checked: dict[str, Any], session_dir: Path) -> dict[str, Any]:
    """One file of the child's ``TakeQc.to_json()`` as ``TakeChecked`` carries it."""
    path = Path(checked["path"])
    relative = str(path.relative_to(session_dir)) if path.is_relative_to(session_dir) else str(path)
    checks = [{k: c[k] for k in ("check", "verdict", "reason", "figures")} for c in checked["checks"]]
    problems = sorted((c for c in checks if c["verdict"] != Verdict.OK.value),
                      key=lambda c: -Verdict(c["verdict"]).rank)
    return {"camera": checked["camera"], "path": relative, "format": checked["format"],
            "verdict": checked["verdict"], "checks": checks, "reasons": [c["reason"] for c in problems]}


class ChecksGone(RuntimeError):
    """The checks' child process ended or cannot be started (the capture goes on; its takes are left unchecked)."""


class _Child:
    """The child process running the checks, spoken to in JSON lines (only from the checks' thread)."""

    def __init__(self, camera_ids: Sequence[str], settings: QcSettings, regions: dict[str, Any] | None) -> None:
        try:
            self._process = subprocess.Popen([sys.executable, str(SERVE_SCRIPT)], stdin=subprocess.PIPE,
                                             stdout=subprocess.PIPE, text=True, encoding="utf-8")
        except OSError as exc:
            raise ChecksGone(f"cannot start {sys.executable} {SERVE_SCRIPT}: {exc}") from exc
        self.ask({"cameras": list(camera_ids), "settings": settings.model_dump(mode="json"), "regions": regions})

    def ask(self, request: dict[str, Any]) -> dict[str, Any]:
        stdin, stdout = self._process.stdin, self._process.stdout
        assert stdin is not None  # both are pipes (Popen above)
        assert stdout is not None
        try:
            stdin.write(json.dumps(request) + "\n")
            stdin.flush()
            line = stdout.readline()
        except OSError as exc:  # a broken pipe: it has ended
            raise ChecksGone(f"the checks' process ended ({self._status()}; {exc})") from exc
        if not line:
            raise ChecksGone(f"the checks' process ended ({self._status()})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def _status(self) -> str:
        try:
            return f"exit status {self._process.wait(timeout=1.0)}"
        except subprocess.TimeoutExpired:
            return "still running, not answering"

    def close(self) -> None:
        """Close its stdin (it ends), then wait briefly; a child that does not end is killed."""
        if self._process.stdin is not None:
            try:
                self._process.stdin.close()
            except OSError as exc:  # a broken pipe: it has gone already
                log.debug("checks' process stdin: %s", exc)
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()


class TakeChecks:
    """One session's checks: a queue of verified takes and the thread that has the child check them in order.

    Parameters
    ----------
    camera_ids, settings
        The rig's cameras and the plan's ``qc`` section.
    session_dir
        The session folder (the journal's file paths are relative to it).
    publish
        Publishes ``TakeChecked`` (the journal records it; a journal failure is kept in ``error`` and raised
        by ``raise_failure``, so it stops the run at its next take boundary).
    decide
        What a take's verdict leads to, from the runner (called on the checks' thread).
    regions
        The geometry the cameras' subject regions are projected through (:func:`capturerig.qc.regions_document`);
        None: the centre of each frame.
    """

    def __init__(self, camera_ids: Sequence[str], settings: QcSettings, session_dir: Path,
                 publish: Callable[[Event], None], decide: Decide, regions: dict[str, Any] | None = None) -> None:
        self.settings = settings
        self._regions = regions
        self.session_dir = session_dir
        self._camera_ids = list(camera_ids)
        self._publish = publish
        self._decide = decide
        self._queue: queue.Queue[_Job | Callable[[_Child], None] | None] = queue.Queue()
        self._idle = threading.Condition()
        self._queued: dict[str, int] = {}  # take id -> jobs queued or running
        self.error: BaseException | None = None  # the journal refused a result: the run stops
        self.gone: str | None = None  # the child ended or never started: the capture goes on unchecked
        self.unchecked: list[str] = []  # takes the child could not check (it had gone)
        self._stopping = False
        self._thread = threading.Thread(target=self._work, name="capturerig-checks", daemon=True)
        self._thread.start()

    # -- feeding ---------------------------------------------------------------------------------------------
    def submit(self, take: Take, attempt: int, stored: Sequence[FileStored]) -> None:
        """Queue a verified take's stored files (returns at once; on the verify thread)."""
        self._enqueue(take, attempt, [QcFile(self.session_dir / e.path, e.camera_id, e.file_format) for e in stored])

    def _enqueue(self, take: Take, attempt: int, files: Sequence[QcFile]) -> None:
        with self._idle:
            self._queued[take.id] = self._queued.get(take.id, 0) + 1
        self._queue.put(_Job(take, attempt, tuple(files)))

    def resume(self, journal: Journal, takes: Sequence[Take]) -> None:
        """A resumed session: the images of takes already checked become each camera's history again (their
        figures measured again, not judged), and verified takes never checked are checked. Runs on the checks'
        thread, first, so the capture does not wait for it."""
        records = journal.takes()
        checked = checked_attempts(journal)
        history: list[tuple[Take, list[QcFile]]] = []
        unchecked: list[tuple[Take, int, list[QcFile]]] = []
        for take in takes:
            record = records.get(take.id)
            if record is None or record.status != TakeStatus.VERIFIED or record.verified_attempt is None:
                continue
            files = {f.path: QcFile(self.session_dir / f.path, f.camera_id, f.format)
                     for f in journal.files(take.id, record.verified_attempt) if f.camera_id and f.format}
            event = checked.get(take.id)
            if event is not None and event.get("attempt") == record.verified_attempt:
                good = {f["path"] for f in event.get("files", []) if f.get("verdict") == Verdict.OK.value}
                history.append((take, [item for path, item in files.items() if path in good]))
            else:
                unchecked.append((take, record.verified_attempt, list(files.values())))
        # Each camera's baseline is its last images: more than the history keeps would be measured for nothing.
        recent = history[-self.settings.thresholds.history:]

        def remember(child: _Child) -> None:
            for take, files in recent:
                answer = child.ask(_request("reference", take, files))
                if not answer.get("ok"):  # a file gone or unreadable since: that take is no baseline
                    log.warning("checks: %s is left out of the cameras' history: %s", take.id, answer.get("error"))

        self._queue.put(remember)
        for take, attempt, items in unchecked:
            self._enqueue(take, attempt, items)

    # -- the runner's questions ------------------------------------------------------------------------------
    def wait(self, take_ids: Sequence[str] | None, timeout_s: float) -> list[str]:
        """Wait until the checks of ``take_ids`` (None: all queued) are done, at most ``timeout_s``; returns the
        take ids still queued."""
        deadline = time.monotonic() + timeout_s
        wanted = None if take_ids is None else set(take_ids)
        with self._idle:
            while True:
                left = [t for t, n in self._queued.items() if n and (wanted is None or t in wanted)]
                remaining = deadline - time.monotonic()
                if not left or remaining <= 0 or not self._thread.is_alive():
                    return left
                self._idle.wait(remaining)

    def raise_failure(self) -> None:
        """Raise what stopped the checks' thread (a journal that could not record a result)."""
        if self.error is not None:
            raise RuntimeError(f"the per-image checks stopped: {self.error}") from self.error

    def close(self, timeout_s: float = DRAIN_TIMEOUT_S) -> list[str]:
        """Finish the queued checks (at most ``timeout_s``), then stop the thread and the child; returns the
        takes left unchecked."""
        left = self.wait(None, timeout_s)
        self._stopping = True  # what is still queued is left to `capturerig qc`, not checked after the run
        self._queue.put(None)
        if not left:
            self._thread.join(timeout=timeout_s)
        return left

    # -- the thread ------------------------------------------------------------------------------------------
    def _work(self) -> None:
        child: _Child | None = None
        try:
            child = _Child(self._camera_ids, self.settings, self._regions)
        except ChecksGone as exc:
            self._went(exc)
        try:
            while (job := self._queue.get()) is not None:
                if not isinstance(job, _Job):
                    if child is not None and self.gone is None:
                        self._guarded(partial(job, child))
                    continue
                try:
                    if child is None or self.gone is not None:
                        self.unchecked.append(job.take.id)
                    elif self.error is None and not self._stopping:
                        self._guarded(partial(self._check, child, job))
                finally:
                    with self._idle:
                        self._queued[job.take.id] -= 1
                        self._idle.notify_all()
        finally:
            if child is not None:
                child.close()

    def _guarded(self, step: Callable[[], None]) -> None:
        try:
            step()
        except ChecksGone as exc:
            self._went(exc)
        except BaseException as exc:  # the journal refused the result: the run stops at its next boundary
            log.exception("per-image checks failed")
            self.error = exc

    def _went(self, exc: ChecksGone) -> None:
        self.gone = str(exc)
        log.error("per-image checks: %s; the capture goes on unchecked", exc)
        self._publish(SessionMessage(level="warning", text=f"per-image checks stopped: {exc}; the capture goes on "
                                     f"and `capturerig qc {self.session_dir}` checks it afterwards"))

    def _check(self, child: _Child, job: _Job) -> None:
        take = job.take
        answer = child.ask(_request("check", take, job.files))
        error = None if answer.get("ok") else str(answer.get("error"))
        files = [] if error else answer["result"]["files"]
        # A file stored and decoded, yet one the checks cannot read: said, and nothing acted on.
        verdict = Verdict.WARN if error else Verdict(answer["result"]["verdict"])
        action = QcAction.NONE if verdict is not Verdict.FAIL else self._decide(take, job.attempt, verdict)
        self._publish(TakeChecked(
            take_id=take.id, attempt=job.attempt, verdict=verdict.value,
            files=[_file_json(f, self.session_dir) for f in files], action=action, on_fail=self.settings.on_fail,
            seconds=round(sum(float(f["seconds"]) for f in files), 4), error=error))


def _request(op: str, take: Take, files: Sequence[QcFile]) -> dict[str, Any]:
    return {"op": op, "take": take.id, "light": take.lighting.state_id, "station": take.station.id,
            "plate": take.pose.id == PLATE_POSE_ID, "files": [[str(f.path), f.camera_id, f.format] for f in files]}
