"""Signing images with the studio's identity, and verifying them: what a reader of the package would see."""

from __future__ import annotations

import datetime
import hashlib
import json
from pathlib import Path

import c2pa
import cv2
import numpy as np
import pytest

from capturerig.provenance import (
    C2PA_EKUS,
    CAWG_ENTRIES,
    CaptureFacts,
    CertificateExpired,
    ConsentClaim,
    Edit,
    IdentityError,
    ImageManifest,
    ImageSigner,
    SigningError,
    SigningIdentity,
    SigningKeyMissing,
    Verdict,
    create_test_identity,
    import_identity,
    load_identity,
    sign_image,
    verify_image,
)
from capturerig.provenance._embed import insertion_offset
from tests._provenance import chain_and_encrypted_key

CAPTURED = datetime.datetime(2026, 11, 30, 14, 5, 7, 250000, tzinfo=datetime.UTC)
FACTS = CaptureFacts(session_id="S-0042-20261130", rig_id="sim-studio", camera_id="cam017", captured_at=CAPTURED,
                     take_id="p00/s00/l03/b0")


def _consent_json(*purposes: str) -> bytes:
    """A package's provenance/consent.json as subjects.package_provenance writes it (ids and hashes only)."""
    return json.dumps({"schema": "capturerig.consent/1", "registry_id": "R-1", "subject_id": "P-42",
                       "age_band": "25-34", "minor": False, "consent_id": "C-7", "document_sha256": "ab" * 32,
                       "scope": {"purposes": list(purposes), "media": [], "licensees": [], "territories": []},
                       "starts": "2026-01-01", "expires": "2027-12-31", "purpose": "capture"}, indent=2).encode()


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> SigningIdentity:
    return create_test_identity(tmp_path_factory.mktemp("studio"))


@pytest.fixture(scope="module")
def stranger(tmp_path_factory: pytest.TempPathFactory) -> SigningIdentity:
    return create_test_identity(tmp_path_factory.mktemp("stranger"), studio="another studio")


