"""Writing output files safely: never over an existing file without being asked, never onto a device, a
directory, a named pipe or through a symbolic link, and never half-written (a temporary file beside the
target, flushed to disk and renamed into place, removed on failure)."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from xmargin.core._errors import InputError


class _Shown(str):
    """A ``found`` shown as written (not quoted)."""

    def __repr__(self) -> str:
        return str(self)


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


def check_output(
    path: str | Path, *, force: bool = False, where: str = "output", suffixes: Iterable[str] = ()
) -> Path:
    """``path`` as a target to write: its directory must exist (and its suffix be one of ``suffixes``, if
    given); an existing target is refused unless ``force``, and even then it must be a regular file."""
    p = Path(path)
    allowed = tuple(s.lower() for s in suffixes)
    if allowed and p.suffix.lower() not in allowed:
        names = ", ".join(allowed[:-1]) + " or " + allowed[-1] if len(allowed) > 1 else allowed[0]
        raise InputError(where=where, expected=f"a file name ending in {names}", found=str(p))
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(where=where, expected="a path in an existing directory", found=str(p))
    try:
        mode = p.lstat().st_mode
    except FileNotFoundError:
        return p
    if not stat.S_ISREG(mode):
        raise InputError(
            where=where, expected="a regular file to write", found=_Shown(f"{p} is {_kind(mode)}")
        )
    if not force:
        raise InputError(
            where=where, expected="a new file (--force replaces it)", found=_Shown(f"{p} exists")
        )
    return p


@contextlib.contextmanager
def atomic_write(path: str | Path, *, force: bool = True, where: str = "output") -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same suffix: writers choose their format by it). On success it
    is flushed to disk and takes ``path``'s place in one rename (``force``) or, without ``force``, only if
    ``path`` still does not exist (a hard link: never over a file that appeared meanwhile); on failure it
    is removed and ``path`` is left as it was. The new file gets the old one's permissions, else the umask's."""
    p = Path(path)
    existing = p.stat().st_mode & 0o777 if p.is_file() else None
    fd, name = tempfile.mkstemp(
        dir=p.parent if str(p.parent) else ".", prefix=f".{p.stem}.", suffix=f".tmp{p.suffix}"
    )
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, existing if existing is not None else 0o666 & ~umask)
        if force:
            os.replace(tmp, p)
        else:
            try:
                os.link(tmp, p)
            except FileExistsError:
                raise InputError(
                    where=where, expected="a new file (--force replaces it)", found=_Shown(f"{p} exists")
                ) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
