"""The on-chain vault: Vyper sources (package data), deployment and calls on titanoboa's in-process EVM.

Needs the ``chain`` extra (``pip install xmargin[chain]``: vyper, titanoboa). docs/chain.md has the design.
"""

from xmargin.chain._auction import AuctionSpec, deploy_auction_house, to_ray
from xmargin.chain._bench import (
    BLOCK_GAS_LIMITS,
    GAS_PRICES,
    BlockFit,
    ChainBenchReport,
    GasPoint,
    GasPrice,
    OperationCost,
    OperationGas,
    bench_chain,
    bench_plan,
    transaction_gas,
)
from xmargin.chain._margin import CHAIN_MODELS, ChainMarginReport, EngineMargin, chain_margin
from xmargin.chain._plan import (
    WAD,
    CollateralSpec,
    FeedSpec,
    MarketSpec,
    PmSpec,
    PositionSpec,
    VaultPlan,
    from_wad,
    plan_cross,
    plan_pm,
    to_wad,
)
from xmargin.chain._vault import (
    FEED_DECIMALS,
    HEARTBEAT_S,
    MAX_DEVIATION,
    ChainHealth,
    LoadedVault,
    contract,
    contracts_dir,
    list_markets,
)

__all__ = [
    "BLOCK_GAS_LIMITS",
    "CHAIN_MODELS",
    "FEED_DECIMALS",
    "GAS_PRICES",
    "HEARTBEAT_S",
    "MAX_DEVIATION",
    "WAD",
    "AuctionSpec",
    "BlockFit",
    "ChainBenchReport",
    "ChainHealth",
    "ChainMarginReport",
    "CollateralSpec",
    "EngineMargin",
    "FeedSpec",
    "GasPoint",
    "GasPrice",
    "LoadedVault",
    "MarketSpec",
    "OperationCost",
    "OperationGas",
    "PmSpec",
    "PositionSpec",
    "VaultPlan",
    "bench_chain",
    "bench_plan",
    "chain_margin",
    "contract",
    "contracts_dir",
    "deploy_auction_house",
    "from_wad",
    "list_markets",
    "plan_cross",
    "plan_pm",
    "to_ray",
    "to_wad",
    "transaction_gas",
]
