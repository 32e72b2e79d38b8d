"""Shared fixtures: paths to the shipped examples and to the project's shared real data."""

from __future__ import annotations

from pathlib import Path

import pytest

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
