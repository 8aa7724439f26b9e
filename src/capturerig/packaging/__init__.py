"""Training packages: BagIt 1.0 bags whose ``data/`` folder is the training root.

``data/`` holds ``calibration/`` (geometry.json, colour.json, the rig as a COLMAP model with rigs and
frames), ``lighting/`` (fixtures, states, each image's lighting), ``package.json`` and one folder per
pose x lighting state under ``snapshots/``, each with ``transforms.json`` (nerfstudio), ``images/``,
``colmap/sparse/0`` (OPENCV), ``undistorted/{images,sparse/0}`` (PINHOLE, for 3DGS), ``xmp/`` sidecars and
``masks/`` (with COLMAP-named ``colmap/masks/``, ``undistorted/masks/`` and, on request, RGBA images) when there
are masks; the clean plates they were made from are kept in ``data/plates/``. Poses are in the subject frame
(metres, z up), so turntable stations become cameras around a static subject.
"""

# Re-exported for callers that still take them from here; their home is capturerig.files.
from capturerig.files import fsync_dir, fsync_file, sha256_file
from capturerig.packaging._bagit import BAG_INFO, BAGIT_TXT, manifest_name, verify_fixity
from capturerig.packaging._frames import PackageFrame, PackageIntegrityError, PackageSummary, PlannedTake
from capturerig.packaging._geometry import (
    GEOMETRY_SCHEMA,
    CameraGeometry,
    Geometry,
    geometry_from_document,
    nominal_geometry,
)
from capturerig.packaging._signing import (
    PACKAGE_CLAIM,
    SIGN_CHOICES,
    PackageSigning,
    SigningRefused,
    resolve_signing,
    signing_readiness,
)
from capturerig.packaging._snapshot import ColourCorrection
from capturerig.packaging._undistort import RASTER_EXTENSIONS
from capturerig.packaging._verify import PackageReport, check_package, verify_package
from capturerig.packaging._writer import ORIGINALS_CHOICES, PACKAGE_SCHEMA, QC_JSON, QC_SCHEMA, write_package
from capturerig.packaging._xmp import DIGITAL_CAPTURE, xmp_packet

__all__ = [
    "BAGIT_TXT",
    "BAG_INFO",
    "DIGITAL_CAPTURE",
    "GEOMETRY_SCHEMA",
    "ORIGINALS_CHOICES",
    "PACKAGE_CLAIM",
    "PACKAGE_SCHEMA",
    "QC_JSON",
    "QC_SCHEMA",
    "RASTER_EXTENSIONS",
    "SIGN_CHOICES",
    "CameraGeometry",
    "ColourCorrection",
    "Geometry",
    "PackageFrame",
    "PackageIntegrityError",
    "PackageReport",
    "PackageSigning",
    "PackageSummary",
    "PlannedTake",
    "SigningRefused",
    "check_package",
    "fsync_dir",
    "fsync_file",
    "geometry_from_document",
    "manifest_name",
    "nominal_geometry",
    "resolve_signing",
    "sha256_file",
    "signing_readiness",
    "verify_fixity",
    "verify_package",
    "write_package",
    "xmp_packet",
]
