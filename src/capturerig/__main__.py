"""``python -m capturerig`` runs the command line."""

from capturerig.cli import main

main()
