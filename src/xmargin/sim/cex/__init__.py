"""The CEX in a crash replay (``venue="cex"``).

The engine recomputes the whole book whenever a mark has moved ``cex_tick_move`` since its last tick, at
the market price, and after each liquidation round at the impacted price (up to ``max_rounds`` rounds per
tick: the cascade; ``_loop``). Accounts below maintenance are liquidated partially by
``liquidation.liquidate`` (riskiest position first, slices at mark with the penalty to the insurance fund, a
backstop beyond market depth) until they are back above ``(1 + buffer) × MM`` (``_liquidation``). Futures
are settled at mark first (``realize_entries``) and what is left is re-entered at mark. The wall time of
each account's liquidation decision is measured. An account left with a deficit and no positions is bad
debt, covered by the bankruptcy waterfall (``sim._venue``: insurance fund, then ADL or socialized loss, as
``ReplayConfig.waterfall`` says).
"""

from xmargin.sim.cex._loop import replay_cex

__all__ = ["replay_cex"]
