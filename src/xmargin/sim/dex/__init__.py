"""The DEX in a crash replay (``venue="dex"``): push oracles, MakerDAO LIQ 2.0 vaults, Clipper auctions
and keepers.

Time runs in blocks (``ReplayConfig.clock_s``, 12 s: Ethereum's slot time since the Merge; ``_loop``). Each
underlying has a push oracle (``oracle.PushOracle``: deviation / heartbeat, optional OSM-style delay); the
engine only sees the oracle, and only when it updates. An account below maintenance at the oracle is
*kicked* (``_kick``): its positions are taken over at the oracle price and converted to their delta (gamma
and vega are dropped: an on-chain vault holds collateral, not options), so that it becomes a vault in the
MakerDAO sense. Each of its lots is sold by a Clipper Dutch auction (``liquidation.DutchAuction``);
keepers (``_keepers``) take when profitable after gas at the market price and resell what they buy into the
market (impact). An account's sales are netted when all are over (``_auctions``): the penalty goes to the
surplus buffer (the insurance fund here), a shortfall is bad debt, covered by the buffer and then
socialized. Keeper incentives (``tip + chip × tab`` on kick and redo) are paid by the buffer apart from bad
debt. Auctions still running at the end of the window are closed out at the market.

Default parameters and their sources: ``DexConfig`` (MakerDAO's WBTC-C vault type; keepers ASSUMED).
"""

from xmargin.sim.dex._loop import replay_dex

__all__ = ["replay_dex"]
