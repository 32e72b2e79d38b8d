"""``GET /metrics``: the service's Prometheus metrics (prometheus-client, text format 0.0.4).

One :class:`CollectorRegistry` per app (no process-wide registry, so several apps in one process, as in the
tests, do not share counts). Served without a key, like ``/v1/health``, on the service's address (loopback
by default: exposing it is the operator's choice, as for the API). Not in the OpenAPI document (it is not
JSON).

=======================================  =========  ==========================================================
metric                                   type       what
=======================================  =========  ==========================================================
``xmargin_http_requests_total``          counter    requests by ``method``, ``route`` (the path template,
                                                    ``/v1/accounts/{account}``; ``unmatched`` for a 404) and
                                                    ``status``
``xmargin_http_request_seconds``         histogram  request latency by ``method`` and ``route``
``xmargin_ticks_total``                  counter    ticks accepted (HTTP and NATS)
``xmargin_tick_seconds``                 histogram  from a tick's arrival in the tick path to its messages
                                                    going out: checks, ledger record, the whole book
                                                    re-margined, liquidations written
``xmargin_liquidations_total``           counter    accounts liquidated into the ledger
``xmargin_accounts``                     gauge      client accounts by ``status`` (``ok``, ``margin_call``,
                                                    ``liquidatable``) after the last tick
``xmargin_insurance_fund``               gauge      the insurance fund's balance by ``asset`` (units of the
                                                    asset), after the last tick
``xmargin_stream_subscribers``           gauge      open ``/v1/stream`` sockets (and the NATS publisher)
=======================================  =========  ==========================================================
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from xmargin.ledger import INSURANCE_ACCOUNT, Ledger
from xmargin.service._live import STATUSES
from xmargin.service._stream import Hub

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The app's metrics (module docstring)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "xmargin_http_requests", "HTTP requests", ["method", "route", "status"], registry=r
        )
        self.latency = Histogram(
            "xmargin_http_request_seconds",
            "HTTP request latency",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.ticks = Counter("xmargin_ticks", "Ticks accepted", registry=r)
        self.tick_seconds = Histogram(
            "xmargin_tick_seconds",
            "Tick to evaluation (and liquidation) done",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.liquidations = Counter("xmargin_liquidations", "Accounts liquidated into the ledger", registry=r)
        self.accounts = Gauge("xmargin_accounts", "Client accounts by status", ["status"], registry=r)
        self.fund = Gauge(
            "xmargin_insurance_fund", "Insurance fund balance (asset units)", ["asset"], registry=r
        )
        self.subscribers = Gauge("xmargin_stream_subscribers", "Open stream subscribers", registry=r)

    def tick(self, seconds: float, liquidated: int, by_status: list[int], ledger: Ledger) -> None:
        """Record one accepted tick."""
        self.ticks.inc()
        self.tick_seconds.observe(seconds)
        if liquidated:
            self.liquidations.inc(liquidated)
        for name, n in zip(STATUSES, by_status, strict=True):
            self.accounts.labels(status=name).set(n)
        for asset, v in ledger.state(INSURANCE_ACCOUNT).balances.items():
            self.fund.labels(asset=asset).set(float(v))


def install_metrics(app: FastAPI, metrics: Metrics, hub: Hub) -> None:
    """The request-counting middleware and ``GET /metrics``."""

    @app.middleware("http")
    async def count(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        name = getattr(route, "path", None) or "unmatched"
        metrics.requests.labels(request.method, name, str(response.status_code)).inc()
        metrics.latency.labels(request.method, name).observe(time.perf_counter() - started)
        return response

    @app.get("/metrics", include_in_schema=False)
    def prometheus() -> Response:
        """Prometheus metrics (module docstring)."""
        metrics.subscribers.set(hub.subscribers)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
