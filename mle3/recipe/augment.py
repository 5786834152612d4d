"""The seed's automotive augmentation as albumentations transforms, passed through
ultralytics' own ``augmentations=`` training argument (after its mosaic, mixup and
perspective, before its HSV and flips, which keep doing what they do).

:func:`plan` turns the configuration into plain data (which transform, with which
parameters and probability) that the mapping records row by row; :func:`build` makes the
albumentations objects from it when training starts. Parameters the seed does not give
have documented defaults (``DEFAULT_PROBABILITY``).

Seed field -> albumentations transform: parameters

- geometric.crop (min_area) -> RandomResizedCrop: size = image size, scale [min_area, 1],
  ratio [3/4, 4/3]; boxes clipped to the crop, boxes outside dropped
- photometric.contrast (range) -> RandomBrightnessContrast: contrast_limit [low - 1, high - 1],
  brightness 0 (brightness is ultralytics' hsv_v)
- weather_simulation.rain (intensity_range) -> RandomRain: brightness_coefficient 1 - mean
  intensity, drop length from the image size
- weather_simulation.fog (density_range) -> Fog (mle3): scattering coefficient drawn from
  density_range, density growing towards the horizon
- weather_simulation.snow (point_range) -> RandomSnow: snow_point_range = point_range
  (default [0.1, 0.3])
- automotive_specific.sun_flare -> RandomSunFlare: flare in the upper half of the image,
  radius imgsz/8, 3-6 ghost circles
- automotive_specific.headlight_glare -> HeadlightGlare (mle3): night images only: those the
  data set lists (``night_images:`` in its data.yaml), else mean luminance under
  ``night_luminance`` (default 60 of 255)
- automotive_specific.sensor_noise (noise_level) -> SensorNoise (mle3): Gaussian, standard
  deviation noise_level of the value range, per pixel
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from ..errors import Mle3Error

#: probability of a transform whose configuration gives none
DEFAULT_PROBABILITY = {
    "crop": 0.5,
    "contrast": 0.5,
    "rain": 0.1,
    "fog": 0.1,
    "snow": 0.1,
    "sun_flare": 0.1,
    "headlight_glare": 0.1,
    "sensor_noise": 0.5,
}
NIGHT_LUMINANCE = 60.0
#: transforms of :mod:`.transforms` (albumentations ImageOnlyTransform subclasses of mle3's)
OWN = ("HeadlightGlare", "Fog", "SensorNoise")


@dataclass
class Planned:
    """One albumentations transform for one configuration field."""

    path: str
    transform: str
    params: dict[str, Any] = field(default_factory=dict)
    p: float = 0.5

    @property
    def origin(self) -> str:
        """``mle3`` for mle3's own transforms (:mod:`.transforms`), else ``albumentations``."""
        return "mle3" if self.transform in OWN else "albumentations"

    def describe(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.transform}({args}{', ' if args else ''}p={self.p})"


def plan(aug: Any, imgsz: int, night_list: str | None = None) -> list[Planned]:
    """The albumentations transforms an augmentation configuration asks for (enabled ones);
    ``night_list`` is the data set's list of night images, if it has one."""
    out: list[Planned] = []

    def add(group: str, name: str, transform: str, params: dict[str, Any]) -> None:
        entry = getattr(aug, group).get(name)
        p = entry.probability if entry.probability is not None else DEFAULT_PROBABILITY[name]
        out.append(Planned(f"augmentation.{group}.{name}", transform, params, float(p)))

    def on(group: str, name: str) -> dict[str, Any] | None:
        entry = getattr(aug, group).get(name)
        return (entry.model_extra or {}) if entry is not None and entry.enabled else None

    if (extra := on("geometric", "crop")) is not None:
        add(
            "geometric",
            "crop",
            "RandomResizedCrop",
            {"size": [imgsz, imgsz], "scale": [float(extra.get("min_area", 0.7)), 1.0], "ratio": [0.75, 1.3333]},
        )
    if (extra := on("photometric", "contrast")) is not None:
        lo, hi = extra.get("range", [0.8, 1.2])
        add(
            "photometric",
            "contrast",
            "RandomBrightnessContrast",
            {"brightness_limit": [0.0, 0.0], "contrast_limit": [round(lo - 1, 6), round(hi - 1, 6)]},
        )
    if (extra := on("weather_simulation", "rain")) is not None:
        lo, hi = extra.get("intensity_range", [0.1, 0.5])
        add(
            "weather_simulation",
            "rain",
            "RandomRain",
            {
                "brightness_coefficient": round(1 - (lo + hi) / 2, 4),
                "drop_length": max(4, imgsz // 16),
                "blur_value": 3,
            },
        )
    if (extra := on("weather_simulation", "fog")) is not None:
        add("weather_simulation", "fog", "Fog", {"fog_coef_range": list(extra.get("density_range", [0.1, 0.3]))})
    if (extra := on("weather_simulation", "snow")) is not None:
        add(
            "weather_simulation", "snow", "RandomSnow", {"snow_point_range": list(extra.get("point_range", [0.1, 0.3]))}
        )
    if on("automotive_specific", "sun_flare") is not None:
        # 3-6 ghost circles instead of albumentations' 6-10: each is a full-image blend
        add(
            "automotive_specific",
            "sun_flare",
            "RandomSunFlare",
            {"flare_roi": [0.0, 0.0, 1.0, 0.5], "src_radius": max(8, imgsz // 8), "num_flare_circles_range": [3, 6]},
        )
    if (extra := on("automotive_specific", "headlight_glare")) is not None:
        night = (
            {"night_list": night_list}
            if night_list
            else {"night_luminance": float(extra.get("night_luminance", NIGHT_LUMINANCE))}
        )
        add("automotive_specific", "headlight_glare", "HeadlightGlare", night)
    if (extra := on("automotive_specific", "sensor_noise")) is not None:
        add(
            "automotive_specific", "sensor_noise", "SensorNoise", {"noise_level": float(extra.get("noise_level", 0.01))}
        )
    return out


def build(planned: list[Planned], data_yaml: Path | None = None) -> list[Any]:
    """albumentations objects for a plan (imports albumentations: the ``train`` extra);
    ``data_yaml`` places the recorded (relative) night list on this machine."""
    import albumentations as A

    from . import transforms as own

    made = []
    for item in planned:
        cls = getattr(own, item.transform, None) or getattr(A, item.transform)
        params: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in item.params.items()}
        if params.get("night_list"):
            if data_yaml is None:
                raise Mle3Error("headlight glare needs the data set's data.yaml to find its night list")
            from ..datasets.night import night_root

            params["night_root"] = str(night_root(data_yaml))
            params["night_list"] = str(Path(data_yaml).parent / params["night_list"])
        made.append(cls(**params, p=item.p))
    return made
