"""Portfolio files (FORMATS.md "Portfolio file"): collateral balances and signed positions, sizes in coin.

The file is validated at the edge by a pydantic model (:class:`PortfolioFile`), every problem reported at
once as ``FILE: positions.NAME.size: expected ..., found ...``, and turned into the core values
:class:`Portfolio` and :class:`Position`, which check themselves again when built in Python.

Bounds (the ledger's, so that a file can never hold what the ledger would refuse): sizes at most ``1e9``
coin, balances at most ``1e15`` units, prices at most ``1e12`` USD per coin.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from xmargin.core import InputError, InputErrors, input_errors, load_document
from xmargin.instruments._names import parse_name
from xmargin.instruments._types import Instrument, Kind

PORTFOLIO_KEYS = ("account", "collateral", "positions", "open_orders", "mmp")
MMP_KEYS = ("quantity_limit", "max_quote_quantity", "delta_limit")
POSITION_KEYS = ("size", "avg_price", "leverage", "isolated_margin")
MAX_SIZE_COIN = 1e9
MAX_BALANCE = 1e15
MAX_PRICE_USD = 1e12
MAX_LEVERAGE = 1000.0
"""Leverage is at least 1 (the position's own notional) and at most 1,000 (above every venue's 125-200)."""


def _bounded(value: object, lo: float, hi: float, *, where: str, open_lo: bool = False) -> float:
    """``value`` as a finite float in [lo, hi] (or (lo, hi] with ``open_lo``); ``InputError`` naming ``where``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(where=where, expected="a number", found=value)
    try:
        x = float(value)
    except OverflowError:
        raise InputError(
            where=where, expected=f"a number of magnitude <= {hi:g}", found="a huge integer"
        ) from None
    if not math.isfinite(x):
        raise InputError(where=where, expected="a finite number", found=value)
    if x < lo or x > hi or (open_lo and x == lo):
        bracket = "(" if open_lo else "["
        raise InputError(where=where, expected=f"a number in {bracket}{lo:g}, {hi:g}]", found=value)
    return x


@dataclass(frozen=True, slots=True)
class Position:
    """A signed position: ``size_coin`` > 0 long, < 0 short.

    ``avg_price_usd``: the entry price (USD per coin; an option's premium per coin in its settlement asset),
    if known. ``leverage`` or ``isolated_margin_usd``: the position is isolated (Binance/Bybit isolated mode):
    under the isolated models only that margin stands behind it (FORMATS.md).
    """

    instrument: Instrument
    size_coin: float
    avg_price_usd: float | None = None
    leverage: float | None = None
    isolated_margin_usd: float | None = None

    def __post_init__(self) -> None:
        name = self.instrument.name
        object.__setattr__(
            self,
            "size_coin",
            _bounded(self.size_coin, -MAX_SIZE_COIN, MAX_SIZE_COIN, where=f"{name}.size"),
        )
        if self.avg_price_usd is not None:
            object.__setattr__(
                self,
                "avg_price_usd",
                _bounded(self.avg_price_usd, 0.0, MAX_PRICE_USD, where=f"{name}.avg_price", open_lo=True),
            )
        if self.leverage is not None and self.isolated_margin_usd is not None:
            raise InputError(where=f"{name}", expected="leverage or isolated_margin, not both", found="both")
        if self.leverage is not None:
            object.__setattr__(
                self, "leverage", _bounded(self.leverage, 1.0, MAX_LEVERAGE, where=f"{name}.leverage")
            )
        if self.isolated_margin_usd is not None:
            object.__setattr__(
                self,
                "isolated_margin_usd",
                _bounded(self.isolated_margin_usd, 0.0, MAX_BALANCE, where=f"{name}.isolated_margin"),
            )

    @property
    def isolated(self) -> bool:
        """The position carries its own margin allocation (``leverage`` or ``isolated_margin_usd``)."""
        return self.leverage is not None or self.isolated_margin_usd is not None


@dataclass(frozen=True, slots=True)
class Order:
    """A resting order: ``size_coin`` > 0 buys, < 0 sells (coin), not yet filled (FORMATS.md ``open_orders``)."""

    instrument: Instrument
    size_coin: float

    def __post_init__(self) -> None:
        name = self.instrument.name
        size = _bounded(self.size_coin, -MAX_SIZE_COIN, MAX_SIZE_COIN, where=f"open_orders.{name}.size")
        if size == 0.0:
            raise InputError(where=f"open_orders.{name}.size", expected="a non-zero size", found=0)
        object.__setattr__(self, "size_coin", size)


