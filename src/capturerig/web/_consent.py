"""The session page's consent column: which subjects the studio's registry knows, and whether each may be
captured today for the panel's purpose. The decision itself stays with the engine's consent gate at start.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

from capturerig.subjects import SubjectRegistry

__all__ = ["ConsentDesk"]


class ConsentDesk:
    """Reads the subject registry at ``registry`` for the panel; never writes to it."""

    def __init__(self, registry: Path, purpose: str) -> None:
        self.registry = registry
        self.purpose = purpose

    def _status(self, registry: SubjectRegistry, subject_id: str, today: datetime.date) -> dict[str, Any]:
        revoked = set(registry.revocations(subject_id))
        consents = registry.consents(subject_id)
        valid = [c for c in consents if c.consent_id not in revoked and c.valid_on(today)
                 and c.scope.covers(self.purpose)]
        if valid:
            best = max(valid, key=lambda c: c.expires)
            return {"status": "valid", "detail": f"consent {best.consent_id} for '{self.purpose}' until {best.expires}"}
        if not consents:
            return {"status": "none", "detail": "no consent recorded"}
        if consents and all(c.consent_id in revoked for c in consents):
            return {"status": "revoked", "detail": "consent revoked"}
        return {"status": "invalid", "detail": f"no consent covers '{self.purpose}' today (expired, not started, "
                                               "or another purpose)"}

    def subjects(self) -> dict[str, Any]:
        """Registry, purpose, note and ``subjects``: ``{id, status, detail}``, status valid/none/revoked/invalid."""
        if not self.registry.is_file():
            return {"registry": str(self.registry), "purpose": self.purpose, "subjects": [],
                    "note": f"no subject registry at {self.registry} yet: a session start will be refused until "
                            "the subject and their consent are recorded (capturerig subjects ...)"}
        today = datetime.datetime.now(datetime.UTC).date()
        with SubjectRegistry.open(self.registry) as registry:
            rows = [{"id": subject_id, **self._status(registry, subject_id, today)}
                    for subject_id in registry.subject_ids()]
        return {"registry": str(self.registry), "purpose": self.purpose, "subjects": rows, "note": None}
