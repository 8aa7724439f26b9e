"""``capturerig provenance ...``: the studio's C2PA signing identity, and checking signed images.

The identity's folder is ``--dir``, else ``$CAPTURERIG_SIGNING_DIR``, else ``<user config dir>/capturerig/signing``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from capturerig.cli._output import BAD_INPUT, FAILED, console, fail
from capturerig.provenance import (
    SIGNING_DIR_ENV,
    IdentityError,
    SigningIdentity,
    create_test_identity,
    import_identity,
    load_identity,
    verify_image,
)

__all__ = ["provenance_app"]

provenance_app = typer.Typer(no_args_is_help=True,
                             help="Signed provenance (C2PA): the studio's signing identity; verify signed images.")

DirOption = Annotated[Path | None, typer.Option(
    "--dir", help=f"the signing identity's folder (default: ${SIGNING_DIR_ENV}, else <user config dir>/capturerig/"
                  "signing)")]


def _print_identity(identity: SigningIdentity) -> None:
    # Plain lines, not a table: a fingerprint or a path cut to the terminal's width could not be copied.
    for name, value in identity.describe().items():
        console.print(f"{name + ':':<20}{escape(value)}", highlight=False)


@provenance_app.command("init")
def init(directory: DirOption = None,
         import_cert: Annotated[Path | None, typer.Option(
             "--import-cert", help="the studio's certificate chain (PEM: signing certificate first, root last)")]
         = None,
         import_key: Annotated[Path | None, typer.Option(
             "--import-key", help="the signing certificate's private key (PEM; copied into the folder, mode 0600)")]
         = None,
         password_file: Annotated[Path | None, typer.Option(
             "--password-file", help="a file holding the key's password (referenced, never copied)")] = None,
         studio: Annotated[str, typer.Option(help="the studio's name in a TEST identity's certificates")] =
         "capturerig studio",
         force: Annotated[bool, typer.Option("--force", help="replace an identity already in the folder")] = False,
         ) -> None:
    """Create the studio's signing identity: a TEST chain made here, or the real one imported from files."""
    if (import_cert is None) != (import_key is None):
        raise fail("give --import-cert and --import-key together (or neither, for a TEST identity)", BAD_INPUT)
    if password_file is not None and import_key is None:
        raise fail("--password-file opens an imported key: give --import-cert and --import-key too", BAD_INPUT)
    try:
        if import_cert is not None and import_key is not None:
            identity = import_identity(import_cert, import_key, directory, password_file=password_file, force=force)
        else:
            identity = create_test_identity(directory, studio=studio, force=force)
    except IdentityError as exc:
        raise fail(escape(str(exc)), BAD_INPUT) from exc
    console.print(f"signing identity written to {identity.directory}", highlight=False)
    _print_identity(identity)


@provenance_app.command("show")
def show(directory: DirOption = None) -> None:
    """Print the signing identity: subject, issuer, validity, fingerprint, TEST or imported (never the key)."""
    try:
        identity = load_identity(directory)
    except IdentityError as exc:
        raise fail(escape(str(exc)), BAD_INPUT) from exc
    _print_identity(identity)
    try:
        identity.check_valid()
    except IdentityError as exc:
        raise fail(escape(str(exc)), FAILED) from exc


@provenance_app.command("verify")
def verify(images: Annotated[list[Path], typer.Argument(help="signed images (JPEG, PNG, TIFF; others by sidecar)")],
           directory: DirOption = None) -> None:
    """Check each image's C2PA manifest against the studio's trust list; exit 1 naming every image not ok."""
    try:
        trust = load_identity(directory).trust_pem()
    except IdentityError as exc:
        raise fail(escape(str(exc)), BAD_INPUT) from exc
    bad = 0
    for image in images:
        try:
            verdict = verify_image(image, trust)
        except OSError as exc:
            console.print(f"{escape(str(image))}: cannot be read ({escape(exc.strerror or str(exc))})", highlight=False)
            bad += 1
            continue
        console.print(escape(verdict.describe()), highlight=False)
        if verdict.ok:
            uses = ", ".join(f"{k.removeprefix('cawg.')} {v}" for k, v in sorted(verdict.training_mining.items()))
            console.print(f"  consent {verdict.consent.get('consent_id') or '(none: object)'}; {uses}",
                          highlight=False)
        bad += not verdict.ok
    if bad:
        raise fail(f"{bad} of {len(images)} image(s) did not verify", FAILED)
