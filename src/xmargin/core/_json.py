"""One serializer and one schema generator for every typed result (FORMATS.md JSON output).

Results are frozen dataclasses of plain values (floats, strings, tuples, mappings, nested dataclasses).
:func:`to_data` turns one into JSON-ready data; :func:`json_schema` gives the JSON Schema of its type. Both
come from the same pydantic ``TypeAdapter``, so the schema describes exactly what the serializer writes.
Non-finite floats become ``null`` (a schema whose field is a plain number then rejects them: a NaN in an
output is a bug the tests catch).
"""

from __future__ import annotations

import math
from collections.abc import Hashable
from functools import cache
from typing import Any, cast

from pydantic import TypeAdapter

SCHEMA_VERSION = 1
"""Raised only when a field's meaning changes (FORMATS.md)."""


@cache
def _adapter(tp: Hashable) -> TypeAdapter[Any]:
    return TypeAdapter(cast(Any, tp))


def _finite(x: Any) -> Any:
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_finite(v) for v in x]
    return x


def to_data(obj: Any, tp: Any = None) -> Any:
    """``obj`` (a typed result, of type ``tp`` if given) as JSON-ready data."""
    return _finite(_adapter(cast(Hashable, type(obj) if tp is None else tp)).dump_python(obj, mode="json"))


def json_schema(tp: Any, *, title: str | None = None) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of what :func:`to_data` writes for values of ``tp``."""
    schema = dict(_adapter(cast(Hashable, tp)).json_schema(mode="serialization"))
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
    if title is not None:
        schema["title"] = title
    return schema
