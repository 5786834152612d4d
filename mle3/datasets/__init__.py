"""Data sets where they live (the workspace, a mounted data root, an object store):
registering YOLO or COCO data (manifest, fingerprint, statistics, label quality, leakage),
verifying it, materializing remote data for training, and generating the demo data set."""

from .manifest import Entry, fingerprint, read_manifest
from .register import Registration, register
from .verify import Verification, verify

__all__ = ["Entry", "Registration", "Verification", "fingerprint", "read_manifest", "register", "verify"]
