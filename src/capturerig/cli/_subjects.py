"""``capturerig subjects ...`` and ``capturerig purge``: the subject registry from the command line.

The registry is ``--registry PATH``, else ``$CAPTURERIG_REGISTRY``, else ``subjects.sqlite`` in the rig's
storage root (``--rig``; default: the simulated studio's ``sessions/``).
"""

from __future__ import annotations

import datetime
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from capturerig.cli._output import BAD_INPUT, FAILED, RigOption, console, errors, fail, require_terminal
from capturerig.config import ConfigError, load_rig
from capturerig.subjects import (
    DEMO_PURPOSE,
    REGISTRY_ENV,
    REGISTRY_FILE,
    ConsentRefused,
    RegistryError,
    RegistryMissing,
    SubjectRegistry,
    default_registry_path,
    enrol_demo_subject,
    purge_subject,
    record_export,
    revoke_subject,
)

__all__ = ["RegistryOption", "enrol_demo", "purge", "subjects_app"]

subjects_app = typer.Typer(no_args_is_help=True, help="The subject registry: subjects, consent, revocation, audit.")

RegistryOption = Annotated[Path | None, typer.Option(
    "--registry", help=f"subject registry file (default: ${REGISTRY_ENV}, else <rig storage root>/subjects.sqlite)")]
DocumentOption = Annotated[Path | None, typer.Option(
    "--document", help="the signed document (hashed here; it stays outside the registry and every package)")]
DocumentHashOption = Annotated[str | None, typer.Option("--document-sha256", help="its sha256, if not at hand")]


def _registry_path(registry: Path | None, rig: Path | None) -> Path:
    """--registry, else $CAPTURERIG_REGISTRY, else the rig's storage root; the simulated studio's when no
    --rig is given, and then it says so (a technician's registry is not the demo's)."""
    if registry is not None:
        return registry
    if rig is not None:
        return default_registry_path(load_rig(rig).config)
    path = default_registry_path(None)
    if not os.environ.get(REGISTRY_ENV, "").strip():
        console.print(f"registry: {path} (the simulated studio's storage root; default, --registry FILE or "
                      "--rig RIG to choose)", highlight=False)
    return path


@contextmanager
def _registry(registry: Path | None, rig: Path | None, create: bool = False) -> Iterator[SubjectRegistry]:
    """Open the registry; registry problems end the command with their message (exit 2)."""
    try:
        path = _registry_path(registry, rig)
        existed = path.is_file()
        with SubjectRegistry.open(path, create=create) as opened:
            if create and not existed:
                console.print(f"new subject registry {path} ({opened.registry_id})")
            yield opened
    except (RegistryError, RegistryMissing, ConsentRefused, ConfigError) as exc:
        raise fail(str(exc), BAD_INPUT) from exc


def _document_hash(document: Path | None, sha256: str | None, what: str) -> str:
    if document is not None:
        if not document.is_file():
            raise fail(f"{what} {document} does not exist", BAD_INPUT)
        return hashlib.sha256(document.read_bytes()).hexdigest()
    if sha256:
        return sha256
    raise fail(f"give the {what} (--document FILE) or its sha256 (--document-sha256 HEX)", BAD_INPUT)


def _date(text: str | None, what: str, default: datetime.date | None = None) -> datetime.date:
    if text is None:
        if default is None:
            raise fail(f"{what} is required (YYYY-MM-DD)", BAD_INPUT)
        return default
    try:
        return datetime.date.fromisoformat(text)
    except ValueError as exc:
        raise fail(f"{what} '{text}' is not a date (YYYY-MM-DD)", BAD_INPUT) from exc


@subjects_app.command("add")
def add(subject_id: Annotated[str, typer.Argument(help="pseudonymous id (never a name)")],
        age_band: Annotated[str, typer.Option("--age-band", help="e.g. 25-34, 35+, 16, 13-15")],
        minor: Annotated[bool | None, typer.Option("--minor/--adult",
                                                   help="default: a band ending below 18 is a minor")] = None,
        registry: RegistryOption = None, rig: RigOption = None) -> None:
    """Register a subject (creates the registry if there is none)."""
    with _registry(registry, rig, create=True) as opened:
        record = opened.add_subject(subject_id, age_band, minor)
    console.print(f"subject {record.subject_id}: age band {record.age_band}"
                  f"{', minor (consent needs a guardian)' if record.minor else ''} in {opened.path}")


@subjects_app.command("guardian")
def guardian(subject_id: Annotated[str, typer.Argument()], guardian_id: Annotated[str, typer.Argument()],
             relationship: Annotated[str, typer.Option("--relationship", help="parent, legal guardian ...")],
             document: DocumentOption = None, document_sha256: DocumentHashOption = None,
             registry: RegistryOption = None, rig: RigOption = None) -> None:
    """Record a minor's guardian and the consent they signed."""
    digest = _document_hash(document, document_sha256, "guardian's signed document")
    with _registry(registry, rig) as opened:
        opened.add_guardian(subject_id, guardian_id, relationship, digest)
    console.print(f"guardian {guardian_id} ({relationship}) of {subject_id} recorded")


