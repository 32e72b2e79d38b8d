"""The dashboard's backtest viewer: ``GET /v1/accounts/{account}/backtest`` (a read key of the account).

The account's portfolio as the ledger holds it now is held fixed over the shipped daily history
(``crypto-daily``: BTC 2011-2025, ETH 2017-2024) and margined every day by a model with what it knew that
day, against the loss the next ``horizon`` days brought: :func:`xmargin.sim.backtest`, the computation of
``xmargin backtest --json`` (docs/backtest.md). The answer is that document (``report``) and the series
behind it: margin and loss per observation, the breaches, and the breaches in every rolling window with
the Basel traffic-light zones of that window (BCBS, January 1996, Table 2; ``sim.basel_zones``).

A run takes seconds; answers are kept in memory per (account version, model, horizon, start), at most
:data:`CACHE_SIZE`.

(No ``from __future__ import annotations``: FastAPI reads the routes' annotations.)
"""

import threading
from collections import OrderedDict
from datetime import date, datetime
from typing import Annotated

import numpy as np
from fastapi import Depends, FastAPI, Query
from pydantic import BaseModel

from xmargin.core import InputError
from xmargin.ledger import Ledger
from xmargin.ledger._checks import to_portfolio
from xmargin.ledger._requests import check_account
from xmargin.margin import model_names, resolve_model
from xmargin.margin._presets import shipped_presets
from xmargin.market import load_history
from xmargin.service._access import Access
from xmargin.service._dashboard_models import error_responses
from xmargin.service._errors import request_wheres
from xmargin.service._keys import ApiKey
from xmargin.sim import HORIZONS, BacktestConfig, BacktestReport, backtest
from xmargin.sim._backtest_stats import basel_zones

CACHE_SIZE = 16
HISTORY = "crypto-daily"
DEFAULT_START = date(2018, 1, 1)


class BacktestSeries(BaseModel):
    """One value per non-overlapping observation: its start and end day, the margin held (USD), the loss
    over the horizon (USD, positive = a loss), whether it breached; and per rolling window of
    ``window`` observations (ending at ``window_end``) its breach count, coloured by the Basel zones:
    green below ``first_yellow``, red from ``first_red``."""

    date: list[str]
    end_date: list[str]
    margin_usd: list[float]
    loss_usd: list[float]
    breach: list[bool]
    window: int
    window_end: list[str]
    window_breaches: list[int]
    first_yellow: int
    first_red: int


class BacktestOut(BaseModel):
    report: BacktestReport
    series: BacktestSeries


def _series(frame: object, report: BacktestReport) -> BacktestSeries:
    import pandas as pd

    assert isinstance(frame, pd.DataFrame)
    day = [str(d)[:10] for d in frame["date"]]
    hits = frame["breach"].to_numpy(dtype=bool)
    span = report.traffic_light.window
    first_yellow, first_red = basel_zones(span, report.confidence)
    running = np.concatenate((np.zeros(1, dtype=np.int64), np.cumsum(hits, dtype=np.int64)))
    counts = running[span:] - running[:-span]
    return BacktestSeries(
        date=day,
        end_date=[str(d)[:10] for d in frame["end_date"]],
        margin_usd=[float(x) for x in frame["margin_usd"]],
        loss_usd=[float(x) for x in frame["loss_usd"]],
        breach=[bool(x) for x in hits],
        window=span,
        window_end=day[span - 1 :],
        window_breaches=[int(c) for c in counts],
        first_yellow=first_yellow,
        first_red=first_red,
    )


def include_backtests(app: FastAPI, ledger: Ledger, default_model: str, a: Access) -> None:
    """Register the backtest route on ``app``, with its own cache."""
    allowed = {n.lower() for n in (*model_names(), *shipped_presets())}
    cache: OrderedDict[tuple[str, int, str, int, date], BacktestOut] = OrderedDict()
    guard = threading.Lock()
    Reader = Annotated[ApiKey, Depends(a.reader)]

    @app.get(
        "/v1/accounts/{account}/backtest",
        response_model=BacktestOut,
        responses=error_responses(401, 403, 422, 429),
        tags=["dashboard"],
    )
    def account_backtest(
        account: str,
        _: Reader,
        model: Annotated[str | None, Query(description="A model or a shipped preset")] = None,
        horizon: Annotated[int, Query(description="days the loss is measured over: 1, 2 or 5")] = 2,
        start: Annotated[
            str, Query(alias="from", description="first day, YYYY-MM-DD")
        ] = DEFAULT_START.isoformat(),
    ) -> BacktestOut:
        """The account's portfolio now, held fixed over the shipped daily history and margined every day
        (``xmargin backtest --json``'s report), with the series: margin against realised loss, breaches,
        and the breaches per rolling window with the Basel traffic-light zones."""
        with request_wheres():
            name = check_account(account, reserved_ok=False)
        chosen = (model or default_model).strip().lower()
        if chosen not in allowed:
            raise InputError(
                where="query.model",
                expected=f"a model or a shipped preset: {', '.join(sorted(allowed))}",
                found=model,
            )
        if horizon not in HORIZONS:
            raise InputError(where="query.horizon", expected="1, 2 or 5 (days)", found=horizon)
        try:
            day = datetime.strptime(start, "%Y-%m-%d").date()
        except ValueError:
            raise InputError(where="query.from", expected="a date YYYY-MM-DD", found=start) from None
        state = ledger.state(name)
        key = (name, state.version, chosen, horizon, day)
        with guard:
            hit = cache.get(key)
        if hit is not None:
            return hit
        pf = to_portfolio(state)
        with request_wheres():
            report, frame = backtest(
                pf,
                resolve_model(chosen),
                load_history(HISTORY),
                BacktestConfig(horizon_days=horizon, start=day),
                portfolio_name=f"account {name}",
            )
        out = BacktestOut(report=report, series=_series(frame, report))
        with guard:
            cache[key] = out
            while len(cache) > CACHE_SIZE:
                cache.popitem(last=False)
        return out
