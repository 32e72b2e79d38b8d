"""The demo book behind ``xmargin serve --demo``: the six shipped example books (``data/books``, the
2026-02-05 Deribit chain) written into a ledger as deposits, fills at mark and a withdrawal, so that the
dashboard has a venue to show.

Each account is filled through the ledger's own pre-trade checks (a large USDC deposit first, so every
fill passes), then the USDC it does not need is withdrawn down to a target margin balance of ``k`` times
its initial margin (:data:`DEMO_ACCOUNTS`; the withdrawal is checked too), which spreads the accounts over
the utilisation bands. The venue's insurance fund (``~insurance``) gets :data:`INSURANCE_USDC`. An account
that already has events is left as it is, so running the demo again on the same ledger adds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from xmargin.instruments import load_portfolio, parse_name
from xmargin.ledger import INSURANCE_ACCOUNT, Ledger
from xmargin.ledger._checks import to_portfolio
from xmargin.margin import MarginModel, account_report
from xmargin.market import MarketSnapshot, shipped_demo_books
from xmargin.risk import fill_price

BUFFER_USDC = Decimal(5_000_000)
"""Deposited before the fills so that every one passes the pre-trade check; the excess is withdrawn."""
INSURANCE_USDC = Decimal(250_000)
"""The demo venue's insurance fund (ASSUMED: of the order of the book's initial margin)."""
DEMO_ACCOUNTS: dict[str, float] = {
    "naked-short-call": 1.02,
    "hedged-call": 1.6,
    "covered-call": 3.0,
    "calendar-spread": 1.15,
    "short-straddle-hedged": 1.05,
    "btc-eth-multi": 2.0,
}
"""Target margin balance / initial margin per shipped book (ASSUMED: chosen to fill the bands)."""
COIN_MARGIN = 0.1
"""A coin withdrawal is sized 10% short of the excess, for the haircut and the coin's own delta."""
CENT = Decimal("0.01")
SATOSHI = Decimal("1e-8")


@dataclass(frozen=True, slots=True)
class DemoBook:
    accounts: tuple[str, ...]
    seeded: tuple[str, ...]
    """the accounts written now (the others already had events)"""


def _text(x: float) -> str:
    return format(x, ".12g")


def _excess_usd(ledger: Ledger, name: str, k: float, market: MarketSnapshot, model: MarginModel) -> float:
    r = account_report(model, to_portfolio(ledger.state(name)), market, with_liquidation=False)
    return r.margin_balance - k * r.initial_margin


def _withdraw_to(ledger: Ledger, name: str, k: float, market: MarketSnapshot, model: MarginModel) -> None:
    """Withdraw USDC, then the other coins, until the margin balance is about ``k`` x IM (each withdrawal
    through the ledger's check; a coin's is sized at its index less :data:`COIN_MARGIN`)."""
    excess = _excess_usd(ledger, name, k, market, model)
    usdc = ledger.state(name).balances.get("USDC", Decimal(0))
    out = min(Decimal(_text(excess)).quantize(CENT, ROUND_DOWN), usdc)
    if out > 0:
        ledger.withdraw(name, "USDC", str(out), market=market, key=f"demo-{name}-withdraw-USDC")
    for asset, held in sorted(ledger.state(name).balances.items()):
        excess = _excess_usd(ledger, name, k, market, model)
        if asset == "USDC" or held <= 0 or excess <= 0 or not market.has_index(asset):
            continue
        coins = Decimal(_text(excess * (1 - COIN_MARGIN) / market.index(asset))).quantize(SATOSHI, ROUND_DOWN)
        out = min(coins, held)
        if out > 0:
            ledger.withdraw(name, asset, str(out), market=market, key=f"demo-{name}-withdraw-{asset}")


def seed_demo(ledger: Ledger, market: MarketSnapshot, model: MarginModel) -> DemoBook:
    """Write the demo book into ``ledger`` (module docstring); ``model`` sets the target margins."""
    names: list[str] = []
    seeded: list[str] = []
    for path in shipped_demo_books():
        pf = load_portfolio(path)
        name = pf.account
        names.append(name)
        if ledger.state(name).version > 0:
            continue
        k = DEMO_ACCOUNTS.get(name, 2.0)
        for asset, amount in sorted(pf.collateral.items()):
            ledger.deposit(name, asset, _text(amount), key=f"demo-{name}-{asset}")
        ledger.deposit(name, "USDC", str(BUFFER_USDC), key=f"demo-{name}-buffer")
        for p in pf.positions:
            inst = p.instrument
            price = Decimal(_text(fill_price(parse_name(inst.name), market))).quantize(Decimal("1e-8"))
            ledger.trade(
                name, inst.name, _text(p.size_coin), str(price), market=market, key=f"demo-{name}-{inst.name}"
            )
        _withdraw_to(ledger, name, k, market, model)
        seeded.append(name)
    if ledger.state(INSURANCE_ACCOUNT).version == 0:
        ledger.deposit(INSURANCE_ACCOUNT, "USDC", str(INSURANCE_USDC), key="demo-insurance")
    return DemoBook(tuple(names), tuple(seeded))
