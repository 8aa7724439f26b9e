"""A ColorChecker 24 in the virtual studio, rendered from known linear values so colour accuracy is measurable.

The chart's albedo is the reference (X-Rite post-2014 L*a*b* D50) converted to the sim's scene-linear RGB,
which for colour work is taken to be linear ITU-R BT.2020 with D65 white, reached from D50 with the Bradford
adaptation (:func:`capturerig.calibration.colour.lab_to_linear`). A wide space, because a real sensor's
native gamut is wider than sRGB: the chart's cyan lies outside sRGB (negative red) and as an albedo it must
be positive. Each camera then applies its own mix, white balance and per-channel tone curve
(:mod:`capturerig_sim._response`), which colour calibration has to undo.

Lighting: a technician photographs a chart evenly lit, because a gradient across it reads as a colour error
that no per-camera correction can fit. The studio's fixtures are point lights close to the stage: with all
eight at full white, the irradiance on a chart held 0.6 m in front of a ring camera differs by up to 3.5x
between its corners, and half the cameras' charts face away from every fixture. The chart scene here is
therefore lit by the studio's ambient light only (every fixture dark): the renderer's ambient term is uniform
and white (equal-energy in the scene space, so D65), like a large diffuse source or an overcast skylight, and
the shutter is opened to 1/3 s so that the white patch sits at ~80 % of full scale (code ~205 of 255). The
chart stands 0.6 m in front of each camera, facing it, so every camera sees the same light on the same chart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from capturerig.calibration.colour import CHART_SIZE_UNITS, ChartReference, lab_to_linear, load_reference
from capturerig.calibration.colour import patch_centres_units as _patch_centres_units
from capturerig.config import CameraConfig, RigConfig
from capturerig_sim._props import PlanarProp
from capturerig_sim._response import ExposureSettings
from capturerig_sim._scene import CameraTruth, camera_truth
from capturerig_sim.raw_render import render_raw
from capturerig_sim.render import AMBIENT, encode_jpeg, render_image

__all__ = [
    "CHART_FRAME_ALBEDO",
    "CHART_HEIGHT_M",
    "CHART_SETTINGS",
    "CHART_STAGE_ROOM_LIGHT",
    "CHART_WIDTH_M",
    "SCENE_SPACE",
    "capture_chart_images",
    "chart_albedo",
    "chart_facing_camera",
    "chart_stands",
    "chart_texture",
    "project_chart_points",
    "render_chart",
    "render_chart_raw",
]

SCENE_SPACE = "linear-rec2020"
CHART_WIDTH_M = 0.2794  # 11 in, the ColorChecker Classic's long side
CHART_HEIGHT_M = CHART_WIDTH_M * CHART_SIZE_UNITS[1] / CHART_SIZE_UNITS[0]
CHART_FRAME_ALBEDO = 0.03  # the chart's matte black surround
# Lit by ambient light only (see the module docstring): 1/3 s at ISO 100, f/8 puts the white patch at ~80 %.
CHART_SETTINGS: Mapping[str, str] = {"iso": "100", "shutter": "1/3", "aperture": "8", "whitebalance": "daylight"}
_PATCH_UNITS = 2.5
# The chart stage (:func:`chart_stands`) is shot through the engine at the rig's own settings (EV 0, 1/125 s),
# not at 1/3 s: the house lights are raised so that the ambient-only chart scene is exposed the same way.
CHART_STAGE_ROOM_LIGHT = AMBIENT * ExposureSettings.from_settings(CHART_SETTINGS).gain - AMBIENT


def chart_albedo(reference: ChartReference | None = None) -> npt.NDArray[np.float64]:
    """The 24 patches' albedo in the sim's scene-linear RGB (:data:`SCENE_SPACE`), (24, 3)."""
    chart = reference or load_reference()
    return lab_to_linear(chart.lab_d50, SCENE_SPACE)


def chart_texture(texels_per_unit: int = 8, reference: ChartReference | None = None) -> npt.NDArray[np.float32]:
    """The chart as a scene-linear albedo texture (height, width, 3), row 0 at the chart's top edge.

    ``texels_per_unit`` texels per MCC24 chart unit (16.75 x 11.25 units in all).
    """
    width = round(CHART_SIZE_UNITS[0] * texels_per_unit)
    height = round(CHART_SIZE_UNITS[1] * texels_per_unit)
    texture = np.full((height, width, 3), CHART_FRAME_ALBEDO, dtype=np.float32)
    half = _PATCH_UNITS / 2.0 * texels_per_unit
    for albedo, (cx, cy) in zip(chart_albedo(reference), _patch_centres_units() * texels_per_unit, strict=True):
        texture[round(cy - half):round(cy + half), round(cx - half):round(cx + half)] = albedo
    return texture


def _rotation_about(axis: npt.ArrayLike, degrees: float) -> npt.NDArray[np.float64]:
    vector = np.asarray(axis, dtype=np.float64) * np.radians(degrees)
    matrix, _ = cv2.Rodrigues(vector)
    return np.asarray(matrix, dtype=np.float64)


def chart_facing_camera(truth: CameraTruth, distance_m: float = 0.6, yaw_deg: float = 8.0, roll_deg: float = 0.0,
                        texture: npt.NDArray[np.float32] | None = None) -> PlanarProp:
    """A chart centred on the camera's optical axis ``distance_m`` away, its face towards the camera.

    ``yaw_deg`` turns it about its vertical axis (a hand-held chart is never exactly square on), and
    ``roll_deg`` about the optical axis (180: upside down).
    """
    camera_to_world = truth.rotation.T
    # Prop axes = camera axes turned by yaw (about prop y) and roll (about prop z): x right, y down, z away.
    turn = _rotation_about((0.0, 0.0, 1.0), roll_deg) @ _rotation_about((0.0, 1.0, 0.0), yaw_deg)
    rotation = camera_to_world @ turn
    centre = truth.centre + distance_m * camera_to_world[:, 2]
    translation = centre - rotation @ np.array([CHART_WIDTH_M / 2.0, CHART_HEIGHT_M / 2.0, 0.0])
    return PlanarProp("colorchecker24", chart_texture() if texture is None else texture, CHART_WIDTH_M,
                      CHART_HEIGHT_M, rotation, translation)


def chart_stands(rig: RigConfig) -> list[PlanarProp]:
    """A chart on a stand 0.6 m in front of every camera of ``rig``, each facing its camera.

    The colour stage of the virtual studio (``simulation.stage: colour-chart``): one trigger gives every
    camera its chart shot. A neighbour's stand may show at the edge of an image, seen from behind (grey).
    """
    return [chart_facing_camera(camera_truth(camera, rig)) for camera in rig.cameras]


def project_chart_points(truth: CameraTruth, prop: PlanarProp, points_units: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Where chart points (N, 2), in MCC24 chart units, land in the true camera's image (pixels, lens included).

    The ground truth for detection tests, and what an operator's corner file says when detection fails.
    """
    units = np.asarray(points_units, dtype=np.float64).reshape(-1, 2)
    scale = CHART_WIDTH_M / CHART_SIZE_UNITS[0]
    prop_points = np.column_stack([units * scale, np.zeros(len(units))])
    world = prop.world_points(prop_points)
    rvec, _ = cv2.Rodrigues(truth.rotation)
    pixels, _ = cv2.projectPoints(world, rvec, truth.translation, truth.intrinsics.matrix(),
                                  truth.intrinsics.distortion())
    return np.asarray(pixels.reshape(-1, 2), dtype=np.float64)


