"""Ticks: ``POST /v1/ticks`` (admin) and the NATS feed both call :meth:`Ticker.apply`, one tick at a time.

A tick is ``{"prices": {"BTC": 61000.0, ...}, "time": "2026-11-25T08:00:05Z"?}``. It is bad input (422,
nothing written) when: ``prices`` is empty; an underlying has no index in the service's market; a price is
not a finite number > 0 (at most 1e12) or moved by more than the ledger's ``max_index_move`` factor
(``--max-index-move``, 2 by default) from the current index; ``time`` is not ISO-8601 with a UTC offset
(``Z``), or is earlier than the market's current time (ticks never go back; an equal time is accepted).

An accepted tick, in order (under one lock, so ticks from HTTP and NATS are serialised):

1. the market moves (:func:`xmargin.service._live.moved_market`);
2. its index prices and time are written to the ledger (``index_marks``, one transaction, under the tick's
   key), so a restart resumes from it;
3. every client account is re-margined on the new market (:class:`RiskBook`, the whole-book engine);
4. every account that is ``liquidatable`` is liquidated by the CEX engine into the ledger
   (:mod:`xmargin.service._liquidate`), under keys derived from the tick's key, then re-margined;
5. the messages go out in this order: the ``tick`` and the ``status`` changes with their ``alert`` as soon
   as the book is re-margined (before step 4 runs), then each liquidation's ``liquidation`` and ``alert``
   and the statuses after it (the stream's contract, docs/service.md).

The tick's key is its ``Idempotency-Key`` header when given, else a digest of its time and prices: the
same tick sent twice (a retry) writes no second liquidation.

(No ``from __future__ import annotations``: FastAPI reads the route's annotations, which name a closure.)
"""

import hashlib
import json
import logging
import math
import threading
import time as clock
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import numpy as np
from fastapi import Depends, FastAPI, Header
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field

from xmargin.core import InputError, InputErrors, XmarginError
from xmargin.instruments import MAX_PRICE_USD
from xmargin.ledger import AppendResult, ConcurrencyError, Ledger
from xmargin.ledger._index import index_updates
from xmargin.ledger._requests import RESERVED_ACCOUNTS
from xmargin.liquidation import CexConfig
from xmargin.margin import MarginModel
from xmargin.market import MarketSnapshot
from xmargin.service._errors import ServiceError
from xmargin.service._keys import VENUE, ApiKey, Scope
from xmargin.service._liquidate import LiquidationOutcome, liquidate_into_ledger
from xmargin.service._live import (
    HYSTERESIS,
    STATUSES,
    Margins,
    RiskBook,
    moved_market,
    restore_market,
    with_hysteresis,
)
from xmargin.service._stream import Hub, Message, utc_text

MAX_PRICES = 100
LOG = logging.getLogger("xmargin.service")


class TickBody(BaseModel):
    """New index prices (USD per coin) of some underlyings, and optionally the tick's time."""

    model_config = ConfigDict(extra="forbid")
    prices: dict[str, Annotated[float, Field(strict=True)]] = Field(examples=[{"BTC": 61000.0}])
    time: str | None = Field(default=None, examples=["2026-11-25T08:00:05Z"])


class TickOut(BaseModel):
    """An accepted tick: its time, the accounts whose status changed and those liquidated."""

    accepted: bool
    time: str
    changed: list[str]
    liquidated: list[str]


@dataclass(frozen=True, slots=True)
class TickResult:
    time: datetime
    changed: tuple[str, ...]
    liquidated: tuple[LiquidationOutcome, ...]
    seconds: float

    def out(self) -> TickOut:
        return TickOut(
            accepted=True,
            time=utc_text(self.time),
            changed=list(self.changed),
            liquidated=[x.account for x in self.liquidated],
        )


def parse_time(text: str | None, current: datetime, *, where: str) -> datetime | None:
    """The tick's time (ISO-8601 with an offset), not before ``current``; None when absent."""
    if text is None:
        return None
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        t = None
    if t is None or t.tzinfo is None or t.utcoffset() is None:
        raise InputError(where=where, expected="an ISO-8601 time with Z or an offset", found=text[:64])
    t = t.astimezone(UTC)
    if t < current:
        raise InputError(
            where=where,
            expected=f"a time not before the last tick's, {utc_text(current)} (ticks never go back)",
            found=text[:64],
        )
    return t


