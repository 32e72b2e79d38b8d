"""Crash replays for the dashboard's viewer: ``GET /v1/replays`` (the shipped windows) and
``GET /v1/replays/{scenario}?venue=cex|dex&accounts=N`` (one replay's outcome and time series).

A replay runs :func:`xmargin.sim.replay` (docs/replay.md) on a generated book; it takes seconds, so each
answer is kept in memory by the app (at most :data:`CACHE_SIZE`, oldest dropped; a lock per request makes
concurrent askers of the same replay wait for one run). Replays read no account: any valid key may ask.

(No ``from __future__ import annotations``: FastAPI reads the routes' annotations.)
"""

import threading
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, Query

from xmargin.core import renamed_wheres
from xmargin.service._access import Access
from xmargin.service._dashboard_models import (
    ReplayList,
    ReplayOut,
    ReplayScenario,
    ReplaySeries,
    error_responses,
)
from xmargin.service._keys import ApiKey
from xmargin.sim import SCENARIOS, VENUES, ReplayReport, replay
from xmargin.sim import scenario as find_scenario

CACHE_SIZE = 16
MAX_ACCOUNTS = 2000
DEFAULT_ACCOUNTS = 200


def replay_out(r: ReplayReport) -> ReplayOut:
    """The replay's outcome and its time series (:class:`ReplaySeries`) from its timeline."""
    t = r.timeline
    us = [k.removeprefix("price_") for k in t if k.startswith("price_")]
    series = ReplaySeries(
        time=[datetime.fromtimestamp(x, tz=UTC).isoformat().replace("+00:00", "Z") for x in t["ts_s"]],
        price={u: t[f"price_{u}"] for u in us},
        oracle={u: t.get(f"oracle_{u}", t[f"price_{u}"]) for u in us},
        margin_balance_usd=t["margin_balance_usd"],
        maintenance_margin_usd=t["maintenance_margin_usd"],
        liquidations=t["liquidations"],
        bad_debt_usd=t["bad_debt_usd"],
        insurance_fund_usd=t["insurance_fund_usd"],
    )
    return ReplayOut(
        scenario=r.scenario,
        title=r.title,
        venue=r.venue,
        accounts=r.accounts,
        seed=r.seed,
        model=r.model,
        liquidations=r.liquidations,
        accounts_liquidated=r.accounts_liquidated,
        bad_debt_usd=r.bad_debt_usd,
        insurance_fund_used_usd=r.insurance_fund_used_usd,
        adl_usd=r.adl_usd,
        socialized_loss_usd=r.socialized_loss_usd,
        wall_s=r.timing.get("wall_s", 0.0),
        series=series,
    )


def include_replays(app: FastAPI, a: Access) -> None:
    """Register the replay endpoints on ``app``, with their own cache."""
    cache: OrderedDict[tuple[str, str, int], ReplayOut] = OrderedDict()
    locks: dict[tuple[str, str, int], threading.Lock] = {}
    guard = threading.Lock()
    AnyKey = Annotated[ApiKey, Depends(a.key)]

    @app.get("/v1/replays", response_model=ReplayList, responses=error_responses(401, 429), tags=["replay"])
    def replays(_: AnyKey) -> ReplayList:
        """The shipped crash windows and the venues a replay runs under."""
        return ReplayList(
            scenarios=[ReplayScenario(name=s.name, title=s.title) for s in SCENARIOS.values()],
            venues=list(VENUES),
        )

    @app.get(
        "/v1/replays/{scenario}",
        response_model=ReplayOut,
        responses=error_responses(401, 422, 429),
        tags=["replay"],
    )
    def one_replay(
        scenario: str,
        _: AnyKey,
        venue: Annotated[Literal["cex", "dex"], Query(description="cex or dex")] = "cex",
        accounts: Annotated[
            int, Query(ge=1, le=MAX_ACCOUNTS, description="accounts in the generated book (seed 0)")
        ] = DEFAULT_ACCOUNTS,
    ) -> ReplayOut:
        """One replay of a shipped crash window on a generated book (docs/replay.md): its outcome and
        its time series (prices with the oracle's, total margin, liquidations, bad debt). Computed once
        (seconds), then answered from memory."""
        with renamed_wheres({"scenario": "path.scenario"}, separators=(" ", ".")):
            name = find_scenario(scenario).name
        key = (name, venue, accounts)
        with guard:
            hit = cache.get(key)
            if hit is not None:
                cache.move_to_end(key)
                return hit
            lock = locks.setdefault(key, threading.Lock())
        with lock:
            with guard:
                hit = cache.get(key)
            if hit is None:
                hit = replay_out(replay(name, venue, accounts=accounts))
                with guard:
                    cache[key] = hit
                    while len(cache) > CACHE_SIZE:
                        cache.popitem(last=False)
            with guard:
                locks.pop(key, None)
        return hit
