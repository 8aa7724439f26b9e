"""No observer can break a run; the journal (a critical subscriber) can and must."""

from __future__ import annotations

import pytest

from capturerig.engine import Event, EventBus, SessionMessage


def test_failing_ui_subscriber_is_counted_and_later_subscribers_still_get_the_event() -> None:
    bus = EventBus()
    seen: list[Event] = []

    def broken(event: Event) -> None:
        raise RuntimeError("websocket closed")

    bus.subscribe(broken)
    bus.subscribe(seen.append)
    bus.publish(SessionMessage(level="info", text="hello"))
    assert bus.observer_failures == 1
    assert [e.kind for e in seen] == ["SessionMessage"]


def test_critical_subscriber_failure_reaches_the_publisher() -> None:
    bus = EventBus()

    def journal(event: Event) -> None:
        raise OSError("disk full")

    bus.subscribe(journal, critical=True)
    with pytest.raises(OSError, match="disk full"):
        bus.publish(SessionMessage(level="info", text="x"))


def test_a_burst_goes_to_a_batch_subscriber_in_one_call_and_to_the_others_one_by_one() -> None:
    bus = EventBus()
    batches: list[list[str]] = []
    singles: list[str] = []
    bus.subscribe(lambda event: batches.append([event.kind]), critical=True,
                  batch=lambda events: batches.append([e.kind for e in events]))
    bus.subscribe(lambda event: singles.append(event.kind))
    burst = [SessionMessage(level="info", text=str(n)) for n in range(3)]
    bus.publish_many(burst)
    bus.publish(SessionMessage(level="info", text="alone"))
    assert batches == [["SessionMessage"] * 3, ["SessionMessage"]]
    assert singles == ["SessionMessage"] * 4