def _image(path: Path, seed: int = 1) -> Path:
    """A camera-like frame: a gradient with noise (so compression has something to keep)."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 200, 640, dtype=np.float32)[None, :, None] + np.linspace(0, 50, 480)[:, None, None]
    frame = np.clip(ramp + rng.normal(0, 6, (480, 640, 3)), 0, 255).astype(np.uint8)
    assert cv2.imwrite(str(path), frame)
    return path


def _manifest(*purposes: str) -> ImageManifest:
    return ImageManifest(FACTS, ConsentClaim.from_consent_json(_consent_json(*purposes)))


def _reader_report(path: Path, identity: SigningIdentity) -> tuple[str, list[dict[str, object]], dict[str, object]]:
    """c2pa's own Reader, configured here (not through our code) to trust the studio's root only."""
    trust_config = "".join(f"{oid.dotted_string}\n" for oid in C2PA_EKUS)
    settings = {"trust": {"trust_anchors": identity.trust_pem().decode(), "trust_config": trust_config},
                "verify": {"remote_manifest_fetch": False}}
    with c2pa.Context.from_dict(settings) as context, c2pa.Reader(str(path), context=context) as reader:
        results = reader.get_validation_results() or {}
        failures = list((results.get("activeManifest") or {}).get("failure") or [])
        return reader.get_validation_state(), failures, reader.get_active_manifest()


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_signed_image_validates_in_c2pa_reader_and_reads_back_as_written(tmp_path: Path, studio: SigningIdentity,
                                                                          suffix: str) -> None:
    image = _image(tmp_path / f"cam017_p00_s00_l03{suffix}")
    consent = _consent_json("capture", "ai-training")
    signed = sign_image(image, studio, ImageManifest(FACTS, ConsentClaim.from_consent_json(consent)))
    assert signed.path == image
    assert signed.sidecar is None
    state, failures, manifest = _reader_report(image, studio)
    assert failures == []
    assert state == "Trusted"
    assertions = {a["label"]: a["data"] for a in manifest["assertions"]}  # type: ignore[attr-defined]
    (created,) = assertions["c2pa.actions.v2"]["actions"]
    assert created["action"] == "c2pa.created"
    assert created["digitalSourceType"] == "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"
    assert created["when"] == "2026-11-30T14:05:07.250Z"
    assert assertions["org.capturerig.capture"] == {
        "schema": "capturerig.capture/1", "session_id": "S-0042-20261130", "rig_id": "sim-studio",
        "camera_id": "cam017", "take_id": "p00/s00/l03/b0", "captured_at": "2026-11-30T14:05:07.250Z"}
    claim = assertions["org.capturerig.consent"]
    assert claim["consent_id"] == "C-7"
    assert claim["consent_record_sha256"] == hashlib.sha256(consent).hexdigest()
    assert claim["document_sha256"] == "ab" * 32
    assert claim["scope"] == {"purposes": ["capture", "ai-training"], "starts": "2026-01-01", "expires": "2027-12-31"}
    assert "age_band" not in json.dumps(claim)
    assert "name" not in json.dumps(claim)
    assert set(assertions["cawg.training-mining"]["entries"]) == set(CAWG_ENTRIES)

    verdict = verify_image(image, studio.trust_pem())
    assert verdict.verdict is Verdict.OK, verdict.describe()
    assert verdict.consent["consent_id"] == "C-7"
    assert verdict.capture["camera_id"] == "cam017"
    assert verdict.actions == ("c2pa.created",)


def test_consent_without_ai_training_says_not_allowed_and_with_it_allowed(tmp_path: Path,
                                                                         studio: SigningIdentity) -> None:
    without = _image(tmp_path / "without.jpg")
    sign_image(without, studio, _manifest("capture", "research"))
    read = verify_image(without, studio.trust_pem())
    assert read.ok
    assert read.training_mining == {entry: "notAllowed" for entry in CAWG_ENTRIES}

    trained = _image(tmp_path / "with.png")
    sign_image(trained, studio, _manifest("capture", "ai-training"))
    uses = verify_image(trained, studio.trust_pem()).training_mining
    assert uses["cawg.ai_training"] == "allowed"
    assert uses["cawg.ai_generative_training"] == "notAllowed"  # a likeness needs its own word for that
    assert uses["cawg.data_mining"] == uses["cawg.ai_inference"] == "notAllowed"

    generative = _image(tmp_path / "generative.jpg")
    sign_image(generative, studio, _manifest("ai-generative-training", "data-mining", "ai-inference"))
    assert verify_image(generative, studio.trust_pem()).training_mining == {e: "allowed" for e in CAWG_ENTRIES}


def test_rendition_carries_its_original_as_parent_and_says_what_was_done(tmp_path: Path,
                                                                       studio: SigningIdentity) -> None:
    original = _image(tmp_path / "cam017.jpg")
    sign_image(original, studio, _manifest("capture"))
    rendition = _image(tmp_path / "cam017_corrected.png", seed=2)
    manifest = ImageManifest(FACTS, ConsentClaim.from_consent_json(_consent_json("capture")),
                             edits=(Edit.COLOUR_CORRECTION, Edit.UNDISTORTION), parent=original)
    sign_image(rendition, studio, manifest)
    read = verify_image(rendition, studio.trust_pem())
    assert read.ok, read.describe()
    assert read.actions == ("c2pa.opened", "c2pa.color_adjustments", "c2pa.edited")
    assert read.parents == ("cam017.jpg",)
    state, failures, _ = _reader_report(rendition, studio)
    assert (state, failures) == ("Trusted", [])


def test_flipped_byte_stripped_manifest_and_foreign_signer_are_each_named(tmp_path: Path, studio: SigningIdentity,
                                                                          stranger: SigningIdentity) -> None:
    good = _image(tmp_path / "good.jpg")
    sign_image(good, studio, _manifest("capture"))
    flipped = tmp_path / "flipped.jpg"
    data = bytearray(good.read_bytes())
    data[-200] ^= 0x01  # one bit of the image data, far from the manifest
    flipped.write_bytes(bytes(data))
    stripped = tmp_path / "stripped.jpg"
    assert cv2.imwrite(str(stripped), cv2.imread(str(good)))  # re-encoded: pixels kept, manifest gone
    foreign = tmp_path / "foreign.jpg"
    sign_image(stripped, stranger, _manifest("capture", "ai-training"), dest=foreign)

    found = {p.name: verify_image(p, studio.trust_pem()) for p in (good, flipped, stripped, foreign)}
    assert found["good.jpg"].verdict is Verdict.OK
    assert found["flipped.jpg"].verdict is Verdict.BROKEN
    assert "assertion.dataHash.mismatch" in found["flipped.jpg"].describe()
    assert found["stripped.jpg"].verdict is Verdict.MISSING
    assert "stripped.jpg: missing manifest" in found["stripped.jpg"].describe()
    assert found["foreign.jpg"].verdict is Verdict.UNTRUSTED
    assert "signingCredential.untrusted" in found["foreign.jpg"].describe()
    assert "another studio" in found["foreign.jpg"].signer
    # The stranger's own trust list accepts it: the signature itself is sound.
    assert verify_image(foreign, stranger.trust_pem()).ok


def test_format_that_cannot_embed_gets_a_sidecar_bound_to_its_bytes(tmp_path: Path, studio: SigningIdentity) -> None:
    raw = tmp_path / "cam017.exr"
    raw.write_bytes(bytes(range(256)) * 64)
    before = raw.read_bytes()
    signed = sign_image(raw, studio, _manifest("capture"))
    assert raw.read_bytes() == before
    assert signed.sidecar == tmp_path / "cam017.exr.c2pa"
    assert verify_image(raw, studio.trust_pem()).ok
    raw.write_bytes(before[:-1] + b"\x00")
    assert verify_image(raw, studio.trust_pem()).verdict is Verdict.BROKEN
    signed.sidecar.unlink()
    assert verify_image(raw, studio.trust_pem()).verdict is Verdict.MISSING
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cam017.exr"]  # no scratch copy left behind


def test_no_key_names_where_it_looked_and_leaves_no_output(tmp_path: Path) -> None:
    identity = create_test_identity(tmp_path / "signing")
    identity.key_path.unlink()
    image = _image(tmp_path / "a.jpg")
    with pytest.raises(SigningKeyMissing, match=f"{tmp_path / 'signing' / 'signing.key'}"):
        sign_image(image, identity, _manifest("capture"), dest=tmp_path / "out.jpg")
    with pytest.raises(SigningKeyMissing, match="provenance init"):
        load_identity(tmp_path / "signing")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jpg", "signing"]


def test_expired_certificate_signs_nothing(tmp_path: Path) -> None:
    ended = datetime.datetime(2026, 1, 31, tzinfo=datetime.UTC)
    identity = create_test_identity(tmp_path / "signing", not_before=ended - datetime.timedelta(days=30),
                                    not_after=ended)
    image = _image(tmp_path / "a.jpg")
    before = image.read_bytes()
    with pytest.raises(CertificateExpired, match="expired on 2026-01-31"):
        sign_image(image, identity, _manifest("capture"))
    assert image.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jpg", "signing"]


def test_wrong_password_on_an_imported_key_signs_nothing(tmp_path: Path) -> None:
    chain, key = chain_and_encrypted_key(tmp_path, b"right horse")
    password = tmp_path / "password"
    password.write_text("right horse\n")
    identity = import_identity(chain, key, tmp_path / "signing", password_file=password)
    image = _image(tmp_path / "a.jpg")
    with ImageSigner(identity) as signer:  # the right password: signs
        signer.sign(image, _manifest("capture"), dest=tmp_path / "signed.jpg")
    assert verify_image(tmp_path / "signed.jpg", identity.trust_pem()).ok
    password.write_text("battery staple\n")  # someone changed the password file
    with pytest.raises(IdentityError, match="does not open the private key"):
        sign_image(image, identity, _manifest("capture"), dest=tmp_path / "again.jpg")
    assert not (tmp_path / "again.jpg").exists()
    assert not list(tmp_path.glob(".*signing*"))


def test_signing_failure_leaves_the_destination_untouched(tmp_path: Path, studio: SigningIdentity) -> None:
    fake = tmp_path / "broken.jpg"
    fake.write_bytes(b"this is not a JPEG at all")
    dest = tmp_path / "out.jpg"
    dest.write_bytes(b"previous")
    with pytest.raises(SigningError, match=r"broken\.jpg: c2pa could not sign it as image/jpeg"):
        sign_image(fake, studio, _manifest("capture"), dest=dest)
    assert dest.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.jpg", "out.jpg"]


def test_a_rendition_without_its_original_is_refused() -> None:
    with pytest.raises(SigningError, match="needs its original as parent"):
        ImageManifest(FACTS, ConsentClaim.from_consent_json(_consent_json("capture")), edits=(Edit.UNDISTORTION,))


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_in_memory_signing_splices_the_manifest_in_and_binds_it_to_the_given_digest(
        tmp_path: Path, studio: SigningIdentity, suffix: str) -> None:
    """The data-hashed route packaging takes: the signed file is the input with one manifest inserted, its hard
    binding is the caller's sha256 of the input (so a wrong digest is a broken file, not a silent pass)."""
    data = _image(tmp_path / f"captured{suffix}").read_bytes()
    digest = hashlib.sha256(data).digest()
    with ImageSigner(studio) as signer:
        asset, sidecar = signer.sign_bytes(data, f"cam017{suffix}", _manifest("capture"), sha256=digest)
        wrong, _ = signer.sign_bytes(data, f"wrong{suffix}", _manifest("capture"), sha256=bytes(32))
    assert sidecar is None
    offset = insertion_offset(data, "image/jpeg" if suffix == ".jpg" else "image/png")
    assert offset is not None
    added = len(asset) - len(data)
    assert asset[:offset] + asset[offset + added:] == data  # nothing of the input changed or moved
    signed = tmp_path / f"cam017{suffix}"
    signed.write_bytes(asset)
    state, failures, _ = _reader_report(signed, studio)
    assert (state, failures) == ("Trusted", [])
    assert verify_image(signed, studio.trust_pem()).ok

    (tmp_path / f"wrong{suffix}").write_bytes(wrong)
    read = verify_image(tmp_path / f"wrong{suffix}", studio.trust_pem())
    assert read.verdict is Verdict.BROKEN
    assert "assertion.dataHash.mismatch" in read.describe()
    flipped = bytearray(asset)
    flipped[-200] ^= 0x01
    (tmp_path / f"flipped{suffix}").write_bytes(bytes(flipped))
    assert verify_image(tmp_path / f"flipped{suffix}", studio.trust_pem()).verdict is Verdict.BROKEN


