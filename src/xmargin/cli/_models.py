"""``xmargin models`` (every model and preset, with parameters and sources) and ``xmargin schema NAME``."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from xmargin.core import InputError
from xmargin.margin import catalog

from ._common import console, handle_errors, print_json


@handle_errors
def models(
    json_out: Annotated[bool, typer.Option("--json", help="Every parameter of every preset")] = False,
) -> None:
    """Every margin model and preset: name, kind, the models a preset serves, description and sources."""
    cat = catalog()
    if json_out:
        print_json(cat, schema="models")
        return
    mt = Table(title="Models (--model NAME; names are case-insensitive)")
    for col in ("model", "default preset", "what it is", "source"):
        mt.add_column(col, overflow="fold")
    for m in cat.kinds:
        mt.add_row(m.name, m.default_preset, m.description, m.source)
    console.print(mt)
    pt = Table(title="Presets (--model PRESET, or --model MODEL --preset PRESET|FILE)")
    for col in ("preset", "kind", "models", "description", "sources"):
        pt.add_column(col, overflow="fold")
    for p in cat.presets:
        pt.add_row(p.name, p.kind, ", ".join(p.models), p.description, p.source)
    console.print(pt)
    console.print(
        "Every parameter with its value: xmargin models --json; formulas and sources: docs/margin.md"
    )


@handle_errors
def schema(
    name: Annotated[str, typer.Argument(help="An output: margin, compare, price, models, replay, ...")],
) -> None:
    """Print the JSON Schema of a command's --json output (FORMATS.md)."""
    from ._schemas import SCHEMAS, shipped

    key = name.lower()
    if key not in SCHEMAS:
        raise InputError(where="NAME", expected=f"one of {', '.join(SCHEMAS)}", found=name)
    console.file.write(shipped(key))
    console.file.flush()
