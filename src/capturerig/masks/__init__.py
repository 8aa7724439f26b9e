"""Foreground masks from clean plates: the difference against the empty rig, mended by a visual hull.

:func:`make_masks` pairs every image with its plate (per camera, lighting state and station: see
:mod:`capturerig.masks._folders`), finds the subject with a :class:`Segmenter` (the classical
:class:`DifferenceSegmenter` unless a model is plugged in, :func:`load_segmenter`), carves a visual hull from
every camera's silhouette where geometry is given (:func:`hull_geometry`) and writes one 8-bit 0/255 PNG per
image.
"""

from capturerig.masks._folders import Shot, pair_plates, scan_folder
from capturerig.masks._hull import Hull, HullCamera, carve_hull, mend_with_hull, project_hull
from capturerig.masks._linear import (
    IMAGE_SUFFIXES,
    LinearImage,
    MaskError,
    noise_sigma,
    read_linear,
    srgb_to_linear,
)
from capturerig.masks._make import (
    ExposureJob,
    ExposureMasks,
    MaskReport,
    hull_geometry,
    make_masks,
    mask_exposure,
    write_mask,
)
from capturerig.masks._matte import Matte, MatteSettings, clean_mask, difference_matte
from capturerig.masks._segmenter import SEGMENTER_GROUP, DifferenceSegmenter, Segmenter, load_segmenter

__all__ = ["IMAGE_SUFFIXES", "SEGMENTER_GROUP", "DifferenceSegmenter", "ExposureJob", "ExposureMasks", "Hull",
           "HullCamera", "LinearImage", "MaskError", "MaskReport", "Matte", "MatteSettings", "Segmenter", "Shot",
           "carve_hull", "clean_mask", "difference_matte", "hull_geometry", "load_segmenter", "make_masks",
           "mask_exposure", "mend_with_hull", "noise_sigma", "pair_plates", "project_hull", "read_linear",
           "scan_folder", "srgb_to_linear", "write_mask"]
