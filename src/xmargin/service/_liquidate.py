"""A liquidation written to the ledger: the CEX engine decides, the ledger records, in one transaction.

For an account that is liquidatable on the service's market:

1. **The engine's plan.** The account (its ledger state as a portfolio, futures' unrealised P&L realised
   into their settlement asset at mark: :func:`xmargin.risk.realize_entries`) goes through
   :func:`xmargin.liquidation.liquidate` (partial, riskiest position first, penalty to the insurance fund;
   docs/liquidation.md). Its slices are summed per instrument.
2. **Fills.** One ``liquidation_fill`` event per instrument closed: the size summed over the slices (the
   whole position, exactly, when the engine closed it; else rounded toward zero to the ledger's 8 places),
   at the engine's price (futures and perpetuals their mark in USD; options their mark value per coin in
   the settlement asset, at least one unit of the last place), with the penalty converted at the index to
   the settlement asset (rounded up by the ledger). The ledger realises the P&L against the entry price
   exactly, in Decimal.
3. **Conversion** (cross-margin: all of an account's collateral backs its losses). Each negative balance
   left by the fills (largest in USD first; whether or not positions remain) is covered by converting the account's positive balances at
   the tick's index prices with the venue's conversion desk ``~conversion`` (one ``conversion`` event on
   each side, :mod:`xmargin.ledger._events`): stablecoins first (USDC, USDT, then USD), then the other
   assets by USD value, largest first, each up to what is still owed. The account gives at least and
   receives at most the value at the index (the amount given rounded up, the amount received down, in the
   assets' units), and never more than it holds; assets without an index price are not converted. This is
   what venues do with a deficit in one coin of a multi-collateral account: Binance Portfolio Margin
   exchanges other assets to repay a negative balance ("Frequently Asked Questions on Binance Portfolio
   Margin Program", "Can asset balance be negative? Will there be any auto-exchange?",
   https://www.binance.com/en/support/faq/446ce2c3357a449599c82436078b0e3b), Bybit's Unified Trading
   Account converts collateral to repay a negative settlement-coin balance at liquidation (Bybit help
   centre, "Liquidation Process (Unified Trading Account)"), and Deribit's cross-collateral margin
   auto-converts collateral to cover a deficit in the settlement currency (Deribit knowledge base,
   "Cross Collateral", from memory).
4. **Bad debt.** If the account is left without positions and its balances are still worth less than zero
   at the index (so every indexed positive balance has been converted), each remaining negative balance is
   recorded as ``bad_debt`` in its own asset.
5. **Cover** of each asset's debt ``D`` (the waterfall of :func:`xmargin.liquidation.waterfall`): the
   insurance fund's account ``~insurance`` pays ``min(fund, D)``, first from what it holds of the debt's
   asset, then by converting its other balances (USDC first, the same order and rounding as above) through
   the same desk into that asset, so a BTC debt is covered from a USDC fund at the index and the fund pays
   the deficit's USD value rounded up; the rest by auto-deleveraging, the
   accounts in profit on the bankrupt account's underlyings ranked by profit × leverage (Binance's ADL
   ranking, https://www.binance.com/en/support/faq/360033525471), each paying at most its profit and its
   balance of the asset; what is left is socialized over every other client account holding the asset, in
   proportion to its balance (Deribit's last resort, https://insights.deribit.com/education/the-deribit-
   insurance-fund-and-socialised-loss-system), rounded up per payer and never past a balance. ADL here moves
   cash only; the payer's position is not reduced. What nobody can pay stays outstanding bad debt.

All the events (fills, conversions, bad debt, every cover and its ``cover_received``) are appended with
:meth:`EventStore.append_all` in one transaction, under keys ``<base>.0``, ``<base>.1``, ... where the base
derives from the tick: a retried tick finds ``<base>.0`` stored and liquidates nothing again. Every event is
folded before it is written, so the ledger's own rules (a fill only reduces, a payer never goes below zero, a
cover never exceeds the debt) hold on what is appended; money is conserved by the fold's double entry.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_DOWN, Decimal, localcontext

from xmargin.instruments import Kind
from xmargin.ledger import (
    CONVERSION_ACCOUNT,
    INSURANCE_ACCOUNT,
    AccountState,
    AppendResult,
    ConcurrencyError,
    Event,
    EventKind,
    Ledger,
    apply,
    credit_amount,
    debit_amount,
)
from xmargin.ledger._checks import to_portfolio
from xmargin.ledger._fold import instrument
from xmargin.ledger._money import ARITHMETIC, PRICE_PLACES, SIZE_PLACES, to_text
from xmargin.ledger._requests import liquidation_fill_request
from xmargin.ledger._rules import shrinks
from xmargin.liquidation import CexConfig, liquidate, waterfall
from xmargin.margin import MarginModel
from xmargin.market import MarketSnapshot
from xmargin.risk import realize_entries, upnl_settle

ZERO = Decimal(0)
SIZE_Q = Decimal(1).scaleb(-SIZE_PLACES)
PRICE_Q = Decimal(1).scaleb(-PRICE_PLACES)
PENALTY_Q = Decimal(1).scaleb(-18)
MAX_ATTEMPTS = 5
STABLECOINS = ("USDC", "USDT", "USD")
"""Converted first, in this order, when a negative balance is covered (module docstring, step 3)."""

Part = tuple[str, EventKind, dict[str, str]]


@dataclass(frozen=True, slots=True)
class LiquidationOutcome:
    """What one liquidation wrote (USD at the index of the tick)."""

    account: str
    fills: int
    converted_usd: float
    """what the account's collateral conversions covered of its negative balances"""
    bad_debt_usd: float
    insurance_fund_used_usd: float
    adl_usd: float
    socialized_loss_usd: float
    outstanding_usd: float
    events: int


