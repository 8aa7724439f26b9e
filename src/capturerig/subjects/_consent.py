"""The consent seam: the engine asks a gate before any capture of a subject, at start and on resume.

:class:`capturerig.subjects.RegistryConsentGate` (the studio's subject registry) is what sessions use by
default. :class:`SubjectIdOnly` holds no consent records: it only lets objects (a mannequin, a calibration
board: ``subject: {kind: object}`` in the plan) through, so no person is captured without a consent record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from capturerig.config import PhotosensitivityOverride

__all__ = ["CAPTURE_PURPOSE", "ConsentDecision", "ConsentGate", "ConsentRefused", "SubjectIdOnly", "check_subject_id"]

CAPTURE_PURPOSE = "capture"
_SUBJECT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class ConsentDecision:
    """What a gate decided; ``basis`` is recorded in the session and its package."""

    subject_id: str
    allowed: bool
    basis: str  # what the decision rests on, recorded in the session and its package
    consent_id: str = ""  # the consent record the capture rests on ('' for an object)
    purpose: str = CAPTURE_PURPOSE
    registry: str = ""  # the registry file that holds the record ('' when none)


class ConsentRefused(PermissionError):
    """No capture: the subject has no valid consent for this use (the message says why and what to do)."""


def check_subject_id(subject_id: str) -> str:
    if not _SUBJECT_ID.match(subject_id):
        raise ConsentRefused(f"subject id '{subject_id}' is not valid: use 1-64 letters, digits, '.', '_' "
                             "or '-' (the id links every image to the person's consent record)")
    return subject_id


class ConsentGate(Protocol):
    def authorise(self, subject_id: str, purpose: str, *, session_id: str = "", person: bool = True,
                  flash_override: PhotosensitivityOverride | None = None) -> ConsentDecision:
        """Decide whether ``subject_id`` may be captured today for ``purpose``; raise ConsentRefused if not.

        ``person`` is False for an object (the plan's ``subject.kind``); ``flash_override`` is the plan's
        photosensitivity override, which the gate must find backed by a recorded screening.
        """

    def record_session(self, decision: ConsentDecision, session_id: str, path: Path) -> None:
        """Remember that a session folder was made on ``decision`` (so revocation and purge can find it)."""


class SubjectIdOnly:
    """Records a well-formed subject id for an object; refuses a person (who needs a consent record)."""

    basis = "object (plan subject kind: object): no person in the rig, no consent record needed"

    def authorise(self, subject_id: str, purpose: str, *, session_id: str = "", person: bool = True,
                  flash_override: PhotosensitivityOverride | None = None) -> ConsentDecision:
        check_subject_id(subject_id)
        if person:
            raise ConsentRefused(f"subject '{subject_id}' is a person and this gate holds no consent records: use "
                                 "the studio's subject registry (the default gate), or set subject: {kind: object} "
                                 "in the plan if nobody is in the rig")
        return ConsentDecision(subject_id, True, self.basis, purpose=purpose)

    def record_session(self, decision: ConsentDecision, session_id: str, path: Path) -> None:
        """Nothing to remember without a registry."""
