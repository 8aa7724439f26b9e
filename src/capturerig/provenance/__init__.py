"""Signed provenance: the studio's C2PA signing identity, signing images, verifying their manifests.

Domain layer beside packaging and subjects: it imports neither; packaging hands it a consent record's bytes
and capture facts, and the CLI's ``capturerig provenance`` manages the identity.
"""

from capturerig.provenance._certs import C2PA_EKUS, TestChain, make_test_chain
from capturerig.provenance._errors import (
    CertificateExpired,
    IdentityError,
    ProvenanceError,
    SigningError,
    SigningKeyMissing,
)
from capturerig.provenance._identity import (
    IDENTITY_FILE,
    SIGNING_DIR_ENV,
    SigningIdentity,
    create_test_identity,
    default_signing_dir,
    import_identity,
    is_test_certificate,
    load_identity,
)
from capturerig.provenance._manifest import (
    ALGORITHMIC_MEDIA,
    CAPTURE_LABEL,
    CAWG_ENTRIES,
    CAWG_LABEL,
    CONSENT_LABEL,
    DIGITAL_CAPTURE,
    PURPOSE_GRANTS,
    CaptureFacts,
    ConsentClaim,
    Edit,
    ImageManifest,
    training_mining,
)
from capturerig.provenance._sign import (
    EMBED_FORMATS,
    SIDECAR_SUFFIX,
    ImageSigner,
    SignedImage,
    manifest_format,
    sidecar_path,
    sign_image,
)
from capturerig.provenance._verify import ImageVerdict, Verdict, verify_image

__all__ = [
    "ALGORITHMIC_MEDIA",
    "C2PA_EKUS", "CAPTURE_LABEL", "CAWG_ENTRIES", "CAWG_LABEL", "CONSENT_LABEL", "DIGITAL_CAPTURE", "EMBED_FORMATS",
    "IDENTITY_FILE", "PURPOSE_GRANTS", "SIDECAR_SUFFIX", "SIGNING_DIR_ENV", "CaptureFacts", "CertificateExpired",
    "ConsentClaim", "Edit", "IdentityError", "ImageManifest", "ImageSigner", "ImageVerdict", "ProvenanceError",
    "SignedImage", "SigningError", "SigningIdentity", "SigningKeyMissing", "TestChain", "Verdict",
    "create_test_identity", "default_signing_dir", "import_identity", "is_test_certificate", "load_identity",
    "make_test_chain", "manifest_format", "sidecar_path", "sign_image", "training_mining", "verify_image",
]
