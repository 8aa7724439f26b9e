"""Fill the image folders of libgphoto2's virtual camera (``VCAMERADIR``) for a rig's gphoto2 cameras.

The virtual camera "captures" by handing out the JPEG images of its folder, so each ``driver: gphoto2``
camera with ``params: {vcameradir: ...}`` needs a folder of images. This writes test cards made here
(the camera's id, a gradient and a checkerboard, different per image), so anyone can drive the real
gphoto2 camera path without a camera.

A camera whose rig formats include ``raw`` also gets each card as the simulator's DNG (the card's values as
linear light through the sim sensor, :func:`capturerig_sim.raw_render.encode_raw_card`) under the JPEG's stem,
a RAW+JPEG pair as a body leaves it on its card. libgphoto2 lists those files as ``image/x-adobe-dng`` and
serves their bytes unchanged, but its virtual camera cannot *capture* one: in libgphoto2 2.5.34
(``libgphoto2_port/vusb/vcamera.c``, ``ptp_initiatecapture_write``) a capture refuses any object format but
JPEG (0x3801), copies the first ``.jpg`` of the folder to a new ``GPH_nnnn.JPG`` and announces that one object
only, so no DNG and no second file of a pair ever arrives as an event.

A rig that lists such cameras in ``simulation: {serve: [vc0, ...]}`` has them filled when its session starts,
as the studio starts its other wire simulators (:func:`serve_vcamera`, see :mod:`capturerig_sim.wire`); by
hand::

    python -m capturerig_sim.vcamera examples/vusb/rig.yaml            # fills ~/.cache/capturerig/vusb/...
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from capturerig.config import CameraConfig, load_rig
from capturerig_sim.raw_render import encode_raw_card
from capturerig_sim.studio import VirtualStudio

__all__ = ["FilledFolder", "camera_vcameradir", "fill_vcameradir", "main", "make_test_card",
           "populate_rig_vcameradirs", "serve_vcamera", "vcameradirs"]

IMAGE_SIZE = (640, 480)  # what the virtual camera says its image size is
DEFAULT_COUNT = 4


def make_test_card(label: str, index: int, size: tuple[int, int] = IMAGE_SIZE) -> np.ndarray:
    """A BGR test card of ``size`` (width, height): gradient, checkerboard band and ``label``."""
    width, height = size
    x = np.linspace(0.0, 1.0, width, dtype=np.float32)[None, :]
    y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    hue = (index * 0.23) % 1.0
    image = np.empty((height, width, 3), dtype=np.float32)
    image[..., 0] = 0.2 + 0.6 * x * (1 - hue)
    image[..., 1] = 0.2 + 0.6 * y
    image[..., 2] = 0.2 + 0.6 * hue * (1 - x)
    squares = ((np.arange(width)[None, :] // 40 + np.arange(height)[:, None] // 40) % 2).astype(np.float32)
    band = slice(height * 5 // 8, height * 23 // 24), slice(width // 32, width * 31 // 32)
    image[band] *= 0.5 + 0.5 * squares[band][..., None]
    card = (image * 255).astype(np.uint8)
    scale = width / 320
    cv2.putText(card, f"{label} #{index}", (width // 20, height // 4), cv2.FONT_HERSHEY_SIMPLEX, scale,
                (255, 255, 255), max(1, round(2 * scale)))
    return card


def fill_vcameradir(folder: Path, label: str, count: int = DEFAULT_COUNT, *, force: bool = False,
                    raw_for: CameraConfig | None = None) -> list[Path]:
    """Write ``count`` JPEG test cards into ``folder`` unless it already holds JPEGs (or ``force``).

    With ``raw_for`` (the camera the DNGs are rendered for: its serial sets their colour), every JPEG in the
    folder also gets its DNG under the same stem, unless that DNG is there already. Returns the folder's
    JPEGs, then its DNGs.
    """
    folder.mkdir(parents=True, exist_ok=True)
    jpegs = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg"))
    if force or not jpegs:
        jpegs = []
        for index in range(count):
            path = folder / f"card{index:02d}.jpg"
            ok, data = cv2.imencode(".jpg", make_test_card(label, index), [cv2.IMWRITE_JPEG_QUALITY, 90])
            if not ok:
                raise RuntimeError(f"OpenCV could not encode a JPEG for {path}")
            path.write_bytes(data.tobytes())
            jpegs.append(path)
    if raw_for is None:
        return jpegs
    dngs = []
    for jpeg in jpegs:
        dng = jpeg.with_suffix(".dng")
        if force or not dng.exists():
            card = cv2.imread(str(jpeg), cv2.IMREAD_COLOR)  # the pair shows the same card, as a body's would
            if card is None:
                raise ValueError(f"{jpeg}: not a JPEG OpenCV can read; remove it or run with --force")
            dng.write_bytes(encode_raw_card(np.asarray(card, dtype=np.uint8), raw_for))
        dngs.append(dng)
    return jpegs + dngs


def _raw_for(camera: CameraConfig) -> CameraConfig | None:
    return camera if "raw" in camera.formats else None


def camera_vcameradir(camera: CameraConfig, base_dir: Path) -> Path | None:
    """A gphoto2 camera's virtual-camera folder, resolved as the driver resolves it (relative to ``base_dir``,
    the rig file's folder; ``~`` expands); None for a camera without ``params.vcameradir``."""
    folder = camera.params.get("vcameradir") if camera.driver == "gphoto2" else None
    if folder is None:
        return None
    path = Path(str(folder)).expanduser()
    return path if path.is_absolute() else base_dir / path


