"""What the command line prints is what a technician copies: no text of ours is turned into something else."""

from __future__ import annotations

from capturerig.cli._output import console, errors


def test_a_fingerprint_with_emoji_like_pairs_prints_exactly_as_it_is() -> None:
    fingerprint = "A3:CD:50:AB:01:OK:2E"  # rich's ":cd:" and ":ab:" are emoji codes (a CD, the AB blood type)
    for out in (console, errors):
        with out.capture() as captured:
            out.print(f"sha256 fingerprint: {fingerprint}", highlight=False)
        assert captured.get() == f"sha256 fingerprint: {fingerprint}\n"
