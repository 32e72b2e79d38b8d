"""Every code example of the README and of ``docs/`` runs (issue 12: docs/engine.md's raised NameError).

``python`` blocks run as they are, from the repository root, each in a fresh namespace. The README's
``bash`` blocks run command by command in a scratch directory beside copies of the examples, scaled down
where a command is a benchmark of size (100,000 accounts become 300; replays run 60 accounts, sweeps two
books); benchmarks and
the demo (tested by tests/integration/test_cli_demo.py) are left out. Every command must exit 0. The service
block starts ``xmargin serve`` in the background (pid in ``serve.pid``, waited for by a bounded curl retry)
and stops it with its last command, or here if a command before it failed.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"```(python|bash)\n(.*?)```", re.S)
SCALE = (("--accounts 100000", "--accounts 300"), ("--accounts 500", "--accounts 60"))
SKIP = ("source ", "make ", "xmargin bench", "xmargin demo")


def blocks(kind: str, paths: list[Path]) -> list[tuple[str, str]]:
    out = []
    for path in paths:
        for n, (lang, code) in enumerate(FENCE.findall(path.read_text(encoding="utf-8"))):
            if lang == kind:
                out.append((f"{path.relative_to(ROOT)}#{n}", code))
    return out


def commands(code: str) -> list[tuple[str, int]]:
    """The block's commands and the exit status each must give: continuation lines joined, comments and
    skipped commands dropped; a command whose comment says ``exit N`` must exit N (a refusal the README
    shows), every other one 0. A ``NAME=value`` line is kept in front of the commands after it."""
    joined = re.sub(r"\\\n\s*", " ", code)
    out: list[tuple[str, int]] = []
    assignments = ""
    for raw in joined.splitlines():
        line, _, comment = raw.partition(" # ")
        line = line.strip()
        if not line or line.startswith("#") or line.startswith(SKIP):
            continue
        for old, new in SCALE:
            line = line.replace(old, new)
        if line.startswith("xmargin replay --scenario 20") and "--accounts" not in line:
            line += " --accounts 60"  # a 1,000-account replay takes minutes: the command is what is tested
        line = line.replace("--seeds 8", "--seeds 2")
        if re.fullmatch(r"[A-Z_]+=\S+", line):
            assignments += f"{line}; "
            continue
        expected = re.search(r"exit (\d)", comment)
        out.append((assignments + line, int(expected.group(1)) if expected else 0))
    return out


@pytest.mark.parametrize(("where", "code"), blocks("python", DOCS), ids=lambda x: x if "#" in x else "")
def test_python_examples_run(where: str, code: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    exec(compile(code, where, "exec"), {"__name__": "__docs__"})


@pytest.mark.slow
@pytest.mark.parametrize(("where", "code"), blocks("bash", DOCS[:1]), ids=lambda x: x if "#" in x else "")
def test_readme_commands_run(where: str, code: str, tmp_path: Path) -> None:
    for folder in ("examples", "src", "tests"):
        (tmp_path / folder).symlink_to(ROOT / folder)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", "COLUMNS": "200"}
    env["XMARGIN_LEDGER_DB"] = str(tmp_path / "ledger.db")
    try:
        for command, status in commands(code):
            proc = subprocess.run(
                ["bash", "-o", "pipefail", "-c", command],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert proc.returncode == status, f"{where}: {command}: {proc.stderr[-2000:]}"
    finally:
        _stop_server(tmp_path / "serve.pid")
    shutil.rmtree(tmp_path / "xmargin-data", ignore_errors=True)


def _stop_server(pid_file: Path) -> None:
    """The service block starts ``xmargin serve`` in the background and writes its pid to ``serve.pid``; its
    last command stops it. If a command before that failed, stop that one process here (by its pid)."""
    if not pid_file.exists():
        return
    with contextlib.suppress(ValueError, ProcessLookupError, PermissionError):
        os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
