"""DMX512 wire facts that rig checks, plans, lighting and drivers all reason with."""

from __future__ import annotations

__all__ = ["DMX_UNIVERSE_SIZE", "MAX_DMX_RATE_HZ"]

DMX_UNIVERSE_SIZE = 512

# The fastest a full universe can be refreshed (ANSI E1.11 DMX512-A): at 250 kbit/s a slot is 11 bits
# (start, 8 data, 2 stop) = 44 us, so the start code and 512 slots take 22.572 ms; with the minimum break
# (92 us) and mark-after-break (12 us) a frame takes 22.676 ms, about 44.1 frames a second. Network outputs
# keep the same ceiling (their nodes drive DMX lines); plans and the flash governor count light changes in
# frames of this length.
MAX_DMX_RATE_HZ = 44.0
