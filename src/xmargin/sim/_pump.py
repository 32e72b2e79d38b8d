"""Oracle manipulation: a thin collateral token pumped 13× in 30 minutes, borrowed against.

**The event.** On 2022-10-11 a trader pushed the price of MNGO, the thinly traded token of the Solana
exchange Mango Markets (v3), up "over 13-fold during a 30-minute span" and borrowed and withdrew about
116 M USD of other assets against the inflated collateral, leaving the platform with a deficit once the
price fell back (SEC press release of 2023-01-20, "SEC Charges Avraham Eisenberg with Manipulating Mango
Markets' 'Governance Token' to Steal $116 Million of Crypto Assets"; the CFTC's complaint of 2023-01-09
tells the same story). Mango v3 valued collateral at the oracle price. Mango v4 answered with a *stable
price* (``oracle.StablePrice``, from mango-v4 ``state/stable_price.rs``) and values assets at
``min(oracle, stable)`` and liabilities at ``max(oracle, stable)`` for the *initial* health that gates new
borrows; maintenance and liquidation-end health keep the oracle price (mango-v4
``programs/mango-v4/src/health/cache.rs``, ``Prices::asset`` / ``Prices::liab``).

**The computation.** One account holds ``collateral_tokens`` of the token and borrows USDC. The oracle
follows a linear ramp from ``start_price_usd`` to ``pump_factor ×`` it over ``pump_s``, stays there
``hold_s`` and then either holds (``shape="hold"``) or falls linearly back to the start over ``revert_s``
(``shape="revert"``: the manipulator stops buying). At every point (a grid of ``step_s`` plus the path's
corners) the stable price is updated and the most the account can borrow is, in USD,

    naive venue:  collateral_tokens × init_asset_weight × oracle               / liab_weight
    stable venue: collateral_tokens × init_asset_weight × min(oracle, stable)  / liab_weight

The manipulator borrows the peak of each series and walks away; the venue keeps collateral worth
``collateral_tokens × final oracle``. Bad debt = max(0, borrowed − that), for each venue.

**Why the stable venue barely moves.** For its first 24 hours the pump leaves the delay price (the price of
~24 h ago) at the start price ``p0``. While the oracle is above it, each update multiplies the stable price
``s`` by ``1 + g·dt·(p0/s)²`` (``g`` = ``stable_growth_limit``), so in continuous time ``ds/dt = g·p0²/s``
and ``s(t) = p0·sqrt(1 + 2·g·t)``: 1.44 p0 after 30 minutes, 1.56 p0 after 40, 7.3 p0 after 24 h (Mango's
own test reaches ~7.4 after 25 h), whatever the size of the pump. The stable venue lends against at most
that, so with an asset weight ``w`` it has no bad debt as long as ``w·s/p0 ≤ 1``.

**Parameters** (``PumpConfig``; every one cited or ASSUMED):

- ``start_price_usd`` 1.0: ASSUMED normalisation (MNGO started at a few cents); every USD figure scales
  with it and with ``collateral_tokens``.
- ``pump_factor`` 13 over ``pump_s`` 1,800 s: the SEC's "over 13-fold during a 30-minute span" (above).
- ``hold_s`` 600 s: ASSUMED time at the top while the borrows are taken (Solidus Labs, "The Mango Markets
  Exploit: An Order Book Analysis", 2022-10-18: the whole exploit, funding to withdrawals, took about 40
  minutes).
- ``revert_s`` 1,800 s: ASSUMED time for the price to fall back once the buying stops.
- ``step_s`` 10 s: mango-v4's ``min_dt`` (updates closer together are ignored), i.e. the fastest the stable
  price can be pushed: the manipulator's best case.
- ``collateral_tokens`` 1,000,000: ASSUMED, a round size (1 M USD of collateral before the pump).
- ``init_asset_weight`` 0.5: Mango v4's listing tier "A", a token on which a 20,000 USD swap moves the price
  less than 1% (``blockworks-foundation/mango-v4-settings``, ``src/helpers/listingTools.ts``,
  ``LISTING_PRESETS``: ``MID`` / ``asset_20``, init asset weight 0.5, maint 0.75). Thinner tiers get 0.25
  ("A-", ``asset_10p``, in the versions that have it) or 0 (tier "BB" and below: not collateral at all).
- ``liab_weight`` 1.0: the borrowed token is USDC, whose init liability weight (and price) is 1 on Mango v4
  (mango-v4 CHANGELOG, v0.17.0). Its price never moves, so ``max(oracle, stable)`` does not matter here.
- ``stable``: Mango v4's stable-price defaults (``oracle.StablePriceConfig``).

Not modelled (each limits a real Mango v4 attack further, so the stable venue's numbers are an upper
bound): the scaling down of the init asset weight once a bank's deposits exceed
``depositWeightScaleStartQuote`` (mango-v4 ``state/bank.rs``, ``scaled_init_asset_weight``), net borrow
limits per window, deposit limits and the oracle confidence filter. The venue is assumed to realise the
collateral at the final oracle price with no slippage, so both bad debts are lower bounds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from xmargin.core import InputError, check, require
from xmargin.oracle import StablePrice, StablePriceConfig

FloatArray = NDArray[np.float64]

SHAPES = ("hold", "revert")
"""Path shapes after the pump: stay at the top, or fall back to the start price."""

_SERIES = ("t_s", "oracle_usd", "stable_usd", "borrowable_naive_usd", "borrowable_stable_usd")


@dataclass(frozen=True, slots=True)
class PumpConfig:
    """A pump scenario; see the module docstring for the source of every default."""

    start_price_usd: float = 1.0
    pump_factor: float = 13.0
    pump_s: float = 1800.0
    hold_s: float = 600.0
    revert_s: float = 1800.0
    shape: str = "revert"
    step_s: float = 10.0
    collateral_tokens: float = 1_000_000.0
    init_asset_weight: float = 0.5
    liab_weight: float = 1.0
    stable: StablePriceConfig = field(default_factory=StablePriceConfig)

    def __post_init__(self) -> None:
        check.positive(self.start_price_usd, where="PumpConfig.start_price_usd")
        check.positive(self.pump_factor, where="PumpConfig.pump_factor")
        check.positive(self.pump_s, where="PumpConfig.pump_s")
        check.non_negative(self.hold_s, where="PumpConfig.hold_s")
        check.positive(self.revert_s, where="PumpConfig.revert_s")
        check.one_of(self.shape, SHAPES, where="PumpConfig.shape")
        step = check.positive(self.step_s, where="PumpConfig.step_s")
        if step < self.stable.min_dt_s:
            raise InputError(
                where="PumpConfig.step_s",
                expected=f"a number >= the stable price's min_dt_s ({self.stable.min_dt_s:g} s; "
                "closer updates are ignored)",
                found=self.step_s,
            )
        check.positive(self.collateral_tokens, where="PumpConfig.collateral_tokens")
        check.in_range(self.init_asset_weight, 0.0, 1.0, where="PumpConfig.init_asset_weight")
        check.in_range(self.liab_weight, 1.0, 10.0, where="PumpConfig.liab_weight")

    @property
    def end_s(self) -> float:
        """Length of the whole path (seconds)."""
        return self.pump_s + self.hold_s + (self.revert_s if self.shape == "revert" else 0.0)


@dataclass(frozen=True, slots=True)
class PumpReport:
    """What a pump lets an account borrow, by a naive venue and by a stable-price venue (USD).

    The series are read-only float64 arrays of shape ``(n_points,)``, on the same time grid ``t_s``.
    """

    config: PumpConfig
    t_s: FloatArray
    oracle_usd: FloatArray
    stable_usd: FloatArray
    borrowable_naive_usd: FloatArray
    """``collateral × init_asset_weight × oracle / liab_weight``"""
    borrowable_stable_usd: FloatArray
    """``collateral × init_asset_weight × min(oracle, stable) / liab_weight`` (Mango v4 init health)"""
    pump_end_index: int
    """index of ``t_s == pump_s``, the top of the ramp"""
    peak_naive_usd: float
    peak_naive_t_s: float
    peak_stable_usd: float
    peak_stable_t_s: float
    final_collateral_usd: float
    """``collateral × oracle`` at the end of the path: what the venue is left holding"""
    bad_debt_naive_usd: float
    """``max(0, peak_naive − final_collateral)``: the naive venue's loss if the peak was borrowed"""
    bad_debt_stable_usd: float
    """the same for the stable-price venue"""

    @property
    def ratio(self) -> float:
        """Peak stable-venue borrowable over peak naive borrowable."""
        return self.peak_stable_usd / self.peak_naive_usd if self.peak_naive_usd > 0 else float("nan")

    @property
    def ratio_at_pump_end(self) -> float:
        """Stable-venue over naive borrowable at the top of the ramp (``t_s == pump_s``)."""
        i = self.pump_end_index
        return float(self.borrowable_stable_usd[i] / self.borrowable_naive_usd[i])

    @property
    def stable_at_pump_end_usd(self) -> float:
        return float(self.stable_usd[self.pump_end_index])

    def as_dict(self, *, max_points: int = 61) -> dict[str, Any]:
        """JSON-ready: plain floats, the config, and the series downsampled to about ``max_points`` points
        (evenly spaced, always keeping the start, the end, the top of the pump and both peaks)."""
        if max_points < 2:
            raise InputError(
                where="PumpReport.as_dict.max_points", expected="an integer >= 2", found=max_points
            )
        n = self.t_s.size
        keep = np.unique(
            np.concatenate(
                [
                    np.linspace(0, n - 1, min(max_points, n)).round().astype(np.int64),
                    np.array([self.pump_end_index, *self._peak_indices()], dtype=np.int64),
                ]
            )
        )
        series = {name: [float(x) for x in getattr(self, name)[keep]] for name in _SERIES}
        c = self.config
        return {
            "config": asdict(c),
            "naive_peak_borrowable_usd": self.peak_naive_usd,
            "naive_peak_t_s": self.peak_naive_t_s,
            "stable_peak_borrowable_usd": self.peak_stable_usd,
            "stable_peak_t_s": self.peak_stable_t_s,
            "stable_to_naive_ratio": self.ratio,
            "oracle_at_pump_end_usd": float(self.oracle_usd[self.pump_end_index]),
            "stable_at_pump_end_usd": self.stable_at_pump_end_usd,
            "naive_borrowable_at_pump_end_usd": float(self.borrowable_naive_usd[self.pump_end_index]),
            "stable_borrowable_at_pump_end_usd": float(self.borrowable_stable_usd[self.pump_end_index]),
            "stable_to_naive_ratio_at_pump_end": self.ratio_at_pump_end,
            "final_oracle_usd": float(self.oracle_usd[-1]),
            "final_collateral_usd": self.final_collateral_usd,
            "naive_bad_debt_usd": self.bad_debt_naive_usd,
            "stable_bad_debt_usd": self.bad_debt_stable_usd,
            "points": n,
            "series": series,
        }

    def _peak_indices(self) -> tuple[int, int]:
        return int(np.argmax(self.borrowable_naive_usd)), int(np.argmax(self.borrowable_stable_usd))


