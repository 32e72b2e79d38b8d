"""The exception tree of xmargin.

::

    XmarginError                  root of everything xmargin raises on purpose
    ├── InputError(ValueError)    bad input: a file, a CLI flag, an API request, a feed
    │                             carries ``where``, ``expected``, ``found``
    └── PricingError              a numerical method could not produce a trustworthy number

The CLI prints an ``InputError`` as one line ``error: WHERE: expected X, found Y`` and exits 2.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TypeVar

A = TypeVar("A")
T = TypeVar("T")


class XmarginError(Exception):
    """Root of every exception xmargin raises on purpose."""


class InputError(XmarginError, ValueError):
    """Bad input, with the place it came from, what was expected and what was found.

    >>> str(InputError(where="OptionSpec.strike_usd", expected="> 0", found=-5.0))
    'OptionSpec.strike_usd: expected > 0, found -5.0'
    """

    def __init__(self, *, where: str, expected: str, found: object) -> None:
        self.where = where
        self.expected = expected
        self.found = found
        shown = repr(found) if isinstance(found, str) else str(found)
        super().__init__(f"{where}: expected {expected}, found {shown}")


class InputErrors(InputError):
    """Several independent problems in one input, reported together (one line each)."""

    def __init__(self, errors: Sequence[InputError]) -> None:
        if not errors:
            raise ValueError("InputErrors needs at least one error")
        self.errors = tuple(errors)
        first = self.errors[0]
        XmarginError.__init__(self, "\n".join(str(e) for e in self.errors))
        self.where, self.expected, self.found = first.where, first.expected, first.found

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


def parse_each(fn: Callable[[A], T], items: Iterable[A]) -> list[T]:
    """``fn`` of every item, in order; the bad input met among them raised together (``InputErrors``, one line
    per problem), so a user fixes a file or a list of flags in one pass."""
    out: list[T] = []
    errors: list[InputError] = []
    for item in items:
        try:
            out.append(fn(item))
        except InputErrors as exc:
            errors.extend(exc.errors)
        except InputError as exc:
            errors.append(exc)
    if errors:
        raise InputErrors(errors)
    return out


@contextlib.contextmanager
def renamed_wheres(mapping: Mapping[str, str], *, separators: tuple[str, ...] = (":", ".")) -> Iterator[None]:
    """Report bad input raised inside under the caller's names: a ``where`` equal to a key of ``mapping``,
    or starting with that key and one of ``separators``, has the key replaced by its value (the first key
    that matches, in the mapping's order). The command line maps library parameters to its flags, the
    service to the parts of a request."""
    try:
        yield
    except InputError as exc:
        errors = exc.errors if isinstance(exc, InputErrors) else (exc,)
        renamed = []
        for e in errors:
            where = e.where
            for name, to in mapping.items():
                if where == name or where.startswith(tuple(name + sep for sep in separators)):
                    where = to + where[len(name) :]
                    break
            renamed.append(InputError(where=where, expected=e.expected, found=e.found))
        raise (InputErrors(renamed) if len(renamed) > 1 else renamed[0]) from None


class PricingError(XmarginError):
    """A numerical method could not produce a trustworthy number."""


def require(module: str, extra: str) -> None:
    """Fail with how to install it if the optional ``module`` (of the ``xmargin[extra]`` extra) is missing."""
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise XmarginError(f"this needs {module}, an optional dependency: pip install 'xmargin[{extra}]'")
