"""The plug-in point for a segmentation model, and the classical difference matte as the default.

No background remover that ships its weights in a pip package works offline today (they download on first
use), so a model comes as a plug-in: a package registers a factory under the ``capturerig.segmenters`` entry
point group, the factory takes the path of weights the studio has on disk and returns a :class:`Segmenter`,
and ``capturerig masks --segmenter NAME --weights PATH`` uses it. Without one, :class:`DifferenceSegmenter`.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Protocol, runtime_checkable

from capturerig.masks._linear import LinearImage, MaskError
from capturerig.masks._matte import Matte, MatteSettings, difference_matte

__all__ = ["SEGMENTER_GROUP", "DifferenceSegmenter", "Segmenter", "load_segmenter"]

SEGMENTER_GROUP = "capturerig.segmenters"


@runtime_checkable
class Segmenter(Protocol):
    """Finds the subject in an image, given the clean plate of the same camera and lighting state.

    ``segment`` returns a :class:`Matte`: the foreground (bool, the image's height x width) and the pixels it
    is unsure of (a visual hull decides those when geometry is given). It raises :class:`MaskError` naming the
    file when it cannot segment it; it has no timeout of its own (it runs on the caller's thread).
    """

    name: str

    def segment(self, image: LinearImage, plate: LinearImage) -> Matte: ...


class DifferenceSegmenter:
    """The classical segmenter: difference against the clean plate (:func:`difference_matte`)."""

    name = "difference"

    def __init__(self, settings: MatteSettings | None = None) -> None:
        self.settings = settings or MatteSettings()

    def segment(self, image: LinearImage, plate: LinearImage) -> Matte:
        try:
            return difference_matte(image, plate, self.settings)
        except ValueError as exc:
            raise MaskError(f"{image.path}: {exc} ({plate.path})") from exc


def load_segmenter(name: str | None = None, weights: Path | None = None) -> Segmenter:
    """The segmenter called ``name`` (a ``capturerig.segmenters`` entry point) with its ``weights``.

    None (or ``difference``) is the classical one, which takes no weights.

    Raises
    ------
    MaskError
        An unknown name (listing the installed ones), weights given to the classical one or missing for a
        model, a weights path that does not exist, or a factory that does not return a Segmenter.
    """
    if name in (None, DifferenceSegmenter.name):
        if weights is not None:
            raise MaskError(f"--weights {weights}: the difference segmenter takes no weights (name a model with "
                            "--segmenter)")
        return DifferenceSegmenter()
    found = {entry.name: entry for entry in entry_points(group=SEGMENTER_GROUP)}
    if name not in found:
        known = ", ".join(sorted({DifferenceSegmenter.name, *found}))
        raise MaskError(f"segmenter '{name}' is not installed (installed: {known}; a model registers under the "
                        f"'{SEGMENTER_GROUP}' entry point group)")
    if weights is None:
        raise MaskError(f"segmenter '{name}' needs --weights: the path of its model weights on this disk")
    if not weights.exists():
        raise MaskError(f"--weights {weights}: no such file")
    factory: Callable[[Path], object] = found[name].load()
    segmenter = factory(weights)
    if not isinstance(segmenter, Segmenter):
        raise MaskError(f"segmenter '{name}': its factory returned {type(segmenter).__name__}, not a Segmenter")
    return segmenter
