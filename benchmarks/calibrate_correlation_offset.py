"""Calibrate ``combine.correlation_offset`` of the ``pm-deribit-correlated`` preset from the shipped history.

``pm`` sums its per-underlying requirements and, with an offset ``c``, takes back ``c·(Σ − largest)``.
EMIR RTS 153/2013 (Commission Delegated Regulation (EU) No 153/2013) Art. 27(4) caps such a portfolio
credit: the reduction may not exceed 80% of the difference between the sum of the margins of each product
calculated on its own and the margin of a combined estimation of the portfolio's exposure. An offset ``c``
obeys the cap for a book when

    c·(Σ standalone − largest) ≤ 0.8·(Σ standalone − combined),  i.e.  c ≤ c_max = 0.8·(Σ − combined)/(Σ − largest).

Method (every choice fixed here, nothing tuned):

- BTC and ETH daily closes of ``load_history("crypto-daily")`` over their common history (2017-08-18 ..
  2024-02-19); overlapping 2-day simple returns ``R[t] = P[t]/P[t−2] − 1``, one per day;
- two books of equal USD notional: long-short (+1 BTC, −1 ETH) and long-long (+1 BTC, +1 ETH); a leg's
  2-day loss in a scenario is ``−w·R``, the book's is the sum of its legs';
- every requirement is the 99% expected shortfall (``xmargin.risk.expected_shortfall``: the mean of the
  ⌈0.01·S⌉ largest of S equally weighted losses) of unfiltered historical 2-day losses over a rolling window
  of the 365 returns ending on each day (a window only once it lies wholly in the common history), and over
  the full sample; "standalone" is each leg's ES alone, "combined" the ES of the book's summed loss;
- ``c_max(t)`` as above for each window and book; the calibrated ``c`` is the minimum of ``c_max`` over all
  windows and both books (the credit must hold in every window, stress ones included), rounded down to 2
  decimals, and 0 if that minimum is ≤ 0;
- also printed: ``c_max`` of the windows ending at four crash days, and a cross-check in which the
  standalone requirement of a leg is ``pm-deribit``'s own charge on a USDC linear perpetual
  (``price_range + min_annualised_move`` of notional, read from the preset) instead of its ES (this is the
  reading ``tests/golden/test_correlation_offset.py`` checks on the ``btc_eth_pair`` book).

The result is deterministic (no sampling). ``tests/golden/test_correlation_offset.py`` checks that
``calibrate().c`` is the value shipped in ``pm-deribit-correlated.yaml``.

Usage::

    python benchmarks/calibrate_correlation_offset.py [--json]
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict, dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

from xmargin.margin import load_pm_preset
from xmargin.market import PriceHistory, load_history
from xmargin.risk import expected_shortfall

FloatArray = NDArray[np.float64]

HISTORY = "crypto-daily"
UNDERLYINGS = ("BTC", "ETH")
HORIZON_DAYS = 2
WINDOW_DAYS = 365
CONFIDENCE = 0.99
CAP = 0.8  # EMIR RTS 153/2013 Art. 27(4)
BOOKS: dict[str, tuple[float, float]] = {"long-short": (1.0, -1.0), "long-long": (1.0, 1.0)}
CRASH_DAYS = ("2020-03-12", "2021-05-19", "2022-05-09", "2022-11-08")
ZERO = 1e-9  # a c_max this close to 0 is 0 up to floating-point rounding


@dataclass(frozen=True, slots=True)
class BookCalibration:
    """``c_max`` of one book: over the rolling windows, at the crash days and over the full sample."""

    book: str
    weights: tuple[float, float]
    min_c_max: float
    min_day: str
    p05_c_max: float
    median_c_max: float
    no_credit_windows: int
    """windows whose c_max is ≤ ZERO (no credit at all: the ES of the book is the sum of its legs')"""
    crash_c_max: tuple[tuple[str, float], ...]
    full_sample_c_max: float
    pm_standalone_min_c_max: float
    """cross-check: the minimum when a leg's standalone requirement is pm-deribit's charge, not its ES"""
    pm_standalone_min_day: str
    pm_standalone_crash_c_max: tuple[tuple[str, float], ...]


@dataclass(frozen=True, slots=True)
class Calibration:
    c: float
    minimum_c_max: float
    first_window_end: str
    last_window_end: str
    windows: int
    books: tuple[BookCalibration, ...]


def common_returns(history: PriceHistory) -> tuple[NDArray[np.datetime64], FloatArray]:
    """The end day and the overlapping ``HORIZON_DAYS`` simple returns ``R[day, underlying]`` of the
    underlyings' common history."""
    hist = history.select(UNDERLYINGS)
    rows = np.flatnonzero(np.isfinite(hist.close).all(axis=1))
    first, last = int(rows[0]), int(rows[-1])
    close = hist.close[first : last + 1]
    returns = close[HORIZON_DAYS:] / close[:-HORIZON_DAYS] - 1.0
    return hist.dates[first + HORIZON_DAYS : last + 1], np.asarray(returns, dtype=np.float64)


def c_max(standalone: FloatArray, combined: FloatArray) -> FloatArray:
    """The largest offset the 80% cap allows: ``0.8·(Σ − combined)/(Σ − largest)`` (``standalone[..., leg]``)."""
    total = standalone.sum(axis=-1)
    return np.asarray(CAP * (total - combined) / (total - standalone.max(axis=-1)), dtype=np.float64)


def _rolling_es(loss: FloatArray) -> FloatArray:
    """ES99 of each window of ``WINDOW_DAYS`` consecutive losses, one per window end."""
    return expected_shortfall(np.ascontiguousarray(sliding_window_view(loss, WINDOW_DAYS)), CONFIDENCE)


def _round_down(x: float) -> float:
    return math.floor(round(x * 100.0, 9)) / 100.0


def _at(days: NDArray[np.datetime64], values: FloatArray) -> tuple[tuple[str, float], ...]:
    out = []
    for day in CRASH_DAYS:
        k = np.flatnonzero(days == np.datetime64(day, "D"))
        out.append((day, float(values[int(k[0])])))
    return tuple(out)


def _pm_standalone_rates() -> FloatArray:
    """pm-deribit's requirement on a USDC linear perpetual per USD of notional, BTC then ETH: the worst loss
    of the ±price_range grid plus the perpetual's roll shock (min_annualised_move)."""
    preset = load_pm_preset("pm-deribit")
    return np.array(
        [preset.params(u).price_range + preset.params(u).min_annualised_move for u in UNDERLYINGS],
        dtype=np.float64,
    )


def calibrate(history: PriceHistory | None = None) -> Calibration:
    """The calibration of the module docstring on ``history`` (default: the shipped ``crypto-daily``)."""
    days, returns = common_returns(history if history is not None else load_history(HISTORY))
    ends = days[WINDOW_DAYS - 1 :]
    pm_rates = _pm_standalone_rates()
    books = []
    for name, weights in BOOKS.items():
        w = np.array(weights, dtype=np.float64)
        legs = -returns * w  # loss of each leg, per USD of notional
        book = legs.sum(axis=1)
        standalone = np.stack([_rolling_es(legs[:, k]) for k in range(len(UNDERLYINGS))], axis=1)
        combined = _rolling_es(book)
        series = c_max(standalone, combined)
        full = c_max(expected_shortfall(legs.T, CONFIDENCE), expected_shortfall(book[None, :], CONFIDENCE))
        pm_series = c_max(np.broadcast_to(pm_rates * np.abs(w), standalone.shape), combined)
        i, j = int(np.argmin(series)), int(np.argmin(pm_series))
        books.append(
            BookCalibration(
                book=name,
                weights=weights,
                min_c_max=float(series[i]),
                min_day=str(ends[i]),
                p05_c_max=float(np.quantile(series, 0.05)),
                median_c_max=float(np.median(series)),
                no_credit_windows=int((series <= ZERO).sum()),
                crash_c_max=_at(ends, series),
                full_sample_c_max=float(full[0]),
                pm_standalone_min_c_max=float(pm_series[j]),
                pm_standalone_min_day=str(ends[j]),
                pm_standalone_crash_c_max=_at(ends, pm_series),
            )
        )
    minimum = min(b.min_c_max for b in books)
    c = max(_round_down(minimum), 0.0) if minimum > 0 else 0.0
    return Calibration(c, minimum, str(ends[0]), str(ends[-1]), int(ends.size), tuple(books))


def report(cal: Calibration) -> str:
    lines = [
        f"history {HISTORY} {'/'.join(UNDERLYINGS)}: {cal.windows} rolling windows of {WINDOW_DAYS} overlapping "
        f"{HORIZON_DAYS}-day returns, ending {cal.first_window_end} .. {cal.last_window_end}; ES{CONFIDENCE:.0%}",
        "c_max = 0.8·(Σ standalone − combined)/(Σ standalone − largest)  [EMIR RTS 153/2013 Art. 27(4)]",
    ]
    for b in cal.books:
        lines.append(f"\n{b.book} (weights {b.weights[0]:+g} BTC, {b.weights[1]:+g} ETH, equal notional)")
        lines.append(f"  min c_max        {b.min_c_max:+.4f}  (window ending {b.min_day})")
        lines.append(f"  5% / median      {b.p05_c_max:+.4f} / {b.median_c_max:+.4f}")
        lines.append(f"  windows with c_max ≤ 0 (to rounding): {b.no_credit_windows} of {cal.windows}")
        lines.append(f"  full sample      {b.full_sample_c_max:+.4f}")
        for day, v in b.crash_c_max:
            lines.append(f"  window to {day} {v:+.4f}")
        lines.append(
            f"  cross-check, pm-deribit standalone: min {b.pm_standalone_min_c_max:+.4f} "
            f"({b.pm_standalone_min_day}); crash days "
            + ", ".join(f"{v:+.4f}" for _, v in b.pm_standalone_crash_c_max)
        )
    verdict = (
        "minimum ≤ 0: no credit holds in every window, c = 0"
        if cal.minimum_c_max <= 0
        else f"c = minimum rounded down = {cal.c:.2f}"
    )
    lines.append(f"\nminimum c_max over windows and books: {cal.minimum_c_max:+.3g} -> {verdict}")
    lines.append(f"calibrated correlation_offset c = {cal.c:.2f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    cal = calibrate()
    print(json.dumps(asdict(cal), indent=2) if args.json else report(cal))


if __name__ == "__main__":
    main()
