"""Writing output files safely: never over an existing file without being asked, never onto a device or a
directory, and never half-written (a temporary file beside the target, renamed into place, removed on
failure)."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

from xmargin.core._errors import InputError


def check_output(path: str | Path, *, force: bool = False, where: str = "output") -> Path:
    """``path`` as a target to write: its directory must exist; an existing target is refused unless
    ``force``, and even then it must be a regular file (a device, a directory or a link to one never is)."""
    p = Path(path)
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(where=where, expected="a path in an existing directory", found=str(p))
    if p.is_symlink() or p.exists():
        if not p.is_file() or (p.is_symlink() and not p.resolve().is_file()):
            raise InputError(
                where=where, expected="a regular file to write (not a device or a directory)", found=str(p)
            )
        if not force:
            raise InputError(
                where=where,
                expected="a path that does not exist yet (or --force to replace it)",
                found=str(p),
            )
    return p


@contextlib.contextmanager
def atomic_write(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` in one rename, on failure it
    is removed and ``path`` is left as it was."""
    p = Path(path)
    tmp = p.with_name(f".{p.stem}.{uuid.uuid4().hex[:8]}.tmp{p.suffix}")  # the suffix kept: writers key on it
    try:
        yield tmp
        os.replace(tmp, p)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
