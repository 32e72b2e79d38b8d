"""Shipped JSON Schemas: generated from the types, printed by ``xmargin schema``, and obeyed by every
``--json`` output the suite produces (``tests/conftest.py`` turns the validation on for every command)."""

from __future__ import annotations

import json

import jsonschema
import pytest
from typer.testing import CliRunner

from xmargin.cli import app
from xmargin.cli._schemas import SCHEMAS, generated, shipped, validate
from xmargin.core import XmarginError

runner = CliRunner()


@pytest.mark.parametrize("name", list(SCHEMAS))
def test_shipped_schema_is_what_the_types_generate(name: str) -> None:
    """Regenerate with: python -c 'from xmargin.cli._schemas import write_all; write_all()'."""
    assert shipped(name) == generated(name), f"schemas/{name}.json is stale"
    jsonschema.Draft202012Validator.check_schema(json.loads(shipped(name)))


@pytest.mark.parametrize("name", list(SCHEMAS))
def test_xmargin_schema_prints_it(name: str) -> None:
    result = runner.invoke(app, ["schema", name.upper()])
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == json.loads(shipped(name))


def test_unknown_schema_is_bad_input() -> None:
    result = runner.invoke(app, ["schema", "nope"])
    assert result.exit_code == 2 and result.stderr.startswith("error: NAME: expected one of margin")


def test_a_document_that_breaks_its_schema_is_a_fault() -> None:
    with pytest.raises(XmarginError, match="schema 'price'"):
        validate({"instruments": {"X": {"price": "cheap"}}}, "price")
