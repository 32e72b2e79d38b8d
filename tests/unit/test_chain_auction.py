"""AuctionHouse.vy on titanoboa's EVM: liquidation of MarginVault accounts by Clipper-style Dutch auction.

References: the auction's prices and fills are held against ``xmargin.liquidation.DutchAuction`` (the Python
Clipper, float64) built from the same ``AuctionSpec``, and against exact rational arithmetic
(``fractions.Fraction``) of the curves' formulas in dss ``abaci.sol`` for the rounding direction. The book's
numbers (debt, penalty, reward) are worked by hand from the formulas in the contract's docstring.

The book: 1 BTC of collateral (index 100,000 USD) and a short of 10 BTC on a linear perpetual entered at
100,000 (IM 10%, MM 5%). At 108,000: equity 108,000 - 80,000 = 28,000 < MM 54,000, so the account may be
kicked; its positions close at the oracle and leave cash -80,000 (the debt).
"""

from __future__ import annotations

from fractions import Fraction

import pytest

boa = pytest.importorskip("boa")

from xmargin.chain import (  # noqa: E402
    WAD,
    AuctionSpec,
    CollateralSpec,
    FeedSpec,
    LoadedVault,
    MarketSpec,
    PositionSpec,
    VaultPlan,
    deploy_auction_house,
    to_ray,
    to_wad,
)
from xmargin.chain._vault import HEARTBEAT_S, _deployer  # noqa: E402
from xmargin.liquidation import (  # noqa: E402
    ExponentialDecrease,
    LinearDecrease,
    StairstepExponentialDecrease,
)

pytestmark = pytest.mark.slow

USDC, BTC = 0, 1
EIP170 = 24_576
"""EIP-170: the largest runtime code a contract may have on Ethereum (bytes)."""
PLAN = VaultPlan(
    account="alice",
    feeds=(FeedSpec("index:USDC", 1.0), FeedSpec("index:BTC", 100_000.0)),
    collaterals=(CollateralSpec("USDC", USDC, 0.0), CollateralSpec("BTC", BTC, 0.0)),
    markets=(MarketSpec("BTC_USDC-PERPETUAL", 0, False, False, 0.0, BTC, BTC, BTC, 0.10, 0.05),),
    positions=(PositionSpec(0, -10.0, 100_000.0),),
    balances=(0.0, 1.0),
    option_params=(0.15, 0.10, 0.075),
)
INSURANCE = 10_000 * WAD


class Book:
    """The vault, its auction house, a keeper holding 1M of the stable token and an insurance fund of 10,000."""

    def __init__(self, spec: AuctionSpec | None = None) -> None:
        self.spec = AuctionSpec() if spec is None else spec
        self.v = LoadedVault(PLAN)
        self.house, self.stable = deploy_auction_house(self.v, self.spec)
        with self.v.active():
            self.keeper = boa.env.generate_address("keeper")
            for who in (self.keeper, self.v.admin):
                self.stable.mint(who, 10**6 * WAD)
                with boa.env.prank(who):
                    self.stable.approve(self.house.address, 2**256 - 1)
            self.house.fund_insurance(INSURANCE)

    def publish(self, price: float) -> int:
        with self.v.active():
            self.v.feeds[BTC].set_round(to_wad(price, where="test"), self.v.env.timestamp)
            self.v.feeds[USDC].set_round(WAD, self.v.env.timestamp)
            self.v.vault.poke(USDC)
            return int(self.v.vault.poke(BTC))

    def crash(self) -> None:
        """BTC to 108,000 in two rounds (within the oracle's 10% deviation guard)."""
        assert self.publish(104_000.0) == 0 and self.publish(108_000.0) == 0

    def kick(self) -> int:
        with self.v.active(), boa.env.prank(self.keeper):
            return int(self.house.kick(self.v.account, BTC, self.keeper))

    def take(self, sale: int, amt: int, max_price: int) -> tuple[int, int]:
        with self.v.active(), boa.env.prank(self.keeper):
            bought, paid = self.house.take(sale, amt, max_price, self.keeper)
        return int(bought), int(paid)

    def wait(self, seconds: int) -> None:
        with self.v.active():
            boa.env.time_travel(seconds=seconds)


