"""Filtered historical simulation (FHS): joint historical scenarios rescaled to today's volatility, and
expected shortfall.

Method (Barone-Adesi, Giannopoulos & Vosper, "VaR without correlations for portfolios of derivative
securities", J. Futures Markets 19(5), 1999; the EWMA variance of J.P. Morgan/Reuters, RiskMetrics Technical
Document, 4th ed., 1996, §5.2.1):

- daily log returns ``r[t, u]`` of every underlying on one calendar, so a scenario is one historical day (or
  window) for all underlyings at once: correlations come from the data, not from a matrix;
- the EWMA variance forecast ``σ²[t] = λ σ²[t−1] + (1 − λ) r²[t−1]`` (``σ[t]`` uses returns before ``t``
  only), seeded with the mean square of an underlying's first ``WARMUP_DAYS`` returns, whose scenarios are
  not used;
- a horizon of ``h`` days uses **overlapping h-day log returns** ``R[t] = r[t−h+1] + … + r[t]`` (not √h
  scaling: fat tails and autocorrelation over the horizon stay in the data); each is rescaled by the ratio of
  today's volatility to the volatility when its window began, ``x = R · min(σ_now / σ[t−h+1], cap)``, and a
  scenario moves the price by ``exp(x) − 1``;
- implied vols move by the historical h-day log change of the 30-day ATM implied vol where the history has
  one (``iv_<U>``), otherwise by the change of the EWMA volatility forecast over the same window,
  ``σ[t+1] / σ[t−h+1]`` (a realised vol-of-vol proxy; xmargin's choice, documented in docs/backtest.md).

``HistoricalScenarios`` holds the same windows in several blocks: ``filtered`` (rescaled to today's vol),
``reference`` (to the vol of ``reference_lag`` days ago: the anti-procyclical buffer), ``lookback`` (to the
RMS vol of the last ``floor_years``: the volatility-based floor) and ``raw`` (as they happened: the
returns-based floor and the stressed observations). ``FilteredHistory.masks`` picks, for accounts holding a
given set of underlyings, the scenarios each expected shortfall is taken over.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray

from xmargin.core import InputError
from xmargin.market import PriceHistory

FloatArray = NDArray[np.float64]
G = TypeVar("G", bound=np.generic)
WARMUP_DAYS = 30
"""Returns used to seed an underlying's EWMA variance; scenarios need a window starting after them."""
BLOCKS = ("filtered", "reference", "lookback", "raw")


@dataclass(frozen=True, slots=True, eq=False)
class HistoricalScenarios:
    """Joint scenarios for ``underlyings``: ``price_move[u, s]`` and ``vol_move[u, s]`` (relative; 0 where
    ``valid[u, s]`` is False: that underlying has no price over the window, or the window ends after its last
    usable day), the end row and day of each window and the block it belongs to (an index into ``BLOCKS``).
    An account is charged over the scenarios valid for every underlying it holds (``FilteredHistory.masks``),
    so its margin never depends on what other accounts hold."""

    underlyings: tuple[str, ...]
    price_move: FloatArray
    vol_move: FloatArray
    valid: NDArray[np.bool_]
    end_row: NDArray[np.intp]
    end_day: NDArray[np.datetime64]
    block: NDArray[np.int8]
    sigma_now: FloatArray
    """today's EWMA daily vol per underlying"""
    last_row: NDArray[np.intp]
    """per underlying: the last history row its scenarios and volatility come from"""
    asof: NDArray[np.datetime64]
    """per underlying: the day of ``last_row``"""

    def __len__(self) -> int:
        return int(self.price_move.shape[1])

    def in_block(self, name: str) -> NDArray[np.bool_]:
        return np.asarray(self.block == BLOCKS.index(name), dtype=np.bool_)


@dataclass(frozen=True, slots=True, eq=False)
class GroupMasks:
    """The scenarios each ES is taken over, for accounts holding one set of underlyings."""

    filtered: NDArray[np.bool_]
    reference: NDArray[np.bool_]
    lookback: NDArray[np.bool_]
    stressed: NDArray[np.bool_]


@dataclass(frozen=True, slots=True, eq=False)
class Windows:
    """Every ``h``-day window of some columns of a history, by end row ``e`` (rows ``(T, U)``; rows before
    ``h − 1`` are NaN): what a window is before today's volatility rescales it. Row ``e`` depends on history
    rows up to ``e`` only (``sigma[e + 1]`` is the forecast made with them), so slicing the rows up to a
    valuation day never looks ahead."""

    log_ret: FloatArray
    """the h-day log return ``cum_ret[e + 1] − cum_ret[e + 1 − h]``"""
    raw_move: FloatArray
    """``expm1(log_ret)``: the unfiltered price move"""
    sig_start: FloatArray
    """the volatility when the window began, ``sigma[e − h + 1]``"""
    vol_move: FloatArray
    """the relative implied-vol move over the window (``FilteredHistory._vol_moves``)"""


