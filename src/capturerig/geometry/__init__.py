"""Camera models shared by the layers above: one camera's OpenCV model and pose in the rig frame."""

from capturerig.geometry._camera import PIXEL_CENTRE_OFFSET, CameraGeometry, rz

__all__ = ["PIXEL_CENTRE_OFFSET", "CameraGeometry", "rz"]
