"""The base of every workspace model and the names the sections share.

Its own module so the schema's parts (:mod:`.schema`, :mod:`.tuning_schema`) build on it
without importing each other at load time.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

Scalar = Union[str, int, float, bool, None]
#: every number of an item is finite: a NaN threshold fails no comparison (``x < nan``
#: is false for every x) and an infinite metric passes every ``min``
Number = Annotated[float, Field(allow_inf_nan=False)]


class Section(BaseModel):
    """Base of every model: keeps unknown keys, validates known ones."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, validate_default=False)


#: the transforms each group knows (the seed's names); anything else is a load error
GeometricName = Literal["horizontal_flip", "scale", "rotation", "crop"]
PhotometricName = Literal["brightness", "contrast", "saturation", "hue"]
WeatherName = Literal["rain", "fog", "snow"]
AutomotiveName = Literal["sun_flare", "headlight_glare", "sensor_noise"]
