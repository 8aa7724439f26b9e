"""Provenance for a training package: consent.json and lineage.json (ids and hashes, no names) and XMP fields.

The package writer puts ``Provenance.files`` under the bag's ``data/`` and ``Provenance.xmp`` into every
image; :func:`consent_status_for_package` is what ``capturerig verify`` asks about a package's consent.
"""

from __future__ import annotations

import datetime
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from capturerig.subjects._consent import ConsentRefused
from capturerig.subjects._records import ConsentRecord, RegistryError, SubjectRecord, parse_age_band
from capturerig.subjects._registry import SubjectRegistry

__all__ = ["CONSENT_FILE", "LINEAGE_FILE", "REVOKED_MARKER", "ConsentStatus", "Provenance",
           "consent_status_for_package", "minor_age_disclosure", "package_provenance", "read_package_consent"]

CONSENT_FILE = "provenance/consent.json"
LINEAGE_FILE = "provenance/lineage.json"
REVOKED_MARKER = "CONSENT-REVOKED.json"  # written into session and package folders on revocation
_PLUS = "http://ns.useplus.org/ldf/vocab/"
# Photographs of a real person taken by a camera (IPTC NewsCodes digital source type).
DIGITAL_CAPTURE = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"


@dataclass(frozen=True)
class Provenance:
    """Files for the package (paths relative to the bag's ``data/``) and XMP fields for every image."""

    files: dict[str, bytes]
    xmp: dict[str, str]
    package_id: str
    consent_id: str


def minor_age_disclosure(age_band: str) -> str:
    """The PLUS MinorModelAgeDisclosure code for an age band (exact ages only when the band is one year)."""
    low, high = parse_age_band(age_band)
    if low >= 25:
        return f"{_PLUS}AG-A25"
    if high is not None and high <= 14:
        return f"{_PLUS}AG-U14"
    if high == low and 15 <= low <= 24:
        return f"{_PLUS}AG-A{low}"
    return f"{_PLUS}AG-UNK"  # a band that spans ages cannot claim one


def _json(value: Mapping[str, Any]) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True) + "\n").encode()


def _consent_for(registry: SubjectRegistry, subject: SubjectRecord, session_id: str, purpose: str,
                 day: datetime.date) -> ConsentRecord:
    """The consent the session was captured under, still valid today for ``purpose``."""
    recorded = {s.session_id: s.consent_id for s in registry.sessions(subject.subject_id)}
    revoked = registry.revocations(subject.subject_id)
    consent_id = recorded.get(session_id)
    candidates = [c for c in registry.consents(subject.subject_id) if consent_id in (None, c.consent_id)]
    problems = []
    for consent in sorted(candidates, key=lambda c: c.expires, reverse=True):
        if consent.consent_id in revoked:
            problems.append(f"consent {consent.consent_id} was revoked on {revoked[consent.consent_id].revoked_at}")
        elif not consent.valid_on(day):
            problems.append(f"consent {consent.consent_id} is valid {consent.starts}..{consent.expires}, not on {day}")
        elif not consent.scope.covers(purpose):
            problems.append(f"consent {consent.consent_id} does not cover the purpose '{purpose}'")
        else:
            return consent
    raise ConsentRefused(f"no package of session {session_id}: subject {subject.subject_id} has no valid consent "
                         f"for '{purpose}' ({'; '.join(problems) or 'no consent record'})")


