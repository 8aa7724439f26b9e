"""A studio's real signing identity as it arrives for import: its chain and its password-protected key."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization

from capturerig.provenance import make_test_chain


def chain_and_encrypted_key(folder: Path, password: bytes) -> tuple[Path, Path]:
    """``folder/chain.pem`` (leaf then root) and ``folder/key.pem`` (PKCS#8, encrypted with ``password``)."""
    made = make_test_chain("Imported Studio")
    chain = folder / "chain.pem"
    chain.write_bytes(made.leaf.public_bytes(serialization.Encoding.PEM)
                      + made.root.public_bytes(serialization.Encoding.PEM))
    key = folder / "key.pem"
    key.write_bytes(made.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.BestAvailableEncryption(password)))
    return chain, key
