"""Oracle: index prices from several sources with staleness and outlier guards, mark prices with a clamped
basis, a Mango-style stable price and an on-chain push oracle (deviation / heartbeat) for valuing collateral and borrowing."""

from xmargin.oracle._index import (
    FakeSource,
    IndexConfig,
    IndexOracle,
    IndexResult,
    OraclePrice,
    PriceSource,
    Quote,
    compute_index,
)
from xmargin.oracle._mark import MarkConfig, MarkPrice
from xmargin.oracle._push import PushOracle, PushOracleConfig
from xmargin.oracle._stable import StablePrice, StablePriceConfig

__all__ = [
    "FakeSource",
    "IndexConfig",
    "IndexOracle",
    "IndexResult",
    "MarkConfig",
    "MarkPrice",
    "OraclePrice",
    "PriceSource",
    "PushOracle",
    "PushOracleConfig",
    "Quote",
    "StablePrice",
    "StablePriceConfig",
    "compute_index",
]