@dataclass(frozen=True, slots=True, eq=False)
class FilteredHistory:
    """Daily log returns of a history and their EWMA volatility forecasts, computed once per (history, λ).

    Row ``t`` of ``log_ret`` is ``ln(close[t] / close[t−1])``; ``sigma[t]`` is the forecast for row ``t``
    made with rows before it, and ``sigma[T]`` (one past the last row) the forecast for the next day. Every
    value depends on earlier rows only, so truncating the history never changes an earlier value.

    ``windows_kept`` memoises :meth:`windows` per (columns, horizon): a backtest asks for the same windows
    every day. It belongs to this value (the model that built it holds it; nothing is global) and is not
    pickled."""

    history: PriceHistory
    lam: float
    log_ret: FloatArray
    sigma: FloatArray
    first_valid: NDArray[np.intp]
    """per underlying: the first row whose return has a seeded forecast (after the warm-up)"""
    iv_log_change: FloatArray | None
    cum_ret: FloatArray
    """``cum_ret[t] = Σ log_ret[:t]`` (NaN as 0): an h-day return is a difference of two rows"""
    last_valid: NDArray[np.intp]
    """per underlying: the last row with a price (−1 if none)"""
    windows_kept: dict[tuple[tuple[int, ...], int], Windows] = field(default_factory=dict, repr=False)

    def __getstate__(self) -> list[object]:
        """Pickled without the kept windows: they are derived from the history, rebuilt on first use, and a
        model's state does not change by margining (the conformance suite compares its pickles)."""
        return [{} if f.name == "windows_kept" else getattr(self, f.name) for f in fields(self)]

    @staticmethod
    def build(history: PriceHistory, lam: float) -> FilteredHistory:
        if not 0.0 < lam < 1.0:
            raise InputError(where="lambda", expected="a decay in (0, 1), e.g. 0.94", found=lam)
        close = history.close
        t_count, u_count = close.shape
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.full_like(close, np.nan)
            r[1:] = np.log(close[1:] / close[:-1])
        sigma = np.full((t_count + 1, u_count), np.nan)
        first_valid = np.full(u_count, t_count, dtype=np.intp)
        for u in range(u_count):
            ok = np.flatnonzero(np.isfinite(r[:, u]))
            if ok.size <= WARMUP_DAYS:
                continue
            f = int(ok[0])
            seed = f + WARMUP_DAYS
            var = float(np.mean(r[f:seed, u] ** 2))
            col = r[:, u]
            out = sigma[:, u]
            for t in range(seed, t_count + 1):
                var = lam * var + (1.0 - lam) * col[t - 1] ** 2
                out[t] = np.sqrt(var)
            first_valid[u] = seed
        iv_change = None
        if history.iv is not None:
            with np.errstate(invalid="ignore", divide="ignore"):
                iv_change = np.full_like(close, np.nan)
                iv_change[1:] = np.log(history.iv[1:] / history.iv[:-1])
        cum = np.vstack([np.zeros((1, u_count)), np.cumsum(np.nan_to_num(r), axis=0)])
        ok = np.isfinite(close)
        last_valid = np.where(ok.any(axis=0), t_count - 1 - np.argmax(ok[::-1], axis=0), -1).astype(np.intp)
        return FilteredHistory(history, lam, r, sigma, first_valid, iv_change, cum, last_valid)

    def scenarios(
        self,
        asof: np.datetime64,
        underlyings: tuple[str, ...],
        *,
        horizon_days: int,
        ratio_cap: float | None,
        reference_lag: int | None = None,
        floor_years: float | None = None,
        floor_volatility: bool = False,
        raw: bool = False,
        span_days: int | None = None,
    ) -> HistoricalScenarios:
        """Every h-day window ending on or before ``asof`` (and each underlying's last price), in the blocks
        of the module docstring; ``raw`` adds the unfiltered windows (the returns-based floor and the
        stressed observations are masks over them); ``span_days``: only windows ending within that many days
        of the last day of an underlying they are valid for (everything a lookback or a floor of that span
        can use, for any account)."""
        h = int(horizon_days)
        hist = self.history
        cols = hist.columns(underlyings)
        t_asof = int(np.searchsorted(hist.dates, asof, side="right")) - 1
        t_u = np.minimum(t_asof, self.last_valid[cols])
        start_u = self.first_valid[cols]
        short = [u for k, u in enumerate(underlyings) if t_u[k] - start_u[k] + 1 < h + 1]
        if short:
            raise InputError(
                where=f"history {hist.name}",
                expected=f"more than {WARMUP_DAYS + h} daily returns of {', '.join(short)} on or before {asof}",
                found="fewer",
            )
        t_last = int(t_u.max())
        first_end = max(int(start_u.min()) + h - 1, h)
        if span_days is not None:
            first_end = max(first_end, int(t_u.min()) - span_days + 1)
        ends = np.arange(first_end, t_last + 1)
        valid = (ends[None, :] >= (start_u + h - 1)[:, None]) & (ends[None, :] <= t_u[:, None])
        if span_days is not None and cols.size > 1:  # one underlying: every window from first_end is usable
            # a lookback or floor reaches back from the latest last day of the underlyings an account holds,
            # so it never uses a window ending span_days or more before the last day of every underlying
            # the window is valid for (not repriced: no margin changes)
            usable = (valid & (ends[None, :] > t_u[:, None] - span_days)).any(axis=0)
            ends, valid = ends[usable], valid[:, usable]
        win = self.windows(cols, h)
        rows = _rows(ends)
        every = bool(valid.all())  # one underlying, or all priced over every window: nothing to blank

        def pick(x: FloatArray, fill: float) -> FloatArray:
            return x[rows] if every else np.where(valid.T, x[rows], fill)

        window = pick(win.log_ret, 0.0)  # (E, U) h-day log returns
        sig_start = pick(win.sig_start, 1.0)
        ucol = np.arange(cols.size)
        sigma_now = self.sigma[t_u + 1, cols]
        vol_mv = pick(win.vol_move, 0.0)
        blocks: list[tuple[int, FloatArray]] = [
            (0, np.expm1(self._rescaled(window, sig_start, sigma_now, ratio_cap)))
        ]
        if reference_lag is not None:
            sigma_ref = self.sigma[np.maximum(t_u + 1 - reference_lag, start_u), cols]
            blocks.append((1, np.expm1(self._rescaled(window, sig_start, sigma_ref, ratio_cap))))
        if floor_years is not None and floor_volatility:
            span = round(365.25 * floor_years)
            r = self.log_ret[:, cols]
            sigma_long = np.array(
                [
                    np.sqrt(np.nanmean(r[max(t_u[k] + 1 - span, start_u[k]) : t_u[k] + 1, k] ** 2))
                    for k in ucol
                ]
            )
            blocks.append((2, np.expm1(self._rescaled(window, sig_start, sigma_long, ratio_cap))))
        if raw:
            blocks.append((3, pick(win.raw_move, 0.0)))  # expm1(0) = 0 where blanked
        n_b = len(blocks)
        return HistoricalScenarios(
            underlyings,
            np.hstack([x.T for _, x in blocks]),
            _tiled(vol_mv.T, n_b),
            _tiled(valid, n_b),
            _tiled(ends, n_b),
            _tiled(hist.dates[rows], n_b),
            np.repeat(np.array([b for b, _ in blocks], dtype=np.int8), ends.size),
            sigma_now,
            t_u,
            hist.dates[t_u],
        )

    def windows(self, cols: NDArray[np.intp], h: int) -> Windows:
        """The ``h``-day windows of the history columns ``cols`` at every end row (class ``Windows``),
        computed on the first call and kept."""
        key = (tuple(cols.tolist()), h)
        hit = self.windows_kept.get(key)
        if hit is not None:
            return hit
        t_count = self.log_ret.shape[0]
        ends = np.arange(h - 1, t_count)
        cs = self.cum_ret[:, cols]
        sig = self.sigma[:, cols]

        def by_end(x: FloatArray) -> FloatArray:
            out = np.full((t_count, cols.size), np.nan)
            out[ends] = x
            return out

        log_ret = by_end(cs[ends + 1] - cs[ends + 1 - h])
        made = Windows(
            log_ret, np.expm1(log_ret), by_end(sig[ends - h + 1]), by_end(self._vol_moves(ends, h, cols, sig))
        )
        self.windows_kept[key] = made
        return made

    def masks(
        self,
        scen: HistoricalScenarios,
        members: NDArray[np.intp],
        *,
        lookback_days: int,
        floor_years: float | None,
        floor_volatility: bool,
        stressed: bool,
    ) -> GroupMasks:
        """The scenarios of accounts holding the underlyings ``members`` (indices into
        ``scen.underlyings``): windows valid for all of them, within the lookback from the latest of their
        last days; the floor's span; and the stressed year of these underlyings."""
        ok = scen.valid[members].all(axis=0)
        t_last = int(scen.last_row[members].max())
        recent = ok & (scen.end_row > t_last - lookback_days)
        none = np.zeros(len(scen), dtype=np.bool_)
        lookback = none
        if floor_years is not None:
            in_span = ok & (scen.end_row > t_last - round(365.25 * floor_years))
            lookback = in_span & scen.in_block("lookback" if floor_volatility else "raw")
        stress = none
        if stressed:
            raw = ok & scen.in_block("raw")
            ends = scen.end_row[raw]
            cols = self.history.columns(tuple(scen.underlyings[int(k)] for k in members))
            lo, hi = self._stressed_year(ends, self.log_ret[:, cols])
            stress = raw & (scen.end_row >= lo) & (scen.end_row <= hi)
        return GroupMasks(
            filtered=recent & scen.in_block("filtered"),
            reference=recent & scen.in_block("reference"),
            lookback=lookback,
            stressed=stress,
        )

    @staticmethod
    def _rescaled(
        window: FloatArray, sig_start: FloatArray, sigma_to: FloatArray, cap: float | None
    ) -> FloatArray:
        ratio = sigma_to[None, :] / sig_start
        if cap is not None:
            ratio = np.minimum(ratio, cap)
        return window * ratio

    def _vol_moves(
        self, ends: NDArray[np.intp], h: int, cols: NDArray[np.intp], sig: FloatArray
    ) -> FloatArray:
        """Relative implied-vol move per window: the ATM IV's where the history has one, else the proxy."""
        with np.errstate(invalid="ignore", divide="ignore"):
            proxy = np.expm1(np.log(sig[ends + 1] / sig[ends - h + 1]))
        if self.iv_log_change is None:
            return proxy
        ivc = self.iv_log_change[:, cols]
        cs = np.vstack([np.zeros((1, len(cols))), np.cumsum(np.nan_to_num(ivc), axis=0)])
        n_ok = np.vstack([np.zeros((1, len(cols))), np.cumsum(np.isfinite(ivc), axis=0)])
        full = (n_ok[ends + 1] - n_ok[ends + 1 - h]) == h
        return np.where(full, np.expm1(cs[ends + 1] - cs[ends + 1 - h]), proxy)

    @staticmethod
    def _stressed_year(ends: NDArray[np.intp], r: FloatArray) -> tuple[int, int]:
        """First and last end row of the 365 consecutive windows (among ``ends``) whose days have the
        highest mean squared return, averaged over the underlyings: the stressed observations."""
        sq = np.mean(r[ends] ** 2, axis=1)
        span = min(365, ends.size)
        csum = np.concatenate([[0.0], np.cumsum(sq)])
        best = int(np.argmax(csum[span:] - csum[:-span]))
        return int(ends[best]), int(ends[best + span - 1])


