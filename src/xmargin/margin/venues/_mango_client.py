"""Figures and solvers Mango v4's clients build on account health, re-implemented from reading
blockworks-foundation/mango-v4 at commit ``1303a4a16228eb1e8e8d4f0eef724eaf63310c86``
(``programs/mango-v4/src/health/cache.rs`` for the ratio, the asset/liability split and leverage;
``health/client.rs`` for the solvers; ``state/bank.rs`` for deposits, withdrawals and the limits); no code copied.

- ``health_ratio``: ``100 × (assets − liabs) / liabs`` of the weighted health (0 when assets equal liabilities,
  100 when assets are twice the liabilities; infinite without liabilities). Tokens and the perp P&L settled in
  them are summed before weighting, so the split into assets and liabilities is a choice: ``stable_assets``
  keeps the asset side fixed when liabilities grow, ``stable_liabs`` (the ratio's) the liability side;
  ``health = assets − liabs`` either way.
- ``leverage``: ``liabs / max(equity, 0.001)`` of the unweighted balance sheet at oracle prices
  (``assets_and_liabs``: token balances, reserved spot-order funds, perp quote and base positions).
- ``max_swap_source``: how much of a source token may be swapped into a target token at ``price`` (target per
  source) with a health function staying at or above a minimum. The function of the amount is not monotone
  (repaying a borrow first raises health), so its maximum is found first (a bracketing search with a 0.1 native
  step), then the amount where it falls to the minimum, searched to the right of an estimate of zero health.
  When swapping more can only raise health (``final slope ≥ 0``) the amount is unbounded (``math.inf``).
  ``apply_swap_limits`` caps it by the source bank's net-borrow limit and the target bank's deposit limit.
- ``max_perp``: how many base lots may be bought or sold at ``price`` with the init health ratio staying at or
  above a minimum: first through zero when the trade reduces the position, then a bisection (1-lot step)
  towards an over-estimate of the size that brings health to zero (the slope per lot, shrunk by 1%).
  ``UNLIMITED_LOTS`` (Mango's ``i64::MAX``) when the price is good enough that trading can only raise health.
- ``max_borrow``: how much of a token may be withdrawn (borrowing past the deposits) with the ratio staying at or
  above a minimum: a bisection (1 native step) up to the deposits plus the health over the liab weight.

The state of the health cache is an ``_mango.Account``; a swap or borrow changes the banks' deposits and
borrows (which the init weights may be scaled by) through ``withdraw`` and ``deposit``, which treat the account's
balance as its position in the bank. Differences from Mango, none of which its tests reach: no loan origination
fee (the health cache never sees it), no dusting of balances below one native token, the net-borrow window is
the current one, and an init asset weight is always scaled at the init liab price (Mango rescales it at the init
asset price after a change; the two agree when the stable price equals the oracle).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

from xmargin.margin.venues._mango import (
    Account,
    Bank,
    HealthType,
    PerpPosition,
    effective_balances,
    health,
    serum3_parts,
    serum3_reservations,
    spot_balances,
)

INIT = HealthType.INIT
UNLIMITED_LOTS = 2**63 - 1
"""``max_perp``'s answer when any size is healthy (Mango returns ``i64::MAX``)"""
LEVERAGE_EQUITY_FLOOR = 0.001
"""equity below this is taken as this in ``leverage`` (Mango's floor)"""
SEARCH_TOLERANCE = 0.1
"""a bisection stops as soon as its value is above the target by less than this (Mango's ``target_error``)"""

HealthFn = Callable[[Account], float]


class SolverError(ValueError):
    """A search could not bracket or reach its target (Mango returns an error in the same places)."""


