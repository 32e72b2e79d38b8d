"""Reading user documents (YAML or JSON) safely, and turning validation failures into ``InputError`` lines.

Every document a user hands to xmargin (a portfolio, a market, a preset, a venue export) goes through
:func:`load_document`, which refuses fast and with a named reason what could hang or exhaust the machine:

- at most ``MAX_DOCUMENT_BYTES`` are read (a device such as ``/dev/zero`` is refused, not read forever);
- nesting deeper than ``MAX_DEPTH`` and more than ``MAX_ALIASES`` YAML aliases are refused while the
  document is composed, and so is a document whose aliases would expand to more than ``MAX_NODES`` nodes
  (the "billion laughs" bomb: a few hundred bytes that expand to gigabytes once walked);
- a key given twice in one mapping is bad input (YAML and JSON would silently keep the last one);
- YAML is read with YAML 1.2's number rules (``1e12`` is a number, not the string PyYAML's 1.1 rules make
  it), and timestamps stay text, so that ``2026-13-45T08:00:00Z`` is reported by the field's own parser.

``-`` stands for standard input.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

import yaml
from pydantic import ValidationError

from xmargin.core._errors import InputError, InputErrors

MAX_DOCUMENT_BYTES = 4 * 1024 * 1024
"""4 MiB: a portfolio of ~50,000 positions or a market file with every listed option's IV fits."""
MAX_DEPTH = 32
"""Nesting of mappings and lists; xmargin's formats need 5 at most."""
MAX_ALIASES = 100
MAX_NODES = 1_000_000
"""Nodes of the document with every alias expanded."""
STDIN = "-"


