"""Price bands: a fill, a funding mark or a settlement price far from the market is refused.

Without them a fill at any price is P&L against the venue's clearing book: buy 1 BTC_USDC-PERPETUAL at 1
while the mark is 95,000, sell it back at 95,000, and 94,999 USDC appear from nowhere. A price outside the
band raises :class:`RefusedError` (CLI exit 3), naming the price, the mark and the band.

- **Futures and perpetuals** (fills, funding marks): within ``futures`` (5%) of the market's mark of
  that instrument, ``mark × (1 ± futures)``. Default from Binance USDⓈ-M's ``PERCENT_PRICE`` filter
  (BTCUSDT in ``GET /fapi/v1/exchangeInfo``: ``multiplierUp`` 1.05, ``multiplierDown`` 0.95: an order
  price must lie within those multiples of the mark price; values as stated in issue 12, not fetched
  here; see ``docs/ledger.md`` for what was read). Deribit is tighter (its perpetual's trading
  bandwidth was the mark ± 1.5%, https://insights.deribit.com/education/trading-bandwidths-limits/).
- **Settlement prices**: within ``futures`` of the underlying's index (a delivery price is an average of
  the index, so the index is the reference, not a future's mark).
- **Options** (premium per coin in the settlement asset: coin for inverse, USDC for linear): within the
  larger of ``options`` (30%) of the mark premium and ``options_floor`` (0.04) *units of the underlying*
  (0.04 BTC for an inverse BTC option; 0.04 × the BTC index, in USDC, for a linear one). The floor keeps
  cheap options tradable at a tick or two from a mark of nearly nothing. Sources: Deribit's options
  contract specification stated a band of the mark ± 0.04 BTC (``Max Price (Buy order) = Mark Price +
  0.04 BTC``, ``Min Price (Sell order) = Mark Price − 0.04 BTC``; read in an archived third-party copy,
  not on a current Deribit page: ASSUMED still representative). The 30% relative band is ASSUMED, sized
  like Paradex's BTC options band factors (30% spot, 30% implied vol,
  https://docs.paradex.trade/trading/instruments-guide/options/btc-options) applied to the premium
  directly; it only matters for premiums above 0.133 BTC, where 30% exceeds the 0.04 floor.

The option mark is the premium the margin models price with (:func:`_mark_in_quote`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import TYPE_CHECKING

from xmargin.core import InputError
from xmargin.instruments import Instrument, Kind
from xmargin.ledger._errors import RefusedError
from xmargin.ledger._money import ARITHMETIC, normal_text, parse_decimal, to_text

if TYPE_CHECKING:
    from xmargin.market import MarketSnapshot

BAND_TEXT_HELP = "F, or futures=F,options=O,floor=U (defaults 0.05, 0.30, 0.04)"


_LIMITS: dict[str, tuple[str, Callable[[Decimal], bool], str]] = {  # field: (CLI key, test, range)
    "futures": ("futures", lambda v: 0 < v < 1, "(0, 1)"),
    "options": ("options", lambda v: 0 < v <= 10, "(0, 10]"),
    "options_floor": ("floor", lambda v: 0 <= v <= 1, "[0, 1]"),
}


@dataclass(frozen=True, slots=True)
class PriceBand:
    """How far from the market a price may be (see the module docstring for the sources).

    ``futures``: relative half-width for futures, perpetuals, funding marks and settlement prices
    (0 < f < 1); ``options``: relative half-width for option premiums (0 < o ≤ 10); ``options_floor``:
    the option band's smallest half-width, in units of the underlying (0 ≤ u ≤ 1).
    """

    futures: Decimal = Decimal("0.05")
    options: Decimal = Decimal("0.30")
    options_floor: Decimal = Decimal("0.04")

    def __post_init__(self) -> None:
        for name, (key, inside, shown) in _LIMITS.items():
            value = parse_decimal(getattr(self, name), where=f"price_band.{key}", max_places=12)
            if not inside(value):
                raise InputError(where=f"price_band.{key}", expected=f"a number in {shown}", found=str(value))
            object.__setattr__(self, name, value)

    @classmethod
    def parse(cls, text: str) -> PriceBand:
        """``0.05`` (the futures band; options keep their defaults) or ``futures=0.05,options=0.3,floor=0.04``
        (any subset, each once)."""
        if "=" not in text:
            return cls(futures=parse_decimal(text, where="price_band", max_places=12))
        names = {"futures": "futures", "options": "options", "floor": "options_floor"}
        values: dict[str, Decimal] = {}
        for part in text.split(","):
            key, _, value = part.partition("=")
            key = key.strip()
            if key not in names or names[key] in values:
                raise InputError(where="price_band", expected=f"{BAND_TEXT_HELP}, each part once", found=text)
            values[names[key]] = parse_decimal(value, where=f"price_band.{key}", max_places=12)
        return cls(**values)

    def describe(self, inst: Instrument) -> str:
        if inst.kind is Kind.OPTION:
            return (
                f"±{_pct(self.options)} of the mark or ±{to_text(self.options_floor)} {inst.base} "
                "of underlying, the larger"
            )
        return f"±{_pct(self.futures)} of the mark"


DEFAULT_BAND = PriceBand()


def _pct(x: Decimal) -> str:
    return f"{normal_text(to_text(x * 100))}%"


def _mark_in_quote(inst: Instrument, market: MarketSnapshot) -> float:
    """The mark of ``inst`` in the unit its fill prices are quoted in: futures and perpetuals the market's
    mark (USD per coin); options the premium per coin in the settlement asset (coin for inverse, USDC for
    linear) from the pricing the margin models use. The one place that reads the pricing result."""
    if inst.kind is not Kind.OPTION:
        return market.mark(inst)
    from xmargin.pricing import value_instruments

    return float(value_instruments([inst], market).instruments[inst.name].price)


def _show(x: Decimal) -> str:
    """A price for a message: up to 8 decimals, or scientific notation below 0.0001."""
    return normal_text(to_text(x.quantize(Decimal("1e-8")))) if x.adjusted() >= -4 else f"{x:.6e}"


def _usable(*values: float) -> bool:
    return all(math.isfinite(v) and v > 0 for v in values)


def _refuse_outside(
    what: str, price: Decimal, ref: Decimal, half_width: Decimal, band_text: str, ref_name: str, unit: str
) -> None:
    """Refuse ``price`` unless ``ref − half_width ≤ price ≤ ref + half_width`` (written so that a NaN
    anywhere refuses)."""
    with localcontext(ARITHMETIC):
        lo, hi = ref - half_width, ref + half_width
        if not (lo <= price <= hi):
            raise RefusedError(
                f"{what} {to_text(price)} {unit} is outside the price band {band_text}: {ref_name} "
                f"{_show(ref)}, band [{_show(max(lo, Decimal(0)))}, {_show(hi)}] {unit}"
            )


def _no_mark(what: str, price: Decimal, unit: str, *values: float) -> RefusedError:
    shown = ", ".join(repr(v) for v in values)
    return RefusedError(
        f"{what} {to_text(price)} {unit}: the market gives no usable reference price ({shown})"
    )


def check_fill_price(inst: Instrument, price: Decimal, market: MarketSnapshot, band: PriceBand) -> None:
    """Refuse a fill (trade or liquidation fill) of ``inst`` at ``price`` outside the band."""
    mark = _mark_in_quote(inst, market)
    what = f"fill price of {inst.name}"
    if inst.kind is not Kind.OPTION:
        if not _usable(mark):
            raise _no_mark(what, price, "USD", mark)
        m = Decimal(repr(mark))
        _refuse_outside(what, price, m, m * band.futures, band.describe(inst), "mark", "USD")
        return
    unit = inst.settlement_asset()
    # one coin of the underlying, in the premium's unit: 1 (inverse), its index in USDC (linear)
    coin = 1.0 if inst.inverse else market.index(inst.base) / market.index_usd.get(unit, 1.0)
    if not _usable(mark, coin):
        raise _no_mark(what, price, unit, mark, coin)
    with localcontext(ARITHMETIC):
        m = Decimal(repr(mark))
        half = max(m * band.options, band.options_floor * Decimal(repr(coin)))
    _refuse_outside(what, price, m, half, band.describe(inst), "mark", unit)


def check_funding_mark(
    inst: Instrument, mark_price: Decimal, market: MarketSnapshot, band: PriceBand
) -> None:
    """Refuse a funding payment whose ``mark_price`` is outside the futures band of the market's mark."""
    what = f"funding mark of {inst.name}"
    mark = market.mark(inst)
    if not _usable(mark):
        raise _no_mark(what, mark_price, "USD", mark)
    m = Decimal(repr(mark))
    _refuse_outside(what, mark_price, m, m * band.futures, band.describe(inst), "mark", "USD")


def check_settlement_price(inst: Instrument, price: Decimal, market: MarketSnapshot, band: PriceBand) -> None:
    """Refuse a settlement ``price`` outside the futures band of the underlying's index."""
    what = f"settlement price of {inst.name}"
    index = market.index(inst.base)
    if not _usable(index):
        raise _no_mark(what, price, "USD", index)
    i = Decimal(repr(index))
    text = f"±{_pct(band.futures)} of the {inst.base} index"
    _refuse_outside(what, price, i, i * band.futures, text, f"{inst.base} index", "USD")
