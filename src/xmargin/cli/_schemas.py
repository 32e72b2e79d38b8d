"""The JSON Schemas of every ``--json`` output, generated from the types that produce them, shipped in
``xmargin/schemas/NAME.json`` and printed by ``xmargin schema NAME``.

Typed results (``MarginReport``, ``CompareReport``, ``PriceReport``, ``Catalog``, ``ReplayReport``...) give
their schema through :func:`xmargin.core.json_schema`, the same adapter the serializer uses. Documents that
are plain mappings by nature (a portfolio file, benchmark measures, sweep summaries, the pump scenario)
are described by pydantic models here. ``python -c 'from xmargin.cli._schemas import write_all; write_all()'`` rewrites the shipped files; a test
checks that they equal what the types generate, so they cannot drift.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from xmargin.core import SCHEMA_VERSION, XmarginError, json_schema


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class BenchResult(_Open):
    """``xmargin bench ... --json`` (FORMATS.md): ``seconds`` and ``ratio``, then the benchmark's measures."""

    seconds: float
    ratio: float


class Quantiles(BaseModel):
    mean: float
    p50: float
    p95: float
    max: float


class SweepDoc(BaseModel):
    """``xmargin replay --seeds N --json``: the replays of N seeded books and their summary per outcome."""

    schema_version: int = SCHEMA_VERSION
    scenario: str
    venue: str
    accounts: int
    seeds: list[int]
    summary: dict[str, Quantiles]
    runs: list[dict[str, Any]]


class PumpDoc(_Open):
    """``xmargin replay --scenario oracle-pump --json``: a naive oracle against a stable price."""

    schema_version: int = SCHEMA_VERSION
    scenario: str
    naive_bad_debt_usd: float
    stable_bad_debt_usd: float


class LedgerReceiptDoc(BaseModel):
    """``xmargin ledger deposit|withdraw|trade|... --json``: the event written (or replayed for a retried
    key), the margin the check computed and the account after it."""

    account: str
    seq: int
    kind: str
    key: str
    replayed: bool
    event: dict[str, str]
    margin_after: dict[str, float | str] | None
    portfolio: dict[str, Any]


class LiquidationSides(BaseModel):
    below: float | None
    above: float | None


class LedgerShowDoc(_Open):
    """``xmargin ledger show|replay --json``: the account as a portfolio file, plus, with ``--market``, its
    margin (the ``margin`` document's fields, its status, warnings and liquidation prices on both sides)."""

    account: str
    collateral: dict[str, float]
    positions: dict[str, Any]
    schema_version: int | None = None
    valuation_time: str | None = None
    model: str | None = None
    preset: str | None = None
    currency: str | None = None
    equity: float | None = None
    margin_balance: float | None = None
    initial_margin: float | None = None
    maintenance_margin: float | None = None
    available: float | None = None
    status: Literal["ok", "margin_call", "liquidatable"] | None = None
    warnings: list[str] | None = None
    liquidation_prices: dict[str, LiquidationSides] | None = None


@dataclass(frozen=True, slots=True)
class BookMarginSummary:
    """``xmargin book margin --json``: totals of the book's result (USD) and its largest requirements."""

    model: str
    preset: str
    accounts: int
    seconds: float
    total_initial_margin: float
    total_maintenance_margin: float
    total_equity: float
    accounts_below_maintenance: int
    accounts_margin_call: int
    shortfall_usd: float
    largest: tuple[Mapping[str, float | str], ...]
    warnings: tuple[str, ...] = ()
    schema_version: int = SCHEMA_VERSION


def _margin() -> dict[str, Any]:
    from xmargin.margin import MarginReport

    return json_schema(MarginReport, title="xmargin margin --json")


def _compare() -> dict[str, Any]:
    from xmargin.margin import CompareReport

    return json_schema(CompareReport, title="xmargin compare --json")


def _price() -> dict[str, Any]:
    from xmargin.pricing import PriceReport

    return json_schema(PriceReport, title="xmargin price --json")


def _models() -> dict[str, Any]:
    from xmargin.margin import Catalog

    return json_schema(Catalog, title="xmargin models --json")


def _portfolio() -> dict[str, Any]:
    from xmargin.instruments import PortfolioFile

    schema = PortfolioFile.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema, "title": "portfolio file"}


def _replay() -> dict[str, Any]:
    from xmargin.sim import MonteCarloReport, ReplayReport

    return json_schema(ReplayReport | SweepDoc | PumpDoc | MonteCarloReport, title="xmargin replay --json")


def _contagion() -> dict[str, Any]:
    from xmargin.sim.contagion import ContagionReport

    return json_schema(ContagionReport, title="xmargin contagion --json")


