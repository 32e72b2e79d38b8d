"""``xmargin import deribit|binance|okx|ccxt FILE... [--out PORTFOLIO]`` (FORMATS.md): a venue's own export
as a portfolio file.

Standard output holds the portfolio document and nothing else (JSON, so it can be piped on); every assumption
is a ``warning: ...`` line on standard error. With ``--out`` the document is written as YAML (``.yaml``,
``.yml``) or JSON (``.json``) through a temporary file beside the target, renamed into place, so the target is
either untouched or complete. An existing target is refused without ``--force``; a target that is not a
regular file (a directory, a device, a symbolic link) is always refused. On bad input nothing is written.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import tempfile
from pathlib import Path
from typing import Annotated

import typer
import yaml

from xmargin.core import InputError, InputErrors
from xmargin.importers import IMPORTERS, PortfolioDoc, Shown, SourceDocument, import_documents, read_document

from ._common import err_console, handle_errors, print_json

SUFFIXES = {".yaml": "yaml", ".yml": "yaml", ".json": "json"}


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    return "not a regular file"


def check_target(out: str, *, force: bool) -> Path:
    """The ``--out`` path, if it may be written: a .yaml/.yml/.json name in an existing directory, not yet
    there (or a regular file, with ``force``)."""
    target = Path(out)
    if target.suffix.lower() not in SUFFIXES:
        raise InputError(where="--out", expected="a file name ending in .yaml, .yml or .json", found=out)
    if not target.parent.is_dir():
        raise InputError(where="--out", expected="a path in an existing directory", found=out)
    try:
        mode = target.lstat().st_mode
    except FileNotFoundError:
        return target
    if not stat.S_ISREG(mode):
        raise InputError(
            where="--out", expected="a regular file to write", found=Shown(f"{out} is {_kind(mode)}")
        )
    if not force:
        raise InputError(
            where="--out", expected="a new file (--force replaces it)", found=Shown(f"{out} exists")
        )
    return target


def render(portfolio: PortfolioDoc, target: Path) -> str:
    """The document as the target's suffix asks: YAML or JSON."""
    if SUFFIXES[target.suffix.lower()] == "json":
        return json.dumps(portfolio, indent=2) + "\n"
    text: str = yaml.safe_dump(dict(portfolio), sort_keys=False, default_flow_style=False, allow_unicode=True)
    return text


def write_atomically(text: str, target: Path, *, force: bool) -> None:
    """Write through a temporary file beside ``target`` and rename it into place (never half-written)."""
    check_target(str(target), force=force)
    existing = target.stat().st_mode & 0o777 if target.exists() else None
    umask = os.umask(0)
    os.umask(umask)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, existing if existing is not None else 0o666 & ~umask)
        if force:
            os.replace(tmp, target)
        else:
            try:
                os.link(
                    tmp, target
                )  # fails if the target appeared meanwhile: never overwrite without --force
            except FileExistsError:
                raise InputError(
                    where="--out",
                    expected="a new file (--force replaces it)",
                    found=Shown(f"{target} exists"),
                ) from None
            tmp.unlink()
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def read_files(files: list[str]) -> list[SourceDocument]:
    """Every FILE parsed; every unreadable one reported (one line each)."""
    if files.count("-") > 1:
        raise InputError(
            where="FILE",
            expected="'-' (standard input) at most once",
            found=Shown(f"{files.count('-')} times"),
        )
    docs: list[SourceDocument] = []
    errors: list[InputError] = []
    for name in files:
        try:
            docs.append(read_document(name))
        except InputError as exc:
            errors.append(exc)
    if errors:
        raise InputErrors(errors)
    return docs


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
    target = check_target(out, force=force) if out is not None else None
    result = import_documents(venue, read_files(files), account=account)
    for warning in result.warnings:
        err_console.print(f"warning: {warning}", markup=False)
    if target is None:
        print_json(result.portfolio)
        return
    write_atomically(render(result.portfolio, target), target, force=force)
    err_console.print(
        f"wrote {target}: {len(result.portfolio['positions'])} positions, "
        f"{len(result.portfolio['collateral'])} collateral assets",
        markup=False,
    )
