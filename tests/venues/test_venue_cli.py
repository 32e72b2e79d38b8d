"""The venue presets on the command line: ``xmargin margin --model drift-v2|mango-v4`` prints the venue's own
figures, its ``--json`` is the FORMATS.md ``margin`` document, and a book with an option is one error line."""

from __future__ import annotations

import json

import jsonschema
import pytest
from typer.testing import CliRunner

from tests.integration.test_service import MARGIN_SCHEMA, ROOT
from xmargin.cli import app

MARKET = str(ROOT / "examples" / "market.yaml")
LINEAR = str(ROOT / "examples" / "linear.yaml")
runner = CliRunner()


@pytest.mark.parametrize(("model", "row"), [("drift-v2", "margin requirement"), ("mango-v4", "health")])
def test_margin_prints_the_venue_figures(model: str, row: str) -> None:
    human = runner.invoke(app, ["margin", LINEAR, "--market", MARKET, "--model", model])
    assert human.exit_code == 0, human.stderr
    assert "the venue's own figures" in human.stdout and row in human.stdout
    doc = json.loads(
        runner.invoke(app, ["margin", LINEAR, "--market", MARKET, "--model", model, "--json"]).stdout
    )
    jsonschema.validate(doc, MARGIN_SCHEMA)
    assert doc["breakdown"]["model"] == model.split("-")[0]


def test_an_option_is_one_error_line() -> None:
    res = runner.invoke(
        app, ["margin", str(ROOT / "examples" / "hedged.yaml"), "--market", MARKET, "--model", "drift-v2"]
    )
    assert res.exit_code == 2 and res.stdout == ""
    assert res.stderr.startswith("error: ") and res.stderr.count("\n") == 1
