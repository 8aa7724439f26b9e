"""Signed packages: every image carries a C2PA manifest c2pa's own Reader validates, tied to the consent; `verify`
names each image that was changed, stripped or re-signed, and says when the consent behind them was revoked."""

from __future__ import annotations

import datetime
import hashlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import c2pa  # type: ignore[import-untyped]
import pytest
from typer.testing import CliRunner

from capturerig import Session, load_plan, load_rig
from capturerig.cli import app
from capturerig.engine import PreflightResult, RunState
from capturerig.provenance import (
    C2PA_EKUS,
    CAWG_ENTRIES,
    SIGNING_DIR_ENV,
    CaptureFacts,
    ConsentClaim,
    ImageManifest,
    create_test_identity,
    sign_image,
)
from capturerig.subjects import SubjectRegistry, revoke_subject
from capturerig_sim import TIME_SCALE_ENV, reset_studios
from tests.conftest import EXAMPLES, with_test_card_images

runner = CliRunner()
EXIFTOOL = shutil.which("exiftool")

PLAN = """\
name: signing-test
consistency: take
poses: [{id: p00, description: standing}]
stations: [{id: s00, angle_deg: 0}]
lighting:
  - {id: l00, name: all white, levels: {"*": {intensity: 1.0, white: 1.0}}}
camera_groups: [ring-low]
coverage: {min_cameras: 8}
"""
# Two subjects: one whose consent allows generative AI training, one whose consent is for capture only.
PURPOSES = {"P-train": ["capture", "ai-generative-training"], "P-plain": ["capture"]}


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The studio's TEST identity, a registry of the two subjects, and a finished one-take session of each,
    packaged signed once (the module's shared packages)."""
    base = tmp_path_factory.mktemp("signing")
    identity = create_test_identity(base / "signing").directory
    registry = base / "subjects.sqlite"
    today = datetime.date.today()
    with SubjectRegistry.open(registry, create=True, actor="tests") as opened:
        for subject, purposes in PURPOSES.items():
            opened.add_subject(subject, "25-34")
            opened.add_consent(subject, hashlib.sha256(subject.encode()).hexdigest(), purposes,
                               today - datetime.timedelta(days=1), today + datetime.timedelta(days=365))
    shutil.copytree(EXAMPLES, base / "studio")
    (base / "studio" / "plan.yaml").write_text(PLAN)
    with_test_card_images(base / "studio" / "rig.yaml")
    found = {"identity": identity, "registry": registry, "base": base}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(TIME_SCALE_ENV, "0")
        for subject in PURPOSES:
            reset_studios()
            rig = load_rig(base / "studio" / "rig.yaml")
            session = Session.create(rig, load_plan(base / "studio" / "plan.yaml", rig), subject,
                                     base / "sessions" / subject, purpose="capture", registry=registry)
            try:
                assert session.run().state == RunState.DONE
            finally:
                session.close()
            out = base / "packages" / subject
            result = runner.invoke(app, ["package", str(session.path), "--out", str(out), "--sign", "on",
                                         "--signing-dir", str(identity)])
            assert result.exit_code == 0, result.output
            assert "every image signed (C2PA)" in " ".join(result.output.split())
            found[subject], found[f"session-{subject}"] = out, session.path
        reset_studios()
    return found


def _frames(package: Path) -> list[dict[str, Any]]:
    document = json.loads((package / "data" / "package.json").read_text())
    return list(document["frames"])


def _reader(path: Path, identity: Path) -> tuple[str, list[dict[str, Any]], dict[str, Any]]:
    """c2pa's own Reader, configured here to trust the studio's root only: (state, failures, active manifest)."""
    trust_config = "".join(f"{oid.dotted_string}\n" for oid in C2PA_EKUS)
    settings = {"trust": {"trust_anchors": (identity / "trust.pem").read_text(), "trust_config": trust_config},
                "verify": {"remote_manifest_fetch": False}}
    with c2pa.Context.from_dict(settings) as context, c2pa.Reader(str(path), context=context) as reader:
        results = reader.get_validation_results() or {}
        failures = list((results.get("activeManifest") or {}).get("failure") or [])
        return reader.get_validation_state(), failures, reader.get_active_manifest() or {}


def _assertions(manifest: dict[str, Any]) -> dict[str, Any]:
    return {a["label"]: a["data"] for a in manifest["assertions"]}


def test_every_image_validates_in_c2pas_reader_and_reads_back_as_written(studio: dict[str, Path]) -> None:
    package, identity = studio["P-train"], studio["identity"]
    consent_sha = hashlib.sha256((package / "data/provenance/consent.json").read_bytes()).hexdigest()
    consent_id = json.loads((package / "data/provenance/consent.json").read_text())["consent_id"]
    document = json.loads((package / "data/package.json").read_text())
    assert document["provenance"]["signed"] is True
    assert document["provenance"]["test_identity"] is True
    assert "masks" in document["provenance"]["unsigned"]
    checked = 0
    for frame in _frames(package):
        signed = frame["signed_paths"]
        assert frame["file_path"] in signed
        assert frame["undistorted_path"] in signed
        for relative in signed:
            state, failures, manifest = _reader(package / "data" / relative, identity)
            assert (state, failures) == ("Trusted", []), relative
            assertions = _assertions(manifest)
            consent = assertions["org.capturerig.consent"]
            assert consent["consent_record_sha256"] == consent_sha
            assert consent["consent_id"] == consent_id
            assert consent["scope"]["purposes"] == PURPOSES["P-train"]
            entries = assertions["cawg.training-mining"]["entries"]
            assert {k: v["use"] for k, v in entries.items()} == {
                "cawg.data_mining": "notAllowed", "cawg.ai_training": "allowed",
                "cawg.ai_generative_training": "allowed", "cawg.ai_inference": "notAllowed"}
            assert assertions["org.capturerig.capture"]["camera_id"] == frame["camera_id"]
            actions = [a["action"] for a in assertions["c2pa.actions.v2"]["actions"]]
            if relative == frame["file_path"]:  # the captured image as it was: the original
                assert actions == ["c2pa.created"]
                assert assertions["c2pa.actions.v2"]["actions"][0]["digitalSourceType"].endswith(
                    "digitalCapture")
            else:  # the undistorted rendition, with the original (as signed in the bag) as its parent
                assert actions == ["c2pa.opened", "c2pa.edited"]
                parents = [i for i in manifest["ingredients"] if i["relationship"] == "parentOf"]
                assert [p["title"] for p in parents] == [frame["name"]]
            checked += 1
    assert checked == 16  # 8 cameras: the image and its undistorted rendition


def test_a_consent_without_ai_training_says_not_allowed_in_every_image(studio: dict[str, Path]) -> None:
    package = studio["P-plain"]
    for frame in _frames(package):
        for relative in frame["signed_paths"]:
            _, failures, manifest = _reader(package / "data" / relative, studio["identity"])
            assert failures == []
            entries = _assertions(manifest)["cawg.training-mining"]["entries"]
            assert {k: v["use"] for k, v in entries.items()} == dict.fromkeys(CAWG_ENTRIES, "notAllowed")


def test_verify_checks_every_signature_and_the_package_claim(studio: dict[str, Path]) -> None:
    result = runner.invoke(app, ["verify", str(studio["P-train"]), "--signing-dir", str(studio["identity"])])
    output = " ".join(result.output.split())
    assert result.exit_code == 0, output
    assert "16 of 16 signed images verified against the studio's trust list" in output
    claim = json.loads((studio["P-train"] / "package-claim.json").read_text())
    assert set(claim["tag_files"]) == {"bagit.txt", "bag-info.txt", "manifest-sha256.txt", "manifest-sha512.txt"}
    assert "package-claim.json.c2pa" in (studio["P-train"] / "tagmanifest-sha256.txt").read_text()
    # Given only another studio's roots, every image is signed by an unknown key.
    other = create_test_identity(studio["base"] / "other-studio", studio="another studio")
    result = runner.invoke(app, ["verify", str(studio["P-train"]), "--trust", str(other.directory / "trust.pem")])
    assert result.exit_code == 1
    assert result.output.count("signed by a key not in the studio's trust list") >= 16


def test_a_changed_a_stripped_and_a_re_signed_image_are_each_named(studio: dict[str, Path], tmp_path: Path) -> None:
    package = shutil.copytree(studio["P-train"], tmp_path / "copy")
    frames = _frames(package)
    flipped = package / "data" / str(frames[0]["file_path"])
    data = bytearray(flipped.read_bytes())
    data[len(data) // 2] ^= 0x01  # a pixel byte, well away from the manifest
    flipped.write_bytes(bytes(data))
    stripped = package / "data" / str(frames[1]["file_path"])
    captured = studio["session-P-train"] / json.loads((package / "data/package.json").read_text())[
        "frames"][1]["source"]
    stripped.write_bytes(next(p for p in studio["session-P-train"].rglob(str(captured.name))).read_bytes())
    resigned = package / "data" / str(frames[2]["file_path"])
    stranger = create_test_identity(tmp_path / "stranger", studio="a stranger")
    facts = CaptureFacts("S", "rig", str(frames[2]["camera_id"]), datetime.datetime.now(datetime.UTC))
    claim = ConsentClaim.from_consent_file(package / "data/provenance/consent.json")
    sign_image(studio["session-P-train"].rglob(str(captured.name)).__next__(), stranger,
               ImageManifest(facts, claim), dest=resigned)
    result = runner.invoke(app, ["verify", str(package), "--signing-dir", str(studio["identity"])])
    output = result.output
    assert result.exit_code == 1, output
    lines = [line for line in output.splitlines() if "C2PA manifest" in line]
    named = {line.split(":")[0].removeprefix("FAIL ").strip(): line for line in lines}
    for path, what in ((flipped, "broken"), (stripped, "missing manifest"),
                       (resigned, "signed by a key not in the studio's trust list")):
        relative = path.relative_to(package).as_posix()
        assert relative in named, output
        assert what in named[relative], named[relative]
    assert len(named) == 3, output


@pytest.mark.skipif(EXIFTOOL is None, reason="exiftool is not installed")
def test_exiftool_still_reads_the_xmp_fields_of_a_signed_package(studio: dict[str, Path]) -> None:
    package = studio["P-train"]
    consent_id = json.loads((package / "data/provenance/consent.json").read_text())["consent_id"]
    sidecar = next(package.rglob("*.xmp"))
    read = subprocess.run([str(EXIFTOOL), "-j", "-XMP-plus:all", "-XMP-iptcExt:DigitalSourceType", str(sidecar)],
                          capture_output=True, text=True, timeout=60, check=True)
    (tags,) = json.loads(read.stdout)
    assert tags["ModelReleaseID"] == consent_id
    assert tags["DigitalSourceType"] == "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"
    image = package / "data" / str(_frames(package)[0]["file_path"])
    read = subprocess.run([str(EXIFTOOL), "-j", "-JUMBF:all", str(image)], capture_output=True, text=True,
                          timeout=60, check=True)
    assert "c2pa" in read.stdout.lower()  # exiftool sees the embedded manifest store


def _leftovers(where: Path, name: str) -> list[Path]:
    return [p for p in where.iterdir() if p.name == name or p.name.startswith(f".{name}.")]


def test_no_key_an_expired_certificate_or_a_wrong_password_refuse_before_anything_is_written(
        studio: dict[str, Path], tmp_path: Path) -> None:
    session, out = studio["session-P-plain"], tmp_path / "packages"
    out.mkdir()
    nowhere = tmp_path / "no-identity"
    result = runner.invoke(app, ["package", str(session), "--out", str(out / "a"), "--sign", "on",
                                 "--signing-dir", str(nowhere)])
    assert result.exit_code == 2
    assert f"looked in {nowhere}" in " ".join(result.output.split())
    expired = create_test_identity(tmp_path / "expired", not_before=datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC),
                                   not_after=datetime.datetime(2021, 1, 1, tzinfo=datetime.UTC))
    result = runner.invoke(app, ["package", str(session), "--out", str(out / "b"), "--signing-dir",
                                 str(expired.directory)])  # auto: an identity that cannot sign is not skipped
    assert result.exit_code == 2
    assert "expired on 2021-01-01" in " ".join(result.output.split())
    # An imported key whose password file no longer opens it.
    from cryptography.hazmat.primitives import serialization

    from capturerig.provenance import import_identity, make_test_chain

    made = make_test_chain()
    (tmp_path / "chain.pem").write_bytes(made.leaf.public_bytes(serialization.Encoding.PEM)
                                         + made.root.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(made.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"right horse battery")))
    (tmp_path / "password").write_text("right horse battery\n")
    imported = import_identity(tmp_path / "chain.pem", tmp_path / "key.pem", tmp_path / "imported",
                               password_file=tmp_path / "password")
    (tmp_path / "password").write_text("wrong\n")
    result = runner.invoke(app, ["package", str(session), "--out", str(out / "c"), "--signing-dir",
                                 str(imported.directory)])
    assert result.exit_code == 2
    assert "does not open the private key" in " ".join(result.output.split())
    for name in ("a", "b", "c"):
        assert _leftovers(out, name) == []


