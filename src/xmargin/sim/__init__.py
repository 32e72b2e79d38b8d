"""Simulations: margin backtests and their statistics, crash replay of a whole book under a CEX and a DEX, sweeps over seeded books (in process or on
Dask), oracle-manipulation scenarios."""

from xmargin.sim._backtest import HORIZONS, BacktestConfig, backtest
from xmargin.sim._backtest_report import write_backtest_report
from xmargin.sim._backtest_sweep import SweepJob, backtest_sweep, markdown_table, target_row
from xmargin.sim._backtest_types import BacktestReport
from xmargin.sim._chart import plot_replay
from xmargin.sim._haircut_backtest import HaircutBacktest, haircut_backtest
from xmargin.sim._impact import ImpactConfig, SqrtImpact
from xmargin.sim._pump import SHAPES, PumpConfig, PumpReport, oracle_pump, plot_pump, pump_path
from xmargin.sim._replay import OUTCOME_FIELDS, VENUES, DexConfig, ReplayConfig, ReplayReport, replay
from xmargin.sim._scenarios import SCENARIOS, PricePath, Scenario, load_path, scenario
from xmargin.sim._sweep import summarize, sweep

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
    "PricePath",
    "PumpConfig",
    "PumpReport",
    "ReplayConfig",
    "ReplayReport",
    "Scenario",
    "SqrtImpact",
    "SweepJob",
    "backtest",
    "backtest_sweep",
    "haircut_backtest",
    "load_path",
    "markdown_table",
    "oracle_pump",
    "plot_pump",
    "plot_replay",
    "pump_path",
    "replay",
    "scenario",
    "summarize",
    "sweep",
    "target_row",
    "write_backtest_report",
]