def read_text(path: str | Path, *, limit: int = MAX_DOCUMENT_BYTES) -> str:
    """The UTF-8 text of a regular file, or of standard input for ``-``; at most ``limit`` bytes."""
    name = str(path)
    if name == STDIN:
        data = sys.stdin.buffer.read(limit + 1)
    else:
        p = Path(path)
        if not p.exists():
            raise InputError(where=name, expected="an existing file", found="no such file")
        if p.is_dir():
            raise InputError(where=name, expected="a file", found="a directory")
        if not p.is_file():
            raise InputError(
                where=name, expected="a regular file (or - for standard input)", found="a device"
            )
        try:
            with p.open("rb") as f:
                data = f.read(limit + 1)
        except OSError as exc:
            raise InputError(where=name, expected="a readable file", found=type(exc).__name__) from None
    if len(data) > limit:
        raise InputError(
            where=name, expected=f"a document of at most {limit:,} bytes", found=f"more than {limit:,}"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(where=name, expected="UTF-8 text", found="undecodable bytes") from None


# -- YAML with limits ---------------------------------------------------------------------------------------
_FLOAT_12 = re.compile(
    r"""^(?:[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)


class _LimitedLoader(yaml.SafeLoader):
    """``SafeLoader`` with YAML 1.2 floats, timestamps as text, and the limits of the module docstring."""

    yaml_implicit_resolvers: ClassVar[dict[Any, Any]] = {  # type: ignore[misc]
        first: [(tag, rx) for tag, rx in resolvers if tag not in ("tag:yaml.org,2002:timestamp",)]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise _Limit(f"at most {MAX_ALIASES} aliases", f"more than {MAX_ALIASES}", self.peek_event())  # type: ignore[no-untyped-call]
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _Limit(f"nesting at most {MAX_DEPTH} deep", f"deeper than {MAX_DEPTH}", self.peek_event())  # type: ignore[no-untyped-call]
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key: PyYAML reports it below
                break
            if duplicate:
                raise _Limit("each key once per mapping", f"the key {key!r} twice", key_node)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_LimitedLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT_12, list("-+0123456789."))


class _Limit(Exception):
    def __init__(self, expected: str, found: str, where: Any) -> None:
        self.expected, self.found = expected, found
        self.mark = getattr(where, "start_mark", None)


def _expanded_nodes(root: Any) -> int:
    """Nodes of the composed document with aliases expanded (shared nodes counted once per reference)."""
    sizes: dict[int, int] = {}
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in sizes:
            continue
        children: list[Any] = []
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        if not done:
            stack.append((node, True))
            stack.extend((c, False) for c in children if id(c) not in sizes)
            continue
        sizes[id(node)] = min(1 + sum(sizes[id(c)] for c in children), MAX_NODES + 1)
    return sizes[id(root)]


def parse_yaml(text: str, *, source: str) -> Any:
    """Parse YAML (or JSON) text under the limits of the module docstring."""
    loader = _LimitedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_nodes(node) > MAX_NODES:
            raise InputError(
                where=source,
                expected=f"at most {MAX_NODES:,} values once aliases are expanded",
                found="an alias bomb",
            )
        return loader.construct_document(node)
    except _Limit as exc:
        where = f"{source}:{exc.mark.line + 1}:{exc.mark.column + 1}" if exc.mark is not None else source
        raise InputError(where=where, expected=exc.expected, found=exc.found) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source
        problem = getattr(exc, "problem", None) or "a syntax error"
        raise InputError(where=where, expected="valid YAML or JSON", found=str(problem)) from None
    except InputError:
        raise
    except (ValueError, OverflowError, RecursionError) as exc:  # e.g. a 5,000-digit integer
        raise InputError(
            where=source,
            expected="valid YAML or JSON with numbers of at most 4,300 digits",
            found=type(exc).__name__,
        ) from None
    finally:
        loader.dispose()


def _depth_ok(doc: Any) -> bool:
    stack = [(doc, 1)]
    while stack:
        x, d = stack.pop()
        if d > MAX_DEPTH:
            return False
        if isinstance(x, dict):
            stack.extend((v, d + 1) for v in x.values())
        elif isinstance(x, list):
            stack.extend((v, d + 1) for v in x)
    return True


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _Limit("each key once per object", f"the key {k!r} twice", None)
        out[k] = v
    return out


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def json_nesting(text: str) -> int:
    """How deep the arrays and objects of JSON ``text`` nest, counted on the text before it is parsed
    (brackets inside strings do not count; an unterminated string's brackets do, which only overcounts).

    ``json.loads`` recurses on the C stack and stops only at the interpreter's recursion limit, which any
    library may raise (py-evm, which titanoboa imports, sets it to 100,000): a deeply nested document then
    overflows the stack and kills the process instead of raising. Checking the depth first keeps the
    refusal a named error whatever the limit is. Vectorised (numpy), so a 4 MiB document costs milliseconds.
    """
    import numpy as np

    data = np.frombuffer(_JSON_STRING.sub("", text).encode("utf-8", "surrogatepass"), dtype=np.uint8)
    step = (data == ord("[")).astype(np.int32) + (data == ord("{"))
    step -= (data == ord("]")).astype(np.int32) + (data == ord("}"))
    return int(np.cumsum(step).max(initial=0))


def parse_json(text: str, *, source: str) -> Any:
    """Parse JSON text under the limits of the module docstring."""
    if json_nesting(text) > MAX_DEPTH:
        raise InputError(where=source, expected=f"nesting at most {MAX_DEPTH} deep", found="deeper")
    try:
        doc = json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise InputError(
            where=f"{source}:{exc.lineno}:{exc.colno}", expected="valid JSON", found=exc.msg
        ) from None
    except _Limit as exc:
        raise InputError(where=source, expected=exc.expected, found=exc.found) from None
    except (RecursionError, ValueError):
        raise InputError(where=source, expected=f"nesting at most {MAX_DEPTH} deep", found="deeper") from None
    if not _depth_ok(doc):
        raise InputError(where=source, expected=f"nesting at most {MAX_DEPTH} deep", found="deeper")
    return doc


def load_document(path: str | Path) -> Any:
    """Parse a YAML or JSON file (``-``: standard input); a missing file or a syntax error is bad input."""
    text = read_text(path)
    source = "standard input" if str(path) == STDIN else str(path)
    if Path(str(path)).suffix.lower() == ".json":
        return parse_json(text, source=source)
    return parse_yaml(text, source=source)


_EXPECTED = {
    "missing": "this required field",
    "dict_type": "a mapping of key: value",
    "float_type": "a number",
    "float_parsing": "a number",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "string_type": "a string",
    "finite_number": "a finite number",
    "bool_type": "true or false",
    "list_type": "a list",
    "tuple_type": "a list",
    "literal_error": "one of the listed values",
}


def _loc(parts: Iterable[object]) -> str:
    """``('tiers', 1, 'floor_usd')`` → ``tiers[1].floor_usd``."""
    out = ""
    for x in parts:
        if x == "__root__":
            continue
        out += f"[{x}]" if isinstance(x, int) else (f".{x}" if out else str(x))
    return out


def input_errors(
    exc: ValidationError, *, source: str, allowed_keys: Iterable[str] = (), sep: str = ": "
) -> InputErrors:
    """One ``InputError`` per pydantic error, located as ``source: a.b[1].c`` (``sep`` between them)."""
    out: list[InputError] = []
    allowed = ", ".join(allowed_keys)
    for err in exc.errors():
        loc = _loc(err["loc"])
        where = f"{source}{sep}{loc}" if loc else source
        kind = err["type"]
        ctx = err.get("ctx") or {}
        found: object = err.get("input")
        if kind == "missing":
            found = "nothing"
        if kind == "extra_forbidden":
            top = len([x for x in err["loc"] if x != "__root__"]) == 1
            expected = (
                f"only the known keys ({allowed})" if allowed and top else "only the keys this section takes"
            )
            found = f"unknown key {err['loc'][-1]!s}"
        elif kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
            op = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}[
                kind
            ]
            bound = next(iter(ctx.values()))
            expected = f"a number {op} {bound}"
        elif kind == "literal_error":
            expected = f"one of {ctx.get('expected', '')}"
        elif kind == "value_error" and isinstance(ctx.get("error"), InputError):
            inner: InputError = ctx["error"]
            joint = "." if sep == "." else ": "
            out.append(
                InputError(
                    where=f"{where}{joint}{inner.where}" if inner.where else where,
                    expected=inner.expected,
                    found=inner.found,
                )
            )
            continue
        elif kind == "value_error":
            expected = str(ctx.get("error", err["msg"]))
        else:
            expected = _EXPECTED.get(kind, err["msg"])
        if isinstance(found, dict) and "value" in found and set(found) <= {"value", "source", "note"}:
            found = found["value"]  # a {value, source} parameter: its value is what is wrong
        if isinstance(found, dict | list) and len(str(found)) > 80:
            found = f"a {type(found).__name__}"
        out.append(InputError(where=where, expected=expected, found=found))
    return InputErrors(out)
