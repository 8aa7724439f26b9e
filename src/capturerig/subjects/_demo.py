"""The demo's own subject: a pseudonymous stand-in (the simulated mannequin) with a demo consent record.

``capturerig demo`` runs from nothing, so it registers this subject in the demo's own registry, visibly,
instead of relying on (or writing into) the studio's registry. The consent document is a plain text file the
demo writes beside the registry: like a real signed consent, it stays outside every package.
"""

from __future__ import annotations

import datetime
import hashlib
from dataclasses import dataclass
from pathlib import Path

from capturerig.subjects._records import ConsentRecord
from capturerig.subjects._registry import SubjectRegistry

__all__ = ["DEMO_PURPOSE", "DemoEnrolment", "enrol_demo_subject"]

DEMO_PURPOSE = "demo"
DEMO_VALID_DAYS = 30


@dataclass(frozen=True)
class DemoEnrolment:
    registry_path: Path
    subject_id: str
    consent: ConsentRecord
    document: Path
    new: bool  # False when a still-valid demo consent was reused


def enrol_demo_subject(registry_path: str | Path, subject_id: str = "demo-subject") -> DemoEnrolment:
    """Register ``subject_id`` with a demo consent for the purpose ``demo`` (reusing one still valid)."""
    registry_path = Path(registry_path)
    today = datetime.date.today()
    with SubjectRegistry.open(registry_path, create=True, actor="capturerig demo") as registry:
        if subject_id not in registry.subject_ids():
            registry.add_subject(subject_id, "25+")
        revoked = registry.revocations(subject_id)
        document = registry_path.parent / "consent-documents" / f"{subject_id}-demo-consent.txt"
        for consent in reversed(registry.consents(subject_id)):
            if consent.consent_id not in revoked and consent.valid_on(today) and consent.scope.covers(DEMO_PURPOSE):
                return DemoEnrolment(registry_path, subject_id, consent, document, False)
        document.parent.mkdir(parents=True, exist_ok=True)
        document.write_text(f"capturerig demo consent for {subject_id}: the subject is the virtual studio's "
                            f"simulated mannequin, not a person. Purpose: {DEMO_PURPOSE}. Issued {today}.\n",
                            encoding="utf-8")
        consent = registry.add_consent(
            subject_id, hashlib.sha256(document.read_bytes()).hexdigest(), [DEMO_PURPOSE], today,
            today + datetime.timedelta(days=DEMO_VALID_DAYS), media=["images", "3d-model"],
            licensees=["capturerig-demo"], territories=["worldwide"], compensation_ref="none (demo)")
    return DemoEnrolment(registry_path, subject_id, consent, document, True)
