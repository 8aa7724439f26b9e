"""A capture agent: the cameras physically attached to one host, their spool, and the link's answers.

The agent owns nothing else: lights, the trigger box and the turntable stay with the controller, and every
file name the session keeps is decided there. A command's answer is kept by its ``cmd_id`` for the boot's
life, so a retry gets the first answer and never acts twice.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from capturerig.agent._events import EventLog
from capturerig.agent._spool import Spool
from capturerig.agent._workers import CameraWorker
from capturerig.config import LoadedRig
from capturerig.devices import DriverContext, create_camera
from capturerig.devices.remote import (
    PROTOCOL_VERSION,
    AgentSnapshot,
    Command,
    CommandReply,
    Hello,
    SpoolPlace,
)

__all__ = ["Agent", "AgentSettings"]

log = logging.getLogger(__name__)
CARD_DELETE_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class AgentSettings:
    """What one agent serves: its host's name and cameras, where it spools, how often it says it is alive, and
    whether it keeps acknowledged files as local copies for post-capture work on this host."""

    host: str
    cameras: tuple[str, ...]
    spool_dir: Path
    reserve_bytes: int = 1_000_000_000
    heartbeat_s: float = 1.0
    keep_acknowledged: bool = False  # serve_agent passes the host's keep_acknowledged (on unless the rig says no)


class Agent:
    """The cameras of one host behind the agent link (served by ``agent_app``)."""

    def __init__(self, rig: LoadedRig, settings: AgentSettings, version: str) -> None:
        self.settings = settings
        self.version = version
        self.boot_id = uuid.uuid4().hex
        self.events = EventLog(self.boot_id)
        self.spool = Spool(settings.spool_dir, settings.reserve_bytes, settings.keep_acknowledged)
        for problem in self.spool.problems:
            log.error("spool: %s", problem)
        context = DriverContext(rig.config, rig.path.parent, host=settings.host)
        self.workers: dict[str, CameraWorker] = {}
        try:
            for camera_id in settings.cameras:
                camera = create_camera(rig.config.camera(camera_id), context)
                self.workers[camera_id] = CameraWorker(camera, self.spool, self.events)
        except BaseException:
            self.close()
            raise
        self._lock = threading.Lock()
        self._answers: dict[str, Future[CommandReply]] = {}

    def hello(self) -> Hello:
        return Hello(protocol=PROTOCOL_VERSION, capturerig_version=self.version, host=self.settings.host,
                     boot_id=self.boot_id, cameras=list(self.settings.cameras), clock=time.time(),
                     heartbeat_s=self.settings.heartbeat_s, spool=self.spool.summary(),
                     last_seq=self.events.last_seq)

    def spool_place(self) -> SpoolPlace:
        """Where this host keeps its spooled files (a post-capture task here reads its kept copies there)."""
        return SpoolPlace(host=self.settings.host, files_dir=str(self.spool.files_dir.resolve()),
                          keep_acknowledged=self.spool.keep_acknowledged)

    def snapshot(self) -> AgentSnapshot:
        return AgentSnapshot(host=self.settings.host, boot_id=self.boot_id, seq=self.events.last_seq,
                             cameras={c: w.view() for c, w in self.workers.items()},
                             files=self.spool.unacknowledged(), spool=self.spool.summary())

    def command(self, command: Command) -> CommandReply:
        """Run ``command`` once; a repeat of its ``cmd_id`` waits for and gets the same answer."""
        return self.submit(command).result()

    def submit(self, command: Command) -> Future[CommandReply]:
        """Queue ``command`` on its camera (once: a repeat of its ``cmd_id`` gets the first one's answer)."""
        worker = self.workers.get(command.camera_id)
        if worker is None:
            unknown: Future[CommandReply] = Future()
            unknown.set_result(CommandReply(cmd_id=command.cmd_id, ok=False,
                                            error=f"{command.camera_id}: not a camera of host {self.settings.host}",
                                            hint="check the rig's hosts: section"))
            return unknown
        with self._lock:
            answer = self._answers.get(command.cmd_id)
            if answer is None:  # a handler's bug raises from the future: a retry of this id sees it too
                answer = self._answers[command.cmd_id] = worker.submit(command)
        return answer

    def acknowledge(self, file_ids: Sequence[str]) -> int:
        """The controller holds these files: no longer offered from the spool (deleted, or kept as a local copy),
        and deleted from the cards."""
        acked = self.spool.acknowledge(file_ids)
        by_camera: dict[str, list[str]] = {}
        for spooled in acked:
            by_camera.setdefault(spooled.camera_id, []).append(spooled.card_name)
        for camera_id, names in by_camera.items():
            worker = self.workers.get(camera_id)
            if worker is not None:
                worker.clear_card(names, CARD_DELETE_TIMEOUT_S)
        return len(acked)

    def close(self) -> None:
        for worker in self.workers.values():
            worker.close()
        self.spool.close()