def health_assets_and_liabs(account: Account, ht: HealthType, *, stable_assets: bool) -> tuple[float, float]:
    """The weighted health split into (assets, liabilities), both ≥ 0, with ``assets − liabs = health``.

    Per token, the positive parts (balance, perps' positive health P&L) and the negative parts are gathered
    first; the smaller side is the one that compensates: with ``stable_assets`` the asset side is valued at the
    asset-weighted price and the liability side matches it up to the asset amount, the excess at the
    liab-weighted price; otherwise the liability side is valued at the liab-weighted price and the asset side
    matches it, the excess at the asset-weighted price. Spot-order contributions are added by sign.
    """
    spot = spot_balances(account)
    pos = [x if x > 0 else 0.0 for x in spot]
    neg = [-x if x < 0 else 0.0 for x in spot]
    for p in account.perps:
        pnl = p.health_pnl(ht)
        if pnl > 0:
            pos[p.market.settle] += pnl
        else:
            neg[p.market.settle] -= pnl
    assets = liabs = 0.0
    for bank, a, b in zip(account.banks, pos, neg, strict=True):
        if a == 0.0 and b == 0.0:
            continue
        awp, lwp = bank.asset_weighted_price(ht), bank.liab_weighted_price(ht)
        if stable_assets:
            assets += a * awp
            liabs += b * awp if a >= b else a * awp + (b - a) * lwp
        else:
            liabs += b * lwp
            assets += b * lwp + (a - b) * awp if a >= b else a * lwp
    if account.serum3:
        for part in serum3_parts(account, ht, effective_balances(account, ht)):
            if part > 0:
                assets += part
            else:
                liabs -= part
    return assets, liabs


def health_ratio(account: Account, ht: HealthType = INIT) -> float:
    """``100 × (assets − liabs) / liabs`` with liabilities held stable; ``math.inf`` without liabilities."""
    assets, liabs = health_assets_and_liabs(account, ht, stable_assets=False)
    return 100.0 * (assets - liabs) / liabs if liabs > 0 else math.inf


def init_health(account: Account) -> float:
    return health(account, INIT).health


def assets_and_liabs(account: Account) -> tuple[float, float]:
    """The unweighted balance sheet at oracle prices (assets, liabilities), in the health reference token."""
    assets = liabs = 0.0
    for bank, x in zip(account.banks, spot_balances(account), strict=True):
        if x < 0:
            liabs -= x * bank.prices.oracle
        else:
            assets += x * bank.prices.oracle
    for s in account.serum3:
        assets += s.reserved_base * account.banks[s.base].prices.oracle
        assets += s.reserved_quote * account.banks[s.quote].prices.oracle
    for p in map(_as_cached, account.perps):
        m = p.market
        settle_price = account.banks[m.settle].prices.oracle
        for value in (p.quote * settle_price, p.base_lots * m.base_lot_size * m.prices.oracle * settle_price):
            if value < 0:
                liabs -= value
            else:
                assets += value
    return assets, liabs


def leverage(account: Account) -> float:
    """Liabilities over equity of the unweighted balance sheet, equity floored at 0.001."""
    assets, liabs = assets_and_liabs(account)
    return liabs / max(assets - liabs, LEVERAGE_EQUITY_FLOOR)


# --- the bank's side of a change -------------------------------------------------------------------------------


def withdraw(bank: Bank, position: float, amount: float) -> Bank:
    """The bank after ``amount`` (≥ 0) leaves a position: deposits first, the rest borrowed (net borrows of the
    window grow by the borrowed amount, rounded up)."""
    if amount < 0:
        raise ValueError(f"a withdrawal of {amount}: amounts are ≥ 0")
    from_deposits = min(amount, max(position, 0.0))
    borrowed = amount - from_deposits
    net = bank.net_borrows_in_window + (math.ceil(borrowed) if borrowed > 0 else 0)
    return bank.with_totals(bank.deposits - from_deposits, bank.borrows + borrowed, net)


def deposit(bank: Bank, position: float, amount: float) -> Bank:
    """The bank after ``amount`` (≥ 0) enters a position: borrows repaid first (net borrows of the window shrink
    by the repaid amount), the rest deposited."""
    if amount < 0:
        raise ValueError(f"a deposit of {amount}: amounts are ≥ 0")
    repaid = min(amount, max(-position, 0.0))
    net = bank.net_borrows_in_window + (math.ceil(-repaid) if repaid > 0 else 0)
    return bank.with_totals(bank.deposits + amount - repaid, bank.borrows - repaid, net)


