"""``capturerig package`` and ``capturerig verify``: write a training bag from a session, and check one."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

import capturerig
from capturerig.cli._output import BAD_INPUT, FAILED, console, errors, fail
from capturerig.config import ConfigError
from capturerig.engine import IncompleteSession, package_session
from capturerig.masks import MaskError
from capturerig.packaging import ORIGINALS_CHOICES, PackageIntegrityError, PackageSummary, check_package
from capturerig.provenance import IdentityError, default_signing_dir, load_identity
from capturerig.subjects import consent_status_for_package, read_package_consent

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["package", "print_package", "verify"]


@contextmanager
def _byte_progress(description: str) -> Iterator[Progress]:
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(),
                        TransferSpeedColumn(), TimeRemainingColumn(), console=console, transient=True,
                        disable=not console.is_terminal)  # a log or a pipe gets the summary only
    with progress:
        yield progress


@contextmanager
def _placing(session_dir: Path, local: bool, scheduler: str | None) -> Iterator[tuple[Client | None, str]]:
    """The Dask client frames are placed on (None: this process's threads) and, for the progress bar, where.

    ``--scheduler`` wins, then ``--dask`` (a local cluster), then the ``processing.scheduler`` of the rig the
    session was shot with."""
    snapshot = session_dir / "rig.yaml"
    if not local and scheduler is None and snapshot.is_file():  # not a session: package_session says so
        scheduler = capturerig.load_rig(snapshot).config.processing.scheduler
    if not local and scheduler is None:
        yield None, "packaging"
        return
    from capturerig.processing import ProcessingError, open_cluster  # imports distributed: only when asked for

    with ExitStack() as stack:
        try:
            client = stack.enter_context(open_cluster(scheduler))
        except ProcessingError as exc:  # unreachable, other versions, no worker offering memory
            raise fail(escape(str(exc)), FAILED) from exc
        where = scheduler or f"a local cluster of {len(client.scheduler_info()['workers'])} workers"
        yield client, f"packaging on {where}"


def print_package(summary: PackageSummary) -> None:
    """Where the bag is and where each trainer should look."""
    console.print(f"package: {summary.out_dir} ({summary.num_images} images from {summary.num_cameras} cameras, "
                  f"{len(summary.snapshots)} snapshots, {summary.total_bytes / 1e6:.1f} MB; BagIt bag)")
    console.print(f"  training root: {summary.data_dir}")
    if summary.snapshots:
        first = summary.snapshots[0]
        console.print(f"  nerfstudio:    {first / 'transforms.json'}")
        console.print(f"  COLMAP:        {first / 'colmap' / 'sparse' / '0'}")
        console.print(f"  3DGS/gsplat:   {first / 'undistorted'}")
    geometry = "nominal rig values (not calibrated)"
    if summary.geometry_source == "calibration":
        named = f" {summary.geometry_id}" if summary.geometry_id else ""
        rms = f", RMS {summary.geometry_rms_px:.3f} px" if summary.geometry_rms_px is not None else ""
        geometry = f"calibrated ({'calibration' + named}{rms})"
    console.print(f"  geometry:      {geometry}; colour {'corrected' if summary.colour_applied else 'as captured'}")
    masks = _masks_line(summary.data_dir / "package.json")
    if masks:
        console.print(f"  masks:         {masks}")
    console.print(f"  manifest:      {summary.manifest_path}")
    signed = _signed_line(summary.data_dir / "package.json")
    if signed:
        console.print(f"  provenance:    {signed}", highlight=False)


def _signed_line(package_json: Path) -> str | None:
    """Whether the package is signed (C2PA), by whom, or why not."""
    try:
        provenance = json.loads(package_json.read_text(encoding="utf-8")).get("provenance") or {}
    except (OSError, ValueError):
        return None
    if not provenance:
        return None
    if not provenance.get("signed"):
        return f"unsigned ({provenance.get('why', '?')})"
    test = ", a TEST identity" if provenance.get("test_identity") else ""
    return f"every image signed (C2PA) by {escape(str(provenance.get('signer')))}{test}; package claim signed"


def _masks_line(package_json: Path) -> str | None:
    """What package.json says about the masks, in a line (None when it says nothing)."""
    try:
        masks = json.loads(package_json.read_text(encoding="utf-8")).get("masks") or {}
    except (OSError, ValueError):
        return None
    if not masks.get("made"):
        return f"none ({masks['why']})" if masks.get("why") else None
    hull = f"{masks['exposures_with_hull']} of {masks['exposures']} exposures mended by the visual hull" \
        if masks.get("exposures_with_hull") else "no visual hull (no geometry calibration)"
    return (f"from the clean plates (data/plates/); {hull}; masks/ + mask_path in transforms.json, colmap/masks/, "
            "undistorted/masks/" + (", RGBA images" if masks.get("rgba") else ""))


def package(
    session_dir: Annotated[Path, typer.Argument(help="a finished session folder")],
    out: Annotated[Path, typer.Option("--out", help="package (bag) folder to create")],
    geometry: Annotated[Path | None, typer.Option("--geometry", help="geometry.json from calibration "
                                                  "(default: the rig's nominal values)")] = None,
    colour: Annotated[Path | None, typer.Option("--colour", help="colour.json: correct every image per camera")
                      ] = None,
    originals: Annotated[str, typer.Option("--originals", help="with --colour: keep the captured files in the "
                                           "bag, reference them, or drop them (keep|reference|drop)")] = "keep",
    undistorted: Annotated[bool, typer.Option("--undistorted/--no-undistorted",
                                              help="write PINHOLE images and models for 3DGS")] = True,
    allow_incomplete: Annotated[bool, typer.Option("--allow-incomplete",
                                                   help="package a session with unfinished takes")] = False,
    dask: Annotated[bool, typer.Option("--dask", help="place the frames on a local Dask cluster (one worker "
                                                      "per core), one task per frame")] = False,
    scheduler: Annotated[str | None, typer.Option("--scheduler", envvar="CAPTURERIG_DASK_SCHEDULER",
                                                  help="place the frames on a running Dask scheduler, e.g. "
                                                       "tcp://10.0.0.5:8786 (default: the rig's "
                                                       "processing.scheduler, if any)")] = None,
    masks: Annotated[str, typer.Option("--masks", help="a mask per training image from the session's clean "
                                                       "plates: auto (when it shot plates), on (an error without "
                                                       "them) or off")] = "auto",
    rgba: Annotated[bool, typer.Option("--rgba", help="also write each masked image as an RGBA PNG for 3DGS "
                                                      "(the mask as alpha)")] = False,
    sign: Annotated[str, typer.Option("--sign", help="sign every image and the bag (C2PA) with the studio's "
                                                     "identity: auto (when one is found), on (an error without "
                                                     "one) or off")] = "auto",
    signing_dir: Annotated[Path | None, typer.Option("--signing-dir", help="the signing identity's folder "
                                                     "(default: $CAPTURERIG_SIGNING_DIR, else <user config dir>/"
                                                     "capturerig/signing)")] = None,
) -> None:
    """Write a training package: a BagIt bag with COLMAP, nerfstudio and 3DGS folders per snapshot."""
    if originals not in ORIGINALS_CHOICES:
        raise fail(f"--originals must be one of {', '.join(ORIGINALS_CHOICES)}, got '{originals}'", BAD_INPUT)
    if dask and scheduler:
        raise fail(f"--dask starts a local cluster and --scheduler {escape(scheduler)} names another: give one",
                   BAD_INPUT)
    with _byte_progress("packaging") as progress:
        try:
            with _placing(session_dir, dask, scheduler) as (client, description):
                task = progress.add_task(description, total=None)
                summary = package_session(
                    session_dir, out, allow_incomplete, geometry=geometry, colour=colour, originals=originals,
                    undistort=undistorted, client=client, masks=masks, rgba=rgba, sign=sign,
                    signing_dir=signing_dir,
                    progress=lambda done, total: progress.update(task, completed=done, total=total))
        except (ConfigError, IncompleteSession, FileExistsError, FileNotFoundError, PackageIntegrityError,
                capturerig.ConsentRefused, MaskError, ValueError) as exc:
            raise fail(str(exc), BAD_INPUT) from exc
    print_package(summary)


def verify(
    package_dir: Annotated[Path, typer.Argument(help="a package (bag) folder")],
    strict: Annotated[bool, typer.Option("--strict", help="an image that failed a check at capture fails the "
                                                          "package too (exit 1)")] = False,
    trust: Annotated[Path | None, typer.Option("--trust", help="PEM root certificates a signed package's images "
                                               "must chain to (default: the studio's trust.pem)")] = None,
    signing_dir: Annotated[Path | None, typer.Option("--signing-dir", help="the signing identity's folder whose "
                                                     "trust.pem is the default trust list")] = None,
) -> None:
    """Check a package: every file against both manifests, calibration, every planned take, consent. Images that
    failed a per-image check at capture are warnings (exit 0: the operator kept them), failures with --strict."""
    started = time.monotonic()
    with _byte_progress("verifying") as progress:
        total = sum(path.stat().st_size for path in Path(package_dir).rglob("*") if path.is_file())
        task = progress.add_task("verifying", total=total)
        report = check_package(package_dir, progress=lambda count: progress.advance(task, count),
                               trust=_trust(trust, signing_dir))
    problems = list(report.problems)
    consent = "no consent record (packaged without a subject registry)"
    if read_package_consent(package_dir) is not None:
        status = consent_status_for_package(package_dir)
        problems += status.problems
        consent = f"consent {status.consent_id} {'holds' if status.ok else 'does not hold'}"
        if report.signed and not status.ok:
            problems.append(f"the consent behind the {report.signed_images} signed images ({status.consent_id}) no "
                            "longer holds: their signatures stay valid and still name it, but it does not allow "
                            "their use any more")
    if strict:
        problems += [*report.warnings, *report.provenance_warnings]
    for problem in problems:
        errors.print(f"[red]FAIL[/red] {escape(problem)}", highlight=False)
    if not strict:
        for warning in [*report.warnings, *report.provenance_warnings]:
            errors.print(f"[yellow]WARN[/yellow] {escape(warning)}", highlight=False)
    summary = (f"{report.files} files, {report.snapshots} snapshots, {report.takes_complete}/{report.takes_planned} "
               f"planned takes complete, geometry {report.geometry_source}, {consent}; {report.provenance}"
               + (f", {len(report.warnings)} images failed a check at capture (data/qc.json)"
                  if report.warnings else ""))
    if problems:
        errors.print(f"{package_dir}: {len(problems)} problem(s); {summary}", highlight=False)
        raise typer.Exit(FAILED)
    console.print(f"{package_dir}: every file matches both manifests; {summary} "
                  f"({time.monotonic() - started:.1f} s)")


def _trust(pem: Path | None, signing_dir: Path | None) -> tuple[bytes | None, str]:
    """The trust list a signed package is checked against: ``--trust``, else the studio identity's trust.pem."""
    if pem is not None:
        try:
            return pem.read_bytes(), str(pem)
        except OSError as exc:
            raise fail(f"--trust {escape(str(pem))}: cannot read it ({exc.strerror or exc})", BAD_INPUT) from exc
    try:
        identity = load_identity(signing_dir)
    except IdentityError:
        return None, f"no signing identity in {default_signing_dir(signing_dir)}"
    return identity.trust_pem(), f"the studio's trust list ({identity.directory / 'trust.pem'})"