def test_renditions_of_one_original_in_memory_each_carry_it_as_parent(tmp_path: Path,
                                                                    studio: SigningIdentity) -> None:
    """The original's ingredient is built once and reused (same bytes object), and each rendition validates."""
    captured = _image(tmp_path / "captured.jpg").read_bytes()
    consent = ConsentClaim.from_consent_json(_consent_json("capture"))
    with ImageSigner(studio) as signer:
        original, _ = signer.sign_bytes(captured, "cam017.jpg", ImageManifest(FACTS, consent))
        renditions = {}
        for name, edits in (("graded.jpg", (Edit.COLOUR_CORRECTION,)),
                            ("undistorted.jpg", (Edit.COLOUR_CORRECTION, Edit.UNDISTORTION)),
                            ("rgba.png", (Edit.MASK_ALPHA,))):
            pixels = _image(tmp_path / f"render-{name}", seed=len(name)).read_bytes()
            manifest = ImageManifest(FACTS, consent, edits=edits, parent=Path("cam017.jpg"))
            renditions[name] = signer.sign_bytes(pixels, name, manifest, parent_data=original)[0]
        other = _image(tmp_path / "other.jpg", seed=9).read_bytes()  # another original: a new ingredient
        other_signed, _ = signer.sign_bytes(other, "cam018.jpg", ImageManifest(FACTS, consent))
        renditions["cam018-graded.jpg"] = signer.sign_bytes(
            other, "cam018-graded.jpg", ImageManifest(FACTS, consent, edits=(Edit.COLOUR_CORRECTION,),
                                                      parent=Path("cam018.jpg")), parent_data=other_signed)[0]
    for name, asset in renditions.items():
        path = tmp_path / name
        path.write_bytes(asset)
        read = verify_image(path, studio.trust_pem())
        assert read.ok, read.describe()
        assert read.parents == ("cam018.jpg",) if name.startswith("cam018") else ("cam017.jpg",)
        assert read.actions[0] == "c2pa.opened"
        state, failures, _ = _reader_report(path, studio)
        assert (state, failures) == ("Trusted", [])