def remaining_net_borrows_quote(bank: Bank) -> float:
    """Quote value that may still be borrowed this window (at the higher of oracle and stable price)."""
    if bank.net_borrows_in_window < 0 or math.isinf(bank.net_borrow_limit_per_window_quote):
        return math.inf
    stable = bank.prices.oracle if bank.prices.stable is None else bank.prices.stable
    return (
        bank.net_borrow_limit_per_window_quote - max(bank.prices.oracle, stable) * bank.net_borrows_in_window
    )


def remaining_deposits(bank: Bank) -> float:
    """Native amount that may still be deposited before the deposit limit (deposits plus potential order tokens)."""
    if math.isinf(bank.deposit_limit):
        return math.inf
    return bank.deposit_limit - (bank.deposits + bank.potential_serum_tokens)


def _with_token(account: Account, i: int, bank: Bank, change: float) -> Account:
    banks = list(account.banks)
    balances = list(account.balances)
    banks[i] = bank
    balances[i] += change
    return Account(banks, balances, account.serum3, account.perps)


def after_swap(account: Account, source: int, target: int, amount: float, price: float) -> Account:
    """The account after ``amount`` native source tokens are swapped into ``amount × price`` target tokens."""
    got = amount * price
    out = _with_token(
        account, source, withdraw(account.banks[source], account.balances[source], amount), -amount
    )
    return _with_token(out, target, deposit(out.banks[target], out.balances[target], got), got)


def after_borrow(account: Account, token: int, amount: float, bank: Bank | None = None) -> Account | None:
    """The account after withdrawing ``amount`` of ``token`` from ``bank`` (default: the account's); ``None``
    when the bank's net-borrow limit is hit."""
    bank = withdraw(account.banks[token] if bank is None else bank, account.balances[token], amount)
    if remaining_net_borrows_quote(bank) < 0:
        return None
    return _with_token(account, token, bank, -amount)


def _as_cached(p: PerpPosition) -> PerpPosition:
    """The position as Mango's health cache holds it: taker fills and unsettled funding folded into base and quote."""
    m = p.market
    return replace(
        p,
        base_lots=p.base_lots + p.taker_base_lots,
        quote=p.quote - p.unsettled_funding() + p.taker_quote_lots * m.quote_lot_size,
        taker_base_lots=0,
        taker_quote_lots=0,
        long_settled_funding=m.long_funding,
        short_settled_funding=m.short_funding,
    )


def after_perp_trade(account: Account, perp: int, lots: int, price: float) -> Account:
    """The account after trading ``lots`` base lots (positive: bought) of perp ``perp`` at ``price``."""
    perps = [_as_cached(p) for p in account.perps]
    p = perps[perp]
    perps[perp] = replace(
        p, base_lots=p.base_lots + lots, quote=p.quote - lots * p.market.base_lot_size * price
    )
    return Account(account.banks, account.balances, account.serum3, perps)


# --- searches --------------------------------------------------------------------------------------------------


def bisect_to_target(
    left: float,
    left_value: float,
    right: float,
    target: float,
    min_step: float,
    fn: Callable[[float], float],
) -> float:
    """An amount between ``left`` and ``right`` (whose values must bracket ``target``) at which ``fn`` is at or
    just above ``target``: returns ``left`` once the bracket is narrower than ``min_step``, or a midpoint whose
    value exceeds the target by less than ``SEARCH_TOLERANCE``; 50 halvings at most."""
    right_value = fn(right)
    if not (min(left_value, right_value) <= target <= max(left_value, right_value)):
        raise SolverError(f"values {left_value} and {right_value} do not bracket the target {target}")
    for _ in range(50):
        if abs(right - left) < min_step:
            return left
        mid = 0.5 * (left + right)
        value = fn(mid)
        if 0 < value - target < SEARCH_TOLERANCE:
            return mid
        if (value > target) != (right_value > target):
            left = mid
        else:
            right = mid
    raise SolverError("bisection did not converge in 50 steps")


