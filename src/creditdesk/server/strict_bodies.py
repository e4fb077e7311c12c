"""Reading a request body as one of the strict body models (bodies.py).

A well-formed body, a JSON object of exactly its model's fields with exactly their JSON
types, is read with one `json.loads` and checked by hand: pydantic parsing it again in
strict mode accepts the same bodies but costs a debit as much again. Anything else goes
to pydantic, whose first complaint is what the client is told (refusals.py), so every
refusal keeps its exact words. A key given twice is refused first, whichever way: a
parser keeps only one of the two, so the client and the server could read different
requests.
"""

from __future__ import annotations

import json
from functools import cache
from types import NoneType, UnionType
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from ..errors import InvalidRequest
from . import refusals

# The annotations a hand check can take, and the Python types json.loads gives for the JSON
# values strict validation accepts for them (`type(v) is int`: a JSON true is no credits).
_SIMPLE = {int: (int,), str: (str,), bool: (bool,)}


class _Repeated(Exception):
    """A JSON object names one key twice (raised from the decoder's pairs hook)."""


def _no_repeats(pairs: list[tuple[str, Any]]) -> dict:
    seen: dict = {}
    for key, value in pairs:
        if key in seen:
            raise _Repeated(key)
        seen[key] = value
    return seen


def duplicated_key(raw: bytes) -> str | None:
    """The first key a JSON object in `raw` repeats, or None. Bodies are capped small
    (body_limit.py), so parsing twice on the slow path costs nothing worth saving."""
    try:
        json.loads(raw, object_pairs_hook=_no_repeats)
    except _Repeated as repeated:
        return str(repeated.args[0])[:80]
    except (ValueError, RecursionError):
        return None      # not JSON: pydantic says what is wrong with it
    return None


def read_body(raw: bytes, model: type[BaseModel]) -> BaseModel | InvalidRequest:
    """`raw` as `model` (an empty body is `{}`), or the InvalidRequest to answer."""
    source = raw if raw.strip() else b"{}"
    fields = _plain_fields(model)
    if fields is not None:
        try:
            values = json.loads(source.decode("utf-8"), object_pairs_hook=_no_repeats)
        except _Repeated as repeated:
            return _twice(str(repeated.args[0])[:80])
        except (ValueError, RecursionError):
            values = None       # not UTF-8 or not JSON: pydantic words it
        if _plainly_valid(values, fields):
            return model.model_construct(**values)
    repeated = duplicated_key(raw)
    if repeated is not None:
        return _twice(repeated)
    try:
        return model.model_validate_json(source)
    except ValidationError as error:
        return refusals.invalid_from_validation(error)


def _twice(key: str) -> InvalidRequest:
    return InvalidRequest(f"{key} is given twice in the body; send it once", field=key)


def _plainly_valid(values: Any, fields: dict[str, tuple[tuple[type, ...], bool]]) -> bool:
    if type(values) is not dict or not values.keys() <= fields.keys():
        return False
    for name, (types, required) in fields.items():
        if name not in values:
            if required:
                return False
            continue
        value = values[name]
        if type(value) not in types:
            return False
        # A lone surrogate (`"\ud800"`) is text to json.loads, invalid JSON to pydantic.
        if type(value) is str and not value.isascii() and not _utf8(value):
            return False
    return True


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@cache
def _plain_fields(model: type[BaseModel]) -> dict[str, tuple[tuple[type, ...], bool]] | None:
    """Field -> (the types json.loads gives that it accepts, whether it is required), if
    the model is strict, forbids extra fields, has no validators and every field is a plain
    int, str, bool or one of those or None, with no constraint and no alias; else None."""
    config = model.model_config
    decorators = model.__pydantic_decorators__
    if (config.get("strict") is not True or config.get("extra") != "forbid"
            or decorators.validators or decorators.field_validators
            or decorators.model_validators or decorators.root_validators):
        return None
    fields: dict[str, tuple[tuple[type, ...], bool]] = {}
    for name, info in model.model_fields.items():
        types = _json_types(info.annotation)
        if types is None or info.metadata or info.alias not in (None, name):
            return None
        fields[name] = (types, info.is_required())
    return fields


def _json_types(annotation: Any) -> tuple[type, ...] | None:
    if annotation in _SIMPLE:
        return _SIMPLE[annotation]
    if isinstance(annotation, UnionType):
        members = get_args(annotation)
        if len(members) == 2 and NoneType in members:
            other = next(m for m in members if m is not NoneType)
            if other in _SIMPLE:
                return (*_SIMPLE[other], NoneType)
    return None
