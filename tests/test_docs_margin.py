"""docs/margin.md covers every model kind and every shipped preset (issue 12).

A name counts as covered when it appears in backticks in a Markdown heading or in a table row of the file;
every shipped preset also needs its own ``###`` heading with its exact name. (The ``python`` blocks of the
file are run by tests/test_docs.py.)
"""

from __future__ import annotations

import re
from pathlib import Path

from xmargin.margin import model_names, shipped_presets

DOC = Path(__file__).resolve().parents[1] / "docs" / "margin.md"
TICKED = re.compile(r"`([^`]+)`")


def documented(text: str) -> tuple[set[str], set[str]]:
    """Names in backticks in headings or table rows, and the names of ``###`` headings that are one name."""
    anywhere: set[str] = set()
    sections: set[str] = set()
    fenced = False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            continue
        if line.startswith("#") or line.lstrip().startswith("|"):
            anywhere.update(TICKED.findall(line))
        m = re.fullmatch(r"###\s+`([^`]+)`.*", line.strip())
        if m:
            sections.add(m.group(1))
    return anywhere, sections


def missing(text: str, kinds: tuple[str, ...], presets: tuple[str, ...]) -> list[str]:
    anywhere, sections = documented(text)
    out = [f"model kind {k}" for k in kinds if k not in anywhere]
    out += [f"preset {p} (### heading)" for p in presets if p not in sections]
    return out


def test_every_model_and_preset_is_documented() -> None:
    kinds, presets = model_names(), shipped_presets()
    assert kinds and presets
    assert missing(DOC.read_text(encoding="utf-8"), kinds, presets) == []


def test_the_check_fails_on_a_missing_name() -> None:
    text = "# Margin\n\n## `cross`\n\n### `cross-fixed`\n\nprose naming `pm` and `cross-binance`\n"
    text += "```\n### `pm-span`\n```\n"
    assert missing(text, ("cross", "pm"), ("cross-fixed", "cross-binance", "pm-span")) == [
        "model kind pm",
        "preset cross-binance (### heading)",
        "preset pm-span (### heading)",
    ]
