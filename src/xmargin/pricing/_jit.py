"""Compiling one kernel twice: parallel for large inputs, serial for small ones.

numba names its on-disk cache after the Python function, so two dispatchers built from the *same* function
object share cache entries and one silently loads the other's machine code (the parallel build then runs
serially). Each build therefore gets its own function object with its own qualified name.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import numba as nb


def _renamed(fn: Callable[..., Any], suffix: str) -> Callable[..., Any]:
    clone = types.FunctionType(
        fn.__code__, fn.__globals__, fn.__name__ + suffix, fn.__defaults__, fn.__closure__
    )
    clone.__qualname__ = fn.__qualname__ + suffix
    clone.__module__ = fn.__module__
    return clone


def parallel_and_serial(fn: Callable[..., Any]) -> tuple[Any, Any]:
    """``(parallel build, serial build)`` of a kernel written with ``numba.prange``, cached separately."""
    return (
        nb.njit(cache=True, parallel=True)(_renamed(fn, "_par")),
        nb.njit(cache=True)(_renamed(fn, "_ser")),
    )
