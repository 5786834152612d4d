"""Data sets: registering YOLO-format data (manifest, fingerprint, statistics, label
quality, leakage), verifying it against disk, and generating the demo data set."""

from .manifest import Entry, fingerprint, read_manifest
from .register import Registration, Verification, register, verify

__all__ = ["Entry", "Registration", "Verification", "fingerprint", "read_manifest", "register", "verify"]
