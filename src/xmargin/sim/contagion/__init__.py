"""Contagion across venues sharing markets (``xmargin contagion``): the simulation (``_model``), its file
(``_config``), DebtRank (``_debtrank``, ``_network``), the latency sweep and the haircut solver
(``_solve``). See docs/contagion.md."""

from xmargin.sim.contagion._config import ContagionFile, Overrides, load_contagion
from xmargin.sim.contagion._debtrank import DebtRankResult, debtrank
from xmargin.sim.contagion._model import (
    BridgeOutcome,
    ContagionReport,
    SystemOutcome,
    VenueOutcome,
    bad_debt,
    contagion,
)
from xmargin.sim.contagion._solve import (
    HaircutPoint,
    HaircutSolution,
    LatencyPoint,
    LatencySweep,
    latency_sweep,
    solve_haircut,
)

__all__ = [
    "BridgeOutcome",
    "ContagionFile",
    "ContagionReport",
    "DebtRankResult",
    "HaircutPoint",
    "HaircutSolution",
    "LatencyPoint",
    "LatencySweep",
    "Overrides",
    "SystemOutcome",
    "VenueOutcome",
    "bad_debt",
    "contagion",
    "debtrank",
    "latency_sweep",
    "load_contagion",
    "solve_haircut",
]
