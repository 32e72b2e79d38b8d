"""Reading user documents (YAML or JSON) and turning validation failures into ``InputError`` lines."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from xmargin.core._errors import InputError, InputErrors


def load_document(path: str | Path) -> Any:
    """Parse a YAML or JSON file (JSON is YAML); a missing file or a syntax error is bad input."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(where=str(p), expected="an existing file", found="no such file") from None
    except IsADirectoryError:
        raise InputError(where=str(p), expected="a file", found="a directory") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(
            where=str(p), expected="a readable UTF-8 text file", found=type(exc).__name__
        ) from None
    if p.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(
                where=f"{p}:{exc.lineno}:{exc.colno}", expected="valid JSON", found=exc.msg
            ) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{p}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(p)
        problem = getattr(exc, "problem", None) or "a syntax error"
        raise InputError(where=where, expected="valid YAML or JSON", found=str(problem)) from None


_EXPECTED = {
    "missing": "this required field",
    "dict_type": "a mapping of key: value",
    "float_type": "a number",
    "float_parsing": "a number",
    "int_type": "an integer",
    "string_type": "a string",
    "finite_number": "a finite number",
    "bool_type": "true or false",
    "list_type": "a list",
}


def input_errors(exc: ValidationError, *, source: str, allowed_keys: Iterable[str] = ()) -> InputErrors:
    """One ``InputError`` per pydantic error, located as ``source: a.b.c``."""
    out: list[InputError] = []
    allowed = ", ".join(allowed_keys)
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"] if x != "__root__")
        where = f"{source}: {loc}" if loc else source
        kind = err["type"]
        ctx = err.get("ctx") or {}
        found: object = err.get("input")
        if kind == "missing":
            found = "nothing"
        if kind == "extra_forbidden":
            expected = f"only the known keys ({allowed})" if allowed else "no such key"
            found = f"unknown key {err['loc'][-1]!s}"
        elif kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
            op = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}[
                kind
            ]
            bound = next(iter(ctx.values()))
            expected = f"a number {op} {bound}"
        elif kind == "value_error" and isinstance(ctx.get("error"), InputError):
            inner: InputError = ctx["error"]
            out.append(
                InputError(
                    where=f"{where}: {inner.where}" if inner.where else where,
                    expected=inner.expected,
                    found=inner.found,
                )
            )
            continue
        else:
            expected = _EXPECTED.get(kind, err["msg"])
        out.append(InputError(where=where, expected=expected, found=found))
    return InputErrors(out)