def maximise(left: float, right: float, min_step: float, fn: Callable[[float], float]) -> tuple[float, float]:
    """(argument, value) of the maximum of ``fn`` on ``[left, right]``, for a function with one maximum (possibly a
    plateau, whose right end is preferred): the interval is narrowed around the best of its ends, midpoint and
    quarter points until it is ``min_step`` wide."""
    mid = 0.5 * (left + right)
    lv, mv, rv = fn(left), fn(mid), fn(right)
    while right - left > min_step:
        if lv > mv:  # rising to the left: the maximum is in the left half
            right, rv = mid, mv
            mid = 0.5 * (left + mid)
            mv = fn(mid)
        elif mv <= rv:  # rising to the right
            left, lv = mid, mv
            mid = 0.5 * (mid + right)
            mv = fn(mid)
        else:  # the midpoint beats both ends: look at the quarter points
            q1 = 0.5 * (left + mid)
            q1v = fn(q1)
            if q1v > mv:
                right, rv, mid, mv = mid, mv, q1, q1v
                continue
            q3 = 0.5 * (mid + right)
            q3v = fn(q3)
            if q3v >= mv:
                left, lv, mid, mv = mid, mv, q3, q3v
                continue
            left, lv, right, rv = q1, q1v, q3, q3v
    if lv > mv:
        return left, lv
    if mv > rv:
        return mid, mv
    return right, rv


def scan_right(start: float, target: float, fn: Callable[[float], float]) -> float:
    """The first of ``start``, then doublings of ``max(start, 1)``, where ``fn`` is at or below ``target`` (20 tries)."""
    x = start
    for _ in range(20):
        if fn(x) <= target:
            return x
        x = max(x, 1.0) * 2.0
    raise SolverError(f"no amount up to {x:g} brings the value to {target}")


# --- solvers ---------------------------------------------------------------------------------------------------


def max_swap_source(
    account: Account,
    source: int,
    target: int,
    price: float,
    min_value: float,
    value_fn: HealthFn = health_ratio,
) -> float:
    """Native source amount that may be swapped into ``target`` at ``price`` (native target per native source)
    with ``value_fn`` of the result at least ``min_value``; the amount that maximises it when the minimum cannot
    be reached; ``math.inf`` when swapping more can only raise health. Bank limits are not applied
    (``apply_swap_limits``)."""
    if not price > 0:
        raise ValueError(f"swap price {price}: expected > 0 target per source")
    src, tgt = account.banks[source], account.banks[target]
    final_slope = (
        -src.liab_weight(INIT) * src.prices.liab(INIT)
        + tgt.init_asset_weight * tgt.prices.asset(INIT) * price
    )
    if final_slope >= 0:
        return math.inf

    def value(amount: float) -> float:
        return value_fn(after_swap(account, source, target, amount, price))

    max_reserved, _ = serum3_reservations(account, INIT)
    balance = effective_balances(account, INIT)
    rightmost = max(
        abs(balance[source]) + max_reserved[source], (abs(balance[target]) + max_reserved[target]) / price
    )
    best, best_value = maximise(0.0, rightmost, 0.1, value)
    if best_value <= min_value:
        return best
    health_at_best = init_health(after_swap(account, source, target, best, price))
    if health_at_best == 0:
        return best
    if health_at_best < 0:  # the value function is content but health is not
        return 0.0
    zero_estimate = best - health_at_best / final_slope
    right = scan_right(zero_estimate, min_value, value)
    if right == zero_estimate:
        return bisect_to_target(best, best_value, right, min_value, 0.1, value)
    return bisect_to_target(zero_estimate, value(zero_estimate), right, min_value, 0.1, value)


def apply_swap_limits(account: Account, source: int, target: int, price: float, amount: float) -> float:
    """``amount`` capped by what the source bank may still lend this window (plus the account's deposits there)
    and what the target bank may still take in (plus the account's borrows there, which the swap repays)."""
    src, tgt = account.banks[source], account.banks[target]
    borrowable = remaining_net_borrows_quote(src) / src.prices.oracle
    source_cap = min(amount, borrowable + max(account.balances[source], 0.0))
    target_cap = min(source_cap * price, remaining_deposits(tgt) - min(account.balances[target], 0.0))
    return min(source_cap, target_cap / price)


