"""Fuzzing the parsers: whatever JSON a venue file holds, an import either gives a FORMATS.md portfolio or
raises ``InputError`` (the CLI's exit 2), never anything else.

Two kinds of input: random JSON documents, and the documented fixtures with one value replaced by random JSON
or removed (which reaches deep into each parser). Every portfolio that comes out is checked against the
contract (``formats.check_portfolio``).
"""

from __future__ import annotations

import contextlib
import copy
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.importers.conftest import load
from tests.importers.formats import check_portfolio
from xmargin.core import InputError
from xmargin.importers import IMPORTERS, SourceDocument, parse_document

FIXTURES = {
    "deribit": ["deribit_positions.json", "deribit_account_summary.json", "deribit_account_summaries.json"],
    "binance": ["binance_position_risk_v2.json", "binance_position_risk_v3.json", "binance_account_v2.json"],
    "okx": ["okx_positions.json", "okx_balance.json", "okx_instruments.json"],
    "ccxt": ["ccxt_positions.json", "ccxt_balance.json"],
}
WORDS = [
    "0", "-1", "1e999", "1e-320", "NaN", "", " ", "BTC", "btc", "1000PEPE", "BTCUSDT", "BTCUSDT_250328", "BTCUSD_PERP",
    "BTC-PERPETUAL", "BTC-27DEC26-0d00001-C", "BTC-4JAN26", "long", "short", "net", "isolated", "cross", "LONG",
    "SHORT", "BOTH", "future", "option", "future_combo", "SWAP", "FUTURES", "OPTION", "MARGIN", "0.5", "-0.5",
    "USD", "USDT", "USDC", "buy", "sell", "zero", "BTC/USD:BTC", "BTC/USDT:USDT-250328", "250328", "1751040000000",
    "BTC-USD-250328-100000-C", "BTC-USD-SWAP", "true", "false",
]  # fmt: skip

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(WORDS)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=12,
)
FUZZ = settings(
    max_examples=int(os.environ.get("XMARGIN_FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out.extend(_paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out.extend(_paths(item, (*prefix, i)))
    return out


def _attempt(venue: str, docs: list[SourceDocument]) -> None:
    try:
        result = IMPORTERS[venue](docs)
    except InputError:
        return
    check_portfolio(result.portfolio)
    assert all(isinstance(w, str) and w for w in result.warnings)


@FUZZ
@given(venue=st.sampled_from(sorted(IMPORTERS)), data=st.lists(json_values, min_size=1, max_size=3))
def test_random_json_documents(venue: str, data: list[object]) -> None:
    _attempt(venue, [SourceDocument(f"f{i}.json", d) for i, d in enumerate(data)])


@FUZZ
@given(venue=st.sampled_from(sorted(IMPORTERS)), draw=st.data())
def test_fixtures_with_one_value_changed(venue: str, draw: st.DataObject) -> None:
    docs = [SourceDocument(name, copy.deepcopy(load(name).data)) for name in FIXTURES[venue]]
    target = draw.draw(st.sampled_from(docs))
    path = draw.draw(st.sampled_from(_paths(target.data)))
    remove = draw.draw(st.booleans())
    value = draw.draw(json_values | st.sampled_from(WORDS))
    if not path:
        docs[docs.index(target)] = SourceDocument(target.label, value)
    else:
        parent = target.data
        for step in path[:-1]:
            parent = parent[step]
        if remove and isinstance(parent, dict):
            del parent[path[-1]]
        else:
            parent[path[-1]] = value
    _attempt(venue, docs)


@FUZZ
@given(raw=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_random_bytes_are_read_or_refused(raw: bytes) -> None:
    with contextlib.suppress(InputError):
        parse_document(raw, "in.json")