def test_sign_off_packages_unsigned_and_verify_says_so(studio: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "unsigned"
    result = runner.invoke(app, ["package", str(studio["session-P-plain"]), "--out", str(out), "--sign", "off",
                                 "--signing-dir", str(studio["identity"])])
    assert result.exit_code == 0, result.output
    document = json.loads((out / "data/package.json").read_text())
    assert document["provenance"] == {"signed": False, "why": "signing turned off (--sign off)"}
    assert not (out / "package-claim.json").exists()
    result = runner.invoke(app, ["verify", str(out)])
    assert result.exit_code == 0, result.output
    assert "unsigned (signing turned off (--sign off))" in " ".join(result.output.split())


def test_after_revocation_verify_says_the_consent_behind_the_signed_images_was_revoked(
        studio: dict[str, Path]) -> None:
    package = studio["P-plain"]
    revoke_subject(studio["registry"], "P-plain", "the subject withdrew")
    result = runner.invoke(app, ["verify", str(package), "--signing-dir", str(studio["identity"])])
    output = " ".join(result.output.split())
    assert result.exit_code == 1, output
    assert "was revoked" in output
    assert "the consent behind the 16 signed images" in output
    assert "signatures stay valid" in output
    assert "16 of 16 signed images verified" in output  # the signatures themselves still check


def test_packaging_on_dask_signs_each_frame_in_its_task(studio: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "on-dask"
    result = runner.invoke(app, ["package", str(studio["session-P-train"]), "--out", str(out), "--dask",
                                 "--signing-dir", str(studio["identity"])])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["verify", str(out), "--signing-dir", str(studio["identity"])])
    assert result.exit_code == 0, result.output
    assert "16 of 16 signed images verified" in " ".join(result.output.split())


@pytest.mark.usefixtures("fast_sim")
def test_preflight_warns_of_an_expired_identity_and_captures_anyway(studio_files: Path, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    expired = create_test_identity(tmp_path / "expired", not_before=datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC),
                                   not_after=datetime.datetime(2021, 1, 1, tzinfo=datetime.UTC))
    monkeypatch.setenv(SIGNING_DIR_ENV, str(expired.directory))
    (studio_files / "plan.yaml").write_text(PLAN)
    rig = load_rig(with_test_card_images(studio_files / "rig.yaml"))
    session = Session.create(rig, load_plan(studio_files / "plan.yaml", rig), "S", tmp_path / "session")
    seen: list[PreflightResult] = []
    session.subscribe(lambda e: seen.append(e) if isinstance(e, PreflightResult) else None)
    try:
        assert session.run().state == RunState.DONE
    finally:
        session.close()
    (signing,) = [p for p in seen if p.device_id == "signing"]
    assert signing.ok
    assert signing.detail.startswith("warning: packaging will refuse to sign")
    assert "expired on 2021-01-01" in signing.detail


def test_the_signed_package_claim_catches_a_bag_rewritten_with_fresh_tag_manifests(
        studio: dict[str, Path], tmp_path: Path) -> None:
    package = shutil.copytree(studio["P-train"], tmp_path / "copy")
    info = package / "bag-info.txt"
    info.write_text(info.read_text().replace("External-Identifier:", "External-Identifier: someone else's"))
    for algorithm in ("sha256", "sha512"):  # as a forger would: the tag manifests agree with the new bag-info
        lines = []
        for line in (package / f"tagmanifest-{algorithm}.txt").read_text().splitlines():
            _, name = line.split("  ", 1)
            lines.append(f"{hashlib.new(algorithm, (package / name).read_bytes()).hexdigest()}  {name}\n")
        (package / f"tagmanifest-{algorithm}.txt").write_text("".join(lines))
    result = runner.invoke(app, ["verify", str(package), "--signing-dir", str(studio["identity"])])
    assert result.exit_code == 1, result.output
    (line,) = [line for line in result.output.splitlines() if line.startswith("FAIL")]
    assert "bag-info.txt: does not match the sha256 the signed package-claim.json gives for it" in line
