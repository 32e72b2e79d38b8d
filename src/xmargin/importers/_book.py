"""The positions and balances read from a venue's files, netted into one FORMATS.md portfolio document.

A :class:`Leg` is one venue position record after conversion: a signed size in coin of a Deribit-style
instrument, and what else it carries (entry price, isolated margin, the venue's mark). A :class:`Book` gathers
legs and balances, reports every problem it meets (one ``InputError`` each), and builds the document:

- one signed size per instrument (FORMATS.md): hedge-mode long and short sides are netted, with a warning;
- zero sizes are left out, with a warning naming them;
- ``leverage`` or ``isolated_margin``, never both; neither for a cross position.

Netting keeps unrealised P&L exact. The engine values a future held at entry price ``p`` as
``size × (mark − p)`` (linear) or ``size × (1 − p / mark)`` coin (inverse; ``risk.equity_usd``,
``liquidation.settle_at_mark``); both are affine in ``size × p``, so sides ``(s₁, p₁)`` and ``(s₂, p₂)`` are
exactly one position of size ``s₁ + s₂`` at ``(s₁p₁ + s₂p₂) / (s₁ + s₂)``. When that price is not a positive
number (sides of equal size, say), the sides' P&L at the venue's mark is moved into the settlement asset's
collateral instead and the net position enters at mark: equity is unchanged either way.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from xmargin.core import InputError, InputErrors
from xmargin.importers._common import (
    STABLECOINS,
    ImportResult,
    Node,
    PortfolioDoc,
    PositionDoc,
    Shown,
    asset_code,
    product,
)
from xmargin.instruments import Instrument, Kind, format_name, portfolio_from_mapping

T = TypeVar("T")
P = ParamSpec("P")
SIDES = ("net", "long", "short")


@dataclass(frozen=True, slots=True)
class Leg:
    """One venue position record: ``size`` in coin of ``instrument`` (+ long, − short); ``side`` is ``net``
    or a hedge-mode ``long``/``short`` side; ``avg_price`` per coin (USD for futures, the settlement asset
    for options); ``isolated_margin`` in USD; ``mark`` the venue's mark price (USD per coin), if given."""

    instrument: Instrument
    size: float
    where: str
    label: str
    side: str = "net"
    avg_price: float | None = None
    isolated: bool = False
    isolated_margin: float | None = None
    leverage: float | None = None
    mark: float | None = None

    def __post_init__(self) -> None:
        for name in ("size", "avg_price", "isolated_margin", "leverage", "mark"):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise InputError(where=self.where, expected=f"a finite {name} after conversion", found=value)
        if self.side not in SIDES:  # pragma: no cover - importers only pass the three sides
            raise ValueError(f"unknown side {self.side!r}")

    @property
    def is_future(self) -> bool:
        return self.instrument.kind in (Kind.FUTURE, Kind.PERPETUAL)


