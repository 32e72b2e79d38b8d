"""The venue presets through the service: ``POST /v1/margin`` with ``model`` ``drift-v2`` or ``mango-v4`` gives
the same document as the command line's ``margin`` (the FORMATS.md ``margin`` JSON, schema-valid), and an option
in the posted portfolio is a 422 naming it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
import yaml

from tests.integration.test_service import MARGIN_SCHEMA, ROOT, Service
from xmargin.instruments import load_portfolio
from xmargin.margin import account_report, resolve_model
from xmargin.market import load_market

LINEAR = ROOT / "examples" / "linear.yaml"


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    s = Service(tmp_path_factory.mktemp("venue-svc"), load_market(ROOT / "examples" / "market.yaml"))
    yield s
    s.ledger.close()


@pytest.mark.parametrize("model", ["drift-v2", "mango-v4"])
def test_posted_portfolio_margined_by_the_venue_preset(svc: Service, model: str) -> None:
    body = {"portfolio": yaml.safe_load(LINEAR.read_text()), "model": model}
    res = svc.call("POST", "/v1/margin", "read", body)
    assert res.status_code == 200, res.text
    doc = res.json()
    jsonschema.validate(doc, MARGIN_SCHEMA)
    want = account_report(
        resolve_model(model), load_portfolio(LINEAR), load_market(ROOT / "examples" / "market.yaml")
    )
    assert doc["preset"] == model
    assert doc["initial_margin"] == pytest.approx(want.initial_margin, rel=1e-12)
    assert doc["available"] == pytest.approx(want.available, rel=1e-12)


def test_an_option_is_a_422_naming_it(svc: Service, tmp_path: Path) -> None:
    portfolio = {"account": "x", "collateral": {"USDC": 1000.0}, "positions": {"BTC-27DEC26-100000-C": 1}}
    res = svc.call("POST", "/v1/margin", "read", {"portfolio": portfolio, "model": "drift-v2"})
    assert res.status_code == 422
    assert "BTC-27DEC26-100000-C" in res.json()["error"]["where"]
