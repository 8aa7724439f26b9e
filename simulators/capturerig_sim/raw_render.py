"""A sim camera's RAW exposure: the virtual studio's linear light through its sensor (:mod:`raw_sensor`) as a DNG.

The same scene, lights, props and exposure settings as its JPEG (:func:`capturerig_sim.render.render_image`),
before any camera processing: no white balance, no tone curve, no 8-bit rounding. ``raw_truth`` is what a
perfect linear development of the file gives back (noise-free, in 0..1 of the sensor's range), for tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from capturerig.config import CameraConfig, RigConfig
from capturerig.lighting import UniverseKey
from capturerig_sim._props import PlanarProp
from capturerig_sim._response import DEFAULT_SETTINGS, ExposureSettings, camera_response
from capturerig_sim._scene import CameraTruth, camera_truth
from capturerig_sim.dng import DngMeta, encode_dng
from capturerig_sim.raw_sensor import SensorModel, sensor_counts, vignetting_correction, vignetting_map
from capturerig_sim.render import EXPOSURE_CALIBRATION, fixture_lights, render_linear, stage_look

__all__ = ["SIM_SENSOR", "encode_raw_card", "raw_meta", "raw_truth", "render_raw"]

SIM_SENSOR = SensorModel()
SIM_MAKE = "capturerig"
SIM_RAW_MODEL = "capturerig-sim"


def raw_meta(camera: CameraConfig, exposure: ExposureSettings, sensor: SensorModel = SIM_SENSOR) -> DngMeta:
    """The DNG's camera and exposure tags for ``camera`` (its colour from its serial, as its JPEG's)."""
    response = camera_response(camera.serial)
    return DngMeta(make=SIM_MAKE, model=SIM_RAW_MODEL, colour_matrix=sensor.colour_matrix(response),
                   as_shot_neutral=sensor.as_shot_neutral(response), shutter_s=exposure.shutter_s,
                   aperture=exposure.aperture, iso=exposure.iso, serial=camera.serial,
                   vignette_k=vignetting_correction(sensor) if sensor.vignetting else None)


def _scene(camera: CameraConfig, rig: RigConfig, frames: Mapping[UniverseKey, bytes], turntable_deg: float,
           base_dir: Path | None, props: Sequence[PlanarProp], subject_present: bool, truth: CameraTruth | None,
           room_light: float) -> npt.NDArray[np.float32]:
    truth = camera_truth(camera, rig) if truth is None else truth
    return render_linear(truth, fixture_lights(rig, frames, base_dir), turntable_deg, props, subject_present,
                         room_light, look=stage_look(rig))


def _exposure(camera: CameraConfig, settings: Mapping[str, str] | None) -> ExposureSettings:
    return ExposureSettings.from_settings({**DEFAULT_SETTINGS, **camera.settings, **(settings or {})})


def render_raw(camera: CameraConfig, rig: RigConfig, frames: Mapping[UniverseKey, bytes],
               turntable_deg: float = 0.0, settings: Mapping[str, str] | None = None,
               base_dir: Path | None = None, noise_seed: int | None = None, props: Sequence[PlanarProp] = (),
               subject_present: bool = True, truth: CameraTruth | None = None, room_light: float = 0.0,
               sensor: SensorModel = SIM_SENSOR) -> bytes:
    """The DNG ``camera`` records for this exposure (parameters as :func:`capturerig_sim.render.render_image`).

    Raises
    ------
    ValueError
        When a setting cannot be used (naming it).
    """
    exposure = _exposure(camera, settings)
    scene = _scene(camera, rig, frames, turntable_deg, base_dir, props, subject_present, truth, room_light)
    counts = sensor_counts(scene, camera_response(camera.serial), EXPOSURE_CALIBRATION * exposure.gain, sensor,
                           noise_seed=noise_seed, iso=exposure.iso)
    return encode_dng(counts, sensor, raw_meta(camera, exposure, sensor))


def raw_truth(camera: CameraConfig, rig: RigConfig, frames: Mapping[UniverseKey, bytes],
              turntable_deg: float = 0.0, settings: Mapping[str, str] | None = None,
              base_dir: Path | None = None, props: Sequence[PlanarProp] = (), subject_present: bool = True,
              room_light: float = 0.0, sensor: SensorModel = SIM_SENSOR) -> npt.NDArray[np.float32]:
    """Camera-native linear RGB (height, width, 3) in 0..1 of the sensor's range a perfect development of
    :func:`render_raw`'s file gives (no noise, no mosaic, its vignetting corrected; clipping included)."""
    exposure = _exposure(camera, settings)
    scene = _scene(camera, rig, frames, turntable_deg, base_dir, props, subject_present, None, room_light)
    native = scene @ sensor.camera_from_scene(camera_response(camera.serial)).T.astype(np.float32)
    native *= np.float32(EXPOSURE_CALIBRATION * exposure.gain)
    falloff = vignetting_map(scene.shape[0], scene.shape[1], sensor)[..., None]
    return np.asarray(np.clip(native * falloff, 0.0, 1.0) / falloff, dtype=np.float32)  # clipped on the sensor


def encode_raw_card(card_bgr: npt.NDArray[np.uint8], camera: CameraConfig,
                    sensor: SensorModel = SIM_SENSOR) -> bytes:
    """A fixed test card as a DNG (``simulation.images: repeat``): its 8-bit values taken as linear light."""
    linear = card_bgr[..., ::-1].astype(np.float32) / np.float32(255.0)
    counts = sensor_counts(linear, camera_response(camera.serial), 1.0, sensor)
    return encode_dng(counts, sensor, raw_meta(camera, _exposure(camera, None), sensor))