class Book:
    """Legs and balances read from one venue's files, with the problems and assumptions met on the way."""

    def __init__(self, venue: str) -> None:
        self.venue = venue
        self.errors: list[InputError] = []
        self.warnings: list[str] = []
        self._balances: dict[str, tuple[float, str]] = {}
        self._pnl: dict[str, list[float]] = {}
        self._legs: dict[Instrument, list[Leg]] = {}
        self._zero: list[str] = []
        self._margins_at_par: set[str] = set()
        self._margins_at_price: dict[str, set[str]] = {}

    def warn(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)

    def collect(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T | None:
        """Call ``fn``; a bad-input error is recorded (the import goes on to find the others) and gives None."""
        try:
            return fn(*args, **kwargs)
        except InputErrors as exc:
            self.errors.extend(exc.errors)
        except InputError as exc:
            self.errors.append(exc)
        return None

    def balance(self, node: Node, amount: float) -> None:
        """Collateral ``amount`` of the asset named by ``node`` (a venue's balance of that asset)."""
        if amount == 0:
            return
        asset = asset_code(node)
        if asset in self._balances:
            raise InputError(
                where=node.where,
                expected=f"one balance per asset (the first {asset} balance is at {self._balances[asset][1]})",
                found=Shown(f"a second {asset} balance"),
            )
        self._balances[asset] = (amount, node.where)

    def pnl(self, asset: str, amount: float) -> None:
        """P&L owed to or by the account in ``asset`` that its balance does not hold yet."""
        self._pnl.setdefault(asset, []).append(amount)

    def isolated_margin_usd(
        self, amount: float, currency: str, node: Node, price_key: str, price: float | None, *, need: str
    ) -> float:
        """An isolated margin of ``amount`` ``currency`` in USD: a stablecoin at 1:1, a coin at ``price`` (the
        field ``price_key`` of ``node``; absent: bad input asking for ``need``). Each way is named in a warning."""
        if currency in STABLECOINS:
            self._margins_at_par.add(currency)
            return amount
        if price is None:
            raise node.key(price_key).error(f"{need}, to value the isolated margin in {currency} in USD")
        self._margins_at_price.setdefault(price_key, set()).add(currency)
        return product(amount, price)

    def isolated_margin_at_par(self, currency: str) -> None:
        """An isolated margin kept in ``currency``, a USD stablecoin the venue quotes in, taken at 1:1."""
        self._margins_at_par.add(currency)

    def zero(self, label: str) -> None:
        self._zero.append(label)

    def leg(self, leg: Leg) -> None:
        if leg.size == 0:  # a size that converts to nothing (contracts × value underflowing)
            self.zero(leg.label)
            return
        legs = self._legs.setdefault(leg.instrument, [])
        for other in legs:
            if other.side == "net" or leg.side == "net" or other.side == leg.side:
                raise InputError(
                    where=leg.where,
                    expected=f"one record per instrument and side (the first is at {other.where})",
                    found=Shown(f"a second {leg.label} position"),
                )
        legs.append(leg)

    @property
    def n_legs(self) -> int:
        return sum(len(v) for v in self._legs.values())

    def result(self, account: str) -> ImportResult:
        """The portfolio document; every recorded problem is raised together, one line each."""
        if self.errors:
            raise InputErrors(self.errors)
        positions: dict[str, float | PositionDoc] = {}
        for inst, legs in self._legs.items():
            try:
                doc = self._position(legs)
            except InputError as exc:
                self.errors.append(exc)
                continue
            if doc is not None:
                positions[format_name(inst)] = doc
        collateral: dict[str, float] = {}
        for asset in sorted(set(self._balances) | set(self._pnl)):
            parts = [self._balances[asset][0]] if asset in self._balances else []
            total = math.fsum(parts + self._pnl.get(asset, []))
            if not math.isfinite(total):
                self.errors.append(
                    InputError(where=f"collateral {asset}", expected="a finite total", found=total)
                )
            elif total != 0:
                collateral[asset] = total
        if self.errors:
            raise InputErrors(self.errors)
        if self._margins_at_par:
            self.warn(
                f"isolated margins in {', '.join(sorted(self._margins_at_par))} are taken as USD at 1:1"
            )
        for key, currencies in sorted(self._margins_at_price.items()):
            self.warn(f"isolated margins in {', '.join(sorted(currencies))} are valued in USD at {key}")
        if self._zero:
            shown = ", ".join(self._zero[:8]) + (
                f" and {len(self._zero) - 8} more" if len(self._zero) > 8 else ""
            )
            self.warn(f"{len(self._zero)} zero-size position record(s) left out: {shown}")
        portfolio: PortfolioDoc = {
            "account": account,
            "collateral": collateral,
            "positions": dict(sorted(positions.items())),
        }
        # the document must be a portfolio file xmargin itself accepts (FORMATS.md): the same validation
        portfolio_from_mapping(dict(portfolio), source=f"the {self.venue} import")
        return ImportResult(portfolio=portfolio, warnings=tuple(self.warnings))

    # -- one instrument -------------------------------------------------------------------------------------

    def _position(self, legs: list[Leg]) -> float | PositionDoc | None:
        first = legs[0]
        name = format_name(first.instrument)
        if len(legs) == 1:
            size, avg = first.size, first.avg_price
        else:
            size, avg = self._net(legs, name)
            if size == 0:
                self.warn(f"{first.label}: the hedge-mode long and short sides cancel; {name} left out")
                return None
            self.warn(
                f"{first.label}: hedge-mode long and short sides netted into one position {name} of {size:g} "
                "(a portfolio file holds one signed size per instrument)"
            )
        doc: PositionDoc = {"size": size}
        if avg is not None:
            doc["avg_price"] = avg
        self._isolation(legs, name, doc)
        return size if len(doc) == 1 else doc

    def _net(self, legs: list[Leg], name: str) -> tuple[float, float | None]:
        sizes = [leg.size for leg in legs]
        net = math.fsum(sizes)
        if abs(net) <= 1e-12 * max(abs(s) for s in sizes):
            net = 0.0
        priced = [leg for leg in legs if leg.avg_price is not None]
        if len(priced) == len(legs) and net != 0:
            avg = math.fsum(leg.size * leg.avg_price for leg in priced if leg.avg_price is not None) / net
            if math.isfinite(avg) and avg > 0:
                return net, avg
        if not legs[0].is_future or not priced:
            if priced and net != 0:
                self.warn(f"{name}: the hedged sides' entry prices do not net to a price; avg_price left out")
            return net, None
        self._settle(priced, name)
        return net, None

    def _settle(self, legs: list[Leg], name: str) -> None:
        """Move the P&L of futures ``legs`` at the venue's mark into collateral (they then enter at mark)."""
        inst = legs[0].instrument
        asset = inst.settlement_asset()
        size = math.fsum(leg.size for leg in legs)
        cost = math.fsum(leg.size * leg.avg_price for leg in legs if leg.avg_price is not None)
        mark = next((leg.mark for leg in legs if leg.mark is not None and leg.mark > 0), None)
        if inst.linear and size == 0:
            pnl = -cost  # Σ s·(m − p) with Σ s = 0: the mark cancels
        elif mark is None:
            raise InputError(
                where=legs[0].where,
                expected="the venue's mark price, to settle the P&L of hedged sides that do not net to a price",
                found=Shown("none"),
            )
        else:
            pnl = size * mark - cost if inst.linear else size - cost / mark
        self.pnl(asset, pnl)
        self.warn(f"{name}: the hedged sides' P&L at mark ({pnl:.8g} {asset}) moved into collateral {asset}")

    def _isolation(self, legs: list[Leg], name: str, doc: PositionDoc) -> None:
        isolated = [leg.isolated for leg in legs]
        if not any(isolated):
            return
        if not all(isolated):
            raise InputError(
                where=legs[0].where,
                expected="the same margin mode on both hedged sides",
                found=Shown("isolated and cross"),
            )
        margins = [leg.isolated_margin for leg in legs]
        if all(m is not None and m > 0 for m in margins):
            doc["isolated_margin"] = math.fsum(m for m in margins if m is not None)
            return
        levers = {leg.leverage for leg in legs}
        lever = levers.pop() if len(levers) == 1 else None
        if lever is not None and lever > 0:
            doc["leverage"] = lever
            self.warn(f"{name}: isolated without a margin amount; its leverage {lever:g} is given instead")
            return
        self.warn(f"{name}: isolated without a margin amount or leverage; written as a cross position")
