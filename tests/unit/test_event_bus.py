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
