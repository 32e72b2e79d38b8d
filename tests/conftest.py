"""Shared fixtures: paths to the shipped examples and to the project's shared real data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# CI explores the same examples every run (reproducible verdicts); local runs draw new ones each time, which is
# how the suite keeps finding things (a huge-σ√T implied-vol case came from a local-style random draw).
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

# Every --json document a test makes the CLI print is validated against its shipped JSON Schema
# (xmargin schema NAME); a mismatch makes the command fail (exit 1). Subprocesses inherit it.
os.environ["XMARGIN_VALIDATE_JSON"] = "1"

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture
def examples() -> Path:
    return EXAMPLES


@pytest.fixture
def shared_chains() -> Path:
    path = SHARED_DATA / "options" / "deribit_option_chains_selected.csv.gz"
    if not path.exists():
        pytest.skip("../shared/data is not beside the checkout")
    return path