def _blackout(rig: RigConfig) -> dict[tuple[str, int], bytes]:
    return {(output.id, universe): bytes(512) for output in rig.light_outputs for universe in output.universes}


def render_chart(camera: CameraConfig, rig: RigConfig, base_dir: Path | None = None, *,
                 settings: Mapping[str, str] | None = None, noise_seed: int | None = 0,
                 distance_m: float = 0.6, yaw_deg: float = 8.0, roll_deg: float = 0.0,
                 chart: bool = True) -> npt.NDArray[np.uint8]:
    """What ``camera`` records of the evenly lit chart scene: 8-bit BGR.

    Parameters
    ----------
    settings
        Exposure settings; default :data:`CHART_SETTINGS` (change ``shutter`` to over- or under-expose).
    noise_seed
        Sensor noise seed (None: noiseless).
    distance_m, yaw_deg, roll_deg
        Where the chart stands (see :func:`chart_facing_camera`).
    chart
        False renders the empty stage (a capture where the chart is missing).
    """
    props = [chart_facing_camera(camera_truth(camera, rig), distance_m, yaw_deg, roll_deg)] if chart else []
    return render_image(camera, rig, _blackout(rig), 0.0, {**CHART_SETTINGS, **(settings or {})}, base_dir,
                        noise_seed=noise_seed, props=props, subject_present=False)