def max_swap_source_with_limits(
    account: Account, source: int, target: int, price: float, min_ratio: float
) -> float:
    """``max_swap_source`` for the init health ratio, then ``apply_swap_limits``."""
    return apply_swap_limits(
        account, source, target, price, max_swap_source(account, source, target, price, min_ratio)
    )


def max_perp(account: Account, perp: int, price: float, buy: bool, min_ratio: float) -> int:
    """Base lots of perp ``perp`` that may be bought (``buy``) or sold at ``price`` with the init health ratio at
    least ``min_ratio`` (the better of trading nothing and closing the position when it cannot be reached);
    ``UNLIMITED_LOTS`` when trading at this price can only raise health; 0 when the ratio starts negative."""
    initial_ratio = health_ratio(account)
    if initial_ratio < 0:
        return 0
    direction = 1 if buy else -1
    position = _as_cached(account.perps[perp])
    m = position.market
    if buy:
        slope = m.init_base_asset_weight * m.prices.asset(INIT) - price
    else:
        slope = price - m.init_base_liab_weight * m.prices.liab(INIT)
    if slope >= 0:
        return UNLIMITED_LOTS
    slope *= account.banks[m.settle].liab_weighted_price(INIT)

    def traded(lots: int) -> Account:
        return after_perp_trade(account, perp, direction * lots, price)

    def ratio(lots: float) -> float:
        return health_ratio(traded(int(lots)))

    reducing = position.base_lots * direction < 0
    start = abs(position.base_lots) if reducing else 0
    start_ratio = ratio(start) if reducing else initial_ratio
    if initial_ratio <= min_ratio and start_ratio < min_ratio:
        return start if start_ratio >= initial_ratio else 0
    if start_ratio < min_ratio:  # the target lies between trading nothing and closing
        return int(bisect_to_target(0.0, initial_ratio, float(start), min_ratio, 1.0, ratio))
    # past ``start`` every lot costs at least |slope|: undo the P&L cap and the settle token's asset weighting so
    # that the slope applies from the start, and over-estimate the size that brings health to zero
    after = traded(start)
    settle = after.banks[m.settle]
    flat = replace(
        settle, init_asset_weight=settle.liab_weight(INIT), deposit_weight_scale_start_quote=math.inf
    )
    perps = list(after.perps)
    perps[perp] = replace(perps[perp], market=replace(m, init_overall_asset_weight=1.0))
    banks = list(after.banks)
    banks[m.settle] = flat
    start_health = init_health(Account(banks, after.balances, after.serum3, perps))
    if start_health <= 0:
        return 0
    zero_lots = start - start_health / (slope * m.base_lot_size * 0.99) + 1.0
    if ratio(zero_lots) > 0:
        raise SolverError(f"the zero-health estimate of {zero_lots:g} lots leaves a positive ratio")
    return int(bisect_to_target(float(start), start_ratio, zero_lots, min_ratio, 1.0, ratio))


def max_borrow(
    account: Account,
    token: int,
    min_value: float,
    value_fn: HealthFn = health_ratio,
    *,
    bank: Bank | None = None,
) -> float:
    """Native amount of ``token`` that may be withdrawn (past its deposits: borrowed) with ``value_fn`` at least
    ``min_value``; 0 when it already is not.

    ``bank``: the token's bank as it is now, when it differs from the one the account's health was taken with
    (Mango's solver takes the bank apart from its health cache: the start and the search's bound use the cached
    weights, every amount tried is withdrawn from ``bank``)."""
    start_value = value_fn(account)
    if start_value <= min_value:
        return 0.0
    cached = account.banks[token]
    balance = effective_balances(account, INIT)[token]
    limit = max(balance, 0.0) + max(init_health(account), 0.0) / cached.liab_weight(INIT)
    if limit <= 0:
        return 0.0

    def value(amount: float) -> float:
        after = after_borrow(account, token, amount, bank)
        return -math.inf if after is None else value_fn(after)

    return bisect_to_target(0.0, start_value, limit, min_value, 1.0, value)
