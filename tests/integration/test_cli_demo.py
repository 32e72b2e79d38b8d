"""``xmargin demo``: the README's main job runs end to end (marks check, six books, the crash replay)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

WIDE = {**os.environ, "COLUMNS": "200"}


def test_demo_runs_and_writes_the_replay_chart(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "xmargin", "demo", "--replay-accounts", "30", "--out-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        env=WIDE,
    )
    assert out.returncode == 0, out.stderr
    assert "pm saves vs isolated" in out.stdout
    assert "bad debt, USD" in out.stdout and "CEX" in out.stdout and "DEX" in out.stdout
    assert (tmp_path / "replay-2020-03-12.png").read_bytes()[:4] == b"\x89PNG"


def test_demo_bad_flag_is_one_error_line() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "xmargin", "demo", "--replay-accounts", "-1"], capture_output=True, text=True
    )
    assert out.returncode == 2
    assert out.stderr.startswith("error: --replay-accounts")
