"""The session page's consent column: which subjects the studio's registry knows, and whether each may be
captured today for the panel's purpose. The decision itself stays with the engine's consent gate at start.
"""

from __future__ import annotations

import datetime
import sqlite3
from pathlib import Path
from typing import Any

from capturerig.subjects import RegistryError, SubjectRegistry
from capturerig.web._problems import PanelProblem

__all__ = ["ConsentDesk", "registry_todo"]


def registry_todo(registry: Path, purpose: str) -> str:
    """What a technician does when the panel's subject registry is missing: the CLI commands that make it."""
    return (f"record the subject, which creates the registry: `capturerig subjects add SUBJECT_ID --age-band 25-34 "
            f"--registry {registry}`, then their signed consent: `capturerig subjects consent SUBJECT_ID --purpose "
            f"{purpose} --expires YYYY-MM-DD --document SIGNED_FILE --registry {registry}`; or serve the studio "
            "folder that holds the studio's registry (`capturerig serve DIR`)")


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

    def _rows(self) -> list[dict[str, Any]]:
        if not self.registry.is_file():
            raise PanelProblem(f"no subject registry at {self.registry}: a session start is refused until the "
                               "subject and their consent are recorded", str(self.registry),
                               registry_todo(self.registry, self.purpose))
        today = datetime.datetime.now(datetime.UTC).date()
        try:
            with SubjectRegistry.open(self.registry) as registry:
                return [{"id": subject_id, **self._status(registry, subject_id, today)}
                        for subject_id in registry.subject_ids()]
        except (RegistryError, sqlite3.DatabaseError, OSError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise PanelProblem(f"the subject registry cannot be read: {reason}", str(self.registry),
                               "restore the registry file from the studio's backup (`capturerig subjects audit "
                               f"--registry {self.registry}` checks it), or serve the studio folder that holds the "
                               "studio's registry (`capturerig serve DIR`)") from exc

    def subjects(self) -> dict[str, Any]:
        """Registry, purpose, ``subjects`` (``{id, status, detail}``, status valid/none/revoked/invalid), and
        ``problem`` (what, where, what to do) with ``note`` (its one line) when the registry cannot be read."""
        try:
            rows = self._rows()
        except PanelProblem as problem:
            return {"registry": str(self.registry), "purpose": self.purpose, "subjects": [],
                    "note": problem.one_line(), "problem": problem.as_dict()}
        return {"registry": str(self.registry), "purpose": self.purpose, "subjects": rows, "note": None,
                "problem": None}
