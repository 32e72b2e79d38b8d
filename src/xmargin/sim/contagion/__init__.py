"""Contagion across venues sharing markets (``xmargin contagion``): the simulation (``_model``), its file
(``_config``) and DebtRank (``_debtrank``). See docs/contagion.md."""

from xmargin.sim.contagion._config import ContagionFile, Overrides, load_contagion
from xmargin.sim.contagion._debtrank import DebtRankResult, debtrank
from xmargin.sim.contagion._model import ContagionReport, SystemOutcome, VenueOutcome, contagion

__all__ = [
    "ContagionFile",
    "ContagionReport",
    "DebtRankResult",
    "Overrides",
    "SystemOutcome",
    "VenueOutcome",
    "contagion",
    "debtrank",
    "load_contagion",
]