def _rows(ends: NDArray[np.intp]) -> slice | NDArray[np.intp]:
    """``ends`` as a slice when it is a run of consecutive rows (a view instead of a copy)."""
    if ends.size and int(ends[-1]) - int(ends[0]) + 1 == ends.size:
        return slice(int(ends[0]), int(ends[-1]) + 1)
    return ends


def _tiled(x: NDArray[G], n: int) -> NDArray[G]:
    """``x`` repeated ``n`` times along its last axis (``np.tile`` without its overhead)."""
    return np.concatenate([x] * n, axis=-1) if n > 1 else x.copy()


def expected_shortfall(loss: FloatArray, confidence: float) -> FloatArray:
    """Expected shortfall per row of ``loss[row, scenario]`` (positive = loss): the mean of the
    ``k = ⌈S (1 − confidence)⌉`` largest losses of its ``S`` equally weighted scenarios (the discrete ES of
    Acerbi & Tasche, "On the coherence of expected shortfall", J. Banking & Finance 26(7), 2002, taken on
    whole scenarios as the CCPs' historical-simulation margins do)."""
    s = loss.shape[1]
    if s == 0:
        return np.zeros(loss.shape[0])
    k = max(1, int(np.ceil(s * (1.0 - confidence) - 1e-9)))
    worst = np.partition(loss, s - k, axis=1)[:, s - k :]
    return np.asarray(worst.mean(axis=1), dtype=np.float64)


__all__ = [
    "BLOCKS",
    "WARMUP_DAYS",
    "FilteredHistory",
    "GroupMasks",
    "HistoricalScenarios",
    "Windows",
    "expected_shortfall",
]