def check_prices(
    prices: Mapping[str, object], market: MarketSnapshot, max_move: float, *, where: str
) -> dict[str, float]:
    """Each price: an underlying of the market, a finite number in (0, 1e12], within ``max_move``."""
    if not prices:
        raise InputError(where=where, expected="at least one underlying's price", found="{}")
    if len(prices) > MAX_PRICES:
        raise InputError(where=where, expected=f"at most {MAX_PRICES} prices", found=len(prices))
    problems: list[InputError] = []
    out: dict[str, float] = {}
    for u, p in prices.items():
        w = f"{where}.{u}"
        if not market.has_index(u):
            known = ", ".join(sorted(market.index_usd))
            problems.append(InputError(where=w, expected=f"an underlying of the market ({known})", found=u))
            continue
        if isinstance(p, bool) or not isinstance(p, int | float) or not math.isfinite(p):
            problems.append(InputError(where=w, expected="a finite number (USD)", found=str(p)))
            continue
        price = float(p)
        if not 0 < price <= MAX_PRICE_USD:
            problems.append(InputError(where=w, expected=f"a price in (0, {MAX_PRICE_USD:g}] USD", found=p))
            continue
        ratio = price / market.index(u)
        if not 1 / max_move <= ratio <= max_move:
            problems.append(
                InputError(
                    where=w,
                    expected=f"within a factor {max_move:g} of the current index {market.index(u)!r} "
                    "(--max-index-move)",
                    found=p,
                )
            )
            continue
        out[u] = price
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise InputErrors(problems)
    return out


def tick_key(prices: Mapping[str, float], t: datetime, given: str | None) -> str:
    """The tick's key (module docstring): a digest, so it fits the ledger's key alphabet."""
    text = given if given is not None else json.dumps([utc_text(t), sorted(prices.items())])
    return "tick-" + hashlib.sha256(text.encode()).hexdigest()[:32]


def _alert(account: str, status: str, previous: str, m: Margins, i: int) -> tuple[str, str]:
    bal, im, mm = m.margin_balance[i], m.initial_margin[i], m.maintenance_margin[i]
    if status == "liquidatable":
        return "critical", (
            f"{account}'s margin balance {bal:,.2f} USD is below its maintenance margin {mm:,.2f} USD: "
            "it is being liquidated."
        )
    if status == "margin_call":
        return "warning", (
            f"{account}'s margin balance {bal:,.2f} USD is below its initial margin {im:,.2f} USD: "
            "margin call (no new risk; add collateral or reduce positions)."
        )
    return (
        "info",
        f"{account} is back above its initial margin ({bal:,.2f} >= {im:,.2f} USD), from {previous}.",
    )