@dataclass(frozen=True, slots=True)
class MmpConfig:
    """One Market Maker Protection configuration on an index (``underlying``), limits in coin.

    Deribit reserves initial margin for it whatever the orders resting (docs.deribit.com
    ``private/set_mmp_config``; KB "25 November 2025"): a rate times ``max(MQQ, quantity limit)``. Without a
    Max Quote Quantity, MQQ is the quantity limit, or the delta limit when the quantity limit is 0 (the
    KB's migration rule)."""

    underlying: str
    quantity_limit: float = 0.0
    max_quote_quantity: float | None = None
    delta_limit: float = 0.0

    def __post_init__(self) -> None:
        where = f"mmp.{self.underlying}"
        for name in ("quantity_limit", "delta_limit"):
            object.__setattr__(
                self, name, _bounded(getattr(self, name), 0.0, MAX_SIZE_COIN, where=f"{where}.{name}")
            )
        if self.max_quote_quantity is not None:
            object.__setattr__(
                self,
                "max_quote_quantity",
                _bounded(self.max_quote_quantity, 0.0, MAX_SIZE_COIN, where=f"{where}.max_quote_quantity"),
            )

    @property
    def mqq(self) -> float:
        """The Max Quote Quantity in force (given, or the KB's default from the other limits)."""
        if self.max_quote_quantity is not None:
            return self.max_quote_quantity
        return self.quantity_limit if self.quantity_limit > 0.0 else self.delta_limit

    @property
    def reserved_coin(self) -> float:
        """The coin amount the reservation is a rate of: ``max(MQQ, quantity limit)``."""
        return max(self.mqq, self.quantity_limit)


@dataclass(frozen=True, slots=True)
class Portfolio:
    """One account: collateral per asset (negative = borrowed), positions per instrument and, optionally,
    resting orders and MMP configurations (charged by models that margin them: ``pm``)."""

    account: str = "account"
    collateral: Mapping[str, float] = field(default_factory=dict)
    positions: tuple[Position, ...] = ()
    open_orders: tuple[Order, ...] = ()
    mmp: tuple[MmpConfig, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(
            self,
            "collateral",
            MappingProxyType(
                {
                    a: _bounded(b, -MAX_BALANCE, MAX_BALANCE, where=f"collateral.{a}")
                    for a, b in dict(self.collateral).items()
                }
            ),
        )
        object.__setattr__(self, "positions", tuple(self.positions))
        object.__setattr__(self, "open_orders", tuple(self.open_orders))
        object.__setattr__(self, "mmp", tuple(self.mmp))

    def position(self, inst: Instrument) -> Position | None:
        return next((p for p in self.positions if p.instrument == inst), None)

    def scaled(self, k: float) -> Portfolio:
        """Every size, balance and isolated margin multiplied by ``k`` (leverage is a ratio: unchanged)."""
        return Portfolio(
            self.account,
            {a: b * k for a, b in self.collateral.items()},
            tuple(
                replace(
                    p,
                    size_coin=p.size_coin * k,
                    isolated_margin_usd=None if p.isolated_margin_usd is None else p.isolated_margin_usd * k,
                )
                for p in self.positions
            ),
            tuple(replace(o, size_coin=o.size_coin * k) for o in self.open_orders) if k != 0 else (),
            tuple(
                replace(
                    m,
                    quantity_limit=m.quantity_limit * abs(k),
                    max_quote_quantity=None
                    if m.max_quote_quantity is None
                    else m.max_quote_quantity * abs(k),
                    delta_limit=m.delta_limit * abs(k),
                )
                for m in self.mmp
            ),
        )


# -- the file, validated at the edge ------------------------------------------------------------------------
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]


class PositionSpec(_Strict):
    size: Number
    avg_price: Number | None = None
    leverage: Number | None = None
    isolated_margin: Number | None = None


class OrderSpec(_Strict):
    instrument: str
    size: Number


class MmpSpec(_Strict):
    quantity_limit: Number = 0.0
    max_quote_quantity: Number | None = None
    delta_limit: Number = 0.0


def _spec(value: Any) -> Any:
    """A bare size is a position without entry price: ``{"size": value}``."""
    return value if isinstance(value, dict) else {"size": value}


class PortfolioFile(_Strict):
    """The portfolio file as users write it (FORMATS.md), validated at the edge."""

    account: str | int | None = None
    collateral: dict[str, Number] | None = None
    positions: (
        dict[
            str, Annotated[PositionSpec, BeforeValidator(_spec, json_schema_input_type=float | PositionSpec)]
        ]
        | None
    ) = None
    open_orders: list[OrderSpec] | None = None
    mmp: dict[str, MmpSpec | list[MmpSpec]] | None = None


