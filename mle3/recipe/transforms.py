"""mle3's own albumentations transforms: headlight glare (albumentations has none), and
fog and sensor noise fast enough for the training loader (albumentations' RandomFog
takes 365 ms on a 640 px image, its GaussNoise 6 ms; these take about 3 ms and 1 ms).

Each is a real ``ImageOnlyTransform`` subclass in an importable module, so ultralytics can
store it in checkpoints (``A.to_dict``/``A.from_dict``; it refuses ``A.Lambda``) and
worker processes can unpickle it.

- ``HeadlightGlare``, "night scenes only": when the data set lists its night images
  (``night_images:`` in its data.yaml, a text file of image paths relative to the data
  root), exactly those count as night; otherwise an image is night when its mean
  luminance (ITU-R 601 weights, 0-255) is under ``night_luminance``. Day images pass
  through unchanged. The image's file reaches the transform through
  :data:`CURRENT_FILE`, set around ultralytics' albumentations step. On a night image 1 to
  3 oncoming headlights are drawn as warm white radial glows in the lower two thirds, with
  a soft veil over the whole image.
- ``Fog``: the atmospheric scattering model ``I = J t + A (1 - t)`` with transmission
  ``t = exp(-beta d)``, depth ``d`` growing towards the horizon (the top of the image),
  ``beta`` drawn from ``fog_coef_range``, airlight ``A`` a light grey.
- ``SensorNoise``: zero-mean Gaussian noise of standard deviation ``noise_level`` (a
  fraction of the value range) per pixel and channel, cut at random offsets from a noise
  bank drawn once per worker, so each image gets a different field at the cost of an add.
"""

from __future__ import annotations

from contextvars import ContextVar
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import albumentations as A
import numpy as np

#: the image file being augmented (set by the wrapper around ultralytics' Albumentations)
CURRENT_FILE: ContextVar[str | None] = ContextVar("mle3_current_image", default=None)


def night_images(listing: str | Path, root: str | Path) -> frozenset[str]:
    """Absolute paths of the images a ``night_images`` file lists. Each line is relative
    to the data set's root (the folder its data.yaml's ``path:`` names, where the split
    folders are too), wherever the list file itself lies."""
    from ..datasets.night import listed_names

    return frozenset(str((Path(root) / name).resolve()) for _, name in listed_names(listing))


def luminance(img: np.ndarray) -> float:
    """Mean luma of an RGB (or grey) uint8 image, 0-255."""
    if img.ndim == 2 or img.shape[-1] == 1:
        return float(img.mean())
    return float((img[..., 0] * 0.299 + img[..., 1] * 0.587 + img[..., 2] * 0.114).mean())


class HeadlightGlare(A.ImageOnlyTransform):
    """Glare of oncoming headlights, applied to night images only."""

    def __init__(
        self,
        night_luminance: float = 60.0,
        intensity: float = 0.9,
        night_list: str | None = None,
        night_root: str | None = None,
        p: float = 0.1,
    ) -> None:
        super().__init__(p=p)
        self.night_luminance = float(night_luminance)
        self.intensity = float(intensity)
        self.night_list = night_list
        self.night_root = night_root or (str(Path(night_list).parent) if night_list else None)
        self._night: frozenset[str] | None = None

    def is_night(self, img: np.ndarray) -> bool:
        """Listed as night by the data set, else darker than ``night_luminance``."""
        current = CURRENT_FILE.get()
        if self.night_list and self.night_root and current:  # night_root is set whenever night_list is
            if self._night is None:
                self._night = night_images(self.night_list, self.night_root)
            return str(Path(current).resolve()) in self._night
        return luminance(img) < self.night_luminance

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        height, width = params["shape"][:2]
        rng = self.random_generator
        lights = []
        for _ in range(int(rng.integers(1, 4))):
            lights.append(
                (
                    float(rng.uniform(0, width)),
                    float(rng.uniform(height / 3, height)),
                    float(rng.uniform(0.04, 0.12) * max(height, width)),
                )
            )
        return {"lights": lights}

    def apply(self, img: np.ndarray, lights: Sequence[tuple[float, float, float]] = (), **params: Any) -> np.ndarray:
        if not self.is_night(img):
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
        return ("night_luminance", "intensity", "night_list")


class Fog(A.ImageOnlyTransform):
    """Fog whose density grows towards the horizon (see the module docstring)."""

    def __init__(self, fog_coef_range: tuple[float, float] = (0.1, 0.3), p: float = 0.1) -> None:
        super().__init__(p=p)
        self.fog_coef_range = tuple(float(v) for v in fog_coef_range)

    def get_params(self) -> dict[str, Any]:
        return {
            "beta": float(self.random_generator.uniform(*self.fog_coef_range)),
            "airlight": float(self.random_generator.uniform(200, 240)),
        }

    def apply(self, img: np.ndarray, beta: float = 0.2, airlight: float = 220.0, **params: Any) -> np.ndarray:
        height = img.shape[0]
        depth = np.linspace(6.0, 1.0, height, dtype=np.float32)  # far at the top, near at the bottom
        t = np.exp(-beta * depth)[:, None, None] if img.ndim == 3 else np.exp(-beta * depth)[:, None]
        out = img.astype(np.float32) * t + airlight * (1 - t)
        return np.clip(out, 0, 255).astype(img.dtype)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("fog_coef_range",)


class SensorNoise(A.ImageOnlyTransform):
    """Per-pixel Gaussian sensor noise from a noise bank (see the module docstring)."""

    BANK = 1024

    def __init__(self, noise_level: float = 0.01, p: float = 0.5) -> None:
        super().__init__(p=p)
        self.noise_level = float(noise_level)
        self._bank: np.ndarray | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_bank"] = None  # drawn again in each worker, not pickled
        return state

    def _noise(self, height: int, width: int, channels: int) -> np.ndarray:
        size = max(self.BANK, height, width)
        if self._bank is None or self._bank.shape[0] < size or self._bank.shape[2] < channels:
            sigma = self.noise_level * 255.0
            self._bank = np.clip(self.random_generator.normal(0.0, sigma, (size, size, channels)), -127, 127).astype(
                np.int16
            )
        y = int(self.random_generator.integers(0, self._bank.shape[0] - height + 1))
        x = int(self.random_generator.integers(0, self._bank.shape[1] - width + 1))
        return self._bank[y : y + height, x : x + width, :channels]

    def apply(self, img: np.ndarray, **params: Any) -> np.ndarray:
        if img.dtype != np.uint8:
            return img
        channels = img.shape[2] if img.ndim == 3 else 1
        noise = self._noise(img.shape[0], img.shape[1], channels)
        out = img.astype(np.int16) + (noise if img.ndim == 3 else noise[..., 0])
        return np.clip(out, 0, 255).astype(np.uint8)

    def get_transform_init_args_names(self) -> tuple[str, ...]:
        return ("noise_level",)
