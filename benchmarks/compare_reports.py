"""Compare replay reports written by ``xmargin replay ... --json [--timeline]`` (before / after a change).

Every field is compared exactly (floats bit for bit: JSON writes a float's shortest repr, which reads back
to the same float) except ``timing`` (wall time and latencies: not a function of the inputs). Prints each
difference as ``path: before -> after`` and exits 1 if there is any, 0 if the reports are identical.

Usage::

    python benchmarks/compare_reports.py BEFORE.json AFTER.json [BEFORE2.json AFTER2.json ...]
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

IGNORED = ("timing",)


def differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Where ``a`` and ``b`` (parsed JSON) differ, as ``path: a -> b`` lines (lists element by element)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out: list[str] = []
        for k in sorted(set(a) | set(b)):
            if not path and k in IGNORED:
                continue
            if k not in a or k not in b:
                out.append(f"{path}/{k}: {a.get(k, 'missing')!r} -> {b.get(k, 'missing')!r}")
            else:
                out.extend(differences(a[k], b[k], f"{path}/{k}"))
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: length {len(a)} -> {len(b)}"]
        return [
            d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in differences(x, y, f"{path}[{i}]")
        ]
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return []  # the same NaN, written as NaN both times
    if type(a) is not type(b) or a != b:
        return [f"{path}: {a!r} -> {b!r}"]
    return []


def main(argv: list[str]) -> int:
    if len(argv) < 2 or len(argv) % 2:
        print(__doc__.split("Usage::")[1], file=sys.stderr)
        return 2
    bad = 0
    for before, after in zip(argv[::2], argv[1::2], strict=True):
        a = json.loads(Path(before).read_text(encoding="utf-8"))
        b = json.loads(Path(after).read_text(encoding="utf-8"))
        diff = differences(a, b)
        print(f"{before} vs {after}: {'identical' if not diff else f'{len(diff)} differences'}")
        for line in diff[:50]:
            print("  " + line)
        bad += bool(diff)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
