"""capturerig's simulated studio: protocol-level sim drivers that render a virtual capture stage.

A rig file that says ``driver: sim`` gets these drivers through the registry (core code never imports this
package). Tests and benchmarks use the studio directly::

    studio = get_studio("default", rig, base_dir)   # the world every sim device of the process shares
    studio.time_scale = 0                           # no modelled latency sleeps
    studio.inject_fault("cam03", "slow_download")   # the next download times out
    studio.held_frames()                            # DMX frames on the wire, by (output id, universe)
    expected_image(camera, rig, frames, angle)      # what a camera's JPEG should decode to
    studio.set_props([PlanarProp(...)])             # a flat textured prop (board, chart) on the stage
    studio.subject_present = False                  # an empty stage (calibration)
    camera_truth(camera, rig)                       # the camera as it really is (rig simulation.truth)

Multihost rigs (a controller and ``capturerig agent`` processes): :mod:`capturerig_sim.studio_bus` makes their
studios one physical studio.

Calibration captures: :mod:`capturerig_sim.calib_operator` (a simulated technician moving a ChArUco board)
and :mod:`capturerig_sim.calib_capture` (a whole capture rendered to a folder with its ground truth).
"""

from capturerig_sim._faults import FAULT_KINDS, FaultKind
from capturerig_sim._props import PlanarProp
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
    StudioOperator,
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
    "PlanarProp",
    "SimCamera",
    "SimLightOutput",
    "SimTrigger",
    "SimTurntable",
    "StudioOperator",
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
