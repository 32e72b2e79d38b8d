"""Market data: ``MarketSnapshot``, vol surfaces, and loaders for market files and Deribit chains."""

from xmargin.market._deribit import (
    DEMO_SNAPSHOT,
    DeribitChain,
    load_deribit_chain,
    load_deribit_chain_full,
    shipped_chain_path,
    shipped_demo_books,
    snapshot_ids,
)
from xmargin.market._files import MarketFile, load_market, market_from_mapping
from xmargin.market._forwards import ForwardCurve, Source
from xmargin.market._history import (
    PriceHistory,
    close_time,
    load_history,
    parse_history,
    shipped_history_names,
)
from xmargin.market._snapshot import MAX_PRICE_USD, MAX_VOL, MIN_PRICE_USD, STABLECOINS, MarketSnapshot
from xmargin.market._surface import Smile, VolSurface

__all__ = [
    "DEMO_SNAPSHOT",
    "MAX_PRICE_USD",
    "MAX_VOL",
    "MIN_PRICE_USD",
    "STABLECOINS",
    "DeribitChain",
    "ForwardCurve",
    "MarketFile",
    "MarketSnapshot",
    "PriceHistory",
    "Smile",
    "Source",
    "VolSurface",
    "close_time",
    "load_deribit_chain",
    "load_deribit_chain_full",
    "load_history",
    "load_market",
    "market_from_mapping",
    "parse_history",
    "shipped_chain_path",
    "shipped_demo_books",
    "shipped_history_names",
    "snapshot_ids",
]
