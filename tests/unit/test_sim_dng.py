"""A sim camera's DNG opens in LibRaw (rawpy) with exactly the counts, levels, pattern and colour written."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import rawpy

from capturerig_sim._response import camera_response
from capturerig_sim.dng import DngMeta, encode_dng
from capturerig_sim.raw_sensor import CFA_PATTERNS, SensorModel, sensor_counts, vignetting_map


def _meta(sensor: SensorModel, serial: str = "SIM0001") -> DngMeta:
    response = camera_response(serial)
    return DngMeta(make="capturerig", model="sim-body", colour_matrix=sensor.colour_matrix(response),
                   as_shot_neutral=sensor.as_shot_neutral(response), shutter_s=1 / 125, aperture=8.0, iso=100,
                   serial=serial)


def _open(data: bytes) -> rawpy.RawPy:
    return rawpy.imread(io.BytesIO(data))


@pytest.mark.parametrize("pattern", sorted(CFA_PATTERNS))
def test_libraw_reads_back_every_count_the_levels_and_the_bayer_pattern(pattern: str) -> None:
    sensor = SensorModel(pattern=pattern, black_level=600, white_level=15000)
    counts = np.random.default_rng(7).integers(0, 15001, size=(48, 64), dtype=np.uint16)
    with _open(encode_dng(counts, sensor, _meta(sensor))) as raw:
        assert np.array_equal(raw.raw_image, counts)
        assert list(raw.black_level_per_channel) == [600] * 4
        assert raw.white_level == 15000
        # LibRaw numbers colours R=0 G=1 B=2 G2=3; the 2x2 repeat must put them where the pattern says.
        assert raw.raw_pattern is not None
        read = [1 if int(c) == 3 else int(c) for c in raw.raw_pattern.reshape(-1)]
        assert tuple(read) == CFA_PATTERNS[pattern]


def test_the_as_shot_neutral_and_colour_matrix_reach_libraw() -> None:
    sensor = SensorModel()
    meta = _meta(sensor)
    with _open(encode_dng(np.full((64, 64), 600, dtype=np.uint16), sensor, meta)) as raw:
        wb = np.array(raw.camera_whitebalance[:3])
        assert np.allclose(wb / wb[1], meta.as_shot_neutral[1] / meta.as_shot_neutral, rtol=1e-5)
        # LibRaw derives its daylight balance from ColorMatrix1 alone (D65 white through it): the same neutral.
        daylight = np.array(raw.daylight_whitebalance[:3])
        assert np.allclose(daylight / daylight[1], meta.as_shot_neutral[1] / meta.as_shot_neutral, rtol=1e-3)


def test_an_even_grey_field_gives_the_photon_and_read_noise_of_the_model() -> None:
    sensor = SensorModel(vignetting=0.0)
    response = camera_response("SIM0001")
    scene = np.full((256, 256, 3), 0.25, dtype=np.float32)
    truth = sensor_counts(scene, response, 1.0, sensor).astype(np.float64)
    noisy = sensor_counts(scene, response, 1.0, sensor, noise_seed=3).astype(np.float64)
    span = sensor.white_level - sensor.black_level
    green = np.zeros(truth.shape, dtype=bool)
    green[0::2, 1::2] = True  # RGGB: a green site
    signal = truth[green].mean() - sensor.black_level
    expected = math.sqrt(signal / (sensor.full_well_e / span) + sensor.read_noise_counts ** 2)
    assert abs(noisy[green].mean() - truth[green].mean()) < 0.5
    assert noisy[green].std() == pytest.approx(expected, rel=0.05)


def test_the_corners_are_darker_by_the_lenss_cos4_falloff() -> None:
    sensor = SensorModel(half_fov_deg=30.0)
    falloff = vignetting_map(101, 101, sensor)
    assert falloff[50, 50] == pytest.approx(1.0)
    assert falloff[0, 0] == pytest.approx(math.cos(math.radians(30.0)) ** 4, rel=1e-4)


def test_counts_grow_linearly_with_light_until_the_white_level_clips() -> None:
    sensor = SensorModel(vignetting=0.0)
    response = camera_response("SIM0002")
    levels = [0.05, 0.1, 0.2, 0.4]
    green = [float(sensor_counts(np.full((4, 4, 3), v, dtype=np.float32), response, 1.0, sensor)[0, 1])
             - sensor.black_level for v in levels]
    assert np.allclose(np.array(green) / np.array(levels), green[0] / levels[0], rtol=2e-3)
    clipped = sensor_counts(np.full((4, 4, 3), 5.0, dtype=np.float32), response, 1.0, sensor)
    assert int(clipped.max()) == sensor.white_level


def test_a_counts_array_that_is_not_a_2d_uint16_mosaic_is_refused() -> None:
    sensor = SensorModel()
    with pytest.raises(ValueError, match="2-D uint16"):
        encode_dng(np.zeros((4, 4, 3), dtype=np.uint16), sensor, _meta(sensor))
    with pytest.raises(ValueError, match="pattern"):
        SensorModel(pattern="RGBW")
