"""The router's answers to routes every shard answers in part (``service/_router.py``): the health of every
shard, a tick sent to every shard, and the venue's book put together from each shard's accounts.

A fan-out's answers are merged only when every shard accepted (2xx). When every shard refused the same way
(the same status: a bad tick is 422 on each, a read key 403 on each) shard 0's answer is returned as it is.
Anything else (a shard down, shards that disagree) is **502** naming each shard and what it answered: the
shards that accepted a tick have applied it, and the same tick sent again is the same tick for them (its
``Idempotency-Key``, else the digest of its time and prices: docs/service.md, "Ticks"), so it is safe to
resend once the shard is back.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import httpx
from starlette.responses import JSONResponse, Response

if TYPE_CHECKING:
    from xmargin.service._router import ShardUrl

    Answers = Sequence[tuple[ShardUrl, httpx.Response | BaseException]]
    """Each shard and its answer (read whole) or the fault that stood for one."""


def fault_text(exc: BaseException) -> str:
    """A transport fault in one line: its type and message."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def _json(r: httpx.Response) -> Any:
    try:
        return r.json()
    except ValueError:
        return None


def _replayed(r: httpx.Response) -> Response:
    """Shard 0's refusal as it was (its body, content type and shard header)."""
    keep = {"content-type", "x-xmargin-shard", "retry-after"}
    return Response(
        r.content, status_code=r.status_code, headers={k: v for k, v in r.headers.items() if k in keep}
    )


def accepted_by_all(answers: Answers, what: str) -> list[Any] | Response:
    """Each shard's JSON document when every shard answered 2xx with one; else the answer to give
    (module docstring)."""
    if all(isinstance(a, httpx.Response) and 200 <= a.status_code < 300 for _, a in answers):
        docs = [_json(a) for _, a in answers if isinstance(a, httpx.Response)]
        if all(isinstance(d, dict) for d in docs):
            return docs
    first = answers[0][1]
    if (
        isinstance(first, httpx.Response)
        and first.status_code >= 400
        and all(isinstance(a, httpx.Response) and a.status_code == first.status_code for _, a in answers)
    ):
        return _replayed(first)
    each = []
    for shard, a in answers:
        said = f"HTTP {a.status_code}" if isinstance(a, httpx.Response) else fault_text(a)
        each.append(
            {
                **shard.about(),
                "status": a.status_code if isinstance(a, httpx.Response) else None,
                "found": said,
            }
        )
    bad = [f"shard {s.label} ({s.url}): {e['found']}" for (s, _), e in zip(answers, each, strict=True)]
    return JSONResponse(
        {
            "error": {
                "where": "shards",
                "expected": f"{what} accepted by every shard",
                "found": "; ".join(bad),
            },
            "shards": each,
        },
        status_code=502,
    )


def merge_ticks(docs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One tick's answers, one per shard: ``changed`` and ``liquidated`` are each shard's own accounts
    (disjoint), listed shard after shard; ``time`` is shard 0's (every shard moved its market to the
    tick's time, or held the same one)."""
    return {
        "accepted": all(bool(d.get("accepted")) for d in docs),
        "time": docs[0].get("time"),
        "changed": [a for d in docs for a in d.get("changed", [])],
        "liquidated": [a for d in docs for a in d.get("liquidated", [])],
    }


def _order(row: dict[str, Any]) -> tuple[bool, float, str]:
    distance = row.get("distance")
    return (distance is None, float(distance) if distance is not None else 0.0, str(row.get("account")))


def merge_venue_books(shards: Sequence[ShardUrl], docs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The venue's book (``GET /v1/venue/accounts``, service/_venue.py) from each shard's part: the accounts
    together, in the same order (nearest to liquidation first); sums of the totals, the status counts and
    each utilisation band; per underlying the net and gross delta summed and the share of the gross
    recomputed over the whole book. The insurance fund is the venue's one account: shard 0's value. A
    shard valuing at another market time than shard 0 is said in ``warnings``."""
    first = docs[0]
    rows = sorted((row for d in docs for row in d["accounts"]), key=_order)
    totals: dict[str, Any] = {
        k: sum(d["totals"][k] for d in docs)
        for k in ("accounts", "equity", "margin_balance", "initial_margin", "maintenance_margin")
    }
    totals["insurance_fund_usd"] = first["totals"]["insurance_fund_usd"]
    statuses: dict[str, int] = {}
    for d in docs:
        for s, n in d["totals"]["by_status"].items():
            statuses[s] = statuses.get(s, 0) + n
    totals["by_status"] = statuses
    bands = [dict(b) for b in first["bands"]]
    for b in bands:
        same = [x for d in docs[1:] for x in d["bands"] if x["label"] == b["label"]]
        b["accounts"] += sum(x["accounts"] for x in same)
        b["maintenance_margin"] += sum(x["maintenance_margin"] for x in same)
    net: dict[str, float] = {}
    gross: dict[str, float] = {}
    holders: dict[str, int] = {}
    for d in docs:
        for c in d["concentration"]:
            u = c["underlying"]
            net[u] = net.get(u, 0.0) + c["net_delta_usd"]
            gross[u] = gross.get(u, 0.0) + c["gross_delta_usd"]
            holders[u] = holders.get(u, 0) + c["accounts"]
    whole = sum(gross.values())
    concentration: list[dict[str, Any]] = sorted(
        (
            {
                "underlying": u,
                "net_delta_usd": net[u],
                "gross_delta_usd": gross[u],
                "share": gross[u] / whole if whole > 0 else 0.0,
                "accounts": holders[u],
            }
            for u in gross
        ),
        key=lambda c: -float(c["gross_delta_usd"]),
    )
    warnings = [w for d in docs for w in d.get("warnings", [])]
    warnings += [
        f"shard {s.label} values at {d['valuation_time']}, shard {shards[0].label} at {first['valuation_time']}"
        for s, d in zip(shards, docs, strict=True)
        if d["valuation_time"] != first["valuation_time"]
    ]
    return {
        "valuation_time": first["valuation_time"],
        "model": first["model"],
        "totals": totals,
        "accounts": rows,
        "bands": bands,
        "concentration": concentration,
        "warnings": list(dict.fromkeys(warnings)),
    }


def health_document(shards: Sequence[ShardUrl], answers: Sequence[Any], version: str) -> JSONResponse:
    """``GET /v1/health`` of the router: each shard's own health document, or why it gave none; 200 when
    every shard answered ``ok``, else 503 with ``"status": "degraded"``."""
    each: list[dict[str, Any]] = []
    for s, a in zip(shards, answers, strict=True):
        doc = _json(a) if isinstance(a, httpx.Response) else None
        if isinstance(a, httpx.Response) and a.status_code == 200 and isinstance(doc, dict):
            each.append({"shard": s.label, "url": s.url, "status": str(doc.get("status")), "health": doc})
        else:
            found = f"HTTP {a.status_code}" if isinstance(a, httpx.Response) else fault_text(a)
            each.append(
                {
                    "shard": s.label,
                    "url": s.url,
                    "status": "down",
                    "error": {
                        "where": f"shard {s.label} ({s.url})",
                        "expected": "its health",
                        "found": found,
                    },
                }
            )
    ok = all(e["status"] == "ok" for e in each)
    body = {"status": "ok" if ok else "degraded", "version": version, "router": True, "shards": each}
    return JSONResponse(body, status_code=200 if ok else 503)
