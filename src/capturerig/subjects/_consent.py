"""The consent seam: the engine asks a gate before any capture of a subject, at start and on resume.

The consent registry (subject records, signed scopes, revocation) plugs in here as another ConsentGate;
until a studio configures one, :class:`SubjectIdOnly` records who was captured and refuses anonymous runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

__all__ = ["ConsentDecision", "ConsentGate", "ConsentRefused", "SubjectIdOnly"]

_SUBJECT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class ConsentDecision:
    subject_id: str
    allowed: bool
    basis: str  # what the decision rests on, recorded in the session and its package


class ConsentRefused(PermissionError):
    """No capture: the subject has no valid consent for this use (the message says why)."""


class ConsentGate(Protocol):
    def authorise(self, subject_id: str, purpose: str) -> ConsentDecision:
        """Decide whether ``subject_id`` may be captured for ``purpose``; raise ConsentRefused if not."""


class SubjectIdOnly:
    """Requires a well-formed subject id and records it; holds no consent records of its own."""

    basis = "subject id recorded; no consent registry configured"

    def authorise(self, subject_id: str, purpose: str) -> ConsentDecision:
        if not _SUBJECT_ID.match(subject_id):
            raise ConsentRefused(f"subject id '{subject_id}' is not valid: use 1-64 letters, digits, '.', '_' "
                                 "or '-' (the id links every image to the person's consent record)")
        return ConsentDecision(subject_id, True, self.basis)
