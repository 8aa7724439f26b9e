"""RAW development is linear and steady: grey patches come out as the simulator's truth, take after take."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from capturerig.develop import DevelopError, develop_linear, is_raw
from capturerig_sim._response import camera_response
from capturerig_sim.dng import DngMeta, encode_dng
from capturerig_sim.raw_sensor import SensorModel, sensor_counts, vignetting_correction

SERIAL = "SIM0042"
GREYS = (0.03, 0.1, 0.3, 0.7)  # scene-linear grey patches, dark to near clipping


def _grey_card(sensor: SensorModel, noise_seed: int | None) -> tuple[bytes, np.ndarray]:
    """A frame of four grey patches side by side and the camera-native truth of each patch."""
    response = camera_response(SERIAL)
    scene = np.zeros((64, 4 * 64, 3), dtype=np.float32)
    for k, grey in enumerate(GREYS):
        scene[:, k * 64:(k + 1) * 64] = grey
    counts = sensor_counts(scene, response, 1.0, sensor, noise_seed=noise_seed)
    meta = DngMeta("capturerig", "sim-body", sensor.colour_matrix(response), sensor.as_shot_neutral(response),
                   1 / 125, 8.0, 100, SERIAL)
    truth = np.array([sensor.camera_from_scene(response) @ np.full(3, g) for g in GREYS])
    return encode_dng(counts, sensor, meta), truth


def _patch_means(rgb: np.ndarray) -> np.ndarray:
    width = rgb.shape[1] // 4
    margin = max(2, width // 8)  # away from the edges the demosaic blends
    return np.array([rgb[margin:-margin, k * width + margin:(k + 1) * width - margin].reshape(-1, 3).mean(axis=0)
                     for k in range(4)])


@pytest.mark.parametrize("half_size", [False, True], ids=["full", "half-size"])
def test_grey_patches_develop_to_the_simulators_truth_within_half_a_percent(half_size: bool) -> None:
    data, truth = _grey_card(SensorModel(vignetting=0.0), noise_seed=None)
    developed = develop_linear(data, half_size=half_size)
    assert developed.rgb.shape == ((32, 128, 3) if half_size else (64, 256, 3))
    assert np.allclose(_patch_means(developed.rgb), truth, rtol=0.005)


def test_a_grey_patch_stays_within_half_a_percent_across_20_takes() -> None:
    sensor = SensorModel(vignetting=0.0)
    patches = np.array([_patch_means(develop_linear(_grey_card(sensor, noise_seed=take)[0], half_size=True).rgb)
                        for take in range(20)])
    spread = (patches.max(axis=0) - patches.min(axis=0)) / patches.mean(axis=0)
    assert spread[1:].max() < 0.005  # the 0.03 patch is noise-limited at this size; the others are not rescaled


def test_the_cameras_neutral_comes_back_from_its_white_balance() -> None:
    sensor = SensorModel()
    data, _ = _grey_card(sensor, noise_seed=None)
    expected = sensor.as_shot_neutral(camera_response(SERIAL))
    assert np.allclose(develop_linear(data, half_size=True).as_shot_neutral, expected, rtol=1e-4)


def test_a_truncated_dng_is_refused_naming_the_file() -> None:
    data, _ = _grey_card(SensorModel(), noise_seed=None)
    with pytest.raises(DevelopError, match=r"cam07_t003\.dng"):
        develop_linear(data[: len(data) // 3], name="cam07_t003.dng")


def test_raw_files_are_known_by_their_suffix() -> None:
    assert is_raw(Path("a/CAM01.DNG"))
    assert is_raw(Path("x.cr3"))
    assert not is_raw(Path("x.jpg"))


def test_the_lenss_falloff_is_undone_from_the_dngs_own_vignetting_correction() -> None:
    sensor = SensorModel()  # cos^4 falloff of a 30 degree half-diagonal field: the corners at 56 %
    response = camera_response(SERIAL)
    counts = sensor_counts(np.full((96, 128, 3), 0.3, dtype=np.float32), response, 1.0, sensor)
    black = sensor.black_level
    assert counts[0, 1] - black < 0.6 * (counts[48, 65] - black)  # the raw corner (a green site) is dark
    meta = DngMeta("capturerig", "sim-body", sensor.colour_matrix(response), sensor.as_shot_neutral(response),
                   1 / 125, 8.0, 100, SERIAL, vignette_k=vignetting_correction(sensor))
    green = develop_linear(encode_dng(counts, sensor, meta)).rgb[4:-4, 4:-4, 1]
    assert float(green.max() / green.min()) < 1.005  # flat again, as a DNG reader must make it


@pytest.mark.parametrize("map_kind", ["per-channel", "plane"])
def test_the_cached_vignetting_gain_gives_the_same_pixels_as_one_computed_afresh(
        map_kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two lenses' corrections alternate, so each frame meets a cached gain map: every pixel must equal LibRaw's
    16 bits times that DNG's own freshly computed gain, and a map must never serve the other lens's files. Both
    maps: the per-channel one (frames up to its size bound) and the plane broadcast over the channels (above)."""
    import rawpy

    import capturerig.develop._linear as linear
    from capturerig.develop._opcodes import (
        cached_vignette_gain,
        cached_vignette_gain_rgb,
        read_dng_corrections,
        vignette_gain,
    )

    if map_kind == "plane":
        monkeypatch.setattr(linear, "PER_CHANNEL_MAP_MAX_BYTES", 0)
    cache = cached_vignette_gain_rgb if map_kind == "per-channel" else cached_vignette_gain
    cache.cache_clear()

    sensor, response = SensorModel(), camera_response(SERIAL)
    counts = sensor_counts(np.full((96, 128, 3), 0.3, dtype=np.float32), response, 1.0, sensor, noise_seed=3)
    strong = vignetting_correction(sensor)
    weak = (strong[0] / 2, strong[1] / 2, strong[2] / 2, strong[3] / 2, strong[4] / 2)  # a milder lens
    files = {}
    for label, k in (("strong", strong), ("weak", weak)):
        meta = DngMeta("capturerig", "sim-body", sensor.colour_matrix(response), sensor.as_shot_neutral(response),
                       1 / 125, 8.0, 100, SERIAL, vignette_k=k)
        files[label] = encode_dng(counts, sensor, meta)
    expected = {}
    for label, data in files.items():
        with rawpy.imread(io.BytesIO(data)) as raw:
            rgb16 = raw.postprocess(gamma=(1, 1), no_auto_bright=True, output_bps=16, use_camera_wb=False,
                                    use_auto_wb=False, user_wb=[1.0, 1.0, 1.0, 1.0], adjust_maximum_thr=0.0,
                                    output_color=rawpy.ColorSpace.raw)
        vignette = read_dng_corrections(data).vignette
        assert vignette is not None
        assert vignette[:5] == (strong if label == "strong" else weak)
        gain = vignette_gain(96, 128, vignette) * np.float32(1 / 65535)
        expected[label] = rgb16.astype(np.float32) * gain[..., None]
    for label in ("strong", "weak", "strong", "weak"):
        rgb = develop_linear(files[label]).rgb
        assert rgb.dtype == np.float32
        assert rgb.flags.writeable  # the caller's own frame, not a shared buffer
        np.testing.assert_array_equal(rgb, expected[label], err_msg=label)
    assert cache.cache_info().hits >= 2
    cached = cache(96, 128, read_dng_corrections(files["weak"]).vignette, 1 / 65535)
    with pytest.raises(ValueError, match="read-only"):
        cached *= 2  # shared by every later frame: nobody may change it in place


def test_a_frame_the_caller_still_holds_is_never_reused_and_a_released_ones_memory_is() -> None:
    sensor = SensorModel()
    first_data, second_data = _grey_card(sensor, noise_seed=1)[0], _grey_card(sensor, noise_seed=2)[0]
    held = develop_linear(first_data).rgb
    corner = held[:8, :8].copy()
    view = held[::2, ::2]  # a view keeps the frame as much as the frame itself
    del held
    second = develop_linear(second_data).rgb
    assert not np.shares_memory(second, view)
    assert np.array_equal(view[:4, :4], corner[::2, ::2])  # untouched by the second development
    again = develop_linear(first_data).rgb
    assert not np.shares_memory(again, second)
    assert not np.shares_memory(again, view)
    address = again.__array_interface__["data"][0]
    del again
    reused = develop_linear(first_data).rgb  # nothing holds the last frame: its memory serves the next one
    assert reused.__array_interface__["data"][0] == address
    assert np.array_equal(reused[:8, :8], corner)
