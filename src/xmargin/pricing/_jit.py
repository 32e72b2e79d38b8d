"""Compiling one kernel twice: parallel for large inputs, serial for small ones.

numba names its on-disk cache after the Python function, so two dispatchers built from the *same* function
object share cache entries and one silently loads the other's machine code (the parallel build then runs
serially). Each build therefore gets its own function object with its own qualified name.
"""

from __future__ import annotations

import contextlib
import types
from collections.abc import Callable, Iterator
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


@contextlib.contextmanager
def kernel_threads(n: int | None) -> Iterator[None]:
    """Run the parallel kernels on ``n`` threads inside the block (``None``: numba's setting, unchanged).

    A crash replay calls the kernels thousands of times on ~10^4-10^5 options each, one call after the
    other: a fork/join per call costs more than it saves when the cores are shared (measured on this
    project's 2-core machine under load: a 25k-option price call 2.1 ms on one thread against 16 ms on two,
    the input check 0.04 ms against 12.7 ms), and a Monte Carlo runs its paths in parallel already (one
    worker process per core, each single-threaded: no nested parallelism). Results do not depend on the
    thread count (every option is priced on its own; the input check only counts). ``numba.set_num_threads``
    is per calling thread; the previous value is restored on exit."""
    if n is None:
        yield
        return
    if n < 1:
        raise ValueError(f"kernel_threads: expected n >= 1, found {n}")
    before = nb.get_num_threads()
    nb.set_num_threads(min(n, int(nb.config.NUMBA_NUM_THREADS)))  # type: ignore[attr-defined]
    try:
        yield
    finally:
        nb.set_num_threads(before)