def test_an_image_holding_a_manifest_already_is_signed_the_ordinary_way(tmp_path: Path,
                                                                        studio: SigningIdentity) -> None:
    once = _image(tmp_path / "once.jpg")
    sign_image(once, studio, _manifest("capture"))
    data = once.read_bytes()
    assert insertion_offset(data, "image/jpeg") is None  # an APP11 there: not spliced a second time
    with ImageSigner(studio) as signer:
        asset, _ = signer.sign_bytes(data, "twice.jpg", _manifest("capture", "ai-training"))
    (tmp_path / "twice.jpg").write_bytes(asset)
    read = verify_image(tmp_path / "twice.jpg", studio.trust_pem())
    assert read.ok, read.describe()
    assert read.training_mining["cawg.ai_training"] == "allowed"


def test_insertion_goes_after_the_jfif_and_exif_segments() -> None:
    app0 = b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    app1 = b"\xff\xe1\x00\x08Exif\x00\x00"
    rest = b"\xff\xdb\x00\x04\x00\x00\xff\xda\x00\x02\x00\xff\xd9"
    assert insertion_offset(b"\xff\xd8" + app0 + app1 + rest, "image/jpeg") == 2 + len(app0) + len(app1)
    assert insertion_offset(b"\xff\xd8" + rest, "image/jpeg") == 2
    assert insertion_offset(b"\xff\xd8\xff\xeb\x00\x04JP" + rest, "image/jpeg") is None
    assert insertion_offset(b"not a jpeg", "image/jpeg") is None
    assert insertion_offset(b"\xff\xd8" + rest, "image/tiff") is None
