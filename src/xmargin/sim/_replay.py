"""Crash replay: one generated book through a real crash, under a CEX and under a DEX.

Both venues start from the same seeded book (``engine.generate_book`` on the shipped Deribit snapshot), the
same margin model (``pm`` by default) and the same price path (``sim.load_path``: the crash's relative moves
applied to today's market). Liquidation flow moves the price by the square-root law (``sim._impact``), so
large liquidations can cascade. What differs is how each venue sees prices and liquidates:

- **CEX** (``venue="cex"``, ``sim.cex``): the engine recomputes the whole book as the market moves and
  liquidates accounts below maintenance partially, round after round (the cascade).
- **DEX** (``venue="dex"``, ``sim.dex``): the engine sees only push oracles, block by block; an account
  below maintenance is seized as a MakerDAO vault and its lots are sold by Clipper Dutch auctions to
  keepers.

Where the mechanics live:

- ``sim._config``: ``ReplayConfig``, ``DexConfig`` (every default with its source);
- ``sim._venue``: the shared state: the book, its engine and the prices, the top-up at the start, the
  insurance fund and the bankruptcy waterfall (ADL or socialized loss), keeper incentives, the timeline and
  the report, with the accounting identity ``bad_debt = insurance_fund_used + adl + socialized_loss``;
- ``sim.cex``: the CEX's ticks and cascade (``_loop``), one liquidation round (``_liquidation``);
- ``sim.dex``: the block loop (``_loop``), kicks (``_kick``), the auction book and its netting
  (``_auctions``), the keepers (``_keepers``);
- ``sim._report``: ``ReplayReport`` and ``OUTCOME_FIELDS``.

Everything is a function of (scenario, venue, accounts, seed, config): timings are reported apart.
"""

from __future__ import annotations

from xmargin.core import InputError
from xmargin.pricing import kernel_threads
from xmargin.sim._config import DexConfig, ReplayConfig
from xmargin.sim._report import OUTCOME_FIELDS, ReplayReport
from xmargin.sim._scenarios import PricePath, load_path
from xmargin.sim._venue import Venue
from xmargin.sim.cex import replay_cex
from xmargin.sim.dex import replay_dex

__all__ = ["OUTCOME_FIELDS", "VENUES", "DexConfig", "ReplayConfig", "ReplayReport", "replay", "replay_path"]

VENUES = ("cex", "dex")
_DEFAULT_CONFIG = ReplayConfig()


def replay(
    scenario: str,
    venue: str,
    *,
    accounts: int = 1000,
    seed: int = 0,
    config: ReplayConfig = _DEFAULT_CONFIG,
) -> ReplayReport:
    """Replay ``scenario`` (a shipped crash window) on a generated book of ``accounts`` under ``venue``
    (checked by :func:`replay_path`)."""
    return replay_path(load_path(scenario), venue, accounts=accounts, seed=seed, config=config)


def replay_path(
    path: PricePath,
    venue: str,
    *,
    accounts: int = 1000,
    seed: int = 0,
    config: ReplayConfig = _DEFAULT_CONFIG,
) -> ReplayReport:
    """``replay`` on a given price path (a shipped window or a Monte Carlo path around it)."""
    if venue not in VENUES:
        raise InputError(where="venue", expected="cex or dex", found=venue)
    if not isinstance(accounts, int) or accounts < 1:
        raise InputError(where="accounts", expected="an integer >= 1", found=accounts)
    with kernel_threads(None if config.reference else config.kernel_threads):
        v = Venue(path, accounts, seed, config)
        return replay_cex(v) if venue == "cex" else replay_dex(v)
