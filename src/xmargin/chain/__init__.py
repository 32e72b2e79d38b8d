"""The on-chain vault: Vyper sources (package data), deployment and calls on titanoboa's in-process EVM.

Needs the ``chain`` extra (``pip install xmargin[chain]``: vyper, titanoboa). docs/chain.md has the design.
"""

from xmargin.chain._margin import CHAIN_MODELS, ChainMarginReport, EngineMargin, chain_margin
from xmargin.chain._plan import (
    WAD,
    CollateralSpec,
    FeedSpec,
    MarketSpec,
    PositionSpec,
    VaultPlan,
    from_wad,
    plan_cross,
    to_wad,
)
from xmargin.chain._vault import ChainHealth, LoadedVault, contracts_dir

__all__ = [
    "CHAIN_MODELS",
    "WAD",
    "ChainHealth",
    "ChainMarginReport",
    "CollateralSpec",
    "EngineMargin",
    "FeedSpec",
    "LoadedVault",
    "MarketSpec",
    "PositionSpec",
    "VaultPlan",
    "chain_margin",
    "contracts_dir",
    "from_wad",
    "plan_cross",
    "to_wad",
]
