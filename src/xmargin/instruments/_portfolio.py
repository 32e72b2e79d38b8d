"""Portfolio files (FORMATS.md "Portfolio file"): collateral balances and signed positions, sizes in coin."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from xmargin.core import InputError, InputErrors, check, load_document
from xmargin.instruments._names import parse_name
from xmargin.instruments._types import Instrument, Kind

PORTFOLIO_KEYS = ("account", "collateral", "positions")
POSITION_KEYS = ("size", "avg_price")


@dataclass(frozen=True, slots=True)
class Position:
    """A signed position: ``size_coin`` > 0 long, < 0 short; ``avg_price_usd`` is the entry price, if known."""

    instrument: Instrument
    size_coin: float
    avg_price_usd: float | None = None


@dataclass(frozen=True, slots=True)
class Portfolio:
    """One account: collateral per asset (negative = borrowed) and positions per instrument."""

    account: str = "account"
    collateral: Mapping[str, float] = field(default_factory=dict)
    positions: tuple[Position, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "collateral", MappingProxyType(dict(self.collateral)))
        object.__setattr__(self, "positions", tuple(self.positions))

    def with_trades(self, trades: Mapping[Instrument, float]) -> Portfolio:
        """The portfolio after adding signed sizes (a what-if); entry prices of changed futures are kept."""
        sizes = {p.instrument: p for p in self.positions}
        for inst, size in trades.items():
            old = sizes.get(inst)
            sizes[inst] = Position(
                inst, (old.size_coin if old else 0.0) + size, old.avg_price_usd if old else None
            )
        return Portfolio(self.account, self.collateral, tuple(sizes.values()))

    def scaled(self, k: float) -> Portfolio:
        """Every size and balance multiplied by ``k``."""
        return Portfolio(
            self.account,
            {a: b * k for a, b in self.collateral.items()},
            tuple(Position(p.instrument, p.size_coin * k, p.avg_price_usd) for p in self.positions),
        )


def _size(value: object, where: str) -> float:
    return check.finite(value, where=where)


def portfolio_from_mapping(doc: Any, *, source: str = "portfolio") -> Portfolio:
    """Validate a parsed portfolio document; every problem is reported, one ``InputError`` each."""
    if not isinstance(doc, dict):
        raise InputError(
            where=source,
            expected=f"a mapping with keys {', '.join(PORTFOLIO_KEYS)}",
            found=type(doc).__name__,
        )
    errors: list[InputError] = []
    for key in doc:
        if key not in PORTFOLIO_KEYS:
            errors.append(
                InputError(
                    where=f"{source}: {key}",
                    expected=f"only the keys {', '.join(PORTFOLIO_KEYS)}",
                    found=f"unknown key {key}",
                )
            )
    account = doc.get("account", Path(source).stem)
    if not isinstance(account, str | int):
        errors.append(InputError(where=f"{source}: account", expected="a label", found=account))
    collateral: dict[str, float] = {}
    raw_coll = doc.get("collateral") or {}
    if not isinstance(raw_coll, dict):
        errors.append(
            InputError(
                where=f"{source}: collateral",
                expected="a mapping asset: amount",
                found=type(raw_coll).__name__,
            )
        )
        raw_coll = {}
    for asset, amount in raw_coll.items():
        where = f"{source}: collateral.{asset}"
        try:
            inst = parse_name(str(asset))
            if inst.kind is not Kind.SPOT:
                raise InputError(where=where, expected="a coin code like BTC or USDC", found=str(asset))
            collateral[inst.base] = _size(amount, where)
        except InputError as exc:
            errors.append(InputError(where=where, expected=exc.expected, found=exc.found))
    positions: list[Position] = []
    raw_pos = doc.get("positions") or {}
    if not isinstance(raw_pos, dict):
        errors.append(
            InputError(
                where=f"{source}: positions",
                expected="a mapping instrument: size",
                found=type(raw_pos).__name__,
            )
        )
        raw_pos = {}
    for name, spec in raw_pos.items():
        where = f"{source}: positions.{name}"
        try:
            inst = parse_name(str(name))
            if inst.kind is Kind.SPOT:
                raise InputError(
                    where=where, expected="a derivative (hold coins under collateral)", found=str(name)
                )
            avg: float | None = None
            if isinstance(spec, dict):
                extra = [k for k in spec if k not in POSITION_KEYS]
                if extra:
                    raise InputError(
                        where=f"{where}.{extra[0]}",
                        expected="only size and avg_price",
                        found=f"unknown key {extra[0]}",
                    )
                if "size" not in spec:
                    raise InputError(where=f"{where}.size", expected="a signed size in coin", found="nothing")
                size = _size(spec["size"], f"{where}.size")
                if spec.get("avg_price") is not None:
                    avg = check.positive(spec["avg_price"], where=f"{where}.avg_price")
            else:
                size = _size(spec, where)
            positions.append(Position(inst, size, avg))
        except InputError as exc:
            errors.append(
                exc
                if exc.where.startswith(where)
                else InputError(where=where, expected=exc.expected, found=exc.found)
            )
    if errors:
        raise InputErrors(errors)
    return Portfolio(str(account), collateral, tuple(positions))


def load_portfolio(path: str | Path) -> Portfolio:
    """Load a portfolio file (YAML or JSON)."""
    return portfolio_from_mapping(load_document(path), source=str(path))
