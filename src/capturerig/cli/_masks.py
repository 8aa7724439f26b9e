"""`capturerig masks`: foreground masks from clean plates, mended by a visual hull when geometry is given."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from capturerig.cli._output import BAD_INPUT, console, fail

__all__ = ["masks"]


def masks(
    plates: Annotated[Path, typer.Option("--plates", help="clean plates: PLATES/<camera>/<file>, one per lighting "
                                         "state (named <light>.jpg, <station>_<light>.jpg or like a take)")],
    images: Annotated[Path, typer.Option("--images", help="images to mask: IMAGES/<camera>/<file>, named like "
                                         "takes (<pose>_<station>_<light>...) or with a <file>.json sidecar")],
    out: Annotated[Path, typer.Option("--out", help="folder for OUT/<camera>/<image stem>.png (0/255)")],
    rig: Annotated[Path | None, typer.Option("--rig", help="rig file the geometry belongs to")] = None,
    geometry: Annotated[Path | None, typer.Option("--geometry", help="geometry.json (calibration in the rig "
                                                  "frame): carve a visual hull to mend the masks")] = None,
    segmenter: Annotated[str | None, typer.Option("--segmenter", help="a segmentation model registered under "
                                                  "capturerig.segmenters (default: difference against the plate)")]
    = None,
    weights: Annotated[Path | None, typer.Option("--weights", help="the model's weights on this disk")] = None,
) -> None:
    """Write a foreground mask for every image (255 subject, 0 background) from the clean plates."""
    import capturerig
    from capturerig.config import ConfigError
    from capturerig.masks import MaskError, hull_geometry, load_segmenter, make_masks
    from capturerig.packaging import geometry_from_document

    hull = None
    if geometry is not None:
        if rig is None:
            raise fail("--geometry needs --rig: the rig file says which cameras the geometry must hold", BAD_INPUT)
        try:
            loaded = capturerig.load_rig(rig)
            document = json.loads(geometry.read_text(encoding="utf-8"))
            hull = hull_geometry(geometry_from_document(document, loaded.config, str(geometry)))
        except ConfigError as exc:
            raise fail(escape(str(exc)), BAD_INPUT) from exc
        except OSError as exc:
            raise fail(f"--geometry {escape(str(geometry))}: cannot read it ({escape(str(exc))})", BAD_INPUT) from exc
        except json.JSONDecodeError as exc:
            raise fail(f"--geometry {escape(str(geometry))}: not JSON ({escape(exc.msg)}, line {exc.lineno})",
                       BAD_INPUT) from exc
        except ValueError as exc:
            raise fail(escape(str(exc)), BAD_INPUT) from exc
    try:
        chosen = load_segmenter(segmenter, weights)
        report = make_masks(plates, images, out, hull, chosen,
                            progress=lambda done, total: console.print(f"  {done}/{total} images", highlight=False))
    except MaskError as exc:
        raise fail(escape(str(exc)), BAD_INPUT) from exc
    for note in report.without_hull:
        console.print(f"[yellow]{escape(note)}", highlight=False)
    console.print(f"wrote {len(report.written)} masks to {escape(str(out))} ({report.hull_exposures} exposures "
                  f"mended by the visual hull, {chosen.name} segmenter, {report.seconds:.1f} s)", highlight=False)
