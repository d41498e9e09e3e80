"""``python -m diarflow`` runs the CLI."""

from diarflow.cli import main

main()
