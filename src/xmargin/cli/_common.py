"""What every command shares: error handling, JSON output, rich console."""

from __future__ import annotations

import functools
import json
import math
import os
import sys
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import typer
from rich.console import Console

from xmargin.core import InputError, InputErrors, XmarginError

P = ParamSpec("P")
R = TypeVar("R")

EXIT_OK = 0
EXIT_FAULT = 1
EXIT_BAD_INPUT = 2
EXIT_REFUSED = 3

console = Console()
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


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


def print_json(doc: Any) -> None:
    """Print one JSON document on standard output and nothing else (NaN/inf become null)."""
    sys.stdout.write(json.dumps(_clean(doc), indent=2, sort_keys=False) + "\n")
    sys.stdout.flush()


def _error_lines(exc: InputError) -> list[str]:
    errors = exc.errors if isinstance(exc, InputErrors) else (exc,)
    return [f"error: {e}".replace("\n", " ") for e in errors]


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


def fmt(x: float | None, digits: int = 2) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{x:,.{digits}f}"


def fmt_sig(x: float | None, sig: int = 6) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{x:.{sig}g}"
