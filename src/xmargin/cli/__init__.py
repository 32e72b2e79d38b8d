"""Command line: parse, call down, print (rich tables or ``--json``)."""

from __future__ import annotations

import sys

try:  # typer >= 0.17 vendors click as typer._click; older releases depend on click itself
    from typer._click.exceptions import NoArgsIsHelpError, UsageError
except ImportError:  # pragma: no cover - depends on the installed typer
    from click.exceptions import NoArgsIsHelpError, UsageError  # type: ignore[assignment]

from ._app import app
from ._common import quiet_broken_pipe


def main() -> None:
    """Console-script entry point. A usage error (unknown flag, missing or malformed argument) is one
    ``error: WHERE: expected X, found Y`` line on standard error and exit 2, like every other bad input."""
    try:
        code = app(standalone_mode=False)
        sys.stdout.flush()
    except BrokenPipeError:
        quiet_broken_pipe()
        sys.exit(0)
    except NoArgsIsHelpError as exc:  # a group without its command: the help, and the one error line
        where = exc.ctx.command_path if exc.ctx is not None else "xmargin"
        sys.stdout.write(exc.ctx.get_help() + "\n" if exc.ctx is not None else "")
        sys.stderr.write(f"error: {where}: expected a command (see the list above), found nothing\n")
        sys.exit(2)
    except UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else "xmargin"
        message = " ".join(exc.format_message().split())
        sys.stderr.write(f"error: {where}: expected valid arguments (see --help), found {message}\n")
        sys.exit(2)
    except (KeyboardInterrupt, EOFError):
        sys.stderr.write("error: aborted\n")
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)


__all__ = ["app", "main"]
