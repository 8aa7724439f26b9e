"""An Open DMX line on a pty: frames delimited by the driver's in-band break marker (``break_marker: true``).

A pty carries no break, so the driver writes :data:`~capturerig.devices.opendmx.BREAK_MARKER` where the
break was; each frame is then exactly start code + 512 slots. :class:`OpenDmxStreamParser` syncs on the
marker, takes 513 bytes, and expects the next marker right after: anything else is a torn frame (counted,
then it resyncs on the next marker).
"""

from __future__ import annotations

from pathlib import Path

from capturerig.config import LightOutputConfig
from capturerig.devices.opendmx import BREAK_MARKER
from capturerig_sim._serial_pty import FrameSink, PtySimulator, port_param

__all__ = ["FRAME_BYTES", "OpenDmxSim", "OpenDmxStreamParser", "serve_opendmx"]

FRAME_BYTES = 513  # start code + 512 slots


class OpenDmxStreamParser:
    """Cuts a marker-delimited Open DMX stream into (start code, slots) frames; never raises.

    ``torn`` counts frames that were not whole (bytes where a marker should be, or garbage before sync).
    At most one frame plus a marker is buffered.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._in_sync = False
        self.torn = 0
        self.skipped = 0

    def _lose_sync(self, count: int) -> None:
        if self._in_sync:
            self.torn += 1
            self._in_sync = False
        self.skipped += count
        del self._buffer[:count]

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        """Add ``data``; return every whole frame it completes as (start code, 512 slots)."""
        self._buffer += data
        frames: list[tuple[int, bytes]] = []
        buffer, marker = self._buffer, BREAK_MARKER
        while buffer:
            if not marker.startswith(bytes(buffer[: len(marker)])):
                at = buffer.find(marker, 1)
                if at < 0:  # keep a tail that may be the start of the next marker
                    at = next((len(buffer) - k for k in range(min(len(marker) - 1, len(buffer) - 1), 0, -1)
                               if buffer.endswith(marker[:k])), len(buffer))
                self._lose_sync(at)
                continue
            end = len(marker) + FRAME_BYTES
            if len(buffer) < end:
                break
            frames.append((buffer[len(marker)], bytes(buffer[len(marker) + 1 : end])))
            self._in_sync = True
            del buffer[:end]
        return frames


class OpenDmxSim(PtySimulator):
    """A simulated Open DMX receiver on ``universe`` (frames with a start code other than 0 are not dimmer
    data: recorded in ``errors``, not delivered)."""

    def __init__(self, output_id: str, universe: int = 0, sink: FrameSink | None = None,
                 link: str | Path | None = None) -> None:
        super().__init__(output_id, sink, link)
        self.universe = universe
        self.parser = OpenDmxStreamParser()

    @property
    def torn(self) -> int:
        """Frames that arrived incomplete or out of sync."""
        return self.parser.torn

    def _on_bytes(self, data: bytes, received_at: float) -> None:
        for start_code, slots in self.parser.feed(data):
            if start_code != 0:
                self.errors.append(f"frame with start code {start_code}")
                continue
            self._deliver(self.universe, slots, received_at)


def serve_opendmx(studio: FrameSink, output: LightOutputConfig) -> OpenDmxSim:
    """Start an Open DMX receiver for ``output`` feeding ``studio`` at the output's ``params.port``.

    Raises ValueError unless the output sets ``break_marker: true`` (a pty carries no break, so without the
    marker the simulator could not find where frames start).
    """
    if output.params.get("break_marker") is not True:
        raise ValueError(f"light output '{output.id}': the Open DMX simulator needs params.break_marker: true "
                         "(a pty carries no DMX break)")
    return OpenDmxSim(output.id, output.universes[0], sink=studio, link=port_param(output)).start()
