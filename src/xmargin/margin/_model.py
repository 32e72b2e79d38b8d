"""The margin-model contract: ``MarginModel`` protocol, ``MarginResult`` and the registry by name.

Every model computes, for every account of a ``Book`` at once (one account = a one-row book):
- ``initial_margin`` ≥ ``maintenance_margin`` ≥ 0 (USD),
- ``equity`` (collateral at index + options at mark + unrealised P&L, USD) and ``margin_balance``
  (equity after the model's collateral haircuts, USD), and
- a free-form ``breakdown`` per account.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from xmargin.core import InputError
from xmargin.market import MarketSnapshot
from xmargin.risk import Book

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True, eq=False)
class MarginResult:
    """Margin of every account of a book, USD; arrays of length n_accounts."""

    model: str
    accounts: tuple[str, ...]
    initial_margin: FloatArray
    maintenance_margin: FloatArray
    equity: FloatArray
    margin_balance: FloatArray
    breakdown: tuple[dict[str, Any], ...] = field(default=())

    @property
    def available(self) -> FloatArray:
        """``margin_balance − initial_margin``: may open risk or withdraw while ≥ 0."""
        return self.margin_balance - self.initial_margin

    @property
    def liquidatable(self) -> NDArray[np.bool_]:
        return self.margin_balance < self.maintenance_margin

    def account(self, i: int = 0) -> dict[str, Any]:
        """Account ``i`` as the FORMATS.md ``margin`` document (USD; ``breakdown`` free-form)."""
        return {
            "account": self.accounts[i],
            "model": self.model,
            "currency": "USD",
            "equity": float(self.equity[i]),
            "margin_balance": float(self.margin_balance[i]),
            "initial_margin": float(self.initial_margin[i]),
            "maintenance_margin": float(self.maintenance_margin[i]),
            "available": float(self.available[i]),
            "breakdown": self.breakdown[i] if self.breakdown else {},
        }


@runtime_checkable
class MarginModel(Protocol):
    """A margin model: ``requirement(book, market)`` for every account of the book at once.

    ``detail=False`` skips the per-account ``breakdown`` (the whole-book path).
    """

    name: str

    def requirement(self, book: Book, market: MarketSnapshot, *, detail: bool = True) -> MarginResult: ...


ModelFactory = Callable[..., MarginModel]
_REGISTRY: dict[str, ModelFactory] = {}


def register(name: str) -> Callable[[ModelFactory], ModelFactory]:
    """Class decorator: make a model available by ``name`` (``get_model(name)``)."""

    def deco(factory: ModelFactory) -> ModelFactory:
        _REGISTRY[name] = factory
        return factory

    return deco


def model_names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def get_model(name: str, **params: Any) -> MarginModel:
    """The registered model ``name``, configured with ``params`` (e.g. ``preset=...``)."""
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise InputError(where="--model", expected=f"one of {', '.join(_REGISTRY)}", found=name) from None
    return factory(**params)


def empty_breakdowns(n: int) -> tuple[dict[str, Any], ...]:
    return tuple({} for _ in range(n))


def as_mapping(x: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(x or {})
