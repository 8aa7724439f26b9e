"""The ways of shooting a pose behind one small interface, and the parts they are made of.

The runner (engine/_runner.py) drives a ``Shooter`` through the rounds of a pose and keeps the policy: the
state machine, the checkpoints (pause, abort, disk reserve) and what a failed take means (shot again now,
the pose shot again, or the session failed). A shooter answers to it through ``RoundControl``. Two shooters
exist: take by take (engine/_take_by_take.py; each take stored while the next is shot) and a burst on the
trigger box (engine/_burst.py; every state in the hold, the downloads after it). Both are assembled from
the same ``TakeParts``: lights ahead, table ahead, firing and the file verifier.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Protocol

from capturerig.config import PlanConfig
from capturerig.engine._events import Event, PhotosensitivityOverrideUsed
from capturerig.engine._firing import Firing
from capturerig.engine._lights_ahead import LightsAhead
from capturerig.engine._rigdevices import RigDevices
from capturerig.engine._shot import TakeAttemptFailed
from capturerig.engine._table_ahead import TableAhead
from capturerig.engine._verifier import FileVerifier
from capturerig.lighting import FlashGovernor, flash_limit
from capturerig.plan import Take

__all__ = ["Flight", "Next", "RoundControl", "Shooter", "TakeParts"]

Flight = tuple[Take, "Future[dict[str, list[str]]]"]  # a shot take whose files are being stored and verified


class Next(Enum):
    """What the shooter does after a take has landed (been verified, or failed)."""

    GO_ON = "go on"
    AGAIN = "shoot this take again now"
    STOP = "shoot no further take this round (the ones in flight still land)"


class RoundControl(Protocol):
    """What a shooter asks of the runner during one round of a pose."""

    total: int  # takes in the whole plan, for the events

    def before(self, take: Take, storing: Take | None, along: Sequence[Take] = ()) -> None:
        """At a take boundary, before ``take`` (and the takes shot ``along`` with it): honours pause and abort
        and the disk reserve (``storing``: the take whose files are still being stored). Raises to stop."""

    def attempt(self, take: Take) -> int:
        """The attempt number ``take`` is shot as now."""

    def landed(self, take: Take, failure: TakeAttemptFailed | None) -> Next:
        """``take`` was verified (``failure`` None) or failed; raises when the session cannot go on."""

    def lost(self, take: Take, failure: TakeAttemptFailed) -> None:
        """On the way out (abort, stop, crash) ``take`` failed: it is not shot again."""


class Shooter(Protocol):
    """A way of shooting a pose's takes."""

    def ready(self, takes: Sequence[Take]) -> None:
        """Before the pose is announced: what can be done before the person holds it."""

    def shoot(self, takes: Sequence[Take], control: RoundControl) -> None:
        """One round: shoot ``takes`` and land every one of them through ``control``."""

    def close(self) -> None:
        """After the pose."""


@dataclass(frozen=True)
class TakeParts:
    """The parts a shooter is made of, over one session's opened devices."""

    lights: LightsAhead
    table: TableAhead
    firing: Firing
    verifier: FileVerifier
    publish: Callable[[Event], None]
    publish_many: Callable[[Sequence[Event]], None]

    @classmethod
    def open(cls, devices: RigDevices, plan: PlanConfig, session_dir: Path, publish: Callable[[Event], None],
             publish_many: Callable[[Sequence[Event]], None], pool: ThreadPoolExecutor,
             session_id: str = "") -> TakeParts:
        limit = flash_limit(devices.rig, plan)  # a person gets the photosensitivity governor
        devices.governor = None if limit is None else FlashGovernor(limit)
        override = plan.subject.photosensitivity_override
        if limit is not None and override is not None:
            publish(PhotosensitivityOverrideUsed(screened_by=override.screened_by,
                                                 screened_on=override.screened_on.isoformat(),
                                                 max_flashes_per_s=override.max_flashes_per_s, note=override.note))
        firing = Firing(devices, plan, pool, publish, session_id)
        return cls(lights=LightsAhead(devices, plan.settle.lights_s, publish_many),
                   table=TableAhead(devices.turntable, plan.settle.turntable_s, publish),
                   firing=firing,
                   verifier=FileVerifier(devices, firing.body, session_dir, publish, publish_many, pool),
                   publish=publish, publish_many=publish_many)

    def forget_state(self) -> None:
        """After a pause or failure nothing about the lights, the bracket or the table's angle is assumed.
        A light change under way is waited for first, so that lights put safe after this stay safe."""
        try:
            self.lights.forget()
        finally:
            self.firing.forget()
            self.table.forget()

    def land(self, flight: Flight | None, control: RoundControl) -> Next:
        """Wait for a take's verify; clear its files from the cards and tell ``control`` how it went."""
        if flight is None:
            return Next.GO_ON
        take, verifying = flight
        try:
            deletable = verifying.result()
        except TakeAttemptFailed as failure:
            self.verifier.clear_cards(failure.journalled)  # its good files are journalled: they count
            return control.landed(take, failure)
        self.verifier.clear_cards(deletable)  # between two takes: no camera is busy with the next one
        return control.landed(take, None)

    def land_leaving(self, flight: Flight | None, control: RoundControl) -> None:
        """On the way out (abort, stop, crash): the take under way still gets stored and journalled."""
        if flight is None:
            return
        take, verifying = flight
        try:
            deletable = verifying.result()
        except TakeAttemptFailed as failure:
            self.verifier.clear_cards(failure.journalled)
            control.lost(take, failure)
            return
        self.verifier.clear_cards(deletable)
        control.landed(take, None)

    def close(self) -> None:
        """Finish storing any take under way, wait for a light change under way and stop the threads, so no
        light change lands after the lights are put safe."""
        self.verifier.close()
        try:
            self.lights.close()
        finally:
            self.firing.forget()
            self.table.forget()
            self.table.close()