def _contagion_sweep() -> dict[str, Any]:
    from xmargin.sim.contagion import LatencySweep

    return json_schema(LatencySweep, title="xmargin contagion --latency-sweep --json")


def _contagion_haircut() -> dict[str, Any]:
    from xmargin.sim.contagion import HaircutSolution

    return json_schema(HaircutSolution, title="xmargin contagion --haircut-target --json")


def _backtest() -> dict[str, Any]:
    from xmargin.sim import BacktestReport

    return json_schema(BacktestReport, title="xmargin backtest --json")


def _book_margin() -> dict[str, Any]:
    return json_schema(BookMarginSummary, title="xmargin book margin --json")


def _bench() -> dict[str, Any]:
    return json_schema(BenchResult, title="xmargin bench ... --json")


def _ledger_receipt() -> dict[str, Any]:
    return json_schema(LedgerReceiptDoc, title="xmargin ledger COMMAND --json")


def _ledger_show() -> dict[str, Any]:
    return json_schema(LedgerShowDoc, title="xmargin ledger show|replay --json")


def _ledger_verify() -> dict[str, Any]:
    from xmargin.cli._ledger_audit import LedgerVerifyDoc

    return json_schema(LedgerVerifyDoc, title="xmargin ledger verify --json")


def _ledger_snapshot() -> dict[str, Any]:
    from xmargin.cli._ledger_snapshot import LedgerSnapshotDoc

    return json_schema(LedgerSnapshotDoc, title="xmargin ledger snapshot --json")


def _ledger_liabilities() -> dict[str, Any]:
    from xmargin.cli._ledger_audit import LiabilitiesDoc

    return json_schema(LiabilitiesDoc, title="xmargin ledger liabilities --json")


def _ledger_proof() -> dict[str, Any]:
    from xmargin.ledger import LiabilitiesProof

    return json_schema(LiabilitiesProof, title="xmargin ledger proof")


def _venue_derive_pmrm() -> dict[str, Any]:
    from xmargin.margin.venues._derive import Margin

    return json_schema(Margin, title="xmargin venue derive-pmrm --json")


def _chain_margin() -> dict[str, Any]:
    from xmargin.chain import ChainMarginReport

    return json_schema(ChainMarginReport, title="xmargin chain margin --json")


def _chain_bench() -> dict[str, Any]:
    from xmargin.chain import ChainBenchReport

    return json_schema(ChainBenchReport, title="xmargin chain bench --json")


SCHEMAS: dict[str, Callable[[], dict[str, Any]]] = {
    "margin": _margin,
    "compare": _compare,
    "price": _price,
    "models": _models,
    "portfolio": _portfolio,
    "replay": _replay,
    "contagion": _contagion,
    "contagion-sweep": _contagion_sweep,
    "contagion-haircut": _contagion_haircut,
    "backtest": _backtest,
    "book-margin": _book_margin,
    "bench": _bench,
    "ledger-receipt": _ledger_receipt,
    "ledger-show": _ledger_show,
    "ledger-verify": _ledger_verify,
    "ledger-snapshot": _ledger_snapshot,
    "ledger-liabilities": _ledger_liabilities,
    "ledger-proof": _ledger_proof,
    "venue-derive-pmrm": _venue_derive_pmrm,
    "chain-margin": _chain_margin,
    "chain-bench": _chain_bench,
}
"""Every output with a schema: ``portfolio`` also covers ``book export`` and ``import``."""


def schema_dir() -> Path:
    return Path(str(files("xmargin") / "schemas"))


def shipped(name: str) -> str:
    """The shipped schema file's text."""
    return (schema_dir() / f"{name}.json").read_text(encoding="utf-8")


def generated(name: str) -> str:
    """The schema as the types generate it now (the shipped file must equal this)."""
    return json.dumps(SCHEMAS[name](), indent=2, sort_keys=True) + "\n"


@cache
def _validator(name: str) -> Any:
    import jsonschema

    schema = json.loads(shipped(name))
    return jsonschema.Draft202012Validator(schema)


def validate(data: Any, name: str) -> None:
    """Raise a fault if ``data`` does not follow the shipped schema ``name``."""
    errors = sorted(_validator(name).iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        path = "/".join(str(p) for p in e.absolute_path) or "(root)"
        raise XmarginError(f"the --json output does not follow schema {name!r} at {path}: {e.message[:200]}")


def write_all() -> None:
    """Rewrite every shipped schema from its type."""
    folder = Path(__file__).resolve().parents[1] / "schemas"
    folder.mkdir(exist_ok=True)
    for name in SCHEMAS:
        (folder / f"{name}.json").write_text(generated(name), encoding="utf-8")
        sys.stdout.write(f"wrote {folder / name}.json\n")