def _object_provenance(subject_id: str, session_id: str, purpose: str, capture: Mapping[str, Any] | None,
                       day: datetime.date) -> Provenance:
    """No person in the rig: the package says so (model release not applicable) and needs no registry."""
    package_id = f"P-{uuid.uuid4().hex[:12]}"
    consent_json = {"schema": "capturerig.consent/1", "subject_id": subject_id, "subject_kind": "object",
                    "consent_id": "", "purpose": purpose, "model_release": {"status": f"{_PLUS}MR-NAP", "id": ""},
                    "checked_on": day.isoformat()}
    lineage_json = {"schema": "capturerig.lineage/1", "package_id": package_id, "session_id": session_id,
                    "subject_id": subject_id, "consent_id": "", "purpose": purpose,
                    "packaged_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                    "capture": dict(capture or {})}
    xmp = {"plus:ModelReleaseStatus": f"{_PLUS}MR-NAP", "Iptc4xmpExt:DigitalSourceType": DIGITAL_CAPTURE}
    return Provenance({CONSENT_FILE: _json(consent_json), LINEAGE_FILE: _json(lineage_json)}, xmp, package_id, "")


def package_provenance(registry_path: str | Path, subject_id: str, session_id: str, purpose: str, *,
                       package_path: str | Path, capture: Mapping[str, Any] | None = None, person: bool = True,
                       today: datetime.date | None = None) -> Provenance:
    """Check the subject's consent still allows ``purpose``, record the package in the lineage, return provenance.

    Parameters
    ----------
    registry_path
        The studio's subject registry (the session's ``consent_registry``).
    package_path
        Where the package is being written (recorded so revocation and purge can find it).
    capture
        Facts about the capture for lineage.json (rig, plan, created_at, capturerig version); no names.
    person
        False for an object (the plan's ``subject.kind``): provenance says no release applies; no registry.

    Raises
    ------
    ConsentRefused
        When the consent was revoked, has expired or does not cover ``purpose``.
    """
    day = today or datetime.date.today()
    if not person:
        return _object_provenance(subject_id, session_id, purpose, capture, day)
    with SubjectRegistry.open(registry_path) as registry:
        try:
            subject = registry.subject(subject_id)
        except RegistryError as exc:
            raise ConsentRefused(f"no package of session {session_id}: {exc}") from exc
        consent = _consent_for(registry, subject, session_id, purpose, day)
        guardian = next((g for g in registry.guardians(subject_id) if g.guardian_id == consent.guardian_id), None)
        screening = registry.latest_screening(subject_id)
        lineage = registry.record_lineage("package", session_id, subject_id, consent.consent_id,
                                          str(Path(package_path).resolve()))
        head = registry.head_hash()
        registry_id = registry.registry_id
    release_status = f"{_PLUS}MR-LMR"  # a scoped, expiring consent is a limited release
    consent_json = {
        "schema": "capturerig.consent/1",
        "registry_id": registry_id,
        "subject_id": subject_id,
        "age_band": subject.age_band,
        "minor": subject.minor,
        "consent_id": consent.consent_id,
        "document_sha256": consent.document_sha256,
        "scope": {"purposes": list(consent.scope.purposes), "media": list(consent.scope.media),
                  "licensees": list(consent.scope.licensees), "territories": list(consent.scope.territories)},
        "starts": consent.starts.isoformat(),
        "expires": consent.expires.isoformat(),
        "purpose": purpose,
        "guardian": None if guardian is None else {"guardian_id": guardian.guardian_id,
                                                   "relationship": guardian.relationship,
                                                   "document_sha256": guardian.document_sha256},
        "photosensitivity_screening": None if screening is None else {
            "screening_id": screening.screening_id, "result": screening.result,
            "max_flashes_per_s": screening.max_flashes_per_s, "screened_on": screening.screened_on.isoformat()},
        "compensation_ref": consent.compensation_ref,
        "model_release": {"status": release_status, "id": consent.consent_id},
        "checked_on": day.isoformat(),
    }
    lineage_json = {
        "schema": "capturerig.lineage/1",
        "package_id": lineage.package_id,
        "registry_id": registry_id,
        "session_id": session_id,
        "subject_id": subject_id,
        "consent_id": consent.consent_id,
        "purpose": purpose,
        "packaged_at": lineage.recorded_at,
        "audit_head_sha256": head,  # ties the package to the registry's audit chain at this moment
        "capture": dict(capture or {}),
    }
    xmp = {
        "plus:ModelReleaseStatus": release_status,
        "plus:ModelReleaseID": consent.consent_id,
        "plus:MinorModelAgeDisclosure": minor_age_disclosure(subject.age_band),
        "Iptc4xmpExt:DigitalSourceType": DIGITAL_CAPTURE,
    }
    return Provenance({CONSENT_FILE: _json(consent_json), LINEAGE_FILE: _json(lineage_json)}, xmp,
                      lineage.package_id, consent.consent_id)


@dataclass(frozen=True)
class ConsentStatus:
    """Whether a package's consent still holds; ``problems`` say why not (empty when it does)."""

    consent_id: str
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def read_package_consent(package_dir: str | Path) -> dict[str, Any] | None:
    """The package's consent.json (in the bag's ``data/`` or at its root), or None when it has none."""
    root = Path(package_dir)
    for candidate in (root / "data" / CONSENT_FILE, root / CONSENT_FILE):
        if candidate.is_file():
            loaded: dict[str, Any] = json.loads(candidate.read_text(encoding="utf-8"))
            return loaded
    return None


def consent_status_for_package(package_dir: str | Path, registry_path: str | Path | None = None,
                               today: datetime.date | None = None) -> ConsentStatus:
    """Does the consent a package was made under still hold? (for ``capturerig verify``)

    Checks the package's consent.json exists and has not expired, that no revocation marker was written into
    the package, and, when ``registry_path`` names the studio's registry, that the registry has not revoked it.
    """
    root = Path(package_dir)
    day = today or datetime.date.today()
    consent = read_package_consent(root)
    if consent is None:
        return ConsentStatus("", [f"{root}: no {CONSENT_FILE}: the package does not say whose consent it was made "
                                  "under; re-package the session"])
    consent_id = str(consent.get("consent_id", ""))
    problems: list[str] = []
    marker = root / REVOKED_MARKER
    if consent.get("subject_kind") == "object" and not marker.is_file():
        return ConsentStatus(consent_id, problems)  # nobody's likeness: no consent to lapse
    if marker.is_file():
        problems.append(f"{root}: consent {consent_id} was revoked ({REVOKED_MARKER}: "
                        f"{json.loads(marker.read_text(encoding='utf-8')).get('revoked_at', '?')}); do not use or "
                        "share this package; `capturerig purge SUBJECT_ID` removes it")
    expires = datetime.date.fromisoformat(str(consent.get("expires", "0001-01-01")))
    if day > expires:
        problems.append(f"{root}: consent {consent_id} expired on {expires}; the package may no longer be used "
                        "until the subject signs a renewed consent and the session is re-packaged")
    if registry_path is not None and Path(registry_path).is_file():
        with SubjectRegistry.open(registry_path) as registry:
            if registry.registry_id == consent.get("registry_id"):
                revoked = registry.revocations(str(consent.get("subject_id", "")))
                if consent_id in revoked and not marker.is_file():
                    problems.append(f"{root}: consent {consent_id} was revoked on "
                                    f"{revoked[consent_id].revoked_at} (registry {registry.path})")
    return ConsentStatus(consent_id, problems)
