"""Dutch (descending-price) collateral auctions modelled on MakerDAO LIQ 2.0.

Sources (``docs/research/margin_methodology.md`` §5.2): ``makerdao/dss`` at HEAD fa4f6630 (2022-05-18),
files ``src/abaci.sol`` (the price curves, "abacus" contracts) and ``src/clip.sol`` (the ``Clipper``
auction house: ``kick``, ``redo``, ``take``, ``getStatus``/``status``). The code here is our own float64
re-statement of those formulas, not a port of the Solidity.

What differs from Maker on purpose
----------------------------------
* **Floats, not fixed point.** Maker keeps prices in ray (1e27), ``tab``/``tip``/``chost`` in rad (1e45),
  ``chip`` in wad (1e18) and rounds ``rpow`` half-up. Here every amount is a float64: USD for ``tab``,
  prices and rewards, coin for ``lot``. The auction *simulates prices and fills*; it is not the book of
  record. The ledger (``xmargin.ledger``) keeps exact amounts and is where real transfers are booked;
  totals here agree with exact arithmetic only up to float rounding.
* **One auction per object.** Maker's ``Clipper`` holds many sales keyed by id; a ``DutchAuction`` holds
  one sale and is reused only through ``redo``.
* **Time is a float of seconds** (any epoch, e.g. Unix time); Maker uses ``block.timestamp`` (integer).
* ``take`` has no ``who``/``data`` callback (flash-liquidation hook) and moves no collateral; it returns
  what would change hands.

Error codes
-----------
Refusals raise :class:`AuctionError` whose ``code`` is Maker's revert string (``"Clipper/needs-reset"``,
``"Clipper/too-expensive"``, ``"Clipper/no-partial-purchase"``, ``"Clipper/cannot-reset"``,
``"Clipper/not-running-auction"``) or ``"Clipper/already-running"`` (our own: one sale per object).
Bad parameters raise :class:`xmargin.core.InputError` naming the field.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from xmargin.core import InputError, XmarginError, check

__all__ = [
    "WBTC_C",
    "AuctionError",
    "AuctionParams",
    "AuctionStatus",
    "ClipperIlk",
    "DutchAuction",
    "ExponentialDecrease",
    "LinearDecrease",
    "PriceCurve",
    "StairstepExponentialDecrease",
    "StepwiseExponentialDecrease",
    "Take",
    "bid_pays",
    "keeper_bids",
]

FloatArray = NDArray[np.float64]


class AuctionError(XmarginError):
    """An auction refused an action (Maker would revert); ``code`` is Maker's revert string.

    >>> str(AuctionError("Clipper/too-expensive", "max_price 90.0 < price 95.0"))
    'Clipper/too-expensive: max_price 90.0 < price 95.0'
    """

    def __init__(self, code: str, detail: str) -> None:
        self.code = code
        self.detail = detail
        super().__init__(f"{code}: {detail}")


# --------------------------------------------------------------------------------------------------------
# Price curves (dss src/abaci.sol)
# --------------------------------------------------------------------------------------------------------


def _curve_inputs(top: ArrayLike, elapsed_seconds: ArrayLike, where: str) -> tuple[FloatArray, FloatArray]:
    """Normalise → broadcast → validate once: ``top`` finite >= 0, ``elapsed_seconds`` finite >= 0."""
    t = np.asarray(top, dtype=np.float64)
    d = np.asarray(elapsed_seconds, dtype=np.float64)
    t, d = np.broadcast_arrays(t, d)
    for name, arr in (("top", t), ("elapsed_seconds", d)):
        bad = ~(np.isfinite(arr) & (arr >= 0.0))
        if bad.any():
            index = tuple(int(i) for i in np.argwhere(bad)[0])
            raise InputError(
                where=f"{where}.{name}",
                expected="finite numbers >= 0",
                found=f"{arr[index]} at index {index}",
            )
    return t, d


@runtime_checkable
class PriceCurve(Protocol):
    """An abacus: ``price(top, elapsed_seconds)`` in the unit of ``top`` (here USD per coin).

    ``top`` and ``elapsed_seconds`` broadcast against each other; the result has the broadcast shape,
    float64. Both must be finite and >= 0. Every curve is non-increasing in ``elapsed_seconds`` and
    equals ``top`` at 0 seconds.
    """

    def price(self, top: ArrayLike, elapsed_seconds: ArrayLike) -> FloatArray: ...


@dataclass(frozen=True, slots=True)
class LinearDecrease:
    """Linear fall from ``top`` to 0 over ``tau_seconds`` (dss ``abaci.sol`` ``LinearDecrease``).

    Maker: ``price = dur >= tau ? 0 : rmul(top, mul(tau - dur, RAY) / tau)``, that is
    ``top · (tau − dur) / tau``, and 0 once ``dur >= tau``.

    >>> LinearDecrease(tau_seconds=3600).price(100.0, [0, 900, 3600, 5000]).tolist()
    [100.0, 75.0, 0.0, 0.0]
    """

    tau_seconds: float

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "tau_seconds", check.positive(self.tau_seconds, where="LinearDecrease.tau_seconds")
        )

    def price(self, top: ArrayLike, elapsed_seconds: ArrayLike) -> FloatArray:
        """Price at ``elapsed_seconds`` after the (re)start; shape = broadcast(top, elapsed_seconds)."""
        t, d = _curve_inputs(top, elapsed_seconds, "LinearDecrease.price")
        tau = self.tau_seconds
        remaining = np.maximum(tau - d, 0.0)  # 0 once dur >= tau
        out: FloatArray = t * (remaining / tau)
        return out

    def price_scalar(self, top: float, elapsed_seconds: float) -> float:
        """``price`` for one checked ``top`` and ``elapsed_seconds`` (finite, >= 0), without numpy's
        per-call cost; the same float operations, so the same result bit for bit."""
        tau = self.tau_seconds
        return top * (max(tau - elapsed_seconds, 0.0) / tau)


@dataclass(frozen=True, slots=True)
class StairstepExponentialDecrease:
    """``top`` multiplied by ``cut`` once every ``step_seconds`` (dss ``abaci.sol``).

    Maker: ``price = rmul(top, rpow(cut, dur / step, RAY))``, that is ``top · cut^⌊dur / step⌋``, with
    ``cut`` the factor kept per step (``cut = (1 − pct) · RAY``), so ``0 < cut <= 1``; ``cut = 1`` never
    falls. (The early version, dss commit 0ca50230, stored the *decrease* instead; we follow HEAD.)

    >>> StairstepExponentialDecrease(step_seconds=90, cut=0.5).price(100.0, [0, 89, 90, 185]).tolist()
    [100.0, 100.0, 50.0, 25.0]
    """

    step_seconds: float
    cut: float

    def __post_init__(self) -> None:
        name = type(self).__name__
        object.__setattr__(
            self, "step_seconds", check.positive(self.step_seconds, where=f"{name}.step_seconds")
        )
        object.__setattr__(self, "cut", _check_cut(self.cut, where=f"{name}.cut"))

    def price(self, top: ArrayLike, elapsed_seconds: ArrayLike) -> FloatArray:
        """Price at ``elapsed_seconds`` after the (re)start; shape = broadcast(top, elapsed_seconds)."""
        t, d = _curve_inputs(top, elapsed_seconds, f"{type(self).__name__}.price")
        steps = np.floor(d / self.step_seconds)
        out: FloatArray = t * np.power(self.cut, steps)
        return out

    def price_scalar(self, top: float, elapsed_seconds: float) -> float:
        """``price`` for one checked ``top`` and ``elapsed_seconds`` (finite, >= 0), without numpy's
        per-call cost. ``np.power`` on scalars (not ``**``): numpy's power may differ from the C library's
        ``pow`` in the last bit, and this must equal ``price`` bit for bit."""
        steps = float(math.floor(elapsed_seconds / self.step_seconds))
        return top * _cut_power(self.cut, steps)


@functools.lru_cache(maxsize=4096)
def _cut_power(cut: float, steps: float) -> float:
    """``np.power(cut, steps)`` as a float, remembered: a replay asks for the same few hundred step counts of
    one curve millions of times (a pure function of its arguments, so the cache changes no result)."""
    return float(np.power(cut, steps))


class StepwiseExponentialDecrease(StairstepExponentialDecrease):
    """Alias name for :class:`StairstepExponentialDecrease`; same fields, same formula.

    Maker has **no** contract called ``StepwiseExponentialDecrease`` (see ``dss/src/abaci.sol``): the
    stepwise curve is ``StairstepExponentialDecrease``. The name exists only because it is commonly used
    for that curve; prefer the Maker name.

    >>> StepwiseExponentialDecrease(step_seconds=60, cut=0.5).price(8.0, 120).item()
    2.0
    """

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class ExponentialDecrease:
    """``top · cut^dur`` with ``cut`` the factor kept per second (dss ``abaci.sol`` ``ExponentialDecrease``).

    Maker: ``price = rmul(top, rpow(cut, dur, RAY))``; it equals the stairstep curve with a 1-second step,
    except that here ``dur`` may be fractional (a continuous decay).

    >>> ExponentialDecrease(cut=0.5).price(100.0, [0, 1, 2]).tolist()
    [100.0, 50.0, 25.0]
    """

    cut: float

    def __post_init__(self) -> None:
        object.__setattr__(self, "cut", _check_cut(self.cut, where="ExponentialDecrease.cut"))

    def price(self, top: ArrayLike, elapsed_seconds: ArrayLike) -> FloatArray:
        """Price at ``elapsed_seconds`` after the (re)start; shape = broadcast(top, elapsed_seconds)."""
        t, d = _curve_inputs(top, elapsed_seconds, "ExponentialDecrease.price")
        out: FloatArray = t * np.power(self.cut, d)
        return out

    def price_scalar(self, top: float, elapsed_seconds: float) -> float:
        """``price`` for one checked ``top`` and ``elapsed_seconds`` (finite, >= 0), bit for bit (see
        ``StairstepExponentialDecrease.price_scalar``)."""
        return top * float(np.power(self.cut, elapsed_seconds))


def _check_cut(value: object, *, where: str) -> float:
    x = check.finite(value, where=where)
    if not 0.0 < x <= 1.0:
        raise InputError(where=where, expected="a number in (0, 1]", found=value)
    return x


# --------------------------------------------------------------------------------------------------------
# The auction (dss src/clip.sol)
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuctionParams:
    """Clipper parameters (Maker's ``file`` names kept; units below, amounts float64).

    - ``buf``: start price = oracle price × ``buf`` (Maker: ``top = rmul(feedPrice, buf)``), > 0.
    - ``tail``: seconds; a sale older than this (``now − tic > tail``) needs a ``redo``; >= 0.
    - ``cusp``: a sale whose ``price / top < cusp`` needs a ``redo``; in [0, 1].
    - ``chip``: keeper reward as a fraction of the debt ``tab`` (Maker: ``wmul(tab, chip)``); in [0, 1].
    - ``tip``: flat keeper reward, USD; >= 0.
    - ``chost``: dust, USD (Maker: ``wmul(dust, chop)``): a partial ``take`` may not leave ``tab`` below
      it, and ``redo`` pays the keeper only if ``tab`` and ``lot × oracle price`` are both >= it; >= 0.
    - ``curve``: a :class:`PriceCurve`.
    """

    buf: float
    tail: float
    cusp: float
    chip: float
    tip: float
    chost: float
    curve: PriceCurve

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "buf", check.positive(self.buf, where="DutchAuction.buf"))
        set_(self, "tail", check.non_negative(self.tail, where="DutchAuction.tail"))
        set_(self, "cusp", check.in_range(self.cusp, 0.0, 1.0, where="DutchAuction.cusp"))
        set_(self, "chip", check.in_range(self.chip, 0.0, 1.0, where="DutchAuction.chip"))
        set_(self, "tip", check.non_negative(self.tip, where="DutchAuction.tip"))
        set_(self, "chost", check.non_negative(self.chost, where="DutchAuction.chost"))
        if not isinstance(self.curve, PriceCurve):
            raise InputError(
                where="DutchAuction.curve",
                expected="a price curve with .price(top, elapsed_seconds)",
                found=type(self.curve).__name__,
            )


@dataclass(frozen=True, slots=True)
class ClipperIlk:
    """One MakerDAO collateral type's liquidation parameters, in Maker's names (``tail`` and ``step`` in seconds,
    ``tip`` and ``dust`` in USD); ``chost = dust × chop``. The DEX replay (``xmargin.sim.DexConfig``) and the
    on-chain auction house (``xmargin.chain.AuctionSpec``) take their defaults from one of these."""

    buf: float
    tail_s: float
    cusp: float
    chip: float
    tip_usd: float
    chop: float
    dust_usd: float
    step_s: float
    cut: float

    @property
    def chost_usd(self) -> float:
        return self.dust_usd * self.chop


WBTC_C = ClipperIlk(
    buf=1.2,
    tail_s=5400.0,
    cusp=0.4,
    chip=0.001,
    tip_usd=300.0,
    chop=1.13,
    dust_usd=7500.0,
    step_s=90.0,
    cut=0.99,
)
"""MakerDAO's WBTC-C vault type (forum "Proposed Risk Parameters for WBTC-C Vault Type", Risk Core Unit,
2021-11): StairstepExponentialDecrease ``cut`` 0.99 per 90 s, ``buf`` 1.2, ``tail`` 90 min, ``cusp`` 0.4,
``chip`` 0.1%, ``tip`` 300 DAI, ``chop`` 13%, ``dust`` 7,500 DAI (``chost`` 8,475)."""


class AuctionStatus(NamedTuple):
    """Result of :meth:`DutchAuction.status`: Maker's ``getStatus`` (needsRedo, price)."""

    needs_redo: bool
    price: float
    """USD per coin."""