def _exact_curve(spec: AuctionSpec, top: int, dur: int) -> Fraction:
    """The abacus of dss abaci.sol in exact arithmetic (wad USD), with the contract's cut in ray."""
    c = spec.curve
    if isinstance(c, LinearDecrease):
        tau = int(c.tau_seconds)
        return Fraction(top * max(tau - dur, 0), tau)
    step = 1 if isinstance(c, ExponentialDecrease) else int(c.step_seconds)
    return top * Fraction(to_ray(c.cut, where="cut"), 10**27) ** (dur // step)


CURVES = (
    StairstepExponentialDecrease(step_seconds=90.0, cut=0.99),
    LinearDecrease(tau_seconds=3600.0),
    ExponentialDecrease(cut=0.9995),
)


@pytest.mark.parametrize("curve", CURVES, ids=lambda c: type(c).__name__)
def test_take_pays_the_python_curve_price(curve: object) -> None:
    """Price and fill of a take at several elapsed times = ``DutchAuction``'s, rounded in the vault's favour."""
    spec = AuctionSpec(curve=curve, tail_s=7200.0, cusp=0.2)  # type: ignore[arg-type]
    for dur in (0, 1, 89, 90, 1000, 2345):
        book = Book(spec)
        book.crash()
        sale = book.kick()
        with book.v.active():
            s = book.house.sales(sale)
        ref = spec.dutch_auction()
        ref.kick(tab_usd=s.tab / WAD, lot_coin=s.lot / WAD, oracle_price=108_000.0, now=0.0)
        assert s.top == 129_600 * WAD and s.tab == 90_400 * WAD  # 108,000 x 1.2; 80,000 x 1.13
        book.wait(dur)
        with book.v.active():
            needs_redo, price = book.house.status(sale)
        exact = _exact_curve(spec, s.top, dur)
        assert not needs_redo
        assert 0 <= price - exact < 2  # rounded up, by less than 2 wei (docs/chain.md)
        assert price == pytest.approx(ref.price_at(float(dur)) * WAD, rel=1e-12)
        bought, paid = book.take(sale, WAD // 2, price)  # half the lot: a partial take
        fill = ref.take(max_amount_coin=0.5, max_price=price / WAD * (1 + 1e-12), now=float(dur))
        assert bought / WAD == pytest.approx(fill.coin_bought, rel=1e-12)
        assert paid / WAD == pytest.approx(fill.usd_paid, rel=1e-12)
        assert paid >= bought * exact / WAD  # never below the curve


def test_price_at_against_exact_curves_many_times() -> None:
    """``price_at`` over 0..10 hours for each curve: never below the exact curve, at most 1 wei above
    (stairstep, exponential: ``rpow`` rounds each product up in ray, under 1e-25 of the price)."""
    for curve in CURVES:
        spec = AuctionSpec(curve=curve)  # type: ignore[arg-type]
        book = Book(spec)
        top = to_wad(129_600.0, where="top")
        with book.v.active():
            for dur in (*range(0, 400, 7), 3599, 3600, 3601, 9000, 36_000):
                price = int(book.house.price_at(top, dur))
                exact = _exact_curve(spec, top, dur)
                assert 0 <= price - exact < 2, (type(curve).__name__, dur)
                # the float curve: 0.9995 as a float is off by up to 1.1e-16 relative, and cut^n by n times that
                assert price == pytest.approx(
                    float(curve.price(129_600.0, dur)) * WAD, rel=1e-16 * dur + 1e-13
                )


def test_no_kick_on_a_healthy_account() -> None:
    book = Book()
    assert book.publish(104_000.0) == 0  # equity 64,000 >= MM 52,000
    with book.v.active(), boa.env.prank(book.keeper), boa.reverts("auction: account is healthy"):
        book.house.kick(book.v.account, BTC, book.keeper)


def test_stale_or_deviating_oracle_blocks_kicks() -> None:
    book = Book()
    book.crash()
    book.wait(HEARTBEAT_S + 1)  # the accepted round is older than its heartbeat
    with book.v.active(), boa.env.prank(book.keeper), boa.reverts("auction: oracle not fresh"):
        book.house.kick(book.v.account, BTC, book.keeper)
    book.publish(108_000.0)
    assert book.publish(130_000.0) == 2  # a jump of 20%: deviating, waits for a confirming round
    with book.v.active(), boa.env.prank(book.keeper), boa.reverts("auction: oracle not fresh"):
        book.house.kick(book.v.account, BTC, book.keeper)
    book.wait(12)
    assert book.publish(131_000.0) == 0  # a later round confirms it
    assert book.kick() == 1


def test_kick_closes_positions_and_pays_the_keeper() -> None:
    book = Book()
    book.crash()
    sale = book.kick()
    with book.v.active():
        assert book.v.vault.position_count(book.v.account) == 0
        assert book.v.vault.cash(book.v.account) == -80_000 * WAD  # the short's loss at 108,000
        assert book.v.vault.balances(book.v.account, BTC) == 0
        assert book.v.vault.balances(book.house.address, BTC) == WAD  # the lot, held by the house
        s = book.house.sales(sale)
        assert (s.tab, s.due, s.lot) == (90_400 * WAD, 80_000 * WAD, WAD)
        reward = 300 * WAD + 90_400 * WAD // 1000  # tip + chip x tab
        assert book.stable.balanceOf(book.keeper) == 10**6 * WAD + reward
        assert book.house.insurance() == INSURANCE - reward
        with boa.env.prank(book.keeper), boa.reverts("auction: account already on sale"):
            book.house.kick(book.v.account, BTC, book.keeper)


def test_penalty_goes_to_insurance_and_the_rest_back_to_the_account() -> None:
    book = Book()
    book.crash()
    sale = book.kick()
    with book.v.active():
        ins0 = book.house.insurance()
    bought, paid = book.take(sale, WAD, 129_600 * WAD)  # the whole lot at top: more than the tab
    assert paid == 90_400 * WAD and bought == 90_400 * WAD * WAD // (129_600 * WAD)  # coin rounded down
    with book.v.active():
        assert book.house.insurance() - ins0 == 10_400 * WAD  # the penalty: 80,000 x 13%
        assert book.house.reserve() == 80_000 * WAD  # the debt, repaid
        assert book.v.vault.cash(book.v.account) == 0
        assert book.v.vault.balances(book.v.account, BTC) == WAD - bought  # back to the account
        assert book.v.vault.balances(book.keeper, BTC) == bought
        assert book.house.sale_of(book.v.account) == 0
        s = book.house.sales(sale)
        assert s.tab == 0 and s.lot == 0


def test_too_expensive_and_redo_after_tail() -> None:
    spec = AuctionSpec()
    book = Book(spec)
    book.crash()
    sale = book.kick()
    with book.v.active(), boa.env.prank(book.keeper), boa.reverts("auction: too expensive"):
        book.house.take(sale, WAD, 129_000 * WAD, book.keeper)
    with book.v.active(), boa.env.prank(book.keeper), boa.reverts("auction: cannot reset"):
        book.house.redo(sale, book.keeper)
    book.wait(5401)  # past tail (90 min)
    with book.v.active():
        assert book.house.status(sale)[0]
        with boa.env.prank(book.keeper), boa.reverts("auction: needs redo"):
            book.house.take(sale, WAD, 200_000 * WAD, book.keeper)
        with boa.env.prank(book.keeper), boa.reverts("auction: oracle not fresh"):
            book.house.redo(sale, book.keeper)  # the last round is 90 min old
    book.publish(108_000.0)
    with book.v.active():
        before = book.stable.balanceOf(book.keeper)
        with boa.env.prank(book.keeper):
            book.house.redo(sale, book.keeper)
        s = book.house.sales(sale)
        assert s.top == 129_600 * WAD and s.tic == book.v.env.timestamp
        assert book.stable.balanceOf(book.keeper) - before == 300 * WAD + 90_400 * WAD // 1000
        assert book.house.status(sale) == (False, 129_600 * WAD)


def test_no_partial_take_below_chost() -> None:
    """A partial take that would leave less than chost (8,475) pays tab - chost instead (dss clip.sol)."""
    book = Book()
    book.crash()
    sale = book.kick()
    ref = book.spec.dutch_auction()
    ref.kick(tab_usd=90_400.0, lot_coin=1.0, oracle_price=108_000.0, now=0.0)
    amt = to_wad(0.66, where="amt")  # 0.66 x 129,600 = 85,536: would leave 4,864 < chost
    bought, paid = book.take(sale, amt, 129_600 * WAD)
    fill = ref.take(max_amount_coin=0.66, max_price=129_600.0, now=0.0)
    assert paid == (90_400 - 8_475) * WAD and paid / WAD == fill.usd_paid
    assert bought / WAD == pytest.approx(fill.coin_bought, rel=1e-15)


@pytest.mark.parametrize("mode", ["record", "socialize"])
def test_bad_debt_covered_by_insurance_then_as_configured(mode: str) -> None:
    book = Book(AuctionSpec(bad_debt=mode, tail_s=3 * 3600.0, cusp=0.2))  # type: ignore[arg-type]
    book.crash()
    sale = book.kick()
    with book.v.active():
        with boa.env.prank(book.keeper), boa.reverts("auction: account still on sale"):
            book.house.settle_bad_debt(book.v.account)
        ins = book.house.insurance()  # 10,000 less the kick's reward 390.4
    book.wait(2 * 3600)  # 80 steps: 129,600 x 0.99^80 = 57,999 per BTC
    with book.v.active():
        price = int(book.house.status(sale)[1])
    bought, paid = book.take(sale, WAD, price)  # the whole lot, short of the tab
    assert bought == WAD and paid == price
    with book.v.active():
        assert book.house.sale_of(book.v.account) == 0
        left = 80_000 * WAD - paid  # debt unpaid: no penalty was raised
        assert book.v.vault.cash(book.v.account) == -left
        assert book.house.insurance() == ins
        with boa.env.prank(book.keeper):
            book.house.settle_bad_debt(book.v.account)
        assert book.v.vault.cash(book.v.account) == 0
        assert book.house.bad_debt() == left
        assert book.house.insurance() == 0  # all of it went to the loss
        assert book.house.reserve() == paid + ins
        rest = left - ins
        if mode == "record":
            assert (book.house.system_debt(), book.house.socialized_loss()) == (rest, 0)
            with boa.env.prank(book.v.admin):
                book.house.recapitalise(rest)
            assert book.house.system_debt() == 0
        else:
            assert (book.house.system_debt(), book.house.socialized_loss()) == (0, rest)
        assert book.stable.balanceOf(book.house.address) == book.house.insurance() + book.house.reserve()
        with boa.env.prank(book.keeper), boa.reverts("auction: no debt"):
            book.house.settle_bad_debt(book.v.account)


def test_only_roles_change_parameters_and_book_liquidations() -> None:
    book = Book()
    stranger = book.v.env.generate_address("stranger")
    h = book.house
    with book.v.active(), boa.env.prank(stranger):
        for call in (
            lambda: h.set_params(*book.spec.params_args()),
            lambda: h.set_curve(*book.spec.curve_args()),
            lambda: h.set_bad_debt_mode(1),
            lambda: h.grant_role(stranger, 3),
        ):
            with boa.reverts("auction: missing role"):
                call()
        with boa.reverts("vault: missing role"):
            book.v.vault.liquidation(book.v.account, 0, True, BTC, book.v.account, stranger, WAD)
    with book.v.active():
        with boa.reverts("auction: chop in [1, 2]"):
            h.set_params(WAD, 0, 0, 0, 0, 0, WAD // 2)
        with boa.reverts("auction: cut in (0, 1]"):
            h.set_curve(1, 0, 90, 10**27 + 1)
        h.grant_role(stranger, 2)
        with boa.env.prank(stranger):
            h.set_bad_debt_mode(1)
        assert h.bad_debt_mode() == 1


def test_contracts_fit_under_eip170() -> None:
    sizes = {n: len(_deployer(n).compiler_data.bytecode_runtime) for n in ("MarginVault", "AuctionHouse")}
    assert all(size < EIP170 for size in sizes.values()), sizes
