"""The ``diarflow`` command line.

Each command lives in its own module exposing ``register(app)``; this module
only assembles them, so importing the CLI stays cheap (commands import their
heavy dependencies inside the command body).
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="diarflow",
    help="Speaker-attributed podcast transcripts: Deepgram transcript + diarization in, who-said-what out.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# One module per command group; each exposes register(app: typer.Typer) -> None.
_COMMAND_MODULES = (
    "run",
    "diarize",
    "transcribe",
    "export",
    "report",
    "serve",
    "trigger",
    "eval",
    "voiceprints",
    "speakers",
)

for _name in _COMMAND_MODULES:
    importlib.import_module(f"diarflow.cli.{_name}").register(app)


def main() -> None:
    """Console-script entry point."""
    from diarflow.cli._common import settle_imports

    settle_imports(entry_point=True)
    app()
