"""Throughput of ``xmargin.pricing.black76`` (price + delta, gamma, vega, theta) vs QuantLib and py_vollib.

The same random options feed all three. xmargin prices all ``n`` in one vectorised call (best of
``repeats`` after a warm-up that loads the compiled kernels). The references price the first
``reference_sample`` options one at a time in a Python loop, which is how they are called; each is timed once
after a short warm-up (their loops run long enough for timer noise not to matter), and every figure is
converted to options per second.

- QuantLib: ``BlackCalculator(PlainVanillaPayoff, F, vol·√T, exp(−rT))`` then ``value()``, ``delta(F)``,
  ``gamma(F)``, ``vega(T)``, ``theta(F, T)`` per option.
- py_vollib: ``py_vollib.black.black`` and ``py_vollib.black.greeks.analytical``'s ``delta``, ``gamma``,
  ``vega``, ``theta`` per option.

A library that is not installed is reported as ``None`` (and so is any ratio that needs it).
"""

from __future__ import annotations

import importlib
import math
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

import numba
import numpy as np
from numpy.typing import NDArray

from xmargin.core import InputError
from xmargin.pricing import black76

_WARMUP_OPTIONS = 200


@dataclass(frozen=True, slots=True)
class _Options:
    """Random option inputs, each of shape (n,)."""

    forward: NDArray[np.float64]
    strike: NDArray[np.float64]
    t_years: NDArray[np.float64]
    vol: NDArray[np.float64]
    is_call: NDArray[np.bool_]
    rate: NDArray[np.float64]

    def head(self, m: int) -> _Options:
        return _Options(
            self.forward[:m], self.strike[:m], self.t_years[:m], self.vol[:m], self.is_call[:m], self.rate[:m]
        )

    def rows(self) -> list[tuple[float, float, float, float, bool, float]]:
        """Plain Python rows (F, K, T, vol, is_call, rate) for the per-option reference loops."""
        return list(
            zip(
                self.forward.tolist(),
                self.strike.tolist(),
                self.t_years.tolist(),
                self.vol.tolist(),
                self.is_call.tolist(),
                self.rate.tolist(),
                strict=True,
            )
        )


def _random_options(n: int, seed: int) -> _Options:
    """Realistic crypto options: F 1e3..1e5 and T 1 day..2 years (log-uniform), K/F 0.5..2 (log-uniform),
    vol 0.2..1.5, rate 0..5%, calls and puts."""
    rng = np.random.default_rng(seed)
    forward = 10.0 ** rng.uniform(3.0, 5.0, n)
    return _Options(
        forward=forward,
        strike=forward * np.exp(rng.uniform(math.log(0.5), math.log(2.0), n)),
        t_years=np.exp(rng.uniform(math.log(1.0 / 365.0), math.log(2.0), n)),
        vol=rng.uniform(0.2, 1.5, n),
        is_call=rng.random(n) < 0.5,
        rate=rng.uniform(0.0, 0.05, n),
    )


def _xmargin_all_greeks(opts: _Options) -> None:
    black76(
        forward=opts.forward,
        strike=opts.strike,
        t_years=opts.t_years,
        vol=opts.vol,
        is_call=opts.is_call,
        rate=opts.rate,
    )


def _best_seconds(fn: Callable[[], None], repeats: int) -> float:
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _optional(module: str) -> ModuleType | None:
    try:
        with warnings.catch_warnings():  # py_vollib 1.0.12 warns that it is a shim over ``vollib``
            warnings.simplefilter("ignore", DeprecationWarning)
            return importlib.import_module(module)
    except ImportError:
        return None


def _quantlib_loop(rows: list[tuple[float, float, float, float, bool, float]]) -> Callable[[], None] | None:
    ql = _optional("QuantLib")
    if ql is None:
        return None
    call, put = ql.Option.Call, ql.Option.Put

    def run() -> None:
        for f, k, t, v, is_call, r in rows:
            bc = ql.BlackCalculator(
                ql.PlainVanillaPayoff(call if is_call else put, k), f, v * math.sqrt(t), math.exp(-r * t)
            )
            bc.value()
            bc.delta(f)
            bc.gamma(f)
            bc.vega(t)
            bc.theta(f, t)

    return run


def _py_vollib_loop(rows: list[tuple[float, float, float, float, bool, float]]) -> Callable[[], None] | None:
    black_mod = _optional("py_vollib.black")
    greeks = _optional("py_vollib.black.greeks.analytical")
    if black_mod is None or greeks is None:
        return None
    black, delta, gamma, vega, theta = black_mod.black, greeks.delta, greeks.gamma, greeks.vega, greeks.theta

    def run() -> None:
        for f, k, t, v, is_call, r in rows:
            flag = "c" if is_call else "p"
            black(flag, f, k, t, r, v)
            delta(flag, f, k, t, r, v)
            gamma(flag, f, k, t, r, v)
            vega(flag, f, k, t, r, v)
            theta(flag, f, k, t, r, v)

    return run


def _reference_throughput(
    make: Callable[[list[tuple[float, float, float, float, bool, float]]], Callable[[], None] | None],
    opts: _Options,
) -> float | None:
    """Options per second of a per-option reference loop over ``opts``, or None if it is not installed."""
    m = opts.forward.size
    if m == 0:
        return None
    warm = make(opts.head(min(m, _WARMUP_OPTIONS)).rows())
    run = make(opts.rows())
    if warm is None or run is None:
        return None
    warm()
    return m / _best_seconds(run, 1)


def bench_pricing(
    n: int = 1_000_000, *, seed: int = 0, repeats: int = 5, reference_sample: int = 20_000
) -> dict[str, object]:
    """Time Black-76 price + delta, gamma, vega, theta for ``n`` random options; compare with QuantLib and
    py_vollib on the first ``reference_sample`` of them.

    Returns ``seconds`` (xmargin, best of ``repeats``, for all ``n``), ``options``, ``options_per_second``,
    ``quantlib_options_per_second``, ``py_vollib_options_per_second`` (None when not installed),
    ``ratio`` (xmargin throughput / QuantLib throughput), ``ratio_vs_py_vollib`` and ``threads`` (numba).
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InputError(where="bench_pricing.n", expected="an integer >= 1", found=n)
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise InputError(where="bench_pricing.repeats", expected="an integer >= 1", found=repeats)
    if isinstance(reference_sample, bool) or not isinstance(reference_sample, int) or reference_sample < 0:
        raise InputError(
            where="bench_pricing.reference_sample", expected="an integer >= 0", found=reference_sample
        )

    opts = _random_options(n, seed)
    _xmargin_all_greeks(opts.head(_WARMUP_OPTIONS))  # load the compiled kernels
    _xmargin_all_greeks(opts)  # first touch of the full-size arrays
    seconds = _best_seconds(lambda: _xmargin_all_greeks(opts), repeats)
    xmargin_ops = n / seconds

    sample = opts.head(min(reference_sample, n))
    quantlib_ops = _reference_throughput(_quantlib_loop, sample)
    py_vollib_ops = _reference_throughput(_py_vollib_loop, sample)
    return {
        "seconds": seconds,
        "ratio": None if quantlib_ops is None else xmargin_ops / quantlib_ops,
        "options": n,
        "options_per_second": xmargin_ops,
        "quantlib_options_per_second": quantlib_ops,
        "py_vollib_options_per_second": py_vollib_ops,
        "ratio_vs_py_vollib": None if py_vollib_ops is None else xmargin_ops / py_vollib_ops,
        "threads": int(numba.get_num_threads()),
    }