class Ticker:
    """The tick path (module docstring). ``market`` is the service's current market (None: ticks are 503)."""

    def __init__(
        self,
        ledger: Ledger,
        market: MarketSnapshot | None,
        model: MarginModel,
        hub: Hub,
        *,
        cex: CexConfig | None = None,
        liquidate: bool = True,
        hysteresis: float = HYSTERESIS,
        owns: Callable[[str], bool] | None = None,
        use_snapshot: bool = True,
    ) -> None:
        self.ledger = ledger
        self.model = model
        self.hub = hub
        self.cex = cex if cex is not None else CexConfig()
        self.liquidate = liquidate
        self.hysteresis = hysteresis
        self._lock = threading.Lock()
        self.market = restore_market(market, ledger.store.index_marks()) if market is not None else None
        self.risk = RiskBook(ledger, model, owns=owns, use_snapshot=use_snapshot)  # owns: a shard's accounts
        self.shown: tuple[tuple[str, ...], NDArray[np.int8]] = ((), np.zeros(0, np.int8))
        """The reported status codes, aligned with the risk book's accounts."""
        self.ticks = 0
        self.on_tick: Callable[[TickResult, list[int]], None] | None = None
        """Called after each accepted tick with its result and the accounts per status (the metrics)."""
        if self.market is not None:
            self.risk.sync(self.market)
            m = self.risk.margins()
            self.shown = (m.accounts, m.code)

    def current(self) -> MarketSnapshot | None:
        return self.market

    def _changes(self, m: Margins, t: str, out: list[Message]) -> list[str]:
        accounts, codes = self.shown
        if accounts == m.accounts:  # the usual case: the same book
            prev = codes
        else:
            known = dict(zip(accounts, codes.tolist(), strict=True))
            prev = np.array([known.get(a, 0) for a in m.accounts], dtype=np.int8)
        shown = with_hysteresis(prev, m, self.hysteresis)
        changed: list[str] = []
        for i in np.flatnonzero(prev != shown):
            a = m.accounts[i]
            before, now = STATUSES[prev[i]], STATUSES[shown[i]]
            out.append(
                (
                    a,
                    {
                        "type": "status",
                        "account": a,
                        "previous": before,
                        "status": now,
                        "margin_balance": float(m.margin_balance[i]),
                        "initial_margin": float(m.initial_margin[i]),
                        "maintenance_margin": float(m.maintenance_margin[i]),
                        "time": t,
                    },
                )
            )
            level, text = _alert(a, now, before, m, int(i))
            out.append((a, {"type": "alert", "account": a, "level": level, "message": text, "time": t}))
            changed.append(a)
        self.shown = (m.accounts, shown)
        return changed

    def _record(self, new: MarketSnapshot, key: str) -> None:
        store = self.ledger.store
        for _ in range(5):
            updates = index_updates(
                new, store.index_marks(), self.ledger.max_index_move, now=self.ledger.clock.now(), key=key
            )
            if not updates or store.append_all([], index_updates=updates) is AppendResult.COMMITTED:
                return
        raise ConcurrencyError("the tick's index prices: gave up after 5 conflicting writes")

    def apply(
        self,
        prices: Mapping[str, object],
        time: str | None,
        given_key: str | None = None,
        *,
        where: str = "body",
    ) -> TickResult:
        """One tick (module docstring); ``InputError`` for bad input, ``ServiceError`` 503 without a market."""
        with self._lock:
            market = self.market
            if market is None:
                raise ServiceError(
                    503,
                    where="market",
                    expected="a market loaded (xmargin serve --market FILE)",
                    found="none",
                )
            started = clock.perf_counter()
            good = check_prices(prices, market, self.ledger.max_index_move, where=f"{where}.prices")
            t = parse_time(time, market.valuation_time, where=f"{where}.time")
            new = moved_market(market, good, t)
            key = tick_key(good, new.valuation_time, given_key)
            self._record(new, key)
            self.market = new
            self.ticks += 1
            stamp = utc_text(new.valuation_time)
            out: list[Message] = [(None, {"type": "tick", "time": stamp, "prices": good})]
            self.risk.sync(new)
            m = self.risk.margins()
            changed = self._changes(m, stamp, out)
            self.hub.publish(out)  # the tick and its status changes go out before any liquidation runs
            out = []
            done: list[LiquidationOutcome] = []
            if self.liquidate:
                for i in np.flatnonzero(m.code == 2):
                    a = m.accounts[i]
                    base = f"liq-{key[5:29]}-{a}"
                    try:
                        r = liquidate_into_ledger(
                            self.ledger, a, base, self.model, new, self.cex, self._clients
                        )
                    except XmarginError as exc:  # the tick stands; the account is tried again next tick
                        LOG.error("liquidation of %s failed: %s", a, exc)
                        text = f"{a} could not be liquidated ({type(exc).__name__}: {exc}); tried again next tick."
                        out.append(
                            (
                                a,
                                {
                                    "type": "alert",
                                    "account": a,
                                    "level": "critical",
                                    "message": text,
                                    "time": stamp,
                                },
                            )
                        )
                        continue
                    if r is not None:
                        done.append(r)
                        out.extend(self._liquidation_messages(r, stamp))
                if done:
                    self.risk.sync(new)
                    m = self.risk.margins()
                    changed += [a for a in self._changes(m, stamp, out) if a not in changed]
            seconds = clock.perf_counter() - started
            result = TickResult(new.valuation_time, tuple(changed), tuple(done), seconds)
            if self.on_tick is not None:
                self.on_tick(result, [int(n) for n in np.bincount(m.code, minlength=3)])
        self.hub.publish(out)
        return result

    def _clients(self) -> list[str]:
        return [a for a in self.ledger.accounts() if a not in RESERVED_ACCOUNTS]

    @staticmethod
    def _liquidation_messages(r: LiquidationOutcome, t: str) -> list[Message]:
        doc: dict[str, Any] = {
            "type": "liquidation",
            "account": r.account,
            "fills": r.fills,
            "converted_usd": r.converted_usd,
            "bad_debt_usd": r.bad_debt_usd,
            "insurance_fund_used_usd": r.insurance_fund_used_usd,
            "adl_usd": r.adl_usd,
            "socialized_loss_usd": r.socialized_loss_usd,
            "time": t,
        }
        text = f"{r.account} was liquidated: {r.fills} fill(s) written to the ledger"
        if r.converted_usd > 0:
            text += f"; {r.converted_usd:,.2f} USD of its collateral converted to cover negative balances"
        if r.bad_debt_usd > 0:
            text += (
                f"; bad debt {r.bad_debt_usd:,.2f} USD, covered by the insurance fund "
                f"{r.insurance_fund_used_usd:,.2f}, ADL {r.adl_usd:,.2f}, socialized {r.socialized_loss_usd:,.2f}"
            )
            if r.outstanding_usd > 0:
                text += f", {r.outstanding_usd:,.2f} still outstanding"
        alert = {"type": "alert", "account": r.account, "level": "critical", "message": text + ".", "time": t}
        return [(r.account, doc), (r.account, alert)]


def install_ticks(
    app: FastAPI, ticker: Ticker, key_dep: Any, responses: dict[int | str, dict[str, Any]]
) -> None:
    """Register ``POST /v1/ticks`` on ``app`` (admin keys only)."""

    def admin(k: Annotated[ApiKey, Depends(key_dep)]) -> ApiKey:
        if k.scope is not Scope.ADMIN:
            raise ServiceError(
                403,
                where="account",
                expected=f"the venue's (an admin key; this key: {k.scope.value} on {k.account})",
                found=VENUE,
            )
        return k

    @app.post("/v1/ticks", response_model=TickOut, responses=responses, tags=["ticks"])
    def post_tick(
        body: TickBody,
        _: Annotated[ApiKey, Depends(admin)],
        idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    ) -> TickOut:
        """A tick: new index prices (and time); re-margins every account, liquidates those below maintenance,
        and pushes status changes, alerts and liquidations on ``WS /v1/stream`` (docs/service.md)."""
        return ticker.apply(body.prices, body.time, idempotency_key).out()
