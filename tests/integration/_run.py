"""Running a whole session in a test: its result and every event it published."""

from __future__ import annotations

from capturerig.engine import Event, RunResult, Session


def run_to_end(session: Session) -> tuple[RunResult, list[Event]]:
    """Run ``session`` to its end and close it (also when it raises); its result and every event it published."""
    events: list[Event] = []
    session.subscribe(events.append)
    try:
        result = session.run()
    finally:
        session.close()
    return result, events
