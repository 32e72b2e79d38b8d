"""Command line: parse, call down, print (rich tables or ``--json``)."""

from ._app import app


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = ["app", "main"]
