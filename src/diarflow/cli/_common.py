"""Shared CLI plumbing: options, exit codes, stderr output, error reporting (and reading input files, re-exported)."""

from __future__ import annotations

import gc
import logging
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from diarflow.adapters.input_files import read_input_file as read_input_file  # the commands read input files
from diarflow.errors import EXIT_FAILED as EXIT_FAILED  # the commands' own failures exit like errors do
from diarflow.errors import EXIT_INVALID_INPUT, DiarflowError, InvalidInput, classify
from diarflow.redaction import RedactingFilter, redact

if TYPE_CHECKING:
    from rich.console import Console

EXIT_OK = 0
EXIT_USAGE = EXIT_INVALID_INPUT  # a bad option and a bad input file are the same mistake to a script

StoreOption = Annotated[
    str | None,
    typer.Option("--store", help="Store URL: a directory, file:///path or s3://bucket/prefix (env DIARFLOW_STORE)."),
]


def stderr_console() -> Console:
    """Progress and messages go to stderr so stdout stays machine-readable."""
    from rich.console import Console

    return Console(stderr=True, highlight=False, emoji=False)


def stdout_console() -> Console:
    """Tables and summaries a person reads on stdout (``show``, ``eval``, ``demo``)."""
    from rich.console import Console

    return Console(highlight=False, emoji=False)


# C0 and C1 control characters but newline and tab: in a terminal, ESC starts a control sequence
# (colours, cursor moves, the window title), so text from an input must never carry one there.
_TERMINAL_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def visible_controls(text: str) -> str:
    """``text`` with each control character shown as an escape (``\\x1b``) instead of acting on the terminal."""
    return _TERMINAL_CONTROLS.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


def as_text(value: object) -> str:
    """Any value (a name, a message, a path from an input or an error) as Rich markup that prints as written.

    Rich reads ``[bold]`` as a style and fails on an unmatched ``[/]``; every
    string that did not come from diarflow's own source goes through here
    before it meets ``console.print``, a table cell or a title. (The consoles
    above also leave ``:emoji:`` codes alone.)
    """
    from rich.markup import escape

    return escape(visible_controls(str(value)))


def settle_imports(*, entry_point: bool = False) -> None:
    """Exempt what the process has allocated so far (modules, classes, schemas) from garbage collection scans.

    Those objects live as long as the command. A run over a 6-hour transcript
    allocates hundreds of thousands of containers, and every full collection
    would walk the imported modules too: freezing them makes ``diarflow run``
    ~15 % faster. Collection stays on for everything allocated later.

    Only in a process the console script started (``entry_point=True`` from
    :func:`diarflow.cli.main`; later calls freeze again only once it has): a
    program that embeds the CLI, or a test runner, keeps its collector as it
    was (a freeze would also keep any garbage still waiting for collection).
    """
    if entry_point or gc.get_freeze_count():
        gc.freeze()


def configure_logging(level: str) -> None:
    """Log to stderr, with secrets redacted from every record."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger("diarflow")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code`` (no traceback)."""
    sys.stderr.write(f"error: {visible_controls(redact(message))}\n")
    raise typer.Exit(code)


@contextmanager
def reported_errors(options: Mapping[str, str] | None = None) -> Iterator[None]:
    """Turn diarflow errors into a one-line message and the exit code :func:`~diarflow.errors.classify` gives.

    ``options`` maps the fields errors name (``podcast_id``) to this command's
    spelling of them (``--podcast-id``), so the message names what to change.
    """
    try:
        yield
    except DiarflowError as exc:
        fail(described(exc, options or {}), classify(exc).exit_code)


_FIELD_MENTION = re.compile(r"`(\w+)`")
"""How a problem refers to another field (``must be after `start```)."""


def described(error: DiarflowError, options: Mapping[str, str]) -> str:
    """``error``'s message, with the fields it names spelled as the command's options."""
    if not isinstance(error, InvalidInput):
        return spelled(error.message, options)
    problem = spelled(error.problem, options)
    field = options.get(error.field, error.field)
    return f"{field}: {problem}" if field else problem


def spelled(text: str, options: Mapping[str, str]) -> str:
    """``text`` with each field it names (`` `audio` ``) spelled as this command's option (``--audio``)."""
    return _FIELD_MENTION.sub(lambda mention: options.get(mention[1], mention[1]), text)
