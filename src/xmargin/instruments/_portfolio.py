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

PORTFOLIO_KEYS = ("account", "collateral", "positions")
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
class Portfolio:
    """One account: collateral per asset (negative = borrowed) and positions per instrument."""

    account: str = "account"
    collateral: Mapping[str, float] = field(default_factory=dict)
    positions: tuple[Position, ...] = ()

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
    if errors:
        raise InputErrors(errors)
    default = "portfolio" if source in ("portfolio", "standard input") else Path(source).stem
    account = model.account if model.account is not None else default
    return Portfolio(str(account), collateral, tuple(positions))


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
    return {"account": pf.account, "collateral": dict(pf.collateral), "positions": positions}
