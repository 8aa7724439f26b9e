"""What the subject registry holds, as frozen records (pseudonymous ids, hashes and dates; never a name)."""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass

__all__ = ["AGE_BAND_HELP", "SCREENING_RESULTS", "ConsentRecord", "ConsentScope", "GuardianRecord", "LineageRecord",
           "RegistryError", "Revocation", "ScreeningRecord", "SessionRecord", "SubjectRecord", "check_id",
           "check_sha256", "parse_age_band"]

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_AGE_BAND = re.compile(r"^(\d{1,3})(?:-(\d{1,3})|(\+))?$")
AGE_BAND_HELP = "an age band like 25-34, 35+, 16 or 13-15 (years, inclusive)"
SCREENING_RESULTS = ("cleared", "not-cleared")


class RegistryError(ValueError):
    """A registry request that cannot be met; the message says what and what to do."""


def check_id(value: str, what: str) -> str:
    if not _ID.match(value):
        raise RegistryError(f"{what} '{value}' is not valid: use 1-64 letters, digits, '.', '_' or '-' starting "
                            "with a letter or digit (a pseudonymous id, never a name)")
    return value


def check_sha256(value: str, what: str) -> str:
    value = value.strip().lower()
    if not _SHA256.match(value):
        raise RegistryError(f"{what} '{value}' is not a sha256 (64 hex digits); pass the signed document's file "
                            "and it is hashed for you")
    return value


def parse_age_band(band: str) -> tuple[int, int | None]:
    """``(lowest, highest)`` age of a band; highest None for an open band like ``35+``."""
    match = _AGE_BAND.match(band.strip())
    if not match:
        raise RegistryError(f"age band '{band}' is not valid: use {AGE_BAND_HELP}")
    low = int(match.group(1))
    high = None if match.group(3) else int(match.group(2) or match.group(1))
    if high is not None and high < low:
        raise RegistryError(f"age band '{band}' ends before it starts")
    return low, high


@dataclass(frozen=True)
class SubjectRecord:
    subject_id: str
    age_band: str
    minor: bool
    recorded_at: str


@dataclass(frozen=True)
class GuardianRecord:
    """A minor's guardian: pseudonymous id, relationship, and the sha256 of the guardian's signed consent."""

    guardian_id: str
    subject_id: str
    relationship: str
    document_sha256: str
    recorded_at: str


@dataclass(frozen=True)
class ConsentScope:
    purposes: tuple[str, ...]
    media: tuple[str, ...] = ()
    licensees: tuple[str, ...] = ()
    territories: tuple[str, ...] = ()

    def covers(self, purpose: str) -> bool:
        return purpose in self.purposes


@dataclass(frozen=True)
class ConsentRecord:
    """A signed consent: the document stays outside any package; the registry keeps its sha256."""

    consent_id: str
    subject_id: str
    document_sha256: str
    scope: ConsentScope
    starts: datetime.date
    expires: datetime.date
    guardian_id: str | None
    compensation_ref: str
    recorded_at: str

    def valid_on(self, day: datetime.date) -> bool:
        return self.starts <= day <= self.expires


@dataclass(frozen=True)
class ScreeningRecord:
    """A photosensitivity screening: who screened (a clinician or role, not the subject) and the limit found."""

    screening_id: str
    subject_id: str
    result: str  # cleared | not-cleared
    max_flashes_per_s: int
    screened_by: str
    screened_on: datetime.date
    recorded_at: str


@dataclass(frozen=True)
class Revocation:
    revocation_id: str
    subject_id: str
    consent_id: str
    reason: str
    revoked_at: str


@dataclass(frozen=True)
class SessionRecord:
    session_id: str
    subject_id: str
    consent_id: str
    purpose: str
    path: str
    recorded_at: str


@dataclass(frozen=True)
class LineageRecord:
    """A package made from a session (kind ``package``) or a copy that left the studio (kind ``export``)."""

    package_id: str
    kind: str
    session_id: str
    subject_id: str
    consent_id: str
    path: str
    destination: str
    recorded_at: str
