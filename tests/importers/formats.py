"""An independent check that a document is a FORMATS.md portfolio file, written from FORMATS.md itself.

``xmargin.instruments.portfolio_from_mapping`` does not read ``leverage`` / ``isolated_margin`` yet (it will
at merge), so the importers' tests check the contract here: known keys only, canonical instrument names,
finite numbers, positive prices and margins, ``leverage`` or ``isolated_margin`` but not both, and a JSON
round trip. What the current loader does read, it must accept (the isolated keys stripped).
"""

from __future__ import annotations

import copy
import json
import math
from typing import Any

from xmargin.instruments import Kind, format_name, parse_name, portfolio_from_mapping

POSITION_KEYS = {"size", "avg_price", "leverage", "isolated_margin"}


def _finite(value: object, where: str) -> float:
    assert isinstance(value, int | float) and not isinstance(value, bool), f"{where}: not a number: {value!r}"
    assert math.isfinite(value), f"{where}: not finite: {value!r}"
    return float(value)


def check_portfolio(doc: Any) -> None:
    """Raise AssertionError naming the first breach of FORMATS.md "Portfolio file"."""
    assert isinstance(doc, dict), f"not a mapping: {type(doc).__name__}"
    assert set(doc) <= {"account", "collateral", "positions"}, f"unknown keys: {set(doc)}"
    assert isinstance(doc.get("account", ""), str)
    for asset, amount in doc.get("collateral", {}).items():
        inst = parse_name(asset)
        assert inst.kind is Kind.SPOT and inst.base == asset, f"collateral {asset!r} is not a coin code"
        assert _finite(amount, f"collateral.{asset}") != 0, f"collateral.{asset}: a zero amount written"
    for name, spec in doc.get("positions", {}).items():
        inst = parse_name(name)
        assert inst.kind is not Kind.SPOT, f"positions.{name}: a spot asset"
        assert format_name(inst) == name, f"positions.{name}: not the canonical name {format_name(inst)}"
        if isinstance(spec, dict):
            assert set(spec) <= POSITION_KEYS, f"positions.{name}: unknown keys {set(spec) - POSITION_KEYS}"
            assert _finite(spec["size"], f"positions.{name}.size") != 0
            for key in ("avg_price", "leverage", "isolated_margin"):
                if key in spec:
                    assert _finite(spec[key], f"positions.{name}.{key}") > 0, f"positions.{name}.{key} <= 0"
            assert not ("leverage" in spec and "isolated_margin" in spec), f"positions.{name}: both"
        else:
            assert _finite(spec, f"positions.{name}") != 0
    assert json.loads(json.dumps(doc, allow_nan=False)) == doc
    stripped = copy.deepcopy(doc)
    for name, spec in stripped.get("positions", {}).items():
        if isinstance(spec, dict):
            stripped["positions"][name] = {k: v for k, v in spec.items() if k in ("size", "avg_price")}
    portfolio_from_mapping(stripped, source="imported")


def assert_close(actual: Any, expected: Any, *, rel: float = 1e-12, path: str = "") -> None:
    """Nested mappings equal, numbers within ``rel`` (the golden values are decimal numbers written by hand)."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{path}: {actual!r} is not a mapping"
        assert set(actual) == set(expected), f"{path}: keys {sorted(actual)} != {sorted(expected)}"
        for key in expected:
            assert_close(actual[key], expected[key], rel=rel, path=f"{path}.{key}")
    elif isinstance(expected, float | int) and not isinstance(expected, bool):
        assert isinstance(actual, float | int), f"{path}: {actual!r} is not a number"
        assert math.isclose(actual, expected, rel_tol=rel, abs_tol=1e-15), (
            f"{path}: {actual!r} != {expected!r}"
        )
    else:
        assert actual == expected, f"{path}: {actual!r} != {expected!r}"
