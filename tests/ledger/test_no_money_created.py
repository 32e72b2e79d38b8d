"""No sequence of accepted commands creates money (a Hypothesis state machine on one fixed market).

Rules: deposits of BTC, ETH, USDC; withdrawals of any asset and any amount (including ones the account
never held, and "everything held"); trades on perpetuals, futures and options, inverse and linear, at
arbitrary prices: near the mark (in and out of the band) and absurd (1, 1e9, 0.0001).

Invariants, after every step:
- every accepted fill is inside the price band, computed here independently of the ledger: futures
  and perpetuals ``|p − mark| ≤ 5% × mark``; options ``|p − mark| ≤ max(30% × mark, 0.04 × one coin of
  the underlying in the premium's unit)``, the mark being the option's premium from ``xmargin.pricing``;
- for every account, ``withdrawn ≤ deposited + allowance`` in USD at the market's index, where the
  allowance is the P&L the band lets fills make against the mark, in the settlement asset:
  ``Σ |size| × |fill − mark|`` (linear instruments and option premiums), and for inverse futures, whose
  P&L is in coin, ``Σ |size| × |fill − mark| × (1 + 5%) / min(fill, mark)`` (the coin P&L of a fill
  against the mark is ``size × (mark − fill) / mark`` when it opens, and ``size × (mark − fill) ×
  entry / (mark × fill)`` when it closes, with an entry within 5% of the mark).

Why this fails on the old code (no price bands, no withdrawal limit): ``deposit a USDC 1000``;
``trade a BTC_USDC-PERPETUAL 1 1`` is accepted (its margin check counts the position at the mark, 94,999
USD of unrealised profit); ``trade a BTC_USDC-PERPETUAL -1 95000`` only reduces, so it is accepted
unchecked and realises 94,999 USDC from the clearing book; ``withdraw a USDC 14000`` is accepted. The
first fill is outside the band (1 against a band of [90,250, 99,750]), and ``withdrawn`` = 14,000 >
``deposited + allowance`` = 1,000 + 1 × min(94,999, 4,750 the band's half-width) = 5,750: both invariants
fail. (The allowance clips each fill's deviation at the band's half-width, so it is the same on a
ledger that accepted a fill outside the band.) The ledger is a SQLite file (durable, so the same test
runs unchanged on the old code).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from tests.ledger.conftest import MARKET_FILE
from xmargin.core import InputError
from xmargin.instruments import Kind, parse_name
from xmargin.ledger import Ledger, RefusedError
from xmargin.market import load_market
from xmargin.pricing import value_instruments

MARKET = load_market(MARKET_FILE)
ACCOUNTS = ("a", "b")
ASSETS = ("BTC", "ETH", "USDC")
INDEX = {a: Decimal(repr(MARKET.index(a))) for a in ASSETS}
FUTURES_BAND = Decimal("0.05")
OPTIONS_BAND = Decimal("0.30")
OPTIONS_FLOOR = Decimal("0.04")
NAMES = (
    "BTC_USDC-PERPETUAL",
    "BTC-PERPETUAL",
    "BTC-27DEC26",
    "BTC_USDC-27DEC26",
    "BTC-27DEC26-100000-C",
    "ETH_USDC-27DEC26-4000-P",
)
INSTS = {n: parse_name(n) for n in NAMES}
VALUATIONS = dict(value_instruments(list(INSTS.values()), MARKET).instruments)
MARKS = {n: Decimal(repr(VALUATIONS[n].price)) for n in NAMES}  # the premium for options, else the mark
ABSURD = (Decimal(1), Decimal("1e9"), Decimal("0.0001"))
NEAR = st.decimals(min_value=Decimal("0.94"), max_value=Decimal("1.06"), places=3)  # mostly in the band
WIDE = st.decimals(min_value=Decimal("0.5"), max_value=Decimal("1.6"), places=2)
SIZE = st.one_of(
    st.sampled_from([Decimal(x) for x in ("0.1", "-0.1", "0.02", "-0.02", "0.5", "-0.5")]),
    st.decimals(min_value=Decimal("-1"), max_value=Decimal("1"), places=3).filter(lambda x: x != 0),
)
USD_AMOUNT = st.one_of(  # an amount worth this many USD, in units of the asset
    st.sampled_from([Decimal(50000), Decimal(200000), Decimal(10000), Decimal(1000)]),
    st.decimals(min_value=Decimal("0.01"), max_value=Decimal(400000), places=2),
)


def units(asset: str, usd: Decimal) -> Decimal:
    return (usd / INDEX[asset]).quantize(Decimal("1e-8"))


QUOTE = st.one_of(  # ("x mark", factor of the mark) or ("absurd", a price)
    st.tuples(st.just("x mark"), NEAR),
    st.tuples(st.just("x mark"), st.just(Decimal(1))),
    st.tuples(st.just("x mark"), NEAR),
    st.tuples(st.just("x mark"), WIDE),
    st.tuples(st.just("absurd"), st.sampled_from(ABSURD)),
)


def half_width(name: str) -> Decimal:
    """The band's half-width around the mark for ``name`` (computed here, not by the ledger)."""
    inst, mark = INSTS[name], MARKS[name]
    if inst.kind is not Kind.OPTION:
        return mark * FUTURES_BAND
    coin = Decimal(1) if inst.inverse else INDEX[inst.base] / INDEX[inst.settlement_asset()]
    return max(mark * OPTIONS_BAND, OPTIONS_FLOOR * coin)


