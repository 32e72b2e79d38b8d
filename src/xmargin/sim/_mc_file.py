"""``xmargin replay --config FILE``: the Monte Carlo path parameters and the replay's clock and fund, from
a YAML or JSON file (every key optional; defaults and their sources in ``PathConfig`` and ``ReplayConfig``)::

    monte_carlo:
      block_mean_bars: 6         # mean block length of the stationary bootstrap, bars
      vol_scale: [0.8, 1.5]      # per-path volatility factor, uniform in this range
      jump_rate_per_day: 0.25    # Poisson rate of market-wide jumps
      jump_mean: -0.05           # mean log jump
      jump_sd: 0.03              # standard deviation of the log jump
    replay:
      clock_s: 120               # simulation clock, s (default 12: one Ethereum slot)
      cex_tick_move: 0.004       # CEX engine tick threshold (relative move)
      insurance_fraction: 0.02   # insurance fund at the start, share of equity
      max_rounds: 6              # CEX cascade rounds per tick
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from xmargin.core import InputError, input_errors, load_document
from xmargin.sim._config import ReplayConfig
from xmargin.sim._paths import PathConfig

_D = PathConfig()


class _MonteCarlo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    block_mean_bars: float = Field(_D.block_mean_bars, ge=1.0)
    vol_scale: tuple[float, float] = _D.vol_scale
    jump_rate_per_day: float = Field(_D.jump_rate_per_day, ge=0.0)
    jump_mean: float = _D.jump_mean
    jump_sd: float = Field(_D.jump_sd, ge=0.0)


class _Replay(BaseModel):
    model_config = ConfigDict(extra="forbid")
    clock_s: float | None = Field(None, gt=0.0)
    cex_tick_move: float | None = Field(None, ge=0.0)
    insurance_fraction: float | None = Field(None, ge=0.0, le=1.0)
    max_rounds: int | None = Field(None, ge=1)


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    monte_carlo: _MonteCarlo = Field(default_factory=_MonteCarlo)
    replay: _Replay = Field(default_factory=_Replay)


def load_mc_config(path: str | Path, base: ReplayConfig) -> tuple[PathConfig, ReplayConfig]:
    """The path parameters and ``base`` with the file's replay keys, or an ``InputError`` naming the key."""
    doc = load_document(path)
    if doc is None:
        doc = {}
    try:
        f = _File.model_validate(doc)
    except ValidationError as exc:
        raise input_errors(exc, source=str(path), allowed_keys=("monte_carlo", "replay")) from None
    m = f.monte_carlo
    try:
        pcfg = PathConfig(m.block_mean_bars, m.vol_scale, m.jump_rate_per_day, m.jump_mean, m.jump_sd)
        overrides = {k: v for k, v in f.replay.model_dump().items() if v is not None}
        cfg = replace(base, **overrides)
    except InputError as exc:
        raise InputError(where=f"{path}: {exc.where}", expected=exc.expected, found=exc.found) from None
    return pcfg, cfg
