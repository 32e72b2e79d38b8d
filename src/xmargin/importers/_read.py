"""Reading a venue's export: JSON only, at most 4 MiB, no duplicate keys, ``-`` for standard input.

``xmargin.core.load_document`` reads YAML or JSON without a size limit; an exchange export is JSON (the API
response as saved), so this reader accepts JSON alone and says what it found instead: an HTML error page, YAML,
an empty file, a file too large, text that is not UTF-8, or JSON nested too deeply for the parser.
"""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path
from typing import BinaryIO

from xmargin.core import InputError, json_nesting
from xmargin.importers._common import Shown, SourceDocument

MAX_BYTES = 4 * 1024 * 1024
EXPECTED = "a JSON API response (as saved from the venue)"


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _pairs(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _constant(name: str) -> object:
    raise ValueError(f"the non-standard number {name}")


def read_document(path: str, *, stdin: BinaryIO | None = None) -> SourceDocument:
    """Read and parse one export; ``-`` reads standard input (or ``stdin``). Errors name the file."""
    if path == "-":
        stream = stdin if stdin is not None else sys.stdin.buffer
        return parse_document(stream.read(MAX_BYTES + 1), "<stdin>")
    p = Path(path)
    try:
        mode = p.stat().st_mode
        if stat.S_ISDIR(mode):
            raise InputError(where=path, expected="a file", found=Shown("a directory"))
        with p.open("rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise InputError(where=path, expected="an existing file", found=Shown("no such file")) from None
    except OSError as exc:
        raise InputError(
            where=path, expected="a readable file", found=exc.strerror or type(exc).__name__
        ) from None
    return parse_document(raw, path)


MAX_NESTING = 200
"""Arrays and objects nested deeper than this are refused before parsing (``core.json_nesting``: the parser
recurses on the C stack); venues' exports nest a handful deep."""


def parse_document(raw: bytes, label: str) -> SourceDocument:
    """Parse the bytes of one export (``label`` locates the errors)."""
    if len(raw) > MAX_BYTES:
        raise InputError(where=label, expected=f"{EXPECTED} of at most 4 MiB", found=Shown("a larger file"))
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            where=label,
            expected=f"{EXPECTED} in UTF-8",
            found=Shown(f"a byte that is not UTF-8 at offset {exc.start}"),
        ) from None
    head = text.lstrip()
    if not head:
        raise InputError(where=label, expected=EXPECTED, found=Shown("an empty file"))
    if head.startswith("<"):
        first = head.splitlines()[0][:40]
        raise InputError(where=label, expected=EXPECTED, found=Shown(f"an HTML or XML page ({first!r})"))
    if json_nesting(text) > MAX_NESTING:
        raise InputError(where=label, expected=EXPECTED, found=Shown("JSON nested too deeply to parse"))
    try:
        data = json.loads(text, object_pairs_hook=_pairs, parse_constant=_constant)
    except _DuplicateKey as exc:
        raise InputError(
            where=label, expected=f"{EXPECTED} with unique keys", found=Shown(f"the key {exc.key!r} twice")
        ) from None
    except json.JSONDecodeError as exc:
        found = Shown(exc.msg)
        if head[0] not in '{["-0123456789tfn':
            found = Shown("text that is not JSON (YAML or CSV are not read: save the API response itself)")
        raise InputError(
            where=f"{label}:{exc.lineno}:{exc.colno}", expected=f"valid JSON: {EXPECTED}", found=found
        ) from None
    except RecursionError:
        raise InputError(
            where=label, expected=EXPECTED, found=Shown("JSON nested too deeply to parse")
        ) from None
    except ValueError as exc:  # a NaN/Infinity constant, or an integer beyond Python's digit limit
        raise InputError(
            where=label, expected=f"standard JSON: {EXPECTED}", found=Shown(str(exc)[:80])
        ) from None
    return SourceDocument(label=label, data=data)
