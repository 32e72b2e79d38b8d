"""Imported by the crash test's forkserver (``set_forkserver_preload``): one small pre-trade check there
loads the margin kernels once, so each server forked from it starts warm (tests/integration/serving.py)."""

from pathlib import Path

from tests.integration.serving import warm_up

warm_up(str(Path(__file__).resolve().parents[2] / "examples" / "market.yaml"))