class Take(NamedTuple):
    """Result of :meth:`DutchAuction.take`: coin sold to the taker and USD the taker pays."""

    coin_bought: float
    usd_paid: float


class DutchAuction:
    """One Clipper-like sale of ``lot_coin`` collateral to cover a ``tab_usd`` debt (dss ``clip.sol``).

    Life cycle: ``kick`` starts the sale at ``top = oracle_price × buf``; the price then follows the curve
    from the kick (or last redo) time ``tic``. When the sale is older than ``tail`` seconds or the price
    has fallen below ``cusp × top`` it ``needs_redo``: ``take`` is refused until anyone calls ``redo``,
    which restarts the clock at a fresh ``top``. Takers buy collateral with ``take`` until the debt
    (``tab_usd``) or the collateral (``lot_coin``) reaches 0: then the sale is ``done``. If the debt is
    covered first, the remaining ``lot_coin`` goes back to the vault owner (Maker: ``vat.flux`` to
    ``usr``).

    The simulation is float64 (USD, coin); the ledger keeps exact amounts (see the module docstring).

    >>> a = DutchAuction(buf=1.2, tail=3600, cusp=0.5, chip=0.001, tip=10, chost=100,
    ...                  curve=LinearDecrease(tau_seconds=3600))
    >>> a.kick(tab_usd=10_000.0, lot_coin=1.0, oracle_price=20_000.0, now=0.0)
    20.0
    >>> a.status(now=900.0)
    AuctionStatus(needs_redo=False, price=18000.0)
    >>> a.take(max_amount_coin=1.0, max_price=18_000.0, now=900.0)
    Take(coin_bought=0.5555555555555556, usd_paid=10000.0)
    >>> a.done, round(a.lot_coin, 6)
    (True, 0.444444)
    """

    __slots__ = ("_kicked", "_lot", "_params", "_running", "_tab", "_tic", "_top")

    def __init__(
        self,
        *,
        buf: float = 1.0,
        tail: float,
        cusp: float,
        chip: float = 0.0,
        tip: float = 0.0,
        chost: float = 0.0,
        curve: PriceCurve,
    ) -> None:
        self._params = AuctionParams(
            buf=buf, tail=tail, cusp=cusp, chip=chip, tip=tip, chost=chost, curve=curve
        )
        self._kicked = False
        self._running = False
        self._tab = 0.0
        self._lot = 0.0
        self._tic = 0.0
        self._top = 0.0

    def __repr__(self) -> str:
        p = self._params
        return (
            f"DutchAuction(buf={p.buf}, tail={p.tail}, cusp={p.cusp}, chip={p.chip}, tip={p.tip}, "
            f"chost={p.chost}, curve={p.curve!r}; tab_usd={self._tab}, lot_coin={self._lot}, "
            f"top_usd={self._top}, tic={self._tic})"
        )

    # --- read-only state ------------------------------------------------------------------------------
    @property
    def params(self) -> AuctionParams:
        """The frozen parameters."""
        return self._params

    @property
    def tab_usd(self) -> float:
        """Debt still to raise, USD."""
        return self._tab

    @property
    def lot_coin(self) -> float:
        """Collateral still for sale, coin (after ``done`` with debt covered: what returns to the owner)."""
        return self._lot

    @property
    def top_usd(self) -> float:
        """Starting price of the current round, USD per coin (oracle × ``buf`` at kick or last redo)."""
        return self._top

    @property
    def tic(self) -> float:
        """Time of the kick or of the last redo, seconds."""
        return self._tic

    @property
    def kicked(self) -> bool:
        """True once ``kick`` has been called."""
        return self._kicked

    @property
    def done(self) -> bool:
        """True when the sale is over: the debt ``tab`` or the collateral ``lot`` reached 0.

        If ``lot`` ran out first, the ``tab_usd`` left is bad debt (Maker leaves it with the ``vow``).
        """
        return self._kicked and not self._running

    # --- Maker's functions -----------------------------------------------------------------------------
    def kick(self, tab_usd: float, lot_coin: float, oracle_price: float, now: float) -> float:
        """Start the sale; return the keeper reward ``tip + chip × tab``, USD (dss ``Clipper.kick``)."""
        if self._kicked:
            raise AuctionError("Clipper/already-running", "this auction was already kicked")
        tab = check.positive(tab_usd, where="DutchAuction.kick.tab_usd")
        lot = check.positive(lot_coin, where="DutchAuction.kick.lot_coin")
        feed = check.positive(oracle_price, where="DutchAuction.kick.oracle_price")
        now_s = check.finite(now, where="DutchAuction.kick.now")
        self._tab, self._lot, self._tic = tab, lot, now_s
        self._top = self._start_price(feed)
        self._kicked = self._running = True
        return self._params.tip + tab * self._params.chip

    def status(self, now: float) -> AuctionStatus:
        """Maker's ``getStatus``: (needs_redo, price in USD per coin) at ``now``.

        ``needs_redo`` is true for a running sale with ``now − tic > tail`` or ``price / top < cusp``; a
        finished sale never needs a redo.
        """
        if not self._kicked:
            raise AuctionError("Clipper/not-running-auction", "kick the auction first")
        dur = self._elapsed(now, "DutchAuction.status.now")
        curve = self._params.curve
        # the shipped curves price one point without numpy's per-call cost (a replay asks millions of times)
        scalar = getattr(curve, "price_scalar", None)
        price = float(scalar(self._top, dur)) if scalar is not None else float(curve.price(self._top, dur))
        expired = dur > self._params.tail or price / self._top < self._params.cusp
        return AuctionStatus(needs_redo=self._running and expired, price=price)

    def redo(self, oracle_price: float, now: float) -> float:
        """Restart a sale that needs it at ``top = oracle_price × buf``; return the keeper reward, USD.

        Per dss ``Clipper.redo`` the reward ``tip + chip × tab`` is paid only if ``tab >= chost`` and
        ``lot × oracle_price >= chost`` (no incentive to restart dusty sales); otherwise 0.
        """
        feed = check.positive(oracle_price, where="DutchAuction.redo.oracle_price")
        if not self._running:
            raise AuctionError("Clipper/not-running-auction", "nothing to redo: not kicked or already done")
        if not self.status(now).needs_redo:
            raise AuctionError("Clipper/cannot-reset", f"the auction does not need a redo at {now}")
        self._tic = float(now)
        self._top = self._start_price(feed)
        p = self._params
        if self._tab >= p.chost and self._lot * feed >= p.chost:
            return p.tip + self._tab * p.chip
        return 0.0

    def take(self, max_amount_coin: float, max_price: float, now: float) -> Take:
        """Buy up to ``max_amount_coin`` at the current price if it is <= ``max_price`` (dss ``Clipper.take``).

        Maker's slice/owe rule: ``slice = min(lot, amt)``, ``owe = slice × price``; if ``owe > tab`` the
        taker pays only ``tab`` and gets ``tab / price``; otherwise, for a partial purchase
        (``owe < tab`` and ``slice < lot``) that would leave ``tab − owe < chost``, the taker pays
        ``tab − chost`` instead (refused, ``Clipper/no-partial-purchase``, unless ``tab > chost``). Returns
        (coin_bought, usd_paid); ``tab`` and ``lot`` fall by those amounts.
        """
        amt = check.positive(max_amount_coin, where="DutchAuction.take.max_amount_coin")
        cap = check.non_negative(max_price, where="DutchAuction.take.max_price")
        if not self._running:
            raise AuctionError(
                "Clipper/not-running-auction", "the auction is not running (not kicked or done)"
            )
        needs_redo, price = self.status(now)
        if needs_redo:
            raise AuctionError("Clipper/needs-reset", f"the auction needs a redo at {now}")
        if cap < price:
            raise AuctionError("Clipper/too-expensive", f"max_price {cap} < price {price}")

        tab, lot, chost = self._tab, self._lot, self._params.chost
        slice_ = min(lot, amt)
        owe = slice_ * price
        if owe > tab:
            owe = tab
            slice_ = min(owe / price, lot)  # price > 0 here since owe > tab > 0
        elif owe < tab and slice_ < lot and tab - owe < chost:
            if not tab > chost:
                raise AuctionError(
                    "Clipper/no-partial-purchase",
                    f"a partial take would leave tab {tab - owe} < chost {chost}, and tab {tab} <= chost",
                )
            owe = tab - chost
            slice_ = min(owe / price, lot)  # owe > 0 and owe >= slice·price > 0 imply price > 0
        self._tab = tab - owe
        self._lot = lot - slice_
        if self._tab <= 0.0 or self._lot <= 0.0:
            self._tab = max(self._tab, 0.0)
            self._lot = max(self._lot, 0.0)
            self._running = False
        return Take(coin_bought=slice_, usd_paid=owe)

    def close_out(self, coin_sold: float) -> None:
        """End a running sale outside the auction: ``coin_sold`` of the lot was sold elsewhere (e.g. at the
        market when a simulation window closes); the debt is settled off-auction and what is left of the lot
        returns to the owner. Not a Maker function."""
        sold = check.non_negative(coin_sold, where="DutchAuction.close_out.coin_sold")
        if not self._running:
            raise AuctionError(
                "Clipper/not-running-auction", "nothing to close out: not kicked or already done"
            )
        self._lot = max(self._lot - sold, 0.0)
        self._tab = 0.0
        self._running = False

    # --- helpers ---------------------------------------------------------------------------------------
    def price_at(self, now: float) -> float:
        """Curve price at ``now``, USD per coin, whatever the status (for models such as keepers)."""
        return self.status(now).price

    def _start_price(self, feed: float) -> float:
        top = feed * self._params.buf
        if not (math.isfinite(top) and top > 0.0):  # Maker: require(top > 0, "Clipper/zero-top-price")
            raise InputError(
                where="DutchAuction.top", expected="oracle_price × buf finite and > 0", found=top
            )
        return top

    def _elapsed(self, now: float, where: str) -> float:
        now_s = check.finite(now, where=where)
        if now_s < self._tic:
            raise InputError(where=where, expected=f">= the last kick/redo time {self._tic}", found=now_s)
        return now_s - self._tic


