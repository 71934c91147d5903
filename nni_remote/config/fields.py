"""Strict field types: NNI type-checks without coercion, and so do we.

``"4"`` is not an integer, ``4.0`` is not an integer, ``1`` is not a boolean.
Each type is an ``Annotated`` alias whose validator raises a message that says
what is accepted and shows what was given (secrets are never shown).
"""
from __future__ import annotations

import os
from typing import Annotated, Any, Callable, Dict, List, Optional, Union

from pydantic import PlainValidator, SecretStr
from pydantic_core import PydanticCustomError

from .base import describe


def fail(message: str, sub: str = "") -> PydanticCustomError:
    """An error pydantic reports with our message verbatim (``sub`` extends the path)."""
    return PydanticCustomError("config", "{m}", {"m": message, "sub": sub})


def _optional(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def validate(value: Any) -> Any:
        return None if value is None else check(value)
    return validate


def _int_of(what: str) -> Callable[[Any], int]:
    def validate(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise fail(f"must be {what}, got {describe(value)}")
        return value
    return validate


_int = _int_of("an integer")


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise fail(f"must be true or false, got {describe(value)}")
    return value


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise fail(f"must be a string, got {describe(value)}")
    return value


def _path(value: Any) -> str:
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise fail(f"must be a path (a string), got {describe(value)}")
    return value


def _duration(value: Any) -> Union[str, int]:
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise fail(f"must be a duration string like '1h' or an integer number of seconds, got {describe(value)}")
    return value


def _gpu_indices(value: Any) -> Union[List[int], int, str]:
    if isinstance(value, tuple):
        value = list(value)
    if isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return value
    if isinstance(value, (int, str)) and not isinstance(value, bool):
        return value
    raise fail(f"must be a GPU index, a list of GPU indices or a string like '0,1', got {describe(value)}")


def _secret(value: Any) -> SecretStr:
    if isinstance(value, SecretStr):
        return value
    if not isinstance(value, str):
        raise fail(f"must be a string, got {type(value).__name__} (value hidden)")
    return SecretStr(value)


def _mapping(value: Any) -> Dict[str, Any]:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise fail(f"must be a mapping with string keys, got {describe(value)}")
    return value


Int = Annotated[int, PlainValidator(_int)]
OptInt = Annotated[Optional[int], PlainValidator(_optional(_int))]
PosInt = Annotated[int, PlainValidator(_int_of("an integer > 0"))]
OptPosInt = Annotated[Optional[int], PlainValidator(_optional(_int_of("an integer > 0")))]
OptGpuCount = Annotated[Optional[int], PlainValidator(_optional(_int_of("an integer >= 0 (or null)")))]
Port = Annotated[int, PlainValidator(_int_of("an integer in 1..65535"))]
Bool = Annotated[bool, PlainValidator(_bool)]
OptBool = Annotated[Optional[bool], PlainValidator(_optional(_bool))]
Str = Annotated[str, PlainValidator(_str)]
OptStr = Annotated[Optional[str], PlainValidator(_optional(_str))]
Path = Annotated[str, PlainValidator(_path)]
OptPath = Annotated[Optional[str], PlainValidator(_optional(_path))]
OptDuration = Annotated[Optional[Union[str, int]], PlainValidator(_optional(_duration))]
OptGpuIndices = Annotated[Optional[Union[List[int], int, str]], PlainValidator(_optional(_gpu_indices))]
OptSecret = Annotated[Optional[SecretStr], PlainValidator(_optional(_secret))]
OptMapping = Annotated[Optional[Dict[str, Any]], PlainValidator(_optional(_mapping))]