def pump_path(config: PumpConfig) -> tuple[FloatArray, FloatArray]:
    """The time grid (seconds from the start of the pump) and the oracle price (USD) on it.

    The grid is every ``step_s`` plus the path's corners (top of the ramp, end of the hold, end), so the top
    is always a point even when ``pump_s`` is not a multiple of ``step_s``.
    """
    c = config
    p0, top = c.start_price_usd, c.start_price_usd * c.pump_factor
    knots_t = [0.0, c.pump_s, c.pump_s + c.hold_s]
    knots_p = [p0, top, top]
    if c.shape == "revert":
        knots_t.append(c.end_s)
        knots_p.append(p0)
    t = np.union1d(np.arange(0.0, c.end_s, c.step_s), np.array(knots_t))
    oracle = np.interp(t, knots_t, knots_p)
    oracle[t == c.pump_s] = top  # exactly, whatever interp does at a repeated knot (hold_s == 0)
    return t, oracle


def _frozen(a: FloatArray) -> FloatArray:
    a.flags.writeable = False
    return a


def oracle_pump(config: PumpConfig = PumpConfig()) -> PumpReport:
    """Borrowable USD against a pumped token, naive oracle vs Mango v4 stable price (module docstring).

    >>> r = oracle_pump()
    >>> round(r.peak_naive_usd), round(r.stable_at_pump_end_usd, 2), r.bad_debt_stable_usd
    (6500000, 1.44, 0.0)
    """
    c = config
    t, oracle = pump_path(c)
    stable = np.empty_like(oracle)
    model = StablePrice(c.start_price_usd, 0.0, c.stable)  # a start price held for at least a day
    stable[0] = model.stable
    for k in range(1, t.size):
        stable[k] = model.update(float(t[k]), float(oracle[k]))
    per_price = c.collateral_tokens * c.init_asset_weight / c.liab_weight
    naive = per_price * oracle
    guarded = per_price * np.minimum(oracle, stable)
    i_naive, i_stable = int(np.argmax(naive)), int(np.argmax(guarded))
    final_collateral = c.collateral_tokens * float(oracle[-1])
    return PumpReport(
        config=c,
        t_s=_frozen(t),
        oracle_usd=_frozen(oracle),
        stable_usd=_frozen(stable),
        borrowable_naive_usd=_frozen(naive),
        borrowable_stable_usd=_frozen(guarded),
        pump_end_index=int(np.searchsorted(t, c.pump_s)),
        peak_naive_usd=float(naive[i_naive]),
        peak_naive_t_s=float(t[i_naive]),
        peak_stable_usd=float(guarded[i_stable]),
        peak_stable_t_s=float(t[i_stable]),
        final_collateral_usd=final_collateral,
        bad_debt_naive_usd=max(0.0, float(naive[i_naive]) - final_collateral),
        bad_debt_stable_usd=max(0.0, float(guarded[i_stable]) - final_collateral),
    )


