"""Our setting names and values against brands' widgets, RAW+JPEG pairing, error texts, the fire barrier."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from capturerig.config import ConfigError, load_body_profile
from capturerig.devices.gphoto2 import (
    ExposureFiles,
    FireGroup,
    SettingRefused,
    WidgetInfo,
    explain_gphoto2_error,
    resolve_settings,
)
from capturerig.devices.gphoto2._widgets import read_back

NIKON = {"iso": WidgetInfo("iso", "100", ("100", "200", "400")),
         "shutterspeed": WidgetInfo("shutterspeed", "1/125", ("1/60", "1/100", "1/125", "1/250")),
         "f-number": WidgetInfo("f-number", "f/8", ("f/5.6", "f/8", "f/11")),
         "whitebalance": WidgetInfo("whitebalance", "Automatic", ("Automatic", "Daylight", "Cloudy")),
         "imagequality": WidgetInfo("imagequality", "JPEG Fine", ("JPEG Fine", "NEF (Raw)", "NEF+Fine")),
         "exposureprogram": WidgetInfo("exposureprogram", "M", (), readonly=True)}
CANON = {"aperture": WidgetInfo("aperture", "5.6", ("4", "5.6", "8", "11")),
         "imageformat": WidgetInfo("imageformat", "RAW", ("Large Fine JPEG", "RAW", "RAW + Large Fine JPEG")),
         "shutterspeed": WidgetInfo("shutterspeed", "1/125", ("1/100", "1/125"))}


def _mapping(body: str) -> dict[str, dict[str, object]]:
    return {name: spec.model_dump() for name, spec in load_body_profile(body).widgets.items()}


def test_one_setting_name_reaches_each_brands_widget_and_value() -> None:
    settings = {"aperture": "8", "imageformat": "raw+jpeg", "shutter": "1/125"}
    assert resolve_settings(settings, _mapping("nikon-d750"), NIKON) == {
        "aperture": ("f-number", "f/8"), "imageformat": ("imagequality", "NEF+Fine"),
        "shutter": ("shutterspeed", "1/125")}
    assert resolve_settings(settings, _mapping("canon-eos-5d-mark-iv"), CANON) == {
        "aperture": ("aperture", "8"), "imageformat": ("imageformat", "RAW + Large Fine JPEG"),
        "shutter": ("shutterspeed", "1/125")}
    assert resolve_settings({"whitebalance": "daylight"}, _mapping("nikon-d750"), NIKON) == {
        "whitebalance": ("whitebalance", "Daylight")}


def test_numbers_match_by_value_and_read_back_in_our_terms() -> None:
    virtual = {"shutterspeed": WidgetInfo("shutterspeed", "0.0100s", ("0.0200s", "0.0100s", "0.0050s"))}
    resolved = resolve_settings({"shutter": "1/100"}, {}, virtual)
    assert resolved == {"shutter": ("shutterspeed", "0.0100s")}
    assert read_back({"shutter": "1/100"}, resolved, {}, virtual) == {"shutter": "1/100"}
    drifted = {"shutterspeed": WidgetInfo("shutterspeed", "0.0200s", ("0.0200s", "0.0100s"))}
    assert read_back({"shutter": "1/100"}, resolved, {}, drifted) == {"shutter": "0.0200s"}
    mapping = _mapping("nikon-d750")
    resolved = resolve_settings({"imageformat": "raw"}, mapping, NIKON)
    still_jpeg = dict(NIKON, imagequality=WidgetInfo("imagequality", "JPEG Fine", NIKON["imagequality"].choices))
    assert read_back({"imageformat": "raw"}, resolved, mapping, still_jpeg) == {"imageformat": "jpeg"}


def test_refusals_name_the_setting_and_list_what_the_camera_offers() -> None:
    with pytest.raises(SettingRefused, match=r"^iso is not supported by this camera \(no widget 'iso'\)$"):
        resolve_settings({"iso": "100"}, _mapping("canon-eos-5d-mark-iv"), CANON)
    with pytest.raises(SettingRefused, match=r"aperture 3 is not offered by this camera \(widget 'aperture' "
                                             r"offers: 4, 5\.6, 8, 11\)"):
        resolve_settings({"aperture": "3"}, _mapping("canon-eos-5d-mark-iv"), CANON)
    with pytest.raises(SettingRefused, match=r"imageformat tiff is not offered.*offers: jpeg, raw, raw\+jpeg"):
        resolve_settings({"imageformat": "tiff"}, _mapping("nikon-d750"), NIKON)
    with pytest.raises(SettingRefused, match=r"focus is not supported by this camera \(not a setting name"):
        resolve_settings({"focus": "manual"}, {}, NIKON)
    with pytest.raises(SettingRefused, match=r"exposureprogram is read-only"):
        resolve_settings({"exposureprogram": "A"}, {}, NIKON)


def test_raw_and_jpeg_pair_whatever_the_arrival_order_and_stale_files_do_not_count() -> None:
    extensions = {"jpeg": "jpg", "raw": "nef"}
    for order in (["DSC_0002.NEF", "DSC_0002.JPG"], ["DSC_0002.JPG", "DSC_0002.NEF"]):
        files = ExposureFiles(extensions)
        assert files.add("/DCIM/100NIKON/DSC_0001.JPG") is None  # an earlier shot's straggler
        assert files.add(f"/DCIM/100NIKON/{order[0]}") is None
        assert files.add(f"/DCIM/100NIKON/{order[1]}") == {"jpeg": "/DCIM/100NIKON/DSC_0002.JPG",
                                                           "raw": "/DCIM/100NIKON/DSC_0002.NEF"}
        assert files.incomplete() == {"/DCIM/100NIKON/DSC_0001": ["raw"]}
    only_jpeg = ExposureFiles({"jpeg": "jpg"})
    assert only_jpeg.add("/d/IMG_1.CR2") is None
    assert only_jpeg.ignored == ["/d/IMG_1.CR2"]
    assert only_jpeg.add("/d/IMG_1.JPEG") == {"jpeg": "/d/IMG_1.JPEG"}


@pytest.mark.parametrize(("code", "expected"), [
    (-53, "gvfs-gphoto2-volume-monitor"), (-110, "camera busy"), (-7, "USB I/O error"),
    (-52, "camera gone from USB"), (-3, "out of memory"), (-999, "libgphoto2 error -999: Strange")])
def test_gphoto2_error_codes_become_messages_with_a_way_out(code: int, expected: str) -> None:
    message, hint = explain_gphoto2_error(code, "Strange")
    assert expected in message + hint
    assert hint


def test_the_fire_barrier_sends_when_the_last_armed_camera_is_triggered() -> None:
    group = FireGroup()
    fired: list[str] = []

    def dispatcher(name: str) -> Callable[[], Callable[[], None]]:
        def prepare() -> Callable[[], None]:
            fired.append(f"prepare {name}")
            return lambda: fired.append(f"send {name}")
        return prepare

    for camera_id in ("a", "b", "c"):
        group.arm(camera_id, dispatcher(camera_id))
    group.trigger("a", dispatcher("a"))
    group.trigger("b", dispatcher("b"))
    assert fired == []
    group.trigger("c", dispatcher("c"))
    assert fired == ["prepare a", "prepare b", "prepare c", "send a", "send b", "send c"]
    assert sorted(group.history[-1].sent_at) == ["a", "b", "c"]
    assert group.history[-1].dispatch_spread_s >= 0.0
    group.arm("a", dispatcher("a2"))
    group.arm("b", dispatcher("b2"))
    group.trigger("a", dispatcher("a2"))
    group.flush("a")  # b was armed but never triggered: a does not wait for it forever
    assert fired[-1] == "send a2"
    group.leave("b")
    group.trigger("z", dispatcher("z"))  # never armed: fires alone at once
    assert fired[-1] == "send z"


def test_a_body_profile_with_an_unknown_setting_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "odd.yaml"
    path.write_text("name: odd\nformats: {jpeg: {extension: jpg, bytes_estimate: 1000}}\n"
                    "download_mbytes_per_s: 10\ntrigger_latency_ms: 1\ncard_write_ms: 1\n"
                    "widgets:\n  focus: {widget: focusmode}\n")
    with pytest.raises(ConfigError, match=r"odd\.yaml:6.*unknown setting focus"):
        load_body_profile(str(path))
