"""Simulations: margin backtests and their statistics, crash replay of a whole book under a CEX and a DEX, sweeps over seeded books (in process or on
Dask), oracle-manipulation scenarios, Monte Carlo crash paths around a real window."""

from xmargin.sim._backtest import HORIZONS, BacktestConfig, backtest
from xmargin.sim._backtest_report import write_backtest_report
from xmargin.sim._backtest_sweep import SweepJob, backtest_sweep, markdown_table, target_row
from xmargin.sim._backtest_types import BacktestReport
from xmargin.sim._chart import plot_replay
from xmargin.sim._haircut_backtest import HaircutBacktest, haircut_backtest
from xmargin.sim._impact import ImpactConfig, SqrtImpact
from xmargin.sim._montecarlo import MonteCarloReport, PathOutcome, monte_carlo, quantiles
from xmargin.sim._paths import PathConfig, bar_log_returns, crash_path, stationary_bootstrap_indices
from xmargin.sim._pump import SHAPES, PumpConfig, PumpReport, oracle_pump, plot_pump, pump_path
from xmargin.sim._replay import (
    OUTCOME_FIELDS,
    VENUES,
    DexConfig,
    ReplayConfig,
    ReplayReport,
    replay,
    replay_path,
)
from xmargin.sim._scenarios import SCENARIOS, PricePath, Scenario, load_path, scenario
from xmargin.sim._sweep import summarize, sweep
from xmargin.sim._venue import Venue

__all__ = [
    "HORIZONS",
    "OUTCOME_FIELDS",
    "SCENARIOS",
    "SHAPES",
    "VENUES",
    "BacktestConfig",
    "BacktestReport",
    "DexConfig",
    "HaircutBacktest",
    "ImpactConfig",
    "MonteCarloReport",
    "PathConfig",
    "PathOutcome",
    "PricePath",
    "PumpConfig",
    "PumpReport",
    "ReplayConfig",
    "ReplayReport",
    "Scenario",
    "SqrtImpact",
    "SweepJob",
    "Venue",
    "backtest",
    "backtest_sweep",
    "bar_log_returns",
    "crash_path",
    "haircut_backtest",
    "load_path",
    "markdown_table",
    "monte_carlo",
    "oracle_pump",
    "plot_pump",
    "plot_replay",
    "pump_path",
    "quantiles",
    "replay",
    "replay_path",
    "scenario",
    "stationary_bootstrap_indices",
    "summarize",
    "sweep",
    "target_row",
    "write_backtest_report",
]