def render_chart_raw(camera: CameraConfig, rig: RigConfig, base_dir: Path | None = None, *,
                     settings: Mapping[str, str] | None = None, noise_seed: int | None = 0,
                     distance_m: float = 0.6, yaw_deg: float = 8.0, roll_deg: float = 0.0) -> bytes:
    """The DNG ``camera`` records of the chart scene (parameters as :func:`render_chart`)."""
    props = [chart_facing_camera(camera_truth(camera, rig), distance_m, yaw_deg, roll_deg)]
    return render_raw(camera, rig, _blackout(rig), 0.0, {**CHART_SETTINGS, **(settings or {})}, base_dir,
                      noise_seed=noise_seed, props=props, subject_present=False)


def capture_chart_images(rig: RigConfig, out_dir: Path, base_dir: Path | None = None, *, name: str = "chart",
                         camera_ids: Iterable[str] | None = None, jpeg: bool = False, raw: bool = False,
                         settings: Mapping[str, str] | None = None, seed: int = 0) -> dict[str, Path]:
    """Shoot the chart with every camera and write ``out_dir/<camera_id>/<name>.png`` (``.dng`` with ``raw``).

    Parameters
    ----------
    jpeg
        Pass each image through the sim camera's JPEG encoder (quality 92, 4:2:0) first, then store the decoded
        pixels. Off by default: a technician shoots the chart losslessly (RAW or TIFF), because JPEG's
        quantised chroma shifts a flat patch's mean by up to ~1 code, worth 1-2 dE00 on the dark greys.
    raw
        Write each camera's RAW file instead (a DNG of the same light, :mod:`capturerig_sim.raw_render`).
    settings
        Exposure settings over :data:`CHART_SETTINGS`.
    seed
        Base of the per-camera noise seeds.

    Returns
    -------
    dict
        Written image path by camera id.
    """
    wanted = None if camera_ids is None else set(camera_ids)
    written = {}
    for number, camera in enumerate(rig.cameras):
        if wanted is not None and camera.id not in wanted:
            continue
        folder = out_dir / camera.id
        folder.mkdir(parents=True, exist_ok=True)
        if raw:
            path = folder / f"{name}.dng"
            path.write_bytes(render_chart_raw(camera, rig, base_dir, settings=settings,
                                              noise_seed=seed * 1000 + number))
            written[camera.id] = path
            continue
        image = render_chart(camera, rig, base_dir, settings=settings, noise_seed=seed * 1000 + number)
        if jpeg:
            image = np.asarray(cv2.imdecode(np.frombuffer(encode_jpeg(image), dtype=np.uint8), cv2.IMREAD_COLOR),
                               dtype=np.uint8)
        path = folder / f"{name}.png"
        if not cv2.imwrite(str(path), image):
            raise OSError(f"{camera.id}: could not write {path}")
        written[camera.id] = path
    return written
