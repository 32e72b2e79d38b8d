"""Margin backtests (FORMATS.md ``xmargin backtest``): a fixed portfolio margined every day with what the model
could know that day, against the loss the next ``horizon`` days brought.

- Day ``t`` is a history row: the market is that day's close (``valuation_time`` = midnight after it, index
  = the close, ATM implied vol from the history where it has one), the portfolio's futures and perpetuals
  are entered at that close (``risk.pin_entries``), and the model's initial margin is computed from that
  market and, for a historical model, the history up to ``t`` (the model itself cuts at the valuation day).
- The loss is the portfolio's value at ``t`` minus its value at ``t + h`` (positions repriced at the later
  close and vol; funding not included). A breach is ``loss > margin``.
- Observations are every ``h``-th day, so they do not overlap and the breach series suits the independence
  test (FORMATS.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from xmargin.core import InputError
from xmargin.instruments import Kind, Portfolio
from xmargin.margin import HistoricalModel, MarginModel
from xmargin.market import STABLECOINS, MarketSnapshot, PriceHistory, close_time
from xmargin.risk import Book, InstrumentTable, equity_usd, pin_entries, resolve_instruments
from xmargin.sim import _backtest_stats as st
from xmargin.sim._backtest_types import BacktestReport

if TYPE_CHECKING:
    import pandas as pd

FloatArray = NDArray[np.float64]
HORIZONS = (1, 2, 5)
DEFAULT_WARMUP_DAYS = 365
"""A backtest starts at the earliest a year after the history's first common day (a historical model needs a
history to draw from); a short history keeps a third of its span instead."""
MIN_WARMUP_DAYS = 60
"""A short history (``deribit-2026``) keeps a third of its span, at least this many days, for the lookback."""
REALISED_VOL_LAMBDA = 0.94
"""Where the history has no implied vol, options are valued at the EWMA realised vol (RiskMetrics λ)."""


@dataclass(frozen=True, slots=True)
class BacktestConfig:
    horizon_days: int = 1
    confidence: float = 0.99
    window: int = 250
    start: date | None = None
    end: date | None = None

    def __post_init__(self) -> None:
        if self.horizon_days not in HORIZONS:
            raise InputError(where="--horizon", expected="1d, 2d or 5d", found=f"{self.horizon_days}d")
        if not 0.5 <= self.confidence < 1.0:
            raise InputError(
                where="--confidence", expected="a level in [0.5, 1), e.g. 0.99", found=self.confidence
            )
        if self.window < 10:
            raise InputError(where="--window", expected="at least 10 observations", found=self.window)
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise InputError(where="--to", expected=f"a date after --from {self.start}", found=str(self.end))


def _underlyings(portfolio: Portfolio) -> tuple[str, ...]:
    return tuple(sorted({p.instrument.base for p in portfolio.positions} - set(STABLECOINS)))


def _realised_vol(history: PriceHistory) -> FloatArray:
    """Annualised EWMA realised vol per day and underlying, from returns up to that day."""
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.vstack([np.full((1, history.close.shape[1]), np.nan), np.diff(np.log(history.close), axis=0)])
    out = np.full_like(r, np.nan)
    for u in range(r.shape[1]):
        var = np.nan
        for t in range(r.shape[0]):
            x = r[t, u]
            if np.isfinite(x):
                var = (
                    x * x
                    if not np.isfinite(var)
                    else REALISED_VOL_LAMBDA * var + (1 - REALISED_VOL_LAMBDA) * x * x
                )
            out[t, u] = np.sqrt(var * 365.0)
    return out


def _market(history: PriceHistory, t: int, vols: FloatArray | None) -> MarketSnapshot:
    day = history.dates[t].astype(object)
    index = {u: float(history.close[t, k]) for k, u in enumerate(history.underlyings)}
    vol: dict[str, float] = {}
    if vols is not None:
        vol = {u: float(vols[t, k]) for k, u in enumerate(history.underlyings) if np.isfinite(vols[t, k])}
    return MarketSnapshot(
        valuation_time=close_time(day), index_usd=index, vol=vol, source=f"history {history.name} {day}"
    )


def backtest(
    portfolio: Portfolio,
    model: MarginModel,
    history: PriceHistory,
    config: BacktestConfig = BacktestConfig(),
    *,
    portfolio_name: str = "portfolio",
) -> tuple[BacktestReport, pd.DataFrame]:
    """Run the backtest (module docstring); returns the report and the series (FORMATS.md columns)."""
    import pandas as pd

    unders = _underlyings(portfolio)
    if not unders:
        raise InputError(
            where=portfolio_name, expected="a position on a coin with a price history", found="none"
        )
    hist = history.select(unders)
    h = config.horizon_days
    have = np.isfinite(hist.close).all(axis=1)
    if not have.any():
        raise InputError(
            where=f"history {hist.name}", expected=f"days with prices of {', '.join(unders)}", found="none"
        )
    first, last = int(np.flatnonzero(have)[0]), int(np.flatnonzero(have)[-1])
    warmup = min(DEFAULT_WARMUP_DAYS, max(MIN_WARMUP_DAYS, (last - first) // 3))
    earliest = first + warmup
    t0 = (
        earliest
        if config.start is None
        else int(np.searchsorted(hist.dates, np.datetime64(config.start, "D")))
    )
    warnings: list[str] = list(hist.warnings)
    if t0 < earliest:
        warnings.append(
            f"the backtest starts {hist.dates[min(earliest, last)]}, not {config.start}: the first "
            f"{warmup} days of the common history of {', '.join(unders)} are kept for the models' lookback"
        )
        t0 = earliest
    t_end = (
        last
        if config.end is None
        else min(last, int(np.searchsorted(hist.dates, np.datetime64(config.end, "D"), side="right")) - 1)
    )
    days = np.arange(t0, t_end - h + 1, h)
    if days.size < 2:
        raise InputError(
            where="--from/--to",
            expected=f"at least 2 observations of {h} day(s) within the history of {', '.join(unders)} "
            f"({hist.dates[first]} .. {hist.dates[last]})",
            found=f"{max(days.size, 0)}",
        )
    has_options = any(p.instrument.kind is Kind.OPTION for p in portfolio.positions)
    vols: FloatArray | None = None
    if has_options:
        if hist.iv is not None and np.isfinite(hist.iv[days]).all():
            vols = hist.iv
        else:
            vols = _realised_vol(hist)
            warnings.append(
                f"history {hist.name} has no implied vol on every day: options valued at the EWMA realised vol"
            )
    if isinstance(model, HistoricalModel):  # its MPOR is the backtest's horizon, its history the backtest's
        model = model.with_horizon(h)
        if isinstance(model, HistoricalModel):
            model = model.with_history(history)
    book = Book.from_portfolio(portfolio)
    margin = np.empty(days.size)
    loss = np.empty(days.size)
    notional = np.empty(days.size)
    model_warnings: dict[str, None] = {}
    markets: dict[int, tuple[MarketSnapshot, InstrumentTable]] = {}

    def at(t: int) -> tuple[MarketSnapshot, InstrumentTable]:
        if t not in markets:  # day t + h is the next observation's day t: built once
            m = _market(hist, t, vols)
            markets[t] = (m, resolve_instruments(book.columns, m))
        return markets[t]

    size = abs(book.q)  # pinning only sets entry prices: the sizes are the book's every day
    for k, t in enumerate(days.tolist()):
        (m0, tab0), (_, tab1) = at(t), at(t + h)
        pinned = pin_entries(book, m0, table=tab0)
        res = model.requirement(pinned, m0, detail=False)
        model_warnings.update(dict.fromkeys(res.warnings))
        margin[k] = float(res.initial_margin[0])
        loss[k] = float(equity_usd(pinned, tab0)[0] - equity_usd(pinned, tab1)[0])
        notional[k] = float((size @ np.where(tab0.is_spot, 0.0, tab0.index_usd))[0])
        markets.pop(t, None)
    warnings.extend(w for w in model_warnings if w not in warnings)
    breach = loss > margin
    pct = np.where(notional > 0, margin / np.where(notional > 0, notional, 1.0) * 100.0, np.nan)
    dates = hist.dates[days]
    end_dates = hist.dates[days + h]
    series = pd.DataFrame({"date": dates.astype(str), "end_date": end_dates.astype(str)})
    for j, u in enumerate(unders):
        series[f"price_{u}"] = hist.close[days, j]
        series[f"end_price_{u}"] = hist.close[days + h, j]
    series["margin_usd"] = margin
    series["loss_usd"] = loss
    series["breach"] = breach
    series["notional_usd"] = notional
    series["margin_pct_notional"] = pct
    report = summarize(
        series,
        model=model_name(model),
        config=config,
        portfolio=portfolio_name,
        history=hist.name,
        underlyings=unders,
        warnings=tuple(warnings),
    )
    return report, series


def model_name(model: MarginModel) -> str:
    """``pm`` with its default preset shows as ``pm-deribit``: the preset is what a reader compares; a model
    run on a preset named after another kind shows both (``isolated`` on ``cross-fixed``: ``isolated
    (cross-fixed)``), so two models on one preset never share a name."""
    preset = model.preset_name
    if not preset:
        return model.name
    return preset if preset.startswith(model.name) else f"{model.name} ({preset})"


def summarize(
    series: pd.DataFrame,
    *,
    model: str,
    config: BacktestConfig,
    portfolio: str,
    history: str,
    underlyings: tuple[str, ...],
    warnings: tuple[str, ...] = (),
) -> BacktestReport:
    """The statistics of a backtest series (FORMATS.md ``backtest --json``)."""
    hits = series["breach"].to_numpy(dtype=bool)
    margin = series["margin_usd"].to_numpy(dtype=float)
    loss = series["loss_usd"].to_numpy(dtype=float)
    notional = series["notional_usd"].to_numpy(dtype=float)
    dates = series["date"].to_numpy().astype("datetime64[D]")
    n, x = int(hits.size), int(hits.sum())
    p = 1.0 - config.confidence
    return BacktestReport(
        model=model,
        horizon_days=config.horizon_days,
        confidence=config.confidence,
        observations=n,
        breaches=x,
        breach_rate=x / n,
        expected_breaches=n * p,
        kupiec=st.kupiec(n, x, p),
        christoffersen=st.christoffersen(hits, p),
        traffic_light=st.traffic_light(hits, dates, config.window, config.confidence),
        procyclicality=st.procyclicality(dates, series["margin_pct_notional"].to_numpy(dtype=float)),
        margin_usd=st.spread(margin),
        margin_pct_notional=st.spread(series["margin_pct_notional"].to_numpy(dtype=float)),
        loss_q99_pct_notional=st.loss_quantile_pct(loss, notional, 0.99),
        shortfall_usd=st.shortfall(margin, loss),
        excess_p_value=st.excess_p_value(n, x, p),
        portfolio=portfolio,
        history=history,
        start=str(dates[0]),
        end=str(series["end_date"].iloc[-1]),
        underlyings=underlyings,
        warnings=warnings,
    )


__all__ = ["HORIZONS", "BacktestConfig", "backtest", "model_name", "summarize"]
