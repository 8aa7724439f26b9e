"""Subjects and consent: the registry, the engine's consent gate, revocation, purge and package provenance."""

from capturerig.subjects._audit import AuditEntry, AuditProblem
from capturerig.subjects._consent import (
    CAPTURE_PURPOSE,
    ConsentDecision,
    ConsentGate,
    ConsentRefused,
    SubjectIdOnly,
    check_subject_id,
)
from capturerig.subjects._demo import DEMO_PURPOSE, DemoEnrolment, enrol_demo_subject
from capturerig.subjects._gate import REGISTRY_ENV, REGISTRY_FILE, RegistryConsentGate, default_registry_path
from capturerig.subjects._provenance import (
    CONSENT_FILE,
    LINEAGE_FILE,
    REVOKED_MARKER,
    ConsentStatus,
    Provenance,
    consent_status_for_package,
    minor_age_disclosure,
    package_provenance,
    read_package_consent,
)
from capturerig.subjects._records import (
    ConsentRecord,
    ConsentScope,
    GuardianRecord,
    LineageRecord,
    RegistryError,
    Revocation,
    ScreeningRecord,
    SessionRecord,
    SubjectRecord,
)
from capturerig.subjects._registry import AuditReport, RegistryMissing, SubjectRegistry
from capturerig.subjects._revocation import (
    PurgeReport,
    RevocationReport,
    purge_subject,
    record_export,
    revoke_subject,
)

__all__ = [
    "CAPTURE_PURPOSE",
    "CONSENT_FILE",
    "DEMO_PURPOSE",
    "LINEAGE_FILE",
    "REGISTRY_ENV",
    "REGISTRY_FILE",
    "REVOKED_MARKER",
    "AuditEntry",
    "AuditProblem",
    "AuditReport",
    "ConsentDecision",
    "ConsentGate",
    "ConsentRecord",
    "ConsentRefused",
    "ConsentScope",
    "ConsentStatus",
    "DemoEnrolment",
    "GuardianRecord",
    "LineageRecord",
    "Provenance",
    "PurgeReport",
    "RegistryConsentGate",
    "RegistryError",
    "RegistryMissing",
    "Revocation",
    "RevocationReport",
    "ScreeningRecord",
    "SessionRecord",
    "SubjectIdOnly",
    "SubjectRecord",
    "SubjectRegistry",
    "check_subject_id",
    "consent_status_for_package",
    "default_registry_path",
    "enrol_demo_subject",
    "minor_age_disclosure",
    "package_provenance",
    "purge_subject",
    "read_package_consent",
    "record_export",
    "revoke_subject",
]
