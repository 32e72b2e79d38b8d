"""Oracle: index prices from several sources with staleness and outlier guards, mark prices with a clamped
basis, and a Mango-style stable price for valuing collateral and borrowing."""

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
    "Quote",
    "StablePrice",
    "StablePriceConfig",
    "compute_index",
]