def _vcameras(rig_path: Path) -> dict[str, tuple[CameraConfig, Path]]:
    loaded = load_rig(rig_path)
    result = {}
    for camera in loaded.config.cameras:
        folder = camera_vcameradir(camera, loaded.path.parent)
        if folder is not None:
            result[camera.id] = (camera, folder)
    return result


def vcameradirs(rig_path: Path) -> dict[str, Path]:
    """Each gphoto2 camera's virtual-camera folder, by camera id."""
    return {camera_id: folder for camera_id, (_, folder) in _vcameras(rig_path).items()}


def populate_rig_vcameradirs(rig_path: Path, count: int = DEFAULT_COUNT, *, force: bool = False) -> dict[str, Path]:
    """Fill every virtual-camera folder the rig names (with DNGs for cameras recording ``raw``); returns them
    by camera id."""
    cameras = _vcameras(rig_path)
    for camera_id, (camera, folder) in cameras.items():
        fill_vcameradir(folder, camera_id, count, force=force, raw_for=_raw_for(camera))
    return {camera_id: folder for camera_id, (_, folder) in cameras.items()}


@dataclass(frozen=True)
class FilledFolder:
    """What :func:`serve_vcamera` leaves running: nothing; the images stay for the next session."""

    folder: Path

    def close(self) -> None:
        """Nothing to stop (the wire-simulator registry closes what it started)."""


def serve_vcamera(studio: VirtualStudio, camera: CameraConfig) -> FilledFolder:
    """Wire-simulator starter (:mod:`capturerig_sim.wire`): fill ``camera``'s virtual-camera folder.

    A folder that already holds JPEGs keeps them (a camera recording ``raw`` gets the DNGs it lacks).

    Raises
    ------
    ValueError
        When the camera has no ``params.vcameradir`` (a real camera cannot be served).
    """
    folder = camera_vcameradir(camera, studio.base_dir)
    if folder is None:
        raise ValueError(f"rig '{studio.rig.name}' simulation.serve: camera '{camera.id}' has no params.vcameradir; "
                         "only libgphoto2's virtual camera can be served (a real camera needs no simulator)")
    fill_vcameradir(folder, camera.id, raw_for=_raw_for(camera))
    return FilledFolder(folder)


def main(argv: list[str] | None = None) -> None:
    """``python -m capturerig_sim.vcamera RIG [--count N] [--force]``."""
    parser = argparse.ArgumentParser(prog="python -m capturerig_sim.vcamera", description=__doc__.splitlines()[0])
    parser.add_argument("rig", type=Path, help="rig file whose gphoto2 cameras have params.vcameradir")
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT, help="images per folder")
    parser.add_argument("--force", action="store_true", help="rewrite folders that already hold images")
    args = parser.parse_args(argv)
    folders = populate_rig_vcameradirs(args.rig, args.count, force=args.force)
    if not folders:
        parser.exit(1, f"{args.rig}: no gphoto2 camera has params.vcameradir\n")
    for camera_id, folder in folders.items():
        print(f"{camera_id}: {folder}")


if __name__ == "__main__":
    main()
