"""The margin-model contract: the ``MarginModel`` protocol, ``MarginResult`` and the registry of models and
presets by name.

Every model computes, for every account of a ``Book`` at once (one account = a one-row book):

- ``initial_margin`` ≥ ``maintenance_margin`` ≥ 0 (USD),
- ``equity`` (collateral at index + options at mark + unrealised P&L, USD) and ``margin_balance``
  (equity after the model's collateral haircuts, USD), and
- a typed breakdown per account (``detail=True``) and the warnings of every assumption made.

What the whole-book engine relies on is part of the protocol and checked by ``xmargin.testing``:

- **stateless evaluation with an explicit prepared value**: ``prepare(columns, market)`` computes what
  depends on the columns and the market but not on sizes (resolved instruments, scenario P&L); the caller
  may hold it and pass it back to ``requirement(..., prepared=p)`` for any book on the same columns and
  market, with the same result as without it. Nothing is cached inside the model.
- **decomposition by underlying** (``decomposes_by_underlying``): the columns of one underlying (its
  derivatives and the coin itself) form a sub-book whose requirement, equity and margin balance depend on
  no other column; the account's figures are ``combine`` of the per-underlying requirements and the sums of
  the per-underlying equities and balances.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from xmargin.core import InputError
from xmargin.margin._result import Breakdown
from xmargin.market import MarketSnapshot
from xmargin.risk import Book, Columns, row_sum

if TYPE_CHECKING:
    import pandas as pd

FloatArray = NDArray[np.float64]
MODEL_KINDS = ("isolated", "cross", "standard", "pm", "fhs")
"""The model kinds FORMATS.md names (``fhs`` and venue models register themselves the same way)."""


@dataclass(frozen=True, slots=True, eq=False)
class MarginResult:
    """Margin of every account of a book, USD; arrays of length n_accounts.

    ``position_gap`` (isolated models): per account, the smallest ``balance − maintenance`` of its isolated
    positions, each on its own margin (+inf without one); below zero that position is liquidatable whatever
    the rest of the account holds."""

    model: str
    accounts: tuple[str, ...]
    initial_margin: FloatArray
    maintenance_margin: FloatArray
    equity: FloatArray
    margin_balance: FloatArray
    breakdown: tuple[Breakdown, ...] = field(default=())
    warnings: tuple[str, ...] = ()
    position_gap: FloatArray | None = None

    @property
    def available(self) -> FloatArray:
        """``margin_balance − initial_margin``: may open risk or withdraw while ≥ 0."""
        return self.margin_balance - self.initial_margin

    @property
    def liquidatable(self) -> NDArray[np.bool_]:
        """Below maintenance (NaN counts as below), or holding an isolated position below its own."""
        below = ~(self.margin_balance >= self.maintenance_margin)
        return below if self.position_gap is None else below | ~(self.position_gap >= 0)

    @property
    def gap(self) -> FloatArray:
        """How far each account is above liquidation (USD): ``margin_balance − maintenance_margin``, or its
        smallest isolated position's own gap if that is smaller. Liquidatable below 0."""
        g = self.margin_balance - self.maintenance_margin
        return g if self.position_gap is None else np.minimum(g, self.position_gap)

    @property
    def status(self) -> NDArray[np.str_]:
        """FORMATS.md status per account: ``ok``, ``margin_call`` (available < 0) or ``liquidatable``."""
        call = ~(self.available >= 0)
        return np.where(self.liquidatable, "liquidatable", np.where(call, "margin_call", "ok")).astype(
            np.str_
        )

    def to_frame(self) -> pd.DataFrame:
        """One row per account: the FORMATS.md result columns (USD) and ``status``."""
        import pandas as pd

        return pd.DataFrame(
            {
                "account": list(self.accounts),
                "initial_margin": self.initial_margin,
                "maintenance_margin": self.maintenance_margin,
                "margin_balance": self.margin_balance,
                "equity": self.equity,
                "available": self.available,
                "status": self.status,
            }
        )


@runtime_checkable
class MarginModel(Protocol):
    """A margin model (see the module docstring for what every model promises).

    ``name``: the registered name of the model kind (``pm``); ``preset_name``: the preset it runs with.
    ``detail=False`` skips the per-account breakdown (the whole-book path). ``pin(book, market)``: the book
    with what the model reads from today's market fixed (futures entered at their mark; an isolated
    model's default margins), so that its margin follows the price from here on (liquidation prices, risk
    loops, replays).
    """

    name: str
    preset_name: str
    decomposes_by_underlying: bool
    scales_linearly: bool
    scales_linearly_reason: str
    subadditive: bool
    subadditive_reason: str

    def prepare(self, columns: Columns, market: MarketSnapshot) -> Any: ...

    def requirement(
        self, book: Book, market: MarketSnapshot, *, detail: bool = True, prepared: Any = None
    ) -> MarginResult: ...

    def combine(self, parts: FloatArray) -> FloatArray: ...

    def pin(self, book: Book, market: MarketSnapshot) -> Book: ...


@runtime_checkable
class HistoricalModel(Protocol):
    """A model whose risk parameters come from a price history over a margin period of risk (``fhs``): a
    backtest runs it at its own horizon and on its own history."""

    def with_horizon(self, days: int) -> MarginModel: ...

    def with_history(self, history: Any) -> MarginModel: ...


def sum_parts(parts: FloatArray) -> FloatArray:
    """The default ``combine``: per-account sum of per-underlying parts ``(accounts, underlyings)``."""
    return np.asarray(row_sum(parts), dtype=np.float64)


def check_prepared(
    prepared_market: MarketSnapshot,
    prepared_columns: Columns,
    book: Book,
    market: MarketSnapshot,
    *,
    where: str,
) -> None:
    """A prepared value is only valid for the columns and the market it was prepared for."""
    if prepared_market is not market or prepared_columns is not book.columns:
        raise InputError(
            where=f"{where}(prepared=...)",
            expected="a value prepared for this book's columns and this market (model.prepare(book.columns, market))",
            found="one prepared for other columns or another market",
        )


# -- registry ---------------------------------------------------------------------------------------------
ModelFactory = Callable[..., MarginModel]
_REGISTRY: dict[str, ModelFactory] = {}
_PRESET_KINDS: dict[str, tuple[str, ...]] = {}
"""Preset kinds a model kind accepts (``ratio`` presets serve ``isolated`` and ``cross``)."""


def register(name: str, *, preset_kinds: tuple[str, ...] = ()) -> Callable[[ModelFactory], ModelFactory]:
    """Class decorator: make a model kind available by ``name`` (``get_model(name)``)."""

    def deco(factory: ModelFactory) -> ModelFactory:
        _REGISTRY[name] = factory
        _PRESET_KINDS[name] = preset_kinds or (name,)
        return factory

    return deco


def model_names() -> tuple[str, ...]:
    """The registered model kinds."""
    return tuple(_REGISTRY)


def preset_kinds(model: str) -> tuple[str, ...]:
    return _PRESET_KINDS[model]


def get_model(name: str, **params: Any) -> MarginModel:
    """The registered model kind ``name`` (case-insensitive), configured with ``params`` (e.g. ``preset=``).

    For a preset name or file as ``name``, see :func:`xmargin.margin.resolve_model`."""
    factory = _REGISTRY.get(name.lower()) if isinstance(name, str) else None
    if factory is None:
        raise InputError(where="model", expected=f"one of {', '.join(_REGISTRY)}", found=name)
    return factory(**params)
