"""The WebSocket hub: engine events reach every client in order, a slow client loses its oldest events (and is
told how many), and nothing a client or a view does can block or break the engine's thread."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from capturerig.engine import EventBus, FileStored, RunState, StateChanged, TakeStarted
from capturerig.web import ClientQueue, EventHub, event_message


def _run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run ``scenario`` on a fresh event loop in its own thread (whatever loop this thread may hold)."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(scenario())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread below
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join(60)
    assert not thread.is_alive(), "the scenario did not finish in 60 s"
    if errors:
        raise errors[0]


def test_a_full_client_queue_drops_its_oldest_messages_and_counts_them() -> None:
    async def scenario() -> None:
        queue = ClientQueue(3)
        for index in range(5):
            queue.put(str(index))
        assert queue.dropped == 2
        assert [await queue.get() for _ in range(3)] == ["2", "3", "4"]
        waiter = asyncio.create_task(queue.get())
        await asyncio.sleep(0)
        queue.put("late")
        assert await asyncio.wait_for(waiter, 5) == "late"

    _run(scenario)


def test_engine_events_reach_every_client_in_order_and_a_client_that_never_reads_never_blocks_the_engine() -> None:
    async def scenario() -> None:
        seen: list[str] = []
        hub = EventHub(queue_size=8, reducers=[lambda m: seen.append(m["kind"])])
        hub.bind(asyncio.get_running_loop())
        reader, stalled = hub.connect(), hub.connect()
        bus = EventBus()
        bus.subscribe(lambda event: hub.publish_threadsafe(event_message(event, "s1")))
        total = 500

        def engine() -> None:  # the engine's thread: publishing returns at once however slow the clients are
            bus.publish(StateChanged(state=RunState.RUNNING))
            for index in range(total - 1):
                bus.publish(TakeStarted(take_id=f"t{index}", ordinal=index, total=total, attempt=1))

        thread = threading.Thread(target=engine)
        thread.start()
        received: list[str] = []
        while len(received) + reader.dropped < total:  # a reader slower than the engine loses the oldest
            received.append(await asyncio.wait_for(reader.get(), 10))
        await asyncio.to_thread(thread.join, 10)
        assert not thread.is_alive()
        assert len(seen) == total
        assert seen[0] == "StateChanged"
        ordinals = [int(text.split('"ordinal": ')[1].split(",")[0]) for text in received if "TakeStarted" in text]
        assert ordinals == sorted(ordinals)
        assert ordinals[-1] == total - 2
        assert len(stalled) == 8
        assert stalled.dropped == total - 8
        assert bus.observer_failures == 0

    _run(scenario)


def test_a_failing_view_is_logged_and_the_clients_still_get_the_message(caplog: pytest.LogCaptureFixture) -> None:
    def broken(message: dict[str, object]) -> None:
        raise RuntimeError("view bug")

    async def scenario() -> None:
        hub = EventHub(queue_size=4, reducers=[broken])
        hub.bind(asyncio.get_running_loop())
        client = hub.connect()
        hub.publish_threadsafe(event_message(FileStored(take_id="t", attempt=1, camera_id="cam00", file_format="jpeg",
                                                        path="images/x.jpg", size=1, sha256="0" * 64, exposed_at=0.0,
                                                        card_name="x"), "s1"))
        text = await asyncio.wait_for(client.get(), 5)
        assert '"camera_id": "cam00"' in text
        assert '"kind": "FileStored"' in text

    _run(scenario)
    assert "view bug" in caplog.text


def test_without_a_running_loop_messages_still_update_the_views() -> None:
    seen: list[str] = []
    hub = EventHub(queue_size=4, reducers=[lambda m: seen.append(str(m["kind"]))])
    hub.publish_threadsafe({"kind": "PreflightStarted", "session": "panel", "at": 0.0})
    assert seen == ["PreflightStarted"]
    assert hub.lost_before_loop == 1


def test_a_views_answer_follows_its_message_and_a_views_only_client_gets_the_answers_alone() -> None:
    def view(message: dict[str, Any]) -> dict[str, Any] | None:
        return {"kind": "ViewPatch", "seq": 1, "changes": []} if message["kind"] == "TakeStarted" else None

    async def scenario() -> None:
        hub = EventHub(queue_size=8, reducers=[view])
        hub.bind(asyncio.get_running_loop())
        everything, views_only = hub.connect(), hub.connect(events=False)
        hub.publish({"kind": "TakeStarted", "session": "s1", "take_id": "t0"})
        hub.publish({"kind": "TriggerDispatched", "session": "s1", "take_id": "t0"})  # changes no view
        assert [json.loads(await everything.get())["kind"] for _ in range(3)] == [
            "TakeStarted", "ViewPatch", "TriggerDispatched"]
        assert len(views_only) == 1
        assert json.loads(await views_only.get())["kind"] == "ViewPatch"

    _run(scenario)