# --------------------------------------------------------------------------------------------------------
# Keeper model
# --------------------------------------------------------------------------------------------------------


def keeper_bids(
    auction: DutchAuction, market_price: float, gas_usd: float, latency_seconds: float, now: float
) -> bool:
    """Would a simple arbitrage keeper deciding at ``now`` bid? (our model; Maker ships none).

    The keeper's transaction lands ``latency_seconds`` later, at the curve price then, ``p``. It buys
    ``q = min(lot, tab / p)`` coin (the whole lot unless the debt is covered first; the plain rule
    ``(market − p) × lot − gas`` when ``lot × p <= tab``) and resells it at ``market_price`` (USD per
    coin). It bids iff ``(market_price − p) × q − gas_usd > 0``. A sale that is not running, or that will
    need a redo when the transaction lands, gets no bid. Slippage, inventory risk and competition are
    ignored.
    """
    market = check.non_negative(market_price, where="keeper_bids.market_price")
    gas = check.non_negative(gas_usd, where="keeper_bids.gas_usd")
    latency = check.non_negative(latency_seconds, where="keeper_bids.latency_seconds")
    if not auction.kicked or auction.done:
        return False
    needs_redo, price = auction.status(check.finite(now, where="keeper_bids.now") + latency)
    return not needs_redo and bid_pays(auction, price, market, gas)


def bid_pays(auction: DutchAuction, price: float, market_price: float, gas_usd: float) -> bool:
    """``keeper_bids``'s rule once the landing price ``price`` is known (inputs already checked): buying
    ``min(lot, tab / price)`` at ``price`` and reselling at ``market_price`` earns more than ``gas_usd``."""
    return take_pays(auction.lot_coin, auction.tab_usd, price, market_price, gas_usd)


def take_pays(lot_coin: float, tab_usd: float, price: float, market_price: float, gas_usd: float) -> bool:
    """``bid_pays`` on a sale's ``lot_coin`` and ``tab_usd`` as numbers (a sale kept elsewhere, e.g. on chain):
    buying ``min(lot, tab / price)`` at ``price`` and reselling at ``market_price`` earns more than ``gas_usd``."""
    quantity = lot_coin if price <= 0.0 else min(lot_coin, tab_usd / price)
    return (market_price - price) * quantity - gas_usd > 0.0
