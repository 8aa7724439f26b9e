"""The c2pa settings we sign and verify with: the studio's roots as the only trust anchors, nothing fetched."""

from __future__ import annotations

import c2pa

from capturerig.provenance._certs import C2PA_EKUS

__all__ = ["c2pa_context"]

# Given trust anchors of our own, c2pa-rs also wants the accepted signer EKUs spelled out; these are the ones
# its default configuration accepts for a claim signer.
_TRUST_CONFIG = "".join(f"{oid.dotted_string}\n" for oid in C2PA_EKUS)


def c2pa_context(trust_pem: bytes, *, claim_generator: str = "capturerig", version: str = "",
                 verify_after_sign: bool = False) -> c2pa.Context:
    """A c2pa Context that trusts exactly ``trust_pem``'s roots, never touches the network, makes no thumbnail.

    Thumbnails are off: a training package's images are the assets themselves, and a 1024 px preview in
    every manifest would only add bytes and time. ``verify_after_sign`` (c2pa re-validating each output it
    signed by the stream route) is off by default: packaging signs hundreds of images, ``capturerig verify``
    validates every one against the trust list, and the tests read each signed image back with c2pa's Reader.
    """
    generator = {"name": claim_generator, **({"version": version} if version else {})}
    return c2pa.Context.from_dict({
        "trust": {"trust_anchors": trust_pem.decode("ascii"), "trust_config": _TRUST_CONFIG},
        "verify": {"verify_trust": True, "verify_after_reading": True, "verify_after_sign": verify_after_sign,
                   "remote_manifest_fetch": False, "ocsp_fetch": False},
        "builder": {"thumbnail": {"enabled": False}, "claim_generator_info": generator,
                    "actions": {"auto_created_action": {"enabled": False}, "auto_opened_action": {"enabled": False},
                                "auto_placed_action": {"enabled": False}}},
    })
