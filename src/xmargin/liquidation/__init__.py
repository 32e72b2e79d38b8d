"""Liquidation: CEX partial liquidation with a bankruptcy waterfall, the real-time risk loop (ticks in, margin calls and liquidation triggers out) and MakerDAO
LIQ 2.0 style Dutch auctions with their price curves and a keeper model.

Auction sources: ``makerdao/dss`` ``src/clip.sol`` and ``src/abaci.sol`` (HEAD fa4f6630).
"""

from xmargin.liquidation._auction import (
    WBTC_C,
    AuctionError,
    AuctionParams,
    AuctionStatus,
    ClipperIlk,
    DutchAuction,
    ExponentialDecrease,
    LinearDecrease,
    PriceCurve,
    StairstepExponentialDecrease,
    StepwiseExponentialDecrease,
    Take,
    bid_pays,
    keeper_bids,
    take_pays,
)
from xmargin.liquidation._batch import liquidate_batch
from xmargin.liquidation._cex import (
    CexConfig,
    Fill,
    LiquidationResult,
    WaterfallResult,
    liquidate,
    waterfall,
)
from xmargin.liquidation._loop import Alert, RiskLoop, Tick, ticks_from_bars

__all__ = [
    "WBTC_C",
    "Alert",
    "AuctionError",
    "AuctionParams",
    "AuctionStatus",
    "CexConfig",
    "ClipperIlk",
    "DutchAuction",
    "ExponentialDecrease",
    "Fill",
    "LinearDecrease",
    "LiquidationResult",
    "PriceCurve",
    "RiskLoop",
    "StairstepExponentialDecrease",
    "StepwiseExponentialDecrease",
    "Take",
    "Tick",
    "WaterfallResult",
    "bid_pays",
    "keeper_bids",
    "liquidate",
    "liquidate_batch",
    "take_pays",
    "ticks_from_bars",
    "waterfall",
]