def portfolio_from_mapping(doc: Any, *, source: str = "portfolio") -> Portfolio:
    """Validate a parsed portfolio document; every problem is reported, one ``InputError`` each."""
    if not isinstance(doc, dict):
        raise InputError(
            where=source,
            expected=f"a mapping with keys {', '.join(PORTFOLIO_KEYS)}",
            found=type(doc).__name__,
        )
    try:
        model = PortfolioFile.model_validate(doc)
    except ValidationError as exc:
        raise input_errors(exc, source=source, allowed_keys=PORTFOLIO_KEYS) from None
    errors: list[InputError] = []
    collateral: dict[str, float] = {}
    for asset, amount in (model.collateral or {}).items():
        where = f"{source}: collateral.{asset}"
        try:
            inst = parse_name(str(asset))
            if inst.kind is not Kind.SPOT:
                raise InputError(where=where, expected="a coin code like BTC or USDC", found=str(asset))
            collateral[inst.base] = _bounded(amount, -MAX_BALANCE, MAX_BALANCE, where=where)
        except InputError as exc:
            errors.append(InputError(where=where, expected=exc.expected, found=exc.found))
    positions: list[Position] = []
    seen: dict[Instrument, str] = {}
    for name, spec in (model.positions or {}).items():
        where = f"{source}: positions.{name}"
        try:
            inst = parse_name(str(name))
            if inst.kind is Kind.SPOT:
                raise InputError(
                    where=where, expected="a derivative (hold coins under collateral)", found=str(name)
                )
            if inst in seen:  # BTC-04JAN26 and BTC-4JAN26 are one instrument
                raise InputError(where=where, expected="each instrument once", found=f"also as {seen[inst]}")
            seen[inst] = str(name)
            s = spec
            try:
                positions.append(Position(inst, s.size, s.avg_price, s.leverage, s.isolated_margin))
            except InputError as exc:
                field_name = exc.where.rpartition(".")[2] if "." in exc.where else ""
                known = field_name in POSITION_KEYS
                raise InputError(
                    where=f"{where}.{field_name}" if known else where, expected=exc.expected, found=exc.found
                ) from None
        except InputError as exc:
            errors.append(
                exc
                if exc.where.startswith(where)
                else InputError(where=where, expected=exc.expected, found=exc.found)
            )
    orders = _orders(model, source, errors)
    mmp = _mmp(model, source, errors)
    if errors:
        raise InputErrors(errors)
    default = "portfolio" if source in ("portfolio", "standard input") else Path(source).stem
    account = model.account if model.account is not None else default
    return Portfolio(str(account), collateral, tuple(positions), orders, mmp)


def _orders(model: PortfolioFile, source: str, errors: list[InputError]) -> tuple[Order, ...]:
    out: list[Order] = []
    for k, spec in enumerate(model.open_orders or []):
        where = f"{source}: open_orders.{k}"
        try:
            inst = parse_name(spec.instrument)
            if inst.kind is Kind.SPOT:
                raise InputError(where=f"{where}.instrument", expected="a derivative", found=spec.instrument)
            out.append(Order(inst, spec.size))
        except InputError as exc:
            inner = exc.where.rpartition(".")[2]
            errors.append(
                InputError(
                    where=exc.where if exc.where.startswith(where) else f"{where}.{inner}",
                    expected=exc.expected,
                    found=exc.found,
                )
            )
    return tuple(out)


def _mmp(model: PortfolioFile, source: str, errors: list[InputError]) -> tuple[MmpConfig, ...]:
    out: list[MmpConfig] = []
    for coin, specs in (model.mmp or {}).items():
        where = f"{source}: mmp.{coin}"
        try:
            inst = parse_name(str(coin))
            if inst.kind is not Kind.SPOT:
                raise InputError(where=where, expected="a coin code like BTC (the index's base)", found=coin)
            for spec in specs if isinstance(specs, list) else [specs]:
                out.append(
                    MmpConfig(inst.base, spec.quantity_limit, spec.max_quote_quantity, spec.delta_limit)
                )
        except InputError as exc:
            inner = exc.where.rpartition(".")[2]
            errors.append(
                InputError(
                    where=f"{where}.{inner}" if inner in MMP_KEYS else where,
                    expected=exc.expected,
                    found=exc.found,
                )
            )
    return tuple(out)


def load_portfolio(path: str | Path) -> Portfolio:
    """Load a portfolio file (YAML or JSON; ``-`` reads standard input)."""
    source = "standard input" if str(path) == "-" else str(path)
    return portfolio_from_mapping(load_document(path), source=source)


def portfolio_document(pf: Portfolio) -> dict[str, Any]:
    """A portfolio as the FORMATS.md portfolio file (the inverse of :func:`portfolio_from_mapping`)."""
    positions: dict[str, Any] = {}
    for p in pf.positions:
        extra = {
            k: v
            for k, v in (
                ("avg_price", p.avg_price_usd),
                ("leverage", p.leverage),
                ("isolated_margin", p.isolated_margin_usd),
            )
            if v is not None
        }
        positions[p.instrument.name] = {"size": p.size_coin, **extra} if extra else p.size_coin
    doc: dict[str, Any] = {"account": pf.account, "collateral": dict(pf.collateral), "positions": positions}
    if pf.open_orders:
        doc["open_orders"] = [{"instrument": o.instrument.name, "size": o.size_coin} for o in pf.open_orders]
    if pf.mmp:
        mmp: dict[str, list[dict[str, float]]] = {}
        for m in pf.mmp:
            spec = {"quantity_limit": m.quantity_limit, "delta_limit": m.delta_limit}
            if m.max_quote_quantity is not None:
                spec["max_quote_quantity"] = m.max_quote_quantity
            mmp.setdefault(m.underlying, []).append(spec)
        doc["mmp"] = mmp
    return doc
