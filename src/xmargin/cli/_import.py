"""``xmargin import deribit|binance|okx|ccxt FILE... [--out PORTFOLIO]`` (FORMATS.md): a venue's own export
as a portfolio file.

Standard output holds the portfolio document and nothing else (JSON, so it can be piped on); every assumption
is a ``warning: ...`` line on standard error. With ``--out`` the document is written as YAML (``.yaml``,
``.yml``) or JSON (``.json``) through a temporary file beside the target, renamed into place, so the target is
either untouched or complete. An existing target is refused without ``--force``; a target that is not a
regular file (a directory, a device, a symbolic link) is always refused. On bad input nothing is written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
import yaml

from xmargin.core import InputError, atomic_write, check_output, parse_each
from xmargin.importers import IMPORTERS, PortfolioDoc, Shown, SourceDocument, import_documents, read_document

from ._common import err_console, handle_errors, print_json

SUFFIXES = {".yaml": "yaml", ".yml": "yaml", ".json": "json"}


def render(portfolio: PortfolioDoc, target: Path) -> str:
    """The document as the target's suffix asks: YAML or JSON."""
    if SUFFIXES[target.suffix.lower()] == "json":
        return json.dumps(portfolio, indent=2) + "\n"
    text: str = yaml.safe_dump(dict(portfolio), sort_keys=False, default_flow_style=False, allow_unicode=True)
    return text


def read_files(files: list[str]) -> list[SourceDocument]:
    """Every FILE parsed; every unreadable one reported (one line each)."""
    if files.count("-") > 1:
        raise InputError(
            where="FILE",
            expected="'-' (standard input) at most once",
            found=Shown(f"{files.count('-')} times"),
        )
    return parse_each(read_document, files)


@handle_errors
def import_cmd(
    venue: Annotated[str, typer.Argument(metavar="VENUE", help=f"One of {', '.join(IMPORTERS)}")],
    files: Annotated[
        list[str],
        typer.Argument(
            metavar="FILE...",
            help="The venue's JSON responses (positions, account/balance; in any order); '-' reads standard input",
        ),
    ],
    out: Annotated[
        str | None,
        typer.Option(
            "--out", help="Write the portfolio to this .yaml/.yml or .json file instead of printing it"
        ),
    ] = None,
    account: Annotated[
        str | None, typer.Option("--account", help="The portfolio's account label (default: the venue name)")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing --out file")] = False,
) -> None:
    """A venue's own position and account exports as a portfolio file (docs/import.md)."""
    if venue.lower() not in IMPORTERS:
        raise InputError(where="VENUE", expected=f"one of {', '.join(IMPORTERS)}", found=venue)
    target = check_output(out, force=force, where="--out", suffixes=SUFFIXES) if out is not None else None
    result = import_documents(venue, read_files(files), account=account)
    for warning in result.warnings:
        err_console.print(f"warning: {warning}", markup=False)
    if target is None:
        print_json(result.portfolio, schema="portfolio")
        return
    with atomic_write(target, force=force, where="--out") as tmp:
        tmp.write_text(render(result.portfolio, target), encoding="utf-8")
    err_console.print(
        f"wrote {target}: {len(result.portfolio['positions'])} positions, "
        f"{len(result.portfolio['collateral'])} collateral assets",
        markup=False,
    )
