"""Lighting: conditions to DMX frames, the safe state."""

from capturerig.lighting._scenes import UniverseKey, blackout_frames, decode_fixture, frames_for_condition

__all__ = ["UniverseKey", "blackout_frames", "decode_fixture", "frames_for_condition"]
