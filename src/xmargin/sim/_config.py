"""What is held fixed in a crash replay: ``ReplayConfig`` (model, insurance fund, waterfall, impact, clock,
vol response) and the DEX's ``DexConfig`` (push oracle, Clipper auctions, keepers), each default with its
source."""

from __future__ import annotations

from dataclasses import dataclass, field

from xmargin.core import InputError, check
from xmargin.liquidation import WBTC_C, CexConfig
from xmargin.oracle import PushOracleConfig
from xmargin.sim._impact import ImpactConfig


@dataclass(frozen=True, slots=True)
class DexConfig:
    """DEX parameters: the push oracle, the Clipper auctions and the keepers (``xmargin.sim.dex``).

    Default auction parameters: MakerDAO's WBTC-C vault type (``xmargin.liquidation.WBTC_C``, its source
    there): StairstepExponentialDecrease ``cut`` 0.99 per ``step`` 90 s, ``buf`` 1.2, ``cusp`` 0.4, ``tail``
    90 min, ``chip`` 0.1%, ``tip`` 300 DAI, ``chop`` 13%, ``dust`` 7,500 DAI (``chost = dust × chop``). Keepers: ASSUMED (3 keepers, gas 50 USD per transaction, 1-3 blocks
    latency, 1M USD of capital each)."""

    oracle: PushOracleConfig = field(default_factory=PushOracleConfig)
    buf: float = WBTC_C.buf
    tail_s: float = WBTC_C.tail_s
    cusp: float = WBTC_C.cusp
    chip: float = WBTC_C.chip
    tip_usd: float = WBTC_C.tip_usd
    chop: float = WBTC_C.chop
    dust_usd: float = WBTC_C.dust_usd
    step_s: float = WBTC_C.step_s
    cut: float = WBTC_C.cut
    keepers: int = 3
    keeper_gas_usd: float = 50.0
    keeper_latency_blocks: tuple[int, int] = (1, 3)
    keeper_capital_usd: float = 1_000_000.0

    def __post_init__(self) -> None:
        check.in_range(self.chop, 1.0, 2.0, where="DexConfig.chop")
        check.positive(self.keeper_capital_usd, where="DexConfig.keeper_capital_usd")
        if self.keepers < 0:
            raise InputError(where="DexConfig.keepers", expected="a number >= 0", found=self.keepers)


@dataclass(frozen=True, slots=True)
class ReplayConfig:
    """What is held fixed in a replay: model, insurance fund, waterfall, impact, venue parameters."""

    model: str = "pm"
    """A model kind, a preset name or a preset file (``xmargin.margin.resolve_model``)."""
    insurance_fraction: float = 0.02
    """Insurance fund at the start as a share of the book's total equity (ASSUMED; Binance's fund was of
    the order of 1-5% of its futures open interest in 2021-2022)."""
    waterfall: str = "adl"
    cex: CexConfig = field(default_factory=CexConfig)
    dex: DexConfig = field(default_factory=DexConfig)
    impact: ImpactConfig = field(default_factory=ImpactConfig)
    max_rounds: int = 6
    clock_s: float = 12.0
    """The simulation clock: one DEX block (Ethereum's 12 s slot); the CEX samples the market as often."""
    vol_beta: float = 0.0
    """Implied vols × (S / S0)^−β as the crash moves (0: vols held, sticky strike). The 2026-02 sell-off in
    the shipped Deribit snapshots (shared/data/crashes/2026-02-05_selloff_deribit_snapshots.csv: 30-day ATM
    IV against the index, 38 snapshots, log-levels regression) gives β ≈ 2.25 for BTC and 1.41 for ETH."""
    vol_cap: float = 3.0
    """The vol factor is kept within [1/cap, cap] (ASSUMED: BTC 30-day IV roughly tripled at most in the
    crashes replayed here)."""
    cex_tick_move: float = 0.002
    """The CEX engine recomputes the book whenever a mark has moved this much since its last tick (a real
    engine recomputes on every mark update; 0.2%, below the DEX oracle's 0.5% band, keeps a week-long replay to a few thousand ticks)."""

    reference: bool = False
    """Run the replay as it ran before the fast path (``liquidate`` account by account, one kernel call
    per account, numba's own thread count): the reference the fast path is tested and benchmarked against
    (``tests/sim/test_fast_replay.py``, ``benchmarks/bench_replay.py``)."""
    kernel_threads: int | None = 1
    """Threads of the pricing kernels during a fast replay (``pricing.kernel_threads``; None: numba's own
    setting). One: a replay is a long sequence of small kernel calls, and parallel paths run elsewhere."""

    def __post_init__(self) -> None:
        check.positive(self.clock_s, where="ReplayConfig.clock_s")
        if self.kernel_threads is not None and self.kernel_threads < 1:
            raise InputError(
                where="ReplayConfig.kernel_threads",
                expected="None or an integer >= 1",
                found=self.kernel_threads,
            )
        check.in_range(self.vol_beta, 0.0, 10.0, where="ReplayConfig.vol_beta")
        check.in_range(self.vol_cap, 1.0, 100.0, where="ReplayConfig.vol_cap")
        check.in_range(self.cex_tick_move, 0.0, 0.05, where="ReplayConfig.cex_tick_move")
        check.in_range(self.insurance_fraction, 0.0, 1.0, where="ReplayConfig.insurance_fraction")
        if self.waterfall not in ("adl", "socialize"):
            raise InputError(
                where="ReplayConfig.waterfall", expected="adl or socialize", found=self.waterfall
            )
