"""What every command shares: error handling, JSON output, rich consoles, flag names in errors.

Library errors name the library's parameters (``model``, ``ReplayConfig.vol_beta``); :func:`flags` maps
them onto the command's own flags (``--model``, ``--vol-beta``) where the CLI passes a flag straight through,
so that the one ``error:`` line names what the user typed.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import sys
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec, TypeVar

import typer
from rich.console import Console

from xmargin.core import InputError, InputErrors, XmarginError, renamed_wheres, to_data

P = ParamSpec("P")
R = TypeVar("R")

EXIT_OK = 0
EXIT_FAULT = 1
EXIT_BAD_INPUT = 2
EXIT_REFUSED = 3
VALIDATE_ENV = "XMARGIN_VALIDATE_JSON"
"""When set (the test suite sets it), every ``--json`` document is validated against its shipped schema
before it is printed; a mismatch is a fault (exit 1)."""
WIDE = 240
"""Columns of a console that is not a terminal (a pipe, a file): wide enough that no number is truncated."""


def quiet_broken_pipe() -> None:
    """The reader went away (``xmargin ... | head -1``): stop quietly with exit 0, as ``cat`` does, rather
    than a traceback or exit 1; standard output is pointed at /dev/null so no later flush fails again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


class _Console(Console):
    def on_broken_pipe(self) -> None:
        """Rich exits 1 when the reader goes away; xmargin exits 0 (:func:`quiet_broken_pipe`)."""
        quiet_broken_pipe()
        raise SystemExit(EXIT_OK)


def _console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    tty = stream.isatty()
    width = None if tty or os.environ.get("COLUMNS") else WIDE
    return _Console(stderr=stderr, width=width, highlight=False, soft_wrap=stderr)


console = _console()
err_console = _console(stderr=True)


def _clean(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return _clean(obj.item())
    return obj


def json_data(doc: Any) -> Any:
    """A typed result (a dataclass) through the one serializer, or a plain document cleaned of NaN."""
    if hasattr(doc, "__dataclass_fields__"):
        return to_data(doc)
    if hasattr(doc, "model_dump"):
        return _clean(doc.model_dump(mode="json"))
    return _clean(doc)


def print_json(doc: Any, *, schema: str) -> None:
    """Print one JSON document on standard output and nothing else (NaN/inf become null). ``schema``: the
    shipped JSON Schema it follows (``xmargin schema NAME``); validated when ``$XMARGIN_VALIDATE_JSON``."""
    data = json_data(doc)
    if os.environ.get(VALIDATE_ENV):
        from xmargin.cli._schemas import validate

        validate(data, schema)
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False) + "\n")
    sys.stdout.flush()


def _error_lines(exc: InputError) -> list[str]:
    errors = exc.errors if isinstance(exc, InputErrors) else (exc,)
    return [f"error: {e}".replace("\n", " ") for e in errors]


def flags(mapping: Mapping[str, str]) -> contextlib.AbstractContextManager[None]:
    """Rename library parameter names in the ``where`` of bad input to the command's flags: a ``where``
    equal to a key, or starting with ``key:`` / ``key.``, is reported under the flag instead."""
    return renamed_wheres(mapping, separators=(":", "."))


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Run a command: bad input -> one line per problem and exit 2; other faults -> exit 1, no traceback."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except InputError as exc:
            for line in _error_lines(exc):
                err_console.print(line, markup=False)
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except XmarginError as exc:
            err_console.print(f"error: {exc}", markup=False)
            raise typer.Exit(EXIT_FAULT) from None
        except BrokenPipeError:
            quiet_broken_pipe()
            raise typer.Exit(EXIT_OK) from None
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            if os.environ.get("XMARGIN_DEBUG"):
                raise
            err_console.print(
                f"error: internal fault: {type(exc).__name__}: {exc} (set XMARGIN_DEBUG=1 for a traceback)",
                markup=False,
            )
            raise typer.Exit(EXIT_FAULT) from None

    return wrapper


def warn(lines: tuple[str, ...] | list[str]) -> None:
    """The warnings of a result, one ``warning:`` line each on standard error (the tables' output)."""
    for w in lines:
        err_console.print(f"warning: {w}", markup=False)


def fmt(x: float | None, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    text = f"{x:,.{digits}f}"
    return text[1:] if text.startswith("-") and not text.strip("-0.,") else text  # no "-0.00"


def fmt_sig(x: float | None, sig: int = 6) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{x:.{sig}g}"


def money_digits(currency: str) -> int:
    return 2 if currency in ("USD", "USDC", "USDT") else 6
