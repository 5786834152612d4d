"""Headlight glare on night scenes: the one transform of the seed's augmentation that
albumentations does not have.

A real ``ImageOnlyTransform`` subclass in an importable module, so ultralytics can store
it in checkpoints (``A.to_dict``/``A.from_dict``; it refuses ``A.Lambda``) and worker
processes can unpickle it. "Night scenes only": an image counts as night when its mean
luminance (ITU-R 601 weights, 0-255) is under ``night_luminance``; day images pass
through unchanged. On a night image 1 to 3 oncoming headlights are drawn as warm white
radial glows in the lower two thirds, with a soft veil over the whole image.
"""

from __future__ import annotations

from typing import Any

import albumentations as A
import numpy as np


def luminance(img: np.ndarray) -> float:
    """Mean luma of an RGB (or grey) uint8 image, 0-255."""
    if img.ndim == 2 or img.shape[-1] == 1:
        return float(img.mean())
    return float((img[..., 0] * 0.299 + img[..., 1] * 0.587 + img[..., 2] * 0.114).mean())


class HeadlightGlare(A.ImageOnlyTransform):
    """Glare of oncoming headlights, applied to night images only."""

    def __init__(self, night_luminance: float = 60.0, intensity: float = 0.9, p: float = 0.1) -> None:
        super().__init__(p=p)
        self.night_luminance = float(night_luminance)
        self.intensity = float(intensity)

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        height, width = params["shape"][:2]
        rng = self.random_generator
        lights = []
        for _ in range(int(rng.integers(1, 4))):
            lights.append((float(rng.uniform(0, width)), float(rng.uniform(height / 3, height)), float(rng.uniform(0.04, 0.12) * max(height, width))))
        return {"lights": lights}

    def apply(self, img: np.ndarray, lights: list[tuple[float, float, float]] = (), **params: Any) -> np.ndarray:
        if luminance(img) >= self.night_luminance:
            return img
        height, width = img.shape[:2]
        yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
        glow = np.zeros((height, width), np.float32)
        for cx, cy, radius in lights:
            glow += np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * radius * radius))
        glow = np.clip(glow * self.intensity, 0, 1)[..., None]
        veil = 0.08 * self.intensity
        warm = np.array([255, 244, 214], np.float32)[: img.shape[-1]] if img.ndim == 3 else np.float32(250)
        out = img.astype(np.float32) * (1 - glow) + warm * glow
        out = out * (1 - veil) + warm * veil
        return np.clip(out, 0, 255).astype(img.dtype)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("night_luminance", "intensity")
