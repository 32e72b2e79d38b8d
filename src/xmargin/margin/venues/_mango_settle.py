"""How Mango v4's trades, fees and settlements move a perp position's settle allowances, re-implemented from
reading ``programs/mango-v4/src/state/mango_account_components.rs`` (``PerpPosition``) of
blockworks-foundation/mango-v4 at commit ``1303a4a16228eb1e8e8d4f0eef724eaf63310c86``; no code copied.

The settle limit itself (how much P&L may be settled this window) is ``_mango.PerpPosition.settle_limit``; this
module updates the state it reads, each function returning a new position:

- a trade moves base and quote and the average entry price, and realises P&L when it reduces the position;
  the recurring allowance loses ``factor × stable price × net base increase`` (gains it when the position is
  reduced: the reduced part's share of the limit is kept), rounded down in Mango's fixed point, is at least 0,
  and is then capped by the position's unrealised P&L at the stable price (rounded up);
- fees and P&L a liquidator hands over change the quote and the one-shot allowance by the same amount;
- a settlement takes P&L out of the quote; it uses up the one-shot allowance first when it points the same way,
  and the rest counts against the window, less whatever the recurring allowance lost to its cap meanwhile (so
  that a shrinking upnl does not charge the limit twice);
- a new window (time past the current window's end, or before its start after the window length changed)
  clears what was settled in the window.

Not tracked: the display-only fields (break-even running quote, realised P&L of the position, volumes,
cumulative funding) and the market's open interest.
"""

from __future__ import annotations

import math
from dataclasses import replace

from xmargin.margin.venues._mango import PerpPosition


def _stable(p: PerpPosition) -> float:
    prices = p.market.prices
    return prices.oracle if prices.stable is None else prices.stable


def unsettled_pnl(p: PerpPosition, price: float) -> float:
    """Quote plus the base position valued at ``price`` (native quote)."""
    return p.quote + p.base_lots * p.market.base_lot_size * price


def cap_recurring_allowance(p: PerpPosition) -> tuple[PerpPosition, int]:
    """The recurring allowance kept within ``[0, ceil(|upnl at the stable price|)]``, and its change."""
    cap = math.ceil(abs(unsettled_pnl(p, _stable(p))))
    before = abs(p.recurring_settle_pnl_allowance)
    after = max(min(before, cap), 0)
    return replace(p, recurring_settle_pnl_allowance=after), after - before


def record_trade(p: PerpPosition, base_change: int, quote_change: float) -> tuple[PerpPosition, float]:
    """The position after a fill of ``base_change`` lots for ``quote_change`` native quote (negative when
    buying), and the P&L the fill realised."""
    if base_change == 0:
        return cap_recurring_allowance(replace(p, quote=p.quote + quote_change))[0], 0.0
    old, new = p.base_lots, p.base_lots + base_change
    entry = p.avg_entry_price_per_base_lot
    if new == 0:  # closed
        reduced, increased = abs(old), 0
        realized = quote_change + base_change * entry
        entry = 0.0
    elif (old > 0) != (new > 0) or old == 0:  # crossed (or opened from) zero
        reduced, increased = abs(old), abs(new)
        fill_price = abs(quote_change / base_change)
        realized = old * (fill_price - entry)
        entry = fill_price
    elif (old > 0) == (base_change > 0):  # grew
        reduced, increased = 0, abs(base_change)
        realized = 0.0
        entry = (abs(old) * entry + abs(quote_change)) / abs(new)
    else:  # shrank: entry price unchanged
        reduced, increased = abs(base_change), 0
        realized = quote_change + base_change * entry
    m = p.market
    taken = math.floor((increased - reduced) * m.base_lot_size * _stable(p) * m.settle_pnl_limit_factor)
    recurring = max(abs(p.recurring_settle_pnl_allowance) - taken, 0)
    p = replace(
        p,
        base_lots=new,
        quote=p.quote + quote_change,
        avg_entry_price_per_base_lot=entry,
        recurring_settle_pnl_allowance=recurring,
    )
    return cap_recurring_allowance(p)[0], realized


def record_trading_fee(p: PerpPosition, fee: float) -> PerpPosition:
    """A maker or taker fee paid (negative: a rebate) out of the quote, settleable once."""
    return replace(p, quote=p.quote - fee, oneshot_settle_pnl_allowance=p.oneshot_settle_pnl_allowance - fee)


def record_liquidation_quote_change(p: PerpPosition, change: float) -> PerpPosition:
    """Quote a liquidator takes over (realised at once, so settleable once)."""
    return replace(
        p, quote=p.quote + change, oneshot_settle_pnl_allowance=p.oneshot_settle_pnl_allowance + change
    )


def record_settle(p: PerpPosition, settled: float) -> PerpPosition:
    """The position after ``settled`` native P&L (positive: a profit taken out) moved into the settle token."""
    oneshot = p.oneshot_settle_pnl_allowance
    from_oneshot = max(min(settled, oneshot), 0.0) if settled > 0 else min(max(settled, oneshot), 0.0)
    used = math.trunc(settled - from_oneshot)
    p, change = cap_recurring_allowance(
        replace(p, quote=p.quote - settled, oneshot_settle_pnl_allowance=oneshot - from_oneshot)
    )
    if change < 0:
        used = max(used + change, 0) if used > 0 else min(used - change, 0)
    return replace(p, settled_in_current_window=p.settled_in_current_window + used)


def update_settle_window(p: PerpPosition, now_ts: int) -> PerpPosition:
    """The position at time ``now_ts`` (seconds): in a new window the settled amount starts again from 0."""
    size = p.market.settle_pnl_limit_window_size_ts
    start = p.settle_pnl_limit_window * size
    if start <= now_ts < start + size:
        return p
    return replace(p, settle_pnl_limit_window=now_ts // size, settled_in_current_window=0)