def plot_pump(report: PumpReport, path: str | Path) -> Path:
    """Draw the prices (top) and what can be borrowed (bottom) against minutes to a PNG; returns the path.

    matplotlib is imported here (Agg canvas, no pyplot, no global backend change) so importing the library
    stays fast.
    """
    require("matplotlib", "charts")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    out = Path(path)
    minutes = report.t_s / 60.0
    fig = Figure(figsize=(9.0, 6.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax_p, ax_b = fig.subplots(2, 1, sharex=True)
    ax_p.plot(minutes, report.oracle_usd, label="oracle (naive venue)", color="tab:red")
    ax_p.plot(minutes, report.stable_usd, label="stable price (Mango v4)", color="tab:blue")
    ax_p.set_ylabel("token price, USD")
    ax_p.legend(loc="upper right")
    c = report.config
    ax_p.set_title(
        f"{c.pump_factor:g}x pump in {c.pump_s / 60:g} min ({c.shape}); "
        f"{c.collateral_tokens:,.0f} tokens at init asset weight {c.init_asset_weight:g}"
    )
    ax_b.plot(minutes, report.borrowable_naive_usd / 1e6, label="naive: oracle", color="tab:red")
    ax_b.plot(
        minutes, report.borrowable_stable_usd / 1e6, label="stable: min(oracle, stable)", color="tab:blue"
    )
    ax_b.plot(
        minutes,
        c.collateral_tokens * report.oracle_usd / 1e6,
        label="collateral at the oracle",
        color="grey",
        linestyle=":",
    )
    ax_b.set_ylabel("borrowable, million USD")
    ax_b.set_xlabel("minutes from the start of the pump")
    ax_b.legend(loc="upper right")
    ax_b.text(
        0.01,
        0.95,
        f"bad debt after the {c.shape}: naive {report.bad_debt_naive_usd / 1e6:,.2f}M USD, "
        f"stable {report.bad_debt_stable_usd / 1e6:,.2f}M USD",
        transform=ax_b.transAxes,
        va="top",
    )
    fig.savefig(out, dpi=110)
    return out