@dataclass
class _Plan:
    parts: list[Part]
    states: dict[str, AccountState]
    fills: int = 0
    converted: float = 0.0
    bad_debt: float = 0.0
    insurance: float = 0.0
    adl: float = 0.0
    socialized: float = 0.0
    outstanding: float = 0.0


def _dec(x: float) -> Decimal:
    return Decimal(repr(float(x)))


def _fills(st: AccountState, model: MarginModel, market: MarketSnapshot, config: CexConfig) -> list[Part]:
    pf = realize_entries(to_portfolio(st), market)
    result = liquidate(model, pf, market, config)
    left = {p.instrument.name for p in result.account.positions}
    sums: dict[str, list[float]] = {}
    for f in result.fills:
        s = sums.setdefault(f.instrument.name, [0.0, 0.0, f.price_usd])
        s[0] += f.size_coin
        s[1] += f.penalty_usd
        s[2] = f.price_usd
    parts: list[Part] = []
    for name, (size_f, penalty_usd, price_usd) in sums.items():
        inst = instrument(name)
        held = st.size(name)
        if name not in left:
            size = -held
        else:
            size = _dec(size_f).quantize(SIZE_Q, rounding=ROUND_DOWN)
            if size == 0 or not shrinks(held, held + size):
                continue
        asset = inst.settlement_asset()
        price = _dec(price_usd)
        if inst.kind is Kind.OPTION and inst.inverse:
            price = price / _dec(market.index(asset))
        price = max(price.quantize(PRICE_Q), PRICE_Q)
        penalty = ZERO
        if penalty_usd > 0:  # the ledger rounds it up to the asset's unit; 18 places is its parsing limit
            penalty = _dec(penalty_usd / market.index(asset)).quantize(PENALTY_Q, rounding=ROUND_CEILING)
        data, _ = liquidation_fill_request(name, to_text(size), to_text(price), to_text(penalty))
        parts.append((st.account, EventKind.LIQUIDATION_FILL, data))
    return parts


def _source_order(balances: Mapping[str, Decimal], target: str, market: MarketSnapshot) -> list[str]:
    """The assets converted to cover a debt in ``target``: positive, indexed; stablecoins first, then by
    USD value (largest first), then by name."""
    held = [a for a, v in balances.items() if v > 0 and a != target and market.has_index(a)]

    def rank(a: str) -> tuple[int, float, str]:
        if a in STABLECOINS:
            return (STABLECOINS.index(a), 0.0, a)
        return (len(STABLECOINS), -float(balances[a]) * market.index(a), a)

    return sorted(held, key=rank)


