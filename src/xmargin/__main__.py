"""``python -m xmargin`` runs the command line."""

from xmargin.cli import main

main()
