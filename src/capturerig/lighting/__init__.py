"""Lighting: fixture commands to DMX frames, scenes and generators (OLAT, gradients), the flash governor."""

from capturerig.lighting._commands import (
    LUMINANCE_WEIGHTS,
    cct_to_rgb,
    decode_mode,
    encode_fixture,
    fixture_luminance,
)
from capturerig.lighting._generators import expand_lighting, gradient_levels
from capturerig.lighting._safety import (
    FlashGovernor,
    FlashLimit,
    FlashViolation,
    LightChange,
    PhotosensitivityRefused,
    change_between,
    find_flash_violation,
    flash_limit,
    override_hint,
)
from capturerig.lighting._scenes import (
    BLACKOUT,
    UniverseKey,
    blackout_frames,
    decode_fixture,
    find_scene,
    fixture_commands,
    fixture_mode,
    fixture_settle_s,
    frames_for_commands,
    frames_for_condition,
    light_shares,
    safe_state_frames,
)
from capturerig.lighting._send import send_frames_once

__all__ = [
    "BLACKOUT",
    "LUMINANCE_WEIGHTS",
    "FlashGovernor",
    "FlashLimit",
    "FlashViolation",
    "LightChange",
    "PhotosensitivityRefused",
    "UniverseKey",
    "blackout_frames",
    "cct_to_rgb",
    "change_between",
    "decode_fixture",
    "decode_mode",
    "encode_fixture",
    "expand_lighting",
    "find_flash_violation",
    "find_scene",
    "fixture_commands",
    "fixture_luminance",
    "fixture_mode",
    "fixture_settle_s",
    "flash_limit",
    "frames_for_commands",
    "frames_for_condition",
    "gradient_levels",
    "light_shares",
    "override_hint",
    "safe_state_frames",
    "send_frames_once",
]
