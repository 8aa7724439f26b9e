"""Training packages: verified images plus a COLMAP model, nerfstudio transforms and a sha256 manifest.

A package root is a training root: ``images/``, ``sparse/0/`` (COLMAP, for 3DGS, gsplat and nerfstudio's
colmap parser), ``transforms.json`` (nerfstudio), ``package.json`` (provenance and lighting metadata) and
``manifest-sha256.txt``. Poses are in the subject frame (metres, z up), so turntable stations become
cameras around a static subject.
"""

from capturerig.packaging._files import MANIFEST_NAME, fsync_dir, fsync_file, sha256_file, verify_package
from capturerig.packaging._frames import PackageFrame, PackageIntegrityError, PackageSummary
from capturerig.packaging._writer import PACKAGE_FORMAT_VERSION, write_package

__all__ = [
    "MANIFEST_NAME",
    "PACKAGE_FORMAT_VERSION",
    "PackageFrame",
    "PackageIntegrityError",
    "PackageSummary",
    "fsync_dir",
    "fsync_file",
    "sha256_file",
    "verify_package",
    "write_package",
]