def _convert(
    plan: _Plan,
    account: str,
    balances: dict[str, Decimal],
    target: str,
    need: Decimal,
    market: MarketSnapshot,
) -> Decimal:
    """Append the conversions of ``account``'s other balances into up to ``need`` of ``target`` (with the
    desk's mirror events) and update ``balances``; returns how much of ``target`` the account received."""
    if not market.has_index(target):
        return ZERO
    p_to = _dec(market.index(target))
    received = ZERO
    for source in _source_order(balances, target, market):
        if need <= 0:
            break
        p_from, held = _dec(market.index(source)), balances[source]
        with localcontext(ARITHMETIC):
            cost = debit_amount(source, need * p_to / p_from)
            give, got = (cost, need) if cost <= held else (held, credit_amount(target, held * p_from / p_to))
        if got <= 0:
            continue
        prices = (to_text(p_from), to_text(p_to))
        plan.parts.append(
            (
                account,
                EventKind.CONVERSION,
                {
                    "asset_from": source,
                    "amount_from": to_text(give),
                    "price_from": prices[0],
                    "asset_to": target,
                    "amount_to": to_text(got),
                    "price_to": prices[1],
                    "counterparty": CONVERSION_ACCOUNT,
                },
            )
        )
        plan.parts.append(
            (
                CONVERSION_ACCOUNT,
                EventKind.CONVERSION,
                {
                    "asset_from": target,
                    "amount_from": to_text(got),
                    "price_from": prices[1],
                    "asset_to": source,
                    "amount_to": to_text(give),
                    "price_to": prices[0],
                    "counterparty": account,
                },
            )
        )
        balances[source] = held - give
        balances[target] = balances.get(target, ZERO) + got
        need -= got
        received += got
    return received


def _profit_and_leverage(
    states: Mapping[str, AccountState], underlyings: set[str], market: MarketSnapshot
) -> tuple[dict[str, float], dict[str, float]]:
    """Per account: unrealised profit (USD, at mark) on futures and perpetuals of ``underlyings``, and
    leverage (gross notional of those over its balances' value plus that P&L)."""
    profits: dict[str, float] = {}
    leverage: dict[str, float] = {}
    marks: dict[str, float] = {}  # one forward per instrument, not per holder
    for a, st in states.items():
        profit = notional = 0.0
        for name, pos in st.positions.items():
            inst = instrument(name)
            if inst.base not in underlyings or inst.kind not in (Kind.FUTURE, Kind.PERPETUAL):
                continue
            mark = marks.get(name)
            if mark is None:
                mark = marks[name] = market.mark(inst)
            size = float(pos.size)
            pnl = float(upnl_settle(size, float(pos.avg_price), mark, inst.inverse))
            profit += pnl * market.index(inst.settlement_asset())
            notional += abs(size) * market.index(inst.base)
        if profit > 0:
            value = sum(float(v) * market.index(x) for x, v in st.balances.items() if market.has_index(x))
            profits[a] = profit
            leverage[a] = notional / max(value + profit, 1.0)
    return profits, leverage


def _covers(
    debtor: str,
    asset: str,
    debt: Decimal,
    fund: dict[str, Decimal],
    clients: Callable[[], Mapping[str, AccountState]],
    underlyings: set[str],
    market: MarketSnapshot,
    plan: _Plan,
) -> None:
    price = market.index(asset)
    rest = debt

    def pay(payer: str, kind: EventKind, amount: Decimal) -> None:
        nonlocal rest
        text = to_text(amount)
        plan.parts.append((payer, kind, {"asset": asset, "amount": text, "debtor": debtor}))
        plan.parts.append(
            (
                debtor,
                EventKind.COVER_RECEIVED,
                {"asset": asset, "amount": text, "payer": payer, "via": kind.value},
            )
        )
        rest -= amount

    short = rest - fund.get(asset, ZERO)
    if short > 0:  # the fund's other balances, converted through the desk into the debt's asset
        _convert(plan, INSURANCE_ACCOUNT, fund, asset, short, market)
    used = min(fund.get(asset, ZERO), rest)
    if used > 0:
        fund[asset] -= used
        pay(INSURANCE_ACCOUNT, EventKind.INSURANCE_COVER, used)
        plan.insurance += float(used) * price
    if rest <= 0:
        return
    states = {a: s for a, s in clients().items() if a != debtor}
    plan.states.update(states)
    balance = {a: s.balance(asset) for a, s in states.items()}
    profits, leverage = _profit_and_leverage(states, underlyings, market)
    plan_usd = waterfall(
        float(rest) * price, 0.0, mode="adl", profits_usd=profits, leverage=leverage
    ).adl_by_account
    for payer, usd in plan_usd.items():
        amount = min(debit_amount(asset, _dec(usd / price)), balance.get(payer, ZERO), rest)
        if amount > 0:
            pay(payer, EventKind.ADL, amount)
            balance[payer] -= amount
            plan.adl += float(amount) * price
    if rest <= 0:
        return
    holders = sorted(a for a, b in balance.items() if b > 0)
    total = sum((balance[a] for a in holders), ZERO)
    target = rest
    for share_pass in (True, False):  # shares first; then whatever rounding left, from whoever still holds
        for payer in holders:
            if rest <= 0:
                break
            want = debit_amount(asset, target * balance[payer] / total) if share_pass else rest
            amount = min(want, balance[payer], rest)
            if amount > 0:
                pay(payer, EventKind.SOCIALIZED_LOSS, amount)
                balance[payer] -= amount
                plan.socialized += float(amount) * price
    plan.outstanding += float(rest) * price


