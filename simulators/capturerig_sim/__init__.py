"""capturerig's simulated studio: protocol-level sim drivers that render a virtual capture stage.

A rig file that says ``driver: sim`` gets these drivers through the registry (core code never imports this
package). Tests and benchmarks use the studio directly::

    studio = get_studio("default", rig, base_dir)   # the world every sim device of the process shares
    studio.time_scale = 0                           # no modelled latency sleeps
    studio.inject_fault("cam03", "slow_download")   # the next download times out
    studio.held_frames()                            # DMX frames on the wire, by (output id, universe)
    expected_image(camera, rig, frames, angle)      # what a camera's JPEG should decode to
"""

from capturerig_sim._faults import FAULT_KINDS, FaultKind
from capturerig_sim._response import DEFAULT_SETTINGS
from capturerig_sim.devices import SimCamera, SimLightOutput, SimTrigger, SimTurntable
from capturerig_sim.render import (
    CameraResponse,
    CameraTruth,
    ExposureSettings,
    Light,
    camera_response,
    camera_truth,
    encode_jpeg,
    expected_image,
    fixture_lights,
    floor_mask,
    render_image,
    render_linear,
    subject_mask,
)
from capturerig_sim.studio import (
    TIME_SCALE_ENV,
    CameraState,
    ExposureRecord,
    VirtualStudio,
    get_studio,
    reset_studios,
)

__all__ = [
    "DEFAULT_SETTINGS",
    "FAULT_KINDS",
    "TIME_SCALE_ENV",
    "CameraResponse",
    "CameraState",
    "CameraTruth",
    "ExposureRecord",
    "ExposureSettings",
    "FaultKind",
    "Light",
    "SimCamera",
    "SimLightOutput",
    "SimTrigger",
    "SimTurntable",
    "VirtualStudio",
    "camera_response",
    "camera_truth",
    "encode_jpeg",
    "expected_image",
    "fixture_lights",
    "floor_mask",
    "get_studio",
    "render_image",
    "render_linear",
    "reset_studios",
    "subject_mask",
]