def allowance_usd(name: str, size: Decimal, price: Decimal) -> Decimal:
    """The P&L against the mark that a fill may make, in USD (see the module docstring); the deviation is
    clipped at the band's half-width."""
    inst, mark = INSTS[name], MARKS[name]
    dev = abs(size) * min(abs(price - mark), half_width(name))
    asset = inst.settlement_asset()
    if inst.kind is not Kind.OPTION and inst.inverse:
        dev = dev * (1 + FUTURES_BAND) / min(price, mark)
    return dev * INDEX[asset]


class NoMoneyMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="xm-nomoney-"))
        self.ledger = Ledger(f"sqlite:///{self.dir / 'ledger.db'}", model="pm")
        self.deposited: dict[str, Decimal] = defaultdict(Decimal)  # account -> USD
        self.withdrawn: dict[str, Decimal] = defaultdict(Decimal)
        self.allowance: dict[str, Decimal] = defaultdict(Decimal)
        self.fills_outside: list[tuple[str, str, Decimal]] = []

    def teardown(self) -> None:
        self.ledger.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    @rule(account=st.sampled_from(ACCOUNTS), asset=st.sampled_from(ASSETS), usd=USD_AMOUNT)
    def deposit(self, account: str, asset: str, usd: Decimal) -> None:
        try:
            r = self.ledger.deposit(account, asset, units(asset, usd))
        except InputError:  # below the asset's unit
            return
        self.deposited[account] += Decimal(r.event.data["amount"]) * INDEX[asset]

    def _withdraw(self, account: str, asset: str, amount: Decimal) -> None:
        v = self.ledger.state(account).version
        try:
            r = self.ledger.withdraw(account, asset, amount, market=MARKET)
        except (RefusedError, InputError):
            assert self.ledger.state(account).version == v  # nothing written
            return
        assert r.state.balance(asset) >= 0, "a withdrawal left a negative balance"
        self.withdrawn[account] += Decimal(r.event.data["amount"]) * INDEX[asset]

    @rule(account=st.sampled_from(ACCOUNTS), asset=st.sampled_from(ASSETS), usd=USD_AMOUNT)
    def withdraw(self, account: str, asset: str, usd: Decimal) -> None:
        self._withdraw(account, asset, units(asset, usd))

    @rule(account=st.sampled_from(ACCOUNTS), asset=st.sampled_from(ASSETS))
    def withdraw_everything_held(self, account: str, asset: str) -> None:
        held = self.ledger.state(account).balance(asset)
        if held > 0:
            self._withdraw(account, asset, held)

    @rule(account=st.sampled_from(ACCOUNTS), name=st.sampled_from(NAMES), size=SIZE, quote=QUOTE)
    def trade(self, account: str, name: str, size: Decimal, quote: tuple[str, Decimal]) -> None:
        self._fill(account, name, size, quote)

    @rule(
        account=st.sampled_from(ACCOUNTS),
        data=st.data(),
        fraction=st.sampled_from([Decimal(1), Decimal("0.5"), Decimal("0.3")]),
        quote=QUOTE,
    )
    def close(self, account: str, data: st.DataObject, fraction: Decimal, quote: tuple[str, Decimal]) -> None:
        """Reduce an open position (the reduce-only path: no margin check, the band still applies)."""
        positions = self.ledger.state(account).positions
        if not positions:
            return
        name = data.draw(st.sampled_from(sorted(positions)))
        size = (-positions[name].size * fraction).quantize(Decimal("1e-3"))
        if size != 0:
            self._fill(account, name, size, quote)

    def _fill(self, account: str, name: str, size: Decimal, quote: tuple[str, Decimal]) -> None:
        how, value = quote
        price = value if how == "absurd" else MARKS[name] * value
        price = price.quantize(Decimal("1e-8")).normalize()
        if price <= 0:
            return
        v = self.ledger.state(account).version
        try:
            self.ledger.trade(account, name, size, price, market=MARKET)
        except RefusedError:
            assert self.ledger.state(account).version == v
            return
        if abs(price - MARKS[name]) > half_width(name):
            self.fills_outside.append((account, name, price))
        self.allowance[account] += allowance_usd(name, size, price)

    @invariant()
    def no_money_created(self) -> None:
        assert self.fills_outside == [], f"fills accepted outside the band: {self.fills_outside}"
        for account in ACCOUNTS:
            limit = self.deposited[account] + self.allowance[account]
            assert self.withdrawn[account] <= limit, (
                f"{account} withdrew {self.withdrawn[account]:.2f} USD > deposited "
                f"{self.deposited[account]:.2f} + band allowance {self.allowance[account]:.2f}"
            )


NoMoneyMachine.TestCase.settings = settings(
    max_examples=120,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
test_no_money_created = NoMoneyMachine.TestCase


def test_the_issue_example_is_refused(tmp_path: Path) -> None:
    """The sequence from issue 12, on the library API: the fill at 1 is refused, nothing is written, and
    the withdrawal of 14,000 is refused (the account holds 1,000)."""
    with Ledger(f"sqlite:///{tmp_path / 'l.db'}") as ledger:
        ledger.deposit("m", "USDC", "1000")
        for size, price in (("1", "1"), ("-1", "95000")):
            with contextlib.suppress(RefusedError):
                ledger.trade("m", "BTC_USDC-PERPETUAL", size, price, market=MARKET)
        with contextlib.suppress(RefusedError):
            ledger.withdraw("m", "USDC", "14000", market=MARKET)
        st_ = ledger.state("m")
        assert st_.withdrawn.get("USDC", Decimal(0)) == 0
        assert st_.balance("USDC") == Decimal(1000) and not st_.positions
