"""Wire-level simulators the virtual studio serves in-process, chosen by the rig's ``simulation`` section.

A rig whose light output uses a real transport (``driver: artnet``, ``driver: sacn`` ...) can still run on
the virtual studio: ``simulation: {serve: [artnet0]}`` makes the studio start that driver's protocol-level
simulator where the output's params point (e.g. an Art-Net node on 127.0.0.1:6454), and the simulator feeds
what it receives into the studio, so the sim cameras render what crossed the wire. A ``driver: gphoto2`` camera
running libgphoto2's virtual camera (``params.vcameradir``) is served by filling its image folder.

Each transport registers a starter in :data:`WIRE_SIMULATORS` (driver name -> starter); a starter gets the
studio and the device's config, binds where the params say and returns something with ``close()``.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable
from typing import Any, Protocol

from capturerig.config import DeviceConfig, LightOutputConfig
from capturerig.devices._artnet_packets import ARTNET_PORT
from capturerig.devices._sacn_packets import SACN_PORT, multicast_address
from capturerig_sim.artnet_node import ArtNetNode
from capturerig_sim.enttec_widget import serve_enttec
from capturerig_sim.grbl_sim import start_grbl
from capturerig_sim.opendmx_sim import serve_opendmx
from capturerig_sim.sacn_receiver import SacnReceiver
from capturerig_sim.serial_lights_sim import serve_serial_lights
from capturerig_sim.studio import VirtualStudio
from capturerig_sim.triggerbox_sim import start_triggerbox
from capturerig_sim.vcamera import serve_vcamera

__all__ = ["WIRE_SIMULATORS", "WireSimulator", "serve_shared_lights", "serve_wire_simulators", "served",
           "stop_wire_simulators"]


class WireSimulator(Protocol):
    """A running protocol-level simulator."""

    def close(self) -> None: ...


Starter = Callable[[VirtualStudio, Any], WireSimulator]  # gets the served device's config (light output, trigger ...)


def _param(output: LightOutputConfig, name: str, default: Any) -> Any:
    return output.params.get(name, default)


def _start_artnet(studio: VirtualStudio, output: LightOutputConfig) -> WireSimulator:
    node = ArtNetNode(str(_param(output, "host", "127.0.0.1")), int(_param(output, "port", ARTNET_PORT)),
                      studio=studio, output_id=output.id, universes=output.universes)
    return node.start()


def _start_sacn(studio: VirtualStudio, output: LightOutputConfig) -> WireSimulator:
    port = int(_param(output, "port", SACN_PORT))
    if _param(output, "multicast", False):
        # One group: listen on the group address itself; several: on all addresses, joined on loopback.
        host = multicast_address(output.universes[0]) if len(output.universes) == 1 else "0.0.0.0"
        receiver = SacnReceiver(host, port, studio=studio, output_id=output.id,
                                multicast_universes=output.universes,
                                multicast_interface=str(_param(output, "multicast_interface", "127.0.0.1")))
    else:
        receiver = SacnReceiver(str(_param(output, "host", "127.0.0.1")), port, studio=studio, output_id=output.id)
    return receiver.start()


# Driver name -> starter. Other transports add one line each.
WIRE_SIMULATORS: dict[str, Starter] = {
    "artnet": _start_artnet,
    "sacn": _start_sacn,
    "serial-box": start_triggerbox,
    "grbl": start_grbl,  # GRBL turntable on a pty linked at the turntable's params.port
    # Serial transports: a pty simulator linked at the output's params.port (e.g. /tmp/capturerig-sim/enttec0).
    "enttec-pro": serve_enttec,
    "opendmx": serve_opendmx,
    "serial-lights": serve_serial_lights,
    "gphoto2": serve_vcamera,  # libgphoto2's virtual camera: its image folder (params.vcameradir) filled
}

_running: dict[str, tuple[VirtualStudio, WireSimulator]] = {}  # output id -> (studio, simulator)
_running_lock = threading.Lock()


def _outputs_to_serve(studio: VirtualStudio) -> list[DeviceConfig]:
    where = f"rig '{studio.rig.name}' simulation.serve"
    wanted = studio.rig.simulation.get("serve", [])
    if not isinstance(wanted, list) or not all(isinstance(item, str) for item in wanted):
        raise ValueError(f"{where}: must be a list of device ids, got {wanted!r}")
    rig = studio.rig
    outputs: dict[str, DeviceConfig] = {
        o.id: o for o in (*rig.light_outputs, rig.trigger, rig.turntable, *rig.cameras) if o}
    chosen = []
    for output_id in wanted:
        output = outputs.get(output_id)
        if output is None:
            raise ValueError(f"{where}: no light output, trigger, turntable or camera '{output_id}' "
                             f"(devices: {', '.join(outputs) or 'none'})")
        if output.driver not in WIRE_SIMULATORS:
            raise ValueError(f"{where}: '{output_id}' uses driver '{output.driver}', which has no wire simulator "
                             f"(simulated: {', '.join(sorted(WIRE_SIMULATORS))})")
        host = str(output.params.get("host", "127.0.0.1"))
        if not output.params.get("multicast", False) and not _is_loopback(host):
            raise ValueError(f"{where}: '{output_id}' points at {host}; the simulator serves only loopback "
                             "addresses (127.0.0.x)")
        chosen.append(output)
    return chosen


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.IPv4Address(host).is_loopback
    except ValueError:
        return False


def serve_wire_simulators(studio: VirtualStudio) -> list[str]:
    """Start the wire simulators ``studio.rig.simulation["serve"]`` names; returns the device ids served.

    A simulator already serving an output id (for an earlier studio of the same name, e.g. after
    ``reset_studios``) is closed first, so its address is free for the new one.

    Raises
    ------
    ValueError
        When ``serve`` is not a list of the rig's device ids, a device's driver has no simulator, or it
        points at an address that is not loopback.
    OSError
        When the simulator cannot bind its address (another program listens there).
    """
    outputs = _outputs_to_serve(studio)
    with _running_lock:
        for output in outputs:
            previous = _running.pop(output.id, None)
            if previous is not None:
                previous[1].close()
            try:
                _running[output.id] = (studio, WIRE_SIMULATORS[output.driver](studio, output))
            except OSError as exc:  # e.g. the address is taken by another program (a real node app)
                raise OSError(exc.errno, f"rig '{studio.rig.name}' simulation.serve: cannot start the "
                                         f"{output.driver} simulator for '{output.id}' (params {output.params}): "
                                         f"{exc.strerror or exc}") from exc
    return [output.id for output in outputs]


def serve_shared_lights(studio: VirtualStudio) -> tuple[list[WireSimulator], list[str]]:
    """In an agent's process (a mirror studio): receivers for the light outputs in ``simulation.serve`` whose
    traffic every process on the machine can receive (sACN multicast), feeding ``studio``. The controller's
    process serves the same outputs too; nothing else is served here (a unicast receiver, a trigger box or a
    turntable belongs to the controller). The caller closes what it gets.

    Returns
    -------
    (receivers, unheard)
        The running receivers, and the ids of the rig's light outputs this studio does not hear.

    Raises
    ------
    ValueError
        As :func:`serve_wire_simulators` for a malformed ``serve``.
    OSError
        When a receiver cannot bind.
    """
    shared = [output for output in _outputs_to_serve(studio)
              if isinstance(output, LightOutputConfig) and output.driver == "sacn" and output.params.get("multicast")]
    receivers: list[WireSimulator] = []
    try:
        for output in shared:
            receivers.append(_start_sacn(studio, output))
    except BaseException:
        for receiver in receivers:
            receiver.close()
        raise
    heard = {output.id for output in shared}
    return receivers, [output.id for output in studio.rig.light_outputs if output.id not in heard]


def served(output_id: str) -> WireSimulator | None:
    """The simulator serving ``output_id`` now (an ArtNetNode, SacnReceiver ...), if any."""
    with _running_lock:
        entry = _running.get(output_id)
        return entry[1] if entry is not None else None


def stop_wire_simulators() -> None:
    """Close every running wire simulator (tests)."""
    with _running_lock:
        entries = list(_running.values())
        _running.clear()
    for _, simulator in entries:
        simulator.close()
