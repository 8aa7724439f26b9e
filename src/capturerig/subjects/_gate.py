"""The engine's default consent gate: the studio's subject registry decides, and the audit log remembers.

Where the registry lives: ``--registry PATH`` on the command line (or ``registry=`` in Python), else the
``CAPTURERIG_REGISTRY`` environment variable, else ``subjects.sqlite`` in the rig's storage root (next to the
session folders). ``capturerig demo`` keeps its own registry in its output folder.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path

from capturerig.config import PhotosensitivityOverride, RigConfig
from capturerig.subjects._consent import ConsentDecision, ConsentRefused, check_subject_id
from capturerig.subjects._records import ConsentRecord, RegistryError, ScreeningRecord, SubjectRecord
from capturerig.subjects._registry import RegistryMissing, SubjectRegistry

__all__ = ["REGISTRY_ENV", "REGISTRY_FILE", "RegistryConsentGate", "default_registry_path"]

REGISTRY_ENV = "CAPTURERIG_REGISTRY"
REGISTRY_FILE = "subjects.sqlite"


def default_registry_path(rig: RigConfig | None = None) -> Path:
    """``$CAPTURERIG_REGISTRY``, else ``<rig storage root>/subjects.sqlite`` (relative roots: to the cwd)."""
    from_env = os.environ.get(REGISTRY_ENV, "").strip()
    if from_env:
        return Path(from_env)
    root = rig.storage.root if rig is not None else "sessions"
    return Path(root) / REGISTRY_FILE


def _today() -> datetime.date:
    # The studio's local day: consent forms are dated in local time, and "valid until the 27th" means the
    # studio's 27th.
    return datetime.date.today()


def _why_not(consent: ConsentRecord, subject: SubjectRecord, purpose: str, day: datetime.date,
             revoked: set[str]) -> str | None:
    """Why ``consent`` does not allow this capture, or None when it does."""
    cid = consent.consent_id
    if cid in revoked:
        return f"consent {cid} was revoked"
    if day > consent.expires:
        return f"consent {cid} expired on {consent.expires} (today is {day})"
    if day < consent.starts:
        return f"consent {cid} starts on {consent.starts} (today is {day})"
    if not consent.scope.covers(purpose):
        return f"consent {cid} covers the purposes {', '.join(consent.scope.purposes)}, not '{purpose}'"
    if subject.minor and consent.guardian_id is None:
        return (f"subject {subject.subject_id} is a minor (age band {subject.age_band}) and consent {cid} has no "
                "guardian's record")
    return None


def _what_to_do(reasons: list[str], subject_id: str, purpose: str, registry: Path) -> str:
    joined = " ".join(reasons)
    base = f"capturerig subjects consent {subject_id} --document SIGNED_FILE --registry {registry}"
    if "minor" in joined:
        return (f"record the guardian (`capturerig subjects guardian {subject_id} GUARDIAN_ID --relationship parent "
                f"--document GUARDIAN_SIGNED_FILE --registry {registry}`) and a consent signed by them "
                f"(`{base} --guardian GUARDIAN_ID --purpose {purpose} --expires YYYY-MM-DD`)")
    if "covers the purposes" in joined:
        return (f"record a consent whose scope includes '{purpose}' (`{base} --purpose {purpose} --expires "
                "YYYY-MM-DD`), or run the session for a purpose the consent covers (--purpose)")
    return f"record a new signed consent (`{base} --purpose {purpose} --expires YYYY-MM-DD`)"


class RegistryConsentGate:
    """A :class:`~capturerig.subjects.ConsentGate` backed by the subject registry at ``registry_path``.

    A person may be captured on a day only under a consent that is recorded, not revoked, started and not
    expired, whose scope lists the session's purpose; a minor's consent must name a recorded guardian. A plan
    that raises the flash limit (``photosensitivity_override``) needs the subject's latest screening to be
    ``cleared`` for at least that many flashes per second. Every decision (refusals too) is audited.
    """

    def __init__(self, registry_path: str | Path, today: datetime.date | None = None) -> None:
        self.registry_path = Path(registry_path)
        self._fixed_today = today

    def _open(self, subject_id: str) -> SubjectRegistry:
        try:
            return SubjectRegistry.open(self.registry_path)
        except RegistryMissing as exc:
            raise ConsentRefused(
                f"no capture of subject '{subject_id}': there is no subject registry at {self.registry_path}. "
                f"Register the subject (`capturerig subjects add {subject_id} --age-band BAND --registry "
                f"{self.registry_path}`) and their signed consent (`capturerig subjects consent {subject_id} "
                "--document SIGNED_FILE --purpose PURPOSE --expires YYYY-MM-DD`), or point --registry / "
                "$CAPTURERIG_REGISTRY at the studio's registry") from exc
        except RegistryError as exc:
            raise ConsentRefused(f"no capture of subject '{subject_id}': {exc}") from exc

    def authorise(self, subject_id: str, purpose: str, *, session_id: str = "", person: bool = True,
                  flash_override: PhotosensitivityOverride | None = None) -> ConsentDecision:
        check_subject_id(subject_id)
        if not person:
            return ConsentDecision(subject_id, True, "object (plan subject kind: object): no person in the rig, "
                                   "no consent record needed", purpose=purpose)
        day = self._fixed_today or _today()
        with self._open(subject_id) as registry:
            try:
                return self._decide(registry, subject_id, purpose, session_id, flash_override, day)
            except ConsentRefused as exc:
                registry.log("capture refused", subject_id, {"session_id": session_id, "purpose": purpose,
                                                             "reason": str(exc)})
                raise

    def _decide(self, registry: SubjectRegistry, subject_id: str, purpose: str, session_id: str,
                flash_override: PhotosensitivityOverride | None, day: datetime.date) -> ConsentDecision:
        try:
            subject = registry.subject(subject_id)
        except RegistryError as exc:
            raise ConsentRefused(f"no capture: {exc}, then record their signed consent") from exc
        consents = registry.consents(subject_id)
        if not consents:
            raise ConsentRefused(f"no capture of subject '{subject_id}': they have no consent record. "
                                 f"What to do: {_what_to_do([], subject_id, purpose, registry.path)}")
        revoked = set(registry.revocations(subject_id))
        reasons = {c.consent_id: _why_not(c, subject, purpose, day, revoked) for c in consents}
        valid = [c for c in consents if reasons[c.consent_id] is None]
        if not valid:
            why = [r for r in reasons.values() if r is not None]
            raise ConsentRefused(f"no capture of subject '{subject_id}' for purpose '{purpose}' on {day}: "
                                 f"{'; '.join(why)}. What to do: "
                                 f"{_what_to_do(why, subject_id, purpose, registry.path)}")
        consent = max(valid, key=lambda c: (c.expires, c.recorded_at))
        basis = (f"consent {consent.consent_id} in registry {registry.registry_id} (document sha256 "
                 f"{consent.document_sha256[:16]}, valid {consent.starts}..{consent.expires}, purposes "
                 f"{', '.join(consent.scope.purposes)}"
                 + (f", guardian {consent.guardian_id}" if consent.guardian_id else "") + ")")
        if flash_override is not None:
            screening = self._backed_override(registry, subject_id, flash_override)
            basis += (f"; photosensitivity override to {flash_override.max_flashes_per_s} flashes/s backed by "
                      f"screening {screening.screening_id} of {screening.screened_on}")
            registry.log("photosensitivity override used", subject_id,
                         {"session_id": session_id, "screening_id": screening.screening_id,
                          "plan_max_flashes_per_s": flash_override.max_flashes_per_s,
                          "screened_max_flashes_per_s": screening.max_flashes_per_s})
        registry.log("capture authorised", subject_id, {"session_id": session_id, "purpose": purpose,
                                                        "consent_id": consent.consent_id})
        return ConsentDecision(subject_id, True, basis, consent.consent_id, purpose, str(registry.path))

    @staticmethod
    def _backed_override(registry: SubjectRegistry, subject_id: str,
                         override: PhotosensitivityOverride) -> ScreeningRecord:
        wanted = override.max_flashes_per_s
        screening = registry.latest_screening(subject_id)
        record = (f"`capturerig subjects screening {subject_id} --result cleared --max-flashes {wanted} --by WHO "
                  f"--on YYYY-MM-DD --registry {registry.path}`")
        if screening is None:
            raise ConsentRefused(f"no capture of subject '{subject_id}': the plan's photosensitivity_override "
                                 f"allows {wanted} flashes per second, but the registry holds no photosensitivity "
                                 f"screening for them. Record the screening ({record}) or remove the override")
        if screening.result != "cleared" or screening.max_flashes_per_s < wanted:
            raise ConsentRefused(f"no capture of subject '{subject_id}': the plan's photosensitivity_override "
                                 f"allows {wanted} flashes per second, but their screening {screening.screening_id} "
                                 f"of {screening.screened_on} is '{screening.result}' up to "
                                 f"{screening.max_flashes_per_s}. Lower the override to what the screening allows, "
                                 f"or record a new screening ({record})")
        return screening

    def record_session(self, decision: ConsentDecision, session_id: str, path: Path) -> None:
        if not decision.consent_id:
            return  # an object: nobody's consent to trace
        with SubjectRegistry.open(self.registry_path) as registry:
            registry.record_session(session_id, decision.subject_id, decision.consent_id, decision.purpose, path)
