"""Golden: the ``pm-deribit-correlated`` preset and the 80% cap of EMIR RTS 153/2013 Art. 27(4).

Art. 27(4) caps a portfolio credit across instruments at 80% of (the sum of the margins of each product
calculated on its own − the margin of a combined estimation of the portfolio's exposure). ``pm`` takes back
``c·(Σ − largest)`` of its per-underlying requirements; ``c`` is calibrated by
``benchmarks/calibrate_correlation_offset.py`` (docs/margin.md, ``pm-deribit-correlated``).

- the preset loads and its model combines parts as ``Σ − c·(Σ − max)`` with the shipped ``c``;
- for the ``btc_eth_pair`` backtest book on four crash days, the credit ``IM(pm-deribit) −
  IM(pm-deribit-correlated)`` is at most 0.8 × (``IM(pm-deribit)`` − the 99% ES of the pair's 2-day loss over
  the 365 days up to the day), the ES computed here with numpy alone;
- the calibration script is deterministic and finds the shipped ``c``.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from datetime import date
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from xmargin.instruments import load_portfolio
from xmargin.margin import PortfolioMargin, load_pm_preset, resolve_model
from xmargin.market import PriceHistory, load_history
from xmargin.risk import Book
from xmargin.sim._backtest import _market

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "calibrate_correlation_offset.py"
PAIR = ROOT / "examples" / "backtest" / "btc_eth_pair.yaml"
PRESET = "pm-deribit-correlated"
CRASH_DAYS = (date(2020, 3, 12), date(2021, 5, 19), date(2022, 5, 9), date(2022, 11, 8))
CAP = 0.8
WINDOW = 365
HORIZON = 2


def shipped_c() -> float:
    return load_pm_preset(PRESET).combine.correlation_offset


@pytest.fixture(scope="module")
def history() -> PriceHistory:
    return load_history("crypto-daily")


@pytest.fixture(scope="module")
def calibration_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("calibrate_correlation_offset", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


# -- (i) the preset and its combine ---------------------------------------------------------------------
def test_preset_is_pm_deribit_but_for_the_offset() -> None:
    base = load_pm_preset("pm-deribit").model_dump(exclude={"name", "description", "sources", "combine"})
    corr = load_pm_preset(PRESET)
    assert corr.model_dump(exclude={"name", "description", "sources", "combine"}) == base
    assert set(load_pm_preset("pm-deribit").sources) < set(corr.sources)  # D1-D4 kept, E1 and K1 added
    assert "153/2013" in corr.sources["E1"] and "27(4)" in corr.sources["E1"]
    assert 0.0 <= corr.combine.correlation_offset <= 1.0


def test_resolved_model_combines_with_the_shipped_offset() -> None:
    model = resolve_model(PRESET)
    assert isinstance(model, PortfolioMargin) and model.preset_name == PRESET
    c = shipped_c()
    parts = np.array([[825.0, 399.0], [100.0, 300.0], [0.0, 50.0], [0.0, 0.0]])
    want = [a + b - c * (a + b - max(a, b)) for a, b in parts.tolist()]
    assert model.combine(parts).tolist() == pytest.approx(want, rel=1e-15, abs=0.0)


def test_the_closed_form_with_a_nonzero_offset() -> None:
    """The same formula, exercised where it matters: the preset with c = 0.37 (a mapping, not shipped)."""
    doc = load_pm_preset(PRESET).model_dump()
    doc["combine"] = {"correlation_offset": 0.37}
    parts = np.array([[825.0, 399.0], [100.0, 300.0]])
    got = PortfolioMargin(doc).combine(parts)
    assert got.tolist() == pytest.approx([1224.0 - 0.37 * 399.0, 400.0 - 0.37 * 100.0], rel=1e-15)


# -- (ii) the 80% cap on the btc_eth_pair book in crash windows -------------------------------------------
def pair_es99(history: PriceHistory, t: int, sizes: dict[str, float]) -> float:
    """99% ES of the book's 2-day loss over the ``WINDOW`` overlapping 2-day returns ending on row ``t``,
    today's positions at today's closes (unfiltered historical simulation), by numpy alone."""
    rows = np.arange(t - WINDOW + 1, t + 1)
    pnl = np.zeros(WINDOW)
    for u, q in sizes.items():
        close = history.close[:, history.column(u)]
        ret = close[rows] / close[rows - HORIZON] - 1.0
        assert np.isfinite(ret).all()
        pnl += q * close[t] * ret
    k = math.ceil(WINDOW * 0.01)  # 4 of 365 scenarios
    return float(np.sort(-pnl)[-k:].mean())


@pytest.mark.parametrize("day", CRASH_DAYS, ids=str)
def test_credit_is_within_80_percent_of_the_diversification(history: PriceHistory, day: date) -> None:
    pf = load_portfolio(PAIR)
    sizes = {p.instrument.base: p.size_coin for p in pf.positions}
    assert sizes == {"BTC": 1.0, "ETH": -20.0}
    t = history.day_index(day)
    assert str(history.dates[t]) == day.isoformat()
    market = _market(history, t, None)
    book = Book.from_portfolio(pf)
    standalone = float(resolve_model("pm-deribit").requirement(book, market).initial_margin[0])
    correlated = float(resolve_model(PRESET).requirement(book, market).initial_margin[0])
    combined = pair_es99(history, t, sizes)
    credit = standalone - correlated
    assert credit >= -1e-9
    assert credit <= CAP * (standalone - combined) + 1e-9
    # the cap leaves room for a credit here: the pair diversifies in each of these windows
    assert standalone > combined


# -- (iii) the calibration -------------------------------------------------------------------------------
def test_calibration_is_deterministic_and_is_the_shipped_value(calibration_script: ModuleType) -> None:
    first = calibration_script.calibrate()
    second = calibration_script.calibrate()
    assert first == second
    assert first.c == shipped_c()
    assert first.first_window_end == "2018-08-19" and first.last_window_end == "2024-02-19"
    by_book = {b.book: b for b in first.books}
    assert set(by_book) == {"long-short", "long-long"}
    assert first.minimum_c_max == min(b.min_c_max for b in first.books)
    # the rule of the script: the minimum over windows and books, rounded down, and 0 if it is <= 0
    expected = (
        max(math.floor(first.minimum_c_max * 100 + 1e-9) / 100, 0.0) if first.minimum_c_max > 0 else 0.0
    )
    assert first.c == expected
    assert [d for d, _ in by_book["long-short"].crash_c_max] == [d.isoformat() for d in CRASH_DAYS]


def test_c_max_is_the_cap_solved_for_c(calibration_script: ModuleType) -> None:
    """``c·(Σ − largest) = 0.8·(Σ − combined)`` at ``c = c_max``."""
    standalone = np.array([[0.18, 0.23], [0.10, 0.10]])
    combined = np.array([0.21, 0.20])
    c = calibration_script.c_max(standalone, combined)
    total, largest = standalone.sum(axis=1), standalone.max(axis=1)
    assert (c * (total - largest)).tolist() == pytest.approx((CAP * (total - combined)).tolist(), rel=1e-12)
    assert c[1] == 0.0  # no diversification, no credit