@subjects_app.command("consent")
def consent(subject_id: Annotated[str, typer.Argument()],
            purpose: Annotated[list[str], typer.Option("--purpose", help="a use the subject agreed to (repeat)")],
            expires: Annotated[str, typer.Option("--expires", help="last valid day, YYYY-MM-DD")],
            starts: Annotated[str | None, typer.Option("--starts", help="first valid day (default today)")] = None,
            media: Annotated[list[str] | None, typer.Option("--media", help="images, 3d-model, video ...")] = None,
            licensee: Annotated[list[str] | None, typer.Option("--licensee")] = None,
            territory: Annotated[list[str] | None, typer.Option("--territory")] = None,
            guardian_id: Annotated[str | None, typer.Option("--guardian", help="a minor's recorded guardian")] = None,
            compensation: Annotated[str, typer.Option("--compensation", help="payment reference")] = "",
            document: DocumentOption = None, document_sha256: DocumentHashOption = None,
            registry: RegistryOption = None, rig: RigOption = None) -> None:
    """Record a signed consent: its sha256, scope (purposes, media, licensees, territories) and dates."""
    digest = _document_hash(document, document_sha256, "signed consent")
    begin = _date(starts, "--starts", datetime.date.today())
    with _registry(registry, rig) as opened:
        record = opened.add_consent(subject_id, digest, purpose, begin, _date(expires, "--expires"),
                                    media=media or (), licensees=licensee or (), territories=territory or (),
                                    guardian_id=guardian_id, compensation_ref=compensation)
        minor_without_guardian = opened.subject(subject_id).minor and guardian_id is None
    console.print(f"consent {record.consent_id} of {subject_id}: {', '.join(record.scope.purposes)}, "
                  f"{record.starts}..{record.expires} (document sha256 {record.document_sha256[:16]}...)")
    if minor_without_guardian:
        errors.print(f"[yellow]{subject_id} is a minor: no capture until a consent names their guardian (--guardian)")


@subjects_app.command("screening")
def screening(subject_id: Annotated[str, typer.Argument()],
              result: Annotated[str, typer.Option("--result", help="cleared or not-cleared")],
              max_flashes: Annotated[int, typer.Option("--max-flashes", help="flashes per second allowed")],
              by: Annotated[str, typer.Option("--by", help="who screened (clinician or role)")],
              on: Annotated[str, typer.Option("--on", help="screening date YYYY-MM-DD")],
              registry: RegistryOption = None, rig: RigOption = None) -> None:
    """Record a photosensitivity screening (it backs a plan's photosensitivity_override)."""
    with _registry(registry, rig) as opened:
        record = opened.add_screening(subject_id, result, max_flashes, by, _date(on, "--on"))
    console.print(f"screening {record.screening_id} of {subject_id}: {record.result} up to "
                  f"{record.max_flashes_per_s} flashes/s")


@subjects_app.command("show")
def show(subject_id: Annotated[str, typer.Argument()], registry: RegistryOption = None, rig: RigOption = None) -> None:
    """A subject's consents (and whether each is valid today), screening, sessions and packages."""
    today = datetime.date.today()
    with _registry(registry, rig) as opened:
        subject = opened.subject(subject_id)
        consents, revoked = opened.consents(subject_id), opened.revocations(subject_id)
        guardians, latest = opened.guardians(subject_id), opened.latest_screening(subject_id)
        sessions, lineage = opened.sessions(subject_id), opened.lineage(subject_id)
    console.print(f"subject {subject.subject_id}: age band {subject.age_band}{', minor' if subject.minor else ''}, "
                  f"registered {subject.recorded_at}")
    for kept in guardians:
        console.print(f"  guardian {kept.guardian_id} ({kept.relationship}), document sha256 "
                      f"{kept.document_sha256[:16]}...")
    table = Table(title="consents")
    for column in ("id", "purposes", "media", "licensees", "territories", "valid", "guardian", "status"):
        table.add_column(column)
    for record in consents:
        status = (f"revoked {revoked[record.consent_id].revoked_at}" if record.consent_id in revoked
                  else "valid today" if record.valid_on(today) else "not valid today")
        table.add_row(record.consent_id, ", ".join(record.scope.purposes), ", ".join(record.scope.media),
                      ", ".join(record.scope.licensees), ", ".join(record.scope.territories),
                      f"{record.starts}..{record.expires}", record.guardian_id or "", status)
    console.print(table)
    if latest is not None:
        console.print(f"photosensitivity screening: {latest.result} up to {latest.max_flashes_per_s} flashes/s "
                      f"({latest.screened_on})")
    for session in sessions:
        console.print(f"session {session.session_id} ({session.purpose}, consent {session.consent_id}): "
                      f"{session.path}")
    for item in lineage:
        where = f" -> {item.destination}" if item.destination else ""
        console.print(f"{item.kind} {item.package_id} of session {item.session_id}: {item.path}{where}")


