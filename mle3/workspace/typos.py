"""Typo detection: extra keys of a loaded item that look like misspelled known fields.

Every section keeps unknown keys (users extend their files); this reports the ones that are
probably typos instead of silently keeping them.
"""

from __future__ import annotations

import difflib
from functools import cache
from typing import Any, get_args

from pydantic import BaseModel


def _holds_models(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return any(_holds_models(arg) for arg in get_args(annotation))


@cache
def _nested_fields(cls: type[BaseModel]) -> tuple[tuple[str, str], ...]:
    """``(attribute, yaml key)`` of the fields of ``cls`` that can hold sub-models."""
    return tuple((name, f.alias or name) for name, f in cls.model_fields.items() if _holds_models(f.annotation))


@cache
def _known_keys(cls: type[BaseModel]) -> tuple[str, ...]:
    return tuple({name for name in cls.model_fields} | {f.alias for f in cls.model_fields.values() if f.alias})


def misspelled_fields(obj: BaseModel, path: tuple = ()) -> list[tuple[tuple, str, str]]:
    """Extra keys that look like typos of a known field: ``(path, extra, suggestion)``.

    Runs on every item at load time, so it only walks fields that can hold sub-models."""
    cls = type(obj)
    found: list[tuple[tuple, str, str]] = []
    if obj.__pydantic_extra__:
        for extra in obj.__pydantic_extra__:
            if len(extra) < 4:  # 'pid' is not a typo of 'id'
                continue
            match = difflib.get_close_matches(extra, _known_keys(cls), n=1, cutoff=0.8)
            if match:
                found.append((path + (extra,), extra, match[0]))
    for name, key in _nested_fields(cls):
        value = obj.__dict__.get(name)
        if isinstance(value, BaseModel):
            found.extend(misspelled_fields(value, path + (key,)))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                if isinstance(v, BaseModel):
                    found.extend(misspelled_fields(v, path + (key, i)))
        elif isinstance(value, dict):
            for k, v in value.items():
                if isinstance(v, BaseModel):
                    found.extend(misspelled_fields(v, path + (key, k)))
    return found
