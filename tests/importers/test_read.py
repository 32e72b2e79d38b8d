"""Reading exports: JSON only, 4 MiB at most, no duplicate keys; every refusal names the file."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from xmargin.core import InputError, json_nesting, parse_json
from xmargin.importers import MAX_BYTES, parse_document, read_document


def refusal(raw: bytes, label: str = "in.json") -> str:
    with pytest.raises(InputError) as exc:
        parse_document(raw, label)
    return str(exc.value)


def test_json_with_a_byte_order_mark_is_read() -> None:
    doc = parse_document(b'\xef\xbb\xbf{"a": [1, 2.5, "3"]}', "in.json")
    assert doc.label == "in.json" and doc.data == {"a": [1, 2.5, "3"]}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "in.json: expected a JSON API response (as saved from the venue), found an empty file"),
        (b"  \n ", "in.json: expected a JSON API response (as saved from the venue), found an empty file"),
        (
            b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>",
            "in.json: expected a JSON API response (as saved from the venue), found an HTML or XML page "
            "('<!DOCTYPE html><html><body>502 Bad Gatew')",
        ),
        (
            b"positions:\n  - BTC-PERPETUAL\n",
            "in.json:1:1: expected valid JSON: a JSON API response (as saved from the venue), found text that "
            "is not JSON (YAML or CSV are not read: save the API response itself)",
        ),
        (
            b'{"a": 1,\n "b": }',
            "in.json:2:7: expected valid JSON: a JSON API response (as saved from the venue), found Expecting value",
        ),
        (
            b'{"size": 1, "size": 2}',
            "in.json: expected a JSON API response (as saved from the venue) with unique keys, found the key "
            "'size' twice",
        ),
        (
            b'{"size": NaN}',
            "in.json: expected standard JSON: a JSON API response (as saved from the venue), found the "
            "non-standard number NaN",
        ),
        (
            b"\xff\xfe{}",
            "in.json: expected a JSON API response (as saved from the venue) in UTF-8, found a byte that is not "
            "UTF-8 at offset 0",
        ),
    ],
)
def test_refusals(raw: bytes, message: str) -> None:
    assert refusal(raw) == message


def test_deep_nesting_and_huge_integers_are_bad_input() -> None:
    assert "nested too deeply" in refusal(b"[" * 100_000 + b"]" * 100_000)
    assert refusal(b"1" * 5000).startswith("in.json: expected standard JSON")


def test_size_cap(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    big.write_bytes(b"[" + b"0," * (MAX_BYTES // 2) + b"0]")
    with pytest.raises(InputError, match="of at most 4 MiB, found a larger file"):
        read_document(str(big))


def test_files_and_standard_input(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="expected an existing file, found no such file"):
        read_document(str(tmp_path / "missing.json"))
    with pytest.raises(InputError, match="expected a file, found a directory"):
        read_document(str(tmp_path))
    doc = read_document("-", stdin=io.BytesIO(b'{"ok": true}'))
    assert doc.label == "<stdin>" and doc.data == {"ok": True}


def test_deep_nesting_is_refused_whatever_the_recursion_limit() -> None:
    """py-evm (imported with titanoboa) raises the interpreter's recursion limit to 100,000; json's C parser
    would then overflow the stack on deep nesting instead of raising: the depth is checked before parsing."""
    import sys

    old = sys.getrecursionlimit()
    sys.setrecursionlimit(100_000)
    try:
        assert "nested too deeply" in refusal(b"[" * 100_000 + b"]" * 100_000)
        with pytest.raises(InputError, match="nesting at most"):
            parse_json("[" * 50_000 + "]" * 50_000, source="x.json")
    finally:
        sys.setrecursionlimit(old)
    assert json_nesting('{"a": [1, "[[[\\"[", {"b": []}]}') == 4  # brackets in strings do not count
    assert json_nesting("[]") == 1 and json_nesting("3") == 0
