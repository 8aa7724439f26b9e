"""The agent's event log: every event reaches a live subscriber once and in sequence order."""

from __future__ import annotations

import asyncio
import sys
import threading

from capturerig.agent._events import EventLog

PUBLISHERS = 8
EACH = 1000


def test_events_published_from_many_camera_threads_at_once_reach_the_socket_in_sequence_order() -> None:
    log = EventLog("boot-1")

    async def follow() -> list[int]:
        backlog, queue = log.subscribe(0)
        seen = [e.seq for e in backlog]
        publishers = [threading.Thread(target=lambda n=n: [log.publish(kind="exposure", camera_id=f"cam{n:02d}")
                                                           for _ in range(EACH)]) for n in range(PUBLISHERS)]
        for thread in publishers:
            thread.start()
        while len(seen) < PUBLISHERS * EACH:
            seen.append((await asyncio.wait_for(queue.get(), 10)).event.seq)
        for thread in publishers:
            thread.join()
        return seen

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads swapped as often as the interpreter can: a window between two is hit
    try:
        seen = asyncio.run(follow())
    finally:
        sys.setswitchinterval(switch)
    # The controller takes events strictly one after another; one out of order reads as a missed event.
    assert seen == list(range(1, PUBLISHERS * EACH + 1))


def test_a_subscriber_from_since_gets_the_rest_with_no_gap_and_no_repeat() -> None:
    log = EventLog("boot-1")
    for _ in range(5):
        log.publish(kind="exposure")

    async def follow() -> list[int]:
        backlog, queue = log.subscribe(3)
        log.publish(kind="exposure")
        return [e.seq for e in backlog] + [(await asyncio.wait_for(queue.get(), 5)).event.seq]

    assert asyncio.run(follow()) == [4, 5, 6]
    assert log.heartbeat(6).seq == 6