def plan_liquidation(
    st: AccountState,
    fund: AccountState,
    desk: AccountState,
    clients: Callable[[], Mapping[str, AccountState]],
    model: MarginModel,
    market: MarketSnapshot,
    config: CexConfig,
    now: datetime,
) -> _Plan:
    """The events of one liquidation (module docstring); ``clients`` is called only if a bad debt is left
    once the insurance fund has paid (every client account's state)."""
    plan = _Plan(_fills(st, model, market, config), {st.account: st, fund.account: fund, desk.account: desk})
    plan.fills = len(plan.parts)
    after = st
    for i, (_, kind, data) in enumerate(plan.parts):
        after = apply(after, Event(st.account, st.version + i + 1, kind, data, "plan", now))
    balances = dict(after.balances)

    def usd(asset: str, amount: Decimal) -> float:
        return float(amount) * market.index(asset) if market.has_index(asset) else 0.0

    for asset in sorted((a for a, v in balances.items() if v < 0), key=lambda a: (usd(a, balances[a]), a)):
        got = _convert(plan, st.account, balances, asset, -balances[asset], market)
        plan.converted += usd(asset, got)
    negative = {a: -v for a, v in balances.items() if v < 0}
    worth = sum(usd(a, v) for a, v in balances.items())
    if after.positions or not negative or worth >= 0:
        return plan
    underlyings = {instrument(n).base for n in st.positions}
    fund_balances = dict(fund.balances)
    for asset, debt in sorted(negative.items()):
        plan.parts.append((st.account, EventKind.BAD_DEBT, {"asset": asset, "amount": to_text(debt)}))
        plan.bad_debt += usd(asset, debt)
        _covers(st.account, asset, debt, fund_balances, clients, underlyings, market, plan)
    return plan


def _events(plan: _Plan, base: str, now: datetime) -> list[tuple[Event, int]]:
    """The plan's events with their keys and sequence numbers, each folded (the ledger's rules) first."""
    request = hashlib.sha256(base.encode()).hexdigest()[:32]
    states = dict(plan.states)
    items: list[tuple[Event, int]] = []
    for i, (account, kind, data) in enumerate(plan.parts):
        before = states[account]
        ev = Event(account, before.version + 1, kind, {**data, "request": request}, f"{base}.{i}", now)
        states[account] = apply(before, ev)
        items.append((ev, before.version))
    return items


def liquidate_into_ledger(
    ledger: Ledger,
    account: str,
    base: str,
    model: MarginModel,
    market: MarketSnapshot,
    config: CexConfig,
    clients: Callable[[], list[str]],
) -> LiquidationOutcome | None:
    """Liquidate ``account`` into the ledger in one transaction under keys ``<base>.<i>``; None if nothing
    was written (the liquidation of this ``base`` is already stored, or the engine closed nothing)."""
    for attempt in range(MAX_ATTEMPTS):
        if ledger.store.find_key(f"{base}.0") is not None:
            return None
        now = ledger.clock.now()
        # the payers' states: this process's cached view first (no query per account); a stale one fails
        # the append's version check (CONFLICT), and the retry reads every state from the ledger
        read = ledger.live_state if attempt == 0 else ledger.state

        def states(read: Callable[[str], AccountState] = read) -> dict[str, AccountState]:
            return {a: read(a) for a in clients()}

        plan = plan_liquidation(
            ledger.state(account),
            ledger.state(INSURANCE_ACCOUNT),
            ledger.state(CONVERSION_ACCOUNT),
            states,
            model,
            market,
            config,
            now,
        )
        if not plan.parts:
            return None
        items = _events(plan, base, now)
        result = ledger.store.append_all(items)
        if result is AppendResult.DUPLICATE_KEY:
            return None
        if result is AppendResult.COMMITTED:
            return LiquidationOutcome(
                account,
                plan.fills,
                plan.converted,
                plan.bad_debt,
                plan.insurance,
                plan.adl,
                plan.socialized,
                plan.outstanding,
                len(items),
            )
    raise ConcurrencyError(f"liquidation of {account!r}: gave up after {MAX_ATTEMPTS} conflicting appends")