@subjects_app.command("revoke")
def revoke(subject_id: Annotated[str, typer.Argument()],
           reason: Annotated[str, typer.Option("--reason", help="recorded in the audit log")] = "withdrawn",
           consent_id: Annotated[str | None, typer.Option("--consent", help="only this consent")] = None,
           registry: RegistryOption = None, rig: RigOption = None) -> None:
    """Revoke consent and mark every session and package made under it (CONSENT-REVOKED.json)."""
    try:
        report = revoke_subject(_registry_path(registry, rig), subject_id, reason, consent_id)
    except (RegistryError, RegistryMissing, ConfigError) as exc:
        raise fail(str(exc), BAD_INPUT) from exc
    for revocation in report.revocations:
        console.print(f"consent {revocation.consent_id} revoked ({revocation.revocation_id})")
    if not report.revocations:
        console.print(f"{subject_id} had no consent left to revoke")
    for folder in report.marked:
        console.print(f"marked {folder}")
    for path in report.missing:
        errors.print(f"[yellow]not found (moved or already removed): {path}")
    console.print(f"`capturerig purge {subject_id}` removes their captures and packages from studio storage")


@subjects_app.command("export")
def export(package_dir: Annotated[Path, typer.Argument(help="the package that was sent")],
           to: Annotated[str, typer.Option("--to", help="who or where it went (for purge's list)")],
           registry: RegistryOption = None, rig: RigOption = None) -> None:
    """Record that a package left the studio, so revocation can reach that copy too."""
    try:
        record = record_export(_registry_path(registry, rig), package_dir, to)
    except (RegistryError, RegistryMissing, ConfigError) as exc:
        raise fail(str(exc), BAD_INPUT) from exc
    console.print(f"export {record.package_id} of {package_dir} to {to} recorded")


@subjects_app.command("audit")
def audit(subject_id: Annotated[str | None, typer.Argument(help="show this subject's entries")] = None,
          registry: RegistryOption = None, rig: RigOption = None) -> None:
    """Check the audit chain and every record against it; exit 1 when anything was edited or deleted."""
    with _registry(registry, rig) as opened:
        report = opened.verify()
        entries = opened.audit(subject_id) if subject_id else []
    for entry in entries:
        console.print(f"{entry.seq:5d} {entry.at} {entry.actor}: {entry.action} {entry.detail}", highlight=False)
    if report.problems:
        for problem in report.problems:
            errors.print(f"[red]{problem.message}", highlight=False)
        raise typer.Exit(FAILED)
    console.print(f"audit chain intact: {report.entries} entries, head sha256 {report.head_hash} (keep this "
                  "outside the studio to detect a truncated log)")


def purge(subject_id: Annotated[str, typer.Argument()],
          yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
          registry: RegistryOption = None, rig: RigOption = None) -> None:
    """Remove a subject's raw captures and packages from studio storage; list exports that left the studio."""
    try:
        path = _registry_path(registry, rig)
        require_terminal(yes, f"deleting every capture of {subject_id} needs the operator's confirmation")
        if not yes and not typer.confirm(f"Delete every session and package of {subject_id} recorded in {path}?"):
            raise fail(f"nothing deleted: the purge of {subject_id} was not confirmed", FAILED)
        report = purge_subject(path, subject_id)
    except (RegistryError, RegistryMissing, ConfigError) as exc:
        raise fail(str(exc), BAD_INPUT) from exc
    for folder in report.removed:
        console.print(f"removed {folder}")
    for missing in report.missing:
        console.print(f"already gone: {missing}")
    for skipped in report.skipped:
        errors.print(f"[yellow]{skipped}")
    if report.exports:
        console.print(f"{len(report.exports)} export(s) left the studio; tell their holders to delete them:")
        for item in report.exports:
            console.print(f"  {item.package_id} (session {item.session_id}) -> {item.destination} on "
                          f"{item.recorded_at}")
    else:
        console.print("no exports recorded: nothing left the studio")
    console.print(f"purge of {subject_id} recorded in the audit log of {path}")


def enrol_demo(out: Path, subject_id: str) -> Path:
    """``capturerig demo``: register the demo subject and its demo consent in the demo's registry, visibly."""
    enrolment = enrol_demo_subject(out / REGISTRY_FILE, subject_id)
    console.print(f"demo subject {subject_id} (the simulated mannequin): "
                  f"{'recorded' if enrolment.new else 'reusing'} demo consent {enrolment.consent.consent_id} for "
                  f"purpose '{DEMO_PURPOSE}', valid until {enrolment.consent.expires}, in {enrolment.registry_path} "
                  f"(document {enrolment.document})")
    return enrolment.registry_path
